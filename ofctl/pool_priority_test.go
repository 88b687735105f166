package ofctl

import "testing"

// TestRunQueueChangesFirst: a run with work (a store change, a port
// event) is taken before runs that only audit, whatever the order they
// were queued in; an audit already queued that is then kicked moves ahead
// too, and runs once.
func TestRunQueueChangesFirst(t *testing.T) {
	s := New(Config{})
	w := func(dpid uint64) *worker { return &worker{sb: s, dpid: dpid} }
	a1, a2, c1, c2 := w(1), w(2), w(3), w(4)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range []*worker{a1, a2} {
		x.audit = true
		x.wakeLocked("audit")
	}
	c1.kickLocked("store change")
	a2.kickLocked("port added") // queued to audit, now with work
	c2.kickLocked("store change")
	var got []uint64
	for x := s.dequeueLocked(); x != nil; x = s.dequeueLocked() {
		got = append(got, x.dpid)
		if x.queued || x.urgent {
			t.Fatalf("worker %d still marked queued after it was taken", x.dpid)
		}
	}
	want := []uint64{3, 2, 4, 1}
	if len(got) != len(want) {
		t.Fatalf("taken %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("taken %v, want %v", got, want)
		}
	}
}
