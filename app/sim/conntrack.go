package sim

import (
	"github.com/nva-project/nva/app/flow"
)

// The ct action, modelled: a switch keeps the connections committed on it
// (per zone, by addresses, IP protocol and TCP/UDP ports; ICMP by
// addresses alone) across Runs, as a host's connection tracker does. A
// packet of a committed connection is established (trk|est, plus rpl in
// the reply direction); any other is trk|new. TCP states, timeouts,
// related flows and NAT of replies (un-NAT) are not modelled; SNAT and DNAT
// translate the tracked packet (ct.go).

// ctKey is one direction of a connection.
type ctKey struct {
	zone     uint16
	proto    byte
	src, dst string
	sp, dp   uint16
}

func ctTuple(zone uint16, p *Packet) (ctKey, bool) {
	k := ctKey{zone: zone}
	switch {
	case p.Fields[flow.IPv4Src] != nil:
		k.src, k.dst = string(p.Fields[flow.IPv4Src]), string(p.Fields[flow.IPv4Dst])
	case p.Fields[flow.IPv6Src] != nil:
		k.src, k.dst = string(p.Fields[flow.IPv6Src]), string(p.Fields[flow.IPv6Dst])
	default:
		return k, false
	}
	if v := p.Fields[flow.IPProto]; len(v) == 1 {
		k.proto = v[0]
	}
	port := func(f string) uint16 { return uint16(be64(p.Fields[f])) }
	switch k.proto {
	case 6:
		k.sp, k.dp = port(flow.TCPSrc), port(flow.TCPDst)
	case 17:
		k.sp, k.dp = port(flow.UDPSrc), port(flow.UDPDst)
	}
	return k, true
}

func (k ctKey) reverse() ctKey {
	return ctKey{zone: k.zone, proto: k.proto, src: k.dst, dst: k.src, sp: k.dp, dp: k.sp}
}

// Committed reports how many connections the switch has committed.
func (s *Switch) Committed() int { return len(s.conns) }

// conntrack runs a ct action on p: sets its ct_state, commits, and with a
// table, resumes a copy of the packet there (as OVS's recirculation; the
// original goes on untracked). False: the packet stops here.
func (r *run) conntrack(a flow.CT, p *Packet, depth int) bool {
	k, ok := ctTuple(a.Zone, p)
	if !ok {
		r.errorf("ct on a packet that is not IP")
		return false
	}
	state := flow.CTTracked | flow.CTNew
	switch {
	case r.s.conns[k]:
		state = flow.CTTracked | flow.CTEstablished
	case r.s.conns[k.reverse()]:
		state = flow.CTTracked | flow.CTEstablished | flow.CTReply
	}
	if a.Commit && state&flow.CTNew != 0 {
		if r.s.conns == nil {
			r.s.conns = map[ctKey]bool{}
		}
		r.s.conns[k] = true
	}
	r.tracef(depth, "%s: ct_state=%#x", flow.FormatAction(a), state)
	if a.Table == "" {
		r.translate(a, p, depth+1) // ct.go
		return true
	}
	c := p.Clone()
	c.Fields[flow.CTState] = flow.U32(state)
	r.translate(a, &c, depth+1) // ct.go
	r.table(a.Table, c, depth, 1)
	return true
}

// TCP4 builds an IPv4 TCP packet with ports.
func TCP4(inPort uint32, srcMAC, dstMAC, src, dst string, sport, dport uint16) Packet {
	p := IPv4(inPort, srcMAC, dstMAC, src, dst)
	p.Fields[flow.TCPSrc] = flow.U16(sport)
	p.Fields[flow.TCPDst] = flow.U16(dport)
	return p
}

// Reply returns the reply to p as the destination's VAP sends it on
// inPort: addresses and ports swapped, from srcMAC to dstMAC.
func (p Packet) Reply(inPort uint32, srcMAC, dstMAC string) Packet {
	c := p.Clone()
	swap := func(a, b string) {
		if va, ok := c.Fields[a]; ok {
			c.Fields[a], c.Fields[b] = c.Fields[b], va
		}
	}
	swap(flow.IPv4Src, flow.IPv4Dst)
	swap(flow.IPv6Src, flow.IPv6Dst)
	swap(flow.TCPSrc, flow.TCPDst)
	swap(flow.UDPSrc, flow.UDPDst)
	c.Fields[flow.EthSrc], c.Fields[flow.EthDst] = mac(srcMAC), mac(dstMAC)
	c.Fields[flow.InPort] = flow.U32(inPort)
	c.Fields[flow.TunID], c.Fields[flow.TunIPv4Src], c.Fields[flow.TunIPv4Dst] = flow.U64(0), flow.U32(0), flow.U32(0)
	c.Fields[flow.IPTTL] = flow.U8(64)
	c.InPort = inPort
	return c
}
