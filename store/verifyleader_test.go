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

// TestVerifyLeaderSoleVoter: a single-voter cluster's leader verifies
// (without asking Raft's leader loop: a quorum of one), a store that is
// not the leader does not.
func TestVerifyLeaderSoleVoter(t *testing.T) {
	s, err := Open(context.Background(), Config{NodeID: "n1", InMemory: true, Bootstrap: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	waitFor(t, 10*time.Second, "leadership", s.IsLeader)
	if !s.soleVoter() {
		t.Fatal("the bootstrapped node is not its configuration's sole voter")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.VerifyLeader(ctx); err != nil {
		t.Fatalf("sole voter and leader: %v", err)
	}
	f, err := Open(context.Background(), Config{NodeID: "n2", InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.VerifyLeader(ctx); err == nil {
		t.Fatal("a node that is not the leader verified")
	}
}
