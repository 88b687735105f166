package ofctl

import "github.com/nva-project/nva/app/model"

// l3GatewayAffected adds to out the NVEs an L3 gateway makes depend on each
// other (app/compiler's l3gateway.go): a changed gateway affects its NVE
// and every NVE hosting a VN of its domain, before and after; a change
// that affects an NVE of a gateway's domain may change the routes back
// the gateway NVE has (its ports), and a changed gateway NVE (its
// underlay address) every NVE of the domain.
func l3GatewayAffected(old, cur *model.Snapshot, out map[string]bool) {
	if old == nil {
		return
	}
	all := func(snap *model.Snapshot, g *model.L3Gateway) {
		for _, n := range snap.GatewayNVEsOf(g) {
			out[n] = true
		}
	}
	for name, g := range cur.L3Gateways {
		if og := old.L3Gateways[name]; og != g {
			all(cur, g)
			if og != nil {
				all(old, og)
			}
		}
	}
	for name, og := range old.L3Gateways {
		if _, ok := cur.L3Gateways[name]; !ok {
			all(old, og)
		}
	}
	for _, snap := range []*model.Snapshot{old, cur} {
		for _, g := range snap.L3Gateways {
			if old.NVEs[g.NVE] != cur.NVEs[g.NVE] {
				all(snap, g)
				continue
			}
			for _, n := range snap.GatewayNVEsOf(g)[1:] {
				if out[n] {
					out[g.NVE] = true
					break
				}
			}
		}
	}
}
