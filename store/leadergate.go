package store

import (
	"context"
	"sync"
)

// leaderGate remembers the Raft term in which this node, as leader, has
// applied everything committed before that term (one barrier per term).
type leaderGate struct {
	mu        sync.Mutex // held across the barrier: concurrent callers share it
	readyTerm uint64
}

// LeaderReady reports whether this node may write to the NVEs now: it is the
// Raft leader and has applied every entry committed before its current term.
// A node that has just won an election (a single node right after a
// restart, typically) is leader while it still replays its log, so its
// Snapshot may lack committed objects; components that write to switches
// (OpenFlow, OVSDB) ask LeaderReady before computing desired state, and a
// half-loaded store never reaches a switch.
//
// The first call in a term runs one Raft barrier (bounded by ctx and the
// apply timeout); later calls in the same term answer at once. term is the
// current Raft term (the OpenFlow role generation). ready is false with a
// nil error on a follower; err is the barrier's failure otherwise.
func (s *Store) LeaderReady(ctx context.Context) (term uint64, ready bool, err error) {
	if !s.IsLeader() {
		return s.Term(), false, nil
	}
	term = s.Term()
	s.gate.mu.Lock()
	defer s.gate.mu.Unlock()
	if s.gate.readyTerm == term {
		return term, true, nil
	}
	if err := s.Barrier(ctx); err != nil {
		return term, false, err
	}
	if s.Term() != term {
		// Leadership changed during the barrier: the next call decides.
		return s.Term(), false, nil
	}
	s.gate.readyTerm = term
	return term, true, nil
}
