package integration

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/integration/lab"
)

// nvaCookieMatch selects nva's flows for ovs-ofctl.
var nvaCookieMatch = fmt.Sprintf("cookie=%#x/%#x", flow.NVACookie, flow.CookieTagMask)

// TestOverlay drives nva only through its REST API against three real
// Open vSwitch hypervisors and checks what tenant systems experience. The
// subtests share one lab and run in order; the ones that disturb the
// NVEs (controller restart, drift, mobility) come last, the restart
// first among them so that it starts from a settled state.
func TestOverlay(t *testing.T) {
	requireLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	start := time.Now()
	o := newOverlay(t, ctx)
	o.waitConverged()
	t.Logf("overlay of %d VNs, %d tenants on 3 NVEs converged in %v", len(vnSpecs), len(tenantSpecs), time.Since(start).Round(time.Millisecond))

	t.Run("ManagedOVS", o.testManagedOVS)
	t.Run("Reachability", o.testReachability)
	t.Run("ARPSuppression", o.testARPSuppression)
	t.Run("NDSuppression", o.testNDSuppression)
	t.Run("BroadcastScope", o.testBroadcastScope)
	t.Run("GENEVEAndGRE", o.testOtherEncaps)
	t.Run("TCPTransfer", o.testTCP)
	t.Run("ControllerRestart", func(t *testing.T) { o.testControllerRestart(t, false) })
	t.Run("ControllerCrash", func(t *testing.T) { o.testControllerRestart(t, true) })
	t.Run("FlowDrift", o.testFlowDrift)
	t.Run("TunnelPortDrift", o.testTunnelPortDrift)
	t.Run("Mobility", o.testMobility)
	t.Run("RealizedForwards", o.testRealizedForwards)
}

// testManagedOVS: what nva's OVSDB manager configured on every hypervisor
// (bridge, controller, tunnel ports, VAPs) and what the API reports about
// it (NVE status, topology tunnels).
func (o *overlay) testManagedOVS(t *testing.T) {
	encapsOn := map[int]map[string]bool{}
	for _, ts := range tenantSpecs {
		if encapsOn[ts.HV] == nil {
			encapsOn[ts.HV] = map[string]bool{}
		}
		encapsOn[ts.HV][o.VN(ts.VN).Encap] = true
	}
	for _, hv := range o.l.Hypervisors() {
		var nve struct {
			DatapathID string `json:"datapath_id"`
			Status     struct {
				OVSDB struct {
					Connected   bool `json:"connected"`
					BridgeReady bool `json:"bridge_ready"`
					Ports       map[string]struct {
						OFPort uint32 `json:"ofport"`
						LinkUp bool   `json:"link_up"`
					} `json:"ports"`
				} `json:"ovsdb"`
				OpenFlow struct {
					Connected bool `json:"connected"`
				} `json:"openflow"`
			} `json:"status"`
		}
		if _, err := o.nva.Client.Do(o.ctx, http.MethodGet, "/api/v1/nves/"+hv.Name, nil, &nve); err != nil {
			t.Fatal(err)
		}
		get := func(args ...string) string {
			out, err := o.l.Vsctl(o.ctx, hv.Index, args...)
			if err != nil {
				t.Errorf("%s: %v", hv.Name, err)
			}
			return strings.TrimSpace(out)
		}
		br := lab.IntegrationBridge
		if v := get("get", "bridge", br, "fail_mode"); v != "secure" {
			t.Errorf("%s: fail_mode %q, want secure", hv.Name, v)
		}
		if v := get("get", "bridge", br, "datapath_type"); v != "netdev" {
			t.Errorf("%s: datapath_type %q, want netdev", hv.Name, v)
		}
		if v := get("get", "bridge", br, "protocols"); !strings.Contains(v, "OpenFlow13") {
			t.Errorf("%s: protocols %q, want OpenFlow13", hv.Name, v)
		}
		if v := get("get", "bridge", br, "datapath_id"); !strings.Contains(v, nve.DatapathID) || nve.DatapathID == "" {
			t.Errorf("%s: datapath_id %s, want nva's %q", hv.Name, v, nve.DatapathID)
		}
		ctl := get("--columns=target,connection_mode", "list", "controller")
		if !strings.Contains(ctl, o.l.ControllerTarget()) || !strings.Contains(ctl, "out-of-band") {
			t.Errorf("%s: controller %q, want target %s with connection_mode out-of-band", hv.Name, ctl, o.l.ControllerTarget())
		}
		for encap := range encapsOn[hv.Index] {
			p := lab.TunnelPorts[encap]
			if v := get("--if-exists", "get", "interface", p, "type"); v != encap {
				t.Errorf("%s: tunnel port %s has type %q, want %s", hv.Name, p, v, encap)
			}
			opts := get("--if-exists", "get", "interface", p, "options")
			if !strings.Contains(opts, "remote_ip=flow") || !strings.Contains(opts, "key=flow") {
				t.Errorf("%s: tunnel port %s options %q, want remote_ip=flow and key=flow", hv.Name, p, opts)
			}
		}
		ports := strings.Fields(get("list-ports", br))
		for _, ts := range tenantSpecs {
			if ts.HV != hv.Index {
				continue
			}
			if !slices.Contains(ports, "vm-"+ts.Name) {
				t.Errorf("%s: %s not attached to %s (ports %v)", hv.Name, "vm-"+ts.Name, br, ports)
			}
			ps, ok := nve.Status.OVSDB.Ports["vm-"+ts.Name]
			if !ok || ps.OFPort == 0 || !ps.LinkUp {
				t.Errorf("%s: API status of vm-%s = %+v (present %v), want an OpenFlow port number and link up", hv.Name, ts.Name, ps, ok)
			}
		}
		if !nve.Status.OVSDB.Connected || !nve.Status.OVSDB.BridgeReady || !nve.Status.OpenFlow.Connected {
			t.Errorf("%s: API status %+v, want OVSDB connected with the bridge ready and OpenFlow connected", hv.Name, nve.Status)
		}
		// The one-line summary agrees (polled: a reconciliation may be
		// finishing).
		var summary string
		err := lab.WaitFor(o.ctx, 10*time.Second, 100*time.Millisecond, func() (bool, error) {
			var n struct {
				Status struct {
					Summary string `json:"summary"`
				} `json:"status"`
			}
			_, err := o.nva.Client.Do(o.ctx, http.MethodGet, "/api/v1/nves/"+hv.Name, nil, &n)
			summary = n.Status.Summary
			return err == nil && strings.HasPrefix(summary, "ok: in sync (revision "), err
		})
		if err != nil {
			t.Errorf("%s: status summary %q, want \"ok: in sync (revision N)\": %v", hv.Name, summary, err)
		}
	}
	var topo struct {
		Tunnels []struct {
			A   string   `json:"a"`
			B   string   `json:"b"`
			VNs []string `json:"vns"`
		} `json:"tunnels"`
	}
	if _, err := o.nva.Client.Do(o.ctx, http.MethodGet, "/api/v1/topology", nil, &topo); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, tu := range topo.Tunnels {
		vns := slices.Clone(tu.VNs)
		sort.Strings(vns)
		got[tu.A+"-"+tu.B] = strings.Join(vns, ",")
	}
	want := map[string]string{"hv1-hv2": "blue,red", "hv1-hv3": "blue,green", "hv2-hv3": "blue,gold"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("topology tunnel %s carries %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("topology tunnels %v, want exactly %v", got, want)
	}
}

// testReachability: every pair in the same VN pings, on the same NVE and
// across NVEs; no pair across blue and red does, even where both VNs use
// the same IP (the answer then comes from the sender's own VN).
func (o *overlay) testReachability(t *testing.T) {
	var names []string
	for _, ts := range tenantSpecs {
		if ts.VN == "blue" || ts.VN == "red" {
			names = append(names, ts.Name)
		}
	}
	cells := o.Matrix(o.ctx, names, 5*time.Second)
	t.Logf("reachability (row pings column's IP; yes = column's own answer):\n%s", o.FormatMatrix(names, cells))
	for _, c := range cells {
		if c.Reached != c.Want {
			t.Errorf("%s -> %s: reached=%v, want %v: %v", c.From, c.To, c.Reached, c.Want, c.Err)
		} else if c.Err != nil {
			t.Errorf("%s -> %s: %v", c.From, c.To, c.Err)
		}
	}
}

// startUnderlayCaptures captures with a per-hypervisor filter on every
// hypervisor's underlay link (fabric side), starting them in parallel.
func (o *overlay) startUnderlayCaptures(t *testing.T, filter func(hv *lab.Hypervisor) string) map[int]*lab.Capture {
	t.Helper()
	hvs := o.l.Hypervisors()
	caps := make([]*lab.Capture, len(hvs))
	errs := make([]error, len(hvs))
	var wg sync.WaitGroup
	for i, hv := range hvs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			caps[i], errs[i] = o.l.StartCapture(o.ctx, o.l.UnderlayPoint(hv.Index), filter(hv))
		}()
	}
	wg.Wait()
	out := map[int]*lab.Capture{}
	for i, hv := range hvs {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		out[hv.Index] = caps[i]
	}
	return out
}

// stopCaptures stops captures in parallel and returns their packets.
func stopCaptures(t *testing.T, caps map[int]*lab.Capture) map[int][]string {
	t.Helper()
	var mu sync.Mutex
	var wg sync.WaitGroup
	out := map[int][]string{}
	for i, c := range caps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := c.Stop()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Error(err)
			}
			out[i] = p
		}()
	}
	wg.Wait()
	return out
}

// testARPSuppression: a tenant resolving a known neighbour on another NVE
// gets its answer from its own NVE; no encapsulated ARP crosses the
// underlay.
func (o *overlay) testARPSuppression(t *testing.T) {
	pairs := [][2]string{{"b1", "b3"}, {"b3", "b4"}, {"r1", "r2"}}
	var targets []string
	for _, p := range pairs {
		targets = append(targets, o.tenant(p[1]).IP)
	}
	// Forget every neighbour first, so that no tenant is still resolving
	// something else (e.g. an unknown address of the previous test).
	for _, ts := range tenantSpecs {
		if err := o.l.FlushNeighbors(o.ctx, ts.Name); err != nil {
			t.Fatal(err)
		}
	}
	caps := o.startUnderlayCaptures(t, func(*lab.Hypervisor) string {
		return lab.UnderlayARPFilter("vxlan", targets...)
	})
	for _, p := range pairs {
		if n, _ := o.l.Neighbor(o.ctx, p[0], o.tenant(p[1]).IP); strings.Contains(n, "lladdr") {
			t.Fatalf("%s still has a neighbour entry after flush: %s", p[0], n)
		}
		if _, err := o.expectReach(p[0], o.tenant(p[1]).IP, 5*time.Second); err != nil {
			t.Error(err)
		}
	}
	for hv, pkts := range stopCaptures(t, caps) {
		if len(pkts) != 0 {
			t.Errorf("encapsulated ARP for a known address on hv%d's underlay:\n%s", hv, strings.Join(pkts, "\n"))
		}
	}
	// Control: ARP for an address nobody has is flooded in the VN
	// (unknown_arp=flood), and the same kind of filter sees it.
	caps = o.startUnderlayCaptures(t, func(*lab.Hypervisor) string {
		return lab.UnderlayARPFilter("vxlan", "192.0.2.99")
	})
	if _, err := o.l.Ping(o.ctx, "b1", "192.0.2.99", 1); err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, p := range stopCaptures(t, caps) {
		seen += len(p)
	}
	if seen == 0 {
		t.Errorf("no encapsulated ARP request for an unknown address was seen: the capture filter or flooding is broken")
	}
}

// testNDSuppression: an IPv6 tenant resolving a known neighbour on another
// NVE gets its neighbor advertisement without any encapsulated neighbor
// solicitation crossing the underlay, and IPv6 traffic flows.
func (o *overlay) testNDSuppression(t *testing.T) {
	b1, b4 := o.tenant("b1"), o.tenant("b4")
	for _, n := range []string{"b1", "b4"} {
		if err := o.l.FlushNeighbors(o.ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	// Encapsulated ICMPv6 neighbor solicitations (type 135, right after
	// a 40-byte IPv6 header) on any VNI.
	caps := o.startUnderlayCaptures(t, func(*lab.Hypervisor) string {
		return lab.UnderlayFilter("vxlan", 0, 0x86dd, false) + " and udp[36:1] = 58 and udp[70:1] = 135"
	})
	_, err := o.l.Reachable(o.ctx, "b1", b4.IP6, 10*time.Second)
	pkts := stopCaptures(t, caps)
	if err != nil {
		t.Fatalf("b1 -> b4 over IPv6: %v", err)
	}
	if n, _ := o.l.Neighbor(o.ctx, "b1", b4.IP6); !strings.Contains(n, b4.MAC) {
		t.Errorf("b1 resolved %s to %q, want b4's MAC %s", b4.IP6, n, b4.MAC)
	}
	for hv, p := range pkts {
		if len(p) != 0 {
			t.Errorf("encapsulated neighbor solicitation on hv%d's underlay while resolving a known IPv6 neighbour:\n%s", hv, strings.Join(p, "\n"))
		}
	}
	if r, err := o.l.Ping(o.ctx, "b4", b1.IP6, 3); err != nil || r.Lost() != 0 {
		t.Errorf("b4 -> b1 over IPv6: %v %v", r, err)
	}
	// Control: a solicitation for an address nobody has is flooded in
	// the VN (unknown_arp=flood), and the same capture filter sees it.
	caps = o.startUnderlayCaptures(t, func(*lab.Hypervisor) string {
		return lab.UnderlayFilter("vxlan", o.VN("blue").VNI, 0x86dd, false) + " and udp[36:1] = 58 and udp[70:1] = 135"
	})
	if _, err := o.l.Ping(o.ctx, "b1", "2001:db8::99", 1); err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, p := range stopCaptures(t, caps) {
		seen += len(p)
	}
	if seen == 0 {
		t.Errorf("no encapsulated neighbor solicitation for an unknown address was seen: the capture filter or flooding is broken")
	}
}

// testBroadcastScope: a broadcast of red (on hv1 and hv2) reaches hv2 and
// never hv3; one of blue reaches hv2 and hv3. Inside the NVEs it reaches
// only tenants of the same VN. ARP for an address nobody has is flooded
// the same way.
func (o *overlay) testBroadcastScope(t *testing.T) {
	type want struct{ hv2, hv3 bool }
	cases := []struct {
		from    string
		vni     uint32
		want    want
		sameVN  string // a tenant of from's VN on another NVE: must see it
		otherVN string // a tenant of another VN on from's NVE: must not
	}{
		{"r1", 1002, want{hv2: true, hv3: false}, "r2", "b2"},
		{"b1", 1001, want{hv2: true, hv3: true}, "b4", "r1"},
	}
	for _, c := range cases {
		t.Run(c.from, func(t *testing.T) {
			from := o.tenant(c.from)
			for _, kind := range []struct {
				name      string
				etherType uint16
				send      func() error
			}{
				{"icmp-broadcast", 0x0800, func() error {
					_, err := o.l.Exec(o.ctx, c.from, "ping", "-b", "-n", "-q", "-c", "3", "-i", "0.2", "-W", "1", "192.0.2.255")
					if err != nil && !strings.Contains(err.Error(), "exit status 1") {
						return err
					}
					return nil
				}},
				{"arp-unknown", 0x0806, func() error {
					_, err := o.l.Ping(o.ctx, c.from, "192.0.2.99", 1)
					return err
				}},
			} {
				caps := o.startUnderlayCaptures(t, func(hv *lab.Hypervisor) string {
					return "dst host " + hv.UnderlayIP.String() + " and " + lab.UnderlayFilter("vxlan", c.vni, kind.etherType, true)
				})
				// Tenant-side captures go in the same map under keys
				// -1 (same VN, other NVE) and -2 (other VN, same NVE).
				seen, err := o.l.StartCapture(o.ctx, o.l.TenantPoint(c.sameVN), "ether src "+from.MAC+" and ether broadcast")
				if err != nil {
					t.Fatal(err)
				}
				caps[-1] = seen
				notSeen, err := o.l.StartCapture(o.ctx, o.l.TenantPoint(c.otherVN), "ether src "+from.MAC)
				if err != nil {
					t.Fatal(err)
				}
				caps[-2] = notSeen
				if err := kind.send(); err != nil {
					t.Fatal(err)
				}
				got := stopCaptures(t, caps)
				s, ns := got[-1], got[-2]
				for hv, w := range map[int]bool{2: c.want.hv2, 3: c.want.hv3} {
					if w && len(got[hv]) == 0 {
						t.Errorf("%s %s from %s did not reach hv%d", from.VN, kind.name, c.from, hv)
					}
					if !w && len(got[hv]) != 0 {
						t.Errorf("%s %s from %s reached hv%d, which hosts no %s port:\n%s", from.VN, kind.name, c.from, hv, from.VN, strings.Join(got[hv], "\n"))
					}
				}
				if len(got[1]) != 0 {
					t.Errorf("%s %s from %s came back to its own NVE hv1:\n%s", from.VN, kind.name, c.from, strings.Join(got[1], "\n"))
				}
				if len(s) == 0 {
					t.Errorf("%s %s from %s did not reach %s (same VN, other NVE)", from.VN, kind.name, c.from, c.sameVN)
				}
				if len(ns) != 0 {
					t.Errorf("%s %s from %s reached %s of another VN:\n%s", from.VN, kind.name, c.from, c.otherVN, strings.Join(ns, "\n"))
				}
			}
		})
	}
}

// testOtherEncaps: the GENEVE and GRE VNs carry traffic with their own
// encapsulation and VNI, and reuse blue's IPs without crossing into it.
func (o *overlay) testOtherEncaps(t *testing.T) {
	for _, c := range []struct{ vn, a, b string }{{"green", "g1", "g2"}, {"gold", "o1", "o2"}} {
		t.Run(o.VN(c.vn).Encap, func(t *testing.T) {
			v := o.VN(c.vn)
			ta, tb := o.tenant(c.a), o.tenant(c.b)
			capt, err := o.l.StartCapture(o.ctx, o.l.UnderlayPoint(ta.HV), lab.UnderlayFilter(v.Encap, v.VNI, 0x0800, false))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := o.expectReach(c.a, tb.IP, 10*time.Second); err != nil {
				t.Error(err)
			}
			r, err := o.l.Ping(o.ctx, c.a, tb.IP, 3)
			if err != nil || r.Lost() != 0 {
				t.Errorf("%s -> %s over %s: %v %v", c.a, c.b, v.Encap, r, err)
			}
			pkts, err := capt.Stop()
			if err != nil {
				t.Error(err)
			}
			if len(pkts) < 6 {
				t.Errorf("%d %s packets with VNI %d on hv%d's underlay, want >= 6 (3 requests, 3 replies):\n%s",
					len(pkts), v.Encap, v.VNI, ta.HV, strings.Join(pkts, "\n"))
			}
		})
	}
}

// testTCP: an iperf3 TCP transfer with full 1500-byte tenant frames across
// NVEs succeeds (the underlay carries frames larger than 1500 bytes).
func (o *overlay) testTCP(t *testing.T) {
	big, err := o.l.StartCapture(o.ctx, o.l.UnderlayPoint(1), "greater 1540 and "+lab.UnderlayFilter("vxlan", 1001, 0x0800, false))
	if err != nil {
		t.Fatal(err)
	}
	r, err := o.l.Iperf(o.ctx, "b1", "b3", 3*time.Second)
	pkts, _ := big.Stop()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("iperf3 b1 (hv1) -> b3 (hv2) through nva's pipeline: %v", r)
	if r.Bytes < 10<<20 {
		t.Errorf("TCP transfer moved only %d bytes", r.Bytes)
	}
	if len(pkts) == 0 {
		t.Errorf("no encapsulated frame over 1540 bytes on the underlay: tenants did not use their 1500-byte MTU")
	}
}

// testFlowDrift: nva's flows deleted behind its back on one NVE come back
// and traffic recovers.
func (o *overlay) testFlowDrift(t *testing.T) {
	before := o.nvaFlows(2)
	if len(before) == 0 {
		t.Fatal("no nva flows on hv2")
	}
	if _, err := o.l.Ofctl(o.ctx, 2, "del-flows", lab.IntegrationBridge, nvaCookieMatch); err != nil {
		t.Fatal(err)
	}
	if n := len(o.nvaFlows(2)); n != 0 {
		t.Fatalf("%d nva flows left after del-flows", n)
	}
	start := time.Now()
	err := lab.WaitFor(o.ctx, 90*time.Second, 250*time.Millisecond, func() (bool, error) {
		return slices.Equal(o.nvaFlows(2), before), nil
	})
	if err != nil {
		after := o.nvaFlows(2)
		t.Fatalf("hv2's flows not restored (%d of %d back): %v", len(after), len(before), err)
	}
	t.Logf("%d flows deleted on hv2 restored in %v", len(before), time.Since(start).Round(time.Millisecond))
	if _, err := o.expectReach("b1", o.tenant("b3").IP, 10*time.Second); err != nil {
		t.Error(err)
	}
}

// testTunnelPortDrift: a tunnel port deleted by hand in OVSDB comes back.
func (o *overlay) testTunnelPortDrift(t *testing.T) {
	port := lab.TunnelPorts["vxlan"]
	if _, err := o.l.Vsctl(o.ctx, 2, "del-port", lab.IntegrationBridge, port); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err := lab.WaitFor(o.ctx, 60*time.Second, 250*time.Millisecond, func() (bool, error) {
		_, err := o.l.OFPort(o.ctx, 2, port)
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("%s not restored on hv2: %v", port, err)
	}
	t.Logf("%s restored on hv2 in %v", port, time.Since(start).Round(time.Millisecond))
	if _, err := o.expectReach("b1", o.tenant("b3").IP, 30*time.Second); err != nil {
		t.Error(err)
	}
}

// testControllerRestart: continuous 50 packets/s pings, one per VN and
// across NVEs, lose nothing while nva is stopped, started again and
// reconciles; nva leaves the hypervisors' OVSDB rows alone (no port is
// deleted and re-added) and the NVEs end with the same flows as before.
// With crash, nva is killed (SIGKILL) instead of stopped.
func (o *overlay) testControllerRestart(t *testing.T, crash bool) {
	var before [][]string
	var ifaces []map[string]string
	for i := 1; i <= 3; i++ {
		before = append(before, o.nvaFlows(i))
		ifaces = append(ifaces, o.interfaceUUIDs(t, i))
	}
	const pps, seconds = 50, 14
	pairs := [][2]string{{"b1", "b4"}, {"r1", "r2"}, {"g1", "g2"}, {"o1", "o2"}}
	var streams []*lab.PingStream
	for _, p := range pairs {
		s, err := o.l.StartPingStream(p[0], o.tenant(p[1]).IP, time.Second/pps, pps*seconds)
		if err != nil {
			t.Fatal(err)
		}
		streams = append(streams, s)
	}
	time.Sleep(2 * time.Second)
	logPath := o.nva.Proc().Log
	var logFrom int64
	if fi, err := os.Stat(logPath); err == nil {
		logFrom = fi.Size()
	}
	if crash {
		o.nva.Kill()
	} else if err := o.nva.Stop(); err != nil {
		t.Error(err)
	}
	time.Sleep(3 * time.Second)
	restart := time.Now()
	if err := o.nva.Start(o.ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("nva healthy %v after restart", time.Since(restart).Round(time.Millisecond))
	for i, s := range streams {
		r, err := s.Wait(o.ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("continuous ping %s -> %s across the restart: %v", pairs[i][0], pairs[i][1], r)
		if r.Transmitted != pps*seconds || r.Lost() != 0 {
			t.Errorf("ping %s -> %s across controller restart: %v; want %d sent, 0 lost\n%s",
				pairs[i][0], pairs[i][1], r, pps*seconds, strings.Join(r.Unanswered(), "\n"))
		}
	}
	for i := 1; i <= 3; i++ {
		after := o.interfaceUUIDs(t, i)
		for name, uuid := range ifaces[i-1] {
			if after[name] != uuid {
				t.Errorf("hv%d: interface %s was recreated across the restart (row %s -> %q)", i, name, uuid, after[name])
			}
		}
	}
	// After reconciling, the NVEs hold the same flows as before.
	err := lab.WaitFor(o.ctx, 30*time.Second, 250*time.Millisecond, func() (bool, error) {
		for i := 1; i <= 3; i++ {
			if !slices.Equal(o.nvaFlows(i), before[i-1]) {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		for i := 1; i <= 3; i++ {
			if d := diffLines(before[i-1], o.nvaFlows(i)); d != "" {
				t.Errorf("hv%d flows 30s after restart differ from before:\n%s", i, d)
			}
		}
	}
	// The store did not change, so the restarted nva must not have
	// written anything: no flow mod (a delete and re-add of the same flow
	// would leave the flows above equal) and no OVSDB transaction.
	for _, line := range logSince(t, logPath, logFrom) {
		if strings.Contains(line, "msg=reconciled ") || strings.Contains(line, `msg="audit repaired drift"`) ||
			strings.Contains(line, `msg="ensuring OVSDB state"`) {
			t.Errorf("nva changed an NVE across a restart with an unchanged store: %s", line)
		}
	}
}

// logSince returns the lines of the log file at path from byte offset on.
func logSince(t *testing.T, path string, from int64) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if from > int64(len(b)) {
		from = 0
	}
	return strings.Split(strings.TrimRight(string(b[from:]), "\n"), "\n")
}

// interfaceUUIDs maps every interface on hypervisor hv's br-int to its
// OVSDB row UUID.
func (o *overlay) interfaceUUIDs(t *testing.T, hv int) map[string]string {
	t.Helper()
	out, err := o.l.Vsctl(o.ctx, hv, "--format=csv", "--no-headings", "--columns=name,_uuid", "list", "interface")
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Split(line, ",")
		if len(f) == 2 {
			m[strings.Trim(f[0], `"`)] = f[1]
		}
	}
	return m
}

// diffLines summarizes the lines only in a and only in b.
func diffLines(a, b []string) string {
	in := func(s []string, x string) bool { return slices.Contains(s, x) }
	var onlyA, onlyB []string
	for _, x := range a {
		if !in(b, x) {
			onlyA = append(onlyA, "- "+x)
		}
	}
	for _, x := range b {
		if !in(a, x) {
			onlyB = append(onlyB, "+ "+x)
		}
	}
	sort.Strings(onlyA)
	sort.Strings(onlyB)
	return strings.Join(append(onlyA, onlyB...), "\n")
}

// testMobility: b3 moves from hv2 to hv3 (its port is PATCHed to the new
// NVE and interface); connectivity from b1 (hv1) and b4 (hv3) returns. The
// time from the write to the first successful ping is printed.
func (o *overlay) testMobility(t *testing.T) {
	const name = "b3"
	start, realized, err := o.MoveTenant(o.ctx, name, 3)
	if err != nil {
		t.Fatal(err)
	}
	ts := o.tenant(name)
	if _, err := o.expectReach("b1", ts.IP, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	total := time.Since(start)
	t.Logf("mobility: %s moved hv2 -> hv3; PATCH realized in %v; time from the write to the first successful ping b1 -> %s: %v",
		name, realized.Round(time.Millisecond), name, total.Round(time.Millisecond))
	for _, peer := range []string{"b2", "b4"} {
		if _, err := o.expectReach(peer, ts.IP, 10*time.Second); err != nil {
			t.Error(err)
		}
	}
	// nva detaches the old VAP from hv2's bridge.
	if err := lab.WaitFor(o.ctx, 15*time.Second, 200*time.Millisecond, func() (bool, error) {
		out, err := o.l.Vsctl(o.ctx, 2, "list-ports", lab.IntegrationBridge)
		return err == nil && !slices.Contains(strings.Fields(out), "vm-"+name), err
	}); err != nil {
		t.Errorf("vm-%s still on hv2's %s after the move: %v", name, lab.IntegrationBridge, err)
	}
	// blue has no port left on hv2, so hv2 must hold no flow for b3's MAC.
	for _, f := range o.nvaFlows(2) {
		if strings.Contains(strings.ToLower(f), ts.MAC) {
			t.Errorf("hv2 still has a flow for %s's MAC after the move: %s", name, f)
		}
	}
}

// testRealizedForwards: a port created with ?wait=realized forwards as
// soon as the write returns: its NVE already has flows for its OpenFlow
// port, and a single ping right away is answered.
func (o *overlay) testRealizedForwards(t *testing.T) {
	ts := lab.TenantSpec{Name: "b5", VN: "blue", HV: 2, IP: "192.0.2.15", MAC: "02:00:00:00:01:05"}
	start := time.Now()
	if err := o.AddTenant(o.ctx, ts); err != nil {
		t.Fatal(err)
	}
	realized := time.Since(start)
	ofp, err := o.l.OFPort(o.ctx, ts.HV, "vm-"+ts.Name)
	if err != nil {
		t.Fatalf("the write was realized but vm-%s has no OpenFlow port: %v", ts.Name, err)
	}
	flows, err := o.l.DumpFlows(o.ctx, ts.HV, lab.IntegrationBridge, fmt.Sprintf("%s,in_port=%d", nvaCookieMatch, ofp))
	if err != nil {
		t.Fatal(err)
	}
	if len(flows) == 0 {
		t.Errorf("POST /api/v1/ports?wait=realized returned after %v, but hv%d has no flow for vm-%s (OpenFlow port %d) yet",
			realized.Round(time.Millisecond), ts.HV, ts.Name, ofp)
	}
	out, err := o.l.Exec(o.ctx, ts.Name, "ping", "-n", "-c", "1", "-W", "2", o.tenant("b1").IP)
	if err != nil {
		t.Errorf("a single ping b5 -> b1 right after the realized write got no answer: %v %s", err, out)
	}
	if _, err := o.expectReach(ts.Name, o.tenant("b1").IP, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("b5 created: write realized after %v, first answered ping %v after the write",
		realized.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}
