package daemon

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// TLS turns on once --tls-cert, --tls-key and --tls-ca are set: one
// identity per node, signed by the cluster CA, used by every channel that
// speaks TLS (see NodeTLS).

// TLSEnabled reports whether this node has a TLS identity.
func (s *Settings) TLSEnabled() bool { return s.TLSCert != "" }

// checkTLS validates the TLS settings: all three or none, and the files
// load into a certificate whose chain the CA verifies.
func (s *Settings) checkTLS(origin map[string]string) []error {
	set := map[string]string{"tls-cert": s.TLSCert, "tls-key": s.TLSKey, "tls-ca": s.TLSCA}
	n := 0
	for _, v := range set {
		if v != "" {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	bad := func(name, reason string) error {
		return &SettingError{Name: name, Value: set[name], Origin: origin[name], Reason: reason, Forms: formsPEMFile}
	}
	if n < 3 {
		var errs []error
		for _, name := range []string{"tls-cert", "tls-key", "tls-ca"} {
			if set[name] == "" {
				errs = append(errs, bad(name, "missing: the other TLS settings are set"))
			}
		}
		return errs
	}
	if _, err := s.NodeTLS(); err != nil {
		var te *tlsFileError
		if errors.As(err, &te) {
			return []error{bad(te.name, te.err.Error())}
		}
		return []error{bad("tls-cert", err.Error())}
	}
	return nil
}

type tlsFileError struct {
	name string
	err  error
}

func (e *tlsFileError) Error() string { return fmt.Sprintf("--%s: %v", e.name, e.err) }
func (e *tlsFileError) Unwrap() error { return e.err }

// NodeTLS loads this node's TLS identity: a config holding its certificate
// (Certificates) and the cluster CA as both RootCAs (to verify the servers
// it dials) and ClientCAs (to verify the clients it accepts). Callers clone
// it and set ClientAuth or ServerName for their channel. Nil, nil when TLS
// is off.
func (s *Settings) NodeTLS() (*tls.Config, error) {
	if !s.TLSEnabled() {
		return nil, nil
	}
	caPEM, err := os.ReadFile(s.TLSCA)
	if err != nil {
		return nil, &tlsFileError{"tls-ca", err}
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, &tlsFileError{"tls-ca", errors.New("no PEM certificate in the file")}
	}
	if _, err := os.Stat(s.TLSCert); err != nil {
		return nil, &tlsFileError{"tls-cert", err}
	}
	if _, err := os.Stat(s.TLSKey); err != nil {
		return nil, &tlsFileError{"tls-key", err}
	}
	cert, err := tls.LoadX509KeyPair(s.TLSCert, s.TLSKey)
	if err != nil {
		return nil, &tlsFileError{"tls-cert", fmt.Errorf("with --tls-key: %w", err)}
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil, &tlsFileError{"tls-cert", err}
	}
	inter := x509.NewCertPool()
	for _, c := range cert.Certificate[1:] {
		if ic, err := x509.ParseCertificate(c); err == nil {
			inter.AddCert(ic)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return nil, &tlsFileError{"tls-cert", fmt.Errorf("not signed by --tls-ca: %w", err)}
	}
	cert.Leaf = leaf
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		RootCAs:      pool,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS12,
	}, nil
}
