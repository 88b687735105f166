package web

import (
	"maps"
	"slices"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/store"
	"github.com/nva-project/nva/web/wire"
)

// affected collects the NVEs whose compiled state a write changes: what
// ?wait=realized waits for (and reports in wire.RealizedNVEsHeader). It
// is derived from the write itself: the object before (read from the
// local snapshot just before the write) and after (the store's answer),
// with the NVEs hosting a VN and an NVE's peers read from the snapshot
// after the write (at its revision or later), the same questions the
// compiler and the southbound ask of the domain index:
//   - a port: its NVE before and after, and every NVE hosting its VN
//     before or after (they hold its address and flood to its NVE);
//   - a VN: every NVE hosting it;
//   - an NVE: itself and every NVE sharing a VN with it (its underlay
//     address is in their tunnel flows).
//
// An update or delete whose object the local snapshot did not have (a
// follower lagging behind) is not derivable: every NVE is waited for, as
// before.
type affected struct {
	before, after *model.Snapshot
	set           map[string]bool
	all           bool
}

func newAffected(before, after *model.Snapshot) *affected {
	return &affected{before: before, after: after, set: map[string]bool{}}
}

func (a *affected) hosts(snap *model.Snapshot, vn string) {
	for _, n := range snap.NVEsHosting(vn) {
		a.set[n] = true
	}
}

func (a *affected) peers(snap *model.Snapshot, nve string) {
	for _, p := range snap.Peers(nve) {
		a.set[p.NVE] = true
	}
}

// add records one object of the write (before or after; a nil pointer
// adds nothing).
func (a *affected) add(obj any) {
	switch v := obj.(type) {
	case *model.Port:
		if v != nil {
			a.set[v.NVE] = true
			a.hosts(a.after, v.VN)
		}
	case *model.VN:
		if v != nil {
			a.hosts(a.before, v.Name)
			a.hosts(a.after, v.Name)
		}
	case *model.NVE:
		if v != nil {
			a.set[v.Name] = true
			a.peers(a.before, v.Name)
			a.peers(a.after, v.Name)
		}
	case *model.PolicyRule:
		if v != nil {
			a.policy(v) // policy.go
		}
	case *model.L3Gateway: // its NVE and the NVEs of its domain (l3gateway.go)
		if v != nil {
			for _, snap := range []*model.Snapshot{a.before, a.after} {
				if snap != nil {
					for _, n := range snap.GatewayNVEsOf(v) {
						a.set[n] = true
					}
				}
			}
		}
	}
}

// unknown records that an object the write changed was not in the
// snapshot before it: every NVE is waited for.
func (a *affected) unknown() { a.all = true }

// names returns the NVEs, sorted.
func (a *affected) names() []string {
	if a.all {
		out := make([]string, 0, len(a.after.NVEs))
		for _, n := range a.after.SortedNVEs() {
			out = append(out, n.Name)
		}
		return out
	}
	return slices.Sorted(maps.Keys(a.set))
}

// lookupAny returns the object of kind (wire.KindVN, KindNVE, KindPort)
// named name in snap, as an any holding a typed nil when absent.
func lookupAny(snap *model.Snapshot, kind, name string) (any, bool) {
	switch kind {
	case wire.KindVN:
		v, ok := snap.VNs[name]
		return v, ok
	case wire.KindNVE:
		v, ok := snap.NVEs[name]
		return v, ok
	case wire.KindPort:
		v, ok := snap.Ports.Lookup(name)
		return v, ok
	}
	return nil, false
}

// batchAffected is affected for a batch: the union over its items (an
// update or delete of an object the snapshot before did not have makes it
// every NVE, unless an earlier item of the batch created it).
func batchAffected(before, after *model.Snapshot, ops []store.BatchOp, res *store.BatchResult) []string {
	a := newAffected(before, after)
	created := map[[2]string]bool{}
	for i, op := range ops {
		name := op.Name
		switch {
		case name != "":
		case op.VN != nil:
			name = op.VN.Name
		case op.NVE != nil:
			name = op.NVE.Name
		case op.Port != nil:
			name = op.Port.Name
		}
		old, ok := lookupAny(before, op.Kind, name)
		switch {
		case ok:
			a.add(old)
		case op.Op != wire.OpCreate && !created[[2]string{op.Kind, name}]:
			a.unknown()
		}
		if op.Op == wire.OpCreate {
			created[[2]string{op.Kind, name}] = true
		}
		if i < len(res.Items) {
			r := res.Items[i]
			a.add(r.VN)
			a.add(r.NVE)
			a.add(r.Port)
		}
	}
	return a.names()
}
