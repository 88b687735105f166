package store

import (
	"context"
	"testing"
	"time"
)

// LeaderReady runs one barrier per term: the first call appends a barrier
// entry to the log, later calls in the same term answer without one.
func TestLeaderReadyOneBarrierPerTerm(t *testing.T) {
	s := openMem(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	term, ready, err := s.LeaderReady(ctx)
	if err != nil || !ready || term == 0 || term != s.Term() {
		t.Fatalf("LeaderReady = %d %v %v, want the current term %d, ready", term, ready, err, s.Term())
	}
	last := s.raft.LastIndex()
	for range 3 {
		if term2, ready, err := s.LeaderReady(ctx); err != nil || !ready || term2 != term {
			t.Fatalf("LeaderReady again = %d %v %v", term2, ready, err)
		}
	}
	if got := s.raft.LastIndex(); got != last {
		t.Errorf("later calls in term %d appended %d log entries, want none", term, got-last)
	}
}

// A node that does not lead is never ready, and says so without an error.
func TestLeaderReadyFollower(t *testing.T) {
	cfg := fastConfig(t, "n2")
	cfg.InMemory = true // not bootstrapped: a member-to-be that never leads
	s, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, ready, err := s.LeaderReady(context.Background()); ready || err != nil {
		t.Errorf("LeaderReady on a non-leader: ready %v err %v, want not ready and no error", ready, err)
	}
}
