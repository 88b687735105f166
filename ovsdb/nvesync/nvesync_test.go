package nvesync

import (
	"context"
	"maps"
	"net/netip"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/ovsdb"
)

func testSnap() *model.Snapshot {
	return &model.Snapshot{
		VNs: map[string]*model.VN{
			"blue": {Name: "blue", VNI: 100, Encap: model.EncapVXLAN},
			"red":  {Name: "red", VNI: 200, Encap: model.EncapGENEVE},
		},
		NVEs: map[string]*model.NVE{
			"hv1": {Name: "hv1", Kind: model.NVEOVS, UnderlayIPs: []string{"198.18.0.1"}, OVSDB: "unix:/tmp/hv1.sock", Bridge: "br-int", DatapathType: "netdev", DatapathID: "00004e5600000001"},
			"hv2": {Name: "hv2", Kind: model.NVEOVS, UnderlayIPs: []string{"198.18.0.2"}, OVSDB: "unix:/tmp/hv2.sock", Bridge: "br-int", DatapathType: "netdev", DatapathID: "00004e5600000002"},
			"tor": {Name: "tor", Kind: model.NVEOpenFlow, UnderlayIPs: []string{"198.18.0.9"}, DatapathID: "0000000000000009"},
		},
		Ports: model.TableOf(map[string]*model.Port{
			"a": {Name: "a", VN: "blue", NVE: "hv1", Interface: "veth-a"},
			"b": {Name: "b", VN: "red", NVE: "hv1", Interface: "veth-b"},
			"c": {Name: "c", VN: "blue", NVE: "hv2", Interface: "veth-c"},
		}),
	}
}

var testNodes = []model.Member{{ID: "n1", OpenFlowAddr: "198.19.0.1:6653"}, {ID: "n2", OpenFlowAddr: "198.19.0.2:6653"}, {ID: "n3"}}

func TestDesired(t *testing.T) {
	s := testSnap()
	got := Desired(s, s.NVEs["hv1"], testNodes)
	want := ovsdb.Desired{
		NVE: "hv1", Endpoint: "unix:/tmp/hv1.sock", Bridge: "br-int", DatapathType: "netdev", DatapathID: "00004e5600000001",
		Controllers: []string{"tcp:198.19.0.1:6653", "tcp:198.19.0.2:6653"},
		Tunnels: []ovsdb.Tunnel{
			{Name: "nva-vxlan", Type: "vxlan", LocalIP: "198.18.0.1"},
			{Name: "nva-geneve", Type: "geneve", LocalIP: "198.18.0.1"},
		},
		Interfaces: []string{"veth-a", "veth-b"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Desired(hv1) =\n%+v\nwant\n%+v", got, want)
	}
	if err := got.Validate(); err != nil {
		t.Fatalf("derived Desired does not validate: %v", err)
	}
	// hv2 hosts only blue: only the VXLAN tunnel port.
	got2 := Desired(s, s.NVEs["hv2"], testNodes)
	if len(got2.Tunnels) != 1 || got2.Tunnels[0].Type != "vxlan" || !reflect.DeepEqual(got2.Interfaces, []string{"veth-c"}) {
		t.Fatalf("Desired(hv2) = %+v", got2)
	}
}

// TestDesiredStrictProfile: an Open vSwitch run with the strict profile
// (kind ovs, profile openflow13) gets one tunnel port per remote NVE it
// shares a VN with, named as the southbound looks for it (tunnel_ports,
// else the convention), with the remote's address, and no flow-based
// port; a remote that stops sharing a VN loses its port.
func TestDesiredStrictProfile(t *testing.T) {
	s := testSnap()
	hv1 := *s.NVEs["hv1"]
	hv1.Profile = model.ProfileStrict
	hv1.TunnelPorts = map[string]string{"198.18.0.9": "to-tor"}
	s.NVEs["hv1"] = &hv1
	s.Ports = s.Ports.With("d", &model.Port{Name: "d", VN: "red", NVE: "tor", Interface: "Ethernet4"})
	got := Desired(s, s.NVEs["hv1"], testNodes)
	want := []ovsdb.Tunnel{
		{Name: "nvxc6120002", Type: "vxlan", LocalIP: "198.18.0.1", RemoteIP: "198.18.0.2"},
		{Name: "to-tor", Type: "geneve", LocalIP: "198.18.0.1", RemoteIP: "198.18.0.9"},
	}
	if !reflect.DeepEqual(got.Tunnels, want) {
		t.Fatalf("tunnels\n got %+v\nwant %+v", got.Tunnels, want)
	}
	if got.Tunnels[0].Name != compiler.RemoteTunnelPortName(model.EncapVXLAN, hv1Remote(s, "hv2")) {
		t.Fatalf("port name %s is not the convention's", got.Tunnels[0].Name)
	}
	if err := got.Validate(); err != nil {
		t.Fatalf("derived Desired does not validate: %v", err)
	}
	if fingerprint(got) == fingerprint(Desired(testSnap(), testSnap().NVEs["hv1"], testNodes)) {
		t.Fatal("the fingerprint does not see the change of tunnel ports")
	}
	ports := s.Ports.Map()
	delete(ports, "c")
	s = model.NewSnapshot(s.Revision, s.VNs, s.NVEs, ports)
	if got := Desired(s, s.NVEs["hv1"], testNodes); len(got.Tunnels) != 1 || got.Tunnels[0].Name != "to-tor" {
		t.Fatalf("after hv2 left blue: %+v", got.Tunnels)
	}
}

func hv1Remote(s *model.Snapshot, name string) netip.Addr { return s.NVEs[name].UnderlayAddrs()[0] }

type fakeDB struct {
	mu      sync.Mutex
	syncs   []ovsdb.Desired
	removed []string
	closed  bool
}

func (f *fakeDB) Sync(_ context.Context, d ovsdb.Desired) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.syncs = append(f.syncs, d)
}
func (f *fakeDB) Remove(_ context.Context, nve string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.removed = append(f.removed, nve)
	return nil
}
func (f *fakeDB) Status(nve string) (ovsdb.Status, bool) {
	return ovsdb.Status{NVE: nve, Connected: true, OFPorts: map[string]uint32{"veth-a": 3}, Links: map[string]bool{"veth-a": true}}, true
}
func (f *fakeDB) OFPorts(nve string) (map[string]uint32, bool) {
	st, ok := f.Status(nve)
	return st.OFPorts, ok
}
func (f *fakeDB) Close() { f.mu.Lock(); f.closed = true; f.mu.Unlock() }
func (f *fakeDB) snapshot() ([]ovsdb.Desired, []string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]ovsdb.Desired(nil), f.syncs...), append([]string(nil), f.removed...), f.closed
}

type fakeSrc struct {
	mu     sync.Mutex
	snap   *model.Snapshot
	events chan model.Change
	leader atomic.Bool
}

func (f *fakeSrc) Snapshot() *model.Snapshot { f.mu.Lock(); defer f.mu.Unlock(); return f.snap }
func (f *fakeSrc) SnapshotAndWatch(ctx context.Context) (*model.Snapshot, <-chan model.Change) {
	return f.Snapshot(), f.events
}
func (f *fakeSrc) Nodes() []model.Member { return testNodes }
func (f *fakeSrc) IsLeader() bool        { return f.leader.Load() }
func (f *fakeSrc) LeaderReady(context.Context) (uint64, bool, error) {
	return 1, f.leader.Load(), nil
}

// set makes s current and sends the changes from the previous snapshot,
// as the store's watch does: one event per changed object, with its old
// and new version.
func (f *fakeSrc) set(s *model.Snapshot, idx uint64) {
	f.mu.Lock()
	old := f.snap
	f.snap = s
	f.mu.Unlock()
	for _, ev := range changes(old, s, idx) {
		f.events <- ev
	}
}

// changes lists the store events that turn snapshot a into b (objects
// compared by value, in kind and name order).
func changes(a, b *model.Snapshot, idx uint64) []model.Change {
	var out []model.Change
	out = append(out, diffKind(model.ChangeVN, a.VNs, b.VNs, idx)...)
	out = append(out, diffKind(model.ChangeNVE, a.NVEs, b.NVEs, idx)...)
	return append(out, diffKind(model.ChangePort, a.Ports.Map(), b.Ports.Map(), idx)...)
}

func diffKind[T any](kind string, a, b map[string]*T, idx uint64) []model.Change {
	var out []model.Change
	for _, name := range slices.Sorted(maps.Keys(b)) {
		if old, ok := a[name]; !ok || !reflect.DeepEqual(old, b[name]) {
			ev := model.Change{Index: idx, Kind: kind, Op: model.OpPut, Name: name, New: b[name]}
			if ok {
				ev.Old = old
			}
			out = append(out, ev)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(a)) {
		if _, ok := b[name]; !ok {
			out = append(out, model.Change{Index: idx, Kind: kind, Op: model.OpDelete, Name: name, Old: a[name]})
		}
	}
	return out
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSyncerFollowsStoreAsLeaderOnly(t *testing.T) {
	src := &fakeSrc{snap: testSnap(), events: make(chan model.Change, 16)}
	var dbs []*fakeDB
	var mu sync.Mutex
	s := New(func() OVSDB {
		mu.Lock()
		defer mu.Unlock()
		d := &fakeDB{}
		dbs = append(dbs, d)
		return d
	}, nil)
	s.tick = 10 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := s.Start(ctx, src); err != nil {
		t.Fatal(err)
	}
	// A follower opens no manager at all.
	time.Sleep(50 * time.Millisecond)
	mu.Lock()
	if len(dbs) != 0 {
		t.Fatalf("follower opened an OVSDB manager")
	}
	mu.Unlock()

	src.leader.Store(true)
	eventually(t, "the leader to sync both ovs NVEs", func() bool {
		mu.Lock()
		defer mu.Unlock()
		if len(dbs) != 1 {
			return false
		}
		syncs, _, _ := dbs[0].snapshot()
		return len(syncs) == 2
	})
	db := dbs[0]
	syncs, _, _ := db.snapshot()
	if syncs[0].NVE != "hv1" || syncs[1].NVE != "hv2" {
		t.Fatalf("synced %s, %s; the openflow NVE must not be synced", syncs[0].NVE, syncs[1].NVE)
	}

	// An unrelated event with no change to hv1/hv2's desired state sends nothing.
	src.set(testSnap(), 10)
	time.Sleep(50 * time.Millisecond)
	if syncs, _, _ := db.snapshot(); len(syncs) != 2 {
		t.Fatalf("an unchanged desired state was re-sent: %d syncs", len(syncs))
	}

	// Moving port c to hv1 changes both NVEs.
	s2 := testSnap()
	s2.Ports = s2.Ports.With("c", &model.Port{Name: "c", VN: "blue", NVE: "hv1", Interface: "veth-c"})
	src.set(s2, 11)
	eventually(t, "both NVEs re-synced", func() bool { syncs, _, _ := db.snapshot(); return len(syncs) == 4 })
	syncs, _, _ = db.snapshot()
	if !reflect.DeepEqual(syncs[2].Interfaces, []string{"veth-a", "veth-b", "veth-c"}) || len(syncs[3].Interfaces) != 0 || len(syncs[3].Tunnels) != 0 {
		t.Fatalf("after the move: hv1 %+v, hv2 %+v", syncs[2], syncs[3])
	}

	// Deleting hv2 removes nva's configuration from it.
	s3 := testSnap()
	s3.Ports = s3.Ports.Without("c")
	delete(s3.NVEs, "hv2")
	src.set(s3, 12)
	eventually(t, "hv2 removed", func() bool { _, rm, _ := db.snapshot(); return reflect.DeepEqual(rm, []string{"hv2"}) })

	// Status merges the OVSDB side.
	st := s.OVSDBStatus("hv1")
	if st == nil || !st.Connected || st.Ports["veth-a"] != (model.PortStatus{OFPort: 3, LinkUp: true}) {
		t.Fatalf("status = %+v", st)
	}

	// Losing leadership closes the manager.
	src.leader.Store(false)
	eventually(t, "manager closed", func() bool { _, _, closed := db.snapshot(); return closed })
	if st := s.OVSDBStatus("hv1"); st != nil {
		t.Fatalf("a follower reported OVSDB status")
	}
	cancel()
	s.Close()
}

// gatedSrc is a leader whose store is still replaying its log: the
// snapshot lacks ports until Barrier returns (when the test opens the
// gate), as after a restart.
type gatedSrc struct {
	*fakeSrc
	gate      chan struct{}
	full      *model.Snapshot
	term      atomic.Uint64
	readyTerm atomic.Uint64
	barriers  atomic.Int32
}

// LeaderReady runs Barrier once per term, as the real store does.
func (g *gatedSrc) LeaderReady(ctx context.Context) (uint64, bool, error) {
	term := g.term.Load()
	if !g.leader.Load() {
		return term, false, nil
	}
	if g.readyTerm.Load() == term {
		return term, true, nil
	}
	if err := g.Barrier(ctx); err != nil {
		return term, false, err
	}
	g.readyTerm.Store(term)
	return term, true, nil
}

func (g *gatedSrc) Barrier(ctx context.Context) error {
	g.barriers.Add(1)
	select {
	case <-g.gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	g.mu.Lock()
	g.snap = g.full
	g.mu.Unlock()
	return nil
}

// A node that leads while its store is half-loaded hands OVSDB nothing
// until the barrier; then exactly the full desired state, once per NVE (a
// restart with an unchanged store asks OVSDB for the same rows it had, so
// no interface or tunnel port is removed and re-added), and one barrier
// per term.
func TestSyncerWaitsForBarrierAfterWinningLeadership(t *testing.T) {
	full := testSnap()
	half := testSnap()
	half.Ports = half.Ports.Without("b") // hv1's red port, hence its GENEVE tunnel
	half.Ports = half.Ports.Without("c") // hv2's only port
	src := &gatedSrc{fakeSrc: &fakeSrc{snap: half, events: make(chan model.Change, 16)}, gate: make(chan struct{}), full: full}
	src.term.Store(3)
	src.leader.Store(true)
	var mu sync.Mutex
	var dbs []*fakeDB
	s := New(func() OVSDB {
		mu.Lock()
		defer mu.Unlock()
		d := &fakeDB{}
		dbs = append(dbs, d)
		return d
	}, nil)
	s.tick = 10 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := s.Start(ctx, src); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	n := len(dbs)
	mu.Unlock()
	if n != 0 {
		t.Fatal("an OVSDB manager was opened before the store caught up")
	}
	if src.barriers.Load() == 0 {
		t.Fatal("no barrier asked for")
	}
	close(src.gate)
	eventually(t, "both ovs NVEs synced", func() bool {
		mu.Lock()
		defer mu.Unlock()
		if len(dbs) != 1 {
			return false
		}
		syncs, _, _ := dbs[0].snapshot()
		return len(syncs) == 2
	})
	time.Sleep(100 * time.Millisecond) // more ticks: nothing more is sent
	syncs, removed, _ := dbs[0].snapshot()
	want := []ovsdb.Desired{Desired(full, full.NVEs["hv1"], testNodes), Desired(full, full.NVEs["hv2"], testNodes)}
	if !reflect.DeepEqual(syncs, want) || len(removed) != 0 {
		t.Fatalf("synced %+v, removed %v; want exactly %+v", syncs, removed, want)
	}
	if n := src.barriers.Load(); n != 1 {
		t.Fatalf("%d barriers in one term, want 1", n)
	}
	// A new term (leadership lost and won again) asks for a new barrier.
	src.term.Store(4)
	eventually(t, "a barrier in the new term", func() bool { return src.barriers.Load() == 2 })
	cancel()
	s.Close()
}

// TestDesiredControllerForms: a member may advertise HOST:PORT or an OVS
// controller target (tcp:/ssl:); the same target from two members is listed
// once, and an address the validator rejects is left out instead of
// invalidating every NVE's desired state.
func TestDesiredControllerForms(t *testing.T) {
	s := testSnap()
	nodes := []model.Member{
		{ID: "n1", OpenFlowAddr: "tcp:198.51.100.254:6653"},
		{ID: "n2", OpenFlowAddr: "198.51.100.254:6653"},
		{ID: "n3", OpenFlowAddr: "ssl:198.51.100.253:6653"},
		{ID: "n4", OpenFlowAddr: "bogus::"},
	}
	got := Desired(s, s.NVEs["hv1"], nodes)
	want := []string{"ssl:198.51.100.253:6653", "tcp:198.51.100.254:6653"}
	if !reflect.DeepEqual(got.Controllers, want) {
		t.Fatalf("controllers = %q, want %q", got.Controllers, want)
	}
	if err := got.Validate(); err != nil {
		t.Fatalf("derived Desired does not validate: %v", err)
	}
}

// syncsByNVE counts the Syncs per NVE name.
func syncsByNVE(db *fakeDB) map[string]int {
	syncs, _, _ := db.snapshot()
	out := map[string]int{}
	for _, d := range syncs {
		out[d.NVE]++
	}
	return out
}

// TestSyncerDerivesOnlyWhatAChangeTouches drives passes directly (no
// goroutine, no clock): after the first full pass, a store change has the
// desired state derived only for the NVEs it can touch — a port's own NVE
// (flow-based tunnels), the hosts of its VN that tunnel per remote, the
// per-remote peers of a changed NVE — and a tick re-derives only a slice.
func TestSyncerDerivesOnlyWhatAChangeTouches(t *testing.T) {
	vns, nves, ports := fleet(30)
	// hv0001 and hv0005 tunnel per remote (strict profile); both host
	// vn0000 (hv0000..hv0009).
	for _, n := range []string{"hv0001", "hv0005"} {
		c := *nves[n]
		c.Profile = model.ProfileStrict
		nves[n] = &c
	}
	snap0 := model.NewSnapshot(1, vns, nves, ports)
	src := &fakeSrc{snap: snap0, events: make(chan model.Change, 64)}
	src.leader.Store(true)
	db := &fakeDB{}
	s := New(func() OVSDB { return db }, nil)
	s.recheckEvery = 10 * s.tick // a tick re-derives 3 of 30
	ctx := context.Background()
	s.markAll()
	s.apply(ctx, src, false)
	if st := s.Stats(); st.Derived != 30 || st.Synced != 30 {
		t.Fatalf("first pass: %+v, want every NVE derived and synced once", st)
	}
	step := func(next *model.Snapshot, idx uint64) Stats {
		t.Helper()
		before := s.Stats()
		evs := changes(src.Snapshot(), next, idx)
		src.mu.Lock()
		src.snap = next
		src.mu.Unlock()
		for _, ev := range evs {
			s.note(ev)
		}
		s.apply(ctx, src, false)
		after := s.Stats()
		return Stats{Derived: after.Derived - before.Derived, Synced: after.Synced - before.Synced, Repaired: after.Repaired - before.Repaired}
	}

	// A port renamed on hv0003 (flow-based tunnels): hv0003, plus the
	// per-remote hosts of its VN (vn0000: hv0001, hv0005), which are
	// derived but unchanged.
	p1 := maps.Clone(ports)
	c := *p1["vn0000-hv0003-0"]
	c.Interface = "renamed"
	p1["vn0000-hv0003-0"] = &c
	snap1 := model.NewSnapshot(2, vns, nves, p1)
	if d := step(snap1, 2); d.Derived != 3 || d.Synced != 1 {
		t.Fatalf("port renamed: %+v, want 3 derived (hv0003, hv0001, hv0005), 1 synced", d)
	}

	// hv0003's underlay changes: itself, and its per-remote peers
	// (hv0001 and hv0005 share vn0000 with it) get the new remote_ip.
	n2 := maps.Clone(nves)
	h := *n2["hv0003"]
	h.UnderlayIPs = []string{"192.0.2.33"}
	n2["hv0003"] = &h
	snap2 := model.NewSnapshot(3, vns, n2, p1)
	before := len(mustSyncs(db))
	if d := step(snap2, 3); d.Derived != 3 || d.Synced != 3 {
		t.Fatalf("underlay changed: %+v, want 3 derived and synced", d)
	}
	for _, d := range mustSyncs(db)[before:] {
		if d.NVE == "hv0001" && !slices.ContainsFunc(d.Tunnels, func(tu ovsdb.Tunnel) bool { return tu.RemoteIP == "192.0.2.33" }) {
			t.Fatalf("hv0001's tunnels miss the new remote: %+v", d.Tunnels)
		}
	}

	// A VN's encapsulation changes: every NVE hosting it.
	v3 := maps.Clone(vns)
	vn := *v3["vn0020"]
	vn.Encap = model.EncapGENEVE
	v3["vn0020"] = &vn
	snap3 := model.NewSnapshot(4, v3, n2, p1)
	if d := step(snap3, 4); d.Derived != 10 || d.Synced != 10 {
		t.Fatalf("VN encap changed: %+v, want its 10 hosts derived and synced", d)
	}

	// Nothing changed: a pass with no event derives nothing; a tick
	// re-derives a slice (3 of 30) and sends nothing.
	if d := step(snap3, 5); d.Derived != 0 {
		t.Fatalf("no change: %+v", d)
	}
	b := s.Stats()
	s.apply(ctx, src, true)
	if a := s.Stats(); a.Derived-b.Derived != 3 || a.Synced != b.Synced {
		t.Fatalf("tick: derived %d, synced %d; want 3 and 0", a.Derived-b.Derived, a.Synced-b.Synced)
	}

	// A change no event announced is found within one round of ticks,
	// and counted as a repair.
	p4 := maps.Clone(p1)
	c4 := *p4["vn0017-hv0020-0"]
	c4.Interface = "sneaky"
	p4["vn0017-hv0020-0"] = &c4
	src.mu.Lock()
	src.snap = model.NewSnapshot(6, v3, n2, p4)
	src.mu.Unlock()
	for i := 0; i < 10; i++ {
		s.apply(ctx, src, true)
	}
	if st := s.Stats(); st.Repaired != 1 || syncsByNVE(db)["hv0020"] != 3 {
		t.Fatalf("after a round of ticks: %+v, hv0020 synced %d times", st, syncsByNVE(db)["hv0020"])
	}
}

func mustSyncs(db *fakeDB) []ovsdb.Desired { s, _, _ := db.snapshot(); return s }
