package integration

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/integration/lab"
	"github.com/nva-project/nva/ovsdb/nvesync"
	"github.com/nva-project/nva/web/wire"
)

// TestMultihome: three hypervisors with two underlay links each (two
// fabric planes), multipath failover. nva creates a BFD tunnel port per
// path and sends the VN's unicast through a fast_failover group; BFD
// comes up on every path. A continuous ping between tenants on the two
// hypervisors keeps flowing when hv1's plane-0 link is cut: the longest
// interruption is printed and must stay within the BFD detection time
// plus a generous margin (a correctness bound, not a performance figure);
// GET /api/v1/tunnels shows the path down with its diagnostic while the
// pair stays up. Cutting hv1's other link too leaves hv1 without any
// path: the API reports an underlay fault and nva takes hv1's VAP down
// (the tenant sees its carrier go) while hv2 and hv3, which still reach
// each other, keep theirs; restoring the links brings it back and
// traffic flows again.
func TestMultihome(t *testing.T) {
	requireLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	l := lab.New(t, lab.Options{Hypervisors: 3})
	var second [4]string
	for i := 1; i <= 3; i++ {
		ip, err := l.AddSecondUplink(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		second[i] = ip.String()
	}
	n, err := l.StartNVA(ctx, lab.NVAOptions{Bin: nvaBin})
	if err != nil {
		t.Fatal(err)
	}
	ov, err := lab.NewOverlay(ctx, l, n, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		if err := ov.Patch(ctx, fmt.Sprintf("/api/v1/nves/hv%d", i), map[string]any{
			"underlay_ips": []string{l.UnderlayIP(i), second[i]},
			"multipath":    "failover",
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := ov.AddVN(ctx, lab.VNSpec{Name: "blue", VNI: 1401, Encap: "vxlan"}); err != nil {
		t.Fatal(err)
	}
	for _, ts := range []lab.TenantSpec{
		{Name: "m1", VN: "blue", HV: 1, IP: "192.0.2.41", MAC: "02:00:00:00:41:01"},
		{Name: "m2", VN: "blue", HV: 2, IP: "192.0.2.42", MAC: "02:00:00:00:41:02"},
		{Name: "m3", VN: "blue", HV: 3, IP: "192.0.2.43", MAC: "02:00:00:00:41:03"},
	} {
		if err := ov.AddTenant(ctx, ts); err != nil {
			t.Fatal(err)
		}
	}

	tunnels := func() wire.Tunnels {
		t.Helper()
		var tu wire.Tunnels
		if _, err := n.Client.Do(ctx, http.MethodGet, "/api/v1/tunnels", nil, &tu); err != nil {
			t.Fatal(err)
		}
		return tu
	}
	pair := func(tu wire.Tunnels, nve, remote string) model.TunnelStatus {
		for _, ts := range tu.Items {
			if ts.NVE == nve && ts.Remote == remote {
				return ts
			}
		}
		return model.TunnelStatus{}
	}
	waitTunnels := func(what string, timeout time.Duration, ok func(wire.Tunnels) bool) wire.Tunnels {
		t.Helper()
		var tu wire.Tunnels
		if err := lab.WaitFor(ctx, timeout, 200*time.Millisecond, func() (bool, error) {
			tu = tunnels()
			return ok(tu), nil
		}); err != nil {
			t.Fatalf("%s: %v; last: %+v", what, err, tu)
		}
		return tu
	}
	allUp := func(tu wire.Tunnels) bool {
		for _, p := range [][2]string{{"hv1", "hv2"}, {"hv2", "hv1"}, {"hv1", "hv3"}, {"hv3", "hv1"}, {"hv2", "hv3"}, {"hv3", "hv2"}} {
			ts := pair(tu, p[0], p[1])
			if len(ts.Paths) != 2 {
				return false
			}
			for _, ps := range ts.Paths {
				if ps.State != model.PathUp {
					return false
				}
			}
		}
		return true
	}
	tu := waitTunnels("BFD up on every path", 30*time.Second, allUp)
	t.Logf("paths hv1->hv2: %+v", pair(tu, "hv1", "hv2").Paths)
	metrics, err := n.Client.Metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if up, paths := lab.MetricSum(metrics, "nva_tunnel_up"), lab.MetricSum(metrics, "nva_tunnel_path_up"); up != 6 || paths != 12 {
		t.Fatalf("metrics: nva_tunnel_up sums to %v (want 6 pairs up), nva_tunnel_path_up to %v (want 12 paths up): %v", up, paths,
			lab.MetricSeries(metrics, "nva_tunnel_up"))
	}
	groups, err := l.DumpGroups(ctx, 1, lab.IntegrationBridge)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(groups, "\n"), "type=ff") {
		t.Fatalf("no fast_failover group on hv1:\n%s", strings.Join(groups, "\n"))
	}
	if _, err := ov.ExpectReach(ctx, "m1", "192.0.2.42", realizeTimeout); err != nil {
		t.Fatal(err)
	}

	// cutUnderPing cuts hv1's link on a plane under a continuous ping
	// from m1 to m2 (20 ms apart, 4 s) and checks the longest
	// interruption against the BFD detection time plus a 5 s margin.
	const interval = 20 * time.Millisecond
	detect := time.Duration(nvesync.BFDDetectMult*nvesync.BFDIntervalMS) * time.Millisecond
	cutUnderPing := func(mode string, plane int) {
		t.Helper()
		ping, err := l.StartTimedPing("m1", "192.0.2.42", interval, 200)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(1500 * time.Millisecond)
		if err := l.SetUplink(ctx, 1, plane, false); err != nil {
			t.Fatal(err)
		}
		res, err := ping.Wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		gap := res.Interruption(interval)
		t.Logf("%s: ping across the cut of hv1's plane-%d uplink: %s; longest interruption %v (BFD detection time %v)", mode, plane, res.PingResult, gap, detect)
		if res.Received == 0 || gap > detect+5*time.Second {
			t.Fatalf("%s: interruption %v exceeds the BFD detection time %v plus 5 s margin (%s)", mode, gap, detect, res.PingResult)
		}
	}
	cutUnderPing("failover", 0)
	tu = waitTunnels("path 0 of hv1->hv2 down, the pair up", 15*time.Second, func(tu wire.Tunnels) bool {
		ts := pair(tu, "hv1", "hv2")
		return ts.State == model.PathUp && len(ts.Paths) == 2 && ts.Paths[0].State == model.PathDown && ts.Paths[1].State == model.PathUp
	})
	p0 := pair(tu, "hv1", "hv2").Paths[0]
	t.Logf("hv1->hv2 path 0 after the cut: %+v", p0)
	if p0.Since.IsZero() || p0.Diagnostic == "" {
		t.Errorf("path 0 down without a transition time or diagnostic: %+v", p0)
	}

	// Cut the other link: hv1 has no path left; its VAP goes down.
	if err := l.SetUplink(ctx, 1, 1, false); err != nil {
		t.Fatal(err)
	}
	tu = waitTunnels("hv1->hv2 down with an underlay fault and m1 signalled", 20*time.Second, func(tu wire.Tunnels) bool {
		ts := pair(tu, "hv1", "hv2")
		return ts.State == model.PathDown && ts.Fault == model.FaultUnderlay && len(tu.VAPs) == 1 && tu.VAPs[0].Port == "m1" && tu.VAPs[0].Down
	})
	var carrierOut string
	if err := lab.WaitFor(ctx, 10*time.Second, 100*time.Millisecond, func() (bool, error) {
		up, out, err := l.LinkCarrier(ctx, "m1")
		carrierOut = out
		return !up, err
	}); err != nil {
		t.Fatalf("m1 keeps its carrier with hv1 cut off: %v (%s)", err, carrierOut)
	}
	t.Logf("m1 with hv1 cut off: %s", carrierOut)
	if metrics, err = n.Client.Metrics(ctx); err != nil {
		t.Fatal(err)
	}
	if faults, down := lab.MetricSum(metrics, "nva_tunnel_fault"), lab.MetricSum(metrics, "nva_vap_signalled_down"); faults < 4 || down != 1 {
		t.Errorf("metrics with hv1 cut off: nva_tunnel_fault sums to %v (want the 4 pairs to and from hv1), nva_vap_signalled_down to %v (want 1)", faults, down)
	}
	for _, other := range []string{"m2", "m3"} {
		if up, out, err := l.LinkCarrier(ctx, other); err != nil || !up {
			t.Fatalf("%s lost its carrier though its NVE still reaches another NVE of the VN: %v %s", other, err, out)
		}
	}
	if _, err := ov.ExpectReach(ctx, "m2", "192.0.2.43", realizeTimeout); err != nil {
		t.Fatalf("hv2 and hv3 with hv1 cut off: %v", err)
	}
	var st wire.NVEView
	if _, err := n.Client.Do(ctx, http.MethodGet, "/api/v1/nves/hv1", nil, &st); err == nil && st.Status != nil && st.Status.OVSDB != nil {
		if ps := st.Status.OVSDB.Ports["vm-m1"]; !ps.SignalledDown {
			t.Errorf("hv1's status does not report vm-m1 signalled down: %+v", ps)
		}
	}

	// Restore both links: BFD comes back, the VAP comes back up, traffic
	// flows.
	for plane := 0; plane <= 1; plane++ {
		if err := l.SetUplink(ctx, 1, plane, true); err != nil {
			t.Fatal(err)
		}
	}
	waitTunnels("every path up again and no VAP signalled", 30*time.Second, func(tu wire.Tunnels) bool {
		return allUp(tu) && len(tu.VAPs) == 0
	})
	if err := lab.WaitFor(ctx, 10*time.Second, 100*time.Millisecond, func() (bool, error) {
		up, out, err := l.LinkCarrier(ctx, "m1")
		carrierOut = out
		return up, err
	}); err != nil {
		t.Fatalf("m1 has no carrier after the links came back: %v (%s)", err, carrierOut)
	}
	if _, err := ov.ExpectReach(ctx, "m1", "192.0.2.42", realizeTimeout); err != nil {
		t.Fatal(err)
	}

	// Active-active: select groups whose buckets watch the path ports;
	// the ping's flow is hashed onto one path, so each plane is cut in
	// turn (one of the cuts hits the path in use) and traffic keeps
	// flowing either way.
	for i := 1; i <= 3; i++ {
		if err := ov.Patch(ctx, fmt.Sprintf("/api/v1/nves/hv%d", i), map[string]any{"multipath": "active-active"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := lab.WaitFor(ctx, 15*time.Second, 200*time.Millisecond, func() (bool, error) {
		groups, err := l.DumpGroups(ctx, 1, lab.IntegrationBridge)
		g := strings.Join(groups, "\n")
		return err == nil && strings.Contains(g, "type=select") && strings.Contains(g, "watch_port:"), err
	}); err != nil {
		groups, _ := l.DumpGroups(ctx, 1, lab.IntegrationBridge)
		t.Fatalf("no select group watching the path ports on hv1: %v\n%s", err, strings.Join(groups, "\n"))
	}
	// What nva installed reads back as what it wants (select buckets keep
	// their watch ports: no endless group rewrites).
	var rep model.FlowReport
	if err := lab.WaitFor(ctx, 15*time.Second, 200*time.Millisecond, func() (bool, error) {
		rep = model.FlowReport{}
		_, err := n.Client.Do(ctx, http.MethodGet, "/api/v1/nves/hv1/flows", nil, &rep)
		return err == nil && rep.InstalledKnown && rep.Diff.InSync, err
	}); err != nil {
		t.Fatalf("hv1 not in sync after switching to active-active: %v; diff %+v", err, rep.Diff)
	}
	for plane := 0; plane <= 1; plane++ {
		cutUnderPing("active-active", plane)
		if err := l.SetUplink(ctx, 1, plane, true); err != nil {
			t.Fatal(err)
		}
		waitTunnels("every path up again", 30*time.Second, allUp)
	}
}
