package fleet

import (
	"context"
	"encoding/binary"
	"path/filepath"
	"testing"
	"time"

	"antrea.io/libOpenflow/openflow13"
	"github.com/go-logr/logr"
	"github.com/ovn-kubernetes/libovsdb/client"
	"github.com/ovn-kubernetes/libovsdb/model"
	"github.com/ovn-kubernetes/libovsdb/ovsdb"

	"github.com/nva-project/nva/ovsdb/vswitch"
)

// TestOVSDB plays nva's OVSDB part against the simulated database with a
// libovsdb client: a bridge with a datapath ID, a controller and two
// interfaces (one the bridge's own). The simulated vswitchd numbers the
// interfaces (LOCAL for the bridge's), and the switch connects to the
// controller with that datapath ID and those ports.
func TestOVSDB(t *testing.T) {
	addr, accept := listen(t)
	_, db := startSimOVSDB(t)

	cm, err := vswitch.FullDatabaseModel()
	if err != nil {
		t.Fatal(err)
	}
	discard := logr.Discard()
	cl, err := client.NewOVSDBClient(cm, client.WithEndpoint(db.Endpoint()), client.WithLogger(&discard))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := cl.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	defer cl.Disconnect()
	if _, err := cl.MonitorAll(ctx); err != nil {
		t.Fatal(err)
	}
	if err := cl.Echo(ctx); err != nil {
		t.Fatalf("echo: %v", err)
	}

	var roots []vswitch.OpenvSwitch
	if err := cl.List(ctx, &roots); err != nil || len(roots) != 1 {
		t.Fatalf("root rows: %d (%v), want 1", len(roots), err)
	}
	ctl := &vswitch.Controller{UUID: "ctl", Target: "tcp:" + addr}
	i1 := &vswitch.Interface{UUID: "i1", Name: "tap1"}
	i0 := &vswitch.Interface{UUID: "i0", Name: "br-int", Type: "internal"}
	p1 := &vswitch.Port{UUID: "p1", Name: "tap1", Interfaces: []string{"i1"}}
	p0 := &vswitch.Port{UUID: "p0", Name: "br-int", Interfaces: []string{"i0"}}
	br := &vswitch.Bridge{UUID: "br", Name: "br-int", Ports: []string{"p0", "p1"}, Controller: []string{"ctl"},
		OtherConfig: map[string]string{"datapath-id": "00000000000000ab"}}
	var ops []ovsdb.Operation
	for _, m := range []model.Model{ctl, i1, i0, p1, p0, br} {
		o, err := cl.Create(m)
		if err != nil {
			t.Fatal(err)
		}
		ops = append(ops, o...)
	}
	root := roots[0]
	mut, err := cl.Where(&root).Mutate(&root, model.Mutation{Field: &root.Bridges, Mutator: ovsdb.MutateOperationInsert, Value: []string{"br"}})
	if err != nil {
		t.Fatal(err)
	}
	ops = append(ops, mut...)
	res, err := cl.Transact(ctx, ops...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ovsdb.CheckOperationResults(res, ops); err != nil {
		t.Fatal(err)
	}

	c := accept()
	c.send(openflow13.NewFeaturesRequest())
	fr := c.expect(openflow13.Type_FeaturesReply)
	if got := binary.BigEndian.Uint64(fr[8:16]); got != 0xab {
		t.Fatalf("datapath ID %#x, want 0xab from other_config", got)
	}
	body, _ := c.multipart(openflow13.MultipartType_PortDesc, nil)
	ports := map[string]uint32{}
	for off := 0; off+64 <= len(body); off += 64 {
		p := openflow13.NewPhyPort()
		if err := p.UnmarshalBinary(body[off : off+64]); err != nil {
			t.Fatal(err)
		}
		name := string(p.Name)
		for i := range name {
			if name[i] == 0 {
				name = name[:i]
				break
			}
		}
		ports[name] = p.PortNo
	}
	if len(ports) != 2 || ports["tap1"] != 1 || ports["br-int"] != ofppLocal {
		t.Errorf("port desc %v, want tap1 as 1 and br-int as LOCAL", ports)
	}
	// The interfaces' ofports as nva reads them.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var ifs []vswitch.Interface
		if err := cl.List(ctx, &ifs); err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		for _, i := range ifs {
			if i.Ofport != nil && i.LinkState != nil && *i.LinkState == vswitch.InterfaceLinkStateUp {
				got[i.Name] = *i.Ofport
			}
		}
		if got["tap1"] == 1 && got["br-int"] == ofppLocalOVSDB {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("interfaces in OVSDB: %v, want tap1 ofport 1 and br-int 65534, both up", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := db.Err(); err != nil {
		t.Errorf("simulated vswitchd: %v", err)
	}
	if opened, _ := db.Sessions(); opened != 1 {
		t.Errorf("%d sessions opened, want 1", opened)
	}
}

// startSimOVSDB starts a simulated NVE for a test: a switch without
// inactivity probes and its OVSDB server on a socket in tb's temporary
// directory, both closed when tb ends.
func startSimOVSDB(tb testing.TB) (*Switch, *OVSDB) {
	tb.Helper()
	sw := NewSwitch(0, SwitchOptions{Bundles: true, ProbeInterval: -1})
	tb.Cleanup(sw.Close)
	db, err := StartOVSDB(filepath.Join(tb.TempDir(), "db.sock"), sw)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(db.Close)
	return sw, db
}
