package compiler_test

import (
	"testing"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/compiler/scenario"
	"github.com/nva-project/nva/app/model"
)

// TestSplitCacheFollowsChanges: through a cache, every NVE of a split
// domain compiles to the from-scratch result after each change that
// only split NVEs read (a link VLAN reallocated, a VN brought to a tNVE,
// a port moved off a tNVE, a VAP turned passthrough, the link moved to
// another nNVE port).
func TestSplitCacheFollowsChanges(t *testing.T) {
	for _, prof := range profiles {
		t.Run(prof.Name, func(t *testing.T) {
			d := scenario.SplitNVEs()
			caches := map[string]*compiler.Cache{}
			check := func(step string) {
				t.Helper()
				for _, nve := range d.NVENames() {
					if caches[nve] == nil {
						caches[nve] = compiler.NewCache()
					}
					compileChecked(t, step+" on "+nve, caches[nve], d.Input(nve), prof)
				}
			}
			check("start")
			d.LinkVLAN("hv1", "blue", 9)
			check("blue reallocated on hv1")
			d.Port("r2", "red", "hv2", "tap-r2", "02:00:00:00:02:02", 0, "10.0.0.2")
			check("red on hv2 without a VLAN yet")
			d.LinkVLAN("hv2", "red", 4)
			check("red on hv2 allocated")
			d.Update("b2", func(p *model.Port) { p.NVE = "hv3" })
			d.LinkVLAN("hv2", "blue", 0)
			check("b2 moved to hv3")
			d.Update("b1", func(p *model.Port) { p.VLANMode, p.AllowedVLANs = model.VLANPassthrough, []int{10} })
			check("b1 passthrough")
			d.Split("hv1", "tor1", "eth1", "p9", map[string]int{"blue": 9, "red": 3})
			check("hv1's link moved to p9")
		})
	}
}
