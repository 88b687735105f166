package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nva-project/nva/app/model"
)

// TestStoreStopsOnUndecodableCommand: a committed command the node cannot
// decode and may not skip stops it for good: OnFatal runs, Fatal closes,
// Err tells why, the state is frozen, and writes and consistent reads fail
// with the fatal error instead of advancing.
func TestStoreStopsOnUndecodableCommand(t *testing.T) {
	ctx := context.Background()
	fatal := make(chan error, 1)
	cfg := fastConfig(t, "n1")
	cfg.InMemory, cfg.Bootstrap = true, true
	cfg.OnFatal = func(err error) { fatal <- err }
	s, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	waitFor(t, 5*time.Second, "leadership", s.IsLeader)
	reg := prometheus.NewRegistry()
	if err := s.RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateVN(ctx, "", model.VN{Name: "blue"}); err != nil {
		t.Fatal(err)
	}
	if s.Err() != nil {
		t.Fatalf("Err() = %v before anything went wrong", s.Err())
	}

	// An ignorable command from a newer version is skipped and counted.
	if err := s.raft.Apply([]byte{0xfe, 1, '{', '}'}, time.Second).Error(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the skip to be counted", func() bool { return gather(t, reg)["nva_store_skipped_commands_total"] == 1 })

	// One that may not be skipped stops the FSM. (The internal API
	// refuses such bytes; a newer leader's log is how they arrive.)
	frozen := s.AppliedIndex()
	f := s.raft.Apply([]byte{0x7e, 1, '{', '}'}, time.Second)
	if err := f.Error(); err != nil {
		t.Fatal(err)
	}
	var fe *FatalError
	if err, _ := f.Response().(error); !errors.As(err, &fe) || fe.Index != f.Index() || fe.Type != 0x7e || fe.Applied != frozen {
		t.Fatalf("apply response %v", f.Response())
	}
	select {
	case err := <-fatal:
		if err != fe {
			t.Fatalf("OnFatal got %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("OnFatal not called")
	}
	select {
	case <-s.Fatal():
	case <-time.After(5 * time.Second):
		t.Fatal("Fatal() not closed")
	}
	if s.Err() != fe {
		t.Fatalf("Err() = %v", s.Err())
	}
	if got := gather(t, reg)["nva_store_halted"]; got != 1 {
		t.Fatalf("nva_store_halted = %v", got)
	}

	if _, err := s.CreateVN(ctx, "", model.VN{Name: "red"}); !errors.As(err, &fe) {
		t.Fatalf("write on a halted node: %v", err)
	}
	if _, err := s.ConsistentSnapshot(ctx); !errors.As(err, &fe) {
		t.Fatalf("consistent read on a halted node: %v", err)
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.WaitApplied(wctx, f.Index()); !errors.As(err, &fe) {
		t.Fatalf("waiting past the halt: %v", err)
	}
	if s.AppliedIndex() != frozen || s.Snapshot().VNs["red"] != nil || s.Snapshot().VNs["blue"] == nil {
		t.Fatalf("state at %d, want frozen at %d: %+v", s.AppliedIndex(), frozen, s.Snapshot())
	}
	if err := s.raft.Snapshot().Error(); err == nil {
		t.Fatal("a halted node took a snapshot (which would compact the command away)")
	}
}
