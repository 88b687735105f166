package compiler

import (
	"net"
	"net/netip"

	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/pipeline"
)

// l3GatewayFeature is the L3 gateway to the non-virtualized network
// (model.L3Gateway; see "L3 gateway" in the package doc).
//
// On every NVE hosting a VN of a domain with a gateway (its VN part):
// IPv4 its local VAPs send to the anycast gateway MAC for an address
// outside the domain's subnets (l3_route, below the routes to the
// domain's ports; the domain's own subnets drop when no port has the
// address) goes to the gateway: on the gateway NVE to l3gw_out, elsewhere
// tunnelled unchanged (TTL and MACs as sent, destination MAC still the
// gateway MAC) to the gateway NVE with the source VN's VNI, which is the
// context the gateway NVE needs (it knows each VNI's domain). The NVE
// also accepts the gateway NVE's tunnel into the VN (routed replies).
//
// On the gateway NVE (the gateway's own slice): the uplink and tunnels to
// the gateway MAC with a VNI of the domain are classified to l3gw_in and
// l3gw_out. l3gw_out decrements the TTL, rewrites the MACs (gateway's
// external MAC, model.L3Gateway.ExternalMAC, -> next hop), loads the gateway's conntrack zone into reg0
// and commits the connection with SNAT to the external address (a
// floating IP's for its tenant address) in that zone, resuming in
// l3gw_egress, which outputs to the uplink. l3gw_in answers ARP for the
// external and floating addresses on the uplink, and sends IPv4 to them
// through conntrack in the zone: nat (un-SNAT of replies) or, for a
// floating IP, commit with DNAT to its tenant address; the translated
// packet resumes in l3gw_route, which routes it to the tenant port now in
// its destination (TTL decremented, gateway MAC -> the port's MAC, to its
// VAP or tunnelled with its VN's VNI). Anything else from the uplink
// drops: the external network reaches nothing but the gateway.
//
// Conntrack zones: each gateway has its own (model.L3Gateway.CTZone, from
// model.GatewayZoneFirst up), so identical tenant subnets of two domains
// never share a connection; inter-VN policy uses zones below that range.
type l3GatewayFeature struct{}

// gatewayFeature is a feature that compiles gateway slices (cache.go).
type gatewayFeature interface {
	Gateway(c *vnCtx, out *emitter)
}

// Priorities of the L3 gateway's flows.
const (
	PrioToGateway    = 10  // l3_route: any other IPv4 -> the gateway
	PrioDomainSubnet = 20  // l3_route: unknown address in the domain's subnets: drop
	PrioGatewayTun   = 110 // classify: tunnel to the gateway MAC, above the VN's own tunnel classification
	PrioFloating     = 110 // l3gw_out: a floating IP's tenant address
)

func (l3GatewayFeature) Name() string { return "L3 gateway" }
func (l3GatewayFeature) Stages() []string {
	return []string{pipeline.Classify, pipeline.L3Route, pipeline.L3GatewayIn, pipeline.L3GatewayOut,
		pipeline.L3GatewayRoute, pipeline.L3GatewayEgress}
}

func (l3GatewayFeature) NVE(*nveCtx, *emitter) {}

func (l3GatewayFeature) Port(*portCtx, *emitter) {}

// VN emits a VN's way to its domain's gateway.
func (l3GatewayFeature) VN(c *vnCtx, out *emitter) {
	l := c.gw
	if l == nil || !c.vn.Routed() || !c.has(pipeline.L3Route) {
		return
	}
	vni := c.vni()
	if l.accept != nil {
		f := flow.Flow{Table: pipeline.Classify, Priority: PrioNormal,
			WriteMetadata: metaContext(vni, true), MetadataMask: pipeline.MetaContext, Goto: pipeline.L2Forward}
		tunID := flow.Exact(flow.TunID, flow.U64(uint64(vni)))
		if !c.prof.FlowTunnels {
			f.Match = flow.M(inPort(l.accept.port), vlanNone(), tunID)
			out.flow(f)
		} else {
			for _, ip := range l.accept.ips {
				g := f
				g.Match = flow.M(inPort(l.accept.port), vlanNone(), tunID, flow.Exact(flow.TunIPv4Src, flow.IP(ip)))
				out.flow(g)
			}
		}
	}
	local, ip4 := metaVNFrom(vni, false), ethType(flow.EthTypeIPv4)
	for _, p := range l.prefixes {
		out.flow(flow.Flow{Table: pipeline.L3Route, Priority: PrioDomainSubnet,
			Match: flow.M(local, ip4, flow.Masked(flow.IPv4Dst, flow.IP(p.Addr()), prefixMask(p)))})
	}
	f := flow.Flow{Table: pipeline.L3Route, Priority: PrioToGateway, Match: flow.M(local, ip4)}
	switch {
	case l.here && c.has(pipeline.L3GatewayOut):
		f.Goto = pipeline.L3GatewayOut
	case l.here:
		out.warn("VN %s: profile %s has no L3 gateway stages: external traffic dropped", c.name, c.prof.Name)
		return
	default:
		f.Actions = toRemote(c.nveCtx, vni, *l.toward)
	}
	out.flow(f)
}

// Gateway emits a gateway slice: the gateway NVE's side.
func (l3GatewayFeature) Gateway(c *vnCtx, out *emitter) {
	gs := c.gwSlice
	if gs.uplink == 0 || !c.has(pipeline.L3GatewayIn) {
		return
	}
	zone := gs.gw.CTZone
	extMAC := gs.gw.ExternalMAC()
	gatewayExtMAC := net.HardwareAddr(extMAC[:])
	ip4 := ethType(flow.EthTypeIPv4)
	uplink := inPort(gs.uplink)
	reg := flow.Exact(flow.Reg0, flow.U32(uint32(zone)))
	setReg := flow.SetField{Field: flow.Reg0, Value: flow.U32(uint32(zone))}

	// Classification: the uplink, and tunnels to the gateway MAC.
	out.flow(flow.Flow{Table: pipeline.Classify, Priority: PrioNormal, Match: flow.M(uplink, vlanNone()), Goto: pipeline.L3GatewayIn})
	toGW := flow.Exact(flow.EthDst, gatewayMAC)
	for _, s := range gs.sources {
		tunID := flow.Exact(flow.TunID, flow.U64(uint64(s.vni)))
		for _, r := range s.from {
			for _, ip := range r.ips {
				out.flow(flow.Flow{Table: pipeline.Classify, Priority: PrioGatewayTun,
					Match:         flow.M(inPort(r.port), vlanNone(), tunID, flow.Exact(flow.TunIPv4Src, flow.IP(ip)), toGW),
					WriteMetadata: metaContext(s.vni, true), MetadataMask: pipeline.MetaContext, Goto: pipeline.L3GatewayOut})
			}
		}
	}

	// Outbound: SNAT to the external address (a floating IP's own for its
	// tenant address), then the uplink.
	snat := func(a netip.Addr) []flow.Action {
		return []flow.Action{flow.DecTTL{},
			flow.SetField{Field: flow.EthSrc, Value: flow.MAC(gatewayExtMAC)},
			flow.SetField{Field: flow.EthDst, Value: flow.MAC(gs.nhMAC[:])},
			setReg,
			flow.CT{Commit: true, Zone: zone, Table: pipeline.L3GatewayEgress, NAT: flow.NATSrc, NATAddr: a}}
	}
	for _, vni := range gs.vnis {
		// TTL 0 and 1 are not routed out: dropped, and counted as
		// ttl_expired drops. Only tunnelled packets can expire here (the
		// gateway NVE's own VAPs' expire in l3_route, which answers them),
		// and the answer would have to go back through the tunnel (a
		// packet-out with tun_dst, a Nicira field nva's packet-outs do not
		// use), so none is sent.
		for _, ttl := range []uint8{0, 1} {
			out.flow(flow.Flow{Table: pipeline.L3GatewayOut, Priority: PrioTTLDrop,
				Match: flow.M(metaVN(vni), ip4, flow.Exact(flow.IPTTL, flow.U8(ttl)))})
		}
		out.flow(flow.Flow{Table: pipeline.L3GatewayOut, Priority: PrioNormal, Match: flow.M(metaVN(vni), ip4), Actions: snat(gs.ext)})
		for _, fl := range gs.floating {
			out.flow(flow.Flow{Table: pipeline.L3GatewayOut, Priority: PrioFloating,
				Match: flow.M(metaVN(vni), ip4, flow.Exact(flow.IPv4Src, flow.IP(fl[1]))), Actions: snat(fl[0])})
		}
	}
	out.flow(flow.Flow{Table: pipeline.L3GatewayEgress, Priority: PrioNormal, Match: flow.M(reg),
		Actions: []flow.Action{flow.Output{Port: gs.uplink}}})

	// Inbound: ARP for the gateway's addresses; IPv4 to them through
	// conntrack, then routed.
	arp, req := ethType(flow.EthTypeARP), flow.Exact(flow.ARPOp, flow.U16(1))
	addrs := append([][2]netip.Addr{{gs.ext}}, gs.floating...)
	for _, a := range addrs {
		ip := flow.IP(a[0])
		out.flow(flow.Flow{Table: pipeline.L3GatewayIn, Priority: PrioAnswer,
			Match:   flow.M(uplink, arp, req, flow.Exact(flow.ARPTPA, ip)),
			Actions: append(arpReply(gatewayExtMAC, ip), flow.Output{Port: flow.PortInPort})})
		ct := flow.CT{Zone: zone, Table: pipeline.L3GatewayRoute, NAT: flow.NATReverse}
		if a[1].IsValid() {
			ct = flow.CT{Commit: true, Zone: zone, Table: pipeline.L3GatewayRoute, NAT: flow.NATDst, NATAddr: a[1]}
		}
		out.flow(flow.Flow{Table: pipeline.L3GatewayIn, Priority: PrioNormal,
			Match: flow.M(uplink, ip4, flow.Exact(flow.IPv4Dst, ip)), Actions: []flow.Action{setReg, ct}})
		// TTL 0 and 1 would expire in l3gw_route: checked before conntrack,
		// so the controller answers (ofctl/ttlexceeded.go: an ICMP
		// time-exceeded from the gateway's external address out of the
		// uplink) quoting the packet as its sender sent it, untranslated;
		// the flows count them as ttl_expired drops.
		for _, ttl := range []uint8{0, 1} {
			out.flow(flow.Flow{Table: pipeline.L3GatewayIn, Priority: PrioTTLDrop,
				Match:   flow.M(uplink, ip4, flow.Exact(flow.IPv4Dst, ip), flow.Exact(flow.IPTTL, flow.U8(ttl))),
				Actions: []flow.Action{flow.Output{Port: flow.PortController, MaxLen: TTLPuntMaxLen}}})
		}
	}
	setSrc := flow.SetField{Field: flow.EthSrc, Value: flow.MAC(gatewayMAC)}
	for _, r := range c.routes {
		acts := []flow.Action{flow.DecTTL{}, setSrc, flow.SetField{Field: flow.EthDst, Value: flow.MAC(r.mac[:])}}
		if r.vap != nil {
			acts = append(acts, toVAP(*r.vap, r.vap.ofp)...)
		} else {
			acts = append(acts, toRemote(c.nveCtx, r.vni, *r.remote)...)
		}
		for _, a := range r.addrs {
			if !a.Is4() {
				continue
			}
			out.flow(flow.Flow{Table: pipeline.L3GatewayRoute, Priority: PrioNormal,
				Match: flow.M(reg, ip4, flow.Exact(flow.IPv4Dst, flow.IP(a))), Actions: acts})
		}
	}
}
