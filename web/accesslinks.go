package web

import (
	"net/http"
	"slices"

	"github.com/gorilla/mux"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/web/wire"
)

// BuildAccessLinks lists the access links of a snapshot's tNVEs (by tNVE
// name) with their VLAN allocation; nil when there are none. A tenant's
// scoped snapshot holds no access links (it sees NVEs reduced).
func BuildAccessLinks(snap *model.Snapshot) []wire.AccessLink {
	var out []wire.AccessLink
	for _, n := range snap.SortedNVEs() {
		l := n.AccessLink
		if l == nil {
			continue
		}
		al := wire.AccessLink{TNVE: n.Name, Uplink: l.Uplink, NNVE: l.NNVE, NNVEPort: l.NNVEPort,
			VLANPool: l.Pool(), VLANs: []wire.AccessVLAN{}}
		for _, vn := range snap.VNsOn(n.Name) {
			ports := snap.PortsAt(n.Name, vn)
			vlan, ok := l.VLANs[vn]
			if !ok {
				al.Unallocated = append(al.Unallocated, vn)
				continue
			}
			av := wire.AccessVLAN{VN: vn, VLAN: vlan, Ports: make([]string, 0, len(ports))}
			if v := snap.VNs[vn]; v != nil {
				av.VNI = v.VNI
			}
			for _, p := range ports {
				av.Ports = append(av.Ports, p.Name)
				av.QinQ = av.QinQ || p.Passthrough()
			}
			al.VLANs = append(al.VLANs, av)
		}
		slices.SortFunc(al.VLANs, func(a, b wire.AccessVLAN) int { return a.VLAN - b.VLAN })
		out = append(out, al)
	}
	return out
}

// handleAccessLinks serves GET /api/v1/access-links: {"items": [...]}.
func (s *Server) handleAccessLinks(w http.ResponseWriter, r *http.Request) {
	snap, err := s.snapshot(r)
	if err != nil {
		writeError(w, err)
		return
	}
	items := BuildAccessLinks(snap)
	if items == nil {
		items = []wire.AccessLink{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "revision": snap.Revision})
}

// handleAccessLink serves GET /api/v1/access-links/{tnve}.
func (s *Server) handleAccessLink(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["tnve"]
	snap, err := s.snapshot(r)
	if err != nil {
		writeError(w, err)
		return
	}
	for _, l := range BuildAccessLinks(snap) {
		if l.TNVE == name {
			writeJSON(w, http.StatusOK, l)
			return
		}
	}
	writeError(w, newAPIError(http.StatusNotFound, wire.CodeNotFound, "", "nve %q is not a tNVE (no access link)", name))
}
