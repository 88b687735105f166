package daemon

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeTestPKI writes a CA and a node certificate it signs, and a second
// CA (the switches'), and returns the TLS flags and the switch CA file.
func writeTestPKI(t *testing.T) (tlsArgs []string, switchCA string) {
	t.Helper()
	dir := t.TempDir()
	write := func(name string, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	newCA := func(cn string) (*x509.Certificate, *ecdsa.PrivateKey, []byte) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := x509.ParseCertificate(der)
		return c, key, der
	}
	ca, caKey, caDER := newCA("cluster CA")
	_, _, swDER := newCA("switch CA")
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "nva1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return []string{"--tls-cert", write("node.pem", "CERTIFICATE", der), "--tls-key", write("node-key.pem", "EC PRIVATE KEY", kder),
		"--tls-ca", write("ca.pem", "CERTIFICATE", caDER)}, write("switchca.pem", "CERTIFICATE", swDER)
}

// TestInsecureListen: with no flags every listener is on loopback; binding
// any non-loopback address on a channel without TLS fails at startup naming
// the flag, unless --insecure-listen accepts it (with a warning per
// listener); OpenFlow with a TLS identity needs no opt-out.
func TestInsecureListen(t *testing.T) {
	tlsArgs, _ := writeTestPKI(t)
	for _, c := range []struct {
		name     string
		args     []string
		errFlags []string // the flags the error names; none: valid
		warnings []string
	}{
		{"defaults", nil, nil, nil},
		{"loopback everywhere", []string{"--api-addr", "[::1]:8080", "--raft-addr", "127.0.0.2:8300", "--openflow-addr", "localhost:6653"}, nil, nil},
		{"openflow on a unix socket", []string{"--openflow-addr", "unix:/run/nva/of.sock", "--openflow-advertise", "tcp:127.0.0.1:6653"}, nil, nil},
		{"openflow everywhere", []string{"--openflow-addr", ":6653"}, []string{"openflow-addr"}, nil},
		{"api on an address", []string{"--api-addr", "10.0.0.1:8080"}, []string{"api-addr"}, nil},
		// The cluster port has its own rule (--insecure-cluster, cluster.go).
		{"both", []string{"--api-addr", "0.0.0.0:8080", "--raft-addr", "127.0.0.1:8300", "--openflow-addr", "tcp:10.0.0.1:6653"},
			[]string{"api-addr", "openflow-addr"}, nil},
		{"opted out", []string{"--api-addr", "0.0.0.0:8080", "--openflow-addr", ":6653", "--insecure-listen"}, nil,
			[]string{"--api-addr 0.0.0.0:8080 accepts plain text", "--openflow-addr :6653 accepts plain text"}},
		{"openflow over TLS", append([]string{"--openflow-addr", "0.0.0.0:6653", "--api-addr", "127.0.0.1:8080"}, tlsArgs...), nil, nil},
		// With a TLS identity REST is HTTPS too.
		{"openflow and REST over TLS", append([]string{"--openflow-addr", "0.0.0.0:6653", "--api-addr", "10.0.0.1:8080"}, tlsArgs...), nil, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := LoadSettings(c.args, env(nil), io.Discard)
			if len(c.errFlags) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				w := s.Warnings()
				if len(w) != len(c.warnings) {
					t.Fatalf("warnings %q, want %q", w, c.warnings)
				}
				for i := range w {
					if !strings.Contains(w[i], c.warnings[i]) || !strings.Contains(w[i], "INSECURE") {
						t.Errorf("warning %q does not say %q", w[i], c.warnings[i])
					}
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(c.errFlags) {
				t.Fatalf("errors %q, want one per %v", err, c.errFlags)
			}
			for i, f := range c.errFlags {
				if !strings.HasPrefix(lines[i], "--"+f+": ") || !strings.Contains(lines[i], "--insecure-listen") {
					t.Errorf("error %q does not name --%s and --insecure-listen", lines[i], f)
				}
			}
		})
	}
	if DefaultOpenFlowAddr != "127.0.0.1:6653" {
		t.Errorf("DefaultOpenFlowAddr = %s", DefaultOpenFlowAddr)
	}
}

// TestSwitchTLSSettings: with a TLS identity the switches are told ssl:
// targets, --switch-ca (default --tls-ca) verifies their certificates, and
// misuse fails at startup naming the flag.
func TestSwitchTLSSettings(t *testing.T) {
	tlsArgs, switchCA := writeTestPKI(t)
	with := func(args ...string) []string { return append(append([]string{}, tlsArgs...), args...) }

	s, err := LoadSettings(with("--openflow-addr", "198.51.100.1:6653", "--switch-ca", switchCA), env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if s.OpenFlowAdvertise != "ssl:198.51.100.1:6653" {
		t.Errorf("derived target %q, want ssl:198.51.100.1:6653", s.OpenFlowAdvertise)
	}
	if w := s.Warnings(); len(w) != 0 {
		t.Errorf("warnings %q", w)
	}
	ln, cl, err := s.SwitchTLS()
	if err != nil || ln == nil || cl == nil {
		t.Fatalf("SwitchTLS = %v, %v, %v", ln, cl, err)
	}
	if ln.ClientAuth != tls.RequireAndVerifyClientCert || ln.ClientCAs == nil || len(ln.Certificates) != 1 {
		t.Errorf("listener config: client auth %v, client CAs %v, %d certificates", ln.ClientAuth, ln.ClientCAs, len(ln.Certificates))
	}
	swPEM, _ := os.ReadFile(switchCA)
	blk, _ := pem.Decode(swPEM)
	swCert, _ := x509.ParseCertificate(blk.Bytes)
	if !ln.ClientCAs.Equal(poolOf(swCert)) || !cl.RootCAs.Equal(poolOf(swCert)) || len(cl.Certificates) != 1 {
		t.Error("the switch CA does not verify the switches")
	}

	// A bare advertised HOST:PORT becomes ssl:, ssl: stays, tcp: is an error.
	s, err = LoadSettings(with("--openflow-advertise", "nva1.example:6653"), env(nil), io.Discard)
	if err != nil || s.OpenFlowAdvertise != "ssl:nva1.example:6653" {
		t.Errorf("bare target: %q, %v", s.OpenFlowAdvertise, err)
	}
	_, err = LoadSettings(with("--openflow-advertise", "tcp:nva1.example:6653"), env(nil), io.Discard)
	if err == nil || !strings.HasPrefix(err.Error(), "--openflow-advertise: ") || !strings.Contains(err.Error(), "ssl:HOST:PORT") {
		t.Errorf("tcp: target with TLS: %v", err)
	}
	// Without --switch-ca the cluster CA verifies the switches.
	s, err = LoadSettings(tlsArgs, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if ln, _, _ := s.SwitchTLS(); ln == nil || ln.ClientCAs.Equal(poolOf(swCert)) {
		t.Error("default switch CA is not --tls-ca")
	}
	// A unix: OpenFlow socket stays plain.
	s, err = LoadSettings(with("--openflow-addr", "unix:/run/nva/of.sock"), env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if ln, cl, _ := s.SwitchTLS(); ln != nil || cl == nil {
		t.Errorf("unix socket: listener TLS %v, OVSDB client TLS %v", ln != nil, cl != nil)
	}

	// --switch-ca without a TLS identity, or not a PEM file.
	for _, args := range [][]string{{"--switch-ca", switchCA}, with("--switch-ca", "/nonexistent/ca.pem"), with("--switch-ca", os.Args[0])} {
		_, err := LoadSettings(args, env(nil), io.Discard)
		var se *SettingError
		if !errors.As(err, &se) || se.Name != "switch-ca" {
			t.Errorf("%q: %v, want an error naming --switch-ca", args, err)
		}
	}
}

func poolOf(c *x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c)
	return p
}
