package web

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/web/wire"
)

// BuildTopology computes the topology view of a snapshot; status may be
// nil.
func BuildTopology(snap *model.Snapshot, status StatusReporter) wire.Topology {
	t := wire.Topology{Revision: snap.Revision, NVEs: []wire.TopologyNVE{}, VNs: snap.SortedVNs(), Ports: snap.SortedPorts(), Tunnels: []wire.Tunnel{}}
	for _, n := range snap.SortedNVEs() {
		v := wire.TopologyNVE{NVEView: wire.NVEView{NVE: n}, VNs: snap.VNsOn(n.Name)}
		if v.VNs == nil {
			v.VNs = []string{}
		}
		if status != nil {
			v.Status = status.NVEStatus(n.Name)
		}
		t.NVEs = append(t.NVEs, v)
		// One tunnel per pair of known NVEs sharing a VN, listed from the
		// first of the pair by name.
		for _, p := range snap.Peers(n.Name) {
			if _, known := snap.NVEs[p.NVE]; known && p.NVE > n.Name {
				t.Tunnels = append(t.Tunnels, wire.Tunnel{A: n.Name, B: p.NVE, VNs: p.VNs})
			}
		}
	}
	if t.VNs == nil {
		t.VNs = []*model.VN{}
	}
	if t.Ports == nil {
		t.Ports = []*model.Port{}
	}
	return t
}

func (s *Server) handleTopology(w http.ResponseWriter, r *http.Request) {
	snap, err := s.snapshot(r)
	if err != nil {
		writeError(w, err)
		return
	}
	t := BuildTopology(snap, s.status)
	if s.switches != nil {
		t.UnclaimedSwitches = s.switches.UnclaimedSwitches()
	}
	writeJSON(w, http.StatusOK, t)
}

// handleUnclaimed serves GET /api/v1/switches/unclaimed: {"items": [...]}.
func (s *Server) handleUnclaimed(w http.ResponseWriter, r *http.Request) {
	if s.switches == nil {
		writeError(w, newAPIError(http.StatusNotImplemented, wire.CodeNotImplemented, "",
			"no OpenFlow southbound runs in this node"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": s.switches.UnclaimedSwitches()})
}

func (s *Server) handleFlows(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["name"]
	snap, err := s.snapshot(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if _, ok := snap.NVEs[name]; !ok {
		writeError(w, newAPIError(http.StatusNotFound, wire.CodeNotFound, "", "nve %q not found", name))
		return
	}
	if s.flows == nil {
		writeError(w, newAPIError(http.StatusNotImplemented, wire.CodeNotImplemented, "",
			"flow reporting is not available on this node (no southbound configured)"))
		return
	}
	out, err := s.flows.NVEFlows(r.Context(), name)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}
