package store

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"sync"
	"testing"

	"github.com/nva-project/nva/app/model"
)

func tnve(name, ip, nnve, nnvePort, pool string) model.NVE {
	n := testNVE(name, ip)
	n.AccessLink = &model.AccessLink{NNVE: nnve, Uplink: "eth1", NNVEPort: nnvePort, VLANPool: pool}
	return n
}

func linkVLANs(st *state, nve string) map[string]int {
	if n := st.nves[nve]; n != nil && n.AccessLink != nil {
		return maps.Clone(n.AccessLink.VLANs)
	}
	return nil
}

// TestAccessLinkAllocation: a VLAN per (link, VN) when the VN's first port
// comes to the tNVE, freed when its last goes, next fit (a freed VLAN is
// not the next one handed out), carried over a PUT of the NVE, and never
// settable by a client; references and the pool are checked.
func TestAccessLinkAllocation(t *testing.T) {
	h := newHarness(t)
	for _, vn := range []string{"blue", "red", "green"} {
		h.ok(&createVN{Obj: model.VN{Name: vn}})
	}
	h.ok(&createNVE{Obj: ofNVE("tor1", "192.0.2.9", "99")})
	tn := tnve("hv1", "192.0.2.1", "tor1", "p1", "100-102")
	tn.AccessLink.VLANs = map[string]int{"blue": 101} // ignored: nva's
	r := h.ok(&createNVE{Obj: tn})
	if r.NVE.AccessLink.VLANs != nil {
		t.Fatalf("client-set allocation kept: %v", r.NVE.AccessLink.VLANs)
	}
	h.ok(&createPort{Obj: port("b1", "blue", "hv1", "tap1", "02:00:00:00:00:01", 0)})
	h.ok(&createPort{Obj: port("b2", "blue", "hv1", "tap2", "02:00:00:00:00:02", 0)})
	h.ok(&createPort{Obj: port("r1", "red", "hv1", "tap3", "02:00:00:00:00:03", 0)})
	if got, want := linkVLANs(h.f.st, "hv1"), map[string]int{"blue": 100, "red": 101}; !reflect.DeepEqual(got, want) {
		t.Fatalf("allocation %v, want %v", got, want)
	}
	rev := h.f.st.nves["hv1"].Revision
	h.ok(&deletePort{Name: "b1"}) // blue still has b2
	if got := linkVLANs(h.f.st, "hv1"); got["blue"] != 100 || h.f.st.nves["hv1"].Revision != rev {
		t.Fatalf("blue's VLAN changed while it had a port: %v", got)
	}
	h.ok(&deletePort{Name: "b2"}) // blue's last port: 100 freed
	if got := linkVLANs(h.f.st, "hv1"); !reflect.DeepEqual(got, map[string]int{"red": 101}) {
		t.Fatalf("after blue left: %v", got)
	}
	// Next fit: green gets 102, not the freed 100; blue coming back gets
	// 100 (the cursor wrapped).
	h.ok(&createPort{Obj: port("g1", "green", "hv1", "tap4", "02:00:00:00:00:04", 0)})
	h.ok(&createPort{Obj: port("b3", "blue", "hv1", "tap5", "02:00:00:00:00:05", 0)})
	if got, want := linkVLANs(h.f.st, "hv1"), map[string]int{"red": 101, "green": 102, "blue": 100}; !reflect.DeepEqual(got, want) {
		t.Fatalf("allocation %v, want %v", got, want)
	}
	// The pool is full: a fourth VN is refused, naming the field.
	h.ok(&createVN{Obj: model.VN{Name: "gold"}})
	if e := h.do(&createPort{Obj: port("y1", "gold", "hv1", "tap6", "02:00:00:00:00:06", 0)}).Err; e == nil || e.Kind != model.KindConflict || e.Field != "vn" {
		t.Fatalf("port beyond the pool: %v", e)
	}
	// The uplink is not a VAP.
	if e := h.do(&createPort{Obj: port("u1", "red", "hv1", "eth1", "02:00:00:00:00:07", 0)}).Err; e == nil || e.Field != "interface" {
		t.Fatalf("port on the uplink: %v", e)
	}
	// A PUT of the NVE keeps the allocation (and cannot change it).
	up := tnve("hv1", "192.0.2.1", "tor1", "p1", "100-102")
	up.AccessLink.VLANs = map[string]int{"red": 100}
	h.ok(&updateNVE{Obj: up})
	if got := linkVLANs(h.f.st, "hv1"); got["red"] != 101 || got["blue"] != 100 {
		t.Fatalf("PUT changed the allocation: %v", got)
	}
	// Moving the link to another nNVE port reallocates.
	h.ok(&updateNVE{Obj: tnve("hv1", "192.0.2.1", "tor1", "p7", "200-299")})
	if got := linkVLANs(h.f.st, "hv1"); !reflect.DeepEqual(got, map[string]int{"blue": 200, "green": 201, "red": 202}) {
		t.Fatalf("new link: %v", got)
	}
	// A port moving off the tNVE frees its VN's VLAN.
	mv := port("g1", "green", "tor1", "e9", "02:00:00:00:00:04", 0)
	h.ok(&updatePort{Obj: mv})
	if _, ok := linkVLANs(h.f.st, "hv1")["green"]; ok {
		t.Fatal("green kept its VLAN after its port moved off the tNVE")
	}
	// References.
	for name, c := range map[string]struct {
		n     model.NVE
		field string
	}{
		"unknown nnve":     {tnve("hv2", "192.0.2.2", "nope", "p1", ""), "access_link.nnve"},
		"nnve is a tnve":   {tnve("hv2", "192.0.2.2", "hv1", "p1", ""), "access_link.nnve"},
		"nnve port in use": {tnve("hv2", "192.0.2.2", "tor1", "p7", ""), "access_link.nnve_port"},
	} {
		if e := h.do(&createNVE{Obj: c.n}).Err; e == nil || e.Field != c.field {
			t.Errorf("%s: %v, want an error on %s", name, e, c.field)
		}
	}
	// The nNVE cannot become a tNVE while a tNVE lands on it.
	h.ok(&createNVE{Obj: testNVE("hv3", "192.0.2.3")})
	bad := ofNVE("tor1", "192.0.2.9", "99")
	bad.Kind, bad.DatapathID, bad.OVSDB, bad.AccessLink = model.NVEOVS, "", "unix:/run/x.sock", &model.AccessLink{NNVE: "hv3", Uplink: "eth1", NNVEPort: "p1"}
	if e := h.do(&updateNVE{Obj: bad}).Err; e == nil || e.Field != "access_link" {
		t.Errorf("nNVE turned tNVE: %v", e)
	}
	checkIndexes(t, h.f.st)
}

// TestAccessLinkAllocationDeterministic: the allocation is part of the
// FSM's result, so replaying the same log gives the same NVE records.
func TestAccessLinkAllocationDeterministic(t *testing.T) {
	var log [][]byte
	a := newHarness(t)
	add := func(c command) {
		log = append(log, encode(t, c))
		if r, ok := a.raw(log[len(log)-1]).(*result); !ok || r.Err != nil {
			t.Fatalf("%s: %v", c.cmdType(), r)
		}
	}
	add(&createNVE{Obj: testNVE("tor1", "192.0.2.9")})
	add(&createNVE{Obj: tnve("hv1", "192.0.2.1", "tor1", "p1", "")})
	for i := 0; i < 20; i++ {
		vn := fmt.Sprintf("vn%02d", i%7)
		if i < 7 {
			add(&createVN{Obj: model.VN{Name: vn}})
		}
		add(&createPort{Obj: port(fmt.Sprintf("p%d", i), vn, "hv1", fmt.Sprintf("tap%d", i), fmt.Sprintf("02:00:00:00:01:%02x", i), 0)})
		if i%3 == 2 {
			add(&deletePort{Name: fmt.Sprintf("p%d", i-1)})
		}
	}
	b := newHarness(t)
	for _, data := range log {
		b.raw(data)
	}
	if !reflect.DeepEqual(a.f.st.nves, b.f.st.nves) {
		t.Fatalf("replay differs:\n%+v\n%+v", a.f.st.nves["hv1"].AccessLink, b.f.st.nves["hv1"].AccessLink)
	}
	checkLink(t, a.f.st, "hv1")
}

// checkLink: every VN with a port on the tNVE has a VLAN of its own from
// the pool, and no other VN has one.
func checkLink(t *testing.T, st *state, nve string) {
	t.Helper()
	vns := st.vnsOnNVE(nve)
	got := linkVLANs(st, nve)
	seen := map[int]string{}
	for vn, v := range got {
		if !vns[vn] {
			t.Errorf("VN %s has VLAN %d but no port on %s", vn, v, nve)
		}
		if o, dup := seen[v]; dup {
			t.Errorf("VLAN %d given to %s and %s", v, vn, o)
		}
		seen[v] = vn
		if v < 2 || v > 4094 {
			t.Errorf("VLAN %d outside the pool", v)
		}
	}
	for vn := range vns {
		if _, ok := got[vn]; !ok {
			t.Errorf("VN %s has ports on %s but no VLAN", vn, nve)
		}
	}
}

// TestAccessLinkAllocationConcurrentWrites: many clients create and delete
// ports of many VNs on two tNVEs of one nNVE at once through the store;
// Raft orders them, and at the end every VN on a link has exactly one
// VLAN of its own and no VN without ports keeps one.
func TestAccessLinkAllocationConcurrentWrites(t *testing.T) {
	ctx := context.Background()
	s := openMem(t)
	if _, err := s.CreateNVE(ctx, "", testNVE("tor1", "192.0.2.9")); err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"hv1", "hv2"} {
		if _, err := s.CreateNVE(ctx, "", tnve(name, fmt.Sprintf("192.0.2.%d", i+1), "tor1", fmt.Sprintf("p%d", i+1), "")); err != nil {
			t.Fatal(err)
		}
	}
	const vns, workers, perWorker = 12, 8, 12
	for i := 0; i < vns; i++ {
		if _, err := s.CreateVN(ctx, "", model.VN{Name: fmt.Sprintf("vn%02d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers*perWorker*2)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < perWorker; j++ {
				name := fmt.Sprintf("w%dp%d", w, j)
				p := port(name, fmt.Sprintf("vn%02d", (w*perWorker+j)%vns), fmt.Sprintf("hv%d", 1+j%2),
					fmt.Sprintf("t%d-%d", w, j), fmt.Sprintf("02:00:00:%02x:%02x:01", w, j), 0)
				if _, err := s.CreatePort(ctx, "", p); err != nil {
					errs <- err
					return
				}
				if j%3 == 0 { // some VNs come and go
					if _, err := s.DeletePort(ctx, "", name); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	s.fsm.mu.RLock()
	defer s.fsm.mu.RUnlock()
	for _, nve := range []string{"hv1", "hv2"} {
		checkLink(t, s.fsm.st, nve)
		if len(linkVLANs(s.fsm.st, nve)) == 0 {
			t.Fatalf("%s: nothing allocated", nve)
		}
	}
	// The snapshot the compiler reads shows the same allocation.
	snap := s.fsm.snapshotLocked()
	if !reflect.DeepEqual(snap.NVEs["hv1"].AccessLink.VLANs, linkVLANs(s.fsm.st, "hv1")) {
		t.Fatal("snapshot allocation differs from the state")
	}
}
