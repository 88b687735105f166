package sim_test

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/compiler/scenario"
	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/pipeline"
	"github.com/nva-project/nva/app/sim"
)

// node is one NVE's compiled state loaded in a simulated switch.
type node struct {
	name string
	sw   *sim.Switch
	d    *scenario.Domain
}

func load(t *testing.T, d *scenario.Domain, nve string) *node {
	t.Helper()
	prof := pipeline.OVS()
	r, err := compiler.Compile(d.Input(nve), prof)
	if err != nil {
		t.Fatal(err)
	}
	sw, err := sim.New(prof, r.Flows, r.Groups)
	if err != nil {
		t.Fatal(err)
	}
	return &node{name: nve, sw: sw, d: d}
}

func (n *node) port(iface string) uint32 { return n.d.OFPort(n.name, iface) }

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

var vxlan = scenario.TunnelOFPort(model.EncapVXLAN)
var geneve = scenario.TunnelOFPort(model.EncapGENEVE)

func TestARPForKnownIPAnsweredLocally(t *testing.T) {
	d := scenario.OneVNOneNVE()
	hv1 := load(t, d, "hv1")
	a, b := hv1.port("tap-a"), hv1.port("tap-b")

	// a (untagged) asks for b's address: the reply comes back out of a.
	r := hv1.run(t, sim.ARPRequest(a, "02:00:00:00:01:01", "10.0.0.1", "10.0.0.2"))
	wantPorts(t, r, a)
	o := r.Outputs[0]
	if !o.ToInPort {
		t.Errorf("reply not sent with IN_PORT")
	}
	for f, v := range map[string]string{
		flow.EthDst: "02:00:00:00:01:01", flow.EthSrc: "02:00:00:00:01:02", flow.ARPOp: "2",
		flow.ARPSHA: "02:00:00:00:01:02", flow.ARPSPA: "10.0.0.2",
		flow.ARPTHA: "02:00:00:00:01:01", flow.ARPTPA: "10.0.0.1", flow.VlanVID: "0x0",
	} {
		wantField(t, o, f, v)
	}

	// b (VLAN 10) asks for a's address: the reply goes back tagged 10.
	r = hv1.run(t, sim.ARPRequest(b, "02:00:00:00:01:02", "10.0.0.2", "10.0.0.1").Tagged(10))
	wantPorts(t, r, b)
	wantField(t, r.Outputs[0], flow.VlanVID, "0x100a")
	wantField(t, r.Outputs[0], flow.ARPSHA, "02:00:00:00:01:01")
	wantField(t, r.Outputs[0], flow.EthDst, "02:00:00:00:01:02")
}

func TestARPForRemoteKnownIPAnsweredLocallyNotTunneled(t *testing.T) {
	d := scenario.TwoVNsThreeNVEs()
	hv1 := load(t, d, "hv1")
	r := hv1.run(t, sim.ARPRequest(hv1.port("tap-b1"), "02:00:00:00:01:01", "10.0.0.1", "10.0.0.3"))
	wantPorts(t, r, hv1.port("tap-b1"))
	wantField(t, r.Outputs[0], flow.ARPSHA, "02:00:00:00:01:03")
	wantField(t, r.Outputs[0], flow.EthSrc, "02:00:00:00:01:03")
}

func TestGratuitousARPAndProbeNotAnswered(t *testing.T) {
	d := scenario.TwoVNsThreeNVEs()
	hv1 := load(t, d, "hv1")
	b1 := hv1.port("tap-b1")
	// Gratuitous ARP: b1 asks for its own address; it is flooded, not
	// answered (an answer would look like an address conflict).
	r := hv1.run(t, sim.ARPRequest(b1, "02:00:00:00:01:01", "10.0.0.1", "10.0.0.1"))
	wantPorts(t, r, vxlan, vxlan)
	// RFC 5227 probe for another port's address: flooded so the owner
	// answers and the prober sees the conflict.
	r = hv1.run(t, sim.ARPRequest(b1, "02:00:00:00:01:01", "0.0.0.0", "10.0.0.2"))
	wantPorts(t, r, vxlan, vxlan)
}

func TestARPForUnknownIPFloodedToHostingNVEsOnly(t *testing.T) {
	d := scenario.PartialVN()
	hv1 := load(t, d, "hv1")
	r := hv1.run(t, sim.ARPRequest(hv1.port("tap-b1"), "02:00:00:00:01:01", "10.0.0.1", "10.0.0.99"))
	wantPorts(t, r, hv1.port("tap-b1b"), vxlan)
	for _, o := range r.Outputs {
		if o.Port == vxlan {
			wantField(t, o, flow.TunID, "0x64")
			wantField(t, o, flow.TunIPv4Dst, "198.18.0.2") // hv2; hv3 does not host blue
		}
	}
	// hv3 hosts only green: it has no state for blue at all.
	hv3 := load(t, d, "hv3")
	bcast := sim.ARPRequest(1, "02:00:00:00:01:02", "10.0.0.2", "10.0.0.99").FromTunnel(vxlan, 100, "198.18.0.2")
	wantPorts(t, hv3.run(t, bcast))
}

func TestARPForUnknownIPDroppedByPolicy(t *testing.T) {
	d := scenario.TwoVNsThreeNVEs() // red drops unknown ARP
	hv1 := load(t, d, "hv1")
	wantPorts(t, hv1.run(t, sim.ARPRequest(hv1.port("tap-r1"), "02:00:00:00:02:01", "10.0.0.1", "10.0.0.99")))
	// Known targets are still answered.
	r := hv1.run(t, sim.ARPRequest(hv1.port("tap-r1"), "02:00:00:00:02:01", "10.0.0.1", "10.0.0.2"))
	wantPorts(t, r, hv1.port("tap-r1"))
	wantField(t, r.Outputs[0], flow.ARPSHA, "02:00:00:00:02:02")
}

func TestUnicastToRemotePortLeavesThroughTunnel(t *testing.T) {
	d := scenario.TwoVNsThreeNVEs()
	hv1 := load(t, d, "hv1")
	r := hv1.run(t, sim.IPv4(hv1.port("tap-b1"), "02:00:00:00:01:01", "02:00:00:00:01:03", "10.0.0.1", "10.0.0.3"))
	wantPorts(t, r, vxlan)
	wantField(t, r.Outputs[0], flow.TunID, "0x64")
	wantField(t, r.Outputs[0], flow.TunIPv4Dst, "198.18.0.3")
	// red uses GENEVE and VNI 200.
	r = hv1.run(t, sim.IPv4(hv1.port("tap-r1"), "02:00:00:00:02:01", "02:00:00:00:02:02", "10.0.0.1", "10.0.0.2"))
	wantPorts(t, r, geneve)
	wantField(t, r.Outputs[0], flow.TunID, "0xc8")
	wantField(t, r.Outputs[0], flow.TunIPv4Dst, "198.18.0.2")

	// And the receiving NVE delivers it to the port.
	hv3 := load(t, d, "hv3")
	in := sim.IPv4(0, "02:00:00:00:01:01", "02:00:00:00:01:03", "10.0.0.1", "10.0.0.3").FromTunnel(vxlan, 100, "198.18.0.1")
	wantPorts(t, hv3.run(t, in), hv3.port("tap-b3"))
}

func TestFrameNeverCrossesVNs(t *testing.T) {
	d := scenario.TwoVNsThreeNVEs() // blue and red both use 10.0.0.1 and 10.0.0.2
	hv1 := load(t, d, "hv1")
	hv2 := load(t, d, "hv2")
	r1 := hv1.port("tap-r1")

	// ARP in red for 10.0.0.2 is answered with red's r2, not blue's b2.
	r := hv1.run(t, sim.ARPRequest(r1, "02:00:00:00:02:01", "10.0.0.1", "10.0.0.2"))
	wantPorts(t, r, r1)
	wantField(t, r.Outputs[0], flow.ARPSHA, "02:00:00:00:02:02")

	// Unicast from red to a blue MAC (same IPs) goes nowhere.
	wantPorts(t, hv1.run(t, sim.IPv4(r1, "02:00:00:00:02:01", "02:00:00:00:01:02", "10.0.0.1", "10.0.0.2")))
	wantPorts(t, hv1.run(t, sim.IPv4(r1, "02:00:00:00:02:01", "02:00:00:00:01:01", "10.0.0.1", "10.0.0.1")))

	// Broadcast from red reaches red's ports and red's tunnel only.
	r = hv1.run(t, sim.Eth(r1, "02:00:00:00:02:01", sim.Broadcast, flow.EthTypeIPv4).
		With(flow.IPProto, flow.U8(17)).With(flow.IPv4Src, flow.IP(netip.MustParseAddr("10.0.0.1"))).With(flow.IPv4Dst, flow.IP(netip.MustParseAddr("10.0.0.255"))))
	wantPorts(t, r, geneve)
	wantField(t, r.Outputs[0], flow.TunID, "0xc8")

	// A red frame arriving from the tunnel for a blue MAC is dropped, and
	// a frame with red's VNI on the VXLAN port (blue's encap) is dropped.
	wantPorts(t, hv2.run(t, sim.IPv4(0, "02:00:00:00:02:01", "02:00:00:00:01:02", "10.0.0.1", "10.0.0.2").FromTunnel(geneve, 200, "198.18.0.1")))
	wantPorts(t, hv2.run(t, sim.IPv4(0, "02:00:00:00:02:01", "02:00:00:00:02:02", "10.0.0.1", "10.0.0.2").FromTunnel(vxlan, 200, "198.18.0.1")))
	// The right VNI on the right port is delivered.
	wantPorts(t, hv2.run(t, sim.IPv4(0, "02:00:00:00:02:01", "02:00:00:00:02:02", "10.0.0.1", "10.0.0.2").FromTunnel(geneve, 200, "198.18.0.1")), hv2.port("tap-r2"))
}

func TestSpoofedSourcesDropped(t *testing.T) {
	d := scenario.TwoVNsThreeNVEs()
	hv1 := load(t, d, "hv1")
	b1 := hv1.port("tap-b1")
	const mac, other = "02:00:00:00:01:01", "02:00:00:00:01:03"
	// Sanity: the legitimate packet passes.
	wantPorts(t, hv1.run(t, sim.IPv4(b1, mac, "02:00:00:00:01:02", "10.0.0.1", "10.0.0.2")), vxlan)
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
	} {
		if r := hv1.run(t, p); !r.Dropped() {
			t.Errorf("spoofed %s not dropped:\n%s", name, r.TraceText())
		}
	}
	// What a booting host needs passes: DHCP discover, IPv6 link-local,
	// DAD from ::.
	wantPorts(t, hv1.run(t, sim.UDP4(b1, mac, sim.Broadcast, "0.0.0.0", "255.255.255.255", 68, 67)), vxlan, vxlan)
	wantPorts(t, hv1.run(t, sim.IPv6(b1, mac, "33:33:00:00:00:01", "fe80::1", "ff02::1")), vxlan, vxlan)
	dad := hv1.run(t, sim.NeighborSolicitation(b1, mac, "::", "2001:db8::1"))
	wantPorts(t, dad, vxlan, vxlan)
}

func mustMAC(s string) []byte {
	p := sim.Eth(0, s, s, 0)
	return p.Get(flow.EthSrc)
}

func TestFrameFromTunnelNeverReturnsToTunnel(t *testing.T) {
	d := scenario.TwoVNsThreeNVEs()
	hv1 := load(t, d, "hv1")
	// Broadcast from hv2 in blue: delivered to hv1's local blue port only.
	bc := sim.ARPRequest(0, "02:00:00:00:01:02", "10.0.0.2", "10.0.0.99").FromTunnel(vxlan, 100, "198.18.0.2")
	r := hv1.run(t, bc)
	wantPorts(t, r, hv1.port("tap-b1"))
	// Unicast from hv2 to hv3's port arriving at hv1 is dropped.
	wantPorts(t, hv1.run(t, sim.IPv4(0, "02:00:00:00:01:02", "02:00:00:00:01:03", "10.0.0.2", "10.0.0.3").FromTunnel(vxlan, 100, "198.18.0.2")))
	// Frames from an underlay address that is not an NVE of the VN are dropped.
	wantPorts(t, hv1.run(t, sim.IPv4(0, "02:00:00:00:01:02", "02:00:00:00:01:01", "10.0.0.2", "10.0.0.1").FromTunnel(vxlan, 100, "198.18.0.99")))
	// hv3 is not in red: red traffic from hv3's address is dropped at hv1.
	wantPorts(t, hv1.run(t, sim.IPv4(0, "02:00:00:00:02:02", "02:00:00:00:02:01", "10.0.0.2", "10.0.0.1").FromTunnel(geneve, 200, "198.18.0.3")))
	// Tagged inner frames are dropped.
	wantPorts(t, hv1.run(t, sim.IPv4(0, "02:00:00:00:01:02", "02:00:00:00:01:01", "10.0.0.2", "10.0.0.1").Tagged(7).FromTunnel(vxlan, 100, "198.18.0.2")))
}

func TestVLANVAPTagging(t *testing.T) {
	d := scenario.OneVNOneNVE()
	hv1 := load(t, d, "hv1")
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
}

func TestNeighborSolicitationAnsweredInSwitch(t *testing.T) {
	d := scenario.IPv6Ports()
	hv1 := load(t, d, "hv1")
	s1, s3 := hv1.port("tap-s1"), hv1.port("tap-s3")
	const s1mac = "02:00:00:00:06:01"
	// s1 asks for s2's global address (s2 is on hv2): answered on hv1.
	r := hv1.run(t, sim.NeighborSolicitation(s1, s1mac, "fe80::1", "2001:db8:6::2"))
	wantPorts(t, r, s1)
	o := r.Outputs[0]
	for f, v := range map[string]string{
		flow.EthSrc: "02:00:00:00:06:02", flow.EthDst: s1mac,
		flow.IPv6Src: "2001:db8:6::2", flow.IPv6Dst: "fe80::1",
		flow.ICMPv6Type: "136", flow.NDTarget: "2001:db8:6::2",
		flow.NDTLL: "02:00:00:00:06:02", flow.NDOptionsType: "2", flow.NDReserved: "0x60000000",
	} {
		wantField(t, o, f, v)
	}
	// s3 (VLAN 20) asks for s2's link-local address: answered tagged.
	r = hv1.run(t, sim.NeighborSolicitation(s3, "02:00:00:00:06:03", "2001:db8:6::3", "fe80::2").Tagged(20))
	wantPorts(t, r, s3)
	wantField(t, r.Outputs[0], flow.VlanVID, "0x1014")
	wantField(t, r.Outputs[0], flow.NDTLL, "02:00:00:00:06:02")
	// Unknown targets are flooded (policy flood): s3 and the GRE tunnel.
	r = hv1.run(t, sim.NeighborSolicitation(s1, s1mac, "fe80::1", "2001:db8:6::99"))
	wantPorts(t, r, s3, scenario.TunnelOFPort(model.EncapGRE))
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
	wantPorts(t, hv1.run(t, na("2001:db8:6::1", "2001:db8:6::1", s1mac)), s3, scenario.TunnelOFPort(model.EncapGRE))
	wantPorts(t, hv1.run(t, na("fe80::1", "fe80::1", s1mac)), s3, scenario.TunnelOFPort(model.EncapGRE))
	wantPorts(t, hv1.run(t, na("2001:db8:6::1", "2001:db8:6::3", s1mac)))               // claims s3's address
	wantPorts(t, hv1.run(t, na("2001:db8:6::1", "2001:db8:6::1", "02:00:00:00:06:03"))) // points at s3's MAC
	// s1's real global address passes to s3 (tagged).
	r = hv1.run(t, sim.IPv6(s1, s1mac, "02:00:00:00:06:03", "2001:db8:6::1", "2001:db8:6::3"))
	wantPorts(t, r, s3)
}

// TestTwoHopDelivery walks a frame across the simulated overlay: from b1
// on hv1 through the tunnel into hv3 (the NVE named by tun_dst), arriving
// on hv3's tunnel port with the tunnel's VNI and source.
func TestTwoHopDelivery(t *testing.T) {
	d := scenario.TwoVNsThreeNVEs()
	nodes := map[string]*node{}
	byIP := map[string]string{}
	for _, n := range d.NVENames() {
		nodes[n] = load(t, d, n)
		byIP[d.NVEs[n].UnderlayIPs[0]] = n
	}
	src := nodes["hv1"]
	r := src.run(t, sim.ARPRequest(src.port("tap-b1"), "02:00:00:00:01:01", "10.0.0.1", "10.0.0.77"))
	delivered := map[string][]uint32{}
	for _, o := range r.Outputs {
		if o.Port != vxlan {
			continue
		}
		dst := byIP[o.Packet.Text(flow.TunIPv4Dst)]
		in := o.Packet.With(flow.Metadata, flow.U64(0)).FromTunnel(vxlan, 100, "198.18.0.1")
		in = in.With(flow.TunIPv4Dst, flow.U32(0))
		rr := nodes[dst].run(t, in)
		delivered[dst] = rr.Ports()
	}
	want := map[string][]uint32{"hv2": {nodes["hv2"].port("tap-b2")}, "hv3": {nodes["hv3"].port("tap-b3")}}
	if len(delivered) != 2 || !slices.Equal(delivered["hv2"], want["hv2"]) || !slices.Equal(delivered["hv3"], want["hv3"]) {
		t.Fatalf("delivered %v, want %v", delivered, want)
	}
}
