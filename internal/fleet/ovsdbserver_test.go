package fleet

import (
	"encoding/json"
	"net"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	wire "github.com/ovn-kubernetes/libovsdb/ovsdb"

	"github.com/nva-project/nva/ovsdb/vswitch"
)

// rawClient speaks JSON-RPC to a dbServer by hand, so the tests see the
// server's bytes as a client would.
type rawClient struct {
	t     *testing.T
	c     net.Conn
	dec   *json.Decoder
	id    int
	notes []rpcNote // notifications and requests received, in order
}

type rpcNote struct {
	Method string            `json:"method"`
	ID     json.RawMessage   `json:"id"`
	Params []json.RawMessage `json:"params"`
}

type rpcIn struct {
	ID     json.RawMessage   `json:"id"`
	Method string            `json:"method"`
	Params []json.RawMessage `json:"params"`
	Result json.RawMessage   `json:"result"`
	Error  json.RawMessage   `json:"error"`
}

// startTestDB serves an empty Open_vSwitch database (no vswitchd part)
// and connects a raw client to it.
func startTestDB(t *testing.T) (*memDB, *rawClient) {
	t.Helper()
	schema, err := vswitchSchema()
	if err != nil {
		t.Fatal(err)
	}
	db := newMemDB(schema)
	path := filepath.Join(t.TempDir(), "db.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := serveDB(db, ln, nil, nil)
	t.Cleanup(srv.close)
	return db, dialTestDB(t, path)
}

func dialTestDB(t *testing.T, path string) *rawClient {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	dec := json.NewDecoder(c)
	dec.UseNumber()
	return &rawClient{t: t, c: c, dec: dec}
}

// read returns the next message from the server.
func (rc *rawClient) read() rpcIn {
	rc.t.Helper()
	if err := rc.c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		rc.t.Fatal(err)
	}
	var m rpcIn
	if err := rc.dec.Decode(&m); err != nil {
		rc.t.Fatalf("reading from the server: %v", err)
	}
	return m
}

// call sends a request and returns the response's result and error,
// keeping what arrived before it in notes.
func (rc *rawClient) call(method string, params ...any) (json.RawMessage, json.RawMessage) {
	rc.t.Helper()
	rc.id++
	if params == nil {
		params = []any{}
	}
	b, err := json.Marshal(map[string]any{"id": rc.id, "method": method, "params": params})
	if err != nil {
		rc.t.Fatal(err)
	}
	if _, err := rc.c.Write(b); err != nil {
		rc.t.Fatal(err)
	}
	for {
		m := rc.read()
		if m.Method != "" {
			rc.notes = append(rc.notes, rpcNote{Method: m.Method, ID: m.ID, Params: m.Params})
			continue
		}
		if string(m.ID) != jsonInt(rc.id) {
			rc.t.Fatalf("response id %s, want %d", m.ID, rc.id)
		}
		return m.Result, m.Error
	}
}

// transact runs ops (JSON objects) and returns the decoded results.
func (rc *rawClient) transact(ops ...string) []map[string]any {
	rc.t.Helper()
	params := []any{"Open_vSwitch"}
	for _, op := range ops {
		params = append(params, json.RawMessage(op))
	}
	res, rpcErr := rc.call("transact", params...)
	if string(rpcErr) != "null" {
		rc.t.Fatalf("transact: JSON-RPC error %s", rpcErr)
	}
	var out []map[string]any
	if err := json.Unmarshal(res, &out); err != nil {
		rc.t.Fatalf("transact result %s: %v", res, err)
	}
	return out
}

// mustTransact is transact that fails the test on any error result.
func (rc *rawClient) mustTransact(ops ...string) []map[string]any {
	rc.t.Helper()
	res := rc.transact(ops...)
	if len(res) != len(ops) {
		rc.t.Fatalf("%d results for %d operations: %v", len(res), len(ops), res)
	}
	for i, r := range res {
		if r != nil && r["error"] != nil {
			rc.t.Fatalf("operation %d (%s): %v: %v", i, ops[i], r["error"], r["details"])
		}
	}
	return res
}

// selectAll returns the rows of a table (only the given columns, plus _uuid).
func (rc *rawClient) selectAll(table string, cols ...string) []map[string]any {
	rc.t.Helper()
	c, _ := json.Marshal(append([]string{"_uuid"}, cols...))
	res := rc.mustTransact(`{"op":"select","table":"` + table + `","where":[],"columns":` + string(c) + `}`)
	rows, _ := res[0]["rows"].([]any)
	out := make([]map[string]any, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.(map[string]any))
	}
	return out
}

func uuidOf(t *testing.T, v any) string {
	t.Helper()
	a, ok := v.([]any)
	if !ok || len(a) != 2 || a[0] != "uuid" {
		t.Fatalf("%v is not a [\"uuid\", U]", v)
	}
	return a[1].(string)
}

// uuidSetOf decodes a set of UUIDs (bare atom or ["set", ...]), sorted.
func uuidSetOf(t *testing.T, v any) []string {
	t.Helper()
	a, ok := v.([]any)
	if ok && len(a) == 2 && a[0] == "set" {
		var out []string
		for _, x := range a[1].([]any) {
			out = append(out, uuidOf(t, x))
		}
		sort.Strings(out)
		return out
	}
	return []string{uuidOf(t, v)}
}

func errorOf(r map[string]any) string {
	if r == nil {
		return ""
	}
	s, _ := r["error"].(string)
	return s
}

// TestDBServerMethods: list_dbs, get_schema (the vswitch schema), echo,
// and errors for an unknown database and an unknown method.
func TestDBServerMethods(t *testing.T) {
	_, rc := startTestDB(t)
	res, rpcErr := rc.call("list_dbs")
	if string(rpcErr) != "null" || string(res) != `["Open_vSwitch"]` {
		t.Errorf("list_dbs: %s %s", res, rpcErr)
	}
	res, rpcErr = rc.call("get_schema", "Open_vSwitch")
	var schema wire.DatabaseSchema
	if err := json.Unmarshal(res, &schema); err != nil || string(rpcErr) != "null" {
		t.Fatalf("get_schema: %v %s", err, rpcErr)
	}
	want := vswitch.Schema()
	if schema.Name != want.Name || schema.Version != want.Version || len(schema.Tables) != len(want.Tables) {
		t.Errorf("schema %s %s with %d tables, want %s %s with %d", schema.Name, schema.Version, len(schema.Tables), want.Name, want.Version, len(want.Tables))
	}
	if c := schema.Table("Interface").Column("ofport_request"); c == nil || c.TypeObj.Min() != 0 || c.TypeObj.Max() != 1 {
		t.Errorf("Interface.ofport_request in the served schema: %v", c)
	}
	res, rpcErr = rc.call("echo", "hello", 1)
	if string(res) != `["hello",1]` || string(rpcErr) != "null" {
		t.Errorf("echo: %s %s", res, rpcErr)
	}
	_, rpcErr = rc.call("get_schema", "OVN_Northbound")
	var e struct{ Error string }
	if json.Unmarshal(rpcErr, &e) != nil || e.Error != "unknown database" {
		t.Errorf("get_schema of another database: error %s, want unknown database", rpcErr)
	}
	res, rpcErr = rc.call("monitor_cond_since", "Open_vSwitch", nil, map[string]any{}, "")
	if string(rpcErr) != `"unknown method"` || string(res) != "null" {
		t.Errorf("an unknown method: %s %s, want the error \"unknown method\"", res, rpcErr)
	}
}

// TestDBTransactNamedUUIDs builds a bridge the way nva does: inserts
// referring to each other by uuid-name (one before its definition), a
// mutation of the root row's bridges, then reads it all back.
func TestDBTransactNamedUUIDs(t *testing.T) {
	_, rc := startTestDB(t)
	root := uuidOf(t, rc.mustTransact(`{"op":"insert","table":"Open_vSwitch","row":{}}`)[0]["uuid"])
	res := rc.mustTransact(
		`{"op":"insert","table":"Port","row":{"name":"p1","interfaces":["named-uuid","i1"]},"uuid-name":"p1"}`,
		`{"op":"insert","table":"Interface","row":{"name":"p1","type":"internal","options":["map",[["b","2"],["a","1"]]]},"uuid-name":"i1"}`,
		`{"op":"insert","table":"Bridge","row":{"name":"br","ports":["set",[["named-uuid","p1"]]],"other_config":["map",[["datapath-id","00000000000000ab"]]]},"uuid-name":"br"}`,
		`{"op":"mutate","table":"Open_vSwitch","where":[["_uuid","==",["uuid","`+root+`"]]],"mutations":[["bridges","insert",["set",[["named-uuid","br"]]]]]}`,
		`{"op":"comment","comment":"nva"}`,
	)
	p1, i1, br := uuidOf(t, res[0]["uuid"]), uuidOf(t, res[1]["uuid"]), uuidOf(t, res[2]["uuid"])
	if res[3]["count"] != json.Number("1") && res[3]["count"] != float64(1) {
		t.Errorf("mutate count %v, want 1", res[3]["count"])
	}
	if len(res[4]) != 0 {
		t.Errorf("comment result %v, want {}", res[4])
	}
	ports := rc.selectAll("Port", "name", "interfaces")
	if len(ports) != 1 || uuidOf(t, ports[0]["_uuid"]) != p1 || !reflect.DeepEqual(uuidSetOf(t, ports[0]["interfaces"]), []string{i1}) {
		t.Errorf("ports %v, want p1 %s with interface %s", ports, p1, i1)
	}
	ifs := rc.selectAll("Interface", "name", "options", "ofport")
	if len(ifs) != 1 || ifs[0]["name"] != "p1" {
		t.Fatalf("interfaces %v", ifs)
	}
	opts, _ := json.Marshal(ifs[0]["options"])
	if string(opts) != `["map",[["a","1"],["b","2"]]]` {
		t.Errorf("options %s, want the map sorted by key", opts)
	}
	if of, _ := json.Marshal(ifs[0]["ofport"]); string(of) != `["set",[]]` {
		t.Errorf("ofport %s, want the empty set", of)
	}
	roots := rc.selectAll("Open_vSwitch", "bridges")
	if !reflect.DeepEqual(uuidSetOf(t, roots[0]["bridges"]), []string{br}) {
		t.Errorf("root bridges %v, want [%s]", roots[0]["bridges"], br)
	}
	// A select with a condition on a map and on a set.
	res = rc.mustTransact(`{"op":"select","table":"Interface","where":[["options","includes",["map",[["a","1"]]]],["name","!=","x"],["name","==",["set",["p1"]]]],"columns":["name"]}`,
		`{"op":"select","table":"Interface","where":[["options","excludes",["map",[["a","1"]]]]],"columns":["name"]}`,
		`{"op":"select","table":"Bridge","where":[["ports","includes",["uuid","`+p1+`"]]],"columns":["name"]}`)
	if n := len(res[0]["rows"].([]any)); n != 1 {
		t.Errorf("includes: %d rows, want 1", n)
	}
	if n := len(res[1]["rows"].([]any)); n != 0 {
		t.Errorf("excludes: %d rows, want 0", n)
	}
	if n := len(res[2]["rows"].([]any)); n != 1 {
		t.Errorf("set includes: %d rows, want 1", n)
	}
	// An undefined named UUID fails.
	res = rc.transact(`{"op":"insert","table":"Port","row":{"name":"p2","interfaces":["named-uuid","nope"]}}`)
	if errorOf(res[0]) != "syntax error" || !strings.Contains(res[0]["details"].(string), "nope") {
		t.Errorf("an undefined named uuid: %v", res)
	}
}

// TestDBTransactErrors: every failure leaves the database as it was, ends
// the results with its error object (null for the operations after it),
// and a failed commit adds one error after the operations' results.
func TestDBTransactErrors(t *testing.T) {
	_, rc := startTestDB(t)
	root := uuidOf(t, rc.mustTransact(`{"op":"insert","table":"Open_vSwitch","row":{}}`)[0]["uuid"])
	whereRoot := `[["_uuid","==",["uuid","` + root + `"]]]`
	insertBridge := `{"op":"insert","table":"Bridge","row":{"name":"br"},"uuid-name":"br"}`
	addBridge := `{"op":"mutate","table":"Open_vSwitch","where":` + whereRoot + `,"mutations":[["bridges","insert",["named-uuid","br"]]]}`
	for _, tc := range []struct {
		name    string
		ops     []string
		failAt  int // index of the error object in the results
		wantErr string
	}{
		{"abort", []string{insertBridge, addBridge, `{"op":"abort"}`}, 2, "aborted"},
		{"unknown table", []string{insertBridge, addBridge, `{"op":"select","table":"Nope","where":[]}`}, 2, "syntax error"},
		{"unknown column", []string{`{"op":"insert","table":"Bridge","row":{"name":"br","colour":"red"}}`}, 0, "unknown column"},
		{"wrong type", []string{`{"op":"insert","table":"Bridge","row":{"name":7}}`}, 0, "syntax error"},
		{"enum", []string{insertBridge, addBridge, `{"op":"insert","table":"Bridge","row":{"name":"b2","fail_mode":"sometimes"}}`}, 2, "constraint violation"},
		{"integer range", []string{`{"op":"insert","table":"Interface","row":{"name":"i","ofport_request":70000}}`}, 0, "constraint violation"},
		{"immutable column", []string{insertBridge, addBridge, `{"op":"update","table":"Bridge","where":[],"row":{"name":"other"}}`}, 2, "constraint violation"},
		{"set too big", []string{`{"op":"insert","table":"Interface","row":{"name":"i","ofport":["set",[1,2]]}}`}, 0, "constraint violation"},
		{"duplicate uuid-name", []string{insertBridge, insertBridge}, 1, "duplicate uuid-name"},
		{"wait ==", []string{insertBridge, addBridge, `{"op":"wait","table":"Open_vSwitch","where":` + whereRoot + `,"columns":["bridges"],"until":"==","rows":[{"bridges":["set",[]]}],"timeout":0}`}, 2, "timed out"},
		{"division by zero", []string{`{"op":"mutate","table":"Open_vSwitch","where":[],"mutations":[["next_cfg","/=",0]]}`}, 0, "domain error"},
		{"index", []string{insertBridge, addBridge, `{"op":"insert","table":"Bridge","row":{"name":"br"},"uuid-name":"b2"}`,
			`{"op":"mutate","table":"Open_vSwitch","where":` + whereRoot + `,"mutations":[["bridges","insert",["named-uuid","b2"]]]}`}, 4, "constraint violation"},
		{"referential integrity", []string{`{"op":"insert","table":"Bridge","row":{"name":"br","ports":["uuid","00000000-0000-4000-8000-000000000001"]},"uuid-name":"br"}`, addBridge}, 2, "referential integrity violation"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := rc.transact(tc.ops...)
			n := len(tc.ops)
			if tc.failAt == n { // commit failure: one more result
				n++
			}
			if len(res) != n {
				t.Fatalf("%d results, want %d: %v", len(res), n, res)
			}
			for i, r := range res {
				switch {
				case i < tc.failAt && errorOf(r) != "":
					t.Errorf("result %d: %v, want success", i, r)
				case i == tc.failAt && errorOf(r) != tc.wantErr:
					t.Errorf("result %d: %v, want error %q", i, r, tc.wantErr)
				case i > tc.failAt && r != nil:
					t.Errorf("result %d: %v, want null", i, r)
				}
			}
			if b := rc.selectAll("Bridge"); len(b) != 0 {
				t.Errorf("bridges after the failed transaction: %v, want none", b)
			}
			if r := rc.selectAll("Open_vSwitch", "bridges", "next_cfg"); len(r) != 1 || r[0]["next_cfg"] != json.Number("0") && r[0]["next_cfg"] != float64(0) {
				t.Errorf("root row after the failed transaction: %v", r)
			}
		})
	}
	// The wait that holds succeeds, and "!=" is its opposite.
	res := rc.mustTransact(`{"op":"wait","table":"Open_vSwitch","where":`+whereRoot+`,"columns":["bridges","next_cfg"],"until":"==","rows":[{"bridges":["set",[]],"next_cfg":0}],"timeout":0}`,
		`{"op":"wait","table":"Open_vSwitch","where":`+whereRoot+`,"columns":["next_cfg"],"until":"!=","rows":[{"next_cfg":1}],"timeout":0}`)
	if len(res[0]) != 0 || len(res[1]) != 0 {
		t.Errorf("waits: %v", res)
	}
}

// TestDBMutate: set insert and delete, map insert (an existing key keeps
// its value) and delete by keys and by pairs, arithmetic, and a mutation
// seen by the next operation of the same transaction.
func TestDBMutate(t *testing.T) {
	_, rc := startTestDB(t)
	u := uuidOf(t, rc.mustTransact(`{"op":"insert","table":"Bridge","row":{"name":"br","protocols":"OpenFlow13","external_ids":["map",[["a","1"],["b","2"],["c","3"]]]},"uuid-name":"br"}`,
		`{"op":"insert","table":"Open_vSwitch","row":{"bridges":["named-uuid","br"]}}`)[0]["uuid"])
	where := `[["_uuid","==",["uuid","` + u + `"]]]`
	mut := func(muts string) string {
		return `{"op":"mutate","table":"Bridge","where":` + where + `,"mutations":` + muts + `}`
	}
	rc.mustTransact(
		mut(`[["protocols","insert",["set",["OpenFlow10","OpenFlow13"]]],["external_ids","insert",["map",[["a","changed"],["d","4"]]]]]`),
		mut(`[["external_ids","delete",["set",["b"]]],["external_ids","delete",["map",[["c","not 3"],["d","4"]]]]]`),
		mut(`[["flood_vlans","insert",["set",[10,20,30]]]]`),
		mut(`[["flood_vlans","delete",20],["flood_vlans","+=",5],["protocols","delete","OpenFlow10"]]`),
	)
	rows := rc.selectAll("Bridge", "protocols", "external_ids", "flood_vlans")
	got, _ := json.Marshal([]any{rows[0]["protocols"], rows[0]["external_ids"], rows[0]["flood_vlans"]})
	want := `["OpenFlow13",["map",[["a","1"],["c","3"]]],["set",[15,35]]]`
	if string(got) != want {
		t.Errorf("after the mutations: %s, want %s", got, want)
	}
	// A mutation that breaks a set's size limit fails.
	res := rc.transact(`{"op":"insert","table":"Interface","row":{"name":"i"},"uuid-name":"i"}`,
		`{"op":"insert","table":"Port","row":{"name":"i","interfaces":["named-uuid","i"]},"uuid-name":"p"}`,
		`{"op":"mutate","table":"Bridge","where":[],"mutations":[["ports","insert",["named-uuid","p"]]]}`,
		`{"op":"mutate","table":"Interface","where":[["name","==","i"]],"mutations":[["ofport","insert",["set",[1,2]]]]}`)
	if len(res) != 4 || errorOf(res[3]) != "constraint violation" {
		t.Errorf("ofport with two values: %v", res)
	}
}

// TestDBGarbageCollection: a port dropped from its bridge disappears with
// its interfaces, a row no root reaches is never stored, and a row still
// referenced cannot be deleted.
func TestDBGarbageCollection(t *testing.T) {
	_, rc := startTestDB(t)
	root := uuidOf(t, rc.mustTransact(`{"op":"insert","table":"Open_vSwitch","row":{}}`)[0]["uuid"])
	res := rc.mustTransact(
		`{"op":"insert","table":"Interface","row":{"name":"p1"},"uuid-name":"i1"}`,
		`{"op":"insert","table":"Interface","row":{"name":"p2"},"uuid-name":"i2"}`,
		`{"op":"insert","table":"Port","row":{"name":"p1","interfaces":["named-uuid","i1"]},"uuid-name":"p1"}`,
		`{"op":"insert","table":"Port","row":{"name":"p2","interfaces":["named-uuid","i2"]},"uuid-name":"p2"}`,
		`{"op":"insert","table":"Bridge","row":{"name":"br","ports":["set",[["named-uuid","p1"],["named-uuid","p2"]]]},"uuid-name":"br"}`,
		`{"op":"mutate","table":"Open_vSwitch","where":[["_uuid","==",["uuid","`+root+`"]]],"mutations":[["bridges","insert",["named-uuid","br"]]]}`,
		`{"op":"insert","table":"Controller","row":{"target":"tcp:127.0.0.1:6653"}}`, // referenced by nothing
	)
	p1, br := uuidOf(t, res[2]["uuid"]), uuidOf(t, res[4]["uuid"])
	if c := rc.selectAll("Controller"); len(c) != 0 {
		t.Errorf("an unreferenced controller was kept: %v", c)
	}
	if n := len(rc.selectAll("Interface")); n != 2 {
		t.Fatalf("%d interfaces, want 2", n)
	}
	// Deleting a port the bridge still refers to fails.
	res = rc.transact(`{"op":"delete","table":"Port","where":[["_uuid","==",["uuid","` + p1 + `"]]]}`)
	if len(res) != 2 || errorOf(res[1]) != "referential integrity violation" {
		t.Errorf("deleting a referenced port: %v", res)
	}
	rc.mustTransact(`{"op":"mutate","table":"Bridge","where":[["_uuid","==",["uuid","` + br + `"]]],"mutations":[["ports","delete",["uuid","` + p1 + `"]]]}`)
	var names []string
	for _, r := range rc.selectAll("Interface", "name") {
		names = append(names, r["name"].(string))
	}
	if ports := rc.selectAll("Port"); len(ports) != 1 || !reflect.DeepEqual(names, []string{"p2"}) {
		t.Errorf("after dropping p1 from the bridge: %d ports, interfaces %v; want p2 alone", len(ports), names)
	}
	// A weak reference to a port that is collected is dropped: a mirror
	// selecting both ports keeps p2 alone once p2's sibling goes.
	res = rc.mustTransact(
		`{"op":"insert","table":"Interface","row":{"name":"p3"},"uuid-name":"i3"}`,
		`{"op":"insert","table":"Port","row":{"name":"p3","interfaces":["named-uuid","i3"]},"uuid-name":"p3"}`,
		`{"op":"mutate","table":"Bridge","where":[],"mutations":[["ports","insert",["named-uuid","p3"]]]}`,
		`{"op":"select","table":"Port","where":[["name","==","p2"]],"columns":["_uuid"]}`,
	)
	p3 := uuidOf(t, res[1]["uuid"])
	p2 := uuidOf(t, res[3]["rows"].([]any)[0].(map[string]any)["_uuid"])
	rc.mustTransact(
		`{"op":"insert","table":"Mirror","row":{"name":"m","select_src_port":["set",[["uuid","`+p2+`"],["uuid","`+p3+`"]]]},"uuid-name":"m"}`,
		`{"op":"mutate","table":"Bridge","where":[],"mutations":[["mirrors","insert",["named-uuid","m"]]]}`,
	)
	rc.mustTransact(`{"op":"mutate","table":"Bridge","where":[],"mutations":[["ports","delete",["uuid","` + p3 + `"]]]}`)
	if m := rc.selectAll("Mirror", "select_src_port"); len(m) != 1 || !reflect.DeepEqual(uuidSetOf(t, m[0]["select_src_port"]), []string{p2}) {
		t.Errorf("mirror after p3 went: %v, want select_src_port [%s]", m, p2)
	}
	// Removing the bridge from the root takes everything with it.
	rc.mustTransact(`{"op":"update","table":"Open_vSwitch","where":[],"row":{"bridges":["set",[]]}}`)
	for _, tb := range []string{"Bridge", "Port", "Interface", "Mirror"} {
		if rows := rc.selectAll(tb); len(rows) != 0 {
			t.Errorf("%s rows left: %v", tb, rows)
		}
	}
}

// TestDBMonitor: initial rows, then per commit one "update" notification
// (before the transaction's reply) with new rows for inserts, old rows
// for deletes, and for modifications the changed columns' old values and
// every monitored column's new values; changes of columns not monitored
// send nothing; monitor_cancel stops the updates.
func TestDBMonitor(t *testing.T) {
	_, rc := startTestDB(t)
	root := uuidOf(t, rc.mustTransact(`{"op":"insert","table":"Open_vSwitch","row":{}}`)[0]["uuid"])
	res, rpcErr := rc.call("monitor", "Open_vSwitch", "m1", map[string]any{
		"Open_vSwitch": map[string]any{"columns": []string{"bridges"}},
		"Bridge":       []any{map[string]any{"columns": []string{"name", "ports"}}},
	})
	if string(rpcErr) != "null" {
		t.Fatal(string(rpcErr))
	}
	if want := `{"Open_vSwitch":{"` + root + `":{"new":{"bridges":["set",[]]}}}}`; string(res) != want {
		t.Errorf("initial rows %s, want %s", res, want)
	}
	_, rpcErr = rc.call("monitor", "Open_vSwitch", "m1", map[string]any{"Bridge": map[string]any{}})
	if !strings.Contains(string(rpcErr), "duplicate monitor ID") {
		t.Errorf("a second monitor m1: %s", rpcErr)
	}
	update := func() string {
		t.Helper()
		if len(rc.notes) != 1 {
			t.Fatalf("%d notifications before the reply, want 1: %v", len(rc.notes), rc.notes)
		}
		n := rc.notes[0]
		rc.notes = nil
		if n.Method != "update" || string(n.ID) != "null" || len(n.Params) != 2 || string(n.Params[0]) != `"m1"` {
			t.Fatalf("notification %s %s %d params", n.Method, n.ID, len(n.Params))
		}
		return string(n.Params[1])
	}
	res2 := rc.mustTransact(`{"op":"insert","table":"Bridge","row":{"name":"br","fail_mode":"secure"},"uuid-name":"br"}`,
		`{"op":"mutate","table":"Open_vSwitch","where":[],"mutations":[["bridges","insert",["named-uuid","br"]]]}`)
	br := uuidOf(t, res2[0]["uuid"])
	want := `{"Bridge":{"` + br + `":{"new":{"name":"br","ports":["set",[]]}}},"Open_vSwitch":{"` + root + `":{"old":{"bridges":["set",[]]},"new":{"bridges":["uuid","` + br + `"]}}}}`
	if got := update(); got != want {
		t.Errorf("insert update\n%s, want\n%s", got, want)
	}
	// A column not monitored: no notification.
	rc.mustTransact(`{"op":"update","table":"Bridge","where":[],"row":{"fail_mode":"standalone"}}`)
	if len(rc.notes) != 0 {
		t.Errorf("a change of an unmonitored column sent %v", rc.notes)
	}
	res2 = rc.mustTransact(`{"op":"insert","table":"Interface","row":{"name":"p"},"uuid-name":"i"}`,
		`{"op":"insert","table":"Port","row":{"name":"p","interfaces":["named-uuid","i"]},"uuid-name":"p"}`,
		`{"op":"mutate","table":"Bridge","where":[],"mutations":[["ports","insert",["named-uuid","p"]]]}`)
	p := uuidOf(t, res2[1]["uuid"])
	want = `{"Bridge":{"` + br + `":{"old":{"ports":["set",[]]},"new":{"name":"br","ports":["uuid","` + p + `"]}}}}`
	if got := update(); got != want {
		t.Errorf("modify update\n%s, want\n%s", got, want)
	}
	rc.mustTransact(`{"op":"update","table":"Open_vSwitch","where":[],"row":{"bridges":["set",[]]}}`)
	want = `{"Bridge":{"` + br + `":{"old":{"name":"br","ports":["uuid","` + p + `"]}}},"Open_vSwitch":{"` + root + `":{"old":{"bridges":["uuid","` + br + `"]},"new":{"bridges":["set",[]]}}}}`
	if got := update(); got != want {
		t.Errorf("delete update\n%s, want\n%s", got, want)
	}
	if res, rpcErr := rc.call("monitor_cancel", "m1"); string(res) != "{}" || string(rpcErr) != "null" {
		t.Errorf("monitor_cancel: %s %s", res, rpcErr)
	}
	rc.mustTransact(`{"op":"insert","table":"Bridge","row":{"name":"b2"},"uuid-name":"b"}`,
		`{"op":"mutate","table":"Open_vSwitch","where":[],"mutations":[["bridges","insert",["named-uuid","b"]]]}`)
	if len(rc.notes) != 0 {
		t.Errorf("notifications after monitor_cancel: %v", rc.notes)
	}
	if _, rpcErr := rc.call("monitor_cancel", "m1"); !strings.Contains(string(rpcErr), "unknown monitor") {
		t.Errorf("cancelling a cancelled monitor: %s", rpcErr)
	}
}
