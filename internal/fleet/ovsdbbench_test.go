package fleet

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
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
	_, db := startSimOVSDB(b)
	d := benchDesired(db.Endpoint())
	syncOnce(b, d)
	b.ReportAllocs()
	for b.Loop() {
		syncOnce(b, d)
	}
}

// BenchmarkDBTransactPorts is the server alone: a transact request adding
// 20 ports with their interfaces to a bridge (named UUIDs, a mutation of
// Bridge.ports), decoded, run, committed and sent to a monitor of the
// columns nva monitors; then one dropping them all again (garbage
// collection), as an iteration.
func BenchmarkDBTransactPorts(b *testing.B) {
	schema, err := vswitchSchema()
	if err != nil {
		b.Fatal(err)
	}
	db := newMemDB(schema)
	path := filepath.Join(b.TempDir(), "db.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		b.Fatal(err)
	}
	srv := serveDB(db, ln, nil, nil)
	defer srv.close()
	c, err := net.Dial("unix", path)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	go func() { _, _ = io.Copy(io.Discard, c) }()
	monitor := `{"id":"m","method":"monitor","params":["Open_vSwitch","nva",{` +
		`"Open_vSwitch":{"columns":["bridges"]},` +
		`"Bridge":{"columns":["name","ports","controller","datapath_type","fail_mode","protocols","other_config","external_ids"]},` +
		`"Port":{"columns":["name","interfaces","external_ids"]},` +
		`"Interface":{"columns":["name","type","options","ofport","link_state","error","external_ids","bfd","bfd_status"]}}]}`
	if _, err := c.Write([]byte(monitor)); err != nil {
		b.Fatal(err)
	}
	if err := db.edit(nil, func(t *txn) error {
		br, err := t.insert(db.tables["Bridge"], newUUID(), nil)
		if err != nil {
			return err
		}
		_, err = t.insert(db.tables["Open_vSwitch"], newUUID(), func(vals []datum) *dbError {
			vals[db.tables["Open_vSwitch"].schema.byName["bridges"].idx] = datum{keys: []atom{{s: br.uuid}}}
			return nil
		})
		if err != nil {
			return err
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	var add strings.Builder
	add.WriteString(`{"id":1,"method":"transact","params":["Open_vSwitch"`)
	var names []string
	for i := 0; i < 20; i++ {
		fmt.Fprintf(&add, `,{"op":"insert","table":"Interface","row":{"name":"vap%02d","external_ids":["map",[["nva-owned","true"]]]},"uuid-name":"nva_row%d"}`, i, 2*i)
		fmt.Fprintf(&add, `,{"op":"insert","table":"Port","row":{"name":"vap%02d","interfaces":["named-uuid","nva_row%d"],"external_ids":["map",[["nva-owned","true"]]]},"uuid-name":"nva_row%d"}`, i, 2*i, 2*i+1)
		names = append(names, fmt.Sprintf(`["named-uuid","nva_row%d"]`, 2*i+1))
	}
	fmt.Fprintf(&add, `,{"op":"mutate","table":"Bridge","where":[],"mutations":[["ports","insert",["set",[%s]]]]}]}`, strings.Join(names, ","))
	drop := []byte(`{"id":2,"method":"transact","params":["Open_vSwitch",{"op":"update","table":"Bridge","where":[],"row":{"ports":["set",[]]}}]}`)
	conn := &dbConn{srv: srv, c: nopConn{}, wake: make(chan struct{}, 1)}
	b.ReportAllocs()
	for b.Loop() {
		for _, msg := range [][]byte{[]byte(add.String()), drop} {
			if err := conn.handle(msg); err != nil {
				b.Fatal(err)
			}
			conn.wmu.Lock()
			conn.out = conn.out[:0]
			conn.wmu.Unlock()
		}
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if n := len(db.tables["Interface"].rows); n != 0 {
		b.Fatalf("%d interfaces left", n)
	}
}

// nopConn is a net.Conn that is never written to (the benchmark drains
// the queued replies itself).
type nopConn struct{ net.Conn }

func (nopConn) Close() error { return nil }
