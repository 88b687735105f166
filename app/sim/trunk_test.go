package sim_test

import (
	"strings"
	"testing"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/compiler/scenario"
	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/pipeline"
	"github.com/nva-project/nva/app/sim"
)

// TestTrunkVLANPerVN: one interface carries two VNs on two VLANs (the
// split-NVE access link shape). Each tag maps to its own VN, replies and
// floods go back with the right tag, and a second VAP of the same VN on
// the same interface is refused with a warning instead of breaking the NVE.
func TestTrunkVLANPerVN(t *testing.T) {
	forProfiles(t, testTrunkVLANPerVN)
}

func testTrunkVLANPerVN(t *testing.T, prof pipeline.Profile) {
	d := scenario.New().VN("blue", 100).VN("red", 200).NVE("hv1", "198.18.0.1").
		Port("tb", "blue", "hv1", "trunk0", "02:00:00:00:01:01", 10, "10.0.0.1").
		Port("tr", "red", "hv1", "trunk0", "02:00:00:00:02:01", 20, "10.0.0.1").
		Port("b2", "blue", "hv1", "tap-b2", "02:00:00:00:01:02", 0, "10.0.0.2").
		Port("r2", "red", "hv1", "tap-r2", "02:00:00:00:02:02", 0, "10.0.0.2").
		Port("tb2", "blue", "hv1", "trunk0", "02:00:00:00:01:03", 30, "10.0.0.3")
	hv1 := load(t, prof, d, "hv1")
	trunk, b2, r2 := hv1.port("trunk0"), hv1.port("tap-b2"), hv1.port("tap-r2")

	// ARP on VLAN 10 is blue's: answered with b2's MAC, tagged 10.
	o := hv1.answer(t, sim.ARPRequest(trunk, "02:00:00:00:01:01", "10.0.0.1", "10.0.0.2").Tagged(10))
	if o.Port != trunk {
		t.Errorf("reply to %d", o.Port)
	}
	wantField(t, o, flow.ARPSHA, "02:00:00:00:01:02")
	wantField(t, o, flow.VlanVID, "0x100a")
	// The same request on VLAN 20 is red's.
	o = hv1.answer(t, sim.ARPRequest(trunk, "02:00:00:00:02:01", "10.0.0.1", "10.0.0.2").Tagged(20))
	if o.Port != trunk {
		t.Errorf("reply to %d", o.Port)
	}
	wantField(t, o, flow.ARPSHA, "02:00:00:00:02:02")
	wantField(t, o, flow.VlanVID, "0x1014")
	// Blue's MAC on red's VLAN is spoofing.
	wantPorts(t, hv1.run(t, sim.IPv4(trunk, "02:00:00:00:01:01", "02:00:00:00:02:02", "10.0.0.1", "10.0.0.2").Tagged(20)))
	// Broadcast from b2 reaches the trunk tagged 10 only; from r2 tagged 20.
	r := hv1.run(t, sim.UDP4(b2, "02:00:00:00:01:02", sim.Broadcast, "10.0.0.2", "10.0.0.255", 9, 9))
	wantPorts(t, r, trunk)
	wantField(t, r.Outputs[0], flow.VlanVID, "0x100a")
	r = hv1.run(t, sim.UDP4(r2, "02:00:00:00:02:02", sim.Broadcast, "10.0.0.2", "10.0.0.255", 9, 9))
	wantPorts(t, r, trunk)
	wantField(t, r.Outputs[0], flow.VlanVID, "0x1014")

	res, err := compiler.Compile(d.Input("hv1"), prof)
	if err != nil {
		t.Fatal(err)
	}
	if w := strings.Join(res.Warnings, "\n"); !strings.Contains(w, "port tb2: interface trunk0 already attached to VN blue") {
		t.Errorf("second blue VAP on trunk0 not refused: %q", w)
	}
	wantPorts(t, hv1.run(t, sim.IPv4(trunk, "02:00:00:00:01:03", "02:00:00:00:01:02", "10.0.0.3", "10.0.0.2").Tagged(30)))
}
