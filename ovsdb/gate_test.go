package ovsdb

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"
)

// TestWriteGate: while the gate refuses (a deposed leader), the manager
// writes nothing, reports why, and keeps retrying; once it allows, the
// bridge is configured.
func TestWriteGate(t *testing.T) {
	l := newOVSLab(t)
	log := &statusLog{}
	var open atomic.Bool
	var asked atomic.Int64
	gate := func(ctx context.Context) error {
		asked.Add(1)
		if !open.Load() {
			return errors.New("not the leader")
		}
		return nil
	}
	m := NewManager(slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo})), log.record,
		WithBackoff(50*time.Millisecond, 200*time.Millisecond), WithProbeInterval(time.Second), WithWriteGate(gate))
	t.Cleanup(m.Close)
	d := labDesired(l)
	d.Interfaces = nil
	m.Sync(context.Background(), d)
	waitFor(t, waitLong, "the gate asked twice and the refusal reported", func() (bool, string) {
		st, _ := m.Status("hv1")
		return asked.Load() >= 2 && st.LastError != "", st.LastError
	})
	if _, err := l.TryVsctl("br-exists", "br-nva"); err == nil {
		t.Fatal("the bridge was created although the write gate refused")
	}
	open.Store(true)
	waitReady(t, m, "hv1", "nva-vxlan")
}
