package rpc

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/ovn-kubernetes/libovsdb/ovsdb"

	"github.com/nva-project/nva/ovsdb/vswitch"
)

// testOps covers every member of an operation and every OVSDB value
// notation nva sends.
func testOps() []ovsdb.Operation {
	zero, durable, comment, lock := 0, true, "nva <&> \"ensure\"", "l\u00e9"
	uuid := ovsdb.UUID{GoUUID: "2f1b1d6e-6a8b-4c52-9a4d-3c2b1a0f9e8d"}
	return []ovsdb.Operation{
		{Op: ovsdb.OperationInsert, Table: vswitch.InterfaceTable, UUIDName: "nva_row1", Row: ovsdb.Row{
			"name": "vap0", "type": "vxlan", "ofport_request": 7, "admin_state": ovsdb.OvsSet{GoSet: []any{"up"}},
			"options":      ovsdb.OvsMap{GoMap: map[any]any{"remote_ip": "flow", "key": "flow", "local_ip": "192.0.2.1"}},
			"external_ids": ovsdb.OvsMap{GoMap: map[any]any{"nva-owned": "true"}}, "other_config": ovsdb.OvsMap{GoMap: map[any]any{}},
			"bfd": ovsdb.OvsMap{}, "mtu_request": ovsdb.OvsSet{GoSet: []any{}}, "lldp": ovsdb.OvsMap{GoMap: map[any]any{"x\n\u2028": "<tab>\t"}},
			"cfm_remote_mpids": ovsdb.OvsSet{GoSet: []any{1, 2, 3}}, "lacp_current": false, "ingress_policing_rate": int64(5)}},
		{Op: ovsdb.OperationInsert, Table: vswitch.PortTable, UUIDName: "nva_row2", Row: ovsdb.Row{
			"name": "vap0", "interfaces": ovsdb.OvsSet{GoSet: []any{ovsdb.UUID{GoUUID: "nva_row1"}}}}},
		{Op: ovsdb.OperationWait, Table: vswitch.BridgeTable, Where: []ovsdb.Condition{ovsdb.NewCondition("_uuid", ovsdb.ConditionEqual, uuid)},
			Columns: []string{"controller", "ports"}, Until: string(ovsdb.WaitConditionEqual), Timeout: &zero,
			Rows: []ovsdb.Row{{"ports": ovsdb.OvsSet{GoSet: []any{uuid, ovsdb.UUID{GoUUID: "nva_row2"}}}, "controller": ovsdb.OvsSet{}}}},
		{Op: ovsdb.OperationMutate, Table: vswitch.BridgeTable, Where: []ovsdb.Condition{ovsdb.NewCondition("_uuid", ovsdb.ConditionEqual, uuid)},
			Mutations: []ovsdb.Mutation{
				*ovsdb.NewMutation("ports", ovsdb.MutateOperationInsert, ovsdb.OvsSet{GoSet: []any{ovsdb.UUID{GoUUID: "nva_row2"}}}),
				*ovsdb.NewMutation("external_ids", ovsdb.MutateOperationDelete, ovsdb.OvsSet{GoSet: []any{"a", "b"}})}},
		{Op: ovsdb.OperationUpdate, Table: vswitch.BridgeTable, Where: []ovsdb.Condition{ovsdb.NewCondition("name", ovsdb.ConditionEqual, "br-int")},
			Row: ovsdb.Row{"fail_mode": ovsdb.OvsSet{GoSet: []any{"secure"}}, "datapath_type": "system"}},
		{Op: ovsdb.OperationSelect, Table: vswitch.BridgeTable, Columns: []string{"ports"}},
		{Op: ovsdb.OperationDelete, Table: vswitch.ControllerTable, Where: []ovsdb.Condition{ovsdb.NewCondition("target", ovsdb.ConditionIncludes, "tcp:[::1]:6653")}},
		{Op: ovsdb.OperationComment, Comment: &comment},
		{Op: ovsdb.OperationCommit, Durable: &durable},
		{Op: ovsdb.OperationAssert, Lock: &lock},
		{Op: ovsdb.OperationAbort, UUID: uuid.GoUUID, Row: ovsdb.Row{}},
	}
}

// TestEncodeLikeEncodingJSON: requests and replies are encoded as
// json.Marshal encodes them (the same bytes, but for the order of a
// map's pairs, which are sorted).
func TestEncodeLikeEncodingJSON(t *testing.T) {
	ops := testOps()
	params := []any{db}
	for _, op := range ops {
		params = append(params, op)
	}
	for _, v := range []any{
		request{ID: uint64(42), Method: "transact", Params: params},
		request{ID: "probe", Method: "echo", Params: []any{"nva probe"}},
		request{ID: uint64(1), Method: "monitor", Params: []any{db, "nva-monitor-1", map[string]ovsdb.MonitorRequest{
			vswitch.BridgeTable: {Columns: []string{"name", "ports"}, Select: ovsdb.NewDefaultMonitorSelect()}}}},
		reply{ID: json.RawMessage(`"echo"`), Result: []any{"x", 1.5}},
		reply{ID: json.RawMessage(`7`), Result: []any{}},
		reply{ID: json.RawMessage(`[1,"a"]`), Error: map[string]string{"error": "unknown method", "details": "x"}},
	} {
		got, err := encode(v)
		if err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(got) {
			t.Fatalf("invalid JSON %s", got)
		}
		var g, w struct {
			ID     any
			Method string
			Params []json.RawMessage
			Result any
			Error  any
		}
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(want, &w); err != nil {
			t.Fatal(err)
		}
		if g.Method == "transact" {
			var gops, wops []ovsdb.Operation
			for i := 1; i < len(g.Params); i++ {
				var gop, wop ovsdb.Operation
				if err := json.Unmarshal(g.Params[i], &gop); err != nil {
					t.Fatal(err)
				}
				if err := json.Unmarshal(w.Params[i], &wop); err != nil {
					t.Fatal(err)
				}
				gops, wops = append(gops, gop), append(wops, wop)
				if !reflect.DeepEqual(gop, wop) {
					t.Errorf("operation %d:\n got %s\nwant %s", i-1, g.Params[i], w.Params[i])
				}
			}
			if len(gops) != len(ops) || len(g.Params) != len(w.Params) {
				t.Fatalf("%d operations, want %d", len(gops), len(ops))
			}
			continue
		}
		if string(got) != string(want) {
			t.Errorf("\n got %s\nwant %s", got, want)
		}
	}
	// Without maps of several pairs, the bytes are json.Marshal's.
	for i, op := range ops {
		if i == 0 {
			continue // options has three pairs
		}
		got, err := appendJSON(nil, op)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(op)
		if string(got) != string(want) {
			t.Errorf("operation %d:\n got %s\nwant %s", i, got, want)
		}
	}
}

// BenchmarkEncodeTransact encodes (json.Marshal: as write did before encode) the transaction that adds a VAP port to
// a bridge, as the worker's ensure sends it.
func BenchmarkEncodeTransact(b *testing.B) {
	ops := testOps()[:4]
	params := []any{db}
	for _, op := range ops {
		params = append(params, op)
	}
	for name, enc := range map[string]func(any) ([]byte, error){"encode": encode, "json.Marshal": json.Marshal} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := enc(request{ID: uint64(42), Method: "transact", Params: params}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
