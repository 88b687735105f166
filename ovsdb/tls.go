package ovsdb

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"github.com/nva-project/nva/app/model"
)

// OVSDB over TLS (ssl:HOST:PORT endpoints). Open vSwitch's PKI (ovs-pki)
// authenticates peers by CA, not by host name: a switch certificate names
// the switch ("CN=hv1 id:…"), not the address nva dials. So an ssl:
// session is verified as Open vSwitch verifies its own: the server's
// certificate chain must verify against the switch CA (the RootCAs of the
// Manager's client configuration), and when the NVE pins its switch's
// certificate (model.NVE.SwitchIdentity, the same pin OpenFlow claims are
// checked against) the certificate must match the pin. The host name is
// not checked. nva presents its own certificate as the client certificate.

// WithClientTLS makes the Manager connect to ssl: endpoints with base: its
// Certificates are presented as the client certificate and its RootCAs
// (the switch CA) verify the server, as described above. A Desired with
// its own TLS configuration keeps it. Without this option (and without
// Desired.TLS) an ssl: endpoint is reported as needing a TLS identity.
func WithClientTLS(base *tls.Config) Option {
	return func(m *Manager) { m.clientTLS = base }
}

// tlsKey identifies a generated client configuration: a pin change makes a
// new one (and so a new session, see worker.apply).
type tlsKey struct {
	fingerprint, subject string
	pinned               bool
}

// withTLS fills d.TLS for an ssl: endpoint from the Manager's client
// configuration, reusing the configuration made for the same NVE and pin.
// Called with m.mu held.
func (m *Manager) withTLSLocked(d Desired) Desired {
	if d.TLS != nil || m.clientTLS == nil || !strings.HasPrefix(d.Endpoint, "ssl:") {
		return d
	}
	var key tlsKey
	if id := d.SwitchIdentity; id != nil {
		key = tlsKey{fingerprint: id.Fingerprint, subject: id.Subject, pinned: true}
	}
	if m.tlsByNVE == nil {
		m.tlsByNVE = map[string]nveTLS{}
	}
	if c, ok := m.tlsByNVE[d.NVE]; ok && c.key == key {
		d.TLS = c.conf
		return d
	}
	conf := switchClientTLS(m.clientTLS, d.SwitchIdentity)
	m.tlsByNVE[d.NVE] = nveTLS{key: key, conf: conf}
	d.TLS = conf
	return d
}

type nveTLS struct {
	key  tlsKey
	conf *tls.Config
}

// switchClientTLS is base verifying the server as an Open vSwitch peer:
// chain to base.RootCAs, then the pin.
func switchClientTLS(base *tls.Config, pin *model.SwitchIdentity) *tls.Config {
	c := base.Clone()
	roots := c.RootCAs
	c.InsecureSkipVerify = true // replaced by VerifyConnection: chain and pin, no host name
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("the OVSDB server presented no certificate")
		}
		leaf := cs.PeerCertificates[0]
		inter := x509.NewCertPool()
		for _, ic := range cs.PeerCertificates[1:] {
			inter.AddCert(ic)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			return fmt.Errorf("OVSDB server certificate %q is not signed by the switch CA: %w", leaf.Subject.String(), err)
		}
		if err := pin.Match(leaf); err != nil {
			return fmt.Errorf("OVSDB server certificate refused: %w", err)
		}
		return nil
	}
	if c.MinVersion == 0 {
		c.MinVersion = tls.VersionTLS12
	}
	return c
}
