package ofctl

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/nva-project/nva/app/model"
)

// fleetSnapshots returns the issue-12 layout at n NVEs (20 ports each, VN
// i spanning NVEs i..i+9) and the same domain with one port attached to
// NVE 0 (in VN 0): the two snapshots one attach goes between.
func fleetSnapshots(n int) (before, after *model.Snapshot) {
	vns, nves, ports := map[string]*model.VN{}, map[string]*model.NVE{}, map[string]*model.Port{}
	for i := range n {
		name := fmt.Sprintf("nve%04d", i)
		nves[name] = &model.NVE{Name: name, Kind: model.NVEOVS, DatapathID: fmt.Sprintf("%016x", i+1),
			UnderlayIPs: []string{fmt.Sprintf("10.%d.%d.1", i>>8, i&255)}, Revision: 1}
		vn := fmt.Sprintf("vn%04d", i)
		vns[vn] = &model.VN{Name: vn, VNI: uint32(i + 1), Encap: model.EncapVXLAN, Revision: 1}
	}
	for i := range n {
		for k := range 10 {
			for j := range 2 {
				host := fmt.Sprintf("nve%04d", (i+k)%n)
				name := fmt.Sprintf("vn%04d-%s-%d", i, host, j)
				m := i*20 + k*2 + j
				ports[name] = &model.Port{Name: name, VN: fmt.Sprintf("vn%04d", i), NVE: host, Interface: "t" + name,
					MAC: fmt.Sprintf("02:00:00:%02x:%02x:%02x", byte(m>>16), byte(m>>8), byte(m)), Revision: 1}
			}
		}
	}
	before = model.NewSnapshot(1, vns, nves, ports)
	ports2 := maps.Clone(ports)
	ports2["attach0"] = &model.Port{Name: "attach0", VN: "vn0000", NVE: "nve0000", Interface: "a0", MAC: "02:01:00:00:00:01", Revision: 2}
	after = model.NewSnapshot(2, vns, nves, ports2)
	return before, after
}

// BenchmarkAffectedNVEs measures what the southbound pays, under its
// lock, to find the NVEs one attach affects (refreshTo).
func BenchmarkAffectedNVEs(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			before, after := fleetSnapshots(n)
			if got := affectedNVEs(before, after); len(got) != 10 {
				b.Fatalf("affected %d NVEs, want 10: %v", len(got), got)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				affectedNVEs(before, after)
			}
		})
	}
}

// BenchmarkAffectedByChanges is BenchmarkAffectedNVEs from the attach's
// change event, as the watch loop finds them.
func BenchmarkAffectedByChanges(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			before, after := fleetSnapshots(n)
			evs := []model.Change{{Index: 2, Kind: model.ChangePort, Op: model.OpPut, Name: "attach0", New: after.Ports.Get("attach0")}}
			got, ok := affectedByChanges(before, after, evs)
			if want := affectedNVEs(before, after); !ok || !maps.Equal(got, want) {
				b.Fatalf("from the events: %v (ok %v), want %v", got, ok, want)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				affectedByChanges(before, after, evs)
			}
		})
	}
}

// TestAffectedByChanges: the NVEs found from a write's change events are
// the ones the full comparison of the snapshots finds, for ports attached,
// moved and detached, a VN changed and an NVE changed (its peers); an
// event of a kind it does not know makes the caller compare in full.
func TestAffectedByChanges(t *testing.T) {
	before, _ := fleetSnapshots(30)
	port := before.Ports.Get("vn0003-nve0004-0")
	moved := *port
	moved.NVE, moved.VN, moved.Revision = "nve0020", "vn0015", 2
	vn := *before.VNs["vn0007"]
	vn.Revision = 2
	nve := *before.NVEs["nve0012"]
	nve.UnderlayIPs, nve.Revision = []string{"10.9.9.9"}, 2
	added := &model.Port{Name: "new", VN: "vn0001", NVE: "nve0001", Interface: "a0", MAC: "02:01:00:00:00:01", Revision: 2}
	cases := []struct {
		name string
		ev   model.Change
	}{
		{"attach", model.Change{Kind: model.ChangePort, Op: model.OpPut, Name: added.Name, New: added}},
		{"move", model.Change{Kind: model.ChangePort, Op: model.OpPut, Name: port.Name, Old: port, New: &moved}},
		{"detach", model.Change{Kind: model.ChangePort, Op: model.OpDelete, Name: port.Name, Old: port}},
		{"vn", model.Change{Kind: model.ChangeVN, Op: model.OpPut, Name: vn.Name, Old: before.VNs[vn.Name], New: &vn}},
		{"nve", model.Change{Kind: model.ChangeNVE, Op: model.OpPut, Name: nve.Name, Old: before.NVEs[nve.Name], New: &nve}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			vns, nves, ports := maps.Clone(before.VNs), maps.Clone(before.NVEs), before.Ports.Map()
			switch v := c.ev.New.(type) {
			case *model.Port:
				ports[v.Name] = v
			case *model.VN:
				vns[v.Name] = v
			case *model.NVE:
				nves[v.Name] = v
			default:
				delete(ports, c.ev.Name)
			}
			after := model.NewSnapshot(2, vns, nves, ports)
			c.ev.Index = 2
			want := affectedNVEs(before, after)
			got, ok := affectedByChanges(before, after, []model.Change{c.ev})
			if !ok || !maps.Equal(got, want) {
				t.Fatalf("from the event: %v (ok %v), want %v", slices.Sorted(maps.Keys(got)), ok, slices.Sorted(maps.Keys(want)))
			}
			if len(want) == 0 {
				t.Fatal("the change affects no NVE: the case tests nothing")
			}
		})
	}
	if _, ok := affectedByChanges(before, before, []model.Change{{Index: 2, Kind: "something new"}}); ok {
		t.Fatal("an event of an unknown kind was taken as known")
	}
	if _, ok := affectedByChanges(before, before, []model.Change{{Index: 2, Kind: model.ChangePort, Op: model.OpPut}}); ok {
		t.Fatal("a port event naming no port was taken as known")
	}
	if got, ok := affectedByChanges(before, before, []model.Change{}); !ok || len(got) != 0 {
		t.Fatalf("no event between equal snapshots: %v (ok %v), want nothing", got, ok)
	}
}

// TestRealizationFromStoreEvents: with change events as the store sends
// them (naming their objects), the watch loop finds the NVEs a write
// affects from the events: a port attached to hv1 is realized there with
// its flows, and a later change elsewhere does not hold hv1 back.
func TestRealizationFromStoreEvents(t *testing.T) {
	src, sb, br := realizedOverlay(t)
	before := br.flowCount()

	s11 := overlaySnap(11, true)
	prev := src.Snapshot()
	for name, p := range prev.Ports.All() { // unchanged objects are shared, as the store does
		s11.Ports = s11.Ports.With(name, p)
	}
	s11.VNs, s11.NVEs = prev.VNs, prev.NVEs
	src.mu.Lock()
	src.snap = s11
	src.mu.Unlock()
	src.events <- model.Change{Index: 11, Kind: model.ChangePort, Op: model.OpPut, Name: "p2", New: s11.Ports.Get("p2")}
	if lag, err := waitRealized(t, sb, 11, 5*time.Second); err != nil {
		t.Fatalf("revision 11 (p2 attached to hv1): laggards %v, %v", lag, err)
	}
	want := desiredCount(t, s11, map[string]uint32{"v1": 1, "v2": 2, "nva-vxlan": 100})
	if got := br.flowCount(); got != want || got <= before {
		t.Fatalf("after p2's event the switch has %d flows, want %d (had %d without p2)", got, want, before)
	}
	if st := sb.status("hv1"); st.Sync != SyncInSync || st.RealizedRevision != 11 {
		t.Fatalf("hv1 after p2's event: %+v", st)
	}

	s12 := &model.Snapshot{Revision: 12, VNs: maps.Clone(s11.VNs), NVEs: s11.NVEs, Ports: s11.Ports}
	s12.VNs["red"] = &model.VN{Name: "red", VNI: 5002, Encap: model.EncapVXLAN, Service: model.ServiceL2,
		BUM: model.BUM{Mode: model.BUMReplicate}, Unknown: model.UnknownFlood, Revision: 12}
	s12.Ports = s12.Ports.With("r1", &model.Port{Name: "r1", VN: "red", NVE: "hv2", Interface: "eth1", MAC: "02:00:00:00:03:01", Revision: 12})
	src.mu.Lock()
	src.snap = s12
	src.mu.Unlock()
	src.events <- model.Change{Index: 12, Kind: model.ChangeVN, Op: model.OpPut, Name: "red", New: s12.VNs["red"]}
	src.events <- model.Change{Index: 12, Kind: model.ChangePort, Op: model.OpPut, Name: "r1", New: s12.Ports.Get("r1")}
	if lag, err := waitRealized(t, sb, 12, 5*time.Second); err != nil {
		t.Fatalf("revision 12 (not touching hv1): %v %v", lag, err)
	}
	if got := br.flowCount(); got != want {
		t.Fatalf("a change elsewhere changed hv1's flows: %d, want %d", got, want)
	}
}

// TestWaiterLeavesRefreshToWatchLoop: a write's waiter that arrives while
// the store hands the write's event to the watch loop waits for the loop,
// which finds the affected NVEs from the event, instead of comparing the
// whole domain itself; a revision with no event is still refreshed by
// the waiter, after the handoff window.
func TestWaiterLeavesRefreshToWatchLoop(t *testing.T) {
	src, sb, _ := realizedOverlay(t)
	const writes = 40
	before := sb.fullCompares.Load()
	prev := src.Snapshot()
	for i := range writes {
		rev := uint64(11 + i)
		next := &model.Snapshot{Revision: rev, VNs: prev.VNs, NVEs: prev.NVEs, Ports: prev.Ports}
		name := fmt.Sprintf("q%d", i)
		next.Ports = next.Ports.With(name, &model.Port{Name: name, VN: "blue", NVE: "hv2", Interface: name, MAC: fmt.Sprintf("02:00:00:00:09:%02x", i), Revision: rev})
		src.mu.Lock()
		src.snap = next
		src.mu.Unlock()
		src.events <- model.Change{Index: rev, Kind: model.ChangePort, Op: model.OpPut, Name: name, New: next.Ports.Get(name)}
		if lag, err := waitRealized(t, sb, rev, 5*time.Second); err != nil {
			t.Fatalf("revision %d: laggards %v, %v", rev, lag, err)
		}
		prev = next
	}
	// A goroutine the scheduler keeps waiting past the handoff window
	// costs one full comparison; without the window a third of the
	// waiters compared in full (1,000-NVE fleet).
	if n := sb.fullCompares.Load() - before; n > writes/10 {
		t.Errorf("%d of %d waiters compared the snapshots in full", n, writes)
	}

	// A revision without an event: the waiter refreshes itself.
	rev := uint64(11 + writes)
	src.mu.Lock()
	src.snap = &model.Snapshot{Revision: rev, VNs: prev.VNs, NVEs: prev.NVEs, Ports: prev.Ports}
	src.mu.Unlock()
	before = sb.fullCompares.Load()
	if lag, err := waitRealized(t, sb, rev, 5*time.Second); err != nil {
		t.Fatalf("revision %d without an event: laggards %v, %v", rev, lag, err)
	}
	if n := sb.fullCompares.Load() - before; n != 1 {
		t.Errorf("revision without an event: %d full comparisons, want 1", n)
	}
}

// realizedOverlay starts a southbound on overlaySnap at revision 10 with
// hv1's switch connected, and waits until the revision is realized.
func realizedOverlay(t *testing.T) (*fakeStore, *Southbound, *fakeBridge) {
	t.Helper()
	src := newFakeStore(overlaySnap(10, false), true)
	sb := startFake(t, src, Config{})
	br := newFakeBridge(t, 1, map[uint32]string{1: "v1", 2: "v2", 100: "nva-vxlan"})
	br.connect(sb.cfg.ListenAddr)
	if lag, err := waitRealized(t, sb, 10, 5*time.Second); err != nil {
		t.Fatalf("initial state not realized: %v %v", lag, err)
	}
	return src, sb, br
}
