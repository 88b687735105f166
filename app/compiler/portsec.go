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
type portSecurity struct{}

func (portSecurity) Name() string     { return "port security" }
func (portSecurity) Stages() []string { return []string{pipeline.PortSecurity} }

func (portSecurity) NVE(c *nveCtx, out *emitter) {
	if !c.has(pipeline.PortSecurity) {
		out.warn("profile %s has no port_security stage: source addresses of local ports are not checked", c.prof.Name)
	}
}

func (portSecurity) VN(*vnCtx, *emitter) {}

func (portSecurity) Port(c *portCtx, out *emitter) {
	if c.part.vap == nil || !c.has(pipeline.PortSecurity) {
		return
	}
	portSecurityOf(c.vni, *c.part.vap, out)
}

func portSecurityOf(vni uint32, v vap, out *emitter) {
	base := []flow.MatchField{inPort(v.ofp), metaVN(vni), flow.Exact(flow.EthSrc, flow.MAC(v.mac))}
	with := func(extra ...flow.MatchField) flow.Match {
		return flow.M(append(append(make([]flow.MatchField, 0, len(base)+len(extra)), base...), extra...)...)
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
			for _, tll := range []net.HardwareAddr{v.mac, zeroMAC} {
				out.flow(flow.Flow{Table: pipeline.PortSecurity, Priority: PrioNAAllow,
					Match: with(ip6, icmp6, na, src, tgt, flow.Exact(flow.NDTLL, flow.MAC(tll))), Goto: pipeline.Next})
			}
		}
	}
	out.flow(flow.Flow{Table: pipeline.PortSecurity, Priority: PrioNADrop, Match: with(ip6, icmp6, na)})
	pass(ip6, flow.Exact(flow.IPv6Src, flow.IP(ipv6Zero)), icmp6, flow.Exact(flow.ICMPv6Type, flow.U8(135))) // DAD NS
	pass(ip6, flow.Exact(flow.IPv6Src, flow.IP(ipv6Zero)), icmp6, flow.Exact(flow.ICMPv6Type, flow.U8(143))) // MLDv2 report during DAD
}
