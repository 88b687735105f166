package web

import (
	"github.com/nva-project/nva/web/wire"
	"net"
	"net/http"
	"strings"

	"github.com/gorilla/mux"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/store"
)

func clusterView(ci store.ClusterInfo) wire.ClusterView {
	v := wire.ClusterView{Leader: ci.Leader, Term: ci.Term, Nodes: []wire.ClusterNode{}}
	for _, n := range ci.Nodes {
		v.Nodes = append(v.Nodes, wire.ClusterNode{
			ID: n.ID, APIAddr: n.APIAddr, RaftAddr: n.RaftAddr, OpenFlowAddr: n.OpenFlowAddr,
			State: n.State, Voter: n.Voter, Leader: ci.Leader != "" && n.ID == ci.Leader,
		})
	}
	return v
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	h := wire.Health{NodeID: s.nodeID, IsLeader: s.be.IsLeader(), AppliedIndex: s.be.AppliedIndex()}
	ci, err := s.be.Cluster(r.Context())
	if err == nil {
		h.Leader, h.Term = ci.Leader, ci.Term
	} else {
		h.Error = err.Error()
	}
	h.LeaderKnown = h.Leader != ""
	if !h.LeaderKnown {
		h.Status = "no_leader"
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusServiceUnavailable, h)
		return
	}
	h.Status = "ok"
	writeJSON(w, http.StatusOK, h)
}

func (s *Server) handleCluster(w http.ResponseWriter, r *http.Request) {
	ci, err := s.be.Cluster(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, clusterView(ci))
}

func validHostPort(s string) bool {
	h, p, err := net.SplitHostPort(s)
	return err == nil && p != "" && h != ""
}

// validOpenFlowAddr accepts what nva --openflow-advertise does: HOST:PORT
// or an OVS controller target tcp:HOST:PORT / ssl:HOST:PORT.
func validOpenFlowAddr(s string) bool {
	for _, p := range []string{"tcp:", "ssl:"} {
		if rest, ok := strings.CutPrefix(s, p); ok {
			return validHostPort(rest)
		}
	}
	return validHostPort(s)
}

func (s *Server) handleJoin(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	var req wire.ClusterNode
	if err := decodeStrict(body, &req); err != nil {
		writeError(w, err)
		return
	}
	var fe model.FieldErrors
	if !model.ValidName(req.ID) {
		fe.Add("id", "must be 1-63 characters of letters, digits, '_', '.', '-'")
	}
	if !validHostPort(req.RaftAddr) {
		fe.Add("raft_addr", "must be HOST:PORT reachable by the other members")
	}
	if req.OpenFlowAddr != "" && !validOpenFlowAddr(req.OpenFlowAddr) {
		fe.Add("openflow_addr", "must be HOST:PORT, tcp:HOST:PORT or ssl:HOST:PORT")
	}
	if req.State != "" || req.Leader {
		fe.Add("state", "is reported by the cluster and cannot be set")
	}
	if err := fe.Err(); err != nil {
		writeError(w, err)
		return
	}
	node := store.NodeInfo{ID: req.ID, APIAddr: req.APIAddr, RaftAddr: req.RaftAddr, OpenFlowAddr: req.OpenFlowAddr, Voter: true}
	if err := s.be.Join(r.Context(), node); err != nil {
		writeError(w, err)
		return
	}
	if ci, err := s.be.Cluster(r.Context()); err == nil {
		writeJSON(w, http.StatusOK, clusterView(ci))
		return
	}
	writeJSON(w, http.StatusOK, wire.ClusterView{Nodes: []wire.ClusterNode{req}})
}

func (s *Server) handleRemoveNode(w http.ResponseWriter, r *http.Request) {
	id := mux.Vars(r)["id"]
	if err := s.be.RemoveNode(r.Context(), id); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
