package web

import (
	"net/http"
	"slices"
	"strings"

	"github.com/gorilla/mux"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/web/wire"
)

// LearnedReporter supplies the learned-MAC conflicts of a VN ("": every
// VN) and the total number of refused reports (the store).
type LearnedReporter interface {
	LearnedConflicts(vn string) ([]*model.LearnedConflict, uint64)
}

// sortedLearned is snap's learned endpoints of VN vn ("": every VN), by
// VN then MAC.
func sortedLearned(snap *model.Snapshot, vn string) []*model.LearnedEndpoint {
	if vn != "" {
		return slices.Clone(snap.LearnedIn(vn))
	}
	var out []*model.LearnedEndpoint
	for _, name := range snap.LearnedVNs() {
		out = append(out, snap.LearnedIn(name)...)
	}
	return out
}

// tenantLearned is the part of snap's learned endpoints in vns.
func tenantLearned(snap *model.Snapshot, vns map[string]*model.VN) map[string]*model.LearnedEndpoint {
	var out map[string]*model.LearnedEndpoint
	for k, e := range snap.Learned {
		if vns[e.VN] != nil {
			if out == nil {
				out = map[string]*model.LearnedEndpoint{}
			}
			out[k] = e
		}
	}
	return out
}

// learnedReport builds the report of VN vn ("": every VN snap holds).
func (s *Server) learnedReport(w http.ResponseWriter, snap *model.Snapshot, vn string, all bool) {
	if s.learned == nil {
		writeError(w, newAPIError(http.StatusNotImplemented, wire.CodeNotImplemented, "",
			"learned endpoints are not available on this node (no store reporter configured)"))
		return
	}
	out := wire.LearnedReport{VN: vn, Learned: sortedLearned(snap, vn), Conflicts: []*model.LearnedConflict{}}
	if out.Learned == nil {
		out.Learned = []*model.LearnedEndpoint{}
	}
	cs, total := s.learned.LearnedConflicts(vn)
	for _, c := range cs {
		if snap.VNs[c.VN] != nil {
			out.Conflicts = append(out.Conflicts, c)
		}
	}
	slices.SortFunc(out.Conflicts, func(a, b *model.LearnedConflict) int {
		return strings.Compare(model.LearnedKey(a.VN, a.MAC), model.LearnedKey(b.VN, b.MAC))
	})
	if all {
		out.ConflictsTotal = total
	} else {
		for _, c := range out.Conflicts {
			out.ConflictsTotal += c.Count
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// handleVNLearned answers GET /api/v1/vns/{name}/learned (any role; a
// tenant for its own VNs).
func (s *Server) handleVNLearned(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["name"]
	snap, err := s.snapshot(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if _, ok := snap.VNs[name]; !ok {
		writeError(w, newAPIError(http.StatusNotFound, wire.CodeNotFound, "", "vn %q not found", name))
		return
	}
	s.learnedReport(w, snap, name, false)
}

// handleLearned answers GET /api/v1/learned (any role; a tenant sees its
// own VNs' endpoints only).
func (s *Server) handleLearned(w http.ResponseWriter, r *http.Request) {
	snap, err := s.snapshot(r)
	if err != nil {
		writeError(w, err)
		return
	}
	s.learnedReport(w, snap, "", !s.auth.principalFrom(r.Context()).scoped())
}

// learnedInVNs reports whether a learned-endpoint change is of one of vns.
func learnedInVNs(ev model.Change, vns map[string]bool) bool {
	for _, o := range []any{ev.Old, ev.New} {
		if e, ok := o.(*model.LearnedEndpoint); ok && e != nil && vns[e.VN] {
			return true
		}
	}
	return false
}
