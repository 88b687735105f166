package ovsdb

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/internal/ovstest"
)

// testPKI is a throw-away CA with one server and one client certificate.
type testPKI struct {
	caPEM                 []byte
	serverCert, serverKey []byte
	client                tls.Certificate
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey := key()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "nva test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(serial int64, cn string, usage x509.ExtKeyUsage) (certPEM, keyPEM []byte) {
		k := key()
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
			pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	}
	p := &testPKI{caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})}
	p.serverCert, p.serverKey = issue(2, "ovsdb-server", x509.ExtKeyUsageServerAuth)
	cc, ck := issue(3, "nva", x509.ExtKeyUsageClientAuth)
	p.client, err = tls.X509KeyPair(cc, ck)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestSSLEndpoint manages an ovsdb-server that only listens for SSL on the
// loopback address and requires a client certificate. No ovs-vswitchd runs,
// so there are no ofports; the database state is what is checked.
func TestSSLEndpoint(t *testing.T) {
	ovstest.Require(t)
	dir := t.TempDir()
	pki := newTestPKI(t)
	files := map[string][]byte{"ca.pem": pki.caPEM, "server.pem": pki.serverCert, "server-key.pem": pki.serverKey}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	port := freeLoopbackPort(t)
	// DBOnly: the server runs in this test's network namespace, so the
	// Manager reaches its SSL remote on 127.0.0.1; the unix socket is for
	// ovs-vsctl.
	l := ovstest.Start(t, ovstest.Options{Prefix: labPrefix, DBOnly: true, DBArgs: []string{
		"--remote=pssl:" + strconv.Itoa(port) + ":127.0.0.1",
		"--private-key=" + filepath.Join(dir, "server-key.pem"), "--certificate=" + filepath.Join(dir, "server.pem"),
		"--ca-cert=" + filepath.Join(dir, "ca.pem"),
	}})

	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pki.caPEM)
	m, _ := newTestManager(t)
	d := Desired{
		NVE: "hv-ssl", Endpoint: "ssl:127.0.0.1:" + strconv.Itoa(port), Bridge: "br-ssl", DatapathType: DatapathNetdev,
		Controllers: []string{"tcp:198.18.255.1:6653"},
		Tunnels:     []Tunnel{{Name: "ssl-vxlan", Type: TunnelVXLAN}},
		TLS:         &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{pki.client}, MinVersion: tls.VersionTLS12},
	}
	m.Sync(context.Background(), d)
	waitReady(t, m, "hv-ssl")
	if got := l.Vsctl("get", "Interface", "ssl-vxlan", "options"); got != "{key=flow, remote_ip=flow}" {
		t.Errorf("tunnel options over ssl = %s", got)
	}
	if got := l.Vsctl("get", "Bridge", "br-ssl", "fail_mode"); got != "secure" {
		t.Errorf("fail_mode over ssl = %s", got)
	}

	// Without a client certificate the server refuses the session, and the
	// status says so.
	bad := d
	bad.NVE = "hv-nocert"
	bad.TLS = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	m.Sync(context.Background(), bad)
	waitFor(t, waitLong, "refused session reported", func() (bool, string) {
		st, _ := m.Status("hv-nocert")
		return !st.Connected && st.LastError != "", st.LastError
	})
}

// TestSSLClientTLS is the daemon's configuration of ssl: endpoints
// (WithClientTLS: nva's certificate as the client certificate, the switch
// CA verifying the server, no host name check) with the NVE's certificate
// pin: a matching pin connects, a mismatching one is refused and says why.
func TestSSLClientTLS(t *testing.T) {
	ovstest.Require(t)
	dir := t.TempDir()
	pki := newTestPKI(t)
	files := map[string][]byte{"ca.pem": pki.caPEM, "server.pem": pki.serverCert, "server-key.pem": pki.serverKey}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	port := freeLoopbackPort(t)
	ovstest.Start(t, ovstest.Options{Prefix: labPrefix, DBOnly: true, DBArgs: []string{
		"--remote=pssl:" + strconv.Itoa(port) + ":127.0.0.1",
		"--private-key=" + filepath.Join(dir, "server-key.pem"), "--certificate=" + filepath.Join(dir, "server.pem"),
		"--ca-cert=" + filepath.Join(dir, "ca.pem"),
	}})
	block, _ := pem.Decode(pki.serverCert)
	serverLeaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pki.caPEM)
	h := slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo})
	m := NewManager(slog.New(h), nil, WithBackoff(50*time.Millisecond, time.Second),
		WithClientTLS(&tls.Config{RootCAs: roots, Certificates: []tls.Certificate{pki.client}}))
	t.Cleanup(m.Close)
	desired := func(nve string, pin *model.SwitchIdentity) Desired {
		return Desired{NVE: nve, Endpoint: "ssl:127.0.0.1:" + strconv.Itoa(port), Bridge: "br-" + nve, DatapathType: DatapathNetdev,
			SwitchIdentity: pin}
	}

	m.Sync(context.Background(), desired("pinned", &model.SwitchIdentity{Fingerprint: model.CertFingerprint(serverLeaf)}))
	waitReady(t, m, "pinned")

	m.Sync(context.Background(), desired("wrongpin", &model.SwitchIdentity{Subject: "CN=hv9"}))
	waitFor(t, waitLong, "pin mismatch reported", func() (bool, string) {
		st, _ := m.Status("wrongpin")
		return !st.Connected && strings.Contains(st.LastError, "does not have CN=hv9"), st.LastError
	})

	// A server certificate of another CA is refused before any pin.
	other := newTestPKI(t)
	otherRoots := x509.NewCertPool()
	otherRoots.AppendCertsFromPEM(other.caPEM)
	m2 := NewManager(slog.New(h), nil, WithBackoff(50*time.Millisecond, time.Second),
		WithClientTLS(&tls.Config{RootCAs: otherRoots, Certificates: []tls.Certificate{pki.client}}))
	t.Cleanup(m2.Close)
	m2.Sync(context.Background(), desired("otherca", nil))
	waitFor(t, waitLong, "foreign CA reported", func() (bool, string) {
		st, _ := m2.Status("otherca")
		return !st.Connected && strings.Contains(st.LastError, "not signed by the switch CA"), st.LastError
	})

	// Without a client configuration an ssl: endpoint says what is missing.
	m3, _ := newTestManager(t)
	m3.Sync(context.Background(), desired("notls", nil))
	waitFor(t, waitLong, "missing TLS identity reported", func() (bool, string) {
		st, _ := m3.Status("notls")
		return strings.Contains(st.LastError, "TLS identity"), st.LastError
	})
}
