package vtep

import (
	"context"
	"errors"
	"fmt"
	hw "github.com/nva-project/nva/ovsdb/hwvtep"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ovn-kubernetes/libovsdb/client"
	"github.com/ovn-kubernetes/libovsdb/database/inmemory"
	"github.com/ovn-kubernetes/libovsdb/model"
	"github.com/ovn-kubernetes/libovsdb/ovsdb"
	"github.com/ovn-kubernetes/libovsdb/server"
)

// testDB is libovsdb's in-memory OVSDB server with the hardware_vtep
// schema, holding one physical switch (tunnel IP 198.18.0.9) with ports
// p1 and p2, as a VTEP's database does before nva manages it.
type testDB struct {
	t        *testing.T
	endpoint string
	cl       client.Client // the test's own session, to seed and inspect
}

func startDB(t *testing.T) *testDB {
	t.Helper()
	full, err := hw.FullDatabaseModel()
	if err != nil {
		t.Fatal(err)
	}
	dbModel, errs := model.NewDatabaseModel(hw.Schema(), full)
	if len(errs) > 0 {
		t.Fatal(errors.Join(errs...))
	}
	srv, err := server.NewOvsdbServer(inmemory.NewDatabase(map[string]model.ClientDBModel{"hardware_vtep": full}, nil), nil, dbModel)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "vtep.sock")
	go func() { _ = srv.Serve("unix", path) }()
	t.Cleanup(srv.Close)
	for i := 0; !srv.Ready(); i++ {
		if i > 1000 {
			t.Fatal("in-memory OVSDB server not ready")
		}
		time.Sleep(5 * time.Millisecond)
	}
	d := &testDB{t: t, endpoint: "unix:" + path}
	d.cl, err = client.NewOVSDBClient(full, client.WithEndpoint(d.endpoint))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.cl.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.cl.Close)
	if _, err := d.cl.MonitorAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	d.txn(func() ([]ovsdb.Operation, error) {
		var ops []ovsdb.Operation
		for _, m := range []model.Model{
			&hw.PhysicalPort{UUID: "pp1", Name: "p1"},
			&hw.PhysicalPort{UUID: "pp2", Name: "p2"},
			&hw.PhysicalSwitch{UUID: "ps", Name: "ps1", Ports: []string{"pp1", "pp2"}, TunnelIPs: []string{"198.18.0.9"}},
			&hw.Global{UUID: "g", Switches: []string{"ps"}},
			// The VTEP's own locator, and one to 198.18.0.1 that another
			// controller's logical switch uses: nva reuses it (locators
			// are non-root: unreferenced ones are garbage-collected).
			&hw.PhysicalLocator{UUID: "l9", DstIP: "198.18.0.9", EncapsulationType: vxlan},
			&hw.PhysicalLocator{UUID: "l1", DstIP: "198.18.0.1", EncapsulationType: vxlan},
			&hw.LogicalSwitch{UUID: "other", Name: "theirs"},
			&hw.UcastMacsRemote{MAC: "02:00:00:00:99:99", Locator: "l1", LogicalSwitch: "other"},
			&hw.UcastMacsLocal{MAC: "02:00:00:00:99:98", Locator: "l9", LogicalSwitch: "other"},
		} {
			o, err := d.cl.Create(m)
			if err != nil {
				return nil, err
			}
			ops = append(ops, o...)
		}
		return ops, nil
	})
	return d
}

func (d *testDB) txn(build func() ([]ovsdb.Operation, error)) {
	d.t.Helper()
	ops, err := build()
	if err != nil {
		d.t.Fatal(err)
	}
	res, err := d.cl.Transact(context.Background(), ops...)
	if err == nil {
		_, err = ovsdb.CheckOperationResults(res, ops)
	}
	if err != nil {
		d.t.Fatalf("seed transaction: %v", err)
	}
}

// uuid is logical switch name's UUID.
func (d *testDB) uuid(name string) string {
	d.t.Helper()
	var lss []hw.LogicalSwitch
	if err := d.cl.List(context.Background(), &lss); err != nil {
		d.t.Fatal(err)
	}
	for _, l := range lss {
		if l.Name == name {
			return l.UUID
		}
	}
	d.t.Fatalf("no Logical_Switch %s", name)
	return ""
}

// locator is the UUID of the locator to ip.
func (d *testDB) locator(ip string) string {
	d.t.Helper()
	var locs []hw.PhysicalLocator
	if err := d.cl.List(context.Background(), &locs); err != nil {
		d.t.Fatal(err)
	}
	for _, l := range locs {
		if l.DstIP == ip {
			return l.UUID
		}
	}
	d.t.Fatalf("no Physical_Locator to %s", ip)
	return ""
}

// rows is what the test reads back, as text it can compare.
type rows struct {
	ls       map[string]string // name -> "key=5001 mode=source_node desc=nva"
	bindings map[string]string // port -> vlan -> LS name
	ucast    []string          // "ls mac ip -> locator ip"
	mcast    []string          // "ls mac -> [ips]"
	locators int
}

func (d *testDB) read() rows {
	d.t.Helper()
	ctx := context.Background()
	var (
		lss   []hw.LogicalSwitch
		pps   []hw.PhysicalPort
		ucs   []hw.UcastMacsRemote
		mcs   []hw.McastMacsRemote
		locs  []hw.PhysicalLocator
		lsets []hw.PhysicalLocatorSet
	)
	for _, l := range []any{&lss, &pps, &ucs, &mcs, &locs, &lsets} {
		if err := d.cl.List(ctx, l); err != nil {
			d.t.Fatal(err)
		}
	}
	lsName, locIP, sets := map[string]string{}, map[string]string{}, map[string][]string{}
	r := rows{ls: map[string]string{}, bindings: map[string]string{}, locators: len(locs)}
	for _, ls := range lss {
		lsName[ls.UUID] = ls.Name
		key, mode := -1, ""
		if ls.TunnelKey != nil {
			key = *ls.TunnelKey
		}
		if ls.ReplicationMode != nil {
			mode = *ls.ReplicationMode
		}
		r.ls[ls.Name] = fmt.Sprintf("key=%d mode=%s desc=%s", key, mode, ls.Description)
	}
	for _, l := range locs {
		locIP[l.UUID] = l.DstIP
	}
	for _, s := range lsets {
		for _, l := range s.Locators {
			sets[s.UUID] = append(sets[s.UUID], locIP[l])
		}
		slices.Sort(sets[s.UUID])
	}
	for _, p := range pps {
		var b []string
		for vlan, ls := range p.VLANBindings {
			b = append(b, fmt.Sprintf("%d=%s", vlan, lsName[ls]))
		}
		slices.Sort(b)
		r.bindings[p.Name] = fmt.Sprint(b)
	}
	for _, u := range ucs {
		r.ucast = append(r.ucast, fmt.Sprintf("%s %s %s -> %s", lsName[u.LogicalSwitch], u.MAC, u.Ipaddr, locIP[u.Locator]))
	}
	slices.Sort(r.ucast)
	for _, m := range mcs {
		r.mcast = append(r.mcast, fmt.Sprintf("%s %s -> %v", lsName[m.LogicalSwitch], m.MAC, sets[m.LocatorSet]))
	}
	slices.Sort(r.mcast)
	return r
}

// recorder is a Reporter that keeps the last report per VTEP.
type recorder struct {
	mu   sync.Mutex
	last map[string][]Learned
	n    int
}

func (r *recorder) VTEPLearned(_ context.Context, nve string, macs []Learned) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.last == nil {
		r.last = map[string][]Learned{}
	}
	r.last[nve] = slices.Clone(macs)
	r.n++
	return nil
}

func (r *recorder) get(nve string) ([]Learned, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last[nve], r.n
}

// waitFor polls cond until it holds (the deadline only bounds a broken
// test; nothing is timed).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func blueDesired(endpoint string) Desired {
	return Desired{NVE: "tor1", Endpoint: endpoint, TunnelIP: "198.18.0.9", VNs: []VN{{
		Name: "blue", VNI: 5001,
		Bindings: []Binding{{Port: "p1", VLAN: 100}, {Port: "p2", VLAN: 0}},
		Remote: []RemoteMAC{
			{MAC: "02:00:00:00:00:01", IP: "10.0.0.1", Locator: "198.18.0.1"},
			{MAC: "02:00:00:00:00:02", Locator: "198.18.0.1"},
			{MAC: "02:00:00:00:00:03", IP: "10.0.0.3", Locator: "198.18.0.2"},
		},
		Flood: []string{"198.18.0.1", "198.18.0.2"},
	}}}
}

// planOps plans d against the database as the test's session sees it.
func planOps(t *testing.T, db *testDB, d Desired) *plan {
	t.Helper()
	v, err := read(context.Background(), db.cl, d.TunnelIP)
	if err != nil {
		t.Fatal(err)
	}
	p, err := makePlan(db.cl, v, d)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func insync(m *Manager, nve string) func() bool {
	return func() bool { s, ok := m.Status(nve); return ok && s.InSync && s.LastError == "" }
}

func TestDesiredRowsLocatorsAndNoChurn(t *testing.T) {
	db := startDB(t)
	// Another controller's logical switch, bound on p1 vlan 200: kept.
	db.txn(func() ([]ovsdb.Operation, error) {
		pp := &hw.PhysicalPort{Name: "p1", VLANBindings: map[int]string{200: db.uuid("theirs")}}
		return db.cl.WhereAny(pp, model.Condition{Field: &pp.Name, Function: ovsdb.ConditionEqual, Value: "p1"}).Update(pp, &pp.VLANBindings)
	})
	rec := &recorder{}
	m := NewManager(nil, rec, nil, WithBackoff(10*time.Millisecond, 100*time.Millisecond))
	defer m.Close()
	d := blueDesired(db.endpoint)
	m.Sync(d)
	waitFor(t, "the VTEP in sync", insync(m, "tor1"))
	got := db.read()
	if want := "key=5001 mode=source_node desc=nva"; got.ls["blue"] != want {
		t.Errorf("Logical_Switch blue: %q, want %q", got.ls["blue"], want)
	}
	if got.ls["theirs"] == "" {
		t.Errorf("another controller's Logical_Switch was removed")
	}
	if got.bindings["p1"] != "[100=blue 200=theirs]" || got.bindings["p2"] != "[0=blue]" {
		t.Errorf("vlan_bindings %v", got.bindings)
	}
	wantU := []string{
		"blue 02:00:00:00:00:01 10.0.0.1 -> 198.18.0.1",
		"blue 02:00:00:00:00:02  -> 198.18.0.1",
		"blue 02:00:00:00:00:03 10.0.0.3 -> 198.18.0.2",
		"theirs 02:00:00:00:99:99  -> 198.18.0.1",
	}
	if !slices.Equal(got.ucast, wantU) {
		t.Errorf("Ucast_Macs_Remote\n got %q\nwant %q", got.ucast, wantU)
	}
	if want := []string{"blue unknown-dst -> [198.18.0.1 198.18.0.2]"}; !slices.Equal(got.mcast, want) {
		t.Errorf("Mcast_Macs_Remote %q, want %q", got.mcast, want)
	}
	// 198.18.0.9 and .1 were there (.1 is reused, not duplicated); only
	// .2 is new, shared by its MAC and the replication list.
	if got.locators != 3 {
		t.Errorf("%d Physical_Locator rows, want 3 (reused by dst_ip)", got.locators)
	}
	// A second pass over the result changes nothing.
	if p := planOps(t, db, d); len(p.ops) != 0 || len(p.warnings) != 0 {
		t.Fatalf("second pass: %d operations %v, warnings %v", len(p.ops), p.ops, p.warnings)
	}

	// A change: one MAC leaves, one moves, the replication list shrinks.
	d2 := blueDesired(db.endpoint)
	d2.VNs[0].Remote = []RemoteMAC{
		{MAC: "02:00:00:00:00:01", IP: "10.0.0.1", Locator: "198.18.0.2"},
		{MAC: "02:00:00:00:00:03", IP: "10.0.0.3", Locator: "198.18.0.2"},
	}
	d2.VNs[0].Flood = []string{"198.18.0.2"}
	p := planOps(t, db, d2)
	// Delete :02, update :01's locator, a new set, the mcast row's update.
	if len(p.ops) != 4 {
		t.Errorf("change planned %d operations, want 4: %v", len(p.ops), p.ops)
	}
	m.Sync(d2)
	waitFor(t, "the change applied", func() bool {
		g := db.read()
		return len(g.ucast) == 3 && slices.Equal(g.mcast, []string{"blue unknown-dst -> [198.18.0.2]"})
	})
	got = db.read()
	if want := []string{"blue 02:00:00:00:00:01 10.0.0.1 -> 198.18.0.2", "blue 02:00:00:00:00:03 10.0.0.3 -> 198.18.0.2", "theirs 02:00:00:00:99:99  -> 198.18.0.1"}; !slices.Equal(got.ucast, want) {
		t.Errorf("after the change Ucast_Macs_Remote %q, want %q", got.ucast, want)
	}
	if got.locators != 3 {
		t.Errorf("after the change %d locators, want 3", got.locators)
	}
	waitFor(t, "in sync after the change", insync(m, "tor1"))
	if p := planOps(t, db, d2); len(p.ops) != 0 {
		t.Fatalf("pass after the change: %d operations %v", len(p.ops), p.ops)
	}

	// Drift: someone deletes a remote MAC; nva puts it back.
	db.txn(func() ([]ovsdb.Operation, error) {
		u := &hw.UcastMacsRemote{MAC: "02:00:00:00:00:03"}
		return db.cl.WhereAny(u, model.Condition{Field: &u.MAC, Function: ovsdb.ConditionEqual, Value: u.MAC}).Delete()
	})
	waitFor(t, "drift repaired", func() bool { return len(db.read().ucast) == 3 })

	// Remove: nva's rows go, the other controller's stay.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := m.Remove(ctx, "tor1"); err != nil {
		t.Fatal(err)
	}
	got = db.read()
	if got.ls["blue"] != "" || got.ls["theirs"] == "" || len(got.ucast) != 1 || len(got.mcast) != 0 ||
		got.bindings["p1"] != "[200=theirs]" || got.bindings["p2"] != "[]" {
		t.Fatalf("after Remove: %+v", got)
	}
}

func TestLearnedMACsReported(t *testing.T) {
	db := startDB(t)
	rec := &recorder{}
	m := NewManager(nil, rec, nil, WithBackoff(10*time.Millisecond, 100*time.Millisecond))
	defer m.Close()
	d := blueDesired(db.endpoint)
	d.VNs = append(d.VNs, VN{Name: "red", VNI: 5002, Bindings: []Binding{{Port: "p1", VLAN: 300}}})
	m.Sync(d)
	waitFor(t, "the VTEP in sync", insync(m, "tor1"))
	if got, n := rec.get("tor1"); len(got) != 0 || n == 0 {
		t.Fatalf("before learning: reported %v (%d reports), want one empty report", got, n)
	}
	ls := map[string]string{"blue": db.uuid("blue"), "red": db.uuid("red")}
	l9 := db.locator("198.18.0.9")
	// The VTEP learns two hosts, as ovs-vtep writes them.
	db.txn(func() ([]ovsdb.Operation, error) {
		var ops []ovsdb.Operation
		for _, u := range []*hw.UcastMacsLocal{
			{MAC: "02:00:00:00:00:AA", Ipaddr: "", Locator: l9, LogicalSwitch: ls["blue"]},
			{MAC: "02:00:00:00:00:bb", Locator: l9, LogicalSwitch: ls["red"]},
		} {
			o, err := db.cl.Create(u)
			if err != nil {
				return nil, err
			}
			ops = append(ops, o...)
		}
		return ops, nil
	})
	want := []Learned{{VN: "blue", MAC: "02:00:00:00:00:aa"}, {VN: "red", MAC: "02:00:00:00:00:bb"}}
	waitFor(t, "the learned MACs reported", func() bool { got, _ := rec.get("tor1"); return slices.Equal(got, want) })
	_, n := rec.get("tor1")
	// A pass that changes nothing reports nothing again.
	d.Warnings = []string{"poke"}
	m.Sync(d)
	waitFor(t, "the poke seen", func() bool { s, _ := m.Status("tor1"); return slices.Contains(s.Warnings, "poke") })
	if _, n2 := rec.get("tor1"); n2 != n {
		t.Fatalf("unchanged learned set reported again (%d -> %d reports)", n, n2)
	}
	if s, _ := m.Status("tor1"); !slices.Equal(s.Learned, want) {
		t.Fatalf("status learned %v, want %v", s.Learned, want)
	}
	// VN red leaves the VTEP: its logical switch stays while the VTEP
	// still has a learned MAC in it.
	d.VNs = d.VNs[:1]
	m.Sync(d)
	waitFor(t, "red's bindings removed", func() bool { return db.read().bindings["p1"] == "[100=blue]" })
	waitFor(t, "the wait reported", func() bool {
		s, _ := m.Status("tor1")
		return slices.Contains(s.Warnings, "Logical_Switch red: waiting for the VTEP to release it")
	})
	if db.read().ls["red"] == "" {
		t.Fatal("red's Logical_Switch deleted while the VTEP still refers to it")
	}
}

func TestMissingSwitchAndPort(t *testing.T) {
	db := startDB(t)
	m := NewManager(nil, nil, nil, WithBackoff(10*time.Millisecond, 100*time.Millisecond))
	defer m.Close()
	d := blueDesired(db.endpoint)
	d.VNs[0].Bindings = append(d.VNs[0].Bindings, Binding{Port: "p9", VLAN: 5})
	m.Sync(d)
	waitFor(t, "the missing port reported", func() bool {
		s, _ := m.Status("tor1")
		return slices.Contains(s.Warnings, "physical port p9: not a port of Physical_Switch ps1; not bound")
	})
	d.TunnelIP = "198.18.0.99"
	// With one switch in the database it is used whatever its tunnel IP;
	// add a second so that the choice is ambiguous.
	db.txn(func() ([]ovsdb.Operation, error) {
		ops, err := db.cl.Create(&hw.PhysicalSwitch{UUID: "ps2", Name: "ps2", TunnelIPs: []string{"198.18.0.10"}})
		if err != nil {
			return nil, err
		}
		var gs []hw.Global
		if err := db.cl.List(context.Background(), &gs); err != nil || len(gs) != 1 {
			return nil, fmt.Errorf("Global rows %v: %v", gs, err)
		}
		g := &gs[0]
		mut, err := db.cl.Where(g).Mutate(g, model.Mutation{Field: &g.Switches, Mutator: ovsdb.MutateOperationInsert, Value: []string{"ps2"}})
		return append(ops, mut...), err
	})
	m.Sync(d)
	waitFor(t, "the missing switch reported", func() bool {
		s, _ := m.Status("tor1")
		return s.LastError == "no Physical_Switch with tunnel_ips 198.18.0.99 (the database has 2 switches)"
	})
}
