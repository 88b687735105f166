package fleet

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nva-project/nva/ovsdb"
)

// benchDesired is an NVE of the scale harness's layout as nva's OVSDB
// manager gets it: the bridge with its controller, a tunnel and 20 VAPs.
func benchDesired(endpoint string) ovsdb.Desired {
	vaps := make([]string, 20)
	for i := range vaps {
		vaps[i] = fmt.Sprintf("vap%02d", i)
	}
	return ovsdb.Desired{
		NVE: "nve1", Endpoint: endpoint, Bridge: "br-int", DatapathID: "00004e5600000001",
		Controllers: []string{"tcp:127.0.0.1:1"},
		Tunnels:     []ovsdb.Tunnel{{Name: "nva-vxlan", Type: "vxlan", LocalIP: "192.0.2.1"}},
		Interfaces:  vaps,
	}
}

// syncOnce runs a fresh manager (a new session, as nva after a start)
// until it reports the bridge ready with every VAP numbered.
func syncOnce(tb testing.TB, d ovsdb.Desired) {
	tb.Helper()
	done := make(chan struct{})
	var once sync.Once
	m := ovsdb.NewManager(slog.New(slog.NewTextHandler(io.Discard, nil)), func(st ovsdb.Status) {
		if !st.BridgeReady {
			return
		}
		for _, v := range d.Interfaces {
			if st.OFPorts[v] == 0 {
				return
			}
		}
		once.Do(func() { close(done) })
	}, ovsdb.WithBackoff(20*time.Millisecond, 200*time.Millisecond))
	defer m.Close()
	m.Sync(context.Background(), d)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		st, _ := m.Status(d.NVE)
		tb.Fatalf("not converged: %+v", st)
	}
}

// BenchmarkOVSDBSyncNVE is one simulated hypervisor's OVSDB part of the
// scale harness's initial sync: a fresh database and switch, nva's OVSDB
// manager creating the bridge, the simulated vswitchd numbering the
// interfaces, until nva sees every ofport. Allocations and time count
// both sides (server and nva's client): compare before and after with
// -benchmem.
func BenchmarkOVSDBSyncNVE(b *testing.B) {
	dir := b.TempDir()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		sw := NewSwitch(0, SwitchOptions{Bundles: true, ProbeInterval: -1})
		db, err := StartOVSDB(filepath.Join(dir, fmt.Sprintf("db%d.sock", i)), sw)
		if err != nil {
			b.Fatal(err)
		}
		syncOnce(b, benchDesired(db.Endpoint()))
		db.Close()
		sw.Close()
	}
}

// BenchmarkOVSDBResyncNVE is the OVSDB part of a warm restart of nva: a
// new session to a database that already holds the NVE's bridge reads it
// (get_schema, monitor) and finds nothing to change.
func BenchmarkOVSDBResyncNVE(b *testing.B) {
	sw := NewSwitch(0, SwitchOptions{Bundles: true, ProbeInterval: -1})
	defer sw.Close()
	db, err := StartOVSDB(filepath.Join(b.TempDir(), "db.sock"), sw)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	d := benchDesired(db.Endpoint())
	syncOnce(b, d)
	b.ReportAllocs()
	for b.Loop() {
		syncOnce(b, d)
	}
}
