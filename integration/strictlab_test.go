package integration

import (
	"context"
	"testing"
	"time"

	"github.com/nva-project/nva/integration/lab"
	"github.com/nva-project/nva/internal/ofshim"
)

// newStrictLab starts a lab of the given hypervisors and nva (with
// nvaArgs), and programs hypervisor strictHV as a strict OpenFlow 1.3
// switch behind the ofshim conformance proxy (4 tables, one VXLAN tunnel
// port per other hypervisor, prepared as a switch administrator would)
// under datapath ID dpid; every other hypervisor is an Open vSwitch NVE.
// The shim is closed before the lab's cleanup, which dumps its refusals
// on failure: it logs through t until then.
func newStrictLab(t *testing.T, ctx context.Context, hypervisors int, dpid string, nvaArgs ...string) (*lab.Lab, *lab.NVA, *ofshim.Shim, *lab.Overlay) {
	t.Helper()
	l := lab.New(t, lab.Options{Hypervisors: hypervisors})
	n, err := l.StartNVA(ctx, lab.NVAOptions{Bin: nvaBin, ExtraArgs: nvaArgs})
	if err != nil {
		t.Fatal(err)
	}
	shim, err := l.StartShim(ctx, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = shim.Close() })
	var others []int
	for hv := 1; hv <= hypervisors; hv++ {
		if hv != strictHV {
			others = append(others, hv)
		}
	}
	if err := l.PrepareStrictBridge(ctx, strictHV, lab.StrictBridgeOptions{
		DatapathID: dpid, Controller: shim.Target(), Encap: "vxlan", Remotes: others,
	}); err != nil {
		t.Fatal(err)
	}
	ov := lab.NewOverlayOnly(l, n)
	ov.RealizeTimeout = realizeTimeout
	if err := ov.AddOpenFlowNVE(ctx, strictHV, dpid, nil); err != nil {
		t.Fatal(err)
	}
	for _, hv := range others {
		if err := ov.AddOVSNVE(ctx, hv, nil, 30*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	return l, n, shim, ov
}

// checkShimClean fails t if the shim refused any message nva sent the
// strict switch or forwarded none (the switch was not programmed through
// it).
func checkShimClean(t *testing.T, shim *ofshim.Shim) {
	t.Helper()
	if r := shim.Refused(); len(r) != 0 {
		t.Errorf("the shim refused messages nva sent the strict switch: %v", r)
		for _, x := range shim.Refusals() {
			t.Errorf("  %v", x)
		}
	}
	if shim.Forwarded() == 0 {
		t.Errorf("the shim forwarded nothing: hv%d was not programmed through it", strictHV)
	}
}
