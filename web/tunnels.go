package web

import (
	"net/http"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/web/wire"
)

// TunnelReporter supplies tunnel liveness (app/liveness: per NVE pair,
// its paths' BFD states with transition times, the fault) and the VAPs
// nva has signalled down; ok is false on a node that does not hold them
// (not the leader).
type TunnelReporter interface {
	TunnelLiveness() (tunnels []model.TunnelStatus, vaps []model.VAPSignalStatus, ok bool)
}

// handleTunnels answers GET /api/v1/tunnels (admin, operator, reader);
// ?nve=NAME keeps the pairs from or to that NVE and its VAPs.
func (s *Server) handleTunnels(w http.ResponseWriter, r *http.Request) {
	if s.tunnels == nil {
		writeError(w, newAPIError(http.StatusNotImplemented, wire.CodeNotImplemented, "",
			"tunnel liveness is not available on this node (no southbound configured)"))
		return
	}
	ts, vaps, ok := s.tunnels.TunnelLiveness()
	out := wire.Tunnels{Available: ok, Items: []model.TunnelStatus{}, VAPs: []model.VAPSignalStatus{}}
	nve := r.URL.Query().Get("nve")
	for _, t := range ts {
		if nve == "" || t.NVE == nve || t.Remote == nve {
			out.Items = append(out.Items, t)
		}
	}
	for _, v := range vaps {
		if nve == "" || v.NVE == nve {
			out.VAPs = append(out.VAPs, v)
		}
	}
	writeJSON(w, http.StatusOK, out)
}
