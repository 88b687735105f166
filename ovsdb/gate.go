package ovsdb

import (
	"context"
	"fmt"
)

// WithWriteGate makes every transaction (ensure and remove) wait for gate
// first and skip the write when it fails; the worker retries after its
// backoff. In a cluster the gate confirms that this node still leads
// (store.VerifyLeader): OVSDB has no generation ID like OpenFlow's master
// role, so without it a leader that was paused (SIGSTOP, a stalled VM)
// and continues believing it leads would write its stale desired state
// (e.g. delete a port its successor just attached) until it noticed.
func WithWriteGate(gate func(ctx context.Context) error) Option {
	return func(m *Manager) { m.writeGate = gate }
}

// gate runs the write gate, if any.
func (m *Manager) gate(ctx context.Context) error {
	if m.writeGate == nil {
		return nil
	}
	if err := m.writeGate(ctx); err != nil {
		return fmt.Errorf("not writing: %w", err)
	}
	return nil
}
