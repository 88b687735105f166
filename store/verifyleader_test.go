package store

import (
	"context"
	"testing"
	"time"
)

// TestVerifyLeader: the leader verifies; a follower does not; a leader cut
// off from both followers fails to verify, even while it still believes
// it leads.
func TestVerifyLeader(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test skipped in -short mode")
	}
	c := newLinCluster(t)
	ctx := context.Background()
	var lead *testNode
	waitFor(t, 10*time.Second, "a leader", func() bool { lead = c.leader(); return lead != nil })
	vctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := lead.s.VerifyLeader(vctx); err != nil {
		t.Fatalf("leader %s: %v", lead.id, err)
	}
	for _, n := range c.nodes {
		if n != lead {
			if err := n.s.VerifyLeader(vctx); err == nil {
				t.Fatalf("follower %s verified as leader", n.id)
			}
		}
	}
	c.faults.Isolate(lead.raftAddr, c.raftAddrs()...)
	defer c.faults.Heal()
	// Raft counts a heartbeat acknowledgement that was already on its way
	// when the verification began (its response read before the cut):
	// the first verification after the cut may pass on that, the next
	// cannot, since every acknowledgement after it needs a connection the
	// cut refuses.
	var err error
	for i := 0; i < 2; i++ {
		ictx, icancel := context.WithTimeout(ctx, 5*time.Second)
		err = lead.s.VerifyLeader(ictx)
		icancel()
		if err != nil {
			break
		}
	}
	if err == nil {
		t.Fatalf("isolated leader %s verified twice", lead.id)
	}
}
