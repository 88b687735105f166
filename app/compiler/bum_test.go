package compiler_test

import (
	"strings"
	"testing"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/compiler/scenario"
	"github.com/nva-project/nva/app/pipeline"
)

// TestGoldenBUM records the flows of the dual-homing and replicator
// scenarios, with every NVE up and with one NVE's switch down (hv1: a
// dual-home NVE; hv5: a replicator), and of a system dual-homed to a
// replicator that is its DF, in testdata/<profile>/bum_*.golden.
func TestGoldenBUM(t *testing.T) {
	cases := []struct {
		name string
		d    func() *scenario.Domain
		down map[string]bool
	}{
		{"bum_dual_homed", scenario.DualHomed, nil},
		{"bum_dual_homed_hv1_down", scenario.DualHomed, map[string]bool{"hv1": true}},
		{"bum_replicators", scenario.Replicators, nil},
		{"bum_replicators_hv5_down", scenario.Replicators, map[string]bool{"hv5": true}},
		{"bum_replicators_dual_homed_hv1_down", scenario.ReplicatorsDualHomed, map[string]bool{"hv1": true}},
	}
	for _, prof := range profiles {
		for _, tc := range cases {
			t.Run(prof.Name+"/"+tc.name, func(t *testing.T) {
				d := tc.d()
				var b strings.Builder
				for _, nve := range d.NVENames() {
					in := d.Input(nve)
					in.Down = tc.down
					r, err := compiler.Compile(in, prof)
					if err != nil {
						t.Fatalf("compile %s: %v", nve, err)
					}
					if err := pipeline.Check(prof, r.FlowList(), r.Groups); err != nil {
						t.Fatalf("%s: %v", nve, err)
					}
					// The cache compiles the same (fingerprints cover the
					// BUM plan and the down set's effect).
					c := compiler.NewCache()
					cr, err := c.Compile(in, prof)
					if err != nil {
						t.Fatal(err)
					}
					if render(t, prof, nve, cr) != render(t, prof, nve, r) {
						t.Fatalf("%s: the cache compiles differently", nve)
					}
					b.WriteString(render(t, prof, nve, r))
				}
				golden(t, prof, tc.name, b.String())
			})
		}
	}
}

// TestBUMCacheFollowsHealth: a cache that compiled with every NVE up
// recompiles the VN when an NVE goes down (the down set is not in the
// cache key, so the fingerprint must cover it).
func TestBUMCacheFollowsHealth(t *testing.T) {
	d := scenario.DualHomed()
	c := compiler.NewCache()
	prof := pipeline.OVS()
	in := d.Input("hv3")
	up, err := c.Compile(in, prof)
	if err != nil {
		t.Fatal(err)
	}
	in.Down = map[string]bool{"hv1": true}
	down, err := c.Compile(in, prof)
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := compiler.Compile(in, prof)
	if err != nil {
		t.Fatal(err)
	}
	if render(t, prof, "hv3", down) != render(t, prof, "hv3", fresh) {
		t.Fatalf("cached compile after hv1 went down differs from a fresh one")
	}
	if render(t, prof, "hv3", down) == render(t, prof, "hv3", up) {
		t.Fatalf("hv1 down changed nothing on hv3 (its unicast to the dual-homed system must avoid hv1)")
	}
}
