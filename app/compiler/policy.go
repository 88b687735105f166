package compiler

import (
	"fmt"
	"net/netip"

	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/pipeline"
)

// l3Policy is the inter-VN policy of an L3 domain (model.PolicyRule):
// IP a local VAP sends to the gateway MAC for a subnet of another VN of
// its domain is routed only when the domain's rules allow it; without a
// rule, it is dropped (VNs are isolated by default). The destination VN
// is known before l3_route from the destination address alone: subnets of
// one domain never overlap. Traffic to the VN's own subnets (and to no
// VN of the domain) is not subject to policy.
//
// With connection tracking (profiles realizing l3_conntrack, OVS):
// neighbor sends such IP to l3_conntrack, which runs it through conntrack
// in the domain's zone into l3_policy; there established and related
// packets go on to l3_route, the rules decide for the others (allow:
// commit, then l3_route; deny: drop), and the rest drops. Routing is
// asymmetric, so a reply is routed by the NVE of the replying port: every
// routed packet arriving from a tunnel (source MAC the gateway MAC) is
// committed in the zone before delivery, so that NVE knows the
// connection and the reply is established there.
//
// Without (strict OpenFlow 1.3): the rules are evaluated statelessly in
// the neighbor stage, above its jump to l3_route: allow jumps, deny and
// the default drop; replies need a rule of their own. TCP/UDP port ranges
// are matched as exact ports there (OpenFlow 1.3 cannot mask them), at
// most maxStrictPorts per rule: a wider allow is left out (with a
// warning), a wider deny denies every port of its protocol.
type l3Policy struct{}

func (l3Policy) Name() string { return "L3 policy" }
func (l3Policy) Stages() []string {
	return []string{pipeline.Classify, pipeline.Neighbor, pipeline.L3Conntrack, pipeline.L3Policy}
}

func (l3Policy) NVE(*nveCtx, *emitter) {}

func (l3Policy) Port(*portCtx, *emitter) {}

// Priorities of the policy flows.
const (
	PrioPolicyEst     = 250 // l3_policy: established/related
	PrioPolicyOwn     = 199 // neighbor (stateless): the VN's own subnets, above every rule
	PrioPolicyRuleTop = 198 // the first rule; rule i at PrioPolicyRuleTop-i (at most model.MaxPolicyRules)
	PrioPolicyToCT    = 60  // neighbor: to another VN of the domain -> l3_conntrack
	PrioPolicyDefault = 60  // neighbor (stateless): to another VN of the domain, no rule: drop
	PrioPolicyArrival = PrioNormal + 10
	maxStrictPorts    = 64
)

// vnPolicy is what the policy of a routed VN reads on this NVE (part of
// the VN's shared part; its fingerprint covers it).
type vnPolicy struct {
	zone   uint16
	own    []netip.Prefix
	others map[string][]netip.Prefix // the domain's other VNs with subnets, by name
	names  []string                  // others' names, sorted
	rules  []*model.PolicyRule       // the domain's rules in evaluation order
}

// CTZone is the conntrack zone of an L3 domain's policy: 1 + its lowest
// VNI modulo 0xefff, in 1..0xefff (zones are 16 bits; 0xf000 and up are
// left to the L3 gateways' NAT). Two domains whose lowest VNIs differ by
// a multiple of 0xefff share a zone.
func CTZone(lowestVNI uint32) uint16 { return uint16(1 + lowestVNI%0xefff) }

// findPolicy fills st.policy for a routed VN in an L3 domain with at least
// one other VN.
func (v *nveView) findPolicy(st *vnView) {
	dk := st.vn.DomainKey()
	if dk == "" || len(st.vn.Subnets) == 0 {
		return
	}
	p := &vnPolicy{own: st.vn.Prefixes(), others: map[string][]netip.Prefix{}}
	lowest := st.vn.VNI
	for _, o := range v.routedPeers(st.vn) {
		lowest = min(lowest, o.VNI)
		if o.Name == st.name || len(o.Subnets) == 0 {
			continue
		}
		p.others[o.Name] = o.Prefixes()
		p.names = append(p.names, o.Name)
	}
	if len(p.names) == 0 {
		return
	}
	p.zone = CTZone(lowest)
	p.rules = v.in.Snapshot.DomainRules(dk)
	st.policy = p
}

// policy adds the VN's policy to its shared part's fingerprint.
func (h *fnv64) policy(st *vnView) {
	p := st.policy
	if p == nil {
		h.byte(0)
		return
	}
	h.byte(1)
	h.u64(uint64(p.zone))
	for _, n := range p.names {
		h.str(n)
		for _, q := range p.others[n] {
			h.str(q.String())
		}
	}
	h.u64(uint64(len(p.rules)))
	for _, r := range p.rules {
		h.str(r.Name)
		h.u64(r.Revision)
		if r.Revision == 0 {
			h.str(fmt.Sprintf("%+v", *r))
		}
	}
}

func (l3Policy) VN(c *vnCtx, out *emitter) {
	p := c.policy
	if p == nil || !c.has(pipeline.Neighbor) || !c.has(pipeline.L3Route) {
		return
	}
	vni := c.vni()
	local := metaVNFrom(vni, false)
	gw := flow.Exact(flow.EthDst, gatewayMAC)
	stateful := c.has(pipeline.L3Conntrack) && c.has(pipeline.L3Policy) && c.prof.Extensions
	if !stateful {
		// Stateless, in the neighbor stage: own subnets first, the rules,
		// then every other VN of the domain denied.
		for _, q := range p.own {
			out.flow(flow.Flow{Table: pipeline.Neighbor, Priority: PrioPolicyOwn,
				Match: flow.M(local, gw, familyOf(q), dstMatch(q)), Goto: pipeline.L3Route})
		}
		base := flow.M(local, gw)
		c.ruleFlows(p, pipeline.Neighbor, base, out, func(allow bool) flow.Flow {
			if allow {
				return flow.Flow{Goto: pipeline.L3Route}
			}
			return flow.Flow{}
		})
		for _, n := range p.names {
			for _, q := range p.others[n] {
				out.flow(flow.Flow{Table: pipeline.Neighbor, Priority: PrioPolicyDefault,
					Match: flow.M(local, gw, familyOf(q), dstMatch(q))})
			}
		}
		return
	}
	ct := flow.CT{Zone: p.zone}
	commit := flow.CT{Zone: p.zone, Commit: true}
	for _, n := range p.names {
		for _, q := range p.others[n] {
			out.flow(flow.Flow{Table: pipeline.Neighbor, Priority: PrioPolicyToCT,
				Match: flow.M(local, gw, familyOf(q), dstMatch(q)), Goto: pipeline.L3Conntrack})
		}
	}
	lookup := ct
	lookup.Table = pipeline.L3Policy
	for _, et := range []uint16{flow.EthTypeIPv4, flow.EthTypeIPv6} {
		// From local VAPs: through conntrack into l3_policy.
		out.flow(flow.Flow{Table: pipeline.L3Conntrack, Priority: PrioNormal,
			Match: flow.M(local, ethType(et)), Actions: []flow.Action{lookup}})
		// Routed into the VN from a tunnel: committed, then delivered.
		out.flow(flow.Flow{Table: pipeline.L3Conntrack, Priority: PrioNormal,
			Match: flow.M(metaVNFrom(vni, true), ethType(et)), Actions: []flow.Action{commit}, Goto: pipeline.L2Forward})
		for _, st := range []uint32{flow.CTEstablished, flow.CTRelated} {
			bits := flow.CTTracked | st
			out.flow(flow.Flow{Table: pipeline.L3Policy, Priority: PrioPolicyEst,
				Match: flow.M(local, ethType(et), flow.Masked(flow.CTState, flow.U32(bits), flow.U32(bits))), Goto: pipeline.L3Route})
		}
	}
	out.flow(flow.Flow{Table: pipeline.L3Conntrack, Priority: PrioVNDefault,
		Match: flow.M(metaVNFrom(vni, true)), Goto: pipeline.L2Forward})
	trk := flow.Masked(flow.CTState, flow.U32(flow.CTTracked), flow.U32(flow.CTTracked))
	c.ruleFlows(p, pipeline.L3Policy, flow.M(local, trk), out, func(allow bool) flow.Flow {
		if allow {
			return flow.Flow{Actions: []flow.Action{commit}, Goto: pipeline.L3Route}
		}
		return flow.Flow{}
	})
	// No rule: drop (explicit, so the VN's denied packets are counted).
	out.flow(flow.Flow{Table: pipeline.L3Policy, Priority: PrioVNDefault, Match: flow.M(local)})
	// Routed arrivals: classified into the VN as its tunnels are, to
	// l3_conntrack instead of l2_forward.
	srcMAC := flow.Exact(flow.EthSrc, gatewayMAC)
	tunID := flow.Exact(flow.TunID, flow.U64(uint64(vni)))
	seen := map[string]bool{}
	for _, r := range append(append([]remoteNVE(nil), c.remotes...), c.sources...) {
		if seen[r.nve.Name] || !c.prof.FlowTunnels {
			continue
		}
		seen[r.nve.Name] = true
		for _, ip := range r.ips {
			out.flow(flow.Flow{Table: pipeline.Classify, Priority: PrioPolicyArrival,
				Match:         flow.M(inPort(r.port), vlanNone(), tunID, flow.Exact(flow.TunIPv4Src, flow.IP(ip)), srcMAC),
				WriteMetadata: metaContext(vni, true), MetadataMask: pipeline.MetaContext, Goto: pipeline.L3Conntrack})
		}
	}
}

func familyOf(q netip.Prefix) flow.MatchField {
	if q.Addr().Is4() {
		return ethType(flow.EthTypeIPv4)
	}
	return ethType(flow.EthTypeIPv6)
}

func dstMatch(q netip.Prefix) flow.MatchField { return addrMatch(q, flow.IPv4Dst, flow.IPv6Dst) }

func addrMatch(q netip.Prefix, f4, f6 string) flow.MatchField {
	f := f4
	if q.Addr().Is6() {
		f = f6
	}
	if q.Bits() == q.Addr().BitLen() {
		return flow.Exact(f, flow.IP(q.Addr()))
	}
	return flow.Masked(f, flow.IP(q.Addr()), prefixMask(q))
}

// ruleFlows emits the domain's rules that concern packets from this VN,
// in evaluation order, into stage: base plus the rule's matches, with
// what verdict returns for allow or deny.
func (c *vnCtx) ruleFlows(p *vnPolicy, stage string, base flow.Match, out *emitter, verdict func(allow bool) flow.Flow) {
	for i, r := range p.rules {
		prio := uint16(PrioPolicyRuleTop - i)
		if i >= model.MaxPolicyRules {
			out.warn("VN %s: rule %s: more than %d rules in l3_domain %s; left out", c.name, r.Name, model.MaxPolicyRules, r.L3Domain)
			continue
		}
		srcs, ok := c.endpoint(p, r, r.Source, true, out)
		if !ok {
			continue
		}
		dsts, ok := c.endpoint(p, r, r.Dest, false, out)
		if !ok {
			continue
		}
		allow := r.Action == model.PolicyAllow
		ports, ok := c.portMatches(r, allow, out)
		if !ok {
			continue
		}
		for _, src := range srcs {
			for _, dst := range dsts {
				for _, fam := range families(src, dst, r.Protocol) {
					m := append(base.Slice(), ethType(fam))
					if src.IsValid() {
						m = append(m, addrMatch(src, flow.IPv4Src, flow.IPv6Src))
					}
					if dst.IsValid() {
						m = append(m, dstMatch(dst))
					}
					if proto, ok := ipProto[r.Protocol]; ok {
						m = append(m, flow.Exact(flow.IPProto, flow.U8(proto)))
					}
					for _, pm := range ports {
						f := verdict(allow)
						f.Table, f.Priority = stage, prio
						f.Match = flow.M(append(m, pm.Slice()...)...)
						out.flow(f)
					}
				}
			}
		}
	}
}

var ipProto = map[model.PolicyProtocol]uint8{model.ProtoTCP: 6, model.ProtoUDP: 17, model.ProtoICMP: 1, model.ProtoICMPv6: 58}

// endpoint resolves a rule's source (or destination) for packets from
// this VN: the prefixes to match (an invalid prefix: any address), or
// false when the rule does not concern them (a source VN other than this
// one, a destination VN that is this one or not of the domain).
func (c *vnCtx) endpoint(p *vnPolicy, r *model.PolicyRule, e model.PolicyEndpoint, source bool, out *emitter) ([]netip.Prefix, bool) {
	switch {
	case e.VN != "" && source:
		return []netip.Prefix{{}}, e.VN == c.name
	case e.VN != "":
		qs, ok := p.others[e.VN]
		if !ok && e.VN != c.name {
			out.warn("VN %s: rule %s: destination vn %s is not a VN with subnets of l3_domain %s; rule left out", c.name, r.Name, e.VN, r.L3Domain)
		}
		return qs, ok
	case e.CIDR != "":
		q, ok := e.Prefix()
		return []netip.Prefix{q}, ok
	}
	return []netip.Prefix{{}}, true
}

// families are the EtherTypes a (source, destination) pair of a rule with
// protocol proto can match (none: no packet matches both).
func families(src, dst netip.Prefix, proto model.PolicyProtocol) []uint16 {
	v4, v6 := true, true
	for _, q := range []netip.Prefix{src, dst} {
		if q.IsValid() {
			v4, v6 = v4 && q.Addr().Is4(), v6 && q.Addr().Is6()
		}
	}
	switch proto {
	case model.ProtoICMP:
		v6 = false
	case model.ProtoICMPv6:
		v4 = false
	}
	var out []uint16
	if v4 {
		out = append(out, flow.EthTypeIPv4)
	}
	if v6 {
		out = append(out, flow.EthTypeIPv6)
	}
	return out
}

// portMatches returns the destination-port matches of a rule (one empty
// match when it has no ports), false when the rule is left out.
func (c *vnCtx) portMatches(r *model.PolicyRule, allow bool, out *emitter) ([]flow.Match, bool) {
	if len(r.Ports) == 0 || (r.Protocol != model.ProtoTCP && r.Protocol != model.ProtoUDP) {
		return []flow.Match{{}}, true
	}
	field := flow.TCPDst
	if r.Protocol == model.ProtoUDP {
		field = flow.UDPDst
	}
	var ms []flow.Match
	if c.prof.Extensions {
		for _, pr := range r.Ports {
			for _, vm := range portPrefixes(pr.From, pr.To) {
				if vm[1] == 0xffff {
					ms = append(ms, flow.M(flow.Exact(field, flow.U16(vm[0]))))
				} else {
					ms = append(ms, flow.M(flow.Masked(field, flow.U16(vm[0]), flow.U16(vm[1]))))
				}
			}
		}
		return ms, true
	}
	n := 0
	for _, pr := range r.Ports {
		n += int(pr.To) - int(pr.From) + 1
	}
	if n > maxStrictPorts {
		if allow {
			out.warn("VN %s: rule %s: %d ports are more than profile %s matches (%d, exact ports only); allow rule left out", c.name, r.Name, n, c.prof.Name, maxStrictPorts)
			return nil, false
		}
		out.warn("VN %s: rule %s: %d ports are more than profile %s matches (%d, exact ports only); every %s port denied", c.name, r.Name, n, c.prof.Name, maxStrictPorts, r.Protocol)
		return []flow.Match{{}}, true
	}
	for _, pr := range r.Ports {
		for p := int(pr.From); p <= int(pr.To); p++ {
			ms = append(ms, flow.M(flow.Exact(field, flow.U16(uint16(p)))))
		}
	}
	return ms, true
}

// portPrefixes splits [lo, hi] into value/mask pairs (the fewest aligned
// power-of-two blocks).
func portPrefixes(lo, hi uint16) [][2]uint16 {
	var out [][2]uint16
	l, h := uint32(lo), uint32(hi)
	for l <= h {
		size := uint32(1)
		for l%(size*2) == 0 && l+size*2-1 <= h && size < 1<<16 {
			size *= 2
		}
		out = append(out, [2]uint16{uint16(l), uint16(0xffff &^ (size - 1))})
		l += size
	}
	return out
}
