package sim_test

import (
	"testing"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/compiler/scenario"
	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/pipeline"
	"github.com/nva-project/nva/app/sim"
)

// onWire returns the packet that left as o, as it arrives on port in of
// the switch at the other end of a cable (the pipeline state is reset;
// the VLAN tags, QinQ included, stay).
func onWire(o sim.Output, in uint32) sim.Packet {
	p := o.Packet.With(flow.Metadata, flow.U64(0)).With(flow.TunID, flow.U64(0)).
		With(flow.TunIPv4Src, flow.U32(0)).With(flow.TunIPv4Dst, flow.U32(0)).With(flow.InPort, flow.U32(in))
	p.InPort = in
	return p
}

// overTunnel returns the packet that left as o into a tunnel, as the
// receiving node decapsulates it (inner tags stay).
func overTunnel(o sim.Output, to *node, from string) sim.Packet {
	vni := be(o.Packet.Get(flow.TunID))
	p := to.fromTunnel(o.Packet.With(flow.Metadata, flow.U64(0)).With(flow.TunIPv4Dst, flow.U32(0)), from, vxlan, vni)
	return p
}

func splitNodes(t *testing.T, prof pipeline.Profile, d *scenario.Domain) map[string]*node {
	nodes := map[string]*node{}
	for _, n := range d.NVENames() {
		nodes[n] = load(t, prof, d, n)
	}
	return nodes
}

// TestSplitNVEAccessLinks: a frame from a tNVE VAP leaves the uplink with
// its VN's link VLAN; the nNVE switches it to another access link with
// that link's VLAN, or encapsulates it with the VNI toward a normal NVE;
// the way back is tagged again; VNs with overlapping addresses stay apart;
// a VLAN not allocated on a link is dropped at both ends.
func TestSplitNVEAccessLinks(t *testing.T) {
	forProfiles(t, func(t *testing.T, prof pipeline.Profile) {
		d := scenario.SplitNVEs()
		n := splitNodes(t, prof, d)
		hv1, hv2, hv3, tor := n["hv1"], n["hv2"], n["hv3"], n["tor1"]
		const b1, b2, b3, r1, r3 = "02:00:00:00:01:01", "02:00:00:00:01:02", "02:00:00:00:01:03", "02:00:00:00:02:01", "02:00:00:00:02:03"

		// b1 (hv1) -> b2 (hv2): VLAN 2 on hv1's link, 7 on hv2's.
		r := hv1.run(t, sim.IPv4(hv1.port("tap-b1"), b1, b2, "10.0.0.1", "10.0.0.2"))
		wantPorts(t, r, hv1.port("eth1"))
		wantField(t, r.Outputs[0], flow.VlanVID, "0x1002")
		r = tor.run(t, onWire(r.Outputs[0], tor.port("p1")))
		wantPorts(t, r, tor.port("p2"))
		wantField(t, r.Outputs[0], flow.VlanVID, "0x1007")
		r = hv2.run(t, onWire(r.Outputs[0], hv2.port("eth1")))
		wantPorts(t, r, hv2.port("tap-b2"))
		wantField(t, r.Outputs[0], flow.VlanVID, "0x0")

		// b1 -> b3 (normal hv3): tunnelled by tor1 with blue's VNI, and
		// hv3 accepts it from tor1's underlay address.
		r = hv1.run(t, sim.IPv4(hv1.port("tap-b1"), b1, b3, "10.0.0.1", "10.0.0.3"))
		r = tor.run(t, onWire(r.Outputs[0], tor.port("p1")))
		wantPorts(t, r, tor.tun("hv3", vxlan))
		tor.wantTunnel(t, r.Outputs[0], "hv3", vxlan, "0x64")
		wantField(t, r.Outputs[0], flow.VlanVID, "0x0")
		r = hv3.run(t, overTunnel(r.Outputs[0], hv3, "tor1"))
		wantPorts(t, r, hv3.port("tap-b3"))

		// r3 (hv3) -> r1 (hv1, same IP as b1): tunnelled to tor1 with red's
		// VNI, down hv1's link on red's VLAN 3, to r1 only.
		r = hv3.run(t, sim.IPv4(hv3.port("tap-r3"), r3, r1, "10.0.0.3", "10.0.0.1"))
		hv3.wantTunnel(t, r.Outputs[0], "tor1", vxlan, "0xc8")
		r = tor.run(t, overTunnel(r.Outputs[0], tor, "hv3"))
		wantPorts(t, r, tor.port("p1"))
		wantField(t, r.Outputs[0], flow.VlanVID, "0x1003")
		r = hv1.run(t, onWire(r.Outputs[0], hv1.port("eth1")))
		wantPorts(t, r, hv1.port("tap-r1"))

		// Broadcast from b1: up the link; at tor1 to hv2's link (VLAN 7)
		// and the tunnel to hv3, never back down hv1's link.
		r = hv1.run(t, sim.UDP4(hv1.port("tap-b1"), b1, sim.Broadcast, "10.0.0.1", "10.0.0.255", 9, 9))
		wantPorts(t, r, hv1.port("eth1"))
		r = tor.run(t, onWire(r.Outputs[0], tor.port("p1")))
		wantPorts(t, r, tor.port("p2"), tor.tun("hv3", vxlan))
		// A frame from the uplink never goes back up (split horizon).
		wantPorts(t, hv1.run(t, sim.UDP4(hv1.port("eth1"), b2, sim.Broadcast, "10.0.0.2", "10.0.0.255", 9, 9).Tagged(2)), hv1.port("tap-b1"))

		// Red's VLAN carries red only: b3's MAC is not in red.
		wantPorts(t, tor.run(t, sim.IPv4(tor.port("p1"), r1, b3, "10.0.0.1", "10.0.0.3").Tagged(3)))
		// VLANs not allocated on a link are dropped at both ends, and
		// hv2's VLAN 7 means nothing on hv1's link.
		wantPorts(t, tor.run(t, sim.IPv4(tor.port("p1"), b1, b3, "10.0.0.1", "10.0.0.3").Tagged(99)))
		wantPorts(t, tor.run(t, sim.IPv4(tor.port("p1"), b1, b3, "10.0.0.1", "10.0.0.3").Tagged(7)))
		wantPorts(t, hv1.run(t, sim.IPv4(hv1.port("eth1"), b3, b1, "10.0.0.3", "10.0.0.1").Tagged(99)))
		wantPorts(t, hv1.run(t, sim.IPv4(hv1.port("eth1"), b3, b1, "10.0.0.3", "10.0.0.1")))
		// Port security stays on the tNVE: b1 spoofing b2's address drops.
		wantPorts(t, hv1.run(t, sim.IPv4(hv1.port("tap-b1"), b1, b3, "10.0.0.2", "10.0.0.3")))
		// ARP for a port behind another link is answered on the tNVE.
		o := hv1.answer(t, sim.ARPRequest(hv1.port("tap-b1"), b1, "10.0.0.1", "10.0.0.2"))
		wantField(t, o, flow.ARPSHA, b2)
	})
}

// TestSplitNVEMove: a port moved from a tNVE to a normal NVE is reached
// by tunnel, and its old link VLAN (freed) no longer reaches anything.
func TestSplitNVEMove(t *testing.T) {
	forProfiles(t, func(t *testing.T, prof pipeline.Profile) {
		d := scenario.SplitNVEs()
		d.Update("b2", func(p *model.Port) { p.NVE, p.Interface = "hv3", "tap-b2" })
		d.LinkVLAN("hv2", "blue", 0)
		n := splitNodes(t, prof, d)
		hv1, tor := n["hv1"], n["tor1"]
		r := hv1.run(t, sim.IPv4(hv1.port("tap-b1"), "02:00:00:00:01:01", "02:00:00:00:01:02", "10.0.0.1", "10.0.0.2"))
		r = tor.run(t, onWire(r.Outputs[0], tor.port("p1")))
		wantPorts(t, r, tor.tun("hv3", vxlan))
		wantPorts(t, tor.run(t, sim.IPv4(tor.port("p2"), "02:00:00:00:01:02", "02:00:00:00:01:01", "10.0.0.2", "10.0.0.1").Tagged(7)))
	})
}

// TestSplitQinQ: passthrough VAPs carry the tenant's C-tags 10 and 20
// across a tNVE's access link (inside an 802.1ad S-tag with the link
// VLAN) and the overlay, both ways; other tenant tags drop at the edge.
func TestSplitQinQ(t *testing.T) {
	forProfiles(t, func(t *testing.T, prof pipeline.Profile) {
		d := scenario.SplitQinQ()
		n := splitNodes(t, prof, d)
		hv1, hv3, tor := n["hv1"], n["hv3"], n["tor1"]
		const g1, g3, g0 = "02:00:00:00:03:01", "02:00:00:00:03:03", "02:00:00:00:03:0a"
		for _, c := range []int{10, 20} {
			ctag := flow.FormatValue(flow.VlanVID, flow.U16(flow.VIDPresent|uint16(c)))
			r := hv1.run(t, sim.IPv4(hv1.port("tap-g1"), g1, g3, "10.3.0.1", "10.3.0.3").Tagged(c))
			wantPorts(t, r, hv1.port("eth1"))
			o := r.Outputs[0]
			wantField(t, o, flow.VlanVID, "0x1005")
			if o.Packet.TPID() != compiler.QinQEtherType || len(o.Packet.Inner) != 1 || o.Packet.Inner[0].VID != flow.VIDPresent|uint16(c) {
				t.Fatalf("C-tag %d: uplink frame TPID %#x inner %v, want an S-tag over the C-tag", c, o.Packet.TPID(), o.Packet.Inner)
			}
			r = tor.run(t, onWire(o, tor.port("p1")))
			wantPorts(t, r, tor.tun("hv3", vxlan))
			wantField(t, r.Outputs[0], flow.VlanVID, ctag)
			r = hv3.run(t, overTunnel(r.Outputs[0], hv3, "tor1"))
			wantPorts(t, r, hv3.port("tap-g3"))
			wantField(t, r.Outputs[0], flow.VlanVID, ctag)

			// Back: hv3 -> tor1 -> S-tag 5 over the C-tag -> hv1 -> g1 with its C-tag.
			r = hv3.run(t, sim.IPv4(hv3.port("tap-g3"), g3, g1, "10.3.0.3", "10.3.0.1").Tagged(c))
			r = tor.run(t, overTunnel(r.Outputs[0], tor, "hv3"))
			wantPorts(t, r, tor.port("p1"))
			if o := r.Outputs[0]; o.Packet.TPID() != compiler.QinQEtherType || len(o.Packet.Inner) != 1 {
				t.Fatalf("down the link: TPID %#x inner %v", o.Packet.TPID(), o.Packet.Inner)
			}
			r = hv1.run(t, onWire(r.Outputs[0], hv1.port("eth1")))
			wantPorts(t, r, hv1.port("tap-g1"))
			wantField(t, r.Outputs[0], flow.VlanVID, ctag)
		}
		// A tenant tag not allowed, and untagged frames on a VAP that does
		// not allow them, drop at the tNVE.
		wantPorts(t, hv1.run(t, sim.IPv4(hv1.port("tap-g1"), g1, g3, "10.3.0.1", "10.3.0.3").Tagged(30)))
		wantPorts(t, hv1.run(t, sim.IPv4(hv1.port("tap-g1"), g1, g3, "10.3.0.1", "10.3.0.3")))
		// hv3's VAP allows untagged frames too; the access port on tor1
		// receives them untagged.
		r := hv3.run(t, sim.IPv4(hv3.port("tap-g3"), g3, g0, "10.3.0.3", "10.3.0.10"))
		r = tor.run(t, overTunnel(r.Outputs[0], tor, "hv3"))
		wantPorts(t, r, tor.port("e0"))
		wantField(t, r.Outputs[0], flow.VlanVID, "0x0")
	})
}
