package ofctl

import (
	"maps"
	"testing"

	"github.com/nva-project/nva/app/model"
)

// TestHealthFollowsClaims: the down set is every NVE of the snapshot
// without a claimed switch, updated on each change, and a set handed out
// earlier (compiles read it outside the lock) is never modified.
func TestHealthFollowsClaims(t *testing.T) {
	nves := map[string]*model.NVE{}
	for _, n := range []string{"a", "b", "c"} {
		nves[n] = &model.NVE{Name: n}
	}
	s := &Southbound{switches: map[uint64]*worker{}}
	s.snap = model.NewSnapshot(1, map[string]*model.VN{}, nves, map[string]*model.Port{})
	check := func(want ...string) map[string]bool {
		t.Helper()
		s.healthLocked()
		w := map[string]bool{}
		for _, n := range want {
			w[n] = true
		}
		if !maps.Equal(s.down, w) {
			t.Fatalf("down = %v, want %v", s.down, w)
		}
		return s.down
	}
	all := check("a", "b", "c")
	s.switches[1] = &worker{sb: s, dpid: 1, nve: "a"}
	s.switches[2] = &worker{sb: s, dpid: 2} // unclaimed: no NVE is up by it
	afterA := check("b", "c")
	if !maps.Equal(all, map[string]bool{"a": true, "b": true, "c": true}) {
		t.Fatalf("an earlier down set was modified: %v", all)
	}
	if same := check("b", "c"); len(same) != 2 {
		t.Fatalf("unchanged claims changed the set: %v", same)
	}
	s.switches[2].nve = "c"
	check("b")
	delete(s.switches, 1)
	check("a", "b")
	// An NVE removed from the snapshot leaves the down set.
	delete(nves, "b")
	s.snap = model.NewSnapshot(2, map[string]*model.VN{}, nves, map[string]*model.Port{})
	check("a")
	if !maps.Equal(afterA, map[string]bool{"b": true, "c": true}) {
		t.Fatalf("an earlier down set was modified: %v", afterA)
	}
}
