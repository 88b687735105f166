package compiler

import (
	"net"

	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/pipeline"
)

// l3Routing is the distributed anycast gateway of l3 and l2l3 VNs (see
// "L3 VNs" in the package doc): every NVE hosting a routed VN answers
// ARP/ND for its subnets' gateway addresses with model.GatewayMAC, sends
// the IP its local VAPs address to that MAC to the l3_route stage, and
// there routes to the ports of the VNs of the same L3 domain: TTL
// decremented, MACs rewritten, delivered to the destination's VAP here or
// tunnelled with the destination VN's VNI to the NVE hosting it
// (asymmetric routing). It also accepts, into the VN, tunnels from NVEs
// that route into it without hosting it. Everything lives in the VN's
// shared part, whose fingerprint covers the routes (view: l3view.go).
type l3Routing struct{}

func (l3Routing) Name() string { return "L3 routing" }
func (l3Routing) Stages() []string {
	return []string{pipeline.Classify, pipeline.Neighbor, pipeline.NDAdvert, pipeline.L3Route}
}

func (l3Routing) NVE(*nveCtx, *emitter) {}

func (l3Routing) Port(*portCtx, *emitter) {}

var gatewayMAC = net.HardwareAddr(model.GatewayMAC[:])

// TTLPuntMaxLen is how much of a routed packet whose TTL expired the
// l3_route stage sends the controller: Ethernet (with a VLAN tag), an IPv6
// header with room for extension headers, and 8 bytes beyond, enough for
// the ICMP time-exceeded that quotes the original header + 8 bytes
// (RFC 792; RFC 4443 quotes more when it fits, this is enough).
const TTLPuntMaxLen = 256

func (l3Routing) VN(c *vnCtx, out *emitter) {
	vn := c.vn
	if !vn.Routed() || len(vn.Subnets) == 0 {
		return
	}
	vni := c.vni()
	// Tunnels from NVEs routing into the VN: classified as the VN's own
	// remotes' are, straight to forwarding (the routing NVE did port
	// security), and never back into a tunnel.
	tunID := flow.Exact(flow.TunID, flow.U64(uint64(vni)))
	for _, r := range c.sources {
		f := flow.Flow{Table: pipeline.Classify, Priority: PrioNormal,
			WriteMetadata: metaContext(vni, true), MetadataMask: pipeline.MetaContext, Goto: pipeline.L2Forward}
		if !c.prof.FlowTunnels {
			f.Match = flow.M(inPort(r.port), vlanNone(), tunID)
			out.flow(f)
			continue
		}
		for _, ip := range r.ips {
			g := f
			g.Match = flow.M(inPort(r.port), vlanNone(), tunID, flow.Exact(flow.TunIPv4Src, flow.IP(ip)))
			out.flow(g)
		}
	}
	if !c.has(pipeline.Neighbor) {
		return
	}
	answer(c.nveCtx, vni, gatewayMAC, vn.Gateways(), out)
	if !c.has(pipeline.L3Route) {
		out.warn("VN %s: profile %s has no l3_route stage: nothing routed", c.name, c.prof.Name)
		return
	}
	local := metaVNFrom(vni, false)
	// Frames from local VAPs to the gateway MAC are routed (ARP and ND
	// for the gateway were answered above, at a higher priority).
	out.flow(flow.Flow{Table: pipeline.Neighbor, Priority: PrioToRoute,
		Match: flow.M(local, flow.Exact(flow.EthDst, gatewayMAC)), Goto: pipeline.L3Route})
	ip4, ip6 := ethType(flow.EthTypeIPv4), ethType(flow.EthTypeIPv6)
	if c.prof.Extensions {
		// TTL 0 and 1 are not routed: flows of their own send the first
		// TTLPuntMaxLen bytes to the controller, which answers with an
		// ICMP time-exceeded from the gateway (ofctl/ttlexceeded.go), and
		// their counters count them as ttl_expired drops. On a profile
		// without nw_ttl, the route flows' dec_ttl meets them, and the
		// switch sends them as invalid-TTL packet-ins (asked for by the
		// southbound), which the controller counts and answers.
		for _, et := range []flow.MatchField{ip4, ip6} {
			for _, ttl := range []uint8{0, 1} {
				out.flow(flow.Flow{Table: pipeline.L3Route, Priority: PrioTTLDrop,
					Match:   flow.M(local, et, flow.Exact(flow.IPTTL, flow.U8(ttl))),
					Actions: []flow.Action{flow.Output{Port: flow.PortController, MaxLen: TTLPuntMaxLen}}})
			}
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
			m := flow.M(local, ip4, flow.Exact(flow.IPv4Dst, flow.IP(a)))
			if a.Is6() {
				m = flow.M(local, ip6, flow.Exact(flow.IPv6Dst, flow.IP(a)))
			}
			out.flow(flow.Flow{Table: pipeline.L3Route, Priority: PrioNormal, Match: m, Actions: acts})
		}
	}
}
