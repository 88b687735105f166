package store

import (
	"context"
	"errors"

	"github.com/hashicorp/raft"
)

// Callers above the store classify its errors with these functions, so the
// Raft library's error values stay inside this package.

// IsNoLeader reports whether err means that no leader (or no quorum) could
// take the request: the caller may retry, on this node or another.
func IsNoLeader(err error) bool {
	return errors.Is(err, ErrNoLeader) || errors.Is(err, raft.ErrNotLeader) ||
		errors.Is(err, raft.ErrLeadershipLost) || errors.Is(err, raft.ErrLeadershipTransferInProgress)
}

// IsClosed reports whether err means that this node is shutting down, or
// that its state machine stopped for good (a *FatalError: the node must be
// upgraded); either way another member may serve the request.
func IsClosed(err error) bool {
	var fe *FatalError
	return errors.Is(err, ErrClosed) || errors.Is(err, raft.ErrRaftShutdown) || errors.As(err, &fe)
}

// IsTimeout reports whether err means that the cluster did not commit the
// request in time (it may still be applied; retry with the same request ID).
func IsTimeout(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, raft.ErrEnqueueTimeout)
}
