package ofctl

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"
)

// WaitRealizedFor waits only for the listed NVEs: an unrelated NVE stuck
// out of sync neither delays nor fails the wait; a listed one that is
// stuck does, until the deadline, which names it.
func TestWaitRealizedForListedOnly(t *testing.T) {
	s := New(Config{})
	s.snap, s.seen = snap(30, []string{"hv1", "hv2", "hv3", "far"}, nil), 30
	for i, n := range []string{"hv1", "hv2", "hv3", "far"} {
		s.switches[uint64(i+1)] = &worker{sb: s, dpid: uint64(i + 1), nve: n}
	}
	// far is (re)syncing from an old revision and never catches up.
	s.state("far").pending, s.state("far").realized = []uint64{5}, 4
	// hv1 realized the write (revision 30); hv2 is in sync at 30 from
	// before; hv3 realized 30 but has a later change pending.
	s.state("hv1").realized = 30
	s.state("hv2").realized = 29
	s.state("hv3").pending, s.state("hv3").realized = []uint64{31}, 30

	lag, err := s.WaitRealizedFor(context.Background(), 30, []string{"hv1", "hv2", "hv3"})
	if err != nil || lag != nil {
		t.Fatalf("related NVEs realized, far stuck: laggards %v, err %v", lag, err)
	}
	// The unfiltered wait is held up by far (what issue 12 reported).
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	lag, err = s.WaitRealized(ctx, 30)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) || !reflect.DeepEqual(lag, []string{"far"}) {
		t.Fatalf("WaitRealized: %v %v", lag, err)
	}

	// A related NVE stuck below the write's revision: waited for until
	// the deadline, and named; the stuck unrelated one is not.
	s.state("hv2").pending = []uint64{30}
	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Millisecond)
	lag, err = s.WaitRealizedFor(ctx, 30, []string{"hv1", "hv2", "hv3"})
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) || !reflect.DeepEqual(lag, []string{"hv2"}) {
		t.Fatalf("hv2 stuck: laggards %v, err %v", lag, err)
	}

	// A pending revision from before the write on a related NVE that has
	// not realized the write yet also holds it (the write comes after it),
	// and it is released when the NVE catches up.
	done := make(chan []string)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		lag, _ := s.WaitRealizedFor(ctx, 30, []string{"hv2", "far-away-not-connected"})
		done <- lag
	}()
	s.mu.Lock()
	s.state("hv2").pending, s.state("hv2").realized = nil, 31
	s.broadcastLocked()
	s.mu.Unlock()
	if lag := <-done; lag != nil {
		t.Fatalf("hv2 caught up: laggards %v", lag)
	}

	// Before the southbound has seen the write, every listed connected
	// NVE is a laggard (and nothing unlisted).
	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Millisecond)
	lag, err = s.WaitRealizedFor(ctx, 40, []string{"hv1"})
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) || !reflect.DeepEqual(lag, []string{"hv1"}) {
		t.Fatalf("unseen revision: laggards %v, err %v", lag, err)
	}
	// No NVE listed: only the revision must have been seen.
	if lag, err := s.WaitRealizedFor(context.Background(), 30, nil); err != nil || lag != nil {
		t.Fatalf("no NVE listed: %v %v", lag, err)
	}
}
