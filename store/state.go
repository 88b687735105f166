package store

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

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

	byVNI      map[uint32]string
	byDPID     map[uint64]string
	byUnderlay map[string]string // underlay IP -> NVE
	byMAC      map[vnKey]string  // (vn, mac) -> port
	byIP       map[vnKey]string  // (vn, ip) -> port
	byAttach   map[attachKey]string
	portsOfVN  map[string]map[string]struct{}
	portsOfNVE map[string]map[string]struct{}
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
	}
}

// ipKey canonicalises an IP for the per-VN index (IPv4-mapped IPv6 = IPv4).
func ipKey(s string) string {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().String()
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
	if d := n.DPID(); d != 0 {
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
	if d := old.DPID(); d != 0 && s.byDPID[d] == name {
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
	s.byMAC[vnKey{p.VN, p.MAC}] = p.Name
	for _, ip := range p.IPs {
		s.byIP[vnKey{p.VN, ipKey(ip)}] = p.Name
	}
	s.byAttach[attachKey{p.NVE, p.Interface, p.VLAN}] = p.Name
	addSet(s.portsOfVN, p.VN, p.Name)
	addSet(s.portsOfNVE, p.NVE, p.Name)
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

// --- VN ---

func (s *state) allocVNI() (uint32, bool) {
	for v := uint32(1); v <= model.MaxVNI; v++ {
		if _, used := s.byVNI[v]; !used {
			return v, true
		}
	}
	return 0, false
}

func (s *state) createVN(idx uint64, in model.VN) (*model.VN, *model.Error) {
	v := in
	v.Defaults()
	if err := v.Validate(); err != nil {
		return nil, asModelError(err)
	}
	if _, ok := s.vns[v.Name]; ok {
		return nil, model.Errorf(model.KindConflict, "name", "vn %q already exists", v.Name)
	}
	if v.VNI == 0 {
		vni, ok := s.allocVNI()
		if !ok {
			return nil, model.Errorf(model.KindConflict, "vni", "no free VNI left")
		}
		v.VNI = vni
	} else if owner, ok := s.byVNI[v.VNI]; ok {
		return nil, model.Errorf(model.KindConflict, "vni", "vni %d is already used by vn %q", v.VNI, owner)
	}
	v.Revision = idx
	s.putVN(&v)
	return &v, nil
}

func (s *state) updateVN(idx uint64, in model.VN, expect uint64) (old, nw *model.VN, _ *model.Error) {
	v := in
	v.Defaults()
	if err := v.Validate(); err != nil {
		return nil, nil, asModelError(err)
	}
	old = s.vns[v.Name]
	if old == nil {
		return nil, nil, model.Errorf(model.KindNotFound, "", "vn %q not found", v.Name)
	}
	if e := checkRevision("vn", v.Name, old.Revision, expect); e != nil {
		return nil, nil, e
	}
	if v.VNI == 0 {
		v.VNI = old.VNI // 0 means "keep the allocated one"
	} else if owner, ok := s.byVNI[v.VNI]; ok && owner != v.Name {
		return nil, nil, model.Errorf(model.KindConflict, "vni", "vni %d is already used by vn %q", v.VNI, owner)
	}
	v.Revision = idx
	s.putVN(&v)
	return old, &v, nil
}

func (s *state) deleteVN(name string) (*model.VN, *model.Error) {
	old := s.vns[name]
	if old == nil {
		return nil, model.Errorf(model.KindNotFound, "", "vn %q not found", name)
	}
	if ports := s.portsOfVN[name]; len(ports) > 0 {
		names := sortedSet(ports)
		e := model.Errorf(model.KindConflict, "", "vn %q still has %d port(s): %s", name, len(names), strings.Join(names, ", "))
		e.Blocking = names
		return nil, e
	}
	s.delVN(name)
	return old, nil
}

// --- NVE ---

func (s *state) allocDPID() (uint64, bool) {
	for d := firstDPID; d != 0; d++ {
		if _, used := s.byDPID[d]; !used {
			return d, true
		}
	}
	return 0, false
}

// checkNVE checks the NVE's uniqueness against every other NVE and assigns a
// datapath ID when needed (keep is the ID of the NVE being replaced, if any).
func (s *state) checkNVE(n *model.NVE, keep string) *model.Error {
	if n.DatapathID == "" && keep != "" {
		n.DatapathID = keep
	}
	if n.DatapathID == "" {
		// Validate guarantees only ovs NVEs get here without one.
		d, ok := s.allocDPID()
		if !ok {
			return model.Errorf(model.KindConflict, "datapath_id", "no free datapath ID left")
		}
		n.DatapathID = model.FormatDatapathID(d)
	} else if owner, ok := s.byDPID[n.DPID()]; ok && owner != n.Name {
		return model.Errorf(model.KindConflict, "datapath_id", "datapath_id %s is already used by nve %q", n.DatapathID, owner)
	}
	for i, ip := range n.UnderlayIPs {
		if owner, ok := s.byUnderlay[ip]; ok && owner != n.Name {
			return model.Errorf(model.KindConflict, fmt.Sprintf("underlay_ips[%d]", i), "underlay IP %s is already used by nve %q", ip, owner)
		}
	}
	return nil
}

func (s *state) createNVE(idx uint64, in model.NVE) (*model.NVE, *model.Error) {
	n := in
	n.UnderlayIPs = append([]string(nil), in.UnderlayIPs...)
	n.Defaults()
	if err := n.Validate(); err != nil {
		return nil, asModelError(err)
	}
	if _, ok := s.nves[n.Name]; ok {
		return nil, model.Errorf(model.KindConflict, "name", "nve %q already exists", n.Name)
	}
	if e := s.checkNVE(&n, ""); e != nil {
		return nil, e
	}
	n.Revision = idx
	s.putNVE(&n)
	return &n, nil
}

func (s *state) updateNVE(idx uint64, in model.NVE, expect uint64) (old, nw *model.NVE, _ *model.Error) {
	n := in
	n.UnderlayIPs = append([]string(nil), in.UnderlayIPs...)
	n.Defaults()
	if err := n.Validate(); err != nil {
		return nil, nil, asModelError(err)
	}
	old = s.nves[n.Name]
	if old == nil {
		return nil, nil, model.Errorf(model.KindNotFound, "", "nve %q not found", n.Name)
	}
	if e := checkRevision("nve", n.Name, old.Revision, expect); e != nil {
		return nil, nil, e
	}
	if e := s.checkNVE(&n, old.DatapathID); e != nil {
		return nil, nil, e
	}
	n.Revision = idx
	s.putNVE(&n)
	return old, &n, nil
}

func (s *state) deleteNVE(name string) (*model.NVE, *model.Error) {
	old := s.nves[name]
	if old == nil {
		return nil, model.Errorf(model.KindNotFound, "", "nve %q not found", name)
	}
	if ports := s.portsOfNVE[name]; len(ports) > 0 {
		names := sortedSet(ports)
		e := model.Errorf(model.KindConflict, "", "nve %q still has %d port(s): %s", name, len(names), strings.Join(names, ", "))
		e.Blocking = names
		return nil, e
	}
	s.delNVE(name)
	return old, nil
}

// --- Port ---

func (s *state) checkPort(p *model.Port) *model.Error {
	if _, ok := s.vns[p.VN]; !ok {
		return model.Errorf(model.KindReference, "vn", "vn %q does not exist", p.VN)
	}
	if _, ok := s.nves[p.NVE]; !ok {
		return model.Errorf(model.KindReference, "nve", "nve %q does not exist", p.NVE)
	}
	if owner, ok := s.byMAC[vnKey{p.VN, p.MAC}]; ok && owner != p.Name {
		return model.Errorf(model.KindConflict, "mac", "mac %s is already used by port %q in vn %q", p.MAC, owner, p.VN)
	}
	for i, ip := range p.IPs {
		if owner, ok := s.byIP[vnKey{p.VN, ipKey(ip)}]; ok && owner != p.Name {
			return model.Errorf(model.KindConflict, fmt.Sprintf("ips[%d]", i), "ip %s is already used by port %q in vn %q", ip, owner, p.VN)
		}
	}
	if owner, ok := s.byAttach[attachKey{p.NVE, p.Interface, p.VLAN}]; ok && owner != p.Name {
		return model.Errorf(model.KindConflict, "interface", "interface %s vlan %d on nve %q is already used by port %q", p.Interface, p.VLAN, p.NVE, owner)
	}
	return nil
}

func (s *state) createPort(idx uint64, in model.Port) (*model.Port, *model.Error) {
	p := in
	p.IPs = append([]string(nil), in.IPs...)
	p.Defaults()
	if err := p.Validate(); err != nil {
		return nil, asModelError(err)
	}
	if _, ok := s.ports[p.Name]; ok {
		return nil, model.Errorf(model.KindConflict, "name", "port %q already exists", p.Name)
	}
	if e := s.checkPort(&p); e != nil {
		return nil, e
	}
	p.Revision = idx
	s.putPort(&p)
	return &p, nil
}

func (s *state) updatePort(idx uint64, in model.Port, expect uint64) (old, nw *model.Port, _ *model.Error) {
	p := in
	p.IPs = append([]string(nil), in.IPs...)
	p.Defaults()
	if err := p.Validate(); err != nil {
		return nil, nil, asModelError(err)
	}
	old = s.ports[p.Name]
	if old == nil {
		return nil, nil, model.Errorf(model.KindNotFound, "", "port %q not found", p.Name)
	}
	if e := checkRevision("port", p.Name, old.Revision, expect); e != nil {
		return nil, nil, e
	}
	if e := s.checkPort(&p); e != nil {
		return nil, nil, e
	}
	p.Revision = idx
	s.putPort(&p)
	return old, &p, nil
}

func (s *state) deletePort(name string) (*model.Port, *model.Error) {
	old := s.ports[name]
	if old == nil {
		return nil, model.Errorf(model.KindNotFound, "", "port %q not found", name)
	}
	s.delPort(name)
	return old, nil
}

// --- nodes ---

func (s *state) putNode(n NodeInfo) (old, nw *NodeInfo, _ *model.Error) {
	if n.ID == "" {
		return nil, nil, model.Errorf(model.KindInvalid, "id", "node id is required")
	}
	n.State, n.Voter = "", false // both come from raft, not from the FSM
	old = s.nodes[n.ID]
	s.nodes[n.ID] = &n
	return old, &n, nil
}

func (s *state) removeNode(id string) (*NodeInfo, *model.Error) {
	old := s.nodes[id]
	if old == nil {
		return nil, model.Errorf(model.KindNotFound, "", "node %q not found", id)
	}
	delete(s.nodes, id)
	return old, nil
}
