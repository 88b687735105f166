package pipeline

import (
	"fmt"

	"github.com/nva-project/nva/app/flow"
)

// Stage names of the L2 overlay pipeline, in packet order. The compiler's
// features emit flows into stages; a Profile realizes stages onto tables
// (one table per stage, several parallel stages in one table, or a stage
// left out), and only the profile knows table numbers.
const (
	// Classify maps a packet's ingress (a VAP: port [+VLAN], or a tunnel
	// port + tunnel ID) to its VN, written to metadata; anything else drops.
	Classify = "classify"
	// PortSecurity checks the source MAC/ARP/IPv4/IPv6 of frames from
	// local VAPs against the port's bindings.
	PortSecurity = "port_security"
	// Neighbor answers ARP requests and IPv6 neighbor solicitations for
	// addresses known in the VN (in the switch, or by sending them to the
	// controller), and applies the VN's unknown-target policy.
	Neighbor = "neighbor"
	// NDAdvert completes a neighbor advertisement Neighbor turned a
	// solicitation into: it sets the target link-layer address, which OVS
	// only allows in a flow that matches icmpv6_type=136.
	NDAdvert = "nd_advert"
	// L3Route routes IP packets a local VAP sent to the distributed
	// anycast gateway's MAC (model.GatewayMAC) to a port of a VN of the
	// same L3 domain: TTL decremented, MACs rewritten, delivered to the
	// destination's VAP or tunnelled with the destination VN's VNI. The
	// neighbor stage jumps here for frames to the gateway MAC; it ends
	// the pipeline (its flows output), so a profile may realize it in
	// one table with l2_forward.
	L3Route = "l3_route"
	// L3Conntrack and L3Policy are the inter-VN policy of an L3 domain
	// (app/compiler's policy.go), on profiles with connection tracking.
	// L3Conntrack sends IP a local VAP sent to another VN of its domain
	// through conntrack (the domain's zone) into L3Policy, and commits
	// routed IP arriving from a tunnel (so replies routed here are
	// established). L3Policy passes established and related packets to
	// l3_route and evaluates the domain's rules for the others: allow
	// commits and routes, deny and no rule drop. Profiles without them
	// evaluate the rules statelessly in the neighbor stage.
	L3Conntrack = "l3_conntrack"
	L3Policy    = "l3_policy"
	// L2Forward forwards by destination MAC within the VN: local VAP,
	// tunnel to the remote NVE, or the VN's BUM group.
	L2Forward = "l2_forward"
	// Reply sends a packet built by Neighbor back out of its ingress VAP,
	// re-tagging it with the VAP's VLAN.
	Reply = "reply"

	// L3 gateway to the non-virtualized network (app/compiler's
	// l3gateway.go), on the gateway NVE only (OVS: conntrack and NAT).
	//
	// L3GatewayIn takes what arrives on a gateway's uplink: ARP for its
	// external and floating addresses answered, IPv4 to them un-NATed
	// (or DNATed for a floating IP) in the gateway's conntrack zone and
	// resumed in L3GatewayRoute; anything else drops.
	L3GatewayIn = "l3gw_in"
	// L3GatewayOut routes IPv4 a tenant sent toward the external network
	// (from l3_route on this NVE, or tunnelled here to the gateway MAC):
	// TTL decremented, MACs rewritten for the next hop, SNAT committed in
	// the gateway's zone, resumed in L3GatewayEgress.
	L3GatewayOut = "l3gw_out"
	// L3GatewayRoute routes an inbound packet, once translated, to the
	// tenant port it is now addressed to (as l3_route does).
	L3GatewayRoute = "l3gw_route"
	// L3GatewayEgress outputs a translated outbound packet to its
	// gateway's uplink.
	L3GatewayEgress = "l3gw_egress"
)

// Next is the Goto of a flow that continues to its stage's next stage
// (Stage.Next, or the first stage after it the profile realizes). Flows
// say Next unless they must jump; the profile resolves it to a table.
const Next = "+next"

// Miss is what a stage does with a packet none of its flows match. The
// profile realizes it as an explicit priority-0 flow.
type Miss uint8

// Miss policies.
const (
	MissDrop       Miss = iota // drop the packet
	MissNext                   // continue to the next stage
	MissController             // send the packet to the controller
)

func (m Miss) String() string {
	switch m {
	case MissDrop:
		return "drop"
	case MissNext:
		return "next"
	case MissController:
		return "controller"
	}
	return fmt.Sprintf("miss(%d)", uint8(m))
}

// Contract says what flows may do. In a Stage, Goto lists the stages its
// flows may jump to besides its next stage; in a realized Table, Goto
// lists table names and the other lists are the union of its stages'
// contracts less what the profile cannot do.
type Contract struct {
	// Match lists the fields flows may match.
	Match []string
	// Set lists the fields flows may set (set_field) or move into.
	Set []string
	// Read lists the fields flows may move from.
	Read []string
	// Goto lists where flows may continue (always later in the pipeline).
	Goto []string
	// Output allows output actions (to ports, IN_PORT, CONTROLLER).
	Output bool
	// Group allows group actions.
	Group bool
	// VLAN allows push_vlan/pop_vlan.
	VLAN bool
	// WriteMetadata allows the write-metadata instruction.
	WriteMetadata bool
	// DecTTL allows dec_ttl (OFPAT_DEC_NW_TTL, standard OpenFlow 1.3).
	DecTTL bool
	// CT allows the ct action (conntrack and NAT, a Nicira extension);
	// its table= must be one of Goto.
	CT bool
}

// Stage is one step of the pipeline, declared once for every profile: its
// contract (with every field any profile may use: a profile without
// extensions drops the extension fields and moves when it realizes the
// stage), its miss policy and its default next stage ("" ends the
// pipeline).
type Stage struct {
	Name string
	Doc  string
	Contract
	Miss Miss
	Next string
}

// stages is the pipeline, in packet order.
var stages = []Stage{
	{
		Name: Classify,
		Doc:  "ingress VAP (in_port[, vlan]) or tunnel (in_port, tun_id[, tun_src]) -> VN in metadata; else drop",
		Contract: Contract{
			Match:         []string{flow.InPort, flow.VlanVID, flow.TunID, flow.TunIPv4Src, flow.EthSrc, flow.EthDst},
			Goto:          []string{L2Forward, L3Conntrack, L3GatewayIn, L3GatewayOut}, // tunnel arrivals skip port security and the responder; routed ones (from the gateway MAC) are committed to conntrack; an L3 gateway's uplink and tunnels to its MAC go to its stages
			VLAN:          true,
			WriteMetadata: true,
			Output:        true, // CONTROLLER: learning on L2 gateway segments (app/compiler/segment.go)
		},
		Miss: MissDrop, Next: PortSecurity,
	},
	{
		Name: PortSecurity,
		Doc:  "source MAC, ARP sha/spa, IPv4/IPv6 source, NA target/tll must match the VAP's bindings; else drop",
		Contract: Contract{
			Match: []string{flow.InPort, flow.Metadata, flow.EthSrc, flow.EthDst, flow.EthType,
				flow.ARPSHA, flow.ARPSPA, flow.IPv4Src, flow.IPv4Dst, flow.IPProto, flow.UDPSrc, flow.UDPDst,
				flow.IPv6Src, flow.ICMPv6Type, flow.NDTarget, flow.NDTLL},
		},
		Miss: MissDrop, Next: Neighbor,
	},
	{
		Name: Neighbor,
		Doc:  "ARP/ND for targets known in the VN (and its gateways) answered in the switch or sent to the controller; unknown targets per VN policy; frames to the gateway MAC -> l3_route",
		Contract: Contract{
			Match: []string{flow.InPort, flow.Metadata, flow.EthDst, flow.EthType, flow.ARPOp, flow.ARPSPA, flow.ARPTPA,
				flow.IPProto, flow.IPv6Src, flow.ICMPv6Type, flow.ICMPv6Code, flow.NDTarget, flow.NDSLL,
				flow.IPv4Src, flow.IPv4Dst, flow.IPv6Dst, flow.TCPDst, flow.UDPDst}, // the last: stateless inter-VN policy
			Set: []string{flow.EthSrc, flow.EthDst, flow.ARPOp, flow.ARPSHA, flow.ARPTHA, flow.ARPSPA, flow.ARPTPA,
				flow.ICMPv6Type, flow.NDOptionsType, flow.NDReserved, flow.IPv6Src, flow.IPv6Dst},
			Read:   []string{flow.EthSrc, flow.ARPSHA, flow.ARPSPA, flow.IPv6Src},
			Goto:   []string{NDAdvert, Reply, L3Conntrack, L3Route},
			Output: true, // CONTROLLER, where the profile cannot answer
		},
		Miss: MissDrop, Next: L2Forward,
	},
	{
		Name: NDAdvert,
		Doc:  "neighbor advertisement built by neighbor -> target link-layer address of the known target",
		Contract: Contract{
			Match: []string{flow.Metadata, flow.EthType, flow.IPProto, flow.ICMPv6Type, flow.NDTarget},
			Set:   []string{flow.NDTLL},
		},
		Miss: MissDrop, Next: Reply,
	},
	{
		Name: L3Conntrack,
		Doc:  "IP from a local VAP to another VN of its L3 domain -> ct(zone of the domain) -> l3_policy; routed IP from a tunnel -> ct(commit) -> l2_forward",
		Contract: Contract{
			Match: []string{flow.Metadata, flow.EthType},
			Goto:  []string{L3Policy, L2Forward},
			CT:    true,
		},
		Miss: MissDrop, Next: L3Policy,
	},
	{
		Name: L3Policy,
		Doc:  "tracked IP: established/related -> l3_route; else the L3 domain's rules by priority: allow -> ct(commit) -> l3_route, deny drops; no rule: drop (default deny)",
		Contract: Contract{
			Match: []string{flow.Metadata, flow.EthType, flow.CTState, flow.IPv4Src, flow.IPv4Dst, flow.IPv6Src, flow.IPv6Dst,
				flow.IPProto, flow.TCPDst, flow.UDPDst},
			Goto: []string{L3Route},
			CT:   true,
		},
		Miss: MissDrop, Next: L3Route,
	},
	{
		Name: L3Route,
		Doc:  "IP to the gateway MAC for a port of a VN of the same L3 domain -> dec_ttl, eth_src := gateway MAC, eth_dst := the port's MAC, to its VAP or tunnel with its VN's VNI; TTL 0/1 and unknown destinations drop",
		Contract: Contract{
			Match:  []string{flow.Metadata, flow.EthDst, flow.EthType, flow.IPv4Dst, flow.IPv6Dst, flow.IPTTL},
			Set:    []string{flow.EthSrc, flow.EthDst, flow.VlanVID, flow.TunID, flow.TunIPv4Dst},
			Goto:   []string{L3GatewayOut}, // external destinations on the gateway NVE
			Output: true,
			VLAN:   true,
			DecTTL: true,
		},
		Miss: MissDrop,
	},
	{
		Name: L2Forward,
		Doc:  "destination MAC in the VN -> local VAP, tunnel to the remote NVE, or the VN's BUM group; unknown unicast drops",
		Contract: Contract{
			// eth_src and tun_src: BUM split horizon for dual-homed
			// systems and replicators (app/compiler/bum.go).
			Match:  []string{flow.Metadata, flow.EthDst, flow.EthSrc, flow.TunIPv4Src},
			Set:    []string{flow.VlanVID, flow.TunID, flow.TunIPv4Dst},
			Output: true,
			Group:  true,
			VLAN:   true,
		},
		Miss: MissDrop,
	},
	{
		Name: Reply,
		Doc:  "packet built by neighbor -> back out of its ingress VAP (with the VAP's VLAN)",
		Contract: Contract{
			Match:  []string{flow.InPort, flow.Metadata},
			Set:    []string{flow.VlanVID},
			Output: true,
			VLAN:   true,
		},
		Miss: MissDrop,
	},
	{
		Name: L3GatewayIn,
		Doc:  "uplink of an L3 gateway: ARP for its addresses answered; IPv4 to them with TTL 0 or 1 -> controller (time-exceeded); other IPv4 to them -> reg0 := zone, ct(zone, nat) -> l3gw_route; else drop",
		Contract: Contract{
			Match: []string{flow.InPort, flow.EthType, flow.ARPOp, flow.ARPTPA, flow.IPv4Dst, flow.IPTTL},
			Set:   []string{flow.EthSrc, flow.EthDst, flow.ARPOp, flow.ARPSHA, flow.ARPTHA, flow.ARPSPA, flow.ARPTPA, flow.Reg0},
			Read:  []string{flow.EthSrc, flow.ARPSHA, flow.ARPSPA},
			Goto:  []string{L3GatewayRoute},
			// Output: IN_PORT for ARP answers.
			Output: true,
			CT:     true,
		},
		Miss: MissDrop,
	},
	{
		Name: L3GatewayOut,
		Doc:  "IPv4 of a gateway's L3 domain to the outside: TTL 0 or 1 dropped; else dec_ttl, MACs for the next hop, reg0 := zone, ct(commit, zone, nat(src=external or floating IP)) -> l3gw_egress",
		Contract: Contract{
			Match:  []string{flow.Metadata, flow.EthType, flow.IPv4Src, flow.IPTTL},
			Set:    []string{flow.EthSrc, flow.EthDst, flow.Reg0},
			Goto:   []string{L3GatewayEgress},
			DecTTL: true,
			CT:     true,
		},
		Miss: MissDrop,
	},
	{
		Name: L3GatewayRoute,
		Doc:  "translated inbound IPv4 (reg0 = the gateway's zone) to a tenant port -> dec_ttl, eth_src := gateway MAC, eth_dst := the port's MAC, to its VAP or tunnel with its VN's VNI",
		Contract: Contract{
			Match:  []string{flow.Reg0, flow.EthType, flow.IPv4Dst},
			Set:    []string{flow.EthSrc, flow.EthDst, flow.VlanVID, flow.TunID, flow.TunIPv4Dst},
			Output: true,
			VLAN:   true,
			DecTTL: true,
		},
		Miss: MissDrop,
	},
	{
		Name: L3GatewayEgress,
		Doc:  "translated outbound IPv4 (reg0 = the gateway's zone) -> its uplink",
		Contract: Contract{
			Match:  []string{flow.Reg0},
			Output: true,
		},
		Miss: MissDrop,
	},
}

// Stages returns the pipeline's stages in packet order.
func Stages() []Stage {
	out := make([]Stage, len(stages))
	copy(out, stages)
	return out
}

// StageByName returns the named stage.
func StageByName(name string) (Stage, bool) {
	for _, s := range stages {
		if s.Name == name {
			return s, true
		}
	}
	return Stage{}, false
}

// stageIndex is a stage's position in packet order (-1 if unknown).
func stageIndex(name string) int {
	for i, s := range stages {
		if s.Name == name {
			return i
		}
	}
	return -1
}

// MetaField is a named bit field of the OpenFlow metadata register, which
// carries the pipeline's context from table to table. Metadata is
// standard OpenFlow 1.3, so every profile uses the same layout.
type MetaField struct {
	Name   string
	Offset uint // lowest bit
	Bits   uint
}

// Mask is the field's bits in metadata.
func (m MetaField) Mask() uint64 { return (1<<m.Bits - 1) << m.Offset }

// Put returns v placed in the field's bits (bits of v beyond the field's
// width are dropped).
func (m MetaField) Put(v uint64) uint64 { return v << m.Offset & m.Mask() }

// Get extracts the field's value from a metadata word.
func (m MetaField) Get(metadata uint64) uint64 { return metadata & m.Mask() >> m.Offset }

// The metadata layout.
var (
	// MetaVN is the VN's 24-bit context ID (the VNI), written by classify.
	MetaVN = MetaField{Name: "vn", Offset: 0, Bits: 24}
	// MetaFromTunnel is set when the packet arrived from an overlay
	// tunnel (split horizon: such packets never go back into a tunnel).
	MetaFromTunnel = MetaField{Name: "from_tunnel", Offset: 24, Bits: 1}
	// MetaStage selects the stage of a table that realizes several
	// stages: flows of such a table match it, and flows going there write
	// it (see Realize).
	MetaStage = MetaField{Name: "stage", Offset: 25, Bits: 3}
	// MetaOwnSrc is set by classify for a frame from a local VAP whose
	// source MAC is the port's own: port security checks the MAC once
	// there, and its address-independent allowances (DHCP, IPv6
	// link-local, DAD, MLD) are NVE-wide flows that match this bit.
	MetaOwnSrc = MetaField{Name: "own_src", Offset: 28, Bits: 1}
	// MetaL3Domain is reserved for the L3 domain (VRF) of l3/l2l3 VNs;
	// nothing writes it yet.
	MetaL3Domain = MetaField{Name: "l3_domain", Offset: 32, Bits: 16}
)

// MetaFields lists the metadata layout.
func MetaFields() []MetaField {
	return []MetaField{MetaVN, MetaFromTunnel, MetaStage, MetaOwnSrc, MetaL3Domain}
}

// MetaContext is the metadata classify writes: the VN and whether the
// packet came from a tunnel.
var MetaContext = MetaVN.Mask() | MetaFromTunnel.Mask()

// VNIFromMetadata returns the VNI of the VN a packet was classified into,
// from its metadata (for example the metadata of a packet-in sent by the
// neighbor stage).
func VNIFromMetadata(metadata uint64) uint32 { return uint32(MetaVN.Get(metadata)) }

// FromTunnelMetadata reports whether metadata says the packet arrived from
// a tunnel.
func FromTunnelMetadata(metadata uint64) bool { return MetaFromTunnel.Get(metadata) != 0 }
