package store

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"math/rand"
	"reflect"
	"testing"

	"github.com/nva-project/nva/app/model"
)

// sameView checks that the FSM's snapshot (made from the last one) holds
// exactly the state's objects and answers the index queries as a
// snapshot built from scratch does.
func sameView(t *testing.T, label string, f *fsm) {
	t.Helper()
	got := f.snapshot()
	if got.Revision != f.appliedIndex() {
		t.Fatalf("%s: revision %d, applied %d", label, got.Revision, f.appliedIndex())
	}
	if !maps.Equal(got.VNs, f.st.vns) || !maps.Equal(got.NVEs, f.st.nves) || !maps.Equal(got.Ports.Map(), f.st.ports) {
		t.Fatalf("%s: the snapshot's objects are not the state's", label)
	}
	want := model.NewSnapshot(got.Revision, maps.Clone(f.st.vns), maps.Clone(f.st.nves), maps.Clone(f.st.ports))
	eq := func(what string, a, b any) {
		t.Helper()
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("%s: %s = %v, want %v", label, what, a, b)
		}
	}
	eq("SortedVNs", got.SortedVNs(), want.SortedVNs())
	eq("SortedNVEs", got.SortedNVEs(), want.SortedNVEs())
	eq("SortedPorts", got.SortedPorts(), want.SortedPorts())
	for i := 0; i < 5; i++ {
		vn, nve := fmt.Sprintf("vn%d", i), fmt.Sprintf("hv%d", i)
		eq("PortsIn "+vn, got.PortsIn(vn), want.PortsIn(vn))
		eq("NVEsHosting "+vn, got.NVEsHosting(vn), want.NVEsHosting(vn))
		eq("PortsOn "+nve, got.PortsOn(nve), want.PortsOn(nve))
		eq("VNsOn "+nve, got.VNsOn(nve), want.VNsOn(nve))
		eq("Peers "+nve, got.Peers(nve), want.Peers(nve))
		for j := 0; j < 5; j++ {
			eq("PortsAt", got.PortsAt(nve, fmt.Sprintf("vn%d", j)), want.PortsAt(nve, fmt.Sprintf("vn%d", j)))
		}
	}
	for _, p := range want.SortedPorts() {
		mac, _ := p.MACAddr()
		eq("PortByMAC "+p.Name, got.PortByMAC(p.VN, mac), want.PortByMAC(p.VN, mac))
		for _, ip := range p.Addrs() {
			eq("PortByIP "+p.Name, got.PortByIP(p.VN, ip), want.PortByIP(p.VN, ip))
		}
	}
	for _, n := range want.SortedNVEs() {
		eq("NVEByDPID "+n.Name, got.NVEByDPID(n.DPID()), want.NVEByDPID(n.DPID()))
	}
	for _, v := range want.SortedVNs() {
		eq("VNByVNI "+v.Name, got.VNByVNI(v.VNI), want.VNByVNI(v.VNI))
	}
}

// TestSnapshotsFollowTheState: through random commands (creates,
// updates that move ports, deletes, rejected commands, batches that fail
// and roll back, batches that apply), with snapshots taken after some of
// them only, every snapshot the FSM makes from the last one equals a
// snapshot built from scratch; a snapshot taken earlier still holds what
// it held (nothing it shares was written); and after a Restore the next
// snapshot is right too.
func TestSnapshotsFollowTheState(t *testing.T) {
	r := rand.New(rand.NewSource(12))
	h := newHarness(t)
	for i := 0; i < 5; i++ {
		h.ok(&createVN{Obj: model.VN{Name: fmt.Sprintf("vn%d", i)}})
		h.ok(&createNVE{Obj: testNVE(fmt.Sprintf("hv%d", i), fmt.Sprintf("192.0.2.%d", i+1))})
	}
	port := func(i int) model.Port {
		return model.Port{Name: fmt.Sprintf("p%d", i), VN: fmt.Sprintf("vn%d", r.Intn(5)), NVE: fmt.Sprintf("hv%d", r.Intn(5)),
			Interface: fmt.Sprintf("t%d-%d", i, r.Intn(1000)), MAC: fmt.Sprintf("02:00:00:00:%02x:%02x", r.Intn(4), i),
			IPs: []string{fmt.Sprintf("10.0.%d.%d", r.Intn(3), i)}}
	}
	type kept struct {
		s     *model.Snapshot
		ports map[string]*model.Port
	}
	var taken []kept
	for step := 0; step < 300; step++ {
		i := r.Intn(40)
		switch r.Intn(8) {
		case 0, 1, 2:
			h.do(&createPort{Obj: port(i)}) // may be rejected: exists, MAC taken
		case 3, 4:
			h.do(&updatePort{Obj: port(i)}) // may be rejected: missing
		case 5:
			h.do(&deletePort{Name: fmt.Sprintf("p%d", i)})
		case 6: // a batch: all or nothing
			h.do(&batchCmd{Items: []batchItem{&createPort{Obj: port(40 + i)}, &updatePort{Obj: port(i)}, &deletePort{Name: fmt.Sprintf("p%d", r.Intn(40))}}})
		case 7: // a VN changed
			h.do(&updateVN{Obj: model.VN{Name: fmt.Sprintf("vn%d", r.Intn(5)), MTU: 1000 + r.Intn(500)}})
		}
		if r.Intn(3) == 0 {
			sameView(t, fmt.Sprintf("step %d", step), h.f)
			s := h.f.snapshot()
			taken = append(taken, kept{s, s.Ports.Map()})
		}
	}
	for i, k := range taken {
		if !maps.Equal(k.s.Ports.Map(), k.ports) {
			t.Fatalf("snapshot %d (revision %d) changed after it was taken", i, k.s.Revision)
		}
	}
	var buf bytes.Buffer
	snap, err := h.f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if err := snap.(*fsmSnapshot).write(&buf); err != nil {
		t.Fatal(err)
	}
	g := newFSM(nil, DedupPolicy{})
	g.snapshot() // a last snapshot the restore must forget
	if err := g.Restore(io.NopCloser(&buf)); err != nil {
		t.Fatal(err)
	}
	sameView(t, "restored", g)
	if g.snapshot().Ports.Len() == 0 {
		t.Fatal("nothing restored")
	}
}

// TestSnapshotsConcurrentReaders: readers taking snapshots while commands
// apply each get a snapshot whose index matches its objects (run with
// -race).
func TestSnapshotsConcurrentReaders(t *testing.T) {
	h := newHarness(t)
	h.ok(&createVN{Obj: model.VN{Name: "vn0"}})
	h.ok(&createNVE{Obj: testNVE("hv0", "192.0.2.1")})
	done := make(chan struct{})
	errs := make(chan error, 4)
	for g := 0; g < 4; g++ {
		go func() {
			for {
				select {
				case <-done:
					errs <- nil
					return
				default:
				}
				s := h.f.snapshot()
				if n := len(s.PortsOn("hv0")); n != s.Ports.Len() {
					errs <- fmt.Errorf("revision %d: %d ports on hv0, %d ports", s.Revision, n, s.Ports.Len())
					return
				}
			}
		}()
	}
	for i := 0; i < 200; i++ {
		h.ok(&createPort{Obj: model.Port{Name: fmt.Sprintf("p%d", i), VN: "vn0", NVE: "hv0", Interface: fmt.Sprintf("t%d", i), MAC: fmt.Sprintf("02:00:00:00:%02x:%02x", i>>8, i&255)}})
	}
	close(done)
	for g := 0; g < 4; g++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
