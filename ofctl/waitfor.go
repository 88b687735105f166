package ofctl

import (
	"context"
	"slices"
)

// WaitRealizedFor is WaitRealized for the NVEs a write affects (nves; the
// REST layer derives them from the write: the port's NVE, the NVEs
// hosting its VN, a changed NVE's peers). It returns once the southbound
// has seen index and every listed NVE that is connected and claimed has
// realized it: it has no unrealized change, or the revision it has
// realized is at least index. NVEs not listed are not waited for, whatever
// their state, so a write is never held up by an unrelated NVE's
// (re)sync. When ctx ends first it returns the listed NVEs that had not
// caught up (sorted), with ctx's error.
func (s *Southbound) WaitRealizedFor(ctx context.Context, index uint64, nves []string) ([]string, error) {
	want := make(map[string]bool, len(nves))
	for _, n := range nves {
		want[n] = true
	}
	return s.waitRealized(ctx, index, want, func(index uint64) []string { return s.laggardsForLocked(index, want) })
}

// laggardsForLocked lists the connected, claimed NVEs of want that have
// not realized index: before the southbound has seen index, all of them;
// after, those with an unrealized change whose realized revision is below
// index. (An NVE with no unrealized change holds every change up to the
// southbound's revision that affects it.)
func (s *Southbound) laggardsForLocked(index uint64, want map[string]bool) []string {
	var out []string
	for _, w := range s.switches {
		if w.nve == "" || !want[w.nve] {
			continue
		}
		st := s.state(w.nve)
		if s.seen < index || (len(st.pending) > 0 && st.realized < index) {
			out = append(out, w.nve)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
