package store

import (
	"context"

	"github.com/hashicorp/raft"
)

// VerifyLeader confirms that this node is the Raft leader now, with one
// round of heartbeats acknowledged by a quorum. Unlike IsLeader, which is
// this node's own belief, it fails on a leader that was deposed while it
// could not hear about it (paused, partitioned): a component about to
// write somewhere with no fencing of its own (OVSDB) asks it first.
//
// When this node is the configuration's only voter, Raft's own
// verification answers yes at once (a quorum of one): it is answered here
// without the round trip through Raft's leader loop, which is busy with
// the log (its fsyncs) right after a write, i.e. whenever a write's OVSDB
// transaction asks.
func (s *Store) VerifyLeader(ctx context.Context) error {
	if !s.IsLeader() {
		return raft.ErrNotLeader
	}
	if s.soleVoter() {
		return nil
	}
	return waitFuture(ctx, s.raft.VerifyLeader())
}

// soleVoter reports whether this node is the only voter of the latest
// Raft configuration (read without Raft's leader loop).
func (s *Store) soleVoter() bool {
	f := s.raft.GetConfiguration()
	if f.Error() != nil {
		return false
	}
	voters, self := 0, false
	for _, srv := range f.Configuration().Servers {
		if srv.Suffrage == raft.Voter {
			voters++
			self = self || srv.ID == raft.ServerID(s.cfg.NodeID)
		}
	}
	return voters == 1 && self
}
