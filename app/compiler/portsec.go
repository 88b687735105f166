package compiler

import (
	"net"

	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/pipeline"
)

// portSecurity passes frames from a local VAP only if their source MAC,
// ARP sender and IP source are the port's own (see the package doc for
// what else a booting host may send); everything else drops. A profile
// that does not realize the port_security stage gets no flows and a
// warning: its VAPs are not protected against spoofing.
//
// The source MAC is checked once, in classify (classify.go): a VAP's
// frames with the port's own MAC carry pipeline.MetaOwnSrc. So what a
// port may send whatever its addresses (DHCP discovery, IPv6 link-local,
// DAD and MLD from ::, neighbor advertisements for link-local addresses
// without a target link-layer option, and the drop of every other NA) is
// a handful of NVE-wide flows matching that bit, and a port has flows of
// its own only for what names its MAC or addresses: ARP (arp_sha and
// arp_spa), IPv4 and IPv6 sources, and NAs naming it.
type portSecurity struct{}

func (portSecurity) Name() string     { return "port security" }
func (portSecurity) Stages() []string { return []string{pipeline.PortSecurity} }

func (portSecurity) NVE(c *nveCtx, out *emitter) {
	if !c.has(pipeline.PortSecurity) {
		out.warn("profile %s has no port_security stage: source addresses of local ports are not checked", c.prof.Name)
		return
	}
	own := metaOwnSrc()
	pass := func(m ...flow.MatchField) {
		out.flow(flow.Flow{Table: pipeline.PortSecurity, Priority: PrioNormal, Match: flow.M(append(m, own)...), Goto: pipeline.Next})
	}
	ip4 := ethType(flow.EthTypeIPv4)
	ip6 := ethType(flow.EthTypeIPv6)
	icmp6 := flow.Exact(flow.IPProto, flow.U8(flow.ProtoICMPv6))
	pass(ip4, flow.Exact(flow.IPv4Src, flow.IP(ipv4Zero)), flow.Exact(flow.IPv4Dst, flow.IP(ipv4Bcast)),
		flow.Exact(flow.IPProto, flow.U8(17)), flow.Exact(flow.UDPSrc, flow.U16(68)), flow.Exact(flow.UDPDst, flow.U16(67))) // DHCP
	ll := linkLocalSrc()
	pass(ip6, ll)
	pass(ip6, flow.Exact(flow.IPv6Src, flow.IP(ipv6Zero)), icmp6, flow.Exact(flow.ICMPv6Type, flow.U8(135))) // DAD NS
	pass(ip6, flow.Exact(flow.IPv6Src, flow.IP(ipv6Zero)), icmp6, flow.Exact(flow.ICMPv6Type, flow.U8(143))) // MLDv2 report during DAD
	// Neighbor advertisements may only speak for the port itself (see
	// Port): link-local source and target without a target link-layer
	// option name no one else; any other NA not allowed by a port's own
	// flows is dropped.
	na := flow.Exact(flow.ICMPv6Type, flow.U8(136))
	out.flow(flow.Flow{Table: pipeline.PortSecurity, Priority: PrioNAAllow,
		Match: flow.M(own, ip6, icmp6, na, ll, llTarget(ll), flow.Exact(flow.NDTLL, flow.MAC(zeroMAC))), Goto: pipeline.Next})
	out.flow(flow.Flow{Table: pipeline.PortSecurity, Priority: PrioNADrop, Match: flow.M(own, ip6, icmp6, na)})
}

func (portSecurity) VN(*vnCtx, *emitter) {}

func (portSecurity) Port(c *portCtx, out *emitter) {
	if c.part.vap == nil || !c.has(pipeline.PortSecurity) {
		return
	}
	portSecurityOf(c.vni, *c.part.vap, out)
}

// linkLocalSrc matches an IPv6 link-local source (fe80::/10, any
// interface ID since hosts use stable-privacy addresses).
func linkLocalSrc() flow.MatchField {
	return flow.Masked(flow.IPv6Src, flow.IP(linkLocal.Addr()), prefixMask(linkLocal))
}

// llTarget is an IPv6 source match as the same match on the ND target.
func llTarget(src flow.MatchField) flow.MatchField {
	return flow.MatchField{Field: flow.NDTarget, Value: src.Value, Mask: src.Mask}
}

// portSecurityOf emits a VAP's own port-security flows: they match its
// OpenFlow port and the VN with pipeline.MetaOwnSrc (its MAC was checked
// in classify).
func portSecurityOf(vni uint32, v vap, out *emitter) {
	base := []flow.MatchField{inPort(v.ofp), metaVNOwnSrc(vni)}
	with := func(extra ...flow.MatchField) flow.Match {
		var buf [8]flow.MatchField // flow.M keeps no field: no heap slice per flow
		return flow.M(append(append(buf[:0], base...), extra...)...)
	}
	pass := func(extra ...flow.MatchField) {
		out.flow(flow.Flow{Table: pipeline.PortSecurity, Priority: PrioNormal, Match: with(extra...), Goto: pipeline.Next})
	}
	arp := ethType(flow.EthTypeARP)
	sha := flow.Exact(flow.ARPSHA, flow.MAC(v.mac))
	ip4 := ethType(flow.EthTypeIPv4)
	ip6 := ethType(flow.EthTypeIPv6)
	icmp6 := flow.Exact(flow.IPProto, flow.U8(flow.ProtoICMPv6))
	pass(arp, sha, flow.Exact(flow.ARPSPA, flow.IP(ipv4Zero))) // ARP probe (RFC 5227)
	for _, a := range v.addrs {
		if a.Is4() {
			pass(arp, sha, flow.Exact(flow.ARPSPA, flow.IP(a)))
			pass(ip4, flow.Exact(flow.IPv4Src, flow.IP(a)))
			continue
		}
		if linkLocal.Contains(a) {
			continue // covered by the NVE-wide fe80::/10 flow
		}
		pass(ip6, flow.Exact(flow.IPv6Src, flow.IP(a)))
	}
	// Neighbor advertisements may only speak for the port itself: source
	// and target among its IPv6 addresses or link-local, target link-layer
	// address its MAC (or absent; link-local source and target without
	// the option is NVE-wide). Any other NA from the port is dropped by
	// the NVE-wide PrioNADrop flow.
	ll := linkLocalSrc()
	own6 := []flow.MatchField{ll}
	for _, a := range v.addrs {
		if a.Is6() && !linkLocal.Contains(a) {
			own6 = append(own6, flow.Exact(flow.IPv6Src, flow.IP(a)))
		}
	}
	na := flow.Exact(flow.ICMPv6Type, flow.U8(136))
	for i, src := range own6 {
		for j, tgt := range own6 {
			for _, tll := range []net.HardwareAddr{v.mac, zeroMAC} {
				if i == 0 && j == 0 && len(tll) == 6 && tll[0]|tll[1]|tll[2]|tll[3]|tll[4]|tll[5] == 0 {
					continue // NVE-wide
				}
				out.flow(flow.Flow{Table: pipeline.PortSecurity, Priority: PrioNAAllow,
					Match: with(ip6, icmp6, na, src, llTarget(tgt), flow.Exact(flow.NDTLL, flow.MAC(tll))), Goto: pipeline.Next})
			}
		}
	}
}
