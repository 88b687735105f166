package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nva-project/nva/app/model"
)

// A node restarted from disk is leader before it has replayed its log;
// after Barrier its snapshot holds every object committed before.
func TestBarrierAfterRestartSeesEverything(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	open := func() *Store {
		cfg := fastConfig(t, "n1")
		cfg.DataDir, cfg.RaftAddr, cfg.Bootstrap = dir, "127.0.0.1:0", true
		cfg.APIAddr = "http://127.0.0.1:1"
		s, err := Open(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open()
	waitFor(t, 5*time.Second, "leadership", s.IsLeader)
	if _, err := s.CreateVN(ctx, "", model.VN{Name: "blue", VNI: 42}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateNVE(ctx, "", testNVE("hv1", "192.0.2.1")); err != nil {
		t.Fatal(err)
	}
	const n = 40
	for i := range n {
		p := model.Port{Name: fmt.Sprintf("vm%d", i), VN: "blue", NVE: "hv1", Interface: fmt.Sprintf("tap%d", i), MAC: fmt.Sprintf("02:00:00:00:01:%02x", i)}
		if _, err := s.CreatePort(ctx, "", p); err != nil {
			t.Fatal(err)
		}
	}
	want := s.Snapshot().Revision
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open()
	defer s.Close()
	waitFor(t, 5*time.Second, "leadership after the restart", s.IsLeader)
	bctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.Barrier(bctx); err != nil {
		t.Fatal(err)
	}
	snap := s.Snapshot()
	if snap.Ports.Len() != n || snap.Revision < want {
		t.Fatalf("after the barrier: %d ports at revision %d; want %d ports at revision >= %d", snap.Ports.Len(), snap.Revision, n, want)
	}
}
