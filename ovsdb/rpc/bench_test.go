package rpc

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/ovn-kubernetes/libovsdb/model"
	"github.com/ovn-kubernetes/libovsdb/ovsdb"

	"github.com/nva-project/nva/ovsdb/vswitch"
)

// nveTables are the tables and columns nva's OVSDB sync monitors
// (ovsdb.monitored, which this package cannot import).
var nveTables = []TableColumns{
	{Table: vswitch.OpenvSwitchTable, Columns: []string{"bridges"}},
	{Table: vswitch.BridgeTable, Columns: []string{"name", "ports", "controller", "datapath_type", "fail_mode",
		"protocols", "other_config", "external_ids"}},
	{Table: vswitch.PortTable, Columns: []string{"name", "interfaces", "external_ids"}},
	{Table: vswitch.InterfaceTable, Columns: []string{"name", "type", "options", "ofport", "link_state",
		"error", "external_ids", "bfd", "bfd_status"}},
	{Table: vswitch.ControllerTable, Columns: []string{"target", "connection_mode", "inactivity_probe", "max_backoff",
		"external_ids"}},
}

// nveModel is the database model of nveTables.
func nveModel(t testing.TB, s *Session) model.DatabaseModel {
	t.Helper()
	return schemaModel(t, s, map[string]model.Model{
		vswitch.OpenvSwitchTable: &vswitch.OpenvSwitch{},
		vswitch.BridgeTable:      &vswitch.Bridge{},
		vswitch.PortTable:        &vswitch.Port{},
		vswitch.InterfaceTable:   &vswitch.Interface{},
		vswitch.ControllerTable:  &vswitch.Controller{},
	})
}

// seedNVE fills the server with an NVE's bridge as nva configures it: the
// bridge's internal port, 20 VAP ports, two tunnel ports (one with BFD)
// and two controllers, all with nva's external_ids.
func seedNVE(t testing.TB, s *Session) {
	t.Helper()
	owned := ovsdb.OvsMap{GoMap: map[any]any{"nva-owned": "true"}}
	var ops []ovsdb.Operation
	var ports []any
	add := func(name string, iface ovsdb.Row) {
		iface["name"] = name
		iface["external_ids"] = owned
		ops = append(ops,
			ovsdb.Operation{Op: ovsdb.OperationInsert, Table: vswitch.InterfaceTable, UUIDName: "i" + strings.ReplaceAll(name, "-", "_"), Row: iface},
			ovsdb.Operation{Op: ovsdb.OperationInsert, Table: vswitch.PortTable, UUIDName: "p" + strings.ReplaceAll(name, "-", "_"),
				Row: ovsdb.Row{"name": name, "external_ids": owned, "interfaces": ovsdb.UUID{GoUUID: "i" + strings.ReplaceAll(name, "-", "_")}}})
		ports = append(ports, ovsdb.UUID{GoUUID: "p" + strings.ReplaceAll(name, "-", "_")})
	}
	add("br-int", ovsdb.Row{"type": "internal", "ofport": 65534, "link_state": "up"})
	for i := range 20 {
		add(fmt.Sprintf("vap%02d", i), ovsdb.Row{"ofport": i + 1, "link_state": "up"})
	}
	add("nva-vxlan", ovsdb.Row{"type": "vxlan", "ofport": 100, "link_state": "up",
		"options": ovsdb.OvsMap{GoMap: map[any]any{"remote_ip": "flow", "key": "flow", "local_ip": "192.0.2.1"}}})
	add("nvx0a000002", ovsdb.Row{"type": "vxlan", "ofport": 101, "link_state": "up",
		"options":    ovsdb.OvsMap{GoMap: map[any]any{"remote_ip": "192.0.2.2", "key": "flow", "local_ip": "192.0.2.1"}},
		"bfd":        ovsdb.OvsMap{GoMap: map[any]any{"enable": "true", "min_tx": "100"}},
		"bfd_status": ovsdb.OvsMap{GoMap: map[any]any{"state": "up", "forwarding": "true", "diagnostic": "No Diagnostic", "remote_state": "up", "flap_count": "1"}}})
	ctl := func(name, target string) ovsdb.Operation {
		return ovsdb.Operation{Op: ovsdb.OperationInsert, Table: vswitch.ControllerTable, UUIDName: name, Row: ovsdb.Row{
			"target": target, "connection_mode": "out-of-band", "inactivity_probe": 5000, "max_backoff": 1000, "external_ids": owned}}
	}
	ops = append(ops, ctl("c1", "tcp:198.18.255.1:6653"), ctl("c2", "tcp:198.18.255.2:6653"),
		ovsdb.Operation{Op: ovsdb.OperationInsert, Table: vswitch.BridgeTable, UUIDName: "br", Row: ovsdb.Row{
			"name": "br-int", "ports": ovsdb.OvsSet{GoSet: ports}, "fail_mode": "secure", "protocols": "OpenFlow13",
			"datapath_type": "system", "external_ids": owned,
			"controller":   ovsdb.OvsSet{GoSet: []any{ovsdb.UUID{GoUUID: "c1"}, ovsdb.UUID{GoUUID: "c2"}}},
			"other_config": ovsdb.OvsMap{GoMap: map[any]any{"datapath-id": "00004e5600000001"}}}},
		ovsdb.Operation{Op: ovsdb.OperationInsert, Table: vswitch.OpenvSwitchTable, Row: ovsdb.Row{"bridges": ovsdb.UUID{GoUUID: "br"}}})
	transact(t, s, ops...)
}

// nveReply is the raw reply to a monitor of nveTables on a server holding
// seedNVE's bridge, and the model to decode it with.
func nveReply(t testing.TB) (json.RawMessage, model.DatabaseModel) {
	t.Helper()
	srv := startServer(t)
	s := dialT(t, srv.endpoint(), Config{})
	seedNVE(t, s)
	reqs := map[string]ovsdb.MonitorRequest{}
	for _, tc := range nveTables {
		reqs[tc.Table] = ovsdb.MonitorRequest{Columns: tc.Columns, Select: ovsdb.NewDefaultMonitorSelect()}
	}
	var raw json.RawMessage
	if err := s.Call(context.Background(), "monitor", []any{db, "raw", reqs}, &raw); err != nil {
		t.Fatal(err)
	}
	return raw, nveModel(t, s)
}

// BenchmarkDecodeMonitorReply decodes the initial rows of a 20-port NVE
// bridge into a fresh cache.
func BenchmarkDecodeMonitorReply(b *testing.B) {
	raw, dbm := nveReply(b)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		c, err := newCache(dbm, nveTables, nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.initial(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUpdateNotification handles one "update" notification (an
// interface's link going down, as ovsdb-server sends it: the new row with
// every monitored column, the old one with the changed column) from the
// framed message to the swapped-in row.
func BenchmarkUpdateNotification(b *testing.B) {
	raw, dbm := nveReply(b)
	a, peer := net.Pipe()
	b.Cleanup(func() { peer.Close() })
	s := NewSession(a, Config{ProbeInterval: -1})
	b.Cleanup(s.Close)
	c, err := newCache(dbm, nveTables, nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := c.initial(raw); err != nil {
		b.Fatal(err)
	}
	s.mu.Lock()
	s.monitors["nva-monitor-1"] = c
	s.mu.Unlock()
	var uuid string
	c.Read(func(tables map[string]map[string]model.Model) {
		for u, m := range tables[vswitch.InterfaceTable] {
			if m.(*vswitch.Interface).Name == "vap07" {
				uuid = u
			}
		}
	})
	msg := []byte(`{"id":null,"method":"update","params":["nva-monitor-1",{"Interface":{"` + uuid + `":{"new":{"name":"vap07","type":"","options":["map",[]],"ofport":8,"link_state":"down","error":["set",[]],"external_ids":["map",[["nva-owned","true"]]],"bfd":["map",[]],"bfd_status":["map",[]]},"old":{"link_state":"up"}}}}]}`)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if err := s.handle(msg); err != nil {
			b.Fatal(err)
		}
	}
	var i *vswitch.Interface
	c.Read(func(tables map[string]map[string]model.Model) {
		i = tables[vswitch.InterfaceTable][uuid].(*vswitch.Interface)
	})
	if i.LinkState == nil || *i.LinkState != "down" || i.Ofport == nil || *i.Ofport != 8 || i.ExternalIDs["nva-owned"] != "true" {
		b.Fatalf("updated row %+v", i)
	}
}
