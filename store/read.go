package store

import (
	"context"
	"fmt"
	"maps"
	"sync"

	"github.com/hashicorp/raft"

	"github.com/nva-project/nva/app/model"
)

// AppliedIndex is the raft index of the last command applied to this node's
// state (the revision of Snapshot()).
func (s *Store) AppliedIndex() uint64 { return s.fsm.appliedIndex() }

// WaitApplied blocks until this node has applied index (or ctx ends). On
// a node whose FSM has halted below index it fails with that *FatalError.
func (s *Store) WaitApplied(ctx context.Context, index uint64) error {
	for {
		cur, ch := s.fsm.waitChan()
		if cur >= index {
			return nil
		}
		if err := s.fsm.err(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for index %d (applied %d): %w", index, cur, ctx.Err())
		case <-s.ctx.Done():
			return ErrClosed
		case <-ch:
		}
	}
}

// Snapshot returns the local state: immutable and self-consistent, at
// revision AppliedIndex(). It may lag the leader; see ConsistentSnapshot.
func (s *Store) Snapshot() *model.Snapshot { return s.fsm.snapshot() }

// SnapshotAndWatch returns the local snapshot at revision N and a channel
// carrying every change with index > N, in order, with no gaps. The channel
// is closed when ctx ends or the store closes. A consumer that falls more
// than a few thousand events behind (or a node that installs a snapshot from
// the leader) gets a single Event{Kind: "reset"}, after which the channel is
// closed: call SnapshotAndWatch again and rebuild from the new snapshot.
func (s *Store) SnapshotAndWatch(ctx context.Context) (*model.Snapshot, <-chan Event) {
	return s.fsm.snapshotAndWatch(ctx)
}

// ConsistentSnapshot returns a snapshot that reflects every write
// acknowledged before the call (linearizable read): on the leader after
// VerifyLeader and a Barrier; on a follower after asking the leader for its
// verified applied index (read index) and waiting to apply up to it.
func (s *Store) ConsistentSnapshot(ctx context.Context) (*model.Snapshot, error) {
	var idx uint64
	err := s.withLeader(ctx, "consistent read",
		func(ctx context.Context) error {
			var err error
			idx, err = s.leaderReadIndex(ctx)
			return err
		},
		func(ctx context.Context, api string) error {
			var err error
			idx, err = s.forwardReadIndex(ctx, api)
			return err
		})
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, s.cfg.ApplyTimeout)
	defer cancel()
	if err := s.WaitApplied(wctx, idx); err != nil {
		if ctx.Err() == nil && wctx.Err() != nil {
			return nil, fmt.Errorf("consistent read: %w: not caught up with the leader's index %d within %s", ErrNoLeader, idx, s.cfg.ApplyTimeout)
		}
		return nil, err
	}
	return s.Snapshot(), nil
}

func (s *Store) leaderReadIndex(ctx context.Context) (uint64, error) {
	if !s.IsLeader() {
		return 0, raft.ErrNotLeader
	}
	if err := waitFuture(ctx, s.raft.VerifyLeader()); err != nil {
		return 0, err
	}
	if err := waitFuture(ctx, s.raft.Barrier(timeLeft(ctx, s.cfg.ApplyTimeout))); err != nil {
		return 0, err
	}
	return s.fsm.appliedIndex(), nil
}

// catchUp waits (at most ApplyTimeout) until this node has applied index, so
// that a caller reading this node right after a forwarded change sees it.
// The change is committed either way; a lagging node only logs.
func (s *Store) catchUp(ctx context.Context, index uint64) {
	wctx, cancel := context.WithTimeout(ctx, s.cfg.ApplyTimeout)
	defer cancel()
	if err := s.WaitApplied(wctx, index); err != nil {
		s.log.Debug("local state lags a committed change", "index", index, "err", err)
	}
}

// viewState is what the FSM needs to make each snapshot from the last one
// instead of from scratch: the last snapshot, and the names of the VNs,
// NVEs and ports changed since (every change the FSM applies publishes an
// event naming it; a command that fails, and a batch the leader only
// checks, leave the state as it was). A snapshot copies the state's map of
// VNs or NVEs only when that kind changed, and shares the last snapshot's
// map otherwise; its ports table and its index are derived from the last
// one's for the changed names (model.Snapshot.Derive), sharing every part
// they do not touch.
type viewState struct {
	// mu serializes the making of snapshots, which runs under the FSM's
	// read lock; changed and reset run under its write lock, so never
	// beside it.
	mu   sync.Mutex
	last *model.Snapshot
	ch   model.Changed
	// learnedGen is the learned state's gen the last snapshot copied.
	learnedGen uint64
}

// maxViewChanges bounds the names recorded between two snapshots: past
// it (no one has read a snapshot for that long) the next snapshot is made
// from scratch, which a change that large would cost anyway.
const maxViewChanges = 1 << 15

// changed records an applied change (f.mu held for writing, so no
// snapshot is being made).
func (v *viewState) changed(ev Event) {
	if v.last == nil {
		return // the next snapshot is made from scratch
	}
	if len(v.ch.VNs)+len(v.ch.NVEs)+len(v.ch.Ports) >= maxViewChanges {
		v.last, v.ch = nil, model.Changed{}
		return
	}
	switch ev.Kind {
	case KindVN:
		v.ch.VNs = append(v.ch.VNs, ev.Name)
	case KindNVE:
		v.ch.NVEs = append(v.ch.NVEs, ev.Name)
	case KindPort:
		v.ch.Ports = append(v.ch.Ports, ev.Name)
	}
}

// reset forgets the last snapshot: the state was replaced (Restore).
func (v *viewState) reset() {
	v.mu.Lock()
	v.last, v.ch = nil, model.Changed{}
	v.mu.Unlock()
}

// snapshotLocked returns the current snapshot, made at most once per
// applied change (f.mu held, for reading or writing).
func (f *fsm) snapshotLocked() *model.Snapshot {
	if s := f.cache.Load(); s != nil {
		return s
	}
	v := &f.views
	v.mu.Lock()
	defer v.mu.Unlock()
	if s := f.cache.Load(); s != nil {
		return s // another reader made it meanwhile
	}
	s := makeSnapshot(v.last, f.applied, f.st, v.ch)
	// The learned endpoints (learned.go): copied when they changed.
	if v.last != nil && v.learnedGen == f.st.learned.gen {
		s.Learned = v.last.Learned
	} else if len(f.st.learned.byKey) > 0 {
		s.Learned = maps.Clone(f.st.learned.byKey)
	}
	v.learnedGen = f.st.learned.gen
	v.last, v.ch = s, model.Changed{}
	f.cache.Store(s)
	return s
}

// makeSnapshot returns st as a snapshot at revision rev, given the last
// snapshot (nil: none) and the names changed since: the maps of the kinds
// that changed are copies of st's, the others the last snapshot's.
func makeSnapshot(last *model.Snapshot, rev uint64, st *state, ch model.Changed) *model.Snapshot {
	s := makeObjectSnapshot(last, rev, st, ch)
	s.Policies = st.policies.byName   // never changed once built (policy.go)
	s.L3Gateways = l3GatewaysView(st) // (l3gateway.go)
	return s
}

func makeObjectSnapshot(last *model.Snapshot, rev uint64, st *state, ch model.Changed) *model.Snapshot {
	if last == nil {
		return model.NewSnapshot(rev, maps.Clone(st.vns), maps.Clone(st.nves), st.ports)
	}
	vns, nves := last.VNs, last.NVEs
	if len(ch.VNs) > 0 {
		vns = maps.Clone(st.vns)
	}
	if len(ch.NVEs) > 0 {
		nves = maps.Clone(st.nves)
	}
	// The ports are the last snapshot's table edited for the changed
	// names (Derive reads only those of st.ports).
	return last.Derive(rev, vns, nves, st.ports, ch)
}
