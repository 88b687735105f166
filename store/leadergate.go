package store

import "context"

// LeaderReady reports whether this node may write to the NVEs now: it is the
// Raft leader and has applied every entry committed before its current term.
// A node that has just won an election (a single node right after a
// restart, typically) is leader while it still replays its log, so its
// Snapshot may lack committed objects; components that write to switches
// (OpenFlow, OVSDB) ask LeaderReady before computing desired state, and a
// half-loaded store never reaches a switch. The same fact lets the leader
// judge a command against its state before proposing it.
//
// The first call in a term runs one Raft barrier (bounded by ctx and the
// apply timeout; the store's own follow loop makes that call right after
// an election); later calls in the same term answer at once. term is the
// current Raft term (the OpenFlow role generation). ready is false with a
// nil error on a follower; err is the barrier's failure otherwise.
func (s *Store) LeaderReady(ctx context.Context) (term uint64, ready bool, err error) {
	term = s.raft.CurrentTerm()
	if !s.IsLeader() {
		return term, false, nil
	}
	if s.currentTerm.Load() == term {
		return term, true, nil
	}
	s.catchMu.Lock()
	defer s.catchMu.Unlock()
	if s.currentTerm.Load() == term {
		return term, true, nil
	}
	if err := s.Barrier(ctx); err != nil {
		return term, false, err
	}
	if !s.IsLeader() || s.raft.CurrentTerm() != term {
		// Leadership changed during the barrier: the next call decides.
		return s.raft.CurrentTerm(), false, nil
	}
	s.currentTerm.Store(term)
	return term, true, nil
}
