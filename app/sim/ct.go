package sim

import "github.com/nva-project/nva/app/flow"

// ct models the ct action (flow.CT) without connection state: SNAT and
// DNAT translate the IPv4 source or destination of the tracked packet;
// a bare nat (the translation of an existing connection) translates
// nothing, as for a packet of no connection (the simulator keeps none:
// replies to NAT'd connections are checked on a real switch instead).
// With a table, the tracked packet resumes there, as OVS recirculates it;
// the packet the action list goes on with is the untracked original.
func (r *run) ct(a flow.CT, p *Packet, depth int) {
	r.tracef(depth, "%s", flow.FormatCT(a, r.s.prof.Number))
	if a.Table == "" {
		r.translate(a, p, depth)
		return
	}
	c := p.Clone()
	r.translate(a, &c, depth+1)
	r.tracef(depth+1, "resume in table %s (recirculation)", a.Table)
	r.table(a.Table, c, depth+1, 0)
}

func (r *run) translate(a flow.CT, p *Packet, depth int) {
	field := ""
	switch a.NAT {
	case flow.NATSrc:
		field = flow.IPv4Src
	case flow.NATDst:
		field = flow.IPv4Dst
	case flow.NATReverse:
		r.tracef(depth, "nat: no connection known to the simulator: not translated")
		return
	default:
		return
	}
	if !a.NATAddr.Is4() {
		r.errorf("ct nat to %s: only IPv4 NAT is simulated", a.NATAddr)
		return
	}
	if _, ok := p.Fields[field]; !ok {
		r.errorf("ct nat on a packet without %s", field)
		return
	}
	p.Fields[field] = flow.IP(a.NATAddr)
	r.tracef(depth, "nat: %s := %s", field, a.NATAddr)
}
