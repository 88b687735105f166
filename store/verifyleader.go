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
func (s *Store) VerifyLeader(ctx context.Context) error {
	if !s.IsLeader() {
		return raft.ErrNotLeader
	}
	return waitFuture(ctx, s.raft.VerifyLeader())
}
