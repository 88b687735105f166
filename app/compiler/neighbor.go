package compiler

import (
	"net"
	"net/netip"

	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/pipeline"
)

// neighborResponder answers ARP requests and neighbor solicitations for
// addresses known in the VN, and applies the VN's unknown-target policy
// (see "ARP and neighbor discovery" in the package doc). What the profile
// can do decides how a known target is answered: in the switch (ARP with
// ARPInSwitch, ND with NDInSwitch: the answer is built by set_field and
// move, completed in nd_advert and sent back by reply), or by the
// controller (the request leaves the neighbor stage as a packet-in).
type neighborResponder struct{}

func (neighborResponder) Name() string { return "neighbor responder" }
func (neighborResponder) Stages() []string {
	return []string{pipeline.Neighbor, pipeline.NDAdvert, pipeline.Reply}
}

// NVE emits the reply stage's default: answers built in the switch go
// back out of the port they came from. An untagged VAP needs nothing
// more (a tagged one has a flow of its own, Port, that re-tags them);
// only the neighbor stage's answers for frames from local VAPs reach the
// stage.
func (neighborResponder) NVE(c *nveCtx, out *emitter) {
	if c.has(pipeline.Neighbor) && c.has(pipeline.Reply) {
		out.flow(flow.Flow{Table: pipeline.Reply, Priority: PrioReplyDefault,
			Actions: []flow.Action{flow.Output{Port: flow.PortInPort}}})
	}
}

// PrioReplyDefault is the reply stage's default (back out of the ingress
// port), below a tagged VAP's own reply flow (PrioNormal).
const PrioReplyDefault = 1

// VN emits nothing: the VN's neighbor defaults are the same on every NVE
// (VNCommon).
func (neighborResponder) VN(*vnCtx, *emitter) {}

// VNCommon emits the VN's neighbor defaults: it reads the VN's VNI and
// unknown-target policy and the profile (see commonFeature).
func (neighborResponder) VNCommon(c *vnCtx, out *emitter) {
	if !c.has(pipeline.Neighbor) {
		return
	}
	meta := metaVN(c.vni())
	arp, req := ethType(flow.EthTypeARP), flow.Exact(flow.ARPOp, flow.U16(1))
	ip6, icmp6 := ethType(flow.EthTypeIPv6), flow.Exact(flow.IPProto, flow.U8(flow.ProtoICMPv6))
	ns := flow.Exact(flow.ICMPv6Type, flow.U8(135))
	fwd := func(prio uint16, m ...flow.MatchField) {
		out.flow(flow.Flow{Table: pipeline.Neighbor, Priority: prio, Match: flow.M(m...), Goto: pipeline.Next})
	}
	// Everything else of the VN goes on to forwarding.
	fwd(PrioVNDefault, meta)
	// Not answered: ARP probes, DAD, NS without a source link-layer
	// option (and, per port, a port's requests for its own addresses).
	fwd(PrioNoAnswer, meta, arp, req, flow.Exact(flow.ARPSPA, flow.IP(ipv4Zero)))
	fwd(PrioNoAnswer, meta, ip6, icmp6, ns, flow.Exact(flow.IPv6Src, flow.IP(ipv6Zero)))
	fwd(PrioNoSLL, meta, ip6, icmp6, ns, flow.Exact(flow.NDSLL, zeroMAC))
	if c.vn.Unknown == model.UnknownDrop || !c.vn.Bridged() {
		// (An l3 VN floods nothing: unknown targets are dropped too.)
		out.flow(flow.Flow{Table: pipeline.Neighbor, Priority: PrioNeighDrop, Match: flow.M(meta, arp, req)})
		out.flow(flow.Flow{Table: pipeline.Neighbor, Priority: PrioNeighDrop, Match: flow.M(meta, ip6, icmp6, ns)})
	}
}

// Port emits a local VAP's requests for its own addresses (forwarded
// unanswered) and its reply flow, and the answers for the addresses the
// port binds first in the VN.
func (neighborResponder) Port(c *portCtx, out *emitter) {
	if !c.has(pipeline.Neighbor) {
		return
	}
	meta := metaVN(c.vni)
	arp, req := ethType(flow.EthTypeARP), flow.Exact(flow.ARPOp, flow.U16(1))
	ip6, icmp6 := ethType(flow.EthTypeIPv6), flow.Exact(flow.IPProto, flow.U8(flow.ProtoICMPv6))
	ns := flow.Exact(flow.ICMPv6Type, flow.U8(135))
	if v := c.part.vap; v != nil {
		in := inPort(v.ofp)
		for _, a := range v.addrs {
			if a.Is4() {
				out.flow(flow.Flow{Table: pipeline.Neighbor, Priority: PrioOwnAddr, Goto: pipeline.Next,
					Match: flow.M(in, meta, arp, req, flow.Exact(flow.ARPTPA, flow.IP(a)))})
			} else {
				out.flow(flow.Flow{Table: pipeline.Neighbor, Priority: PrioOwnAddr, Goto: pipeline.Next,
					Match: flow.M(in, meta, ip6, icmp6, ns, flow.Exact(flow.NDTarget, flow.IP(a)))})
			}
		}
		if c.has(pipeline.Reply) && v.vlan != 0 {
			// Answers built in the switch go back out of their VAP,
			// re-tagged (untagged VAPs: NVE's default).
			out.flow(flow.Flow{Table: pipeline.Reply, Priority: PrioNormal,
				Match: flow.M(in, meta), Actions: toVAP(*v, flow.PortInPort)})
		}
	}
	responders(c, out)
}

// punt sends the packet to the controller, whole.
var punt = []flow.Action{flow.Output{Port: flow.PortController, MaxLen: 0xffff}}

// responders answers ARP requests and neighbor solicitations for the
// addresses the port answers for (it is the first port of the VN by name
// to bind them), in the switch where the profile can, else by sending
// them to the controller.
func responders(c *portCtx, out *emitter) {
	if len(c.part.answers) == 0 {
		return
	}
	answer(c.nveCtx, c.vni, c.part.port.HardwareAddr(), c.part.answers, out)
}

// answer emits the flows that answer ARP requests and neighbor
// solicitations in VN vni for addrs with mac: in the switch where the
// profile can, else by sending them to the controller.
func answer(c *nveCtx, vni uint32, mac net.HardwareAddr, addrs []netip.Addr, out *emitter) {
	meta := metaVN(vni)
	arp, req := ethType(flow.EthTypeARP), flow.Exact(flow.ARPOp, flow.U16(1))
	ip6, icmp6 := ethType(flow.EthTypeIPv6), flow.Exact(flow.IPProto, flow.U8(flow.ProtoICMPv6))
	ns := flow.Exact(flow.ICMPv6Type, flow.U8(135))
	for _, a := range addrs {
		if a.Is4() {
			ip := flow.IP(a)
			f := flow.Flow{Table: pipeline.Neighbor, Priority: PrioAnswer,
				Match: flow.M(meta, arp, req, flow.Exact(flow.ARPTPA, ip))}
			if c.prof.ARPInSwitch {
				f.Actions, f.Goto = c.arpReply(mac, ip), pipeline.Reply
			} else {
				f.Actions = punt
			}
			out.flow(f)
			continue
		}
		f := flow.Flow{Table: pipeline.Neighbor, Priority: PrioAnswer,
			Match: flow.M(meta, ip6, icmp6, ns, flow.Exact(flow.NDTarget, flow.IP(a)))}
		if c.prof.NDInSwitch {
			f.Actions, f.Goto = ndAdvert(mac, a), pipeline.NDAdvert
			out.flow(flow.Flow{Table: pipeline.NDAdvert, Priority: PrioNormal,
				Match:   flow.M(meta, ip6, icmp6, flow.Exact(flow.ICMPv6Type, flow.U8(136)), flow.Exact(flow.NDTarget, flow.IP(a))),
				Actions: []flow.Action{flow.SetField{Field: flow.NDTLL, Value: flow.MAC(mac)}}, Goto: pipeline.Next})
		} else {
			f.Actions = punt
		}
		out.flow(f)
	}
}

// The constant actions of the answers, built once (the IR is never
// modified once built, so flows share them).
var (
	moveEthSrcToDst flow.Action = flow.Move{Src: flow.EthSrc, Dst: flow.EthDst, Bits: 48}
	setARPOpReply   flow.Action = flow.SetField{Field: flow.ARPOp, Value: flow.U16(2)}
	moveSHAToTHA    flow.Action = flow.Move{Src: flow.ARPSHA, Dst: flow.ARPTHA, Bits: 48}
	moveSPAToTPA    flow.Action = flow.Move{Src: flow.ARPSPA, Dst: flow.ARPTPA, Bits: 32}
	moveIPv6SrcDst  flow.Action = flow.Move{Src: flow.IPv6Src, Dst: flow.IPv6Dst, Bits: 128}
	setICMPv6NA     flow.Action = flow.SetField{Field: flow.ICMPv6Type, Value: flow.U8(136)}
	setOptionTLL    flow.Action = flow.SetField{Field: flow.NDOptionsType, Value: flow.U8(2)}
	setNAFlagsSO    flow.Action = flow.SetField{Field: flow.NDReserved, Value: flow.U32(NDReservedSO)}
)

// arpReply turns an ARP request for ip (4 bytes) into the reply "ip is at
// mac". The values are shared with the caller's flow.
func arpReply(mac net.HardwareAddr, ip []byte) []flow.Action {
	m := []byte(mac)
	return []flow.Action{
		moveEthSrcToDst,
		flow.SetField{Field: flow.EthSrc, Value: m},
		setARPOpReply,
		moveSHAToTHA,
		flow.SetField{Field: flow.ARPSHA, Value: m},
		moveSPAToTPA,
		flow.SetField{Field: flow.ARPSPA, Value: ip},
	}
}

// arpReply is arpReply(mac, ip), through the pool when there is one: a
// port's answers are the same on the NVE hosting it and, in the part the
// pool shares, on the others of its VN.
func (c *nveCtx) arpReply(mac net.HardwareAddr, ip []byte) []flow.Action {
	if c.pool == nil {
		return arpReply(mac, ip)
	}
	return c.pool.arpReply(mac, ip)
}

// ndAdvert turns a neighbor solicitation for ip (with a source link-layer
// option) into the solicited advertisement "ip is at mac", in two steps
// because OVS accepts set_field nd_tll only in a flow that matches
// icmpv6_type=136: here the addresses are swapped, the type becomes 136,
// the flags S and O, and the source link-layer option becomes a target
// link-layer option; the nd_advert stage then writes mac into it. OVS
// updates the ICMPv6 checksum; the hop limit stays 255. Verified on OVS
// 3.1's userspace datapath: the kernel of the soliciting host accepts the
// advertisement (TestRealOVSAnswersARPAndND).
func ndAdvert(mac net.HardwareAddr, ip netip.Addr) []flow.Action {
	return []flow.Action{
		moveEthSrcToDst,
		flow.SetField{Field: flow.EthSrc, Value: flow.MAC(mac)},
		moveIPv6SrcDst,
		flow.SetField{Field: flow.IPv6Src, Value: flow.IP(ip)},
		setICMPv6NA,
		setOptionTLL,
		setNAFlagsSO,
	}
}
