package integration

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/integration/lab"
)

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	c, err := lab.ReadCertificate(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestTLS: nva with a TLS identity made by ovs-pki (a controller-CA
// certificate; the switches' are signed by the switch CA). The two
// hypervisors' Open vSwitch speak OpenFlow to nva over ssl: (nva tells
// the bridges ssl:HOST:PORT) and serve OVSDB on pssl:, which nva manages
// as ssl: endpoints; each NVE pins its switch's certificate (hv1 by
// fingerprint, hv2 by subject). Tenants on the two hypervisors ping
// through the overlay. Then an impostor on a third hypervisor, with a
// certificate of the same switch CA, claims hv1's datapath ID: it stays
// unclaimed (reported with the reason), gets no flows, and hv1 stays
// connected and forwarding.
func TestTLS(t *testing.T) {
	requireLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	l := lab.New(t, lab.Options{Hypervisors: 3})
	start := time.Now()

	if _, err := exec.LookPath("ovs-pki"); err != nil {
		t.Skip("ovs-pki (Debian openvswitch-common) is not installed")
	}
	pki, err := lab.NewOVSPKI(ctx, filepath.Join(l.Dir, "pki"))
	if err != nil {
		t.Fatal(err)
	}
	issue := func(name, ca string) [2]string {
		c, k, err := pki.Issue(ctx, name, ca)
		if err != nil {
			t.Fatal(err)
		}
		return [2]string{c, k}
	}
	nvaID := issue("nva", "controller")
	swCert := map[int][2]string{1: issue("hv1", "switch"), 2: issue("hv2", "switch"), 3: issue("impostor", "switch")}
	t.Logf("ovs-pki: CAs and 4 certificates in %v", time.Since(start).Round(time.Millisecond))
	const ovsdbPort = 6640
	for i := 1; i <= 3; i++ {
		// The switch's identity (also ovsdb-server's) and the CA it
		// verifies nva by; OVSDB over TLS on hv1 and hv2.
		port := ovsdbPort
		if i == 3 {
			port = 0
		}
		if err := l.EnableSSL(ctx, i, swCert[i][0], swCert[i][1], pki.CACert("controller"), port); err != nil {
			t.Fatal(err)
		}
	}

	n, err := l.StartNVA(ctx, lab.NVAOptions{Bin: nvaBin, LogLevel: "info", TLS: &lab.NVATLS{
		Cert: nvaID[0], Key: nvaID[1], CA: pki.CACert("controller"), SwitchCA: pki.CACert("switch")}})
	if err != nil {
		t.Fatal(err)
	}
	ov := lab.NewOverlayOnly(l, n)
	ov.RealizeTimeout = realizeTimeout
	hv1Leaf, hv2Leaf := readCert(t, swCert[1][0]), readCert(t, swCert[2][0])
	pins := map[int]model.SwitchIdentity{
		1: {Fingerprint: model.CertFingerprint(hv1Leaf)},
		2: {Subject: "CN=" + hv2Leaf.Subject.CommonName + ",O=Open vSwitch"},
	}
	for i := 1; i <= 2; i++ {
		if err := ov.AddOVSNVE(ctx, i, map[string]any{
			"ovsdb":           l.SSLEndpoint(i, ovsdbPort),
			"switch_identity": pins[i],
		}, 30*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	// nva told the bridges to reach it over TLS, and they did.
	target := "ssl:" + l.ControllerAddr()
	for i := 1; i <= 2; i++ {
		if got, err := l.Vsctl(ctx, i, "get", "controller", lab.IntegrationBridge, "target"); err != nil || strings.Trim(got, "\"\n") != target {
			t.Fatalf("hv%d controller target %q (%v), want %s", i, got, err, target)
		}
	}
	for i, leaf := range map[int]*x509.Certificate{1: hv1Leaf, 2: hv2Leaf} {
		if of := waitNVEConnected(t, ctx, n, i, l.MgmtIP(i)); of.SwitchFingerprint != model.CertFingerprint(leaf) {
			t.Fatalf("hv%d status shows certificate %s, want %s", i, of.SwitchFingerprint, model.CertFingerprint(leaf))
		}
	}

	if err := ov.AddVN(ctx, lab.VNSpec{Name: "blue", VNI: 2001, Encap: "vxlan"}); err != nil {
		t.Fatal(err)
	}
	tenants := []lab.TenantSpec{
		{Name: "t1", VN: "blue", HV: 1, IP: "192.0.2.31", MAC: "02:00:00:00:31:01"},
		{Name: "t2", VN: "blue", HV: 2, IP: "192.0.2.32", MAC: "02:00:00:00:31:02"},
	}
	for _, ts := range tenants {
		if err := ov.AddTenant(ctx, ts); err != nil {
			t.Fatal(err)
		}
	}
	reach := func(when string) {
		t.Helper()
		for _, p := range [][2]int{{0, 1}, {1, 0}} {
			if _, err := ov.ExpectReach(ctx, tenants[p[0]].Name, tenants[p[1]].IP, realizeTimeout); err != nil {
				t.Fatalf("%s: %v", when, err)
			}
		}
	}
	reach("over TLS")
	hv1Flows, err := l.DumpFlows(ctx, 1, lab.IntegrationBridge, nvaCookieMatch)
	if err != nil || len(hv1Flows) == 0 {
		t.Fatalf("hv1 has %d nva flows (%v)", len(hv1Flows), err)
	}

	// The impostor: hv3's Open vSwitch, with a valid switch-CA
	// certificate of its own, presents hv1's datapath ID.
	var hv1 struct {
		DatapathID string `json:"datapath_id"`
	}
	if _, err := n.Client.Do(ctx, http.MethodGet, "/api/v1/nves/hv1", nil, &hv1); err != nil {
		t.Fatal(err)
	}
	if err := l.PrepareStrictBridge(ctx, 3, lab.StrictBridgeOptions{DatapathID: hv1.DatapathID, Controller: target}); err != nil {
		t.Fatal(err)
	}
	var refused model.UnclaimedSwitch
	err = lab.WaitFor(ctx, 30*time.Second, 100*time.Millisecond, func() (bool, error) {
		var list struct {
			Items []model.UnclaimedSwitch `json:"items"`
		}
		if _, err := n.Client.Do(ctx, http.MethodGet, "/api/v1/switches/unclaimed", nil, &list); err != nil {
			return false, err
		}
		for _, u := range list.Items {
			if strings.HasPrefix(u.Remote, l.MgmtIP(3)+":") {
				refused = u
				return true, nil
			}
		}
		return false, fmt.Errorf("unclaimed: %+v", list.Items)
	})
	if err != nil {
		t.Fatalf("the impostor is not reported: %v", err)
	}
	impLeaf := readCert(t, swCert[3][0])
	if refused.NVE != "hv1" || refused.DatapathID != hv1.DatapathID || !strings.Contains(refused.Reason, "fingerprint") ||
		refused.Fingerprint != model.CertFingerprint(impLeaf) {
		t.Fatalf("impostor report %+v", refused)
	}
	t.Logf("impostor reported: %s", refused.Reason)
	// The real hv1 stays connected and claimed, forwarding; the impostor
	// has no nva flows.
	waitNVEConnected(t, ctx, n, 1, l.MgmtIP(1))
	reach("with the impostor connected")
	if f, err := l.DumpFlows(ctx, 3, lab.IntegrationBridge, nvaCookieMatch); err != nil || len(f) != 0 {
		t.Fatalf("impostor bridge has nva flows %q (%v)", f, err)
	}
	if after, err := l.DumpFlows(ctx, 1, lab.IntegrationBridge, nvaCookieMatch); err != nil || len(after) != len(hv1Flows) {
		t.Fatalf("hv1 has %d nva flows with the impostor connected, had %d (%v)", len(after), len(hv1Flows), err)
	}
	t.Logf("TestTLS took %v", time.Since(start).Round(time.Millisecond))
}

// waitNVEConnected waits until NVE hv<i>'s switch is connected and claimed
// over OpenFlow from the hypervisor's management address, and its OVSDB
// session (ssl:) is up.
func waitNVEConnected(t *testing.T, ctx context.Context, n *lab.NVA, i int, mgmtIP string) *model.OpenFlowStatus {
	t.Helper()
	var st struct {
		Status struct {
			OpenFlow *model.OpenFlowStatus `json:"openflow"`
			OVSDB    *model.OVSDBStatus    `json:"ovsdb"`
		} `json:"status"`
	}
	err := lab.WaitFor(ctx, 30*time.Second, 100*time.Millisecond, func() (bool, error) {
		if _, err := n.Client.Do(ctx, http.MethodGet, fmt.Sprintf("/api/v1/nves/hv%d", i), nil, &st); err != nil {
			return false, err
		}
		of, db := st.Status.OpenFlow, st.Status.OVSDB
		if of == nil || db == nil {
			return false, fmt.Errorf("no status yet")
		}
		ok := of.Connected && strings.HasPrefix(of.Remote, mgmtIP+":") && db.Connected
		return ok, fmt.Errorf("openflow connected %v from %s, ovsdb connected %v (%s)", of.Connected, of.Remote, db.Connected, db.LastError)
	})
	if err != nil {
		t.Fatalf("hv%d: %v", i, err)
	}
	return st.Status.OpenFlow
}
