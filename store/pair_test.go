package store

import (
	"reflect"
	"testing"

	"github.com/nva-project/nva/app/model"
)

// TestDualHomedPair: a port may name as its pair the same tenant system
// (VN, MAC, IPs) on another NVE, sharing its addresses; anything else
// is refused naming the field and changes nothing; the named port cannot
// be deleted while its twin names it; deleting the twin hands the
// addresses back.
func TestDualHomedPair(t *testing.T) {
	h := newHarness(t)
	seed(h)
	h.ok(&createNVE{Obj: testNVE("hv2", "192.0.2.2")})
	twin := func(name string, mutate func(*model.Port)) *createPort {
		p := port(name, "blue", "hv2", "tap-"+name, "02:00:00:00:00:01", 0, "10.0.0.1", "2001:db8::1")
		p.Pair = "p1"
		if mutate != nil {
			mutate(&p)
		}
		return &createPort{Obj: p}
	}
	for _, tc := range []struct {
		name   string
		cmd    *createPort
		kind   model.ErrorKind
		field  string
		reason string
	}{
		{"unknown pair", twin("x", func(p *model.Port) { p.Pair = "nope" }), model.KindReference, "pair", ""},
		{"same NVE", twin("x", func(p *model.Port) { p.NVE = "hv1" }), model.KindInvalid, "pair", ""},
		{"other MAC", twin("x", func(p *model.Port) { p.MAC = "02:00:00:00:00:09" }), model.KindInvalid, "pair", ""},
		{"other IPs", twin("x", func(p *model.Port) { p.IPs = []string{"10.0.0.1"} }), model.KindInvalid, "pair", ""},
		{"MAC without pair", twin("x", func(p *model.Port) { p.Pair = "" }), model.KindConflict, "mac", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := cloneState(h.f.st)
			r := h.do(tc.cmd)
			e, ok := r.Err, r.Err != nil
			if !ok || e.Kind != tc.kind || (e.Field != tc.field && (len(e.Fields) == 0 || e.Fields[0].Field != tc.field)) {
				t.Fatalf("got %v, want %s on %s", r.Err, tc.kind, tc.field)
			}
			if !equalState(before, h.f.st) {
				t.Fatal("a refused pair changed the state")
			}
		})
	}
	h.ok(twin("p1b", nil))
	checkIndexes(t, h.f.st)
	// A third port cannot pair with p1 too.
	if r := h.do(&createPort{Obj: func() model.Port {
		p := port("p1c", "blue", "tor1", "eth9", "02:00:00:00:00:01", 0, "10.0.0.1", "2001:db8::1")
		p.Pair = "p1"
		return p
	}()}); r.Err == nil {
		t.Fatal("a second twin of p1 was accepted")
	}
	// p1 cannot be deleted while p1b names it, nor change its MAC.
	if r := h.do(&deletePort{Name: "p1"}); r.Err == nil {
		t.Fatal("p1 deleted while p1b names it as its pair")
	}
	if r := h.do(&updatePort{Obj: port("p1", "blue", "hv1", "tap1", "02:00:00:00:00:07", 0, "10.0.0.1", "2001:db8::1")}); r.Err == nil {
		t.Fatal("p1 changed its MAC while paired")
	}
	// Deleting the twin hands the addresses back to p1: another port
	// still cannot take them.
	h.ok(&deletePort{Name: "p1b"})
	checkIndexes(t, h.f.st)
	if owner := h.f.st.byMAC[vnKey{"blue", "02:00:00:00:00:01"}]; owner != "p1" {
		t.Fatalf("MAC owner after the twin's deletion: %q, want p1", owner)
	}
	h.ok(&deletePort{Name: "p1"})
	checkIndexes(t, h.f.st)
}

// TestReplicatorsMustExist: a VN in mode replicator names existing NVEs.
func TestReplicatorsMustExist(t *testing.T) {
	h := newHarness(t)
	seed(h)
	r := h.do(&createVN{Obj: model.VN{Name: "rep", BUM: model.BUM{Mode: model.BUMReplicator, Replicators: []string{"hv1", "ghost"}}}})
	if e, ok := r.Err, r.Err != nil; !ok || e.Kind != model.KindReference || e.Field != "bum.replicators[1]" {
		t.Fatalf("got %v, want a reference error on bum.replicators[1]", r.Err)
	}
	h.ok(&createVN{Obj: model.VN{Name: "rep", BUM: model.BUM{Mode: model.BUMReplicator, Replicators: []string{"hv1"}}}})
	if got := h.f.st.vns["rep"].BUM.Replicators; len(got) != 1 || got[0] != "hv1" {
		t.Fatalf("replicators stored as %v", got)
	}
}

func equalState(a, b *state) bool { return reflect.DeepEqual(a, b) }
