package sim_test

import (
	"testing"
	"time"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/compiler/scenario"
	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/liveness"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/pipeline"
	"github.com/nva-project/nva/app/sim"
)

// pathPorts returns the OpenFlow ports of hv's paths to remote, in path
// order (the scenario numbers them as compiler.TunnelPaths lists them).
func pathPorts(t *testing.T, d *scenario.Domain, hv, remote string) []uint32 {
	t.Helper()
	var out []uint32
	for _, p := range compiler.TunnelPaths(d.Snapshot(), hv) {
		if p.Remote == remote {
			out = append(out, d.OFPort(hv, p.Port))
		}
	}
	if len(out) != 2 {
		t.Fatalf("%s has %d paths to %s, want 2", hv, len(out), remote)
	}
	return out
}

func udpFlow(inPort uint32, sport uint16) sim.Packet {
	return sim.IPv4(inPort, "02:00:00:00:01:01", "02:00:00:00:01:02", "10.0.0.1", "10.0.0.2").
		With(flow.IPProto, flow.U8(17)).With(flow.UDPSrc, flow.U16(sport)).With(flow.UDPDst, flow.U16(4000))
}

// TestFailoverFollowsPathLiveness: in failover mode hv1 sends to hv2 on
// its first path while it is live, on the second when the first is not,
// and drops when neither is; tun_id is the VN's either way.
func TestFailoverFollowsPathLiveness(t *testing.T) {
	d := scenario.MultihomeFailover()
	hv1 := load(t, pipeline.OVS(), d, "hv1")
	paths := pathPorts(t, d, "hv1", "hv2")
	p := udpFlow(hv1.port("tap-b1"), 1000)
	r := hv1.run(t, p)
	wantPorts(t, r, paths[0])
	wantField(t, r.Outputs[0], flow.TunID, "0x64")

	hv1.sw.SetPortLive(paths[0], false)
	wantPorts(t, hv1.run(t, p), paths[1])
	hv1.sw.SetPortLive(paths[1], false)
	wantPorts(t, hv1.run(t, p))
	hv1.sw.SetPortLive(paths[0], true)
	wantPorts(t, hv1.run(t, p), paths[0])

	// Broadcast: one copy per remote NVE, each on a live path, and the
	// local VAPs (none but the sender here).
	hv1.sw.SetPortLive(paths[0], false)
	hv1.sw.SetPortLive(paths[1], true)
	bc := sim.IPv4(hv1.port("tap-b1"), "02:00:00:00:01:01", "ff:ff:ff:ff:ff:ff", "10.0.0.1", "10.0.0.255")
	hv3 := pathPorts(t, d, "hv1", "hv3")
	wantPorts(t, hv1.run(t, bc), paths[1], hv3[0])
}

// TestActiveActiveHashesOverLivePaths: in active-active mode flows spread
// over both paths, each flow always on the same one; with one path down
// every flow takes the other.
func TestActiveActiveHashesOverLivePaths(t *testing.T) {
	d := scenario.MultihomeActiveActive()
	hv1 := load(t, pipeline.OVS(), d, "hv1")
	paths := pathPorts(t, d, "hv1", "hv2")
	used := map[uint32]int{}
	first := map[uint16]uint32{}
	for sport := uint16(1000); sport < 1064; sport++ {
		r := hv1.run(t, udpFlow(hv1.port("tap-b1"), sport))
		if len(r.Outputs) != 1 {
			t.Fatalf("flow %d: %d outputs, want 1:\n%s", sport, len(r.Outputs), r.TraceText())
		}
		used[r.Outputs[0].Port]++
		first[sport] = r.Outputs[0].Port
	}
	if used[paths[0]] == 0 || used[paths[1]] == 0 || used[paths[0]]+used[paths[1]] != 64 {
		t.Fatalf("64 flows over paths %v: %v, want both used and nothing else", paths, used)
	}
	for sport, port := range first {
		if r := hv1.run(t, udpFlow(hv1.port("tap-b1"), sport)); r.Outputs[0].Port != port {
			t.Fatalf("flow %d moved from %d to %d with no liveness change", sport, port, r.Outputs[0].Port)
		}
	}
	hv1.sw.SetPortLive(paths[1], false)
	for sport := range first {
		wantPorts(t, hv1.run(t, udpFlow(hv1.port("tap-b1"), sport)), paths[0])
	}
}

// TestPathArrivalsClassified: what hv1 sends on a path port reaches hv2's
// VAP when it arrives on hv2's port of that path.
func TestPathArrivalsClassified(t *testing.T) {
	for _, mode := range []model.Multipath{model.MultipathFailover, model.MultipathActiveActive} {
		d := scenario.MultihomedPair(mode)
		hv2 := load(t, pipeline.OVS(), d, "hv2")
		for _, port := range pathPorts(t, d, "hv2", "hv1") {
			in := udpFlow(0, 1000).FromTunnel(port, 100, "198.18.1.1")
			wantPorts(t, hv2.run(t, in), hv2.port("tap-b2"))
			// Another VNI on that port is not classified.
			if r := hv2.run(t, udpFlow(0, 1000).FromTunnel(port, 999, "198.18.1.1")); len(r.Outputs) != 0 {
				t.Fatalf("%s: VNI 999 on path port %d delivered: %v", mode, port, r.Ports())
			}
		}
	}
}

// TestVAPSignalledDown: the liveness tracker, told that hv1 lost every
// path, wants hv1's VAP b1 down; with that port down on hv1's simulated
// switch, traffic from hv2 for b1 arriving on a path port is not
// delivered, while hv2, which still reaches hv3, keeps its VAP and
// delivers to it.
func TestVAPSignalledDown(t *testing.T) {
	d := scenario.MultihomeFailover()
	snap := d.Snapshot()
	tr := liveness.New(func() time.Time { return time.Unix(1700000000, 0) })
	status := func(nve string, up func(p compiler.Path) bool) map[string]map[string]string {
		out := map[string]map[string]string{}
		for _, p := range compiler.TunnelPaths(snap, nve) {
			if up(p) {
				out[p.Port] = map[string]string{"state": "up", "forwarding": "true"}
			} else {
				out[p.Port] = map[string]string{"state": "down", "forwarding": "false", "diagnostic": "Control Detection Time Expired"}
			}
		}
		return out
	}
	tr.Observe(snap, "hv1", true, status("hv1", func(compiler.Path) bool { return false }))
	tr.Observe(snap, "hv2", true, status("hv2", func(p compiler.Path) bool { return p.Remote != "hv1" }))
	tr.Observe(snap, "hv3", true, status("hv3", func(p compiler.Path) bool { return p.Remote != "hv1" }))
	down := tr.VAPsDown(snap)
	if len(down) != 1 || down[0].Name != "b1" {
		t.Fatalf("VAPs down %v, want b1", down)
	}
	hv1 := load(t, pipeline.OVS(), d, "hv1")
	hv1.sw.SetPortAdminDown(hv1.port(down[0].Interface), true)
	for _, port := range pathPorts(t, d, "hv1", "hv2") {
		in := udpFlow(0, 1000).With(flow.EthSrc, mustMAC("02:00:00:00:01:02")).With(flow.EthDst, mustMAC("02:00:00:00:01:01")).
			FromTunnel(port, 100, "198.18.0.2")
		if r := hv1.run(t, in); len(r.Outputs) != 0 {
			t.Fatalf("delivered to a VAP that is down: %v", r.Ports())
		}
	}
	hv2 := load(t, pipeline.OVS(), d, "hv2")
	for _, port := range pathPorts(t, d, "hv2", "hv3") {
		in := udpFlow(0, 1000).With(flow.EthSrc, mustMAC("02:00:00:00:01:03")).With(flow.EthDst, mustMAC("02:00:00:00:01:02")).
			FromTunnel(port, 100, "198.18.0.3")
		wantPorts(t, hv2.run(t, in), hv2.port("tap-b2"))
	}
	hv1.sw.SetPortAdminDown(hv1.port(down[0].Interface), false)
	in := udpFlow(0, 1000).With(flow.EthSrc, mustMAC("02:00:00:00:01:02")).With(flow.EthDst, mustMAC("02:00:00:00:01:01")).
		FromTunnel(pathPorts(t, d, "hv1", "hv2")[0], 100, "198.18.0.2")
	wantPorts(t, hv1.run(t, in), hv1.port("tap-b1"))
}
