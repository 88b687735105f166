package compiler

import (
	"encoding/binary"
	"fmt"
	mbits "math/bits"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/pipeline"
)

// nveView is what one compile reads of the domain for an NVE: the VNs it
// will compile, each with its local VAPs, remote NVEs and ports, and the
// fingerprints of the VN's parts. Building it costs the NVE's local ports
// plus one pass over each hosted VN's ports (name, revision, a few map
// lookups: no flows) and NVEs.
type nveView struct {
	in      *Input
	prof    pipeline.Profile
	self    *model.NVE
	keyHash uint64 // the cache key's hash (profile, NVE, generation)
	// shareHash is the hash of the profile and generation alone: it
	// replaces keyHash in the fingerprint of a part that does not depend
	// on the NVE (a port not attached here; see PartPool).
	shareHash uint64
	underlay  map[string]underlayMemo // the cache's parsed underlays (nil: parse every time)
	pool      *PartPool               // when not nil, its parsed underlays serve instead
	vns       []*vnView               // by name
	warnings  []string                // NVE-level, local attachment and port warnings
	domains   map[string][]*model.VN  // routed VNs by L3 domain key (l3Domains)
	gws       []*vnView               // L3 gateway slices (l3gwview.go)
	// scratch is the view's buffers (taken from the pool, if any, and
	// handed back by release).
	scratch *viewScratch
}

// viewScratch is what a view builds and drops within one compile: the
// parts of the VN completed last (Cache.compile completes a VN and
// compiles its parts before the next one, and nothing reads a VN's
// parts after that, so one array serves them all) and the maps of the
// local VAPs' claims (vapClaims).
type viewScratch struct {
	parts []portPart
	used  map[[2]uint32]string
	ifVN  map[uint32]string
	addrs map[netip.Addr]string
}

// maxScratchMap is the size beyond which a claims map is not kept for
// the next view (clearing it would cost what it holds).
const maxScratchMap = 1024

// reset empties the scratch for another view.
func (sc *viewScratch) reset() {
	clear(sc.parts[:cap(sc.parts)])
	sc.parts = sc.parts[:0]
	if len(sc.used) > maxScratchMap {
		sc.used = nil
	}
	clear(sc.used)
	if len(sc.ifVN) > maxScratchMap || len(sc.addrs) > maxScratchMap {
		sc.ifVN, sc.addrs = nil, nil
	}
	clear(sc.ifVN)
	clear(sc.addrs)
}

// vnView is one VN as the NVE compiles it: its shared part (fp) and one
// part per port that owns its MAC in the VN (parts).
type vnView struct {
	name    string
	vn      *model.VN
	local   []vap         // this NVE's VAPs of the VN, by port name
	fp      uint64        // fingerprint of what the shared part reads
	ports   []*model.Port // (complete) the VN's ports with a MAC of their own, by name
	remotes []remoteNVE   // reachable NVEs hosting the VN, by name
	parts   []portPart    // (complete) parallel to ports
	// allFP hashes everything the VN's parts read (fp, ctx, its local
	// VAPs as attached) but the VN's ports: when it is unchanged, and so
	// are the ports (samePorts), so are all its parts, and complete is
	// not needed.
	allFP uint64
	// ctx (ctxFingerprint) covers what every part of the VN reads
	// besides its port, the port's VAP, MAC ownership and the addresses
	// it answers for. When it is unchanged, only the parts of ports that
	// changed, whose VAP changed, or that share a MAC or an address with
	// a changed port, can change (completeDelta).
	ctx uint64
	// portWarnings are complete's about the VN's ports (invalid or
	// duplicated MACs): they depend on what allFP covers.
	portWarnings []string
	// warnings are findRemotes': about the VN's remotes. They depend only
	// on what fp covers, so they are memoized with the shared part.
	warnings []string
	// routes are where the VN's distributed gateway routes to, and
	// sources the NVEs routing into the VN (l3view.go); the shared part's
	// fingerprint covers both.
	routes  []route
	sources []remoteNVE
	// tagged: the VN has a passthrough VAP somewhere, so frames from
	// tunnels may carry a tenant tag (split.go).
	tagged bool
	// gw is the VN's L3 gateway link; gwSlice, set only on a gateway
	// slice (not a VN), its gateway (l3gwview.go).
	gw      *gwLink
	gwSlice *gwSlice
	// dual and repl are the VN's dual-homed systems and replication plan
	// (bum.go); the shared part's fingerprint covers both.
	dual []dualHome
	repl *replication
	// policy is the VN's inter-VN policy (policy.go; nil: none applies).
	policy *vnPolicy
	// learned and segments are the VN's learned endpoints as compiled
	// and whether it has a segment port anywhere (segment.go); the shared
	// part's fingerprint covers both.
	learned  []learnedDest
	segments bool
}

func (st *vnView) warn(format string, args ...any) {
	st.warnings = append(st.warnings, fmt.Sprintf(format, args...))
}

// portPart is what one port of a VN contributes on this NVE, and the
// fingerprint of exactly that.
type portPart struct {
	port    *model.Port
	vap     *vap         // its VAP when it is attached on this NVE
	remote  *remoteNVE   // the remote NVE hosting it, when reachable
	answers []netip.Addr // the addresses it answers for (first port of the VN by name to bind them)
	paired  bool         // one of a dual-homed pair: bum.go forwards to it when remote
	// segs are the VN's segment VAPs on this NVE (segment.go: frames
	// from them with this port's MAC are refused); shared by the parts.
	segs  []*vap
	fp    uint64
	share uint64 // fp without the profile, NVE and generation (PartPool)
	// clean: completeDelta kept the part of the last compile, whose
	// slice has fingerprint fp; only port and fp are set, and the
	// compile reuses that slice.
	clean bool
}

// vap is a local port's virtual access point.
type vap struct {
	port  *model.Port
	ofp   uint32
	vlan  int
	mac   net.HardwareAddr
	addrs []netip.Addr // the addresses it binds (not bound first by another VAP of the VN)
	// pass is a passthrough VAP (split.go): frames tagged with a VLAN of
	// allowed (and untagged ones if untagged) are admitted with their tag.
	pass     bool
	allowed  []int
	untagged bool
	// segment: the port is an L2 gateway segment attachment (no MAC, no
	// addresses, no part of its own; segment.go compiles it).
	segment bool
}

// remoteNVE is another NVE hosting a VN, and how this NVE reaches it.
type remoteNVE struct {
	nve  *model.NVE
	ips  []netip.Addr // IPv4 underlay addresses; tunnels go to ips[0]
	port uint32       // the tunnel port to it (flow-based or per remote)
	// paths are the OpenFlow ports of its tunnel paths, mode how they are
	// used and group the VN's path group toward it (0: none, port is
	// used) (multipath.go).
	paths []uint32
	mode  model.Multipath
	group uint32
	// link is linkNone for a tunnel; for a split NVE's access link
	// (split.go) port is the link's port and frames carry vlan on it
	// (an 802.1ad S-tag if qinq).
	link linkKind
	vlan int
	qinq bool
}

func (v *nveView) warn(format string, args ...any) {
	v.warnings = append(v.warnings, fmt.Sprintf(format, args...))
}

// buildView resolves the VNs NVE in.NVE hosts (has a port in), in name
// order, with their local VAPs (attached in VN then port name order: an
// (interface, VLAN) is the first claimer's), ports, remotes, parts and
// fingerprints (keyHash, the cache key's hash, goes into each). A VN it
// cannot compile is skipped with a warning. The remote NVEs' underlays are
// parsed through pool's memo, else underlay (the Cache's), else every time
// (both nil).
func buildView(in *Input, prof pipeline.Profile, keyHash, shareHash uint64, underlay map[string]underlayMemo, pool *PartPool) *nveView {
	v := &nveView{in: in, prof: prof, self: in.Snapshot.NVEs[in.NVE], keyHash: keyHash, shareHash: shareHash, underlay: underlay, pool: pool}
	if pool != nil {
		v.scratch, _ = pool.scratch.Get().(*viewScratch)
	}
	if v.scratch == nil {
		v.scratch = &viewScratch{}
	}
	if v.self.Kind == model.NVEOpenFlow && prof.Extensions {
		v.warn("NVE %s is a hardware OpenFlow switch but profile %s uses extensions", in.NVE, prof.Name)
	}
	if v.scratch.used == nil {
		v.scratch.used = make(map[[2]uint32]string, len(in.Snapshot.PortsOn(in.NVE)))
	}
	used := v.scratch.used // (ofport, vlan) -> port name, across VNs
	for _, name := range in.Snapshot.VNsOn(in.NVE) {
		vn, ok := v.resolveVN(name)
		if !ok {
			continue
		}
		st := &vnView{name: name, vn: vn}
		v.attachLocal(st, used)
		if len(st.local) == 0 && !v.hasDownlinks(name) {
			// Not compiled; its ports' warnings are given all the same.
			v.ownPorts(st, v.warn)
			v.warn("VN %s: no port of %s has an OpenFlow port yet; VN not compiled", name, in.NVE)
			continue
		}
		v.findRemotes(st, st.warn)
		st.tagged = anyPassthrough(in.Snapshot.PortsIn(name))
		v.planBUM(st)
		v.vns = append(v.vns, st)
	}
	v.resolveL3()
	v.resolveGateways() // l3gwview.go
	for _, st := range v.vns {
		v.resolveLearned(st)
	}
	for _, st := range v.vns {
		st.fp = v.sharedFingerprint(st)
		st.ctx = v.ctxFingerprint(st)
		st.allFP = v.vnFingerprint(st)
	}
	return v
}

// ownMAC returns a port's MAC if it is valid and the port is the one that
// owns it in its VN (the first by name).
func ownMAC(s *model.Snapshot, vn string, p *model.Port) ([6]byte, bool) {
	mac, ok := p.MACAddr()
	if !ok {
		return mac, false
	}
	o := s.PortByMAC(vn, mac)
	return mac, o == p || (o != nil && p.Pair != "" && s.PairPartner(p) == o) || (o != nil && o.Pair == p.Name && s.PairPartner(o) == p)
}

// attachLocal fills st.local with the VAPs of the VN's ports on this NVE
// that own their MAC in the VN (complete warns about the others).
func (v *nveView) attachLocal(st *vnView, used map[[2]uint32]string) {
	claims := vapClaims{used: used}
	ports := v.in.Snapshot.PortsAt(v.in.NVE, st.name)
	var macs []byte // backs the VAPs' MACs (kept with the VAPs: not scratch)
	for _, p := range ports {
		mac, ok := ownMAC(v.in.Snapshot, st.name, p)
		if !ok && !p.IsSegment() {
			continue
		}
		if claims.ifVN == nil {
			sc := v.scratch
			if sc.ifVN == nil {
				sc.ifVN, sc.addrs = make(map[uint32]string, len(ports)), make(map[netip.Addr]string, len(ports))
			} else {
				clear(sc.ifVN)
				clear(sc.addrs)
			}
			claims.ifVN, claims.addrs = sc.ifVN, sc.addrs
			st.local = make([]vap, 0, len(ports))
			macs = make([]byte, 0, 6*len(ports))
		}
		if a, ok := v.localVAP(st, p, mac, claims); ok {
			if !a.segment {
				macs = append(macs, mac[:]...)
				a.mac = macs[len(macs)-6 : len(macs) : len(macs)]
			}
			st.local = append(st.local, a)
		}
	}
}

// ownPorts fills st.ports with the VN's ports that have a valid MAC of
// their own in the VN (the first by name keeps a duplicated MAC).
func (v *nveView) ownPorts(st *vnView, warn func(string, ...any)) {
	s := v.in.Snapshot
	all := s.PortsIn(st.name)
	st.ports = make([]*model.Port, 0, len(all))
	for _, p := range all {
		if p.IsSegment() {
			continue // no MAC of its own (segment.go)
		}
		mac, ok := p.MACAddr()
		if !ok && p.MAC == "" {
			continue // a VTEP VAP: its hosts are learned, it has no MAC of its own
		}
		if !ok {
			warn("port %s: invalid MAC %q; skipped", p.Name, p.MAC)
			continue
		}
		if _, own := ownMAC(s, st.name, p); !own {
			o := s.PortByMAC(st.name, mac)
			warn("port %s: MAC %s already used by port %s in VN %s; skipped", p.Name, net.HardwareAddr(mac[:]), o.Name, st.name)
			continue
		}
		st.ports = append(st.ports, p)
	}
}

// resolveVN returns VN name if it can be compiled, warning about what of
// it is not compiled yet.
func (v *nveView) resolveVN(name string) (*model.VN, bool) {
	vn, ok := v.in.Snapshot.VNs[name]
	if !ok {
		v.warn("VN %s: referenced by ports but not in the snapshot; skipped", name)
		return nil, false
	}
	if vn.VNI == 0 || vn.VNI > model.MaxVNI {
		v.warn("VN %s: VNI %d not allocated or out of range; skipped", name, vn.VNI)
		return nil, false
	}
	if vn.Routed() && len(vn.Subnets) == 0 {
		v.warn("VN %s: service %s without subnets: no gateway, nothing routed", name, vn.Service)
	}
	return vn, true
}

// vapClaims is what the local VAPs of one VN have claimed so far.
type vapClaims struct {
	used  map[[2]uint32]string  // (ofport, vlan) -> port name, across VNs
	ifVN  map[uint32]string     // ofport -> port name, within the VN
	addrs map[netip.Addr]string // bound address -> port name, within the VN
}

// localVAP makes the VAP of port p of this NVE, unless its interface has
// no OpenFlow port yet or its (interface, VLAN) or interface in the VN is
// already taken. Addresses another VAP of the VN bound first stay unbound.
func (v *nveView) localVAP(st *vnView, p *model.Port, mac [6]byte, claims vapClaims) (vap, bool) {
	ofp, ok := v.in.OFPorts[p.Interface]
	if !ok || ofp == 0 || ofp >= flow.PortInPort {
		v.warn("port %s: interface %s has no OpenFlow port on %s yet; skipped", p.Name, p.Interface, v.in.NVE)
		return vap{}, false
	}
	var kb [4][2]uint32
	keys := vapKeys(kb[:0], ofp, p)
	for _, key := range keys {
		if o, dup := claims.used[key]; dup {
			v.warn("port %s: interface %s VLAN %d already attached as port %s; skipped", p.Name, p.Interface, key[1], o)
			return vap{}, false
		}
	}
	if o, dup := claims.ifVN[ofp]; dup {
		// The reply stage and the controller's answers identify a VAP by
		// (in_port, VN).
		v.warn("port %s: interface %s already attached to VN %s as port %s (another VLAN); one VAP per interface and VN; skipped", p.Name, p.Interface, st.name, o)
		return vap{}, false
	}
	for _, key := range keys {
		claims.used[key] = p.Name
	}
	claims.ifVN[ofp] = p.Name
	// addrs is the port's own list (read only, capped) when every
	// address is bound, the usual case; else a list of those bound.
	all := p.Addrs()
	var addrs []netip.Addr
	dropped := false
	for i, a := range all {
		if o, dup := claims.addrs[a]; dup && o != p.Name {
			v.warn("port %s: address %s already bound to port %s in VN %s; not bound", p.Name, a, o, st.name)
			if !dropped {
				addrs, dropped = append(make([]netip.Addr, 0, len(all)), all[:i]...), true
			}
			continue
		}
		claims.addrs[a] = p.Name
		if dropped {
			addrs = append(addrs, a)
		}
	}
	if !dropped && len(all) > 0 {
		addrs = all[:len(all):len(all)]
	}
	if p.IsSegment() {
		return vap{port: p, ofp: ofp, vlan: p.VLAN, segment: true}, true
	}
	// (attachLocal sets mac.)
	return vap{port: p, ofp: ofp, vlan: p.VLAN, addrs: addrs,
		pass: p.Passthrough(), allowed: p.AllowedVLANs, untagged: p.Untagged}, true
}

// underlayMemo is an NVE's IPv4 underlay as parsed at one revision.
type underlayMemo struct {
	rev uint64
	ips []netip.Addr
}

// ipv4Underlay returns NVE n's IPv4 underlay addresses, parsed once per
// revision when the view has the cache's memo (read only: shared).
func (v *nveView) ipv4Underlay(n *model.NVE) []netip.Addr {
	if v.pool != nil && n.Revision != 0 {
		return v.pool.ipv4Underlay(n)
	}
	if v.underlay == nil || n.Revision == 0 {
		return ipv4Underlay(n)
	}
	if m, ok := v.underlay[n.Name]; ok && m.rev == n.Revision {
		return m.ips
	}
	ips := ipv4Underlay(n)
	v.underlay[n.Name] = underlayMemo{rev: n.Revision, ips: ips}
	return ips
}

// ipv4Underlay returns an NVE's IPv4 underlay addresses.
func ipv4Underlay(n *model.NVE) []netip.Addr {
	var ips []netip.Addr
	for _, a := range n.UnderlayAddrs() {
		if a.Is4() {
			ips = append(ips, a)
		}
	}
	return ips
}

// findRemotes fills st.remotes with the other NVEs hosting the VN that
// have an IPv4 underlay address and a tunnel port to reach them: the
// flow-based port of the VN's encapsulation, or (without flow-based
// tunnels) the per-remote port of that encapsulation.
func (v *nveView) findRemotes(st *vnView, warn func(string, ...any)) {
	name, encap := st.name, st.vn.Encap
	if v.self.IsTNVE() {
		v.uplink(st, warn) // split.go: a tNVE reaches everything over its uplink
		return
	}
	var shared uint32
	hasShared := false
	if v.prof.FlowTunnels {
		shared, hasShared = v.in.Tunnels[encap]
	}
	hosting := v.in.Snapshot.NVEsHosting(name)
	if st.remotes == nil {
		st.remotes = make([]remoteNVE, 0, len(hosting))
	}
	for _, nveName := range hosting {
		if nveName == v.in.NVE {
			continue
		}
		n, ok := v.in.Snapshot.NVEs[nveName]
		if !ok {
			warn("VN %s: NVE %s not in the snapshot; skipped", name, nveName)
			continue
		}
		if n.IsTNVE() {
			// Reached through its nNVE (listed too), or over the access
			// link if this NVE is that nNVE.
			if n.AccessLink.NNVE == v.in.NVE {
				v.downlink(st, n, warn)
			}
			continue
		}
		ips := v.ipv4Underlay(n)
		if len(ips) == 0 {
			warn("VN %s: NVE %s has no IPv4 underlay address; skipped", name, nveName)
			continue
		}
		r := remoteNVE{nve: n, ips: ips, port: shared}
		if !v.prof.FlowTunnels {
			port, ok := v.in.RemoteTunnels[RemoteTunnel{NVE: nveName, Encap: encap}]
			if !ok || port == 0 {
				warn("VN %s: no %s tunnel port (%s) to NVE %s on %s; NVE %s unreachable", name, encap,
					RemoteTunnelPortName(encap, ips[0]), nveName, v.in.NVE, nveName)
				continue
			}
			r.port = port
		}
		v.withPaths(&r, encap)
		st.remotes = append(st.remotes, r)
	}
	v.assignPathGroups(st, warn)
	if v.prof.FlowTunnels && !hasShared && slices.ContainsFunc(st.remotes, func(r remoteNVE) bool { return r.link == linkNone }) {
		warn("VN %s: no %s tunnel port (%s) on %s; remote NVEs unreachable", name, encap, TunnelPortName(encap), v.in.NVE)
		st.remotes = slices.DeleteFunc(st.remotes, func(r remoteNVE) bool { return r.link == linkNone })
	}
}

// fnv64 is the fingerprints' hash, written to field by field (no
// allocation). It was FNV-1a, a multiply per byte; it now takes a word a
// step (xxHash64's round: add the word times a prime, rotate, multiply by
// another), a string eight bytes a step, so a fingerprint of a VN's ports
// costs a fraction of what it did. A byte (a tag, a bool) steps with other
// constants than a word, so a tag never stands for a word of the same
// value. Fingerprints live in one process only (nothing stores or sends
// them), so the change of function changes no output.
type fnv64 uint64

const (
	hashSeed   = 0x27d4eb2f165667c5 // xxHash64's PRIME64_5
	hashPrime1 = 0x9e3779b185ebca87 // PRIME64_1
	hashPrime2 = 0xc2b2ae3d27d4eb4f // PRIME64_2
	hashPrime3 = 0x165667b19e3779f9 // PRIME64_3
	hashPrime4 = 0x85ebca77c2b2ae63 // PRIME64_4
)

func newFNV() fnv64 { return hashSeed }

// u64 steps the hash with one word.
func (h *fnv64) u64(v uint64) {
	x := uint64(*h) + v*hashPrime2
	*h = fnv64(mbits.RotateLeft64(x, 31) * hashPrime1)
}

// byte steps the hash with one byte (other constants than u64's).
func (h *fnv64) byte(b byte) {
	x := uint64(*h) ^ (uint64(b)+1)*hashPrime3
	*h = fnv64(mbits.RotateLeft64(x, 23)*hashPrime4 + hashPrime3)
}

func (h *fnv64) bool(b bool) {
	if b {
		h.byte(1)
	} else {
		h.byte(0)
	}
}

// str steps the hash with s eight bytes a step, then its length (so
// "ab"+"c" differs from "a"+"bc").
func (h *fnv64) str(s string) {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		h.u64(uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56)
	}
	if i < len(s) {
		var w uint64
		for j := i; j < len(s); j++ {
			w |= uint64(s[j]) << (8 * (j - i))
		}
		h.u64(w)
	}
	h.byte(0xff)
	h.u64(uint64(len(s)))
}

func (h *fnv64) strs(ss []string) {
	h.u64(uint64(len(ss)))
	for _, s := range ss {
		h.str(s)
	}
}

func (h *fnv64) addr(a netip.Addr) {
	b := a.As16()
	h.u64(binary.LittleEndian.Uint64(b[:8]))
	h.u64(binary.LittleEndian.Uint64(b[8:]))
}

// hashVN hashes a VN: by revision (the store gives every change a new
// one), or by content when it is 0 (built by hand).
func (h *fnv64) vn(vn *model.VN) {
	h.str(vn.Name)
	if vn.Revision != 0 {
		h.u64(vn.Revision)
		return
	}
	h.u64(uint64(vn.VNI))
	h.str(string(vn.Service))
	h.str(string(vn.Encap))
	h.str(string(vn.BUM.Mode))
	h.str(vn.BUM.Group)
	h.str(string(vn.Unknown))
	h.str(vn.Tenant)
	h.str(vn.L3Domain)
	h.u64(uint64(len(vn.Subnets)))
	for _, sn := range vn.Subnets {
		h.str(sn.CIDR)
		h.str(sn.Gateway)
	}
}

// port hashes a port by name and revision, or content when the revision
// is 0.
func (h *fnv64) port(p *model.Port) {
	h.str(p.Name)
	if p.Revision != 0 {
		h.u64(p.Revision)
		return
	}
	h.str(p.VN)
	h.str(p.NVE)
	h.str(p.Interface)
	h.str(p.MAC)
	h.strs(p.IPs)
	h.u64(uint64(p.VLAN))
	h.str(string(p.VLANMode))
	h.bool(p.Untagged)
	h.u64(uint64(len(p.AllowedVLANs)))
	for _, a := range p.AllowedVLANs {
		h.u64(uint64(a))
	}
}

// sharedFingerprint hashes what a VN's shared part reads: the profile,
// NVE and generation (keyHash); the VN; its local VAPs' OpenFlow ports and
// VLANs (not which ports they are, nor their addresses); and its remote
// NVEs as resolved (name, underlay addresses, tunnel port) with the
// warnings about the others.
func (v *nveView) sharedFingerprint(st *vnView) uint64 {
	h := newFNV()
	h.u64(v.keyHash)
	h.vn(st.vn)
	h.u64(uint64(len(st.local)))
	for _, a := range st.local {
		h.u64(uint64(a.ofp))
		h.u64(uint64(a.vlan))
		h.vapMode(a)
	}
	h.u64(uint64(len(st.remotes)))
	for _, r := range st.remotes {
		h.str(r.nve.Name)
		h.u64(uint64(r.port))
		h.link(r)
		h.u64(uint64(len(r.ips)))
		for _, ip := range r.ips {
			h.addr(ip)
		}
		h.paths(r)
	}
	h.l3(st)
	h.bool(st.tagged)
	h.gwLink(st) // l3gwview.go
	h.bum(st)
	h.policy(st)
	h.learned(st)
	h.strs(st.warnings)
	return uint64(h)
}

// remotePart is a VN's remote part (its remote NVE) or, with r nil, its
// common part, and the part's fingerprint.
type remotePart struct {
	r  *remoteNVE
	fp uint64
}

// key is the part's slice key.
func (rp *remotePart) key(vn string) string {
	if rp.r == nil {
		return vn + "/*"
	}
	return vn + "/@" + rp.r.nve.Name
}

// commonFingerprint is the fingerprint of VN st's common part: what a
// commonFeature may read (the VN) with the profile and generation
// (shareHash), never the NVE: the NVEs of the VN share the part
// (PartPool).
func (v *nveView) commonFingerprint(st *vnView) uint64 {
	h := newFNV()
	h.u64(v.shareHash)
	h.byte(4) // (a common part)
	h.vn(st.vn)
	return uint64(h)
}

// remoteFingerprint is the fingerprint of VN st's remote part for r:
// what a remoteFeature may read (the VNI, whether the VN is tagged, and
// the remote as reached: name, tunnel port, link, underlay addresses)
// with the profile and generation (shareHash), never the NVE: the NVEs of
// the VN reaching r alike share the part (PartPool).
func (v *nveView) remoteFingerprint(st *vnView, r *remoteNVE) uint64 {
	h := newFNV()
	h.u64(v.shareHash)
	h.byte(3) // (a remote part)
	h.u64(uint64(st.vn.VNI))
	h.bool(st.tagged)
	h.str(r.nve.Name)
	h.u64(uint64(r.port))
	h.link(*r)
	h.u64(uint64(len(r.ips)))
	for _, ip := range r.ips {
		h.addr(ip)
	}
	return uint64(h)
}

// complete fills in the VN's ports and their parts (with warnings about
// the ports skipped).
func (v *nveView) complete(st *vnView) {
	v.ownPorts(st, func(format string, args ...any) {
		st.portWarnings = append(st.portWarnings, fmt.Sprintf(format, args...))
	})
	v.portParts(st)
}

// reach hashes a remote NVE as a port's part reaches it: name, tunnel
// port, link, first underlay address and path group.
func (h *fnv64) reach(r *remoteNVE) {
	h.str(r.nve.Name)
	h.u64(uint64(r.port))
	h.link(*r)
	if len(r.ips) > 0 {
		h.addr(r.ips[0])
	}
	h.u64(uint64(r.group))
}

// ctxFingerprint hashes what the parts of VN st read besides their own
// port, its VAP here, its MAC ownership and the addresses it answers for
// (see fillPart): the profile, NVE and generation (keyHash, shareHash),
// the VNI, the remote NVEs as a part reaches them (name, tunnel port,
// link, first underlay address, path group), the dual-homed pairs, the
// segment VAPs and, for each NVE hosting the VN, which NVE it is reached
// through (reachedVia: a tNVE's nNVE).
func (v *nveView) ctxFingerprint(st *vnView) uint64 {
	h := newFNV()
	h.u64(v.keyHash)
	h.u64(v.shareHash)
	h.u64(uint64(st.vn.VNI))
	h.u64(uint64(len(st.remotes)))
	for i := range st.remotes {
		h.reach(&st.remotes[i])
	}
	h.u64(uint64(len(st.dual)))
	for _, d := range st.dual {
		h.str(d.ports[0].Name)
		h.str(d.ports[1].Name)
	}
	h.byte(5)
	h.segments(segmentVAPs(st))
	h.bool(v.self.IsTNVE())
	hosting := v.in.Snapshot.NVEsHosting(st.name)
	h.u64(uint64(len(hosting)))
	for _, n := range hosting {
		h.str(n)
		h.str(v.in.Snapshot.NNVEOf(n))
	}
	return uint64(h)
}

// vnFingerprint hashes everything a VN's parts read, without resolving
// them, but its ports (which decide who owns a MAC and who answers for an
// address: the memo compares them, samePorts): the shared part's
// fingerprint (profile, NVE, generation, the VN, its remote NVEs as
// resolved), ctxFingerprint's, and its local VAPs as attached (port,
// OpenFlow port, VLAN, bound addresses).
func (v *nveView) vnFingerprint(st *vnView) uint64 {
	h := newFNV()
	h.u64(st.fp)
	h.u64(st.ctx)
	h.u64(uint64(len(st.local)))
	for _, a := range st.local {
		h.str(a.port.Name)
		h.u64(uint64(a.ofp))
		h.u64(uint64(a.vlan))
		h.vapMode(a)
		h.u64(uint64(len(a.addrs)))
		for _, ip := range a.addrs {
			h.addr(ip)
		}
	}
	return uint64(h)
}

// portParts fills st.parts (overwriting the parts of the VN completed
// before: see nveView.partsBuf): for each of the VN's ports, its VAP (if
// attached here), its remote NVE (if it is on a reachable one), the
// addresses it answers for, and the fingerprint of exactly these with the
// port itself and the VN's VNI. No flow is built.
func (v *nveView) portParts(st *vnView) {
	st.parts = v.partsFor(len(st.ports))
	pc := v.newPartCtx(st, true)
	n := 0
	for _, p := range st.ports {
		n += len(p.Addrs())
	}
	// ans backs the parts' answers (one array per VN, not one per part);
	// each part's run is capped, so nothing appends into the next.
	pc.ans = make([]netip.Addr, 0, n)
	for i, p := range st.ports {
		v.fillPart(st, &st.parts[i], p, pc)
	}
}

// partsFor returns n cleared parts backed by the view's scratch.
func (v *nveView) partsFor(n int) []portPart {
	sc := v.scratch
	if cap(sc.parts) < n {
		sc.parts = make([]portPart, n)
	}
	parts := sc.parts[:n]
	clear(parts)
	return parts
}

// release hands the view's scratch back to its pool (emptied: nothing
// kept alive by it). Nothing of the scratch (the VNs' parts) may be read
// after.
func (v *nveView) release() {
	if v.pool == nil || v.scratch == nil {
		return
	}
	v.scratch.reset()
	v.pool.scratch.Put(v.scratch)
	v.scratch = nil
}

// partCtx is what fillPart reads besides the port: the VN's remotes by
// name, its segment VAPs, and the first binder of each address among the
// VN's ports with a MAC of their own (built on the first need, if
// allowed).
type partCtx struct {
	remotes     []remoteNVE
	byName      map[string]*remoteNVE // when remotes are not in name order
	segs        []*vap
	ans         []netip.Addr // backs the parts' answers
	j           int          // st.local cursor: parts are filled in name order
	allowBinder bool
	firstBinder map[netip.Addr]*model.Port
}

func (v *nveView) newPartCtx(st *vnView, allowBinder bool) *partCtx {
	pc := &partCtx{remotes: st.remotes, segs: segmentVAPs(st), allowBinder: allowBinder} // segment.go
	// The remotes are found by name: by binary search when they are
	// strictly in name order (findRemotes makes them so), else by a map.
	for i := 1; i < len(st.remotes); i++ {
		if st.remotes[i-1].nve.Name >= st.remotes[i].nve.Name {
			pc.byName = make(map[string]*remoteNVE, len(st.remotes))
			for i := range st.remotes {
				pc.byName[st.remotes[i].nve.Name] = &st.remotes[i]
			}
			break
		}
	}
	return pc
}

func (pc *partCtx) remoteNamed(name string) *remoteNVE {
	if pc.byName != nil {
		return pc.byName[name]
	}
	if i, ok := slices.BinarySearchFunc(pc.remotes, name, func(r remoteNVE, n string) int { return strings.Compare(r.nve.Name, n) }); ok {
		return &pc.remotes[i]
	}
	return nil
}

// fillPart fills part pp of port p (a port of st with a MAC of its own)
// and its fingerprints. Parts are filled in port name order. It reports
// false, with pp incomplete, when an address's first binder had to be
// looked for among the VN's ports and pc does not allow it.
func (v *nveView) fillPart(st *vnView, pp *portPart, p *model.Port, pc *partCtx) bool {
	pp.port = p
	pp.segs = pc.segs
	for pc.j < len(st.local) && st.local[pc.j].port.Name < p.Name {
		pc.j++
	}
	if pc.j < len(st.local) && st.local[pc.j].port == p {
		pp.vap = &st.local[pc.j]
	}
	if p.NVE != v.in.NVE {
		pp.remote = pc.remoteNamed(v.reachedVia(p.NVE))
	}
	for _, d := range st.dual {
		pp.paired = pp.paired || d.ports[0] == p || d.ports[1] == p
	}
	start := len(pc.ans)
	for _, a := range p.Addrs() {
		if slices.Contains(pc.ans[start:], a) {
			continue
		}
		// The first port of the VN (by name) with a MAC of its own that
		// binds a answers for it: the snapshot's index gives the first
		// port of all; only if that one has no MAC of its own are the
		// VN's ports looked through.
		first := v.in.Snapshot.PortByIP(st.name, a)
		if first != p && (first == nil || !v.ownsMAC(st.name, first)) {
			if !pc.allowBinder {
				return false
			}
			if pc.firstBinder == nil {
				pc.firstBinder = map[netip.Addr]*model.Port{}
				for _, q := range st.ports {
					for _, b := range q.Addrs() {
						if _, ok := pc.firstBinder[b]; !ok {
							pc.firstBinder[b] = q
						}
					}
				}
			}
			first = pc.firstBinder[a]
		}
		if first == p {
			pc.ans = append(pc.ans, a)
		}
	}
	if len(pc.ans) > start {
		pp.answers = pc.ans[start:len(pc.ans):len(pc.ans)]
	}
	// share covers what the part reads; fp adds the profile, NVE and
	// generation (keyHash), or for a part without a VAP here, which no
	// NVE compiles differently, the profile and generation alone
	// (shareHash). Parts of two NVEs with one share compile alike
	// (PartPool).
	h := newFNV()
	h.u64(uint64(st.vn.VNI))
	h.port(p)
	if a := pp.vap; a != nil {
		h.byte(1)
		h.u64(uint64(a.ofp))
		h.u64(uint64(a.vlan))
		h.vapMode(*a)
		h.u64(uint64(len(a.addrs)))
		for _, ip := range a.addrs {
			h.addr(ip)
		}
	}
	h.bool(pp.paired)
	if r := pp.remote; r != nil {
		h.byte(2)
		h.reach(r)
	}
	h.u64(uint64(len(pp.answers)))
	for _, ip := range pp.answers {
		h.addr(ip)
	}
	h.segments(pc.segs)
	pp.share = uint64(h)
	h = newFNV()
	if pp.vap != nil {
		h.u64(v.keyHash)
	} else {
		h.u64(v.shareHash)
	}
	h.u64(pp.share)
	pp.fp = uint64(h)
	return true
}

// ownsMAC reports whether port p has a valid MAC of its own in VN vn.
func (v *nveView) ownsMAC(vn string, p *model.Port) bool {
	_, ok := ownMAC(v.in.Snapshot, vn, p)
	return ok
}
