package fleet

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/nva-project/nva/ovsdb"
)

// TestManagerConvergesAfterBulkPortInsert plays nva's OVSDB manager against
// the simulated database: a bridge gains 30 VAP ports in one transaction,
// then one more. libovsdb's client applies a multi-element set difference
// in map order while its in-memory server keeps mutation order, and the
// server's `wait` compares sets order-sensitively, so the cache's copy of
// Bridge.ports can fail every guard forever (the stuck attaches of the
// 500-NVE fleet run). The manager must notice the repeated conflicts,
// resynchronize its cache and converge.
func TestManagerConvergesAfterBulkPortInsert(t *testing.T) {
	sw := NewSwitch(0, SwitchOptions{Bundles: true, ProbeInterval: -1})
	defer sw.Close()
	db, err := StartOVSDB(filepath.Join(t.TempDir(), "db.sock"), sw)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	m := ovsdb.NewManager(slog.New(slog.NewTextHandler(io.Discard, nil)), func(ovsdb.Status) {},
		ovsdb.WithBackoff(20*time.Millisecond, 200*time.Millisecond))
	defer m.Close()
	d := ovsdb.Desired{
		NVE: "nve1", Endpoint: db.Endpoint(), Bridge: "br-int", DatapathID: "00004e5600000001",
		Controllers: []string{"tcp:127.0.0.1:1"},
	}
	ctx := context.Background()
	ready := func(n int) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			st, ok := m.Status("nve1")
			got := 0
			for _, i := range d.Interfaces {
				if st.OFPorts[i] != 0 {
					got++
				}
			}
			if ok && st.BridgeReady && got == n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d interfaces have an ofport (status %+v)", got, n, st)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	m.Sync(ctx, d)
	ready(0)
	for round := 0; round < 3; round++ {
		base := len(d.Interfaces)
		for i := 0; i < 30; i++ {
			d.Interfaces = append(d.Interfaces, fmt.Sprintf("vap%03d", base+i))
		}
		m.Sync(ctx, d)
		ready(len(d.Interfaces))
		d.Interfaces = append(d.Interfaces, fmt.Sprintf("vap%03d", len(d.Interfaces)))
		m.Sync(ctx, d)
		ready(len(d.Interfaces))
	}
}
