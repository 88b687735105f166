package rpc

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unsafe"

	"github.com/ovn-kubernetes/libovsdb/model"
	"github.com/ovn-kubernetes/libovsdb/ovsdb"

	"github.com/nva-project/nva/ovsdb/vswitch"
)

// libovsdbDecode is what the cache decoded table-updates with before its
// own decoder: libovsdb's TableUpdates and model.CreateModel.
func libovsdbDecode(dbm model.DatabaseModel, tables []TableColumns, raw []byte) (map[string]map[string]model.Model, error) {
	var tu ovsdb.TableUpdates
	if err := json.Unmarshal(raw, &tu); err != nil {
		return nil, err
	}
	out := map[string]map[string]model.Model{}
	for _, t := range tables {
		out[t.Table] = map[string]model.Model{}
		for uuid, ru := range tu[t.Table] {
			if ru == nil {
				continue
			}
			if ru.New == nil {
				out[t.Table][uuid] = nil
				continue
			}
			m, err := model.CreateModel(dbm, t.Table, ru.New, uuid)
			if err != nil {
				return nil, err
			}
			out[t.Table][uuid] = m
		}
	}
	return out, nil
}

// ownDecode is the cache's decoder's view of the same table-updates.
func ownDecode(dbm model.DatabaseModel, tables []TableColumns, raw []byte) (map[string]map[string]model.Model, error) {
	c, err := newCache(dbm, tables, nil)
	if err != nil {
		return nil, err
	}
	changes, err := c.decodeUpdates(raw)
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]model.Model{}
	for _, t := range tables {
		out[t.Table] = map[string]model.Model{}
	}
	for _, ch := range changes {
		out[ch.table][ch.uuid] = ch.row
	}
	return out, nil
}

// TestDecodeLikeLibovsdb: the cache's one-pass decoder gives the rows
// libovsdb's two passes give, field for field (nil and empty alike), for
// a real monitor reply and for the notations a server may use.
func TestDecodeLikeLibovsdb(t *testing.T) {
	raw, dbm := nveReply(t)
	const u1, u2, u3 = "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222", "33333333-3333-3333-3333-333333333333"
	cases := map[string]string{
		"monitor reply": string(raw),
		"notations": `{"Interface":{"` + u1 + `":{"new":{"name":"e\u00e9\\\"\n\t","type":"vxlan","ofport":["set",[7]],` +
			`"link_state":"up","error":["set",[]],"options":["map",[["remote_ip","flow"],["k\u0041","v"]]],` +
			`"external_ids":["map",[]],"bfd":["map",[["enable","true"]]],"bfd_status":["map",[]],"unknown_column":[1,{"a":null}]},` +
			`"old":{"link_state":"down"}},"` + u2 + `":{"old":{"name":"gone"}},"` + u3 + `":null},` +
			`"Bridge":{"` + u2 + `":{"new":{"name":"br0","ports":["uuid","` + u1 + `"],"controller":["set",[["uuid","` + u1 + `"],["named-uuid","x"]]],` +
			`"fail_mode":"secure","protocols":["set",["OpenFlow13","OpenFlow10"]],"datapath_type":"","other_config":["map",[]],"external_ids":["map",[["nva-owned","true"]]]}}},` +
			`"Controller":{"` + u3 + `":{"new":{"target":"tcp:1.2.3.4:6653","inactivity_probe":5000.0,"max_backoff":["set",[]],"connection_mode":["set",["out-of-band"]]}}},` +
			`"Port":{"` + u1 + `":{"new":{"name":"p","interfaces":["set",[]]},"old":null}},` +
			`"Open_vSwitch":{"` + u1 + `":{"new":{"bridges":["set",[["uuid","` + u2 + `"]]]}}},` +
			`"QoS":{"` + u1 + `":{"new":{"type":"linux-htb"}}},"Mirror":null}`,
		"empty":      `{}`,
		"null table": `{"Bridge":null}`,
	}
	for name, in := range cases {
		want, err := libovsdbDecode(dbm, nveTables, []byte(in))
		if err != nil {
			t.Fatalf("%s: libovsdb: %v", name, err)
		}
		got, err := ownDecode(dbm, nveTables, []byte(in))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, want) {
			for table := range want {
				for u := range want[table] {
					if !reflect.DeepEqual(got[table][u], want[table][u]) {
						t.Errorf("%s: %s row %s:\n got %+v\nwant %+v", name, table, u, got[table][u], want[table][u])
					}
				}
				if len(got[table]) != len(want[table]) {
					t.Errorf("%s: %s: %d rows, want %d", name, table, len(got[table]), len(want[table]))
				}
			}
		}
	}
	// Both decoded into something: rows with contents.
	got, _ := ownDecode(dbm, nveTables, raw)
	if len(got[vswitch.InterfaceTable]) != 23 || len(got[vswitch.ControllerTable]) != 2 {
		t.Fatalf("rows %v", got)
	}
	got, _ = ownDecode(dbm, nveTables, []byte(cases["notations"]))
	i, _ := got[vswitch.InterfaceTable][u1].(*vswitch.Interface)
	if i == nil || i.Name != "e\u00e9\\\"\n\t" || i.Ofport == nil || *i.Ofport != 7 || i.UUID != u1 || i.Options["kA"] != "v" ||
		got[vswitch.InterfaceTable][u2] != nil || len(got[vswitch.InterfaceTable]) != 2 || len(got[vswitch.BridgeTable][u2].(*vswitch.Bridge).Controller) != 2 {
		t.Fatalf("notations decoded to %+v", got)
	}
}

// TestDecodeRefusesWhatLibovsdbRefuses: a value of the wrong type is an
// error, as it was.
func TestDecodeRefusesWhatLibovsdbRefuses(t *testing.T) {
	_, dbm := nveReply(t)
	const u = "11111111-1111-1111-1111-111111111111"
	for _, row := range []string{
		`{"name":1}`,
		`{"name":null}`,
		`{"name":["set",["a"]]}`,
		`{"ofport":"1"}`,
		`{"ofport":["set",[1,2]]}`,
		`{"options":{"a":"b"}}`,
		`{"options":["map",[["a",1]]]}`,
		`{"options":["set",[]]}`,
		`{"type":"a"`,
		`{"name":"a",}`,
		`{"name":"\x01"}`,
	} {
		in := `{"Interface":{"` + u + `":{"new":` + row + `}}}`
		if _, err := libovsdbDecode(dbm, nveTables, []byte(in)); err == nil {
			t.Errorf("%s: libovsdb accepts it", row)
		}
		if _, err := ownDecode(dbm, nveTables, []byte(in)); err == nil {
			t.Errorf("%s: accepted", row)
		}
	}
}

// TestParseMessageLikeJSON: the envelope parser splits messages as
// json.Unmarshal into a message does.
func TestParseMessageLikeJSON(t *testing.T) {
	for _, in := range []string{
		`{"id":1,"result":[{"count":1}],"error":null}`,
		`{"id":"echo","method":"echo","params":["x",1]}`,
		`{"id":null,"method":"update","params":["m",{"Bridge":{}}]}`,
		` { "method" : null , "id" : [1, "a"], "extra": {"x": [true, false, null, -1.5e3]} } `,
		`{"method":"upd\u0061te","params":[]}`,
		`{"error":{"error":"syntax error","details":"x"},"id":7,"result":null}`,
		`{}`,
		`{"id":2,"result":{"a":"]}\"[{\\","b":["\\",{}],"c":"\u005d"},"error":null}`,
		`{"id":3,"result":[["a\\\"]"],[],{}] ,"error":null}`,
	} {
		var want message
		if err := json.Unmarshal([]byte(in), &want); err != nil {
			t.Fatal(err)
		}
		got, err := parseMessage([]byte(in))
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if framed, err := parseFramed([]byte(in), spansPlain([]byte(in))); err != nil || !reflect.DeepEqual(framed, got) {
			t.Fatalf("%s: with the framer's spans %+v, %v; without %+v", in, framed, err, got)
		}
		if string(got.ID) != string(want.ID) || got.Method != want.Method || string(got.Params) != string(want.Params) ||
			string(got.Result) != string(want.Result) || string(got.Error) != string(want.Error) {
			t.Errorf("%s:\n got %+v\nwant %+v", in, got, want)
		}
	}
	for _, in := range []string{`[1]`, `{"id":1,}`, `{"id":"\q"}`, `{"id":"\u12"}`, `{"x":["\u12g4"]}`, `{"method":1}`, `{"id":tru}`, `{"id":01}`, `{"id":"a"} x`, `{"id":` + strings.Repeat("[", maxDepth+2) + strings.Repeat("]", maxDepth+2) + `}`} {
		var m message
		if json.Unmarshal([]byte(in), &m) == nil {
			t.Errorf("%s: encoding/json accepts it", in)
		}
		if m, err := parseMessage([]byte(in)); err == nil && checkJSON(m.Result) == nil {
			t.Errorf("%s: accepted", in)
		}
	}
	// A result is checked where it is used (checkJSON), not by
	// parseMessage.
	for _, in := range []string{`{"id":1,"result":[1 2]}`, `{"id":1,"result":{"a":tru}}`, `{"id":1,"result":["\q"]}`,
		`{"id":1,"result":[` + strings.Repeat("[", maxDepth+2) + strings.Repeat("]", maxDepth+2) + `]}`} {
		m, err := parseMessage([]byte(in))
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if checkJSON(m.Result) == nil {
			t.Errorf("%s: result %s accepted", in, m.Result)
		}
	}
	for _, in := range []string{`{"id":1,"result":[1,2}`, `{"id":1,"result":{"a":"]}`} {
		if _, err := parseMessage([]byte(in)); err == nil {
			t.Errorf("%s: accepted", in)
		}
	}
}

// TestInternedRows: equal small maps and strings of rows are shared, and
// only equal ones.
func TestInternedRows(t *testing.T) {
	_, dbm := nveReply(t)
	const u1, u2, u3 = "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222", "33333333-3333-3333-3333-333333333333"
	in := `{"Interface":{` +
		`"` + u1 + `":{"new":{"name":"a","external_ids":["map",[["nva-owned","true"]]],"options":["map",[["a\u0000b","c"]]],"link_state":"up","ofport":7}},` +
		`"` + u2 + `":{"new":{"name":"b","external_ids":["map",[["nva-owned","true"]]],"options":["map",[["a","b\u0000c"]]],"link_state":"up","ofport":["set",[7]]}},` +
		`"` + u3 + `":{"new":{"name":"c","external_ids":["map",[["nva-owned","false"]]],"options":["map",[]],"link_state":"down","ofport":8}}}}`
	got, err := ownDecode(dbm, nveTables, []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	r1, r2, r3 := got[vswitch.InterfaceTable][u1].(*vswitch.Interface), got[vswitch.InterfaceTable][u2].(*vswitch.Interface), got[vswitch.InterfaceTable][u3].(*vswitch.Interface)
	if reflect.ValueOf(r1.ExternalIDs).UnsafePointer() != reflect.ValueOf(r2.ExternalIDs).UnsafePointer() {
		t.Error("equal external_ids are not shared")
	}
	if r3.ExternalIDs["nva-owned"] != "false" || r1.ExternalIDs["nva-owned"] != "true" {
		t.Errorf("external_ids %v %v", r1.ExternalIDs, r3.ExternalIDs)
	}
	if r1.LinkState != r2.LinkState || r1.Ofport != r2.Ofport {
		t.Error("equal optional values do not share their pointers")
	}
	if *r1.LinkState != "up" || *r3.LinkState != "down" || *r1.Ofport != 7 || *r3.Ofport != 8 {
		t.Errorf("link states %q %q, ofports %d %d", *r1.LinkState, *r3.LinkState, *r1.Ofport, *r3.Ofport)
	}
	if r1.Options["a\x00b"] != "c" || r2.Options["a"] != "b\x00c" || len(r1.Options) != 1 || len(r2.Options) != 1 || r3.Options == nil || len(r3.Options) != 0 {
		t.Errorf("options %q %q %q", r1.Options, r2.Options, r3.Options)
	}
}

// TestReferencesShareRowUUIDs: a bridge's references to its ports are the
// port rows' own UUID strings, in the initial rows and after an update.
func TestReferencesShareRowUUIDs(t *testing.T) {
	raw, dbm := nveReply(t)
	c, err := newCache(dbm, nveTables, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.initial(raw); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		c.Read(func(tables map[string]map[string]model.Model) {
			n := 0
			for _, m := range tables[vswitch.BridgeTable] {
				for _, pu := range m.(*vswitch.Bridge).Ports {
					p := tables[vswitch.PortTable][pu].(*vswitch.Port)
					if unsafe.StringData(p.UUID) != unsafe.StringData(pu) {
						t.Errorf("%s: reference %s is a copy of the port's UUID", when, pu)
					}
					n++
				}
			}
			if n != 23 {
				t.Fatalf("%s: %d ports", when, n)
			}
		})
	}
	check("initial rows")
	var bridge *vswitch.Bridge
	c.Read(func(tables map[string]map[string]model.Model) {
		for _, m := range tables[vswitch.BridgeTable] {
			bridge = m.(*vswitch.Bridge)
		}
	})
	refs := make([]string, 0, len(bridge.Ports))
	for _, pu := range bridge.Ports {
		refs = append(refs, `["uuid","`+pu+`"]`)
	}
	update := `{"Bridge":{"` + bridge.UUID + `":{"new":{"name":"br-int","ports":["set",[` + strings.Join(refs, ",") + `]]}}}}`
	if err := c.update([]byte(update)); err != nil {
		t.Fatal(err)
	}
	check("after an update")
}
