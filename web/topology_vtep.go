package web

import (
	"cmp"
	"slices"
	"strings"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/web/wire"
)

// topologyVTEPs lists the snapshot's hardware VTEPs for the topology view
// (in_sync from their status when known), by name.
func topologyVTEPs(snap *model.Snapshot, nves []wire.TopologyNVE) []wire.TopologyVTEP {
	out := []wire.TopologyVTEP{}
	for _, tn := range nves {
		n := tn.NVE
		if n == nil || n.Kind != model.NVEVTEP {
			continue
		}
		v := wire.TopologyVTEP{NVE: n.Name, Bindings: []wire.VTEPBinding{}, Learned: []wire.VTEPLearnedMAC{}}
		if len(n.UnderlayIPs) > 0 {
			v.TunnelIP = n.UnderlayIPs[0]
		}
		if st := tn.Status; st != nil && st.VTEP != nil {
			v.InSync = st.VTEP.InSync
		}
		for _, p := range snap.PortsOn(n.Name) {
			v.Bindings = append(v.Bindings, wire.VTEPBinding{Port: p.Name, PhysicalPort: p.Interface, VLAN: p.VLAN, VN: p.VN})
		}
		slices.SortFunc(v.Bindings, func(a, b wire.VTEPBinding) int {
			return cmp.Or(strings.Compare(a.PhysicalPort, b.PhysicalPort), a.VLAN-b.VLAN, strings.Compare(a.Port, b.Port))
		})
		for _, vn := range snap.VNsOn(n.Name) {
			for _, e := range snap.LearnedIn(vn) {
				if e.NVE == n.Name && e.Via == model.ViaVTEP {
					v.Learned = append(v.Learned, wire.VTEPLearnedMAC{VN: vn, MAC: e.MAC})
				}
			}
		}
		out = append(out, v)
	}
	return out
}
