// Package compiler owns nva's pure VN-to-flow compiler: from a store
// snapshot, one NVE, that NVE's OpenFlow port numbers and a switch profile
// it computes the NVE's desired flows and groups (sorted, with cookies).
// It does no I/O and is deterministic: the same input always gives the
// same result. The southbound calls Compile per NVE and reconciles the
// switch against the result.
//
// What the OVS profile compiles (per issue 3), and the decisions behind it:
//
//   - classify: a local VAP is in_port plus its VLAN (popped on ingress);
//     an untagged VAP matches vlan_vid=none so tagged frames cannot sneak
//     in. The tunnel port of the VN's encapsulation matches tun_id=VNI and
//     tun_src = one of the underlay IPs of an NVE that hosts the VN, so only
//     NVEs nva knows can inject into a VN. The VN's VNI goes to metadata
//     (bits 0-23) with bit 24 set for tunnel arrivals. The ingress port is
//     not copied to a register: in_port stays matchable in every table, and
//     metadata is standard OF1.3, so the same layout serves a strict
//     hardware profile. Tunnel arrivals skip port security and the ARP/ND
//     responder (the sending NVE did both) and go straight to forwarding.
//   - port_security: only ARP, IPv4 and IPv6 frames from the port's MAC
//     pass; ARP needs arp_sha = the MAC and arp_spa = a bound IPv4; IPv4 and
//     IPv6 need a bound source address. Always allowed besides (what an
//     operator expects from a host booting): DHCPv4 from 0.0.0.0:68 to
//     255.255.255.255:67, ARP probes (arp_spa 0.0.0.0, RFC 5227), IPv6
//     link-local sources (fe80::/10, any interface ID since hosts use
//     stable-privacy addresses, but only from the port's MAC), and DAD
//     neighbor solicitations and MLD reports from ::. Neighbor
//     advertisements must speak for the port itself (source and target
//     among its IPv6 addresses or link-local, target link-layer address its
//     MAC or absent), so a port cannot poison others' neighbor caches.
//     A port with no IPv4
//     (IPv6) bound therefore gets no IPv4 (global IPv6) traffic through:
//     nva is the authority on addresses, so bind them on the port.
//     Other ethertypes are dropped.
//   - neighbor: an ARP request for an IPv4 address of any port in the VN is
//     answered in the switch and sent back out of the ingress VAP (table
//     reply re-tags it with the VAP's VLAN); profiles without ARPInSwitch
//     send such requests to the controller instead. An IPv6
//     neighbor solicitation (with a source link-layer option) for a known
//     address gets a solicited+override advertisement built the same way
//     (nd_reserved, nd_options_type: OVS 2.11+ ERICOXM experimenter
//     fields; the target link-layer address is set in table nd_advert,
//     since OVS allows setting nd_tll only where the match says NA); profiles
//     without that capability send such NS to the controller. Requests a
//     port makes for its own address (gratuitous ARP), ARP probes, DAD NS
//     from :: and NS without a source link-layer option are not answered
//     and are forwarded normally. Unknown targets are flooded in the VN or
//     dropped, per VN policy; known ones are never flooded.
//   - l2_forward: known MAC -> local VAP (re-tagged if the VAP has a VLAN)
//     or tun_id=VNI, tun_dst=first underlay IP of the remote NVE, output to
//     the tunnel port of the VN's encap. Broadcast/multicast from a local
//     VAP -> group FloodGroupID(vni, false) (every local VAP, OpenFlow never
//     echoes to the ingress port, plus one bucket per remote NVE hosting the
//     VN: head-end replication); from a tunnel -> group FloodGroupID(vni,
//     true) (local VAPs only: split horizon). Unknown unicast is dropped:
//     nva knows every MAC in the VN.
//   - every table ends with an explicit priority-0 drop.
//
// An NVE gets state only for the VNs it hosts (has at least one port with
// an OpenFlow port number): its flows grow with its local ports and the
// ports of its VNs, never with the whole domain.
//
// Not yet compiled (Result.Warnings says so when an input asks for it): the
// L3 part of l3/l2l3 VNs (their L2 part is compiled), underlay-multicast BUM
// (replication is used instead), profiles without extensions.
package compiler

import (
	"fmt"
	"net"
	"net/netip"
	"sort"

	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/pipeline"
)

// Input is everything Compile needs for one NVE.
type Input struct {
	Snapshot *model.Snapshot
	// NVE is the name of the NVE being compiled for.
	NVE string
	// OFPorts is the OpenFlow port number by OVS interface name on that
	// NVE (from OVSDB or port-desc); ports whose interface has no number
	// are skipped.
	OFPorts map[string]uint32
	// Tunnels is the OpenFlow port of the flow-based tunnel port
	// (remote_ip=flow, key=flow) per encapsulation; its interface is named
	// TunnelPortName(encap).
	Tunnels map[model.Encap]uint32
	// Generation goes into every cookie (see flow.MakeCookie).
	Generation uint16
}

// Result is the desired state of one NVE.
type Result struct {
	Flows  []flow.Flow       // sorted by table (packet order), priority desc, match; cookies set
	Groups []flow.GroupEntry // sorted by ID
	// Warnings lists inputs that were skipped or only partly compiled, in
	// a deterministic order (for logs and the API).
	Warnings []string
}

// TunnelPortName is the OVS interface name of the flow-based tunnel port
// for an encapsulation: "nva-vxlan", "nva-geneve", "nva-gre".
func TunnelPortName(e model.Encap) string { return "nva-" + string(e) }

// FloodGroupID is the ID of VN vni's BUM group: for traffic from local
// VAPs (fromTunnel false: local ports + remote NVEs) or from a tunnel
// (fromTunnel true: local ports only). The same on every NVE.
func FloodGroupID(vni uint32, fromTunnel bool) uint32 {
	id := vni << 1
	if fromTunnel {
		id |= 1
	}
	return id
}

// Priorities, per table. Higher wins.
const (
	PrioDrop      = 0
	PrioVNDefault = 1   // neighbor: per-VN pass to forwarding
	PrioBUM       = 50  // l2_forward: multicast/broadcast
	PrioNormal    = 100 // the ordinary flows of a table
	PrioNAAllow   = 110 // port_security: NAs a port may send
	PrioNADrop    = 105 // port_security: every other NA from the port
	PrioNeighDrop = 100 // neighbor: unknown-target drop
	PrioAnswer    = 200 // neighbor: responders
	PrioNoAnswer  = 300 // neighbor: probes and DAD, never answered
	PrioOwnAddr   = 310 // neighbor: a port asking for its own address
	PrioNoSLL     = 290 // neighbor: NS without a source link-layer option
)

// NDReservedSO is the NA flags word nva's responder sets: Solicited and
// Override (R=0: tenant ports are hosts as far as nva knows).
const NDReservedSO uint32 = 0x60000000

type vap struct {
	port  *model.Port
	ofp   uint32
	vlan  int
	mac   net.HardwareAddr
	addrs []netip.Addr
}

type vnState struct {
	name    string // the VN's name, as its ports refer to it
	vn      *model.VN
	local   []vap
	ports   []*model.Port // all ports of the VN (deduped by MAC), by name
	remotes []remoteNVE
	tunnel  uint32
	hasTun  bool
}

type remoteNVE struct {
	nve *model.NVE
	ips []netip.Addr
}

// Compile computes the desired flows and groups of in.NVE for profile prof.
func Compile(in Input, prof pipeline.Profile) (Result, error) {
	if in.Snapshot == nil {
		return Result{}, fmt.Errorf("compile %s: nil snapshot", in.NVE)
	}
	if _, ok := in.Snapshot.NVEs[in.NVE]; !ok {
		return Result{}, &model.Error{Kind: model.KindNotFound, Field: "nve", Message: fmt.Sprintf("compile: NVE %q not in snapshot", in.NVE)}
	}
	if !prof.Extensions || !prof.FlowTunnels {
		return Result{}, fmt.Errorf("compile %s: profile %s is not supported yet (the compiler needs extensions and flow-based tunnels)", in.NVE, prof.Name)
	}
	c := &compiler{in: in, prof: prof}
	if n := in.Snapshot.NVEs[in.NVE]; n.Kind == model.NVEOpenFlow && prof.Extensions {
		c.warn("NVE %s is a hardware OpenFlow switch but profile %s uses extensions", in.NVE, prof.Name)
	}
	c.build()
	for i := range c.flows {
		c.flows[i].SetCookie(in.Generation)
	}
	flow.SortFlows(c.flows, prof.Order)
	flow.SortGroups(c.groups)
	sort.Strings(c.warnings)
	if err := pipeline.Check(prof, c.flows, c.groups); err != nil {
		return Result{}, fmt.Errorf("compile %s: pipeline contract violated: %w", in.NVE, err)
	}
	return Result{Flows: c.flows, Groups: c.groups, Warnings: c.warnings}, nil
}

type compiler struct {
	in       Input
	prof     pipeline.Profile
	flows    []flow.Flow
	groups   []flow.GroupEntry
	warnings []string
}

func (c *compiler) warn(format string, args ...any) {
	c.warnings = append(c.warnings, fmt.Sprintf(format, args...))
}

func (c *compiler) add(f flow.Flow) { c.flows = append(c.flows, f) }

// vns resolves the VNs this NVE hosts (has a port in), in name order,
// with their ports, local VAPs and remote NVEs. A VN it cannot compile is
// skipped with a warning.
func (c *compiler) vns() []*vnState {
	var out []*vnState
	used := map[[2]uint32]string{} // (ofport, vlan) -> port name, across VNs
	for _, name := range c.in.Snapshot.VNsOn(c.in.NVE) {
		vn, ok := c.resolveVN(name)
		if !ok {
			continue
		}
		st := &vnState{name: name, vn: vn}
		c.attachPorts(st, used)
		if len(st.local) == 0 {
			c.warn("VN %s: no port of %s has an OpenFlow port yet; VN not compiled", name, c.in.NVE)
			continue
		}
		c.findRemotes(st)
		out = append(out, st)
	}
	return out
}

// resolveVN returns VN name if it can be compiled, warning about what of
// it is not compiled yet.
func (c *compiler) resolveVN(name string) (*model.VN, bool) {
	vn, ok := c.in.Snapshot.VNs[name]
	if !ok {
		c.warn("VN %s: referenced by ports but not in the snapshot; skipped", name)
		return nil, false
	}
	if vn.VNI == 0 || vn.VNI > model.MaxVNI {
		c.warn("VN %s: VNI %d not allocated or out of range; skipped", name, vn.VNI)
		return nil, false
	}
	if vn.Service != model.ServiceL2 && vn.Service != "" {
		c.warn("VN %s: service %s: only the L2 part is compiled", name, vn.Service)
	}
	if vn.BUM.Mode == model.BUMMulticast {
		c.warn("VN %s: BUM mode multicast is not compiled yet; using head-end replication", name)
	}
	return vn, true
}

// vapClaims is what the local VAPs of one VN have claimed so far.
type vapClaims struct {
	used  map[[2]uint32]string  // (ofport, vlan) -> port name, across VNs
	ifVN  map[uint32]string     // ofport -> port name, within the VN
	addrs map[netip.Addr]string // bound address -> port name, within the VN
}

// attachPorts fills st.ports with the VN's ports that have a valid MAC of
// their own in the VN (the first by name keeps a duplicated MAC), and
// st.local with the VAPs of those that are on this NVE.
func (c *compiler) attachPorts(st *vnState, used map[[2]uint32]string) {
	s, name := c.in.Snapshot, st.name
	claims := vapClaims{used: used, ifVN: map[uint32]string{}, addrs: map[netip.Addr]string{}}
	for _, p := range s.PortsIn(name) {
		mac, ok := p.MACAddr()
		if !ok {
			c.warn("port %s: invalid MAC %q; skipped", p.Name, p.MAC)
			continue
		}
		if o := s.PortByMAC(name, mac); o != p {
			c.warn("port %s: MAC %s already used by port %s in VN %s; skipped", p.Name, net.HardwareAddr(mac[:]), o.Name, name)
			continue
		}
		st.ports = append(st.ports, p)
		if p.NVE != c.in.NVE {
			continue
		}
		if v, ok := c.localVAP(st, p, mac, claims); ok {
			st.local = append(st.local, v)
		}
	}
}

// localVAP makes the VAP of port p of this NVE, unless its interface has
// no OpenFlow port yet or its (interface, VLAN) or interface in the VN is
// already taken. Addresses another VAP of the VN bound first stay unbound.
func (c *compiler) localVAP(st *vnState, p *model.Port, mac [6]byte, claims vapClaims) (vap, bool) {
	ofp, ok := c.in.OFPorts[p.Interface]
	if !ok || ofp == 0 || ofp >= flow.PortInPort {
		c.warn("port %s: interface %s has no OpenFlow port on %s yet; skipped", p.Name, p.Interface, c.in.NVE)
		return vap{}, false
	}
	key := [2]uint32{ofp, uint32(p.VLAN)}
	if o, dup := claims.used[key]; dup {
		c.warn("port %s: interface %s VLAN %d already attached as port %s; skipped", p.Name, p.Interface, p.VLAN, o)
		return vap{}, false
	}
	if o, dup := claims.ifVN[ofp]; dup {
		// The reply table identifies a VAP by (in_port, VN).
		c.warn("port %s: interface %s already attached to VN %s as port %s (another VLAN); one VAP per interface and VN; skipped", p.Name, p.Interface, st.name, o)
		return vap{}, false
	}
	claims.used[key] = p.Name
	claims.ifVN[ofp] = p.Name
	var addrs []netip.Addr
	for _, a := range p.Addrs() {
		if o, dup := claims.addrs[a]; dup && o != p.Name {
			c.warn("port %s: address %s already bound to port %s in VN %s; not bound", p.Name, a, o, st.name)
			continue
		}
		claims.addrs[a] = p.Name
		addrs = append(addrs, a)
	}
	return vap{port: p, ofp: ofp, vlan: p.VLAN, mac: net.HardwareAddr(mac[:]), addrs: addrs}, true
}

// findRemotes fills st.remotes with the other NVEs hosting the VN that
// have an IPv4 underlay address, and st.tunnel with the tunnel port of its
// encapsulation; without that port the remotes are dropped.
func (c *compiler) findRemotes(st *vnState) {
	name := st.name
	st.tunnel, st.hasTun = c.in.Tunnels[st.vn.Encap]
	for _, nveName := range c.in.Snapshot.NVEsHosting(name) {
		if nveName == c.in.NVE {
			continue
		}
		n, ok := c.in.Snapshot.NVEs[nveName]
		if !ok {
			c.warn("VN %s: NVE %s not in the snapshot; skipped", name, nveName)
			continue
		}
		var ips []netip.Addr
		for _, a := range n.UnderlayAddrs() {
			if a.Is4() {
				ips = append(ips, a)
			}
		}
		if len(ips) == 0 {
			c.warn("VN %s: NVE %s has no IPv4 underlay address; skipped", name, nveName)
			continue
		}
		st.remotes = append(st.remotes, remoteNVE{nve: n, ips: ips})
	}
	if len(st.remotes) > 0 && !st.hasTun {
		c.warn("VN %s: no %s tunnel port (%s) on %s; remote NVEs unreachable", name, st.vn.Encap, TunnelPortName(st.vn.Encap), c.in.NVE)
		st.remotes = nil
	}
}

func (c *compiler) build() {
	vns := c.vns()
	for _, t := range []string{pipeline.Classify, pipeline.PortSecurity, pipeline.Neighbor, pipeline.NDAdvert, pipeline.L2Forward, pipeline.Reply} {
		c.add(flow.Flow{Table: t, Priority: PrioDrop})
	}
	for _, st := range vns {
		c.classify(st)
		for _, v := range st.local {
			c.portSecurity(st, v)
			c.reply(st, v)
		}
		c.neighbor(st)
		c.forward(st)
	}
}

// metaVN matches the VN regardless of where the packet came from.
func metaVN(vni uint32) flow.MatchField {
	return flow.Masked(flow.Metadata, flow.U64(uint64(vni)), flow.U64(pipeline.MetaVN.Mask()))
}

// metaVNFrom matches the VN and whether the packet came from a tunnel.
func metaVNFrom(vni uint32, fromTunnel bool) flow.MatchField {
	v := uint64(vni)
	if fromTunnel {
		v |= pipeline.MetaFromTunnel.Mask()
	}
	return flow.Masked(flow.Metadata, flow.U64(v), flow.U64(pipeline.MetaContext))
}

func vlanNone() flow.MatchField { return flow.Exact(flow.VlanVID, flow.U16(0)) }

func vlanTag(vid int) flow.MatchField {
	return flow.Exact(flow.VlanVID, flow.U16(flow.VIDPresent|uint16(vid)))
}

// toVAP returns the actions that deliver a packet to a VAP.
func toVAP(v vap, port uint32) []flow.Action {
	var a []flow.Action
	if v.vlan != 0 {
		a = append(a, flow.PushVLAN{EtherType: flow.EthTypeVLAN},
			flow.SetField{Field: flow.VlanVID, Value: flow.U16(flow.VIDPresent | uint16(v.vlan))})
	}
	return append(a, flow.Output{Port: port})
}

func toTunnel(vni uint32, dst netip.Addr, port uint32) []flow.Action {
	return []flow.Action{
		flow.SetField{Field: flow.TunID, Value: flow.U64(uint64(vni))},
		flow.SetField{Field: flow.TunIPv4Dst, Value: flow.IP(dst)},
		flow.Output{Port: port},
	}
}

func (c *compiler) classify(st *vnState) {
	vni := st.vn.VNI
	for _, v := range st.local {
		f := flow.Flow{Table: pipeline.Classify, Priority: PrioNormal,
			WriteMetadata: uint64(vni), MetadataMask: pipeline.MetaContext, Goto: pipeline.PortSecurity}
		if v.vlan == 0 {
			f.Match = flow.M(flow.Exact(flow.InPort, flow.U32(v.ofp)), vlanNone())
		} else {
			f.Match = flow.M(flow.Exact(flow.InPort, flow.U32(v.ofp)), vlanTag(v.vlan))
			f.Actions = []flow.Action{flow.PopVLAN{}}
		}
		c.add(f)
	}
	for _, r := range st.remotes {
		for _, ip := range r.ips {
			c.add(flow.Flow{Table: pipeline.Classify, Priority: PrioNormal,
				Match: flow.M(flow.Exact(flow.InPort, flow.U32(st.tunnel)), vlanNone(),
					flow.Exact(flow.TunID, flow.U64(uint64(vni))), flow.Exact(flow.TunIPv4Src, flow.IP(ip))),
				WriteMetadata: uint64(vni) | pipeline.MetaFromTunnel.Mask(), MetadataMask: pipeline.MetaContext,
				Goto: pipeline.L2Forward})
		}
	}
}

var (
	ipv4Zero  = netip.IPv4Unspecified()
	ipv4Bcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})
	ipv6Zero  = netip.IPv6Unspecified()
	linkLocal = netip.MustParsePrefix("fe80::/10")
)

func ethType(t uint16) flow.MatchField { return flow.Exact(flow.EthType, flow.U16(t)) }

func prefixMask(p netip.Prefix) []byte {
	bits := p.Addr().BitLen()
	m := make([]byte, bits/8)
	for i := 0; i < p.Bits(); i++ {
		m[i/8] |= 0x80 >> (i % 8)
	}
	return m
}

func (c *compiler) portSecurity(st *vnState, v vap) {
	base := []flow.MatchField{flow.Exact(flow.InPort, flow.U32(v.ofp)), metaVN(st.vn.VNI), flow.Exact(flow.EthSrc, flow.MAC(v.mac))}
	pass := func(extra ...flow.MatchField) {
		c.add(flow.Flow{Table: pipeline.PortSecurity, Priority: PrioNormal,
			Match: flow.M(append(append([]flow.MatchField(nil), base...), extra...)...), Goto: pipeline.Neighbor})
	}
	arp := ethType(flow.EthTypeARP)
	sha := flow.Exact(flow.ARPSHA, flow.MAC(v.mac))
	ip4 := ethType(flow.EthTypeIPv4)
	ip6 := ethType(flow.EthTypeIPv6)
	icmp6 := flow.Exact(flow.IPProto, flow.U8(flow.ProtoICMPv6))
	pass(arp, sha, flow.Exact(flow.ARPSPA, flow.IP(ipv4Zero))) // ARP probe (RFC 5227)
	pass(ip4, flow.Exact(flow.IPv4Src, flow.IP(ipv4Zero)), flow.Exact(flow.IPv4Dst, flow.IP(ipv4Bcast)),
		flow.Exact(flow.IPProto, flow.U8(17)), flow.Exact(flow.UDPSrc, flow.U16(68)), flow.Exact(flow.UDPDst, flow.U16(67))) // DHCP
	for _, a := range v.addrs {
		if a.Is4() {
			pass(arp, sha, flow.Exact(flow.ARPSPA, flow.IP(a)))
			pass(ip4, flow.Exact(flow.IPv4Src, flow.IP(a)))
			continue
		}
		if linkLocal.Contains(a) {
			continue // covered by the fe80::/10 flow below
		}
		pass(ip6, flow.Exact(flow.IPv6Src, flow.IP(a)))
	}
	llMatch := flow.Masked(flow.IPv6Src, flow.IP(linkLocal.Addr()), prefixMask(linkLocal))
	pass(ip6, llMatch)
	// Neighbor advertisements may only speak for the port itself: source
	// and target among its IPv6 addresses or link-local, target link-layer
	// address its MAC (or absent). Any other NA from the port is dropped.
	own6 := []flow.MatchField{llMatch}
	for _, a := range v.addrs {
		if a.Is6() && !linkLocal.Contains(a) {
			own6 = append(own6, flow.Exact(flow.IPv6Src, flow.IP(a)))
		}
	}
	na := flow.Exact(flow.ICMPv6Type, flow.U8(136))
	for _, src := range own6 {
		for _, tgt := range own6 {
			tgt := flow.MatchField{Field: flow.NDTarget, Value: tgt.Value, Mask: tgt.Mask}
			for _, tll := range []net.HardwareAddr{v.mac, make(net.HardwareAddr, 6)} {
				c.add(flow.Flow{Table: pipeline.PortSecurity, Priority: PrioNAAllow,
					Match: flow.M(append(append([]flow.MatchField(nil), base...), ip6, icmp6, na, src, tgt, flow.Exact(flow.NDTLL, flow.MAC(tll)))...),
					Goto:  pipeline.Neighbor})
			}
		}
	}
	c.add(flow.Flow{Table: pipeline.PortSecurity, Priority: PrioNADrop, Match: flow.M(append(append([]flow.MatchField(nil), base...), ip6, icmp6, na)...)})
	pass(ip6, flow.Exact(flow.IPv6Src, flow.IP(ipv6Zero)), icmp6, flow.Exact(flow.ICMPv6Type, flow.U8(135))) // DAD NS
	pass(ip6, flow.Exact(flow.IPv6Src, flow.IP(ipv6Zero)), icmp6, flow.Exact(flow.ICMPv6Type, flow.U8(143))) // MLDv2 report during DAD
}

func (c *compiler) reply(st *vnState, v vap) {
	c.add(flow.Flow{Table: pipeline.Reply, Priority: PrioNormal,
		Match:   flow.M(flow.Exact(flow.InPort, flow.U32(v.ofp)), metaVN(st.vn.VNI)),
		Actions: toVAP(v, flow.PortInPort)})
}

// neighbor compiles a VN's ARP/ND table: what goes on to forwarding
// unanswered, the responders, and the policy for unknown targets.
func (c *compiler) neighbor(st *vnState) {
	vni := st.vn.VNI
	meta := metaVN(vni)
	arp := ethType(flow.EthTypeARP)
	ip6 := ethType(flow.EthTypeIPv6)
	icmp6 := flow.Exact(flow.IPProto, flow.U8(flow.ProtoICMPv6))
	ns := flow.Exact(flow.ICMPv6Type, flow.U8(135))
	req := flow.Exact(flow.ARPOp, flow.U16(1))
	fwd := func(prio uint16, m ...flow.MatchField) {
		c.add(flow.Flow{Table: pipeline.Neighbor, Priority: prio, Match: flow.M(m...), Goto: pipeline.L2Forward})
	}
	// Everything else of the VN goes on to forwarding.
	fwd(PrioVNDefault, meta)
	// Not answered: ARP probes, DAD, NS without a source link-layer
	// option, and a port's requests for its own addresses.
	fwd(PrioNoAnswer, meta, arp, req, flow.Exact(flow.ARPSPA, flow.IP(ipv4Zero)))
	fwd(PrioNoAnswer, meta, ip6, icmp6, ns, flow.Exact(flow.IPv6Src, flow.IP(ipv6Zero)))
	fwd(PrioNoSLL, meta, ip6, icmp6, ns, flow.Exact(flow.NDSLL, flow.MAC(make(net.HardwareAddr, 6))))
	for _, v := range st.local {
		in := flow.Exact(flow.InPort, flow.U32(v.ofp))
		for _, a := range v.addrs {
			if a.Is4() {
				fwd(PrioOwnAddr, in, meta, arp, req, flow.Exact(flow.ARPTPA, flow.IP(a)))
			} else {
				fwd(PrioOwnAddr, in, meta, ip6, icmp6, ns, flow.Exact(flow.NDTarget, flow.IP(a)))
			}
		}
	}
	c.responders(st)
	if st.vn.Unknown == model.UnknownDrop {
		c.add(flow.Flow{Table: pipeline.Neighbor, Priority: PrioNeighDrop, Match: flow.M(meta, arp, req)})
		c.add(flow.Flow{Table: pipeline.Neighbor, Priority: PrioNeighDrop, Match: flow.M(meta, ip6, icmp6, ns)})
	}
}

// responders answers ARP requests and neighbor solicitations for every
// address bound in the VN (the first port by name to bind an address
// answers for it), in the switch where the profile can, else by sending
// them to the controller.
func (c *compiler) responders(st *vnState) {
	meta := metaVN(st.vn.VNI)
	arp, req := ethType(flow.EthTypeARP), flow.Exact(flow.ARPOp, flow.U16(1))
	ip6, icmp6 := ethType(flow.EthTypeIPv6), flow.Exact(flow.IPProto, flow.U8(flow.ProtoICMPv6))
	ns := flow.Exact(flow.ICMPv6Type, flow.U8(135))
	seen := map[netip.Addr]bool{}
	for _, p := range st.ports {
		mac := p.HardwareAddr()
		for _, a := range p.Addrs() {
			if seen[a] {
				continue
			}
			seen[a] = true
			if a.Is4() {
				f := flow.Flow{Table: pipeline.Neighbor, Priority: PrioAnswer,
					Match: flow.M(meta, arp, req, flow.Exact(flow.ARPTPA, flow.IP(a)))}
				if c.prof.ARPInSwitch {
					f.Actions, f.Goto = arpReply(mac, a), pipeline.Reply
				} else {
					f.Actions = []flow.Action{flow.Output{Port: flow.PortController, MaxLen: 0xffff}}
				}
				c.add(f)
				continue
			}
			f := flow.Flow{Table: pipeline.Neighbor, Priority: PrioAnswer,
				Match: flow.M(meta, ip6, icmp6, ns, flow.Exact(flow.NDTarget, flow.IP(a)))}
			if c.prof.NDInSwitch {
				f.Actions, f.Goto = ndAdvert(mac, a), pipeline.NDAdvert
				c.add(flow.Flow{Table: pipeline.NDAdvert, Priority: PrioNormal,
					Match:   flow.M(meta, ip6, icmp6, flow.Exact(flow.ICMPv6Type, flow.U8(136)), flow.Exact(flow.NDTarget, flow.IP(a))),
					Actions: []flow.Action{flow.SetField{Field: flow.NDTLL, Value: flow.MAC(mac)}}, Goto: pipeline.Reply})
			} else {
				f.Actions = []flow.Action{flow.Output{Port: flow.PortController, MaxLen: 0xffff}}
			}
			c.add(f)
		}
	}
}

// arpReply turns an ARP request for ip into the reply "ip is at mac".
func arpReply(mac net.HardwareAddr, ip netip.Addr) []flow.Action {
	return []flow.Action{
		flow.Move{Src: flow.EthSrc, Dst: flow.EthDst, Bits: 48},
		flow.SetField{Field: flow.EthSrc, Value: flow.MAC(mac)},
		flow.SetField{Field: flow.ARPOp, Value: flow.U16(2)},
		flow.Move{Src: flow.ARPSHA, Dst: flow.ARPTHA, Bits: 48},
		flow.SetField{Field: flow.ARPSHA, Value: flow.MAC(mac)},
		flow.Move{Src: flow.ARPSPA, Dst: flow.ARPTPA, Bits: 32},
		flow.SetField{Field: flow.ARPSPA, Value: flow.IP(ip)},
	}
}

// ndAdvert turns a neighbor solicitation for ip (with a source link-layer
// option) into the solicited advertisement "ip is at mac", in two steps
// because OVS accepts set_field nd_tll only in a flow that matches
// icmpv6_type=136: here the addresses are swapped, the type becomes 136,
// the flags S and O, and the source link-layer option becomes a target
// link-layer option; the nd_advert table then writes mac into it. OVS
// updates the ICMPv6 checksum; the hop limit stays 255. Verified on OVS
// 3.1's userspace datapath: the kernel of the soliciting host accepts the
// advertisement (TestRealOVSAnswersARPAndND).
func ndAdvert(mac net.HardwareAddr, ip netip.Addr) []flow.Action {
	return []flow.Action{
		flow.Move{Src: flow.EthSrc, Dst: flow.EthDst, Bits: 48},
		flow.SetField{Field: flow.EthSrc, Value: flow.MAC(mac)},
		flow.Move{Src: flow.IPv6Src, Dst: flow.IPv6Dst, Bits: 128},
		flow.SetField{Field: flow.IPv6Src, Value: flow.IP(ip)},
		flow.SetField{Field: flow.ICMPv6Type, Value: flow.U8(136)},
		flow.SetField{Field: flow.NDOptionsType, Value: flow.U8(2)},
		flow.SetField{Field: flow.NDReserved, Value: flow.U32(NDReservedSO)},
	}
}

func (c *compiler) forward(st *vnState) {
	vni := st.vn.VNI
	local := map[string]bool{}
	for _, v := range st.local {
		local[v.port.Name] = true
		c.add(flow.Flow{Table: pipeline.L2Forward, Priority: PrioNormal,
			Match:   flow.M(metaVN(vni), flow.Exact(flow.EthDst, flow.MAC(v.mac))),
			Actions: toVAP(v, v.ofp)})
	}
	remoteIP := map[string]netip.Addr{}
	for _, r := range st.remotes {
		remoteIP[r.nve.Name] = r.ips[0]
	}
	for _, p := range st.ports {
		if p.NVE == c.in.NVE {
			continue
		}
		ip, ok := remoteIP[p.NVE]
		if !ok {
			continue // NVE unknown, without underlay, or no tunnel port (warned)
		}
		c.add(flow.Flow{Table: pipeline.L2Forward, Priority: PrioNormal,
			Match:   flow.M(metaVNFrom(vni, false), flow.Exact(flow.EthDst, flow.MAC(p.HardwareAddr()))),
			Actions: toTunnel(vni, ip, st.tunnel)})
	}
	mcast := flow.Masked(flow.EthDst, flow.MAC(net.HardwareAddr{1, 0, 0, 0, 0, 0}), flow.MAC(net.HardwareAddr{1, 0, 0, 0, 0, 0}))
	var localBuckets []flow.Bucket
	for _, v := range st.local {
		localBuckets = append(localBuckets, flow.Bucket{WatchPort: flow.PortAny, WatchGroup: flow.PortAny, Actions: toVAP(v, v.ofp)})
	}
	all := append([]flow.Bucket(nil), localBuckets...)
	for _, r := range st.remotes {
		all = append(all, flow.Bucket{WatchPort: flow.PortAny, WatchGroup: flow.PortAny, Actions: toTunnel(vni, r.ips[0], st.tunnel)})
	}
	gl, gt := FloodGroupID(vni, false), FloodGroupID(vni, true)
	c.groups = append(c.groups, flow.GroupEntry{ID: gl, Type: flow.GroupAll, Buckets: all})
	c.add(flow.Flow{Table: pipeline.L2Forward, Priority: PrioBUM,
		Match: flow.M(metaVNFrom(vni, false), mcast), Actions: []flow.Action{flow.Group{ID: gl}}})
	if len(st.remotes) > 0 {
		c.groups = append(c.groups, flow.GroupEntry{ID: gt, Type: flow.GroupAll, Buckets: localBuckets})
		c.add(flow.Flow{Table: pipeline.L2Forward, Priority: PrioBUM,
			Match: flow.M(metaVNFrom(vni, true), mcast), Actions: []flow.Action{flow.Group{ID: gt}}})
	}
}
