package conn

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"path/filepath"
	"testing"
	"time"
)

func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "nva-test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

func TestTLSListener(t *testing.T) {
	cert, pool := selfSigned(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec := newRecorder()
	srvConf := &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	l, err := Listen(ctx, "127.0.0.1:0", srvConf, rec, Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); <-l.Done() }()

	// A client without a certificate is refused.
	bad, err := tls.Dial("tcp", l.Addr().String(), &tls.Config{RootCAs: pool})
	if err == nil {
		_ = bad.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = bad.Read(make([]byte, 1))
		bad.Close()
	}
	if err == nil {
		t.Fatal("TLS client without certificate was accepted")
	}

	c, err := tls.Dial("tcp", l.Addr().String(), &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	f := &fakeSwitch{t: t, c: c}
	f.handshake(0x42)
	sw := rec.waitConnected(t)
	if sw.DPID() != 0x42 {
		t.Fatalf("DPID %x", sw.DPID())
	}
}

func TestUnixListener(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec := newRecorder()
	path := filepath.Join(t.TempDir(), "of.sock")
	l, err := Listen(ctx, "unix:"+path, nil, rec, Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); <-l.Done() }()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	(&fakeSwitch{t: t, c: c}).handshake(0x43)
	if sw := rec.waitConnected(t); sw.DPID() != 0x43 {
		t.Fatalf("DPID %x", sw.DPID())
	}
}
