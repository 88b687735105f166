package store

import "github.com/nva-project/nva/app/model"

// Dual-homed ports (model.Port.Pair): two ports of one VN with the same
// MAC and IPs on two NVEs. The store's MAC and IP indexes hold one owner
// per (VN, address); a pair shares its addresses, so admitPair lets a
// port reuse its partner's and delPort hands them back to the partner.

// pairPartnerOf returns the port p pairs with in st: the one p.Pair names,
// or the one naming p.
func (s *state) pairPartnerOf(p *model.Port) *model.Port {
	if p.Pair != "" {
		return s.ports[p.Pair]
	}
	if n, ok := s.pairedBy[p.Name]; ok {
		return s.ports[n]
	}
	return nil
}

// sharesWith reports whether port name may hold an address owner holds:
// it is owner, or owner is its pair partner.
func (s *state) sharesWith(p *model.Port, owner string) bool {
	if owner == p.Name {
		return true
	}
	q := s.pairPartnerOf(p)
	return q != nil && q.Name == owner
}

// admitPair: the port p.Pair names exists and is the same tenant system
// on another NVE (model.CheckPair), not paired with a third port; and a
// port another port names as its pair stays that port's twin.
func admitPair(st *state, p *model.Port) *model.Error {
	if p.Pair != "" {
		q, ok := st.ports[p.Pair]
		if !ok {
			return model.Errorf(model.KindReference, "pair", "port %q does not exist", p.Pair)
		}
		if err := model.CheckPair(p, q); err != nil {
			return err
		}
		if o, ok := st.pairedBy[q.Name]; ok && o != p.Name {
			return model.Errorf(model.KindConflict, "pair", "port %q is already paired with port %q", q.Name, o)
		}
		if o, ok := st.pairedBy[p.Name]; ok && o != q.Name {
			return model.Errorf(model.KindConflict, "pair", "port %q names this port as its pair already", o)
		}
	}
	if o, ok := st.pairedBy[p.Name]; ok && o != p.Pair {
		if r := st.ports[o]; r != nil {
			if err := model.CheckPair(r, p); err != nil {
				return model.Errorf(model.KindConflict, err.Field, "port %q is paired with this port: %s", o, err.Message)
			}
		}
	}
	return nil
}

// indexPair records p's pair (after putPort). The addresses a pair
// shares are owned in the indexes by the first of the two by name, so
// the indexes do not depend on the order the ports were stored in.
func (s *state) indexPair(p *model.Port) {
	if p.Pair != "" {
		s.pairedBy[p.Pair] = p.Name
	}
	q := s.pairPartnerOf(p)
	if q == nil || q.VN != p.VN || q.Name > p.Name {
		return
	}
	if k := (vnKey{q.VN, q.MAC}); q.MAC == p.MAC && s.byMAC[k] == p.Name {
		s.byMAC[k] = q.Name
	}
	for _, ip := range q.IPs {
		if k := (vnKey{q.VN, ipKey(ip)}); s.byIP[k] == p.Name {
			s.byIP[k] = q.Name
		}
	}
}

// unindexPair forgets old's pair and hands the addresses it owned back
// to its partner (in delPort, after old's own entries went).
func (s *state) unindexPair(old *model.Port) {
	if old.Pair != "" && s.pairedBy[old.Pair] == old.Name {
		delete(s.pairedBy, old.Pair)
	}
	q := s.ports[old.Pair]
	if q == nil {
		if n, ok := s.pairedBy[old.Name]; ok {
			q = s.ports[n]
		}
	}
	if q == nil || q.VN != old.VN {
		return
	}
	if k := (vnKey{q.VN, q.MAC}); s.byMAC[k] == "" {
		s.byMAC[k] = q.Name
	}
	for _, ip := range q.IPs {
		if k := (vnKey{q.VN, ipKey(ip)}); s.byIP[k] == "" {
			s.byIP[k] = q.Name
		}
	}
}
