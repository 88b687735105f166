package store

import (
	"fmt"
	"net/netip"
	"sort"

	"github.com/nva-project/nva/app/model"
)

// firstDPID is the first datapath ID nva assigns to ovs NVEs ("NV" in the
// upper half, so assigned IDs are recognisable in ovs-ofctl output).
const firstDPID uint64 = 0x00004e5600000001

type vnKey struct{ vn, val string }

type attachKey struct {
	nve, iface string
	vlan       int
}

// state is the indexed in-memory domain. Objects it holds are never mutated
// after insertion (a change replaces the pointer), so shallow copies of its
// maps are safe, immutable views.
type state struct {
	vns   map[string]*model.VN
	nves  map[string]*model.NVE
	ports map[string]*model.Port
	nodes map[string]*NodeInfo
	// tokens are the API tokens (tokens.go).
	tokens tokenState
	// policies are the inter-VN policy rules (policy.go).
	policies policyState
	// learned are the learned endpoints and conflicts (learned.go).
	learned learnedState
	// gateways are the L3 gateways (l3gateway.go).
	gateways map[string]*model.L3Gateway

	byVNI      map[uint32]string
	byDPID     map[uint64]string
	byUnderlay map[string]string // underlay IP -> NVE
	byMAC      map[vnKey]string  // (vn, mac) -> port
	byIP       map[vnKey]string  // (vn, ip) -> port
	byAttach   map[attachKey]string
	portsOfVN  map[string]map[string]struct{}
	portsOfNVE map[string]map[string]struct{}
	pairedBy   map[string]string // port -> the port naming it as its pair (pair.go)
}

func newState() *state {
	return &state{
		vns:        map[string]*model.VN{},
		nves:       map[string]*model.NVE{},
		ports:      map[string]*model.Port{},
		nodes:      map[string]*NodeInfo{},
		byVNI:      map[uint32]string{},
		byDPID:     map[uint64]string{},
		byUnderlay: map[string]string{},
		byMAC:      map[vnKey]string{},
		byIP:       map[vnKey]string{},
		byAttach:   map[attachKey]string{},
		portsOfVN:  map[string]map[string]struct{}{},
		portsOfNVE: map[string]map[string]struct{}{},
		pairedBy:   map[string]string{},
	}
}

// ipKey canonicalises an IP for the per-VN index (IPv4-mapped IPv6 = IPv4):
// s itself when it is canonical already (the index then shares the
// port's string instead of holding a copy).
func ipKey(s string) string {
	if a, err := netip.ParseAddr(s); err == nil {
		if c := a.Unmap().String(); c != s {
			return c
		}
	}
	return s
}

func (s *state) putVN(v *model.VN) {
	if old := s.vns[v.Name]; old != nil {
		delete(s.byVNI, old.VNI)
	}
	s.vns[v.Name] = v
	s.byVNI[v.VNI] = v.Name
}

func (s *state) delVN(name string) {
	if old := s.vns[name]; old != nil {
		delete(s.byVNI, old.VNI)
		delete(s.vns, name)
	}
}

func (s *state) putNVE(n *model.NVE) {
	s.delNVE(n.Name)
	s.nves[n.Name] = n
	if d := dpidOf(n); d != 0 {
		s.byDPID[d] = n.Name
	}
	for _, ip := range n.UnderlayIPs {
		s.byUnderlay[ip] = n.Name
	}
}

func (s *state) delNVE(name string) {
	old := s.nves[name]
	if old == nil {
		return
	}
	if d := dpidOf(old); d != 0 && s.byDPID[d] == name {
		delete(s.byDPID, d)
	}
	for _, ip := range old.UnderlayIPs {
		if s.byUnderlay[ip] == name {
			delete(s.byUnderlay, ip)
		}
	}
	delete(s.nves, name)
}

func (s *state) putPort(p *model.Port) {
	p.Parse() // MAC and IPs parsed once, here, for every snapshot after
	s.delPort(p.Name)
	s.ports[p.Name] = p
	if p.MAC != "" { // a segment port or a VTEP VAP may have none
		s.byMAC[vnKey{p.VN, p.MAC}] = p.Name
	}
	for _, ip := range p.IPs {
		s.byIP[vnKey{p.VN, ipKey(ip)}] = p.Name
	}
	s.byAttach[attachKey{p.NVE, p.Interface, p.VLAN}] = p.Name
	addSet(s.portsOfVN, p.VN, p.Name)
	addSet(s.portsOfNVE, p.NVE, p.Name)
	s.indexPair(p)
}

func (s *state) delPort(name string) {
	old := s.ports[name]
	if old == nil {
		return
	}
	if k := (vnKey{old.VN, old.MAC}); s.byMAC[k] == name {
		delete(s.byMAC, k)
	}
	for _, ip := range old.IPs {
		if k := (vnKey{old.VN, ipKey(ip)}); s.byIP[k] == name {
			delete(s.byIP, k)
		}
	}
	if k := (attachKey{old.NVE, old.Interface, old.VLAN}); s.byAttach[k] == name {
		delete(s.byAttach, k)
	}
	delSet(s.portsOfVN, old.VN, name)
	delSet(s.portsOfNVE, old.NVE, name)
	delete(s.ports, name)
	s.unindexPair(old)
}

func addSet(m map[string]map[string]struct{}, k, v string) {
	set := m[k]
	if set == nil {
		set = map[string]struct{}{}
		m[k] = set
	}
	set[v] = struct{}{}
}

func delSet(m map[string]map[string]struct{}, k, v string) {
	if set := m[k]; set != nil {
		delete(set, v)
		if len(set) == 0 {
			delete(m, k)
		}
	}
}

func sortedSet(set map[string]struct{}) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// asModelError turns a validation error into a *model.Error.
func asModelError(err error) *model.Error {
	if e, ok := model.AsError(err); ok {
		return e
	}
	return model.Errorf(model.KindInvalid, "", "%v", err)
}

// revisionField is the Field of the conflict an update with a stale
// expected revision is rejected with.
const revisionField = "revision"

// checkRevision rejects a conditional update (expect != 0) of an object
// whose stored revision is no longer the expected one.
func checkRevision(kind, name string, have, expect uint64) *model.Error {
	if expect == 0 || expect == have {
		return nil
	}
	return model.Errorf(model.KindConflict, revisionField,
		"%s %q is at revision %d, not the expected revision %d: it changed since it was read", kind, name, have, expect)
}

// isRevisionConflict reports whether e is checkRevision's rejection.
func isRevisionConflict(e *model.Error) bool {
	return e != nil && e.Kind == model.KindConflict && e.Field == revisionField
}

// IsRevisionConflict reports whether err is the rejection of a conditional
// update (UpdateVNIf, UpdateNVEIf, UpdatePortIf) because the object changed
// since the expected revision: a *model.Error of KindConflict on field
// "revision". It survives forwarding between nodes, which carries the
// error as JSON.
func IsRevisionConflict(err error) bool {
	e, ok := model.AsError(err)
	return ok && isRevisionConflict(e)
}

// --- allocation ---

// allocVNI returns the lowest free VNI. Allocation is part of a command's
// meaning, so it must stay the lowest free one: every node replaying the
// log has to pick the same.
func (s *state) allocVNI() (uint32, bool) {
	for v := uint32(1); v <= model.MaxVNI; v++ {
		if _, used := s.byVNI[v]; !used {
			return v, true
		}
	}
	return 0, false
}

// allocDPID returns the lowest free datapath ID from firstDPID up (the same
// on every node, like allocVNI).
func (s *state) allocDPID() (uint64, bool) {
	for d := firstDPID; d != 0; d++ {
		if _, used := s.byDPID[d]; !used {
			return d, true
		}
	}
	return 0, false
}

// dpidOf is an NVE's datapath ID as a number (0 if unset or unreadable),
// read as version 1 of the log reads it (see parseDPIDv1), so the indexes
// do not depend on model code that may change.
func dpidOf(n *model.NVE) uint64 {
	d, _ := parseDPIDv1(n.DatapathID)
	return d
}

// formatDPID renders an allocated datapath ID: 16 lowercase hex digits.
func formatDPID(d uint64) string { return fmt.Sprintf("%016x", d) }
