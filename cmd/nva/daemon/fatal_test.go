package daemon

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"
)

// The daemon stops with the store's fatal error when its state machine
// halts (a committed command this binary cannot decode: the store's own
// tests, e.g. TestStoreStopsOnUndecodableCommand, close Fatal() then), so
// nva exits 1 instead of serving a frozen state; it stops cleanly on
// cancel, and with the server's error when the API server fails.
func TestWaitForStop(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	halt := errors.New("store: cannot apply the command at raft index 9: upgrade this node")

	fatal := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- waitForStop(context.Background(), log, make(chan error), fatal, func() error { return halt })
	}()
	select {
	case err := <-done:
		t.Fatalf("returned %v before anything happened", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(fatal)
	if err := <-done; !errors.Is(err, halt) {
		t.Fatalf("after the store halted: %v, want its fatal error", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := waitForStop(ctx, log, make(chan error), make(chan struct{}), func() error { return halt }); err != nil {
		t.Fatalf("on cancel: %v, want nil", err)
	}

	serveErr := make(chan error, 1)
	boom := errors.New("accept: too many open files")
	serveErr <- boom
	if err := waitForStop(context.Background(), log, serveErr, make(chan struct{}), func() error { return halt }); !errors.Is(err, boom) {
		t.Fatalf("on a server failure: %v, want it", err)
	}
}
