package store

import "github.com/nva-project/nva/app/model"

// Recorded is what the request-ID table remembers of one write: the
// result its first application gave.
type Recorded struct {
	// Index is the Raft index the write was applied at.
	Index uint64
	// The object a create or update of one object stored (at most one
	// is set; none for a delete, a batch or a failed write).
	VN   *model.VN
	NVE  *model.NVE
	Port *model.Port
	// Policy is a policy rule write's rule (policy.go).
	Policy *model.PolicyRule
	// L3Gateway: an L3 gateway's create or update (l3gateway.go).
	L3Gateway *model.L3Gateway
	// Err is the domain error the write failed with (nil: it applied).
	Err *model.Error
}

// Recorded returns what this node's request-ID table remembers of the
// write made under reqID (see DedupPolicy), and whether it remembers it.
// It reads the local state: after a consistent read
// (ConsistentSnapshot) it holds every write acknowledged before that read.
//
// A retry needs it when the object a write changed is gone: PATCH merges
// the retried patch into the object its first application stored and
// proposes that again under the same request ID, so the FSM, not the
// caller, decides whether it is the same request (and answers with the
// first result) or another one (409).
func (s *Store) Recorded(reqID string) (Recorded, bool) {
	if reqID == "" {
		return Recorded{}, false
	}
	s.fsm.mu.RLock()
	defer s.fsm.mu.RUnlock()
	e := s.fsm.dedup.byID[reqID]
	if e == nil || e.Result == nil {
		return Recorded{}, false
	}
	r := e.Result
	return Recorded{Index: r.Index, VN: r.VN, NVE: r.NVE, Port: r.Port, Policy: r.Policy, L3Gateway: r.L3Gateway, Err: r.Err}, true
}
