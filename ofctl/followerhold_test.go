package ofctl

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// flowReadCount is how many flow-stats requests the bridge has answered.
func (b *fakeBridge) flowReadCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.flowReads
}

// A follower reads a switch a burst of changes concerns once per gap, not
// once per change; a write on the follower that waits for the NVE to be
// realized has the switch read at once.
func TestFollowerHoldsReadsUntilGapOrWaiter(t *testing.T) {
	addr := "unix:" + filepath.Join(t.TempDir(), "of.sock")
	br := newFakeBridge(t, 1, map[uint32]string{1: "v1", 100: "nva-vxlan"})
	src := newFakeStore(overlaySnap(10, false), false)
	// A gap far longer than the test: only a waiter releases a held read.
	f, _ := startLogged(t, src, Config{ListenAddr: addr, FollowerObserveGap: time.Hour}, nil)
	br.connect(addr)
	waitCond(t, 5*time.Second, "the follower's first read of hv1", func() bool { return br.flowReadCount() >= 1 })
	waitCond(t, 5*time.Second, "the follower's first observation done", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		w := f.workerFor("hv1")
		return w != nil && !w.lastObserve.IsZero() && !w.running && !w.queued
	})
	reads := br.flowReadCount()
	for rev := uint64(11); rev <= 15; rev++ {
		src.set(overlaySnap(rev, rev%2 == 1))
	}
	waitCond(t, 5*time.Second, "the changes seen and their run held", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		w := f.workerFor("hv1")
		return f.seen == 15 && w != nil && w.held && !w.running && !w.queued
	})
	if got := br.flowReadCount(); got != reads {
		t.Fatalf("the follower read hv1 %d more times during its gap", got-reads)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _, _ = f.WaitRealizedFor(ctx, 15, []string{"hv1"}) }()
	waitCond(t, 5*time.Second, "a read for the waiting write", func() bool { return br.flowReadCount() > reads })
}

// Without a waiter, a held read happens at the end of the gap, and not
// before it.
func TestFollowerReadsAfterGap(t *testing.T) {
	const gap = 100 * time.Millisecond
	addr := "unix:" + filepath.Join(t.TempDir(), "of.sock")
	br := newFakeBridge(t, 1, map[uint32]string{1: "v1", 100: "nva-vxlan"})
	src := newFakeStore(overlaySnap(10, false), false)
	f, _ := startLogged(t, src, Config{ListenAddr: addr, FollowerObserveGap: gap}, nil)
	br.connect(addr)
	lastObserve := func() time.Time {
		f.mu.Lock()
		defer f.mu.Unlock()
		if w := f.workerFor("hv1"); w != nil && !w.running && !w.queued {
			return w.lastObserve
		}
		return time.Time{}
	}
	waitCond(t, 5*time.Second, "the follower's first observation done", func() bool { return !lastObserve().IsZero() })
	first, reads := lastObserve(), br.flowReadCount()
	src.set(overlaySnap(11, true))
	waitCond(t, 5*time.Second, "a read after the gap", func() bool { return br.flowReadCount() > reads })
	waitCond(t, 5*time.Second, "its observation done", func() bool { return lastObserve().After(first) })
	// Every read after the first waits for the gap (a pending NVE's
	// retries too), so the next observation ends at least a gap later.
	if d := lastObserve().Sub(first); d < gap {
		t.Fatalf("the follower read hv1 again %v after its last read, within the %v gap", d, gap)
	}
}
