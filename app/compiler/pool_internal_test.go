package compiler

import (
	"fmt"
	"net/netip"
	"runtime"
	"testing"

	"github.com/nva-project/nva/app/model"
)

// TestPoolUnderlayMemo: the Caches of a PartPool share one memo of the
// NVEs' parsed underlays: an NVE is parsed once per revision, a new
// revision is parsed again, and NVEs no longer asked for are dropped once
// the memo has doubled twice since they were last used.
func TestPoolUnderlayMemo(t *testing.T) {
	p := NewPartPool()
	a := &model.NVE{Name: "a", Revision: 1, UnderlayIPs: []string{"2001:db8::1", "198.18.0.1", "198.18.0.2"}}
	ips := p.ipv4Underlay(a)
	if want := []netip.Addr{netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")}; fmt.Sprint(ips) != fmt.Sprint(want) {
		t.Fatalf("underlay of a: %v, want %v", ips, want)
	}
	if again := p.ipv4Underlay(a); &again[0] != &ips[0] {
		t.Fatal("the same revision was parsed again")
	}
	a2 := &model.NVE{Name: "a", Revision: 2, UnderlayIPs: []string{"198.18.0.9"}}
	if ips2 := p.ipv4Underlay(a2); len(ips2) != 1 || ips2[0] != netip.MustParseAddr("198.18.0.9") {
		t.Fatalf("underlay of a at revision 2: %v", ips2)
	}
	// Fill the memo past its sweep size with other NVEs, asking for a
	// all along: the others of the first round go, a stays.
	for round := 0; round < 3; round++ {
		for i := 0; i < 1024; i++ {
			p.ipv4Underlay(&model.NVE{Name: fmt.Sprintf("r%d-%d", round, i), Revision: 1, UnderlayIPs: []string{"198.18.1.1"}})
			p.ipv4Underlay(a2)
		}
	}
	p.umu.Lock()
	defer p.umu.Unlock()
	if _, ok := p.underlay["a"]; !ok {
		t.Fatal("an NVE in use was dropped")
	}
	if _, ok := p.underlay["r0-0"]; ok {
		t.Fatal("an NVE no longer asked for is still there after two sweeps")
	}
	if len(p.underlay) >= 3*1024+1 {
		t.Fatalf("memo of %d entries: nothing dropped", len(p.underlay))
	}
}

// TestWeakMapSweeps: a weakMap forgets its dead entries when it sweeps
// (on a put at twice the size of the last sweep) and keeps the live ones.
func TestWeakMapSweeps(t *testing.T) {
	var w weakMap[int, [4]uint64]
	live := make([]*[4]uint64, 0, 512)
	for i := 0; i < 1024; i++ {
		v := &[4]uint64{uint64(i)}
		if i%2 == 0 {
			live = append(live, v)
		}
		w.put(i, v)
	}
	runtime.GC() // the odd ones are gone
	if len(w.m) != 1024 {
		t.Fatalf("%d entries before the sweep, want 1024", len(w.m))
	}
	w.put(-1, &[4]uint64{}) // sweeps
	if len(w.m) != 513 {
		t.Fatalf("%d entries after the sweep, want the 512 live ones and the new one", len(w.m))
	}
	for i, v := range live {
		if w.get(2*i) != v {
			t.Fatalf("live entry %d lost", 2*i)
		}
	}
	if w.get(1) != nil {
		t.Fatal("a dead entry answers")
	}
	runtime.KeepAlive(live)
}
