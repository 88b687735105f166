package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// errRetry marks an error after which the operation may be retried against
// the (possibly new) leader.
type errRetry struct{ err error }

func (e errRetry) Error() string { return e.err.Error() }
func (e errRetry) Unwrap() error { return e.err }

// errMaybeApplied marks a failure after the command reached a leader's log:
// it may still be committed once a quorum is back. Retrying is safe (the
// request ID makes the FSM apply it once).
type errMaybeApplied struct{ err error }

func (e errMaybeApplied) Error() string { return e.err.Error() }
func (e errMaybeApplied) Unwrap() error { return e.err }

func maybeApplied(err error) bool {
	var m errMaybeApplied
	return errors.As(err, &m)
}

func retryable(err error) bool {
	var r errRetry
	return errors.As(err, &r) || maybeApplied(err) ||
		errors.Is(err, raft.ErrNotLeader) ||
		errors.Is(err, raft.ErrLeadershipLost) ||
		errors.Is(err, raft.ErrLeadershipTransferInProgress) ||
		errors.Is(err, raft.ErrEnqueueTimeout) ||
		errors.Is(err, raft.ErrAbortedByRestore)
}

func timeLeft(ctx context.Context, def time.Duration) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		if d := time.Until(dl); d > 0 {
			return d
		}
		return time.Millisecond
	}
	return def
}

// waitFuture waits for a raft future or ctx.
func waitFuture(ctx context.Context, f raft.Future) error {
	ch := make(chan error, 1)
	go func() { ch <- f.Error() }()
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return errRetry{ctx.Err()}
	}
}

// withLeader runs local (when this node leads) or remote (with the leader's
// API address) until one succeeds, fails for good, or ApplyTimeout passes
// (ErrNoLeader).
func (s *Store) withLeader(ctx context.Context, what string, local func(context.Context) error, remote func(context.Context, string) error) error {
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ApplyTimeout)
	defer cancel()
	last := errors.New("no leader elected")
	maybe, leading := false, false
	backoff := 10 * time.Millisecond
	for {
		if s.ctx.Err() != nil {
			return ErrClosed
		}
		if err := s.fsm.err(); err != nil {
			return err // a halted node neither writes nor reads consistently
		}
		changed := s.leaderChanged()
		var err error
		leading = s.IsLeader()
		if leading {
			err = local(ctx)
		} else if id, api := s.leaderAPI(); api != "" {
			err = remote(ctx, api)
		} else if id != "" {
			err = errRetry{fmt.Errorf("leader %s has no known API address yet", id)}
		} else {
			err = errRetry{errors.New("no leader elected")}
		}
		if err == nil {
			return nil
		}
		if errors.Is(err, raft.ErrRaftShutdown) {
			return ErrClosed
		}
		if !retryable(err) {
			return err
		}
		maybe = maybe || maybeApplied(err)
		if ctx.Err() == nil || !errors.Is(err, context.DeadlineExceeded) {
			last = err
		}
		select {
		case <-ctx.Done():
			note := ""
			if maybe {
				note = "; the write reached a leader's log and may still be applied when a quorum is back (retrying with the same request ID is safe)"
			}
			if errors.Is(parent.Err(), context.Canceled) {
				return fmt.Errorf("%s: %w%s", what, parent.Err(), note)
			}
			if leading && errors.Is(err, context.DeadlineExceeded) {
				// This node led all along: the cluster was too slow to
				// commit (busy, or a follower quorum lagging), not
				// leaderless.
				return fmt.Errorf("%s: not committed within %s although this node leads: %w%s", what, s.cfg.ApplyTimeout, context.DeadlineExceeded, note)
			}
			return fmt.Errorf("%s: %w within %s (last: %v)%s", what, ErrNoLeader, s.cfg.ApplyTimeout, last, note)
		case <-s.ctx.Done():
			return ErrClosed
		case <-changed:
		case <-time.After(backoff):
		}
		if backoff < 200*time.Millisecond {
			backoff *= 2
		}
	}
}

// propose commits an encoded command through the leader and returns its
// result. Retries after a leader change are safe because the request ID
// makes the FSM apply a command once.
func (s *Store) propose(ctx context.Context, data []byte) (*result, error) {
	start := time.Now()
	var res *result
	err := s.withLeader(ctx, "write",
		func(ctx context.Context) error {
			var err error
			res, err = s.applyAsLeader(ctx, data)
			return err
		},
		func(ctx context.Context, api string) error {
			var err error
			res, err = s.forwardApply(ctx, api, data)
			return err
		})
	if err != nil {
		return nil, err
	}
	if res.Err == nil {
		// Read your writes: a caller that reads this node next sees it.
		s.catchUp(ctx, res.Index)
	}
	s.applyLatency.Observe(time.Since(start).Seconds())
	return res, nil
}

// applyAsLeader appends data to the raft log on this node, which must be
// the leader, and waits for it to be applied. It first verifies leadership
// with a quorum so that a leader cut off from its peers does not append a
// write it cannot commit, then rejects early what the FSM would reject
// (see rejectEarly).
func (s *Store) applyAsLeader(ctx context.Context, data []byte) (*result, error) {
	if !s.IsLeader() {
		return nil, raft.ErrNotLeader
	}
	if err := s.fsm.err(); err != nil {
		return nil, err
	}
	if err := waitFuture(ctx, s.raft.VerifyLeader()); err != nil {
		return nil, err
	}
	if e := s.rejectEarly(data); e != nil {
		return &result{Index: s.AppliedIndex(), Err: e}, nil
	}
	f := s.raft.Apply(data, timeLeft(ctx, s.cfg.ApplyTimeout))
	if err := waitFuture(ctx, f); err != nil {
		if errors.Is(err, raft.ErrRaftShutdown) || errors.Is(err, raft.ErrEnqueueTimeout) {
			return nil, err
		}
		return nil, errMaybeApplied{fmt.Errorf("commit: %w", err)}
	}
	switch r := f.Response().(type) {
	case *result:
		return r, nil
	case error:
		return nil, r
	case nil:
		return &result{Index: f.Index()}, nil // a skipped (ignorable) command
	default:
		return nil, fmt.Errorf("unexpected apply response %T", r)
	}
}
