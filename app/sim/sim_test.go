package sim_test

import (
	"net"
	"net/netip"
	"slices"
	"testing"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/compiler/scenario"
	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/neighbor"
	"github.com/nva-project/nva/app/pipeline"
	"github.com/nva-project/nva/app/sim"
)

// Every scenario runs on both profiles: OVS (flow-based tunnels, answers
// in the switch) and strict OpenFlow 1.3 (per-remote tunnel ports, answers
// by the controller through packet-in/packet-out); and on a variant of OVS
// that realizes l2_forward and reply in one table (the merge rule's stage
// selector at work).
var profiles = []pipeline.Profile{pipeline.OVS(), pipeline.Strict(), mergedOVS()}

func mergedOVS() pipeline.Profile {
	base := pipeline.OVS()
	base.Name = "ovs-merged"
	p, err := pipeline.Realize(base, []pipeline.TableSpec{
		{Name: pipeline.Classify, Number: 0, Stages: []string{pipeline.Classify}},
		{Name: pipeline.PortSecurity, Number: 10, Stages: []string{pipeline.PortSecurity}},
		{Name: pipeline.Neighbor, Number: 20, Stages: []string{pipeline.Neighbor}},
		{Name: pipeline.NDAdvert, Number: 25, Stages: []string{pipeline.NDAdvert}},
		{Name: "egress", Number: 30, Stages: []string{pipeline.L2Forward, pipeline.Reply}},
	})
	if err != nil {
		panic(err)
	}
	return p
}

func forProfiles(t *testing.T, test func(t *testing.T, prof pipeline.Profile)) {
	for _, prof := range profiles {
		t.Run(prof.Name, func(t *testing.T) { test(t, prof) })
	}
}

// node is one NVE's compiled state loaded in a simulated switch.
type node struct {
	name  string
	prof  pipeline.Profile
	sw    *sim.Switch
	d     *scenario.Domain
	in    compiler.Input
	cache *compiler.Cache
}

func load(t *testing.T, prof pipeline.Profile, d *scenario.Domain, nve string) *node {
	t.Helper()
	in := d.Input(nve)
	cache := compiler.NewCache()
	r, err := cache.Compile(in, prof)
	if err != nil {
		t.Fatal(err)
	}
	sw, err := sim.New(prof, r.FlowList(), r.Groups)
	if err != nil {
		t.Fatal(err)
	}
	return &node{name: nve, prof: prof, sw: sw, d: d, in: in, cache: cache}
}

func (n *node) port(iface string) uint32 { return n.d.OFPort(n.name, iface) }

// tun is the port n sends to remote NVE remote through, for a VN of encap
// e: the flow-based tunnel port, or the per-remote one.
func (n *node) tun(remote string, e model.Encap) uint32 {
	if n.prof.FlowTunnels {
		return scenario.TunnelOFPort(e)
	}
	return n.d.RemoteTunnelOFPort(remote, e)
}

// fromTunnel returns p as n receives it from NVE remote through a tunnel
// of encap e with tunnel ID vni.
func (n *node) fromTunnel(p sim.Packet, remote string, e model.Encap, vni uint64) sim.Packet {
	src := n.d.NVEs[remote].UnderlayIPs[0]
	if n.prof.FlowTunnels {
		return p.FromTunnel(scenario.TunnelOFPort(e), vni, src)
	}
	// A per-remote port: the switch knows the sender by the port; tun_src
	// is not a standard field, so nothing matches it.
	return p.FromTunnel(n.d.RemoteTunnelOFPort(remote, e), vni, src)
}

// run sends a packet and fails the test on any simulator error
// (ambiguous matches, actions on absent fields).
func (n *node) run(t *testing.T, p sim.Packet) sim.Result {
	t.Helper()
	r := n.sw.Run(p)
	if len(r.Errors) > 0 {
		t.Fatalf("simulator errors on %s:\n%s", n.name, r.TraceText())
	}
	return r
}

// answer sends an ARP request or NS for a known address and returns the
// answer as it leaves the switch: built in the switch (one output, through
// IN_PORT) or, on a profile that punts, built by the controller from the
// packet-in (which must be the only output) and sent by packet-out.
func (n *node) answer(t *testing.T, p sim.Packet) sim.Output {
	t.Helper()
	r := n.run(t, p)
	inSwitch := n.prof.ARPInSwitch
	if _, ok := p.Fields[flow.NDTarget]; ok {
		inSwitch = n.prof.NDInSwitch
	}
	if len(r.Outputs) != 1 {
		t.Fatalf("%d outputs, want exactly one (never flooded):\n%s", len(r.Outputs), r.TraceText())
	}
	o := r.Outputs[0]
	if inSwitch {
		if o.PacketIn() || !o.ToInPort {
			t.Fatalf("answer not sent back through IN_PORT:\n%s", r.TraceText())
		}
		return o
	}
	if !o.PacketIn() {
		t.Fatalf("known request not sent to the controller:\n%s", r.TraceText())
	}
	return respond(t, n, o)
}

// respond is what the controller does with a packet-in from the neighbor
// stage, as the southbound's responder does it: the VN from the metadata,
// the VAP from (in_port, VN) (Cache.VAP, checked against VAPOf), the
// request parsed and classified and the answer built by app/neighbor, the
// target's owner looked up in the snapshot, and the answer sent by
// packet-out to in_port, tagged with the VAP's VLAN (classify popped it).
func respond(t *testing.T, n *node, pin sim.Output) sim.Output {
	t.Helper()
	vni := pipeline.VNIFromMetadata(pin.Metadata())
	in := pin.Packet.InPort
	vap, ok := n.cache.VAP(in, vni)
	if !ok {
		t.Fatalf("packet-in from in_port %d, VNI %d: no VAP", in, vni)
	}
	if alt, ok := compiler.VAPOf(n.in, in, vni); !ok || alt != vap {
		t.Fatalf("VAPOf disagrees with Cache.VAP: %v %v", alt, vap)
	}
	frame, err := frameOf(pin.Packet)
	if err != nil {
		t.Fatalf("packet-in: %v: %s", err, pin.Packet)
	}
	req, err := neighbor.Parse(frame)
	if err != nil {
		t.Fatalf("packet-in: %v", err)
	}
	if c := req.Class(); c != neighbor.Answerable {
		t.Fatalf("the switch punted a request nva does not answer (%s): %s", c, pin.Packet)
	}
	owner := n.in.Snapshot.PortByIP(vap.VN, req.TargetIP)
	var mac net.HardwareAddr
	switch vn := n.in.Snapshot.VNs[vap.VN]; {
	case owner != nil:
		mac = owner.HardwareAddr()
	case vn.Routed() && vn.IsGateway(req.TargetIP):
		mac = net.HardwareAddr(model.GatewayMAC[:]) // the distributed gateway, as the southbound answers it
	default:
		t.Fatalf("packet-in for %s, unknown in VN %s: the switch punts only known targets", req.TargetIP, vap.VN)
	}
	answer, err := neighbor.Reply(req, mac)
	if err != nil {
		t.Fatal(err)
	}
	reply, err := packetOf(in, answer)
	if err != nil {
		t.Fatalf("answer: %v", err)
	}
	if vap.VLAN != 0 {
		reply = reply.Tagged(vap.VLAN)
	}
	return sim.Output{Port: in, ToInPort: true, Packet: reply}
}

func wantPorts(t *testing.T, r sim.Result, want ...uint32) {
	t.Helper()
	slices.Sort(want)
	if got := r.Ports(); !slices.Equal(got, want) {
		t.Fatalf("output ports %v, want %v; trace:\n%s", got, want, r.TraceText())
	}
}

func wantField(t *testing.T, o sim.Output, field, want string) {
	t.Helper()
	if got := o.Packet.Text(field); got != want {
		t.Errorf("output to %d: %s=%s, want %s", o.Port, field, got, want)
	}
}

// wantTunnel checks that o goes into the tunnel to NVE remote with tunnel
// ID vni.
func (n *node) wantTunnel(t *testing.T, o sim.Output, remote string, e model.Encap, vni string) {
	t.Helper()
	if o.Port != n.tun(remote, e) {
		t.Errorf("output to port %d, want the tunnel to %s (%d)", o.Port, remote, n.tun(remote, e))
	}
	wantField(t, o, flow.TunID, vni)
	if n.prof.FlowTunnels {
		wantField(t, o, flow.TunIPv4Dst, n.d.NVEs[remote].UnderlayIPs[0])
	}
}

const (
	vxlan  = model.EncapVXLAN
	geneve = model.EncapGENEVE
	gre    = model.EncapGRE
)

func TestARPForKnownIPAnsweredLocally(t *testing.T) {
	forProfiles(t, func(t *testing.T, prof pipeline.Profile) {
		d := scenario.OneVNOneNVE()
		hv1 := load(t, prof, d, "hv1")
		a, b := hv1.port("tap-a"), hv1.port("tap-b")

		// a (untagged) asks for b's address: the reply comes back out of a.
		o := hv1.answer(t, sim.ARPRequest(a, "02:00:00:00:01:01", "10.0.0.1", "10.0.0.2"))
		if o.Port != a {
			t.Errorf("reply to port %d, want %d", o.Port, a)
		}
		for f, v := range map[string]string{
			flow.EthDst: "02:00:00:00:01:01", flow.EthSrc: "02:00:00:00:01:02", flow.ARPOp: "2",
			flow.ARPSHA: "02:00:00:00:01:02", flow.ARPSPA: "10.0.0.2",
			flow.ARPTHA: "02:00:00:00:01:01", flow.ARPTPA: "10.0.0.1", flow.VlanVID: "0x0",
		} {
			wantField(t, o, f, v)
		}

		// b (VLAN 10) asks for a's address: the reply goes back tagged 10.
		o = hv1.answer(t, sim.ARPRequest(b, "02:00:00:00:01:02", "10.0.0.2", "10.0.0.1").Tagged(10))
		if o.Port != b {
			t.Errorf("reply to port %d, want %d", o.Port, b)
		}
		wantField(t, o, flow.VlanVID, "0x100a")
		wantField(t, o, flow.ARPSHA, "02:00:00:00:01:01")
		wantField(t, o, flow.EthDst, "02:00:00:00:01:02")
	})
}

// TestARPPuntCarriesVNAndPort: on the strict profile a known ARP request
// leaves as a packet-in whose metadata names the VN and whose in_port is
// the VAP's, untagged (classify popped the VAP's VLAN).
func TestARPPuntCarriesVNAndPort(t *testing.T) {
	d := scenario.TwoVNsThreeNVEs()
	hv1 := load(t, pipeline.Strict(), d, "hv1")
	for _, c := range []struct {
		iface, mac string
		vni        uint32
	}{{"tap-b1", "02:00:00:00:01:01", 100}, {"tap-r1", "02:00:00:00:02:01", 200}} {
		r := hv1.run(t, sim.ARPRequest(hv1.port(c.iface), c.mac, "10.0.0.1", "10.0.0.2"))
		pins := r.PacketIns()
		if len(pins) != 1 || len(r.Outputs) != 1 {
			t.Fatalf("%s: want one packet-in only:\n%s", c.iface, r.TraceText())
		}
		if got := pipeline.VNIFromMetadata(pins[0].Metadata()); got != c.vni || pins[0].Packet.InPort != hv1.port(c.iface) {
			t.Errorf("%s: packet-in VNI %d in_port %d", c.iface, got, pins[0].Packet.InPort)
		}
		if pipeline.FromTunnelMetadata(pins[0].Metadata()) {
			t.Errorf("%s: packet-in marked as from a tunnel", c.iface)
		}
	}
}

func TestARPForRemoteKnownIPAnsweredLocallyNotTunneled(t *testing.T) {
	forProfiles(t, func(t *testing.T, prof pipeline.Profile) {
		d := scenario.TwoVNsThreeNVEs()
		hv1 := load(t, prof, d, "hv1")
		o := hv1.answer(t, sim.ARPRequest(hv1.port("tap-b1"), "02:00:00:00:01:01", "10.0.0.1", "10.0.0.3"))
		if o.Port != hv1.port("tap-b1") {
			t.Errorf("reply to port %d", o.Port)
		}
		wantField(t, o, flow.ARPSHA, "02:00:00:00:01:03")
		wantField(t, o, flow.EthSrc, "02:00:00:00:01:03")
	})
}

func TestGratuitousARPAndProbeNotAnswered(t *testing.T) {
	forProfiles(t, func(t *testing.T, prof pipeline.Profile) {
		d := scenario.TwoVNsThreeNVEs()
		hv1 := load(t, prof, d, "hv1")
		b1 := hv1.port("tap-b1")
		flood := []uint32{hv1.tun("hv2", vxlan), hv1.tun("hv3", vxlan)}
		// Gratuitous ARP: b1 asks for its own address; it is flooded, not
		// answered (an answer would look like an address conflict).
		r := hv1.run(t, sim.ARPRequest(b1, "02:00:00:00:01:01", "10.0.0.1", "10.0.0.1"))
		wantPorts(t, r, flood...)
		// RFC 5227 probe for another port's address: flooded so the owner
		// answers and the prober sees the conflict.
		r = hv1.run(t, sim.ARPRequest(b1, "02:00:00:00:01:01", "0.0.0.0", "10.0.0.2"))
		wantPorts(t, r, flood...)
		// An NS without a source link-layer option, and DAD: flooded.
		ns := sim.NeighborSolicitation(b1, "02:00:00:00:01:01", "fe80::1", "2001:db8::2").With(flow.NDSLL, make([]byte, 6))
		wantPorts(t, hv1.run(t, ns), flood...)
		wantPorts(t, hv1.run(t, sim.NeighborSolicitation(b1, "02:00:00:00:01:01", "::", "2001:db8::2")), flood...)
	})
}

func TestARPForUnknownIPFloodedToHostingNVEsOnly(t *testing.T) {
	forProfiles(t, func(t *testing.T, prof pipeline.Profile) {
		d := scenario.PartialVN()
		hv1 := load(t, prof, d, "hv1")
		r := hv1.run(t, sim.ARPRequest(hv1.port("tap-b1"), "02:00:00:00:01:01", "10.0.0.1", "10.0.0.99"))
		wantPorts(t, r, hv1.port("tap-b1b"), hv1.tun("hv2", vxlan))
		for _, o := range r.Outputs {
			if o.Port == hv1.tun("hv2", vxlan) {
				hv1.wantTunnel(t, o, "hv2", vxlan, "0x64") // hv3 does not host blue
			}
		}
		// hv3 hosts only green: it has no state for blue at all.
		hv3 := load(t, prof, d, "hv3")
		bcast := hv3.fromTunnel(sim.ARPRequest(1, "02:00:00:00:01:02", "10.0.0.2", "10.0.0.99"), "hv2", vxlan, 100)
		wantPorts(t, hv3.run(t, bcast))
	})
}

func TestARPForUnknownIPDroppedByPolicy(t *testing.T) {
	forProfiles(t, func(t *testing.T, prof pipeline.Profile) {
		d := scenario.TwoVNsThreeNVEs() // red drops unknown ARP
		hv1 := load(t, prof, d, "hv1")
		wantPorts(t, hv1.run(t, sim.ARPRequest(hv1.port("tap-r1"), "02:00:00:00:02:01", "10.0.0.1", "10.0.0.99")))
		wantPorts(t, hv1.run(t, sim.NeighborSolicitation(hv1.port("tap-r1"), "02:00:00:00:02:01", "fe80::1", "2001:db8::99")))
		// Known targets are still answered.
		o := hv1.answer(t, sim.ARPRequest(hv1.port("tap-r1"), "02:00:00:00:02:01", "10.0.0.1", "10.0.0.2"))
		wantField(t, o, flow.ARPSHA, "02:00:00:00:02:02")
	})
}

func TestUnicastToRemotePortLeavesThroughTunnel(t *testing.T) {
	forProfiles(t, func(t *testing.T, prof pipeline.Profile) {
		d := scenario.TwoVNsThreeNVEs()
		hv1 := load(t, prof, d, "hv1")
		r := hv1.run(t, sim.IPv4(hv1.port("tap-b1"), "02:00:00:00:01:01", "02:00:00:00:01:03", "10.0.0.1", "10.0.0.3"))
		wantPorts(t, r, hv1.tun("hv3", vxlan))
		hv1.wantTunnel(t, r.Outputs[0], "hv3", vxlan, "0x64")
		// red uses GENEVE and VNI 200.
		r = hv1.run(t, sim.IPv4(hv1.port("tap-r1"), "02:00:00:00:02:01", "02:00:00:00:02:02", "10.0.0.1", "10.0.0.2"))
		wantPorts(t, r, hv1.tun("hv2", geneve))
		hv1.wantTunnel(t, r.Outputs[0], "hv2", geneve, "0xc8")

		// And the receiving NVE delivers it to the port.
		hv3 := load(t, prof, d, "hv3")
		in := hv3.fromTunnel(sim.IPv4(0, "02:00:00:00:01:01", "02:00:00:00:01:03", "10.0.0.1", "10.0.0.3"), "hv1", vxlan, 100)
		wantPorts(t, hv3.run(t, in), hv3.port("tap-b3"))
	})
}

func TestFrameNeverCrossesVNs(t *testing.T) {
	forProfiles(t, func(t *testing.T, prof pipeline.Profile) {
		d := scenario.TwoVNsThreeNVEs() // blue and red both use 10.0.0.1 and 10.0.0.2
		hv1 := load(t, prof, d, "hv1")
		hv2 := load(t, prof, d, "hv2")
		r1 := hv1.port("tap-r1")

		// ARP in red for 10.0.0.2 is answered with red's r2, not blue's b2.
		o := hv1.answer(t, sim.ARPRequest(r1, "02:00:00:00:02:01", "10.0.0.1", "10.0.0.2"))
		if o.Port != r1 {
			t.Errorf("reply to %d", o.Port)
		}
		wantField(t, o, flow.ARPSHA, "02:00:00:00:02:02")

		// Unicast from red to a blue MAC (same IPs) goes nowhere.
		wantPorts(t, hv1.run(t, sim.IPv4(r1, "02:00:00:00:02:01", "02:00:00:00:01:02", "10.0.0.1", "10.0.0.2")))
		wantPorts(t, hv1.run(t, sim.IPv4(r1, "02:00:00:00:02:01", "02:00:00:00:01:01", "10.0.0.1", "10.0.0.1")))

		// Broadcast from red reaches red's ports and red's tunnel only.
		r := hv1.run(t, sim.Eth(r1, "02:00:00:00:02:01", sim.Broadcast, flow.EthTypeIPv4).
			With(flow.IPProto, flow.U8(17)).With(flow.IPv4Src, flow.IP(netip.MustParseAddr("10.0.0.1"))).With(flow.IPv4Dst, flow.IP(netip.MustParseAddr("10.0.0.255"))))
		wantPorts(t, r, hv1.tun("hv2", geneve))
		wantField(t, r.Outputs[0], flow.TunID, "0xc8")

		// A red frame arriving from the tunnel for a blue MAC is dropped, and
		// a frame with red's VNI on blue's tunnel (VXLAN) is dropped.
		pkt := func(dst string) sim.Packet {
			return sim.IPv4(0, "02:00:00:00:02:01", dst, "10.0.0.1", "10.0.0.2")
		}
		wantPorts(t, hv2.run(t, hv2.fromTunnel(pkt("02:00:00:00:01:02"), "hv1", geneve, 200)))
		wantPorts(t, hv2.run(t, hv2.fromTunnel(pkt("02:00:00:00:02:02"), "hv1", vxlan, 200)))
		// The right VNI on the right port is delivered.
		wantPorts(t, hv2.run(t, hv2.fromTunnel(pkt("02:00:00:00:02:02"), "hv1", geneve, 200)), hv2.port("tap-r2"))
	})
}

func TestSpoofedSourcesDropped(t *testing.T) {
	forProfiles(t, func(t *testing.T, prof pipeline.Profile) {
		d := scenario.TwoVNsThreeNVEs()
		hv1 := load(t, prof, d, "hv1")
		b1 := hv1.port("tap-b1")
		const mac, other = "02:00:00:00:01:01", "02:00:00:00:01:03"
		flood := []uint32{hv1.tun("hv2", vxlan), hv1.tun("hv3", vxlan)}
		// Sanity: the legitimate packet passes.
		wantPorts(t, hv1.run(t, sim.IPv4(b1, mac, "02:00:00:00:01:02", "10.0.0.1", "10.0.0.2")), hv1.tun("hv2", vxlan))
		for name, p := range map[string]sim.Packet{
			"source MAC":         sim.IPv4(b1, other, "02:00:00:00:01:02", "10.0.0.1", "10.0.0.2"),
			"source IPv4":        sim.IPv4(b1, mac, "02:00:00:00:01:02", "10.0.0.3", "10.0.0.2"),
			"ARP spa":            sim.ARPRequest(b1, mac, "10.0.0.3", "10.0.0.2"),
			"ARP sha":            sim.ARPRequest(b1, mac, "10.0.0.1", "10.0.0.2").With(flow.ARPSHA, flow.MAC(mustMAC(other))),
			"ARP reply spoof":    sim.ARPRequest(b1, mac, "10.0.0.2", "10.0.0.2").With(flow.ARPOp, flow.U16(2)),
			"IPv6 global src":    sim.IPv6(b1, mac, "02:00:00:00:01:02", "2001:db8::1", "2001:db8::2"),
			"other ethertype":    sim.Eth(b1, mac, "02:00:00:00:01:02", 0x88cc),
			"tagged on untagged": sim.IPv4(b1, mac, "02:00:00:00:01:02", "10.0.0.1", "10.0.0.2").Tagged(5),
			"DHCP to unicast":    sim.UDP4(b1, mac, "02:00:00:00:01:02", "0.0.0.0", "10.0.0.2", 68, 67),
			// What any port may send (NVE-wide flows), but from a MAC
			// not its own.
			"DHCP source MAC":       sim.UDP4(b1, other, sim.Broadcast, "0.0.0.0", "255.255.255.255", 68, 67),
			"link-local source MAC": sim.IPv6(b1, other, "33:33:00:00:00:01", "fe80::1", "ff02::1"),
			"DAD source MAC":        sim.NeighborSolicitation(b1, other, "::", "2001:db8::1"),
			"ARP probe sha":         sim.ARPRequest(b1, mac, "0.0.0.0", "10.0.0.2").With(flow.ARPSHA, flow.MAC(mustMAC(other))),
		} {
			r := hv1.run(t, p)
			if !r.Dropped() {
				t.Errorf("spoofed %s not dropped:\n%s", name, r.TraceText())
				continue
			}
			// Classified as the port's (counted as its rx), dropped by
			// port security (counted as spoofed), whatever the source MAC.
			if name != "tagged on untagged" {
				if last := r.Steps[len(r.Steps)-1]; last.Table != pipeline.PortSecurity {
					t.Errorf("spoofed %s dropped in %s, want %s:\n%s", name, last.Table, pipeline.PortSecurity, r.TraceText())
				}
			}
		}
		// What a booting host needs passes: DHCP discover, IPv6 link-local,
		// DAD from ::.
		wantPorts(t, hv1.run(t, sim.UDP4(b1, mac, sim.Broadcast, "0.0.0.0", "255.255.255.255", 68, 67)), flood...)
		wantPorts(t, hv1.run(t, sim.IPv6(b1, mac, "33:33:00:00:00:01", "fe80::1", "ff02::1")), flood...)
		wantPorts(t, hv1.run(t, sim.NeighborSolicitation(b1, mac, "::", "2001:db8::1")), flood...)
	})
}

func mustMAC(s string) []byte {
	p := sim.Eth(0, s, s, 0)
	return p.Get(flow.EthSrc)
}

func TestFrameFromTunnelNeverReturnsToTunnel(t *testing.T) {
	forProfiles(t, func(t *testing.T, prof pipeline.Profile) {
		d := scenario.TwoVNsThreeNVEs()
		hv1 := load(t, prof, d, "hv1")
		// Broadcast from hv2 in blue: delivered to hv1's local blue port only.
		bc := hv1.fromTunnel(sim.ARPRequest(0, "02:00:00:00:01:02", "10.0.0.2", "10.0.0.99"), "hv2", vxlan, 100)
		wantPorts(t, hv1.run(t, bc), hv1.port("tap-b1"))
		// Unicast from hv2 to hv3's port arriving at hv1 is dropped.
		wantPorts(t, hv1.run(t, hv1.fromTunnel(sim.IPv4(0, "02:00:00:00:01:02", "02:00:00:00:01:03", "10.0.0.2", "10.0.0.3"), "hv2", vxlan, 100)))
		// hv3 is not in red: red traffic from hv3 is dropped at hv1.
		wantPorts(t, hv1.run(t, hv1.fromTunnel(sim.IPv4(0, "02:00:00:00:02:02", "02:00:00:00:02:01", "10.0.0.2", "10.0.0.1"), "hv3", geneve, 200)))
		// Tagged inner frames are dropped.
		wantPorts(t, hv1.run(t, hv1.fromTunnel(sim.IPv4(0, "02:00:00:00:01:02", "02:00:00:00:01:01", "10.0.0.2", "10.0.0.1").Tagged(7), "hv2", vxlan, 100)))
		// Frames from an underlay address (OVS) or a port (strict) that is
		// not an NVE of the VN are dropped.
		foreign := sim.IPv4(0, "02:00:00:00:01:02", "02:00:00:00:01:01", "10.0.0.2", "10.0.0.1")
		if prof.FlowTunnels {
			foreign = foreign.FromTunnel(scenario.TunnelOFPort(vxlan), 100, "198.18.0.99")
		} else {
			foreign = foreign.FromTunnel(999, 100, "198.18.0.2")
		}
		wantPorts(t, hv1.run(t, foreign))
	})
}

func TestVLANVAPTagging(t *testing.T) {
	forProfiles(t, func(t *testing.T, prof pipeline.Profile) {
		d := scenario.OneVNOneNVE()
		hv1 := load(t, prof, d, "hv1")
		a, b := hv1.port("tap-a"), hv1.port("tap-b")
		const amac, bmac = "02:00:00:00:01:01", "02:00:00:00:01:02"
		// Tagged ingress on b: popped, delivered untagged to a.
		r := hv1.run(t, sim.IPv4(b, bmac, amac, "10.0.0.2", "10.0.0.1").Tagged(10))
		wantPorts(t, r, a)
		wantField(t, r.Outputs[0], flow.VlanVID, "0x0")
		// Egress to b is tagged 10.
		r = hv1.run(t, sim.IPv4(a, amac, bmac, "10.0.0.1", "10.0.0.2"))
		wantPorts(t, r, b)
		wantField(t, r.Outputs[0], flow.VlanVID, "0x100a")
		// Broadcast from a reaches b tagged.
		r = hv1.run(t, sim.UDP4(a, amac, sim.Broadcast, "10.0.0.1", "10.0.0.255", 5000, 5000))
		wantPorts(t, r, b)
		wantField(t, r.Outputs[0], flow.VlanVID, "0x100a")
		// Untagged or wrongly tagged frames on b are dropped.
		wantPorts(t, hv1.run(t, sim.IPv4(b, bmac, amac, "10.0.0.2", "10.0.0.1")))
		wantPorts(t, hv1.run(t, sim.IPv4(b, bmac, amac, "10.0.0.2", "10.0.0.1").Tagged(11)))
	})
}

func TestNeighborSolicitationAnswered(t *testing.T) {
	forProfiles(t, func(t *testing.T, prof pipeline.Profile) {
		d := scenario.IPv6Ports()
		hv1 := load(t, prof, d, "hv1")
		s1, s3 := hv1.port("tap-s1"), hv1.port("tap-s3")
		const s1mac = "02:00:00:00:06:01"
		// s1 asks for s2's global address (s2 is on hv2): answered on hv1.
		o := hv1.answer(t, sim.NeighborSolicitation(s1, s1mac, "fe80::1", "2001:db8:6::2"))
		if o.Port != s1 {
			t.Errorf("answer to %d", o.Port)
		}
		for f, v := range map[string]string{
			flow.EthSrc: "02:00:00:00:06:02", flow.EthDst: s1mac,
			flow.IPv6Src: "2001:db8:6::2", flow.IPv6Dst: "fe80::1",
			flow.ICMPv6Type: "136", flow.NDTarget: "2001:db8:6::2",
			flow.NDTLL: "02:00:00:00:06:02", flow.NDOptionsType: "2", flow.NDReserved: "0x60000000",
		} {
			wantField(t, o, f, v)
		}
		// s3 (VLAN 20) asks for s2's link-local address: answered tagged.
		o = hv1.answer(t, sim.NeighborSolicitation(s3, "02:00:00:00:06:03", "2001:db8:6::3", "fe80::2").Tagged(20))
		if o.Port != s3 {
			t.Errorf("answer to %d", o.Port)
		}
		wantField(t, o, flow.VlanVID, "0x1014")
		wantField(t, o, flow.NDTLL, "02:00:00:00:06:02")
		// Unknown targets are flooded (policy flood): s3 and the GRE tunnel.
		r := hv1.run(t, sim.NeighborSolicitation(s1, s1mac, "fe80::1", "2001:db8:6::99"))
		wantPorts(t, r, s3, hv1.tun("hv2", gre))
		// Spoofed IPv6 source from s1 (s3's address) is dropped.
		wantPorts(t, hv1.run(t, sim.IPv6(s1, s1mac, "02:00:00:00:06:03", "2001:db8:6::3", "2001:db8:6::1")))
		// Neighbor advertisements: s1 may advertise itself, not s3.
		na := func(src, target, tll string) sim.Packet {
			p := sim.IPv6(s1, s1mac, "33:33:00:00:00:01", src, "ff02::1").
				With(flow.IPProto, flow.U8(flow.ProtoICMPv6)).With(flow.ICMPv6Type, flow.U8(136)).With(flow.ICMPv6Code, flow.U8(0)).
				With(flow.NDTarget, flow.IP(netip.MustParseAddr(target))).With(flow.NDSLL, mustMAC("00:00:00:00:00:00")).
				With(flow.NDTLL, mustMAC(tll)).With(flow.NDReserved, flow.U32(0x20000000)).With(flow.NDOptionsType, flow.U8(2))
			return p
		}
		wantPorts(t, hv1.run(t, na("2001:db8:6::1", "2001:db8:6::1", s1mac)), s3, hv1.tun("hv2", gre))
		wantPorts(t, hv1.run(t, na("fe80::1", "fe80::1", s1mac)), s3, hv1.tun("hv2", gre))
		wantPorts(t, hv1.run(t, na("2001:db8:6::1", "2001:db8:6::3", s1mac)))               // claims s3's address
		wantPorts(t, hv1.run(t, na("2001:db8:6::1", "2001:db8:6::1", "02:00:00:00:06:03"))) // points at s3's MAC
		// Link-local NAs (the NVE-wide flow when without a target
		// link-layer option): s1's pass, one pointing at s3's MAC or sent
		// with another source MAC does not.
		wantPorts(t, hv1.run(t, na("fe80::1", "fe80::1", "00:00:00:00:00:00")), s3, hv1.tun("hv2", gre))
		wantPorts(t, hv1.run(t, na("fe80::1", "fe80::1", "02:00:00:00:06:03")))
		wantPorts(t, hv1.run(t, na("fe80::1", "fe80::1", "00:00:00:00:00:00").With(flow.EthSrc, mustMAC("02:00:00:00:06:03"))))
		// s1's real global address passes to s3 (tagged).
		wantPorts(t, hv1.run(t, sim.IPv6(s1, s1mac, "02:00:00:00:06:03", "2001:db8:6::1", "2001:db8:6::3")), s3)
	})
}

// TestTwoHopDelivery walks a flooded frame across the simulated overlay:
// from b1 on hv1 through the tunnels into hv2 and hv3 (the NVE named by
// tun_dst on OVS, by the per-remote port on strict), arriving on their
// tunnel port from hv1 with the tunnel's VNI.
func TestTwoHopDelivery(t *testing.T) {
	forProfiles(t, func(t *testing.T, prof pipeline.Profile) {
		d := scenario.TwoVNsThreeNVEs()
		nodes := map[string]*node{}
		byIP := map[string]string{}
		for _, n := range d.NVENames() {
			nodes[n] = load(t, prof, d, n)
			byIP[d.NVEs[n].UnderlayIPs[0]] = n
		}
		src := nodes["hv1"]
		r := src.run(t, sim.ARPRequest(src.port("tap-b1"), "02:00:00:00:01:01", "10.0.0.1", "10.0.0.77"))
		delivered := map[string][]uint32{}
		for _, o := range r.Outputs {
			dst := ""
			if prof.FlowTunnels {
				if o.Port != scenario.TunnelOFPort(vxlan) {
					continue
				}
				dst = byIP[o.Packet.Text(flow.TunIPv4Dst)]
			} else {
				peer, e, ok := d.TunnelPeer(o.Port)
				if !ok {
					continue
				}
				if e != vxlan {
					t.Fatalf("blue sent into a %s tunnel", e)
				}
				dst = peer
			}
			vni := uint64(be(o.Packet.Get(flow.TunID)))
			in := nodes[dst].fromTunnel(o.Packet.With(flow.Metadata, flow.U64(0)).With(flow.TunIPv4Dst, flow.U32(0)), "hv1", vxlan, vni)
			delivered[dst] = nodes[dst].run(t, in).Ports()
		}
		want := map[string][]uint32{"hv2": {nodes["hv2"].port("tap-b2")}, "hv3": {nodes["hv3"].port("tap-b3")}}
		if len(delivered) != 2 || !slices.Equal(delivered["hv2"], want["hv2"]) || !slices.Equal(delivered["hv3"], want["hv3"]) {
			t.Fatalf("delivered %v, want %v", delivered, want)
		}
	})
}

func be(b []byte) uint64 {
	var v uint64
	for _, x := range b {
		v = v<<8 | uint64(x)
	}
	return v
}
