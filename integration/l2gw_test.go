package integration

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nva-project/nva/integration/lab"
	"github.com/nva-project/nva/web/wire"
)

// TestL2GatewaySegment: hv1 is an L2 gateway to a physical segment (a
// helper bridge whose host sits on an access port of VLAN 100, trunked to
// br-int); the segment is port seg1 of kind segment (interface sg0, VLAN
// 100) in VN blue. The host reaches a VM of blue on hv2 and back; its MAC
// becomes a learned endpoint at hv1 via seg1, programmed on hv2; while it
// keeps sending it is refreshed; once it goes silent it ages out
// (--learned-age 6s) and hv2's flow for it goes. A second host using
// vm1's MAC is refused and shown as a conflict.
func TestL2GatewaySegment(t *testing.T) {
	requireLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	l := lab.New(t, lab.Options{Hypervisors: 2})
	n, err := l.StartNVA(ctx, lab.NVAOptions{Bin: nvaBin, ExtraArgs: []string{"--learned-age", "6s"}})
	if err != nil {
		t.Fatal(err)
	}
	ov, err := lab.NewOverlay(ctx, l, n, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ov.RealizeTimeout = realizeTimeout
	if err := ov.AddVN(ctx, lab.VNSpec{Name: "blue", VNI: 2001, Encap: "vxlan"}); err != nil {
		t.Fatal(err)
	}
	if err := ov.AddTenant(ctx, lab.TenantSpec{Name: "vm1", VN: "blue", HV: 2, IP: "192.0.2.21", MAC: "02:00:00:00:01:21"}); err != nil {
		t.Fatal(err)
	}
	const hostMAC = "02:00:00:00:0a:50"
	if err := l.AddSegmentBridge(ctx, 1, "br-seg", "sg0"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.AddSegmentHost(ctx, 1, "br-seg", "host1", hostMAC, "192.0.2.50/24", 100); err != nil {
		t.Fatal(err)
	}
	if err := ov.Post(ctx, "/api/v1/ports", map[string]any{"name": "seg1", "vn": "blue", "nve": "hv1",
		"interface": "sg0", "vlan": 100, "kind": "segment"}); err != nil {
		t.Fatal(err)
	}

	// The host reaches the VM across the overlay, and the VM the host.
	if _, err := l.Reachable(ctx, "host1", "192.0.2.21", realizeTimeout); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Reachable(ctx, "vm1", "192.0.2.50", realizeTimeout); err != nil {
		t.Fatal(err)
	}

	// Its MAC is a learned endpoint of blue at hv1 via seg1 ...
	learned := func() wire.LearnedReport {
		var r wire.LearnedReport
		if _, err := n.Client.Do(ctx, http.MethodGet, "/api/v1/vns/blue/learned", nil, &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	var first wire.LearnedReport
	if err := lab.WaitFor(ctx, 20*time.Second, 100*time.Millisecond, func() (bool, error) {
		first = learned()
		return len(first.Learned) == 1, nil
	}); err != nil {
		t.Fatalf("host MAC not learned: %+v", first)
	}
	if e := first.Learned[0]; e.MAC != hostMAC || e.NVE != "hv1" || e.Via != "seg1" {
		t.Fatalf("learned %+v", e)
	}
	// ... programmed on hv2 (the VM's NVE) toward hv1's tunnel.
	hostFlow := func(hv int) bool {
		flows, err := l.DumpFlows(ctx, hv, lab.IntegrationBridge, nvaCookieMatch)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range flows {
			if strings.Contains(f, "dl_dst="+hostMAC) || strings.Contains(f, "eth_dst="+hostMAC) {
				return true
			}
		}
		return false
	}
	if err := lab.WaitFor(ctx, 20*time.Second, 100*time.Millisecond, func() (bool, error) { return hostFlow(2), nil }); err != nil {
		t.Fatalf("hv2 has no flow to the learned MAC: %v", err)
	}

	// While the host keeps sending, nva keeps it: LastSeen moves on
	// (re-reported from the learned-source flow's counters).
	if err := lab.WaitFor(ctx, 30*time.Second, 500*time.Millisecond, func() (bool, error) {
		if _, err := l.Ping(ctx, "host1", "192.0.2.21", 3); err != nil {
			return false, err
		}
		r := learned()
		return len(r.Learned) == 1 && r.Learned[0].LastSeen.After(first.Learned[0].LastSeen), nil
	}); err != nil {
		t.Fatalf("learned MAC not refreshed while sending: %v (%+v)", err, learned())
	}

	// The host's frames now pass hv1's learned-source flow (no more
	// punts): it counted the pings.
	src, err := l.Ofctl(ctx, 1, "dump-flows", lab.IntegrationBridge, nvaCookieMatch+",dl_src="+hostMAC)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(src, "priority=110") || strings.Contains(src, "n_packets=0,") || !strings.Contains(src, "n_packets=") {
		t.Fatalf("learned-source flow on hv1 counted nothing: %q", src)
	}

	// Gone quiet: it ages out, and hv2's flow with it.
	if err := l.SilenceTenant(ctx, "host1"); err != nil {
		t.Fatal(err)
	}
	if err := lab.WaitFor(ctx, 60*time.Second, 250*time.Millisecond, func() (bool, error) {
		return len(learned().Learned) == 0, nil
	}); err != nil {
		t.Fatalf("learned MAC did not age out: %+v", learned())
	}
	if err := lab.WaitFor(ctx, 20*time.Second, 100*time.Millisecond, func() (bool, error) { return !hostFlow(2), nil }); err != nil {
		t.Fatalf("hv2 still forwards to the aged-out MAC: %v", err)
	}

	// A host on the segment with vm1's MAC: refused (dropped in the
	// switch) and shown as a conflict with port vm1; never learned.
	if _, err := l.AddSegmentHost(ctx, 1, "br-seg", "host2", "02:00:00:00:01:21", "192.0.2.51/24", 100); err != nil {
		t.Fatal(err)
	}
	var r wire.LearnedReport
	if err := lab.WaitFor(ctx, 30*time.Second, 250*time.Millisecond, func() (bool, error) {
		if _, err := l.Ping(ctx, "host2", "192.0.2.21", 1); err != nil {
			return false, err
		}
		r = learned()
		return len(r.Conflicts) == 1, nil
	}); err != nil {
		t.Fatalf("no conflict for vm1's MAC seen on the segment: %+v", r)
	}
	if c := r.Conflicts[0]; c.MAC != "02:00:00:00:01:21" || c.Port != "vm1" || c.NVE != "hv1" || c.Via != "seg1" || len(r.Learned) != 0 {
		t.Fatalf("conflict %+v, learned %+v", c, r.Learned)
	}
}
