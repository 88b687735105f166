package fleet

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/nva-project/nva/ovsdb"
)

// TestManagerConvergesAfterBulkPortInsert plays nva's OVSDB manager against
// the simulated database: a bridge gains 30 VAP ports in one transaction,
// then one more. It was written against libovsdb's in-memory server, which
// kept sets in mutation order and compared them order-sensitively in
// `wait`, so a client cache holding Bridge.ports in another order could
// fail every guard forever (the stuck attaches of the 500-NVE fleet run)
// and the manager had to notice the repeated conflicts and resynchronize.
// The fleet's own server keeps sets sorted and compares them as sets, as
// ovsdb-server does; the test stays as the check that bulk inserts
// converge.
func TestManagerConvergesAfterBulkPortInsert(t *testing.T) {
	_, db := startSimOVSDB(t)

	m := testManager(t)
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
			got := numbered(st, d.Interfaces)
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

// TestManagerRemovesPortsGarbageCollected plays nva's OVSDB manager (its
// own client, ovsdb/rpc) against the simulated database: it builds a
// bridge with VAPs and a tunnel, then drops all but one VAP and the
// tunnel. nva only takes the ports out of Bridge.ports; the server's
// garbage collection must remove the Port rows and their Interfaces, and
// the manager must converge on what its monitor then shows.
func TestManagerRemovesPortsGarbageCollected(t *testing.T) {
	_, db := startSimOVSDB(t)
	m := testManager(t)
	d := ovsdb.Desired{
		NVE: "nve1", Endpoint: db.Endpoint(), Bridge: "br-int", DatapathID: "00004e5600000001",
		Controllers: []string{"tcp:127.0.0.1:1"},
		Tunnels:     []ovsdb.Tunnel{{Name: "nva-vxlan", Type: "vxlan", LocalIP: "192.0.2.1"}},
		Interfaces:  []string{"vap0", "vap1", "vap2", "vap3"},
	}
	ctx := context.Background()
	// names is the interfaces in the database and in Bridge.ports' ports.
	names := func() (stored, reachable []string) {
		db.db.mu.Lock()
		defer db.db.mu.Unlock()
		ifT, portT := db.db.tables["Interface"], db.db.tables["Port"]
		name := ifT.schema.byName["name"]
		for _, r := range ifT.rows {
			stored = append(stored, r.vals[name.idx].keys[0].s)
		}
		for _, br := range db.db.tables["Bridge"].rows {
			for _, pu := range br.vals[db.db.tables["Bridge"].schema.byName["ports"].idx].keys {
				for _, iu := range portT.rows[pu.s].vals[portT.schema.byName["interfaces"].idx].keys {
					reachable = append(reachable, ifT.rows[iu.s].vals[name.idx].keys[0].s)
				}
			}
		}
		slices.Sort(stored)
		slices.Sort(reachable)
		return stored, reachable
	}
	converge := func(want []string) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			st, ok := m.Status("nve1")
			n := numbered(st, d.Interfaces)
			stored, reachable := names()
			if ok && st.BridgeReady && n == len(d.Interfaces) && slices.Equal(stored, want) && slices.Equal(reachable, want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("interfaces stored %v, on the bridge %v, want %v (status %+v)", stored, reachable, want, st)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	m.Sync(ctx, d)
	converge([]string{"br-int", "nva-vxlan", "vap0", "vap1", "vap2", "vap3"})
	d.Tunnels, d.Interfaces = nil, []string{"vap2"}
	m.Sync(ctx, d)
	converge([]string{"br-int", "vap2"})
	if err := db.Err(); err != nil {
		t.Errorf("simulated vswitchd: %v", err)
	}
	db.db.mu.Lock()
	ports := len(db.db.tables["Port"].rows)
	db.db.mu.Unlock()
	if ports != 2 {
		t.Errorf("%d Port rows, want 2", ports)
	}
}

// testManager is nva's OVSDB manager for a test against the simulated
// databases: quiet, quick to retry, closed when t ends.
// numbered counts the interfaces the status gives an ofport.
func numbered(st ovsdb.Status, ifaces []string) int {
	n := 0
	for _, i := range ifaces {
		if st.OFPorts[i] != 0 {
			n++
		}
	}
	return n
}

func testManager(t *testing.T) *ovsdb.Manager {
	m := ovsdb.NewManager(slog.New(slog.NewTextHandler(io.Discard, nil)), func(ovsdb.Status) {},
		ovsdb.WithBackoff(20*time.Millisecond, 200*time.Millisecond))
	t.Cleanup(m.Close)
	return m
}
