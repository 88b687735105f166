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
	ictx, icancel := context.WithTimeout(ctx, 5*time.Second)
	defer icancel()
	if err := lead.s.VerifyLeader(ictx); err == nil {
		t.Fatalf("isolated leader %s verified", lead.id)
	}
}
