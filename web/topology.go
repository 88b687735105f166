package web

import (
	"context"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/web/wire"
)

// BuildTopology computes the topology view of a snapshot; status may be
// nil. It lists every NVE pair sharing a VN in Tunnels.
func BuildTopology(snap *model.Snapshot, status StatusReporter) wire.Topology {
	return buildTopology(snap, status, false)
}

// BuildAggregatedTopology is BuildTopology without the per-pair Tunnels
// list: VNSpans counts the NVEs, ports and pairs of each VN instead. Its
// size grows with NVEs and ports, never with pairs.
func BuildAggregatedTopology(snap *model.Snapshot, status StatusReporter) wire.Topology {
	return buildTopology(snap, status, true)
}

func buildTopology(snap *model.Snapshot, status StatusReporter, aggregate bool) wire.Topology {
	t := wire.Topology{Revision: snap.Revision, NVEs: []wire.TopologyNVE{}, VNs: snap.SortedVNs(), Ports: snap.SortedPorts()}
	if !aggregate {
		t.Tunnels = []wire.Tunnel{}
	}
	for _, n := range snap.SortedNVEs() {
		v := wire.TopologyNVE{NVEView: wire.NVEView{NVE: n}, VNs: snap.VNsOn(n.Name)}
		if v.VNs == nil {
			v.VNs = []string{}
		}
		if status != nil {
			v.Status = status.NVEStatus(n.Name)
		}
		t.NVEs = append(t.NVEs, v)
		if aggregate {
			continue
		}
		// One tunnel per pair of known NVEs sharing a VN, listed from the
		// first of the pair by name.
		for _, p := range snap.Peers(n.Name) {
			if _, known := snap.NVEs[p.NVE]; known && p.NVE > n.Name {
				t.Tunnels = append(t.Tunnels, wire.Tunnel{A: n.Name, B: p.NVE, VNs: p.VNs})
			}
		}
	}
	t.AccessLinks = BuildAccessLinks(snap) // accesslinks.go
	t.VTEPs = topologyVTEPs(snap, t.NVEs)
	if t.VNs == nil {
		t.VNs = []*model.VN{}
	}
	if t.Ports == nil {
		t.Ports = []*model.Port{}
	}
	t.Learned = sortedLearned(snap, "") // learned.go
	if aggregate {
		t.VNSpans = []wire.VNSpan{}
		for _, vn := range t.VNs {
			n := 0
			for _, nve := range snap.NVEsHosting(vn.Name) {
				if _, known := snap.NVEs[nve]; known {
					n++
				}
			}
			t.VNSpans = append(t.VNSpans, wire.VNSpan{VN: vn.Name, NVEs: n, Ports: len(snap.PortsIn(vn.Name)), Pairs: n * (n - 1) / 2})
		}
	}
	return t
}

// topologyForm parses ?tunnels=: "all" (the default) lists every NVE pair,
// "none" gives the aggregated form.
func topologyForm(r *http.Request) (aggregate bool, err error) {
	switch v := r.URL.Query().Get("tunnels"); v {
	case "", "all":
		return false, nil
	case "none":
		return true, nil
	default:
		return false, badRequest("tunnels", "tunnels must be \"all\" or \"none\", not %q", v)
	}
}

// topology is the topology view served by GET /api/v1/topology and the
// events stream's snapshot.
func (s *Server) topology(ctx context.Context, snap *model.Snapshot, aggregate bool) wire.Topology {
	t := buildTopology(snap, s.statusFor(ctx), aggregate)
	if sw := s.switchesFor(ctx); sw != nil {
		t.UnclaimedSwitches = sw.UnclaimedSwitches()
	}
	return t
}

func (s *Server) handleTopology(w http.ResponseWriter, r *http.Request) {
	aggregate, err := topologyForm(r)
	if err != nil {
		writeError(w, err)
		return
	}
	snap, err := s.snapshot(r)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, s.topology(r.Context(), snap, aggregate))
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
