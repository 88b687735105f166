package integration

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/integration/lab"
	"github.com/nva-project/nva/web/wire"
)

// bumStatus reads NVE nve's BUM status for VN vn from the API.
func bumStatus(t *testing.T, ctx context.Context, n *lab.NVA, nve, vn string) model.BUMStatus {
	t.Helper()
	var v struct {
		Status struct {
			OpenFlow *model.OpenFlowStatus `json:"openflow"`
		} `json:"status"`
	}
	if _, err := n.Client.Do(ctx, http.MethodGet, "/api/v1/nves/"+nve, nil, &v); err != nil {
		t.Fatal(err)
	}
	if v.Status.OpenFlow != nil {
		for _, b := range v.Status.OpenFlow.BUM {
			if b.VN == vn {
				return b
			}
		}
	}
	return model.BUMStatus{}
}

// TestBUMDualHomedTenant: tenant system dt is attached to hv1 (port dt) and
// hv2 (port dtb, pair dt). A broadcast from c on hv3 reaches it exactly
// once (counted on both its members); its own broadcasts never come back
// to it through the other NVE; c reaches it. Then the designated
// forwarder's ovs-vswitchd is stopped (the tenant fails over to the other
// member, as a bond would): the other NVE is elected, broadcasts still
// arrive exactly once, and c reaches dt through the surviving NVE.
func TestBUMDualHomedTenant(t *testing.T) {
	requireLab(t)
	ctx := context.Background()
	l := lab.New(t, lab.Options{Hypervisors: 3})
	n, err := l.StartNVA(ctx, lab.NVAOptions{Bin: nvaBin})
	if err != nil {
		t.Fatal(err)
	}
	ov, err := lab.NewOverlay(ctx, l, n, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ov.RealizeTimeout = realizeTimeout
	if err := ov.AddVN(ctx, lab.VNSpec{Name: "dh", VNI: 3101, Encap: "vxlan"}); err != nil {
		t.Fatal(err)
	}
	if err := ov.AddTenant(ctx, lab.TenantSpec{Name: "c", VN: "dh", HV: 3, IP: "192.0.2.3", MAC: "02:00:00:00:0d:03"}); err != nil {
		t.Fatal(err)
	}
	const dtMAC, dtIP = "02:00:00:00:0d:10", "192.0.2.10"
	dt, err := l.AddDualHomedTenant(ctx, 1, 2, "dt", dtMAC, []string{dtIP + "/24"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []map[string]any{
		{"name": "dt", "vn": "dh", "nve": "hv1", "interface": dt.If, "mac": dtMAC, "ips": []string{dtIP}},
		{"name": "dtb", "vn": "dh", "nve": "hv2", "interface": dt.IfB, "mac": dtMAC, "ips": []string{dtIP}, "pair": "dt"},
	} {
		if err := ov.Post(ctx, "/api/v1/ports", p); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.SetARPSolicit(ctx, "c", 1); err != nil {
		t.Fatal(err)
	}
	df, dfPort := "hv1", "dt"
	if s := bumStatus(t, ctx, n, "hv2", "dh"); slices.Contains(s.DesignatedFor, "dtb") {
		df, dfPort = "hv2", "dtb"
	}
	if s := bumStatus(t, ctx, n, df, "dh"); !slices.Contains(s.DesignatedFor, dfPort) {
		t.Fatalf("status of %s: %+v; neither NVE says it is the designated forwarder", df, s)
	}
	t.Logf("designated forwarder: %s", df)

	// exactlyOnce sends broadcasts from c (ARP requests for an address
	// nobody has: flooded) and counts them on both members of dt.
	exactlyOnce := func(stage string, unknown string, members ...string) {
		t.Helper()
		filter := "arp and ether src 02:00:00:00:0d:03 and ether broadcast"
		sent, err := l.StartCapture(ctx, l.TenantPoint("c"), filter)
		if err != nil {
			t.Fatal(err)
		}
		var caps []*lab.Capture
		for _, m := range members {
			c, err := l.StartCapture(ctx, dt.Point(m), filter)
			if err != nil {
				t.Fatal(err)
			}
			caps = append(caps, c)
		}
		if _, err := l.Ping(ctx, "c", unknown, 1); err != nil {
			t.Fatal(err)
		}
		s, err := sent.Stop()
		if err != nil {
			t.Fatal(err)
		}
		total := 0
		var per []string
		for i, c := range caps {
			g, err := c.Stop()
			if err != nil {
				t.Fatal(err)
			}
			total += len(g)
			per = append(per, members[i]+"="+strconv.Itoa(len(g)))
		}
		t.Logf("%s: c sent %d broadcasts; dt received %s", stage, len(s), strings.Join(per, ", "))
		if len(s) == 0 || total != len(s) {
			t.Fatalf("%s: c sent %d broadcasts, dt received %s: want exactly one copy each", stage, len(s), strings.Join(per, ", "))
		}
	}
	// Warm up the underlay: the userspace datapath drops a tunnel's
	// first packets while it resolves the remote's underlay address.
	warm := func(from ...string) {
		t.Helper()
		for _, f := range from {
			_, _ = l.Ping(ctx, f, "192.0.2.90", 1)
		}
		time.Sleep(500 * time.Millisecond)
	}
	warm("c", "dt")
	exactlyOnce("both NVEs up", "192.0.2.99", "eth0", "eth1")

	// dt's own broadcast, sent through eth0 (hv1): never back on eth1.
	back, err := l.StartCapture(ctx, dt.Point("eth1"), "arp and ether src "+dtMAC)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Ping(ctx, "dt", "192.0.2.98", 1); err != nil {
		t.Fatal(err)
	}
	if got, err := back.Stop(); err != nil || len(got) != 0 {
		t.Fatalf("dt's own broadcast came back to it through hv2 (%v):\n%s", err, strings.Join(got, "\n"))
	}
	if _, err := l.Reachable(ctx, "c", dtIP, 20*time.Second); err != nil {
		t.Fatalf("c does not reach the dual-homed tenant: %v", err)
	}

	// The DF's switch stops: the tenant fails over to its other member,
	// nva elects the other NVE.
	dfIdx, other, otherPort, otherIf := 1, "hv2", "dtb", "eth1"
	if df == "hv2" {
		dfIdx, other, otherPort, otherIf = 2, "hv1", "dt", "eth0"
	}
	if err := l.StopVswitchd(ctx, dfIdx); err != nil {
		t.Fatal(err)
	}
	if err := l.FailTo(ctx, dt, otherIf); err != nil {
		t.Fatal(err)
	}
	if err := lab.WaitFor(ctx, 20*time.Second, 100*time.Millisecond, func() (bool, error) {
		return slices.Contains(bumStatus(t, ctx, n, other, "dh").DesignatedFor, otherPort), nil
	}); err != nil {
		t.Fatalf("%s not elected designated forwarder after %s's switch stopped: %v", other, df, err)
	}
	if d, err := l.Reachable(ctx, "c", dtIP, 20*time.Second); err != nil {
		t.Fatalf("c does not reach the dual-homed tenant through %s: %v", other, err)
	} else {
		t.Logf("dt reachable through %s %v after the election was reported", other, d)
	}
	exactlyOnce(df+" stopped", "192.0.2.97", otherIf)
}

// TestBUMReplicatorMode: VN rep in mode replicator with hv4 its
// replicator and a tenant on each of four hypervisors. A broadcast from
// hv1's tenant leaves hv1 as one underlay copy (capture on its uplink;
// head-end would send three), and every other tenant receives it exactly
// once. Then VN mc in mode multicast: Open vSwitch cannot send to an
// underlay group, so the API says so per NVE and a broadcast stays on its
// NVE (no silent head-end fallback).
func TestBUMReplicatorMode(t *testing.T) {
	requireLab(t)
	ctx := context.Background()
	l := lab.New(t, lab.Options{Hypervisors: 4})
	n, err := l.StartNVA(ctx, lab.NVAOptions{Bin: nvaBin, ExtraArgs: []string{"--counter-interval", "1s"}})
	if err != nil {
		t.Fatal(err)
	}
	ov, err := lab.NewOverlay(ctx, l, n, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ov.RealizeTimeout = realizeTimeout
	const vni = 3201
	if err := ov.Post(ctx, "/api/v1/vns", map[string]any{"name": "rep", "vni": vni, "encap": "vxlan",
		"bum": map[string]any{"mode": "replicator", "replicators": []string{"hv4"}}}); err != nil {
		t.Fatal(err)
	}
	names := []string{"r1", "r2", "r3", "r4"}
	for i, name := range names {
		if err := ov.AddTenant(ctx, lab.TenantSpec{Name: name, VN: "rep", HV: i + 1,
			IP: "192.0.2.2" + string(rune('1'+i)), MAC: "02:00:00:00:0e:0" + string(rune('1'+i))}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.SetARPSolicit(ctx, "r1", 1); err != nil {
		t.Fatal(err)
	}
	// Warm up the underlay (the userspace datapath drops a tunnel's first
	// packets while it resolves the remote's underlay address): every
	// tenant broadcasts once.
	for _, name := range names {
		_, _ = l.Ping(ctx, name, "192.0.2.90", 1)
	}
	time.Sleep(500 * time.Millisecond)
	for i := 1; i <= 4; i++ {
		s := bumStatus(t, ctx, n, "hv"+string(rune('0'+i)), "rep")
		t.Logf("hv%d: %+v", i, s)
		want := 1
		if i == 4 {
			want = 3 // the replicator copies to the three others
		}
		if s.Copies != want {
			t.Errorf("hv%d reports %d copies per BUM frame, want %d", i, s.Copies, want)
		}
	}
	// Every BUM frame r1 sends while its NVE's counters are compared
	// (an upper bound on the frames hv1 floods in the window).
	allBUM, err := l.StartCapture(ctx, l.TenantPoint("r1"), "ether multicast and ether src 02:00:00:00:0e:01")
	if err != nil {
		t.Fatal(err)
	}
	before := stableBUM(t, ctx, n, "hv1", "rep", nil)
	before4 := stableBUM(t, ctx, n, "hv4", "rep", nil)
	filter := "arp and ether src 02:00:00:00:0e:01 and ether broadcast"
	uplink, err := l.StartCapture(ctx, l.UnderlayPoint(1), "src host "+l.UnderlayIP(1)+" and "+lab.UnderlayFilter("vxlan", vni, 0x0806, true))
	if err != nil {
		t.Fatal(err)
	}
	caps := map[string]*lab.Capture{}
	for _, name := range names {
		if caps[name], err = l.StartCapture(ctx, l.TenantPoint(name), filter); err != nil {
			t.Fatal(err)
		}
	}
	// Three broadcasts: an ARP request for each of three unknown
	// addresses (one solicitation each).
	for _, ip := range []string{"192.0.2.97", "192.0.2.98", "192.0.2.99"} {
		if _, err := l.Ping(ctx, "r1", ip, 1); err != nil {
			t.Fatal(err)
		}
	}
	up, err := uplink.Stop()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, name := range names {
		pkts, err := caps[name].Stop()
		if err != nil {
			t.Fatal(err)
		}
		got[name] = len(pkts)
	}
	sent := got["r1"]
	copies := lab.CountLines(up, "VXLAN") // tcpdump prints the inner frame on a line of its own
	t.Logf("r1 sent %d broadcasts; hv1 sent %d underlay copies (head-end would send 3 each); received %v", sent, copies, got)
	if sent == 0 {
		t.Fatal("r1 sent no broadcast")
	}
	if copies != sent {
		t.Errorf("hv1 sent %d underlay copies of %d broadcasts, want one each (one replicator):\n%s", copies, sent, strings.Join(up, "\n"))
	}
	for _, name := range names[1:] {
		if got[name] != sent {
			t.Errorf("%s received %d of %d broadcasts, want each exactly once", name, got[name], sent)
		}
	}
	// The live copy counters (group statistics): hv1 flooded at least the
	// sent broadcasts and at most every BUM frame r1 sent meanwhile, and
	// sent exactly one underlay copy (one replicator) of each frame its
	// flood group processed, as compiled.
	after := stableBUM(t, ctx, n, "hv1", "rep", func(b wire.BUMCounters) bool { return b.Frames >= before.Frames+uint64(sent) })
	bumPkts, err := allBUM.Stop()
	if err != nil {
		t.Fatal(err)
	}
	frames, under := after.Frames-before.Frames, after.UnderlayCopies-before.UnderlayCopies
	t.Logf("hv1 counters: %d BUM frames, %d underlay copies, %d local copies, %d compiled copies per frame (r1 sent %d BUM frames in the window)",
		frames, under, after.LocalCopies-before.LocalCopies, after.CompiledCopies, len(bumPkts))
	if after.CompiledCopies != 1 {
		t.Errorf("hv1 compiled %d underlay copies per BUM frame, want 1 (one replicator)", after.CompiledCopies)
	}
	if frames < uint64(sent) || frames > uint64(len(bumPkts)) {
		t.Errorf("hv1 counted %d BUM frames, want between the %d broadcasts sent and the %d BUM frames r1 sent", frames, sent, len(bumPkts))
	}
	if under != frames*uint64(after.CompiledCopies) || under < uint64(sent) {
		t.Errorf("hv1 counted %d underlay copies of %d BUM frames (%d broadcasts), want one per frame", under, frames, sent)
	}
	if under != uint64(copies) && frames == uint64(sent) {
		t.Errorf("hv1 counted %d underlay copies, its uplink carried %d", under, copies)
	}
	// The replicator hv4 relays each frame from a tunnel (from hv1, hv2 or
	// hv3) to the two other NVEs: exactly two relayed copies per frame, and
	// r1's broadcasts are among those frames.
	after4 := stableBUM(t, ctx, n, "hv4", "rep", func(b wire.BUMCounters) bool {
		return b.FramesFromTunnels >= before4.FramesFromTunnels+uint64(sent)
	})
	in4, relayed := after4.FramesFromTunnels-before4.FramesFromTunnels, after4.RelayedCopies-before4.RelayedCopies
	t.Logf("hv4 counters: %d BUM frames from tunnels, %d relayed copies", in4, relayed)
	if in4 < uint64(sent) || relayed != 2*in4 {
		t.Errorf("replicator hv4 counted %d relayed copies of %d frames from tunnels (%d broadcasts from r1), want two per frame", relayed, in4, sent)
	}

	if err := ov.Post(ctx, "/api/v1/vns", map[string]any{"name": "mc", "vni": 3202, "encap": "vxlan",
		"bum": map[string]any{"mode": "multicast", "group": "239.1.1.1"}}); err != nil {
		t.Fatal(err)
	}
	for i, hv := range []int{2, 3} {
		if err := ov.AddTenant(ctx, lab.TenantSpec{Name: "m" + string(rune('1'+i)), VN: "mc", HV: hv,
			IP: "192.0.2.3" + string(rune('1'+i)), MAC: "02:00:00:00:0e:1" + string(rune('1'+i))}); err != nil {
			t.Fatal(err)
		}
	}
	for _, hv := range []string{"hv2", "hv3"} {
		s := bumStatus(t, ctx, n, hv, "mc")
		if s.Unsupported == "" || s.Copies != 0 {
			t.Errorf("%s: BUM status of multicast VN mc: %+v; want unsupported with no copies", hv, s)
		}
	}
	// The flood group of mc's VAP frames on hv2, as installed, copies to
	// no tunnel.
	groups, err := l.DumpGroups(ctx, 2, lab.IntegrationBridge)
	if err != nil {
		t.Fatal(err)
	}
	flood := fmt.Sprintf("group_id=%d,", compiler.FloodGroupID(3202, false))
	found := false
	for _, g := range groups {
		if strings.HasPrefix(g, flood) {
			found = true
			if strings.Contains(g, "tun_dst") {
				t.Errorf("multicast VN mc: hv2's flood group copies into a tunnel (a silent fallback): %s", g)
			}
		}
	}
	if !found {
		t.Errorf("multicast VN mc: no flood group %s on hv2:\n%s", flood, strings.Join(groups, "\n"))
	}
	mcap, err := l.StartCapture(ctx, l.TenantPoint("m2"), "arp and ether src 02:00:00:00:0e:11")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = l.Ping(ctx, "m1", "192.0.2.99", 1)
	if pkts, err := mcap.Stop(); err != nil || len(pkts) != 0 {
		t.Errorf("multicast VN: m1's broadcast reached m2 on another NVE (%v): a silent fallback:\n%s", err, strings.Join(pkts, "\n"))
	}
}

// stableBUM returns nve's live BUM counters of vn (GET /api/v1/counters)
// once two consecutive poll rounds agree and done (if not nil) holds: no
// flooded frame is still on its way into the switch's statistics.
func stableBUM(t *testing.T, ctx context.Context, n *lab.NVA, nve, vn string, done func(wire.BUMCounters) bool) wire.BUMCounters {
	t.Helper()
	var last wire.BUMCounters
	var lastAt time.Time
	have := false
	err := lab.WaitFor(ctx, 30*time.Second, 300*time.Millisecond, func() (bool, error) {
		var c wire.Counters
		if _, err := n.Client.Do(ctx, http.MethodGet, "/api/v1/counters", nil, &c); err != nil {
			return false, err
		}
		if c.PolledAt == nil || !c.PolledAt.After(lastAt) {
			return false, nil
		}
		for _, nc := range c.NVEs {
			if nc.NVE != nve {
				continue
			}
			for _, b := range nc.BUM {
				if b.VN != vn {
					continue
				}
				stable := have && b == last && (done == nil || done(b))
				last, lastAt, have = b, *c.PolledAt, true
				return stable, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("BUM counters of %s on %s (last %+v): %v", vn, nve, last, err)
	}
	return last
}
