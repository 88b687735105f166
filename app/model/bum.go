package model

import (
	"fmt"
	"net/netip"
	"slices"
)

// BUM replication modes and dual-homed tenant systems (RFC 8014 §4.3,
// §4.4): the VN's BUM fields and the port's Pair are checked here; what
// they compile to is app/compiler/bum.go's.

func (b *BUM) validate(fe *FieldErrors) {
	if b.Mode != BUMMulticast && b.Group != "" {
		fe.Add("bum.group", "is only allowed with mode multicast")
	}
	if b.Mode != BUMReplicator && len(b.Replicators) > 0 {
		fe.Add("bum.replicators", "is only allowed with mode replicator")
	}
	switch b.Mode {
	case BUMReplicate:
	case BUMMulticast:
		a, err := netip.ParseAddr(b.Group)
		if err != nil || !a.IsMulticast() {
			fe.Add("bum.group", "must be an IPv4 or IPv6 multicast group address")
		}
	case BUMReplicator:
		if len(b.Replicators) == 0 {
			fe.Add("bum.replicators", "mode replicator needs at least one replicator NVE")
		}
		seen := map[string]bool{}
		for i, r := range b.Replicators {
			f := fmt.Sprintf("bum.replicators[%d]", i)
			switch {
			case !ValidName(r):
				fe.Add(f, "%q is not an NVE name", r)
			case seen[r]:
				fe.Add(f, "duplicate replicator %s", r)
			}
			seen[r] = true
		}
	default:
		fe.Add("bum.mode", "must be one of replicate, replicator, multicast")
	}
}

// IsReplicator reports whether NVE nve is one of the VN's replicators (in
// mode replicator).
func (v *VN) IsReplicator(nve string) bool {
	return v.BUM.Mode == BUMReplicator && slices.Contains(v.BUM.Replicators, nve)
}

func (p *Port) validatePair(fe *FieldErrors) {
	switch {
	case p.Pair == "":
	case !ValidName(p.Pair):
		fe.Add("pair", "%q is not a port name", p.Pair)
	case p.Pair == p.Name:
		fe.Add("pair", "a port cannot be paired with itself")
	}
}

// CheckPair checks that port p may name port q as its pair (q is the port
// p.Pair names): the same tenant system attached to another NVE, so the
// same VN, MAC and IPs (as a set), on another NVE, and q names no other
// port as its pair.
func CheckPair(p, q *Port) *Error {
	switch {
	case q.VN != p.VN:
		return Errorf(KindInvalid, "pair", "port %q is in vn %q, not %q: a pair attaches one tenant system to one VN", q.Name, q.VN, p.VN)
	case q.NVE == p.NVE:
		return Errorf(KindInvalid, "pair", "port %q is on the same nve %q: a pair attaches one tenant system to two NVEs", q.Name, q.NVE)
	case q.MAC != p.MAC:
		return Errorf(KindInvalid, "pair", "port %q has mac %s, not %s: a pair is one tenant system", q.Name, q.MAC, p.MAC)
	case !sameSet(q.IPs, p.IPs):
		return Errorf(KindInvalid, "pair", "port %q has ips %v, not %v: a pair is one tenant system", q.Name, q.IPs, p.IPs)
	case q.Pair != "" && q.Pair != p.Name:
		return Errorf(KindConflict, "pair", "port %q is already paired with port %q", q.Name, q.Pair)
	}
	return nil
}

func sameSet(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

// PairPartner returns the port p is paired with in snapshot s, if the pair
// is valid there (see CheckPair): the port p.Pair names, or the port that
// names p. A port is in at most one pair (the store keeps it so).
func (s *Snapshot) PairPartner(p *Port) *Port {
	if p.Pair != "" {
		if q := s.Ports.Get(p.Pair); q != nil && CheckPair(p, q) == nil {
			return q
		}
		return nil
	}
	mac, ok := p.MACAddr()
	if !ok {
		return nil
	}
	// The partner has the same MAC; the index holds the first by name,
	// so a partner named after p is looked for among the VN's ports.
	if q := s.PortByMAC(p.VN, mac); q != nil && q != p && q.Pair == p.Name && CheckPair(q, p) == nil {
		return q
	}
	for _, q := range s.PortsIn(p.VN) {
		if q != p && q.Pair == p.Name && q.MAC == p.MAC && CheckPair(q, p) == nil {
			return q
		}
	}
	return nil
}

// BUMStatus is how one NVE delivers one VN's BUM traffic, as last
// compiled: the mode, how many copies of a BUM frame from one of its VAPs
// it sends into the underlay, and its roles. The REST API shows it in the
// NVE's status (openflow.bum).
type BUMStatus struct {
	VN   string  `json:"vn"`
	Mode BUMMode `json:"mode"`
	// Copies is the number of underlay copies the NVE sends of one BUM
	// frame from a local VAP (head-end: one per remote NVE; through
	// replicators: one per replicator).
	Copies int `json:"copies"`
	// Replicator: the NVE re-replicates the VN's BUM to ReplicatesTo.
	Replicator   bool     `json:"replicator,omitempty"`
	ReplicatesTo []string `json:"replicates_to,omitempty"`
	// DesignatedFor lists the dual-homed ports this NVE delivers BUM to
	// (it is their designated forwarder); NotDesignatedFor those whose
	// other NVE does.
	DesignatedFor    []string `json:"designated_for,omitempty"`
	NotDesignatedFor []string `json:"not_designated_for,omitempty"`
	// Unsupported says why the mode cannot be realized on this NVE (e.g.
	// underlay multicast on Open vSwitch): BUM then goes to local VAPs
	// only; nva never silently replicates instead.
	Unsupported string `json:"unsupported,omitempty"`
}
