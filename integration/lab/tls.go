package lab

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// OVSPKI is a lab public-key infrastructure made with ovs-pki (Debian's
// openvswitch-common): its switch CA signs the switches' certificates
// (nva's --switch-ca), its controller CA nva's own (nva's --tls-ca, which
// the switches' SSL ca_cert names). Certificates are NAME-cert.pem and
// NAME-privkey.pem in Dir.
type OVSPKI struct {
	Dir string
}

// NewOVSPKI makes the two CAs under dir/pki, or reuses them.
func NewOVSPKI(ctx context.Context, dir string) (*OVSPKI, error) {
	if _, err := exec.LookPath("ovs-pki"); err != nil {
		return nil, errors.New("ovs-pki (Debian openvswitch-common) is not installed")
	}
	dir, err := filepath.Abs(dir) // Open vSwitch keeps the paths it is given
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	p := &OVSPKI{Dir: dir}
	if _, err := os.Stat(p.CACert("switch")); err == nil {
		return p, nil
	}
	return p, p.run(ctx, "init")
}

func (p *OVSPKI) run(ctx context.Context, args ...string) error {
	a := append([]string{"--dir=" + filepath.Join(p.Dir, "pki"), "--log=" + filepath.Join(p.Dir, "ovs-pki.log"), "--force"}, args...)
	cmd := exec.CommandContext(ctx, "ovs-pki", a...)
	cmd.Dir = p.Dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ovs-pki %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// Issue makes (or reuses) NAME-cert.pem and NAME-privkey.pem, signed by
// the "switch" or "controller" CA, and returns their paths.
func (p *OVSPKI) Issue(ctx context.Context, name, ca string) (cert, key string, err error) {
	cert, key = filepath.Join(p.Dir, name+"-cert.pem"), filepath.Join(p.Dir, name+"-privkey.pem")
	if _, err := os.Stat(cert); err == nil {
		return cert, key, nil
	}
	return cert, key, p.run(ctx, "req+sign", name, ca)
}

// CACert is the certificate of the "switch" or "controller" CA.
func (p *OVSPKI) CACert(ca string) string {
	return filepath.Join(p.Dir, "pki", ca+"ca", "cacert.pem")
}

// ReadCertificate reads the first certificate of a PEM file.
func ReadCertificate(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	return x509.ParseCertificate(blk.Bytes)
}

// EnableSSL gives hypervisor i's Open vSwitch its TLS identity (the SSL
// table: its key and certificate, and the CA it verifies its peers by —
// nva's), as `ovs-vsctl set-ssl` does, and with ovsdbPort > 0 serves OVSDB
// over TLS on its management address (SSLEndpoint).
func (l *Lab) EnableSSL(ctx context.Context, i int, cert, key, caCert string, ovsdbPort int) error {
	if _, err := l.Vsctl(ctx, i, "set-ssl", key, cert, caCert); err != nil {
		return err
	}
	if ovsdbPort > 0 {
		if _, err := l.Vsctl(ctx, i, "set-manager", "pssl:"+strconv.Itoa(ovsdbPort)+":"+l.MgmtIP(i)); err != nil {
			return err
		}
	}
	return nil
}

// SSLEndpoint is hypervisor i's OVSDB-over-TLS endpoint (see EnableSSL) as
// an NVE's "ovsdb" field takes it.
func (l *Lab) SSLEndpoint(i, ovsdbPort int) string {
	return "ssl:" + l.MgmtIP(i) + ":" + strconv.Itoa(ovsdbPort)
}
