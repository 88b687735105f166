package store

import (
	"maps"
	"slices"

	"github.com/nva-project/nva/app/model"
)

// admitVNVTEP: a VN with VAPs on a hardware VTEP keeps encap vxlan, the
// only one a VTEP speaks.
func admitVNVTEP(st *state, v *model.VN) *model.Error {
	if v.Encap == model.EncapVXLAN {
		return nil
	}
	for _, pn := range slices.Sorted(maps.Keys(st.portsOfVN[v.Name])) {
		p := st.ports[pn]
		if p == nil {
			continue
		}
		if n := st.nves[p.NVE]; n != nil && n.Kind == model.NVEVTEP {
			return model.Errorf(model.KindInvalid, "encap",
				"vn %q has port %q on hardware VTEP %q, which supports only vxlan", v.Name, pn, n.Name)
		}
	}
	return nil
}

// admitNVEVTEP: an NVE whose kind changes keeps ports that fit it (a port
// without a MAC only on a VTEP; a VTEP's VNs in vxlan).
func admitNVEVTEP(st *state, n, old *model.NVE) *model.Error {
	if old == nil || old.Kind == n.Kind {
		return nil
	}
	for _, pn := range slices.Sorted(maps.Keys(st.portsOfNVE[n.Name])) {
		p := st.ports[pn]
		if p == nil || st.vns[p.VN] == nil {
			continue
		}
		if err := model.CheckPortOnNVE(p, n, st.vns[p.VN]); err != nil {
			return model.Errorf(model.KindInvalid, "kind", "port %q does not fit kind %s: %s", pn, n.Kind, err.Message)
		}
	}
	return nil
}
