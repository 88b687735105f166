package sim_test

import (
	"testing"

	"github.com/nva-project/nva/app/compiler/scenario"
	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/pipeline"
	"github.com/nva-project/nva/app/sim"
)

// TestSegmentGateway: an L2 gateway segment (hv1 eth1, VLAN 100) in VN
// blue with vm1 on hv1 and vm2 on hv2; 02:00:00:00:0a:01 is learned
// behind the segment. Frames from the segment reach VMs locally and across
// the overlay; a new source is punted (tagged, headers only) besides being
// forwarded; the learned MAC is reached from hv2 through hv1's tunnel and
// delivered tagged to the segment; BUM and unknown unicast reach it.
func TestSegmentGateway(t *testing.T) {
	forProfiles(t, testSegmentGateway)
}

func testSegmentGateway(t *testing.T, prof pipeline.Profile) {
	d := scenario.Segment()
	hv1, hv2 := load(t, prof, d, "hv1"), load(t, prof, d, "hv2")
	seg, vm1, vm2 := hv1.port("eth1"), hv1.port("tap-vm1"), hv2.port("tap-vm2")
	const host, newHost = "02:00:00:00:0a:01", "02:00:00:00:0a:02"

	// The learned host to vm2: into the tunnel to hv2, no packet-in.
	r := hv1.run(t, sim.IPv4(seg, host, "02:00:00:00:01:02", "10.0.0.50", "10.0.0.2").Tagged(100))
	wantPorts(t, r, hv1.tun("hv2", vxlan))
	hv1.wantTunnel(t, r.Outputs[0], "hv2", vxlan, "0x64")
	wantField(t, r.Outputs[0], flow.VlanVID, "0x0") // the segment's tag is popped

	// A new host to vm1: delivered, and its headers punted still tagged.
	r = hv1.run(t, sim.IPv4(seg, newHost, "02:00:00:00:01:01", "10.0.0.51", "10.0.0.1").Tagged(100))
	wantPorts(t, r, vm1, flow.PortController)
	pins := r.PacketIns()
	wantField(t, pins[0], flow.EthSrc, newHost)
	wantField(t, pins[0], flow.VlanVID, "0x1064")

	// Another VLAN on the segment's interface is not the segment.
	wantPorts(t, hv1.run(t, sim.IPv4(seg, host, "02:00:00:00:01:01", "10.0.0.50", "10.0.0.1").Tagged(200)))

	// vm2 to the learned host: into the tunnel to hv1 ...
	r = hv2.run(t, sim.IPv4(vm2, "02:00:00:00:01:02", host, "10.0.0.2", "10.0.0.50"))
	wantPorts(t, r, hv2.tun("hv1", vxlan))
	hv2.wantTunnel(t, r.Outputs[0], "hv1", vxlan, "0x64")
	// ... and on hv1 out of the segment, tagged 100.
	r = hv1.run(t, hv1.fromTunnel(sim.IPv4(0, "02:00:00:00:01:02", host, "10.0.0.2", "10.0.0.50"), "hv2", vxlan, 100))
	wantPorts(t, r, seg)
	wantField(t, r.Outputs[0], flow.VlanVID, "0x1064")

	// Broadcast from vm1 reaches the segment (tagged), the tunnel to hv2.
	r = hv1.run(t, sim.UDP4(vm1, "02:00:00:00:01:01", sim.Broadcast, "10.0.0.1", "10.0.0.255", 9, 9))
	wantPorts(t, r, seg, hv1.tun("hv2", vxlan))
	// Unknown unicast from vm2 is flooded (the VN has a segment) and
	// reaches the segment from hv1's tunnel side, not back into a tunnel.
	r = hv2.run(t, sim.IPv4(vm2, "02:00:00:00:01:02", "02:00:00:00:0a:03", "10.0.0.2", "10.0.0.52"))
	wantPorts(t, r, hv2.tun("hv1", vxlan))
	r = hv1.run(t, hv1.fromTunnel(sim.IPv4(0, "02:00:00:00:01:02", "02:00:00:00:0a:03", "10.0.0.2", "10.0.0.52"), "hv2", vxlan, 100))
	wantPorts(t, r, seg, vm1)

	// vm2's MAC sent from the segment is refused: punted (the store
	// records the conflict), not forwarded.
	r = hv1.run(t, sim.IPv4(seg, "02:00:00:00:01:02", "02:00:00:00:01:01", "10.0.0.2", "10.0.0.1").Tagged(100))
	wantPorts(t, r, flow.PortController)

	// vm2's own MAC reported behind the segment changes nothing: vm2
	// stays reached through its own NVE.
	r = hv1.run(t, sim.IPv4(vm1, "02:00:00:00:01:01", "02:00:00:00:01:02", "10.0.0.1", "10.0.0.2"))
	wantPorts(t, r, hv1.tun("hv2", vxlan))
}
