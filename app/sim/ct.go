package sim

import "github.com/nva-project/nva/app/flow"

// translate applies the NAT of a ct action (flow.CT) to the tracked
// packet: SNAT and DNAT translate its IPv4 source or destination; a bare
// nat (the translation of an existing connection) translates nothing (the
// simulator keeps no NAT bindings: replies to NAT'd connections are checked
// on a real switch instead).
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
