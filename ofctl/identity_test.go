package ofctl

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"antrea.io/libOpenflow/openflow13"

	"github.com/nva-project/nva/app/model"
)

// testCA issues certificates for the TLS tests.
type testCA struct {
	t    *testing.T
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
	n    int64
}

func newTestCA(t *testing.T, cn string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return &testCA{t: t, cert: c, key: key, pool: pool, n: 1}
}

func (ca *testCA) issue(cn string) (tls.Certificate, *x509.Certificate) {
	ca.t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		ca.t.Fatal(err)
	}
	ca.n++
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(ca.n), Subject: pkix.Name{CommonName: cn, Organization: []string{"nva test"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		ca.t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, leaf
}

// connectTLS opens a TLS session to the southbound at addr with cert (none
// if nil) and serves it; the error is the handshake's.
func (b *fakeBridge) connectTLS(addr string, roots *x509.CertPool, cert *tls.Certificate) error {
	b.t.Helper()
	conf := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	if cert != nil {
		conf.Certificates = []tls.Certificate{*cert}
	}
	c, err := tls.Dial("tcp", addr, conf)
	if err != nil {
		return err
	}
	// With TLS 1.3 a refused client certificate shows on the first read.
	hello := header(0, 16, 1)
	binary.BigEndian.PutUint16(hello[8:10], 1)
	binary.BigEndian.PutUint16(hello[10:12], 8)
	binary.BigEndian.PutUint32(hello[12:16], 1<<openflow13.VERSION)
	if _, err := c.Write(hello); err != nil {
		c.Close()
		return err
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	first := make([]byte, 8)
	if _, err := c.Read(first[:1]); err != nil {
		c.Close()
		return err
	}
	_ = c.SetReadDeadline(time.Time{})
	b.mu.Lock()
	b.conn = c
	b.mu.Unlock()
	go b.serve(&prefixConn{Conn: c, prefix: first[:1]})
	return nil
}

// prefixConn gives back bytes already read from a connection.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if len(p.prefix) > 0 {
		n := copy(b, p.prefix)
		p.prefix = p.prefix[n:]
		return n, nil
	}
	return p.Conn.Read(b)
}

func pinned(s *model.Snapshot, nve string, id *model.SwitchIdentity) *model.Snapshot {
	n := next(s)
	copyNVE := *n.NVEs[nve]
	copyNVE.SwitchIdentity = id
	copyNVE.Revision = n.Revision
	n.NVEs[nve] = &copyNVE
	return n
}

func findUnclaimed(sb *Southbound, remote string) (model.UnclaimedSwitch, bool) {
	for _, u := range sb.Unclaimed() {
		if u.Remote == remote {
			return u, true
		}
	}
	return model.UnclaimedSwitch{}, false
}

// An NVE pins its switch's certificate. Over TLS (client certificates
// verified against the switch CA) an impostor claiming the NVE's datapath
// ID with another certificate of the same CA is refused: it gets no flows,
// does not displace the real switch, and is reported unclaimed with the
// reason. A certificate of another CA, or none, does not get past the
// handshake. Re-pinning the NVE to the other certificate swaps the two.
func TestSwitchIdentityImpostor(t *testing.T) {
	switchCA := newTestCA(t, "switch CA")
	nvaCA := newTestCA(t, "nva CA")
	serverCert, _ := nvaCA.issue("nva")
	realCert, realLeaf := switchCA.issue("hv1")
	impCert, impLeaf := switchCA.issue("hv1-impostor")

	src := newFakeStore(pinned(overlaySnap(10, false), "hv1", &model.SwitchIdentity{Fingerprint: model.CertFingerprint(realLeaf)}), true)
	sb := startFake(t, src, Config{ListenAddr: "127.0.0.1:0", TLS: &tls.Config{
		Certificates: []tls.Certificate{serverCert}, ClientCAs: switchCA.pool,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}})
	addr := sb.Addr().String()
	ports := map[uint32]string{1: "v1", 100: "nva-vxlan"}

	real := newFakeBridge(t, 1, ports)
	if err := real.connectTLS(addr, nvaCA.pool, &realCert); err != nil {
		t.Fatalf("real switch: %v", err)
	}
	if lag, err := waitRealized(t, sb, 11, 5*time.Second); err != nil {
		t.Fatalf("real switch not realized: %v %v", lag, err)
	}
	want := real.flowCount()
	if want == 0 {
		t.Fatal("real switch got no flows")
	}
	realRemote := sb.status("hv1").Remote
	if st := sb.status("hv1"); st.SwitchFingerprint != model.CertFingerprint(realLeaf) || !strings.Contains(st.SwitchSubject, "CN=hv1") {
		t.Fatalf("status shows certificate %q %q", st.SwitchSubject, st.SwitchFingerprint)
	}

	// No certificate, or one of another CA: refused by the handshake.
	if err := newFakeBridge(t, 1, ports).connectTLS(addr, nvaCA.pool, nil); err == nil {
		t.Fatal("a switch without a certificate got past the handshake")
	}
	stranger, _ := newTestCA(t, "other CA").issue("hv1")
	if err := newFakeBridge(t, 1, ports).connectTLS(addr, nvaCA.pool, &stranger); err == nil {
		t.Fatal("a switch certificate of another CA got past the handshake")
	}

	// The impostor: same CA, same datapath ID, another certificate.
	imp := newFakeBridge(t, 1, map[uint32]string{1: "v1", 2: "v2", 100: "nva-vxlan"})
	if err := imp.connectTLS(addr, nvaCA.pool, &impCert); err != nil {
		t.Fatalf("impostor handshake: %v", err)
	}
	impRemote := imp.conn.LocalAddr().String()
	var u model.UnclaimedSwitch
	waitCond(t, 5*time.Second, "impostor reported unclaimed", func() bool {
		var ok bool
		u, ok = findUnclaimed(sb, impRemote)
		return ok
	})
	if u.NVE != "hv1" || u.DatapathID != model.FormatDatapathID(1) || !strings.Contains(u.Reason, "fingerprint") ||
		u.Fingerprint != model.CertFingerprint(impLeaf) || !strings.Contains(u.Subject, "CN=hv1-impostor") {
		t.Fatalf("impostor report %+v", u)
	}
	// A store change is realized on the real switch, still connected and
	// claimed; the impostor has received nothing (not even a role request
	// or a flow read would change its table, so also check its mods).
	src.set(pinned(overlaySnap(11, true), "hv1", &model.SwitchIdentity{Fingerprint: model.CertFingerprint(realLeaf)}))
	real.addPort(2, "v2")
	if lag, err := waitRealized(t, sb, 12, 5*time.Second); err != nil {
		t.Fatalf("revision 12 on the real switch with the impostor connected: %v %v", lag, err)
	}
	st := sb.status("hv1")
	if !st.Connected || st.Remote != realRemote {
		t.Fatalf("hv1 status %+v: the impostor displaced the real switch (%s)", st, realRemote)
	}
	if real.flowCount() <= want {
		t.Fatalf("real switch has %d flows after adding p2, had %d", real.flowCount(), want)
	}
	if n, mods := imp.flowCount(), imp.modCount(); n != 0 || len(mods) != 0 {
		t.Fatalf("impostor got %d flows, mods %v", n, mods)
	}
	if _, ok := findUnclaimed(sb, realRemote); ok {
		t.Fatal("the real switch is listed unclaimed")
	}

	// Re-pinned by subject to the impostor's certificate: the real switch
	// is demoted (reported, no more flows), the impostor promoted.
	realMods := real.modCount()
	src.set(pinned(src.Snapshot(), "hv1", &model.SwitchIdentity{Subject: "CN=hv1-impostor,O=nva test"}))
	waitCond(t, 5*time.Second, "other switch promoted", func() bool {
		st := sb.status("hv1")
		return st.Connected && st.Remote == impRemote && imp.flowCount() > 0
	})
	if lag, err := waitRealized(t, sb, 13, 5*time.Second); err != nil {
		t.Fatalf("revision 13 after the re-pin: %v %v", lag, err)
	}
	ru, ok := findUnclaimed(sb, realRemote)
	if !ok || !strings.Contains(ru.Reason, "does not have CN=hv1-impostor") {
		t.Fatalf("demoted switch report %+v (listed %v)", ru, ok)
	}
	if got := real.modCount(); !mapsEqual(got, realMods) {
		t.Fatalf("demoted switch was written to: mods %v, were %v", got, realMods)
	}

	// The impostor disconnects; the real one is still refused until the
	// pin goes away, then promoted.
	imp.disconnect()
	waitCond(t, 5*time.Second, "hv1 disconnected", func() bool { return !sb.status("hv1").Connected })
	src.set(pinned(src.Snapshot(), "hv1", nil))
	waitCond(t, 5*time.Second, "real switch claimed again", func() bool {
		st := sb.status("hv1")
		return st.Connected && st.Remote == realRemote
	})
	if len(sb.Unclaimed()) != 0 {
		t.Fatalf("unclaimed after the pin was removed: %+v", sb.Unclaimed())
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// Over a plain connection (no TLS listener) a switch presents no
// certificate: an NVE that pins one never claims it.
func TestSwitchIdentityWithoutTLS(t *testing.T) {
	src := newFakeStore(pinned(overlaySnap(10, false), "hv1", &model.SwitchIdentity{Subject: "CN=hv1"}), true)
	sb := startFake(t, src, Config{})
	br := newFakeBridge(t, 1, map[uint32]string{1: "v1", 100: "nva-vxlan"})
	br.connect(sb.cfg.ListenAddr)
	var u []model.UnclaimedSwitch
	waitCond(t, 5*time.Second, "plain switch refused", func() bool {
		u = sb.Unclaimed()
		return len(u) == 1
	})
	if u[0].NVE != "hv1" || !strings.Contains(u[0].Reason, "presented none") || u[0].Fingerprint != "" {
		t.Fatalf("report %+v", u[0])
	}
	if st := sb.status("hv1"); st.Connected {
		t.Fatalf("hv1 claimed by a switch without a certificate: %+v", st)
	}
	// Unpinned, the same switch is claimed (the plain listener's rules).
	src.set(pinned(src.Snapshot(), "hv1", nil))
	if lag, err := waitRealized(t, sb, 12, 5*time.Second); err != nil {
		t.Fatalf("unpinned: %v %v", lag, err)
	}
	if br.flowCount() == 0 || len(sb.Unclaimed()) != 0 {
		t.Fatalf("unpinned: %d flows, unclaimed %+v, status %+v", br.flowCount(), sb.Unclaimed(), sb.status("hv1"))
	}
}
