package rpc

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ovn-kubernetes/libovsdb/database/inmemory"
	"github.com/ovn-kubernetes/libovsdb/model"
	"github.com/ovn-kubernetes/libovsdb/ovsdb"
	"github.com/ovn-kubernetes/libovsdb/server"

	"github.com/nva-project/nva/ovsdb/vswitch"
)

const db = "Open_vSwitch"

// testServer is libovsdb's in-memory OVSDB server with Open vSwitch's
// schema on a unix socket.
type testServer struct {
	srv  *server.OvsdbServer
	path string
}

func startServer(t testing.TB) *testServer {
	t.Helper()
	full, err := vswitch.FullDatabaseModel()
	if err != nil {
		t.Fatal(err)
	}
	dbm, errs := model.NewDatabaseModel(vswitch.Schema(), full)
	if len(errs) > 0 {
		t.Fatal(errors.Join(errs...))
	}
	srv, err := server.NewOvsdbServer(inmemory.NewDatabase(map[string]model.ClientDBModel{db: full}, nil), nil, dbm)
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{srv: srv, path: filepath.Join(t.TempDir(), "db.sock")}
	go func() { _ = srv.Serve("unix", s.path) }()
	t.Cleanup(srv.Close)
	for i := 0; !srv.Ready(); i++ {
		if i > 1000 {
			t.Fatal("in-memory OVSDB server not ready")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return s
}

func (s *testServer) endpoint() string { return "unix:" + s.path }

func dialT(t testing.TB, endpoint string, cfg Config) *Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := Dial(ctx, endpoint, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// bridgeModel is the database model of a session that reads bridges and
// ports, made from the server's schema.
func bridgeModel(t testing.TB, s *Session) model.DatabaseModel {
	t.Helper()
	return schemaModel(t, s, map[string]model.Model{
		vswitch.OpenvSwitchTable: &vswitch.OpenvSwitch{},
		vswitch.BridgeTable:      &vswitch.Bridge{},
		vswitch.PortTable:        &vswitch.Port{},
		vswitch.InterfaceTable:   &vswitch.Interface{},
	})
}

// schemaModel is the database model of the given tables, made from the
// server's schema.
func schemaModel(t testing.TB, s *Session, tables map[string]model.Model) model.DatabaseModel {
	t.Helper()
	schema, err := s.GetSchema(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	cm, err := model.NewClientDBModel(db, tables)
	if err != nil {
		t.Fatal(err)
	}
	dbm, errs := model.NewDatabaseModel(schema, cm)
	if len(errs) > 0 {
		t.Fatal(errors.Join(errs...))
	}
	return dbm
}

var monitorTables = []TableColumns{
	{Table: vswitch.OpenvSwitchTable, Columns: []string{"bridges"}},
	{Table: vswitch.BridgeTable, Columns: []string{"name", "ports", "external_ids"}},
	{Table: vswitch.PortTable, Columns: []string{"name", "interfaces"}},
	{Table: vswitch.InterfaceTable, Columns: []string{"name", "type"}},
}

func transact(t testing.TB, s *Session, ops ...ovsdb.Operation) []ovsdb.OperationResult {
	t.Helper()
	res, err := s.Transact(context.Background(), db, ops)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ovsdb.CheckOperationResults(res, ops); err != nil {
		t.Fatal(err)
	}
	return res
}

// addPorts is one transaction adding n ports (one interface each) to the
// bridge named br, creating the bridge (and the root row) when create.
func addPorts(br string, first, n int, create bool) []ovsdb.Operation {
	var ops []ovsdb.Operation
	var ports []any
	for i := first; i < first+n; i++ {
		name := fmt.Sprintf("p%03d", i)
		ops = append(ops,
			ovsdb.Operation{Op: ovsdb.OperationInsert, Table: vswitch.InterfaceTable, UUIDName: "i" + name,
				Row: ovsdb.Row{"name": name, "type": "internal"}},
			ovsdb.Operation{Op: ovsdb.OperationInsert, Table: vswitch.PortTable, UUIDName: name,
				Row: ovsdb.Row{"name": name, "interfaces": ovsdb.UUID{GoUUID: "i" + name}}})
		ports = append(ports, ovsdb.UUID{GoUUID: name})
	}
	set := ovsdb.OvsSet{GoSet: ports}
	if create {
		return append(ops,
			ovsdb.Operation{Op: ovsdb.OperationInsert, Table: vswitch.BridgeTable, UUIDName: "br",
				Row: ovsdb.Row{"name": br, "ports": set}},
			ovsdb.Operation{Op: ovsdb.OperationInsert, Table: vswitch.OpenvSwitchTable,
				Row: ovsdb.Row{"bridges": ovsdb.UUID{GoUUID: "br"}}})
	}
	return append(ops, ovsdb.Operation{Op: ovsdb.OperationMutate, Table: vswitch.BridgeTable,
		Where:     []ovsdb.Condition{ovsdb.NewCondition("name", ovsdb.ConditionEqual, br)},
		Mutations: []ovsdb.Mutation{*ovsdb.NewMutation("ports", ovsdb.MutateOperationInsert, set)}})
}

// serverPorts is the server's Bridge.ports of br, in its order.
func serverPorts(t testing.TB, s *Session, br string) []string {
	t.Helper()
	res := transact(t, s, ovsdb.Operation{Op: ovsdb.OperationSelect, Table: vswitch.BridgeTable,
		Where: []ovsdb.Condition{ovsdb.NewCondition("name", ovsdb.ConditionEqual, br)}, Columns: []string{"ports"}})
	if len(res[0].Rows) != 1 {
		t.Fatalf("bridge %s: %d rows", br, len(res[0].Rows))
	}
	var uuids []string
	switch v := res[0].Rows[0]["ports"].(type) {
	case ovsdb.OvsSet:
		for _, u := range v.GoSet {
			uuids = append(uuids, u.(ovsdb.UUID).GoUUID)
		}
	case ovsdb.UUID:
		uuids = []string{v.GoUUID}
	}
	return uuids
}

// cachedBridge is the cached bridge named br (nil: none) and the number of
// cached rows per table.
func cachedBridge(c *Cache, br string) (*vswitch.Bridge, map[string]int) {
	var found *vswitch.Bridge
	counts := map[string]int{}
	c.Read(func(tables map[string]map[string]model.Model) {
		for t, rows := range tables {
			counts[t] = len(rows)
		}
		for _, m := range tables[vswitch.BridgeTable] {
			if b := m.(*vswitch.Bridge); b.Name == br {
				found = b
			}
		}
	})
	return found, counts
}

// waitChange waits for the monitor's change callback.
func waitChange(t *testing.T, changed <-chan struct{}, what string, done func() bool) {
	t.Helper()
	timeout := time.NewTimer(30 * time.Second)
	defer timeout.Stop()
	for !done() {
		select {
		case <-changed:
		case <-timeout.C:
			t.Fatalf("no update: %s", what)
		}
	}
}

func TestMonitorInitialRowsAndUpdatesInServerOrder(t *testing.T) {
	srv := startServer(t)
	seed := dialT(t, srv.endpoint(), Config{})
	transact(t, seed, addPorts("br0", 0, 3, true)...)

	s := dialT(t, srv.endpoint(), Config{})
	changed := make(chan struct{}, 1)
	c, err := s.Monitor(context.Background(), bridgeModel(t, s), monitorTables, func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	b, counts := cachedBridge(c, "br0")
	if b == nil || len(b.Ports) != 3 || counts[vswitch.PortTable] != 3 || counts[vswitch.InterfaceTable] != 3 || counts[vswitch.OpenvSwitchTable] != 1 {
		t.Fatalf("initial rows: bridge %+v, counts %v", b, counts)
	}
	if want := serverPorts(t, seed, "br0"); !slices.Equal(b.Ports, want) {
		t.Fatalf("initial Bridge.ports %v, server's %v", b.Ports, want)
	}
	if b.UUID == "" || b.ExternalIDs != nil && len(b.ExternalIDs) != 0 {
		t.Fatalf("bridge row %+v", b)
	}

	// Many ports in one transaction, then one more: the cached set keeps
	// the server's order each time (what its `wait` compares).
	transact(t, s, addPorts("br0", 3, 30, false)...)
	waitChange(t, changed, "30 ports", func() bool { b, _ := cachedBridge(c, "br0"); return len(b.Ports) == 33 })
	transact(t, s, addPorts("br0", 33, 1, false)...)
	waitChange(t, changed, "one port", func() bool { b, _ := cachedBridge(c, "br0"); return len(b.Ports) == 34 })
	b, counts = cachedBridge(c, "br0")
	if want := serverPorts(t, s, "br0"); !slices.Equal(b.Ports, want) {
		t.Fatalf("cached Bridge.ports %v, server's %v", b.Ports, want)
	}
	if counts[vswitch.PortTable] != 34 || counts[vswitch.InterfaceTable] != 34 {
		t.Fatalf("counts %v", counts)
	}

	// A column set to its empty value and a deleted row.
	transact(t, s, ovsdb.Operation{Op: ovsdb.OperationUpdate, Table: vswitch.BridgeTable,
		Where: []ovsdb.Condition{ovsdb.NewCondition("name", ovsdb.ConditionEqual, "br0")},
		Row:   ovsdb.Row{"external_ids": ovsdb.OvsMap{GoMap: map[any]any{"k": "v"}}}})
	waitChange(t, changed, "external_ids", func() bool { b, _ := cachedBridge(c, "br0"); return b.ExternalIDs["k"] == "v" })
	transact(t, s, ovsdb.Operation{Op: ovsdb.OperationUpdate, Table: vswitch.BridgeTable,
		Where: []ovsdb.Condition{ovsdb.NewCondition("name", ovsdb.ConditionEqual, "br0")},
		Row:   ovsdb.Row{"external_ids": ovsdb.OvsMap{GoMap: map[any]any{}}, "ports": ovsdb.OvsSet{GoSet: []any{}}}})
	waitChange(t, changed, "ports removed", func() bool {
		b, counts := cachedBridge(c, "br0")
		return len(b.Ports) == 0 && len(b.ExternalIDs) == 0 && counts[vswitch.PortTable] == 0
	})
}

// TestUpdatesAreAtomic: a reader never sees a bridge that names a port the
// cache does not have (each transaction adds both).
func TestUpdatesAreAtomic(t *testing.T) {
	srv := startServer(t)
	s := dialT(t, srv.endpoint(), Config{})
	transact(t, s, addPorts("br0", 0, 1, true)...)
	c, err := s.Monitor(context.Background(), bridgeModel(t, s), monitorTables, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var bad error
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			c.Read(func(tables map[string]map[string]model.Model) {
				for _, m := range tables[vswitch.BridgeTable] {
					for _, p := range m.(*vswitch.Bridge).Ports {
						if tables[vswitch.PortTable][p] == nil && bad == nil {
							bad = fmt.Errorf("bridge names port %s, which is not cached", p)
						}
					}
				}
			})
		}
	}()
	for i := 1; i < 40; i++ {
		if _, err := s.Transact(context.Background(), db, addPorts("br0", 2*i, 2, false)); err != nil {
			t.Error(err)
			break
		}
	}
	close(stop)
	wg.Wait()
	if bad != nil {
		t.Fatal(bad)
	}
}

func TestTransactFailedWait(t *testing.T) {
	srv := startServer(t)
	s := dialT(t, srv.endpoint(), Config{})
	transact(t, s, addPorts("br0", 0, 1, true)...)
	timeout := 0
	ops := []ovsdb.Operation{{Op: ovsdb.OperationWait, Table: vswitch.BridgeTable, Timeout: &timeout,
		Where:   []ovsdb.Condition{ovsdb.NewCondition("name", ovsdb.ConditionEqual, "br0")},
		Columns: []string{"name"}, Until: string(ovsdb.WaitConditionEqual),
		Rows: []ovsdb.Row{{"name": "br1"}}}}
	res, err := s.Transact(context.Background(), db, ops)
	if err != nil {
		t.Fatal(err)
	}
	opErrs, err := ovsdb.CheckOperationResults(res, ops)
	if err == nil || len(opErrs) != 1 {
		t.Fatalf("a failed wait passed: %v %v", res, err)
	}
	if _, ok := opErrs[0].(*ovsdb.TimedOut); !ok {
		t.Fatalf("a failed wait is %T %v, want a timed out error", opErrs[0], opErrs[0])
	}
}

// TestConcurrentCalls: responses find their callers whatever the order.
func TestConcurrentCalls(t *testing.T) {
	srv := startServer(t)
	s := dialT(t, srv.endpoint(), Config{})
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := 0; i < 20; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			errs <- s.Echo(context.Background())
		}()
		go func(i int) {
			defer wg.Done()
			_, err := s.Transact(context.Background(), db, addPorts(fmt.Sprintf("br%d", i), i*10, 2, true))
			errs <- err
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	res := transact(t, s, ovsdb.Operation{Op: ovsdb.OperationSelect, Table: vswitch.PortTable, Where: []ovsdb.Condition{}})
	if len(res[0].Rows) != 40 {
		t.Fatalf("%d ports, want 40", len(res[0].Rows))
	}
}

// TestServerGoneClosesLost: when the server hangs up, Lost is closed, the
// pending call fails with ErrClosed and so does every later one.
func TestServerGoneClosesLost(t *testing.T) {
	s, f := newFake(t, Config{ProbeInterval: -1})
	errc := make(chan error, 1)
	go func() { errc <- s.Echo(context.Background()) }()
	f.recv()
	f.c.Close()
	<-s.Lost()
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("pending call: %v", err)
	}
	if s.Err() == nil {
		t.Fatal("a lost session has no error")
	}
	if err := s.Echo(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("echo on a lost session: %v", err)
	}
	s.Close()
	s.Close()
}

func TestDialErrors(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "none.sock")
	_, err := Dial(context.Background(), "unix:"+sock, Config{})
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "dial" {
		t.Fatalf("dial error %v (%T)", err, err)
	}
	for _, bad := range []string{"", "tcp:", "tcp:nohost", "udp:1.2.3.4:5", "ssl:1.2.3.4:6640"} {
		if _, err := Dial(context.Background(), bad, Config{}); err == nil {
			t.Errorf("endpoint %q accepted", bad)
		}
	}
}

// fakeServer is the server end of a pipe, speaking raw JSON.
type fakeServer struct {
	t   *testing.T
	c   net.Conn
	dec *json.Decoder
}

func newFake(t *testing.T, cfg Config) (*Session, *fakeServer) {
	a, b := net.Pipe()
	s := NewSession(a, cfg)
	t.Cleanup(s.Close)
	t.Cleanup(func() { b.Close() })
	return s, &fakeServer{t: t, c: b, dec: json.NewDecoder(b)}
}

func (f *fakeServer) send(msg string) {
	f.t.Helper()
	if _, err := f.c.Write([]byte(msg)); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fakeServer) recv() map[string]json.RawMessage {
	f.t.Helper()
	var m map[string]json.RawMessage
	if err := f.dec.Decode(&m); err != nil {
		f.t.Fatal(err)
	}
	return m
}

// TestEchoAnswered: the server's echo requests (ovsdb-server's inactivity
// probe) get their params back under their id.
func TestEchoAnswered(t *testing.T) {
	_, f := newFake(t, Config{ProbeInterval: -1})
	f.send(`{"id":"echo","method":"echo","params":["x",1]}`)
	m := f.recv()
	if string(m["id"]) != `"echo"` || string(m["result"]) != `["x",1]` || string(m["error"]) != "null" {
		t.Fatalf("echo reply %s", m)
	}
}

// TestSilentServerIsLost: the session probes a server that sends nothing
// and gives up when the echo gets no answer either.
func TestSilentServerIsLost(t *testing.T) {
	s, f := newFake(t, Config{ProbeInterval: 20 * time.Millisecond})
	m := f.recv() // the probe; never answered
	if string(m["method"]) != `"echo"` {
		t.Fatalf("probe %s", m)
	}
	go func() { // keep reading, as a hung server's kernel would
		for {
			var m json.RawMessage
			if f.dec.Decode(&m) != nil {
				return
			}
		}
	}()
	<-s.Lost()
	if err := s.Err(); err == nil || !strings.Contains(err.Error(), "echo") {
		t.Fatalf("session ended with %v", err)
	}
}

// TestAnsweringServerStays: a server that answers the probes keeps the
// session; the probe is seen several times.
func TestAnsweringServerStays(t *testing.T) {
	s, f := newFake(t, Config{ProbeInterval: 200 * time.Millisecond})
	for i := 0; i < 3; i++ {
		m := f.recv()
		if string(m["method"]) != `"echo"` {
			t.Fatalf("probe %s", m)
		}
		f.send(fmt.Sprintf(`{"id":%s,"result":%s,"error":null}`, m["id"], m["params"]))
	}
	select {
	case <-s.Lost():
		t.Fatalf("session lost: %v", s.Err())
	default:
	}
}

// TestErrorResponse: a JSON-RPC error reaches the caller with its text.
func TestErrorResponse(t *testing.T) {
	s, f := newFake(t, Config{ProbeInterval: -1})
	errc := make(chan error, 1)
	go func() { errc <- s.Call(context.Background(), "get_schema", []any{"nope"}, nil) }()
	m := f.recv()
	f.send(fmt.Sprintf(`{"id":%s,"result":null,"error":{"error":"unknown database","details":"nope"}}`, m["id"]))
	if err := <-errc; err == nil || !strings.Contains(err.Error(), "unknown database: nope") {
		t.Fatalf("error %v", err)
	}
}

// TestMalformedResultEndsSession: a result that is not JSON ends the
// session, and the call waiting for it fails, although parseMessage only
// skips a result to its closing bracket.
func TestMalformedResultEndsSession(t *testing.T) {
	s, f := newFake(t, Config{ProbeInterval: -1})
	errc := make(chan error, 1)
	go func() { errc <- s.Echo(context.Background()) }()
	m := f.recv()
	f.send(fmt.Sprintf(`{"id":%s,"result":["nva" 1],"error":null}`, m["id"]))
	if err := <-errc; err == nil || !errors.Is(err, ErrClosed) {
		t.Fatalf("call: %v", err)
	}
	<-s.Lost()
}

// TestCallContext: a call whose context ends returns at once; the session
// stays usable.
func TestCallContext(t *testing.T) {
	s, f := newFake(t, Config{ProbeInterval: -1})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Echo(ctx) }()
	f.recv()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v", err)
	}
	go func() { errc <- s.Echo(context.Background()) }()
	m := f.recv()
	f.send(fmt.Sprintf(`{"id":%s,"result":[],"error":null}`, m["id"]))
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// TestTLS runs a session over ssl: to the in-memory server behind a TLS
// terminating proxy; a client that does not trust the server's CA fails
// its dial.
func TestTLS(t *testing.T) {
	srv := startServer(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ovsdb-server"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if err := c.(*tls.Conn).Handshake(); err != nil {
					return
				}
				u, err := net.Dial("unix", srv.path)
				if err != nil {
					return
				}
				defer u.Close()
				go func() { _, _ = io.Copy(u, c); u.Close() }()
				_, _ = io.Copy(c, u)
			}()
		}
	}()
	endpoint := "ssl:" + l.Addr().String()

	roots := x509.NewCertPool()
	roots.AddCert(cert)
	s := dialT(t, endpoint, Config{TLS: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}})
	transact(t, s, addPorts("br0", 0, 2, true)...)
	c, err := s.Monitor(context.Background(), bridgeModel(t, s), monitorTables, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := cachedBridge(c, "br0"); b == nil || len(b.Ports) != 2 {
		t.Fatalf("bridge over TLS: %+v", b)
	}

	if _, err := Dial(context.Background(), endpoint, Config{TLS: &tls.Config{RootCAs: x509.NewCertPool()}}); err == nil {
		t.Fatal("a server signed by an unknown CA was accepted")
	}
}

func TestFramer(t *testing.T) {
	in := ` {"a":"}{[\"\\"}` + "\n" + `[1,{"b":[]}]{"c":{}}`
	f := NewFramer(strings.NewReader(in))
	for _, want := range []string{`{"a":"}{[\"\\"}`, `[1,{"b":[]}]`, `{"c":{}}`} {
		got, err := f.Next()
		if err != nil || string(got) != want {
			t.Fatalf("message %q, %v; want %q", got, err, want)
		}
	}
	if _, err := f.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("end: %v", err)
	}
	if _, err := NewFramer(strings.NewReader(`{"a":`)).Next(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated: %v", err)
	}
	if _, err := NewFramer(strings.NewReader(`x`)).Next(); err == nil {
		t.Fatal("garbage accepted")
	}
}
