package store

import (
	"fmt"
	"github.com/nva-project/nva/app/pipeline"
	"maps"
	"slices"

	"github.com/nva-project/nva/app/model"
)

// objectKind tells the generic commands (command.go), the generic write
// path (write.go) and the log encoding (logtypes.go) how to handle one kind
// of object T. Kinds are zero-size types used as type parameters, so each
// command on each kind is its own Go type with no table lookups.
//
// Adding a kind: a type implementing objectKind (here and its v1 codec in
// logtypes.go), its three type bytes (command.go) and registry entries
// (registry.go), its state index (state.go), its result and snapshot
// fields, and the Store's one-line methods (write.go).
type objectKind[T any] interface {
	// name names the kind in messages; it is also its Event.Kind.
	name() string
	commands() kindCommands
	key(*T) string
	revision(*T) *uint64
	// prepare returns a defaulted, validated copy of t: the stateless
	// rules, run before proposing and never by the FSM.
	prepare(t T) (T, error)

	get(st *state, name string) *T
	// admit runs the rules that depend on the other objects against t,
	// which is to replace old (nil: a create), and completes t with the
	// allocations those rules make (VNI, datapath ID). It must depend on
	// the state and t alone: every node runs it at the same log index.
	admit(st *state, t, old *T) *model.Error
	put(st *state, t *T)
	del(st *state, name string)
	// dependents names the objects that keep name from being deleted.
	dependents(st *state, name string) map[string]struct{}

	setResult(r *result, t *T)
	fromResult(r *result) *T

	// toV1 puts t into a version-1 body; fromV1 takes it out (false: the
	// body does not hold one).
	toV1(b *bodyV1, t *T)
	fromV1(b *bodyV1) (T, bool)
}

// kindCommands are a kind's command types.
type kindCommands struct{ create, update, delete cmdType }

// prepared runs the model's stateless rules on a copy.
func prepared[T any](t T, defaults func(*T), validate func(*T) error) (T, error) {
	defaults(&t)
	return t, validate(&t)
}

// --- VN ---

type vnKind struct{}

func (vnKind) name() string { return KindVN }
func (vnKind) commands() kindCommands {
	return kindCommands{cmdCreateVN, cmdUpdateVN, cmdDeleteVN}
}
func (vnKind) key(v *model.VN) string       { return v.Name }
func (vnKind) revision(v *model.VN) *uint64 { return &v.Revision }
func (vnKind) prepare(v model.VN) (model.VN, error) {
	return prepared(v, (*model.VN).Defaults, (*model.VN).Validate)
}
func (vnKind) get(st *state, name string) *model.VN { return st.vns[name] }
func (vnKind) put(st *state, v *model.VN)           { st.putVN(v) }
func (vnKind) del(st *state, name string)           { st.delVN(name) }
func (vnKind) dependents(st *state, name string) map[string]struct{} {
	return st.portsOfVN[name]
}
func (vnKind) setResult(r *result, v *model.VN) { r.VN = v }
func (vnKind) fromResult(r *result) *model.VN   { return r.VN }

// admit: VNI 0 allocates the lowest free VNI on create and keeps the
// current one on update; any other VNI must be free.
func (vnKind) admit(st *state, v, old *model.VN) *model.Error {
	switch {
	case v.VNI == 0 && old != nil:
		v.VNI = old.VNI
	case v.VNI == 0:
		vni, ok := st.allocVNI()
		if !ok {
			return model.Errorf(model.KindConflict, "vni", "no free VNI left")
		}
		v.VNI = vni
	default:
		if owner, ok := st.byVNI[v.VNI]; ok && owner != v.Name {
			return model.Errorf(model.KindConflict, "vni", "vni %d is already used by vn %q", v.VNI, owner)
		}
	}
	for i, r := range v.BUM.Replicators { // bum.go (app/compiler): replicator NVEs
		if _, ok := st.nves[r]; !ok {
			return model.Errorf(model.KindReference, fmt.Sprintf("bum.replicators[%d]", i), "nve %q does not exist", r)
		}
	}
	if err := admitVNVTEP(st, v); err != nil {
		return err
	}
	return admitVNL3(st, v)
}

// admitVNL3: within one L3 domain (tenant and l3_domain) no two VNs'
// subnets overlap (across domains they may), and the VN's ports still
// fall in its subnets.
func admitVNL3(st *state, v *model.VN) *model.Error {
	if dk := v.DomainKey(); dk != "" {
		for _, name := range slices.Sorted(maps.Keys(st.vns)) {
			o := st.vns[name]
			if name == v.Name || o.DomainKey() != dk {
				continue
			}
			if i, j, ok := model.SubnetOverlap(v, o); ok {
				return model.Errorf(model.KindConflict, fmt.Sprintf("subnets[%d].cidr", i),
					"subnet %s overlaps subnet %s of vn %q in l3_domain %q", v.Subnets[i].CIDR, o.Subnets[j].CIDR, name, v.L3Domain)
			}
		}
	}
	for _, pn := range slices.Sorted(maps.Keys(st.portsOfVN[v.Name])) {
		if p := st.ports[pn]; p != nil {
			if err := model.CheckPortInVN(p, v); err != nil {
				return model.Errorf(model.KindConflict, "subnets", "port %q does not fit the new subnets: %s", pn, err.Message)
			}
		}
	}
	return nil
}

// --- NVE ---

type nveKind struct{}

func (nveKind) name() string { return KindNVE }
func (nveKind) commands() kindCommands {
	return kindCommands{cmdCreateNVE, cmdUpdateNVE, cmdDeleteNVE}
}
func (nveKind) key(n *model.NVE) string       { return n.Name }
func (nveKind) revision(n *model.NVE) *uint64 { return &n.Revision }
func (nveKind) prepare(n model.NVE) (model.NVE, error) {
	n.UnderlayIPs = slices.Clone(n.UnderlayIPs) // Defaults rewrites them in place
	n, err := prepared(n, (*model.NVE).Defaults, (*model.NVE).Validate)
	if err != nil {
		return n, err
	}
	if n.Kind == model.NVEVTEP {
		return n, nil // no OpenFlow profile: nva programs its hardware_vtep tables
	}
	return n, checkNVEProfile(&n)
}

// checkNVEProfile checks a valid NVE's profile fields against the switch
// profiles (app/pipeline): the profile its kind and profile field select
// exists, table_ids names that profile's tables and keeps them in packet
// order, and tunnel_ports is only given to a profile without flow-based
// tunnels. It runs before proposing, never in the FSM: a later change of
// the profiles cannot make a logged NVE fail to apply.
func checkNVEProfile(n *model.NVE) error {
	var fe model.FieldErrors
	prof, err := pipeline.ForNVE(string(n.Kind), n.Profile, nil)
	if err != nil {
		fe.Add("profile", "%v", err)
		return fe.Err()
	}
	if len(n.TableIDs) > 0 {
		if _, err := prof.WithTableIDs(n.TableIDs); err != nil {
			fe.Add("table_ids", "%v", err)
		}
	}
	if len(n.TunnelPorts) > 0 && prof.FlowTunnels {
		fe.Add("tunnel_ports", "profile %s tunnels by flow (one port per encapsulation); per-remote tunnel ports are only used by profile %s", prof.Name, model.ProfileStrict)
	}
	return fe.Err()
}
func (nveKind) get(st *state, name string) *model.NVE { return st.nves[name] }
func (nveKind) put(st *state, n *model.NVE)           { st.putNVE(n) }
func (nveKind) del(st *state, name string)            { st.delNVE(name) }
func (nveKind) dependents(st *state, name string) map[string]struct{} {
	return st.portsOfNVE[name]
}
func (nveKind) setResult(r *result, n *model.NVE) { r.NVE = n }
func (nveKind) fromResult(r *result) *model.NVE   { return r.NVE }

// admit: an NVE without a datapath ID keeps the one it replaces, or gets
// the lowest free one from firstDPID up; datapath IDs and underlay IPs are
// unique across NVEs.
func (nveKind) admit(st *state, n, old *model.NVE) *model.Error {
	if n.DatapathID == "" && old != nil && n.Kind != model.NVEVTEP {
		n.DatapathID = old.DatapathID
	}
	if err := admitNVEVTEP(st, n, old); err != nil {
		return err
	}
	if n.DatapathID == "" && n.Kind != model.NVEVTEP {
		d, ok := st.allocDPID()
		if !ok {
			return model.Errorf(model.KindConflict, "datapath_id", "no free datapath ID left")
		}
		n.DatapathID = formatDPID(d)
	} else if owner, ok := st.byDPID[dpidOf(n)]; ok && owner != n.Name {
		return model.Errorf(model.KindConflict, "datapath_id", "datapath_id %s is already used by nve %q", n.DatapathID, owner)
	}
	for i, ip := range n.UnderlayIPs {
		if owner, ok := st.byUnderlay[ip]; ok && owner != n.Name {
			return model.Errorf(model.KindConflict, fmt.Sprintf("underlay_ips[%d]", i), "underlay IP %s is already used by nve %q", ip, owner)
		}
	}
	return admitAccessLink(st, n, old) // accesslink.go
}

// --- Port ---

type portKind struct{}

func (portKind) name() string { return KindPort }
func (portKind) commands() kindCommands {
	return kindCommands{cmdCreatePort, cmdUpdatePort, cmdDeletePort}
}
func (portKind) key(p *model.Port) string       { return p.Name }
func (portKind) revision(p *model.Port) *uint64 { return &p.Revision }
func (portKind) prepare(p model.Port) (model.Port, error) {
	p.IPs = slices.Clone(p.IPs) // Defaults rewrites them in place
	return prepared(p, (*model.Port).Defaults, (*model.Port).Validate)
}
func (portKind) get(st *state, name string) *model.Port { return st.ports[name] }
func (portKind) put(st *state, p *model.Port)           { st.putPort(p) }
func (portKind) del(st *state, name string)             { st.delPort(name) }
func (portKind) dependents(st *state, name string) map[string]struct{} {
	if o, ok := st.pairedBy[name]; ok { // pair.go: its twin names it
		return map[string]struct{}{o: {}}
	}
	return nil
}
func (portKind) setResult(r *result, p *model.Port) { r.Port = p }
func (portKind) fromResult(r *result) *model.Port   { return r.Port }

// admit: the port's VN and NVE exist; its MAC and IPs are unique within
// its VN, and its attachment point (NVE, interface, VLAN) is its own.
func (portKind) admit(st *state, p, _ *model.Port) *model.Error {
	vn, ok := st.vns[p.VN]
	if !ok {
		return model.Errorf(model.KindReference, "vn", "vn %q does not exist", p.VN)
	}
	if err := model.CheckPortInVN(p, vn); err != nil {
		return err
	}
	nve, ok := st.nves[p.NVE]
	if !ok {
		return model.Errorf(model.KindReference, "nve", "nve %q does not exist", p.NVE)
	}
	if err := admitPair(st, p); err != nil {
		return err
	}
	if err := model.CheckPortOnNVE(p, nve, vn); err != nil {
		return err
	}
	if owner, ok := st.byMAC[vnKey{p.VN, p.MAC}]; ok && p.MAC != "" && !st.sharesWith(p, owner) {
		return model.Errorf(model.KindConflict, "mac", "mac %s is already used by port %q in vn %q", p.MAC, owner, p.VN)
	}
	for i, ip := range p.IPs {
		if owner, ok := st.byIP[vnKey{p.VN, ipKey(ip)}]; ok && !st.sharesWith(p, owner) {
			return model.Errorf(model.KindConflict, fmt.Sprintf("ips[%d]", i), "ip %s is already used by port %q in vn %q", ip, owner, p.VN)
		}
	}
	if owner, ok := st.byAttach[attachKey{p.NVE, p.Interface, p.VLAN}]; ok && owner != p.Name {
		return model.Errorf(model.KindConflict, "interface", "interface %s vlan %d on nve %q is already used by port %q", p.Interface, p.VLAN, p.NVE, owner)
	}
	if e := checkUplinkFree(st, p); e != nil { // l3gateway.go
		return e
	}
	return admitPortOnTNVE(st, p) // accesslink.go
}
