package store

import (
	"context"
	"fmt"
	"sort"

	"github.com/hashicorp/raft"
)

// Nodes returns the cluster members' metadata as this node has applied it
// (a local read: no Raft round trip, no probing), ordered by ID. State is
// left empty; Cluster reports live states.
func (s *Store) Nodes() []NodeInfo {
	m := s.fsm.nodes()
	out := make([]NodeInfo, 0, len(m))
	for _, n := range m {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Term returns the node's current Raft term. The OpenFlow southbound uses
// it as the generation ID of its master/slave role requests, so a switch
// refuses a deposed leader.
func (s *Store) Term() uint64 { return s.raft.CurrentTerm() }

// Barrier blocks until this node, as the leader, has applied to its state
// every entry committed before the call (a Raft barrier; it appends one
// log entry). A node that has just won an election — typically a single
// node right after a restart — is leader while it is still replaying the
// log, so its Snapshot may lack committed objects; components that write
// to the NVEs call Barrier once per term (see Term) after winning
// leadership and only then compute desired state from Snapshot. On a
// follower it fails with an error wrapping raft.ErrNotLeader.
func (s *Store) Barrier(ctx context.Context) error {
	if !s.IsLeader() {
		return fmt.Errorf("store: barrier: %w", raft.ErrNotLeader)
	}
	if err := waitFuture(ctx, s.raft.Barrier(timeLeft(ctx, s.cfg.ApplyTimeout))); err != nil {
		return fmt.Errorf("store: barrier: %w", err)
	}
	return nil
}
