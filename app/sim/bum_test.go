package sim_test

import (
	"maps"
	"slices"
	"testing"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/compiler/scenario"
	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/pipeline"
	"github.com/nva-project/nva/app/sim"
)

// fabric is every NVE of a scenario compiled and loaded, with the NVEs
// whose switches count as down.
type fabric struct {
	prof  pipeline.Profile
	d     *scenario.Domain
	nodes map[string]*node
	byIP  map[string]string
}

func loadFabric(t *testing.T, prof pipeline.Profile, d *scenario.Domain, down map[string]bool) *fabric {
	t.Helper()
	f := &fabric{prof: prof, d: d, nodes: map[string]*node{}, byIP: map[string]string{}}
	for _, n := range d.NVENames() {
		in := d.Input(n)
		in.Down = down
		r, err := compiler.Compile(in, prof)
		if err != nil {
			t.Fatal(err)
		}
		if err := pipeline.Check(prof, r.FlowList(), r.Groups); err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		sw, err := sim.New(prof, r.FlowList(), r.Groups)
		if err != nil {
			t.Fatal(err)
		}
		f.nodes[n] = &node{name: n, prof: prof, sw: sw, d: d, in: in}
		f.byIP[d.NVEs[n].UnderlayIPs[0]] = n
	}
	return f
}

// delivery is where one frame went across the fabric: copies received
// per (NVE, interface), and underlay copies sent per NVE.
type delivery struct {
	got  map[string]int // "nve/iface" -> copies
	sent map[string]int // nve -> tunnel copies sent
}

// flood sends p from interface iface of NVE nve and follows every copy
// through the tunnels (failing on more than three tunnel hops: a loop).
func (f *fabric) flood(t *testing.T, nve, iface string, p func(inPort uint32) sim.Packet) delivery {
	t.Helper()
	ifaces := map[string]map[uint32]string{}
	for n := range f.nodes {
		ifaces[n] = map[uint32]string{}
		for _, port := range f.d.Ports {
			if port.NVE == n {
				ifaces[n][f.d.OFPort(n, port.Interface)] = port.Interface
			}
		}
	}
	dl := delivery{got: map[string]int{}, sent: map[string]int{}}
	type hop struct {
		nve   string
		pkt   sim.Packet
		depth int
	}
	src := f.nodes[nve]
	queue := []hop{{nve, p(src.port(iface)), 0}}
	for len(queue) > 0 {
		h := queue[0]
		queue = queue[1:]
		if h.depth > 3 {
			t.Fatalf("a copy crossed more than three tunnels: a loop")
		}
		n := f.nodes[h.nve]
		r := n.run(t, h.pkt)
		if testing.Verbose() {
			t.Logf("%s:\n%s", h.nve, r.TraceText())
		}
		for _, o := range r.Outputs {
			dst := ""
			if f.prof.FlowTunnels {
				if o.Port == scenario.TunnelOFPort(model.EncapVXLAN) {
					dst = f.byIP[o.Packet.Text(flow.TunIPv4Dst)]
				}
			} else if peer, _, ok := f.d.TunnelPeer(o.Port); ok {
				dst = peer
			}
			if dst == "" {
				dl.got[h.nve+"/"+ifaces[h.nve][o.Port]]++
				continue
			}
			dl.sent[h.nve]++
			vni := uint64(be(o.Packet.Get(flow.TunID)))
			in := f.nodes[dst].fromTunnel(o.Packet.With(flow.Metadata, flow.U64(0)).With(flow.TunIPv4Dst, flow.U32(0)), h.nve, model.EncapVXLAN, vni)
			queue = append(queue, hop{dst, in, h.depth + 1})
		}
	}
	return dl
}

// bcast is an ARP request for an address nobody has, from the port with
// MAC src and address spa: flooded to the VN (unknown_arp flood).
func bcast(src, spa string) func(uint32) sim.Packet {
	return func(in uint32) sim.Packet { return sim.ARPRequest(in, src, spa, "10.0.0.99") }
}

func wantGot(t *testing.T, dl delivery, want map[string]int) {
	t.Helper()
	if !maps.Equal(dl.got, want) {
		t.Fatalf("delivered %v, want %v (sent %v)", dl.got, want, dl.sent)
	}
}

// TestDualHomedBUMExactlyOnce: a broadcast reaches a dual-homed system
// once, through its designated forwarder, and with the DF's switch down
// through the other NVE; the system's own broadcast never comes back to
// it through either NVE.
func TestDualHomedBUMExactlyOnce(t *testing.T) {
	forProfiles(t, func(t *testing.T, prof pipeline.Profile) {
		d := scenario.DualHomed()
		f := loadFabric(t, prof, d, nil)
		dl := f.flood(t, "hv3", "tap-c", bcast("02:00:00:00:01:03", "10.0.0.3"))
		tenant := dl.got["hv1/tap-t1"] + dl.got["hv2/tap-t2"]
		if tenant != 1 || dl.got["hv1/tap-d"] != 1 || len(dl.got) != 2 {
			t.Fatalf("broadcast from c: delivered %v; want d once and the dual-homed system once", dl.got)
		}
		df := "hv1"
		if dl.got["hv2/tap-t2"] == 1 {
			df = "hv2"
		}
		st := compiler.BUMStatus(d.Snapshot(), df, nil)
		if len(st) != 1 || len(st[0].DesignatedFor) != 1 {
			t.Fatalf("status of the DF %s: %+v", df, st)
		}
		// The system's own broadcast, sent through either NVE: never back
		// to it.
		for _, at := range []string{"hv1/tap-t1", "hv2/tap-t2"} {
			nve, iface, _ := cut(at)
			dl := f.flood(t, nve, iface, bcast("02:00:00:00:01:aa", "10.0.0.10"))
			wantGot(t, dl, map[string]int{"hv3/tap-c": 1, "hv1/tap-d": 1})
		}
		// The DF's switch down: the other NVE delivers (re-election).
		other := map[string]string{"hv1": "hv2", "hv2": "hv1"}[df]
		f = loadFabric(t, prof, d, map[string]bool{df: true})
		dl = f.flood(t, "hv3", "tap-c", bcast("02:00:00:00:01:03", "10.0.0.3"))
		wantIf := map[string]string{"hv1": "hv1/tap-t1", "hv2": "hv2/tap-t2"}[other]
		if dl.got[wantIf] != 1 || dl.got["hv1/tap-t1"]+dl.got["hv2/tap-t2"] != 1 {
			t.Fatalf("with %s down: delivered %v, want the system once through %s", df, dl.got, other)
		}
	})
}

func cut(s string) (string, string, bool) {
	for i := range s {
		if s[i] == '/' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// TestDualHomedUnicastBothNVEs: a third NVE reaches the dual-homed
// system over both its NVEs (a select group), and over the one left when
// the other's switch is down; the NVEs it is attached to deliver locally.
func TestDualHomedUnicastBothNVEs(t *testing.T) {
	forProfiles(t, func(t *testing.T, prof pipeline.Profile) {
		d := scenario.DualHomed()
		for _, tc := range []struct {
			down map[string]bool
			want []string
		}{
			{nil, []string{"hv1", "hv2"}},
			{map[string]bool{"hv1": true}, []string{"hv2"}},
		} {
			f := loadFabric(t, prof, d, tc.down)
			hv3 := f.nodes["hv3"]
			// A select group takes one bucket per flow (by hash): flows
			// with different TCP source ports show every NVE it may
			// choose.
			var got []string
			var r sim.Result
			for sport := uint16(40000); sport < 40032; sport++ {
				r = hv3.run(t, sim.IPv4(hv3.port("tap-c"), "02:00:00:00:01:03", "02:00:00:00:01:aa", "10.0.0.3", "10.0.0.10").
					With(flow.IPProto, flow.U8(6)).With(flow.TCPSrc, flow.U16(sport)).With(flow.TCPDst, flow.U16(80)))
				if len(r.Outputs) != 1 {
					t.Fatalf("down %v: unicast to the system gave %d outputs, want 1:\n%s", tc.down, len(r.Outputs), r.TraceText())
				}
				o := r.Outputs[0]
				peer := ""
				if prof.FlowTunnels {
					peer = f.byIP[o.Packet.Text(flow.TunIPv4Dst)]
				} else if p, _, ok := d.TunnelPeer(o.Port); ok {
					peer = p
				}
				if !slices.Contains(got, peer) {
					got = append(got, peer)
				}
			}
			slices.Sort(got)
			if !slices.Contains(prof.Groups.Types, flow.GroupSelect) && len(tc.want) > 1 {
				// Active-standby through the designated forwarder.
				df := compiler.BUMStatus(d.Snapshot(), "hv1", tc.down)[0]
				tc.want = []string{"hv2"}
				if len(df.DesignatedFor) == 1 {
					tc.want = []string{"hv1"}
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("down %v: unicast to the system went to %v, want %v:\n%s", tc.down, got, tc.want, r.TraceText())
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("down %v: unicast to the system went to %v, want %v", tc.down, got, tc.want)
				}
			}
			// On hv1, the system is local.
			hv1 := f.nodes["hv1"]
			r = hv1.run(t, sim.IPv4(hv1.port("tap-d"), "02:00:00:00:01:04", "02:00:00:00:01:aa", "10.0.0.4", "10.0.0.10"))
			wantPorts(t, r, hv1.port("tap-t1"))
		}
	})
}

// TestReplicatorMode: a non-replicator sends one copy per replicator,
// every other port of the VN gets the broadcast exactly once, from any
// ingress; with a replicator's switch down the other takes all.
func TestReplicatorMode(t *testing.T) {
	forProfiles(t, func(t *testing.T, prof pipeline.Profile) {
		d := scenario.Replicators()
		all := []string{"hv1", "hv2", "hv3", "hv4", "hv5"}
		for _, down := range []map[string]bool{nil, {"hv5": true}} {
			f := loadFabric(t, prof, d, down)
			for i, in := range all {
				s := string(rune('1' + i))
				dl := f.flood(t, in, "tap-b"+s, bcast("02:00:00:00:01:0"+s, "10.0.0."+s))
				want := map[string]int{}
				for j, n := range all {
					if n != in {
						want[n+"/tap-b"+string(rune('1'+j))] = 1
					}
				}
				wantGot(t, dl, want)
				reps := 2 - len(down)
				if in != "hv4" && in != "hv5" && dl.sent[in] != reps {
					t.Errorf("down %v: ingress %s sent %d copies, want %d (one per replicator)", down, in, dl.sent[in], reps)
				}
				if st := compiler.BUMStatus(d.Snapshot(), in, down); len(st) != 1 || st[0].Copies != dl.sent[in] {
					t.Errorf("down %v: status of %s says %+v, sent %d", down, in, st, dl.sent[in])
				}
			}
		}
	})
}

// TestMulticastModeLocalOnly: in mode multicast an NVE that cannot send
// to an underlay group floods to its local VAPs only and says so; it
// never falls back to head-end replication.
func TestMulticastModeLocalOnly(t *testing.T) {
	forProfiles(t, func(t *testing.T, prof pipeline.Profile) {
		d := scenario.New().VN("mc", 100, func(v *model.VN) { v.BUM = model.BUM{Mode: model.BUMMulticast, Group: "239.1.1.1"} }).
			NVE("hv1", "198.18.0.1").NVE("hv2", "198.18.0.2").
			Port("a", "mc", "hv1", "tap-a", "02:00:00:00:01:01", 0, "10.0.0.1").
			Port("a2", "mc", "hv1", "tap-a2", "02:00:00:00:01:02", 0, "10.0.0.2").
			Port("b", "mc", "hv2", "tap-b", "02:00:00:00:01:03", 0, "10.0.0.3")
		f := loadFabric(t, prof, d, nil)
		dl := f.flood(t, "hv1", "tap-a", bcast("02:00:00:00:01:01", "10.0.0.1"))
		wantGot(t, dl, map[string]int{"hv1/tap-a2": 1})
		st := compiler.BUMStatus(d.Snapshot(), "hv1", nil)
		if len(st) != 1 || st[0].Unsupported == "" || st[0].Copies != 0 {
			t.Fatalf("status %+v: want unsupported with no copies", st)
		}
	})
}

// TestReplicatorModeDualHomed: in a replicator-mode VN, a system
// dual-homed to a non-replicator and a replicator gets every broadcast
// exactly once, whichever NVE is its DF and whichever NVE the frame
// enters at; its own broadcasts reach every other port once and never
// come back to it.
func TestReplicatorModeDualHomed(t *testing.T) {
	forProfiles(t, func(t *testing.T, prof pipeline.Profile) {
		d := scenario.ReplicatorsDualHomed()
		all := []string{"hv1", "hv2", "hv3", "hv4", "hv5"}
		for _, down := range []map[string]bool{nil, {"hv1": true}, {"hv4": true}} {
			f := loadFabric(t, prof, d, down)
			for i, in := range all {
				s := string(rune('1' + i))
				dl := f.flood(t, in, "tap-b"+s, bcast("02:00:00:00:01:0"+s, "10.0.0."+s))
				if n := dl.got["hv1/tap-t1"] + dl.got["hv4/tap-t4"]; n != 1 {
					t.Fatalf("down %v: broadcast from %s reached the dual-homed system %d times: %v", down, in, n, dl.got)
				}
				for j, n := range all {
					if n != in && dl.got[n+"/tap-b"+string(rune('1'+j))] != 1 {
						t.Fatalf("down %v: broadcast from %s: %v; want every other port once", down, in, dl.got)
					}
				}
			}
			for _, at := range []string{"hv1/tap-t1", "hv4/tap-t4"} {
				nve, iface, _ := cut(at)
				dl := f.flood(t, nve, iface, bcast("02:00:00:00:01:aa", "10.0.0.10"))
				want := map[string]int{}
				for j, n := range all {
					want[n+"/tap-b"+string(rune('1'+j))] = 1
				}
				wantGot(t, dl, want)
			}
		}
	})
}
