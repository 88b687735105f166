package store

import (
	"maps"
	"slices"

	"github.com/nva-project/nva/app/model"
)

// Split-NVE access links (RFC 8014 §4.2): the FSM allocates one VLAN per
// (access link, VN) from the link's pool. The allocation lives on the
// tNVE's record (NVE.AccessLink.VLANs), so it is replicated, snapshotted
// and restored with the NVE, and every NVE that compiles from it sees one
// consistent answer.
//
// The FSM is its only writer: after every command that changed ports or
// NVEs, reconcileAccessLinks gives each VN with a port on a touched tNVE a
// VLAN (VNs in name order, next fit from the link's cursor) and frees the
// VLANs of VNs that no longer have one, as part of the same Raft entry.
// That is a deterministic function of the state and the command, so every
// member computes the same allocation.
//
// Reuse: allocation is next fit. The cursor (AccessLink.NextVLAN) moves
// past every VLAN handed out, so a freed VLAN is handed out again only
// after every other VLAN of the pool was: with the default pool, 4,092
// allocations on that link later. Flows using a freed VLAN are removed
// from the tNVE and nNVE by the same revision that frees it, so in practice
// they are long gone when it comes around; a small pool with heavy churn
// shortens that hold-down (see README, "Split NVE").

// admitAccessLink completes and checks a tNVE declaration: its nNVE
// exists and is not a tNVE, no other tNVE lands on the same nNVE port, an
// NVE other tNVEs land on cannot become a tNVE, and the allocation (which
// clients cannot set) is carried over from the stored NVE while the link
// lands on the same nNVE port, else starts empty.
func admitAccessLink(st *state, n, old *model.NVE) *model.Error {
	if n.AccessLink == nil {
		return nil
	}
	l := *n.AccessLink
	n.AccessLink = &l
	l.VLANs, l.NextVLAN = nil, 0
	if old != nil && old.AccessLink != nil && old.AccessLink.NNVE == l.NNVE && old.AccessLink.NNVEPort == l.NNVEPort {
		pool, _ := model.ParseVLANPool(l.Pool())
		for vn, v := range old.AccessLink.VLANs {
			if model.InPool(pool, v) {
				if l.VLANs == nil {
					l.VLANs = map[string]int{}
				}
				l.VLANs[vn] = v
			}
		}
		l.NextVLAN = old.AccessLink.NextVLAN
	}
	nn, ok := st.nves[l.NNVE]
	switch {
	case !ok:
		return model.Errorf(model.KindReference, "access_link.nnve", "nve %q does not exist", l.NNVE)
	case nn.AccessLink != nil:
		return model.Errorf(model.KindConflict, "access_link.nnve", "nve %q is itself a tNVE (its access link lands on %q)", l.NNVE, nn.AccessLink.NNVE)
	}
	for _, name := range slices.Sorted(maps.Keys(st.nves)) {
		o := st.nves[name]
		if name == n.Name || o.AccessLink == nil {
			continue
		}
		if o.AccessLink.NNVE == n.Name {
			return model.Errorf(model.KindConflict, "access_link", "nve %q is the nNVE of tNVE %q: it cannot be a tNVE itself", n.Name, name)
		}
		if o.AccessLink.NNVE == l.NNVE && o.AccessLink.NNVEPort == l.NNVEPort {
			return model.Errorf(model.KindConflict, "access_link.nnve_port", "port %s of nve %q is already the access link of tNVE %q", l.NNVEPort, l.NNVE, name)
		}
	}
	return nil
}

// admitPortOnTNVE refuses a port that would bring a VN to a tNVE whose
// pool has no VLAN left for it.
func admitPortOnTNVE(st *state, p *model.Port) *model.Error {
	n := st.nves[p.NVE]
	if n == nil || n.AccessLink == nil {
		return nil
	}
	if p.Interface == n.AccessLink.Uplink {
		return model.Errorf(model.KindConflict, "interface", "interface %s is the access-link uplink of tNVE %q", p.Interface, p.NVE)
	}
	if _, ok := n.AccessLink.VLANs[p.VN]; ok {
		return nil
	}
	vns := st.vnsOnNVE(p.NVE)
	if vns[p.VN] {
		return nil // allocated when the batch it came with ends
	}
	pool, err := model.ParseVLANPool(n.AccessLink.Pool())
	if err != nil {
		return model.Errorf(model.KindConflict, "nve", "nve %q: access link VLAN pool: %v", p.NVE, err)
	}
	size := 0
	for _, r := range pool {
		size += r.Last - r.First + 1
	}
	if len(vns)+1 > size {
		return model.Errorf(model.KindConflict, "vn", "tNVE %q has no VLAN left in its access link pool %s for vn %q (%d VNs)", p.NVE, n.AccessLink.Pool(), p.VN, len(vns))
	}
	return nil
}

// vnsOnNVE is the set of VNs with a port on NVE nve.
func (s *state) vnsOnNVE(nve string) map[string]bool {
	out := map[string]bool{}
	for pn := range s.portsOfNVE[nve] {
		if p := s.ports[pn]; p != nil {
			out[p.VN] = true
		}
	}
	return out
}

// reconcileAccessLinks brings the VLAN allocation of every tNVE a
// command's events touched (a port on it, before or after, or the NVE
// itself) in line with the VNs that have ports on it, and returns the
// events of the NVEs it changed (their revision is idx).
func (s *state) reconcileAccessLinks(idx uint64, evs []Event) []Event {
	touched := map[string]bool{}
	for _, ev := range evs {
		switch ev.Kind {
		case KindPort:
			for _, o := range []any{ev.Old, ev.New} {
				if p, ok := o.(*model.Port); ok && p != nil {
					touched[p.NVE] = true
				}
			}
		case KindNVE:
			touched[ev.Name] = true
		}
	}
	var out []Event
	for _, name := range slices.Sorted(maps.Keys(touched)) {
		n := s.nves[name]
		if n == nil || n.AccessLink == nil {
			continue
		}
		l, changed := allocateLink(n.AccessLink, s.vnsOnNVE(name))
		if !changed {
			continue
		}
		c := *n
		c.AccessLink = l
		c.Revision = idx
		s.putNVE(&c)
		out = append(out, Event{Index: idx, Kind: KindNVE, Op: OpPut, Name: name, Old: n, New: &c})
	}
	return out
}

// allocateLink returns the link with a VLAN for every VN of vns (in name
// order, next fit) and none for the others, and whether that changed
// anything. A VN the pool has no VLAN left for gets none (the compiler
// warns; admitPortOnTNVE refuses such ports).
func allocateLink(old *model.AccessLink, vns map[string]bool) (*model.AccessLink, bool) {
	l := *old
	l.VLANs = map[string]int{}
	changed := false
	used := map[int]bool{}
	for vn, v := range old.VLANs {
		if vns[vn] {
			l.VLANs[vn] = v
			used[v] = true
		} else {
			changed = true // freed
		}
	}
	pool, err := model.ParseVLANPool(l.Pool())
	if err == nil {
		for _, vn := range slices.Sorted(maps.Keys(vns)) {
			if _, ok := l.VLANs[vn]; ok {
				continue
			}
			v, ok := model.NextFree(pool, l.NextVLAN, func(v int) bool { return used[v] })
			if !ok {
				continue
			}
			l.VLANs[vn], used[v], l.NextVLAN, changed = v, true, v+1, true
		}
	}
	if len(l.VLANs) == 0 {
		l.VLANs = nil
	}
	return &l, changed
}

// logAccessLink is an access link in the log and snapshots (logtypes.go).
type logAccessLink struct {
	NNVE     string         `json:"nnve"`
	Uplink   string         `json:"uplink"`
	NNVEPort string         `json:"nnve_port"`
	VLANPool string         `json:"vlan_pool,omitempty"`
	VLANs    map[string]int `json:"vlans,omitempty"`
	NextVLAN int            `json:"next_vlan,omitempty"`
}

func toLogAccessLink(l *model.AccessLink) *logAccessLink {
	if l == nil {
		return nil
	}
	return &logAccessLink{NNVE: l.NNVE, Uplink: l.Uplink, NNVEPort: l.NNVEPort, VLANPool: l.VLANPool,
		VLANs: nilIfEmpty(maps.Clone(l.VLANs)), NextVLAN: l.NextVLAN}
}

func (l *logAccessLink) model() *model.AccessLink {
	if l == nil {
		return nil
	}
	return &model.AccessLink{NNVE: l.NNVE, Uplink: l.Uplink, NNVEPort: l.NNVEPort, VLANPool: l.VLANPool,
		VLANs: nilIfEmpty(maps.Clone(l.VLANs)), NextVLAN: l.NextVLAN}
}
