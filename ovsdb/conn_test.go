package ovsdb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/ovn-kubernetes/libovsdb/client"
	"github.com/ovn-kubernetes/libovsdb/database/inmemory"
	"github.com/ovn-kubernetes/libovsdb/model"
	wire "github.com/ovn-kubernetes/libovsdb/ovsdb"
	"github.com/ovn-kubernetes/libovsdb/server"

	"github.com/nva-project/nva/ovsdb/rpc"
	"github.com/nva-project/nva/ovsdb/vswitch"
)

// memServer is libovsdb's in-memory server with Open vSwitch's schema,
// holding one bridge with ports ports (an interface each) and two
// controllers, as an NVE's database does.
func memServer(t testing.TB, ports int) string {
	t.Helper()
	full, err := vswitch.FullDatabaseModel()
	if err != nil {
		t.Fatal(err)
	}
	dbm, errs := model.NewDatabaseModel(vswitch.Schema(), full)
	if len(errs) > 0 {
		t.Fatal(errors.Join(errs...))
	}
	srv, err := server.NewOvsdbServer(inmemory.NewDatabase(map[string]model.ClientDBModel{dbName: full}, nil), nil, dbm)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "db.sock")
	go func() { _ = srv.Serve("unix", path) }()
	t.Cleanup(srv.Close)
	for i := 0; !srv.Ready(); i++ {
		if i > 1000 {
			t.Fatal("in-memory OVSDB server not ready")
		}
		time.Sleep(5 * time.Millisecond)
	}
	var ops []wire.Operation
	var portRefs []any
	for i := range ports {
		name := fmt.Sprintf("vap%d", i)
		ops = append(ops,
			wire.Operation{Op: wire.OperationInsert, Table: vswitch.InterfaceTable, UUIDName: "i" + name,
				Row: wire.Row{"name": name, "ofport": wire.OvsSet{GoSet: []any{i + 1}},
					"external_ids": wire.OvsMap{GoMap: map[any]any{"nva-owner": "nva"}}}},
			wire.Operation{Op: wire.OperationInsert, Table: vswitch.PortTable, UUIDName: "p" + name,
				Row: wire.Row{"name": name, "interfaces": wire.UUID{GoUUID: "i" + name}}})
		portRefs = append(portRefs, wire.UUID{GoUUID: "p" + name})
	}
	ops = append(ops,
		wire.Operation{Op: wire.OperationInsert, Table: vswitch.ControllerTable, UUIDName: "c1", Row: wire.Row{"target": "tcp:198.18.255.1:6653"}},
		wire.Operation{Op: wire.OperationInsert, Table: vswitch.ControllerTable, UUIDName: "c2", Row: wire.Row{"target": "tcp:198.18.255.2:6653"}},
		wire.Operation{Op: wire.OperationInsert, Table: vswitch.BridgeTable, UUIDName: "br", Row: wire.Row{
			"name": "br-int", "ports": wire.OvsSet{GoSet: portRefs},
			"controller":   wire.OvsSet{GoSet: []any{wire.UUID{GoUUID: "c1"}, wire.UUID{GoUUID: "c2"}}},
			"other_config": wire.OvsMap{GoMap: map[any]any{"datapath-id": "00004e5600000001"}}}},
		wire.Operation{Op: wire.OperationInsert, Table: vswitch.OpenvSwitchTable, Row: wire.Row{"bridges": wire.UUID{GoUUID: "br"}}})
	c, err := dial(context.Background(), Desired{Endpoint: "unix:" + path}, -1, shared{models: rpc.NewModels(mustDBModel())}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	if err := c.transact(context.Background(), ops); err != nil {
		t.Fatal(err)
	}
	return "unix:" + path
}

// libovsdbDial is the session conn.go opened before ovsdb/rpc: libovsdb's
// client with the same monitor.
func libovsdbDial(ctx context.Context, endpoint string) (client.Client, error) {
	dbm, err := model.NewClientDBModel(dbName, map[string]model.Model{
		vswitch.OpenvSwitchTable: &vswitch.OpenvSwitch{},
		vswitch.BridgeTable:      &vswitch.Bridge{},
		vswitch.PortTable:        &vswitch.Port{},
		vswitch.InterfaceTable:   &vswitch.Interface{},
		vswitch.ControllerTable:  &vswitch.Controller{},
	})
	if err != nil {
		return nil, err
	}
	cl, err := client.NewOVSDBClient(dbm, client.WithEndpoint(endpoint))
	if err != nil {
		return nil, err
	}
	if err := cl.Connect(ctx); err != nil {
		return nil, err
	}
	var (
		ovs vswitch.OpenvSwitch
		br  vswitch.Bridge
		pt  vswitch.Port
		ifc vswitch.Interface
		ctl vswitch.Controller
	)
	_, err = cl.Monitor(ctx, cl.NewMonitor(
		client.WithTable(&ovs, &ovs.Bridges),
		client.WithTable(&br, &br.Name, &br.Ports, &br.Controller, &br.DatapathType, &br.FailMode,
			&br.Protocols, &br.OtherConfig, &br.ExternalIDs),
		client.WithTable(&pt, &pt.Name, &pt.Interfaces, &pt.ExternalIDs),
		client.WithTable(&ifc, &ifc.Name, &ifc.Type, &ifc.Options, &ifc.Ofport, &ifc.LinkState,
			&ifc.Error, &ifc.ExternalIDs, &ifc.BFD, &ifc.BFDStatus),
		client.WithTable(&ctl, &ctl.Target, &ctl.ConnectionMode, &ctl.InactivityProbe, &ctl.MaxBackoff,
			&ctl.ExternalIDs),
	))
	if err != nil {
		cl.Close()
		return nil, err
	}
	return cl, nil
}

// retainedPerSession opens n sessions with open, and returns the heap they
// retain (after a GC) divided by n, then closes them.
func retainedPerSession(t testing.TB, n int, open func() (closer func(), err error)) uint64 {
	t.Helper()
	heap := func() uint64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	closers := make([]func(), 0, n)
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	before := heap()
	for range n {
		c, err := open()
		if err != nil {
			t.Fatal(err)
		}
		closers = append(closers, c)
	}
	after := heap()
	runtime.KeepAlive(closers)
	if after < before {
		return 0
	}
	return (after - before) / uint64(n)
}

const heapSessions = 50

func sessionHeaps(t testing.TB) (old, cur uint64) {
	endpoint := memServer(t, 20)
	ctx := context.Background()
	models := rpc.NewModels(mustDBModel())
	old = retainedPerSession(t, heapSessions, func() (func(), error) {
		cl, err := libovsdbDial(ctx, endpoint)
		if err != nil {
			return nil, err
		}
		return cl.Close, nil
	})
	cur = retainedPerSession(t, heapSessions, func() (func(), error) {
		c, err := dial(ctx, Desired{Endpoint: endpoint}, 0, shared{models: models}, slog.New(slog.DiscardHandler))
		if err != nil {
			return nil, err
		}
		if snap, err := c.snapshot(); err != nil || len(snap.ports) != 20 || len(snap.controllers) != 2 {
			c.close()
			return nil, fmt.Errorf("snapshot %+v: %v", snap, err)
		}
		return c.close, nil
	})
	return old, cur
}

// TestSessionHeap opens 50 sessions to a database holding one bridge with
// 20 ports the way conn.go did with libovsdb's client and the way it does
// with ovsdb/rpc, and compares the heap each retains (libovsdb's cache
// allocates a 65,536-entry event channel per client).
func TestSessionHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 100 sessions")
	}
	old, rpc := sessionHeaps(t)
	t.Logf("retained heap per session: libovsdb client %d B, ovsdb/rpc %d B", old, rpc)
	if rpc*8 > old {
		t.Errorf("an ovsdb/rpc session retains %d B, libovsdb's client %d B: want at most an eighth", rpc, old)
	}
}

// BenchmarkSessionHeap reports the same figures as metrics.
func BenchmarkSessionHeap(b *testing.B) {
	var old, rpc uint64
	for b.Loop() {
		old, rpc = sessionHeaps(b)
	}
	b.ReportMetric(float64(old), "libovsdb-B/session")
	b.ReportMetric(float64(rpc), "rpc-B/session")
}

// TestMonitoredColumnsAreTheRowFields: the monitor asks for exactly the
// columns the cached row structs hold.
func TestMonitoredColumnsAreTheRowFields(t *testing.T) {
	rows := map[string]any{
		vswitch.OpenvSwitchTable: rootRow{}, vswitch.BridgeTable: bridgeRow{}, vswitch.PortTable: portRow{},
		vswitch.InterfaceTable: ifaceRow{}, vswitch.ControllerTable: ctlRow{},
	}
	for _, tc := range monitored() {
		typ := reflect.TypeOf(rows[tc.Table])
		if typ == nil {
			t.Fatalf("no row struct for monitored table %s", tc.Table)
		}
		var fields []string
		for i := range typ.NumField() {
			if c := typ.Field(i).Tag.Get("ovsdb"); c != "_uuid" {
				fields = append(fields, c)
			}
		}
		want := slices.Clone(tc.Columns)
		slices.Sort(fields)
		slices.Sort(want)
		if !slices.Equal(fields, want) {
			t.Errorf("%s: row fields %v, monitored columns %v", tc.Table, fields, want)
		}
		delete(rows, tc.Table)
	}
	if len(rows) > 0 {
		t.Errorf("row structs of unmonitored tables: %v", rows)
	}
}

// dialMem dials an in-memory server with n ports on its bridge; the
// connection is closed when the test ends.
func dialMem(t *testing.T, n int) *conn {
	t.Helper()
	c, err := dial(context.Background(), Desired{Endpoint: memServer(t, n)}, -1, shared{models: rpc.NewModels(mustDBModel())}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.close)
	return c
}

// TestDialLeavesNoKick: a new connection's initial rows do not ask for a
// second ensure: the worker ensures right after dialling, and a kick
// left from the initial rows would make it plan the same rows again.
func TestDialLeavesNoKick(t *testing.T) {
	c := dialMem(t, 2)
	if snap, err := c.snapshot(); err != nil || len(snap.ports) != 2 {
		t.Fatalf("snapshot %+v, %v", snap, err)
	}
	select {
	case <-c.kick:
		t.Fatal("the initial rows left a kick")
	default:
	}
}

// TestSnapshotReusedUntilChange: snapshots of an unchanged cache are one
// snapshot (its interface index made once); an update makes a new one
// that shows it.
func TestSnapshotReusedUntilChange(t *testing.T) {
	c := dialMem(t, 2)
	s1, err := c.snapshot()
	if err != nil {
		t.Fatal(err)
	}
	s2, err := c.snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if s1 != s2 {
		t.Fatal("two snapshots of an unchanged cache are different snapshots")
	}
	idx := s1.ifaceIndex()
	if len(idx) != 2 || reflect.ValueOf(idx).UnsafePointer() != reflect.ValueOf(s2.ifaceIndex()).UnsafePointer() {
		t.Fatalf("interface index %v made more than once, or not of the 2 interfaces", idx)
	}
	ops := []wire.Operation{{Op: wire.OperationUpdate, Table: vswitch.InterfaceTable,
		Where: []wire.Condition{{Column: "name", Function: wire.ConditionEqual, Value: "vap0"}},
		Row:   wire.Row{"type": "internal"}}}
	if err := c.transact(context.Background(), ops); err != nil {
		t.Fatal(err)
	}
	timeout := time.After(10 * time.Second)
	for {
		s3, err := c.snapshot()
		if err != nil {
			t.Fatal(err)
		}
		if s3.ifaceIndex()["vap0"].iface.Type == "internal" {
			if s3 == s1 || s1.ifaceIndex()["vap0"].iface.Type != "" {
				t.Fatal("the update changed the earlier snapshot")
			}
			break
		}
		if s3 != s1 {
			t.Fatal("a new snapshot without the update")
		}
		select {
		case <-c.kick:
		case <-timeout:
			t.Fatal("the update never showed in a snapshot")
		}
	}
}
