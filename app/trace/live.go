package trace

// Live traces. A live trace sends a real, marked packet into the source
// VAP of an OVS-profile NVE (the southbound's packet-out, submitted to
// table 0 as if it had arrived on the VAP) and observes it at every
// NVE it reaches. The mark is the IP DSCP codepoint TraceDSCP, which
// survives VXLAN, GENEVE and GRE (the inner header is carried as is);
// the packet also carries a per-trace nonce in its payload (and the
// trace's tag as IPv4 identification), so a tenant's own packets with
// that DSCP are never taken for the trace's.
//
// The southbound observes by shadowing the pipeline for the duration of
// the trace: on each observed NVE it copies every installed nva flow
// into a temporary flow that matches the mark too, at a priority above
// every nva flow (keeping their order), with the same instructions
// preceded by a copy to the controller; plus a catch-all per table for
// misses. A marked packet so takes exactly the path it would take
// unmarked, and each table it goes through reports which flow matched.
// The temporary flows carry a cookie outside nva's tag (the
// reconciliation never touches them), a hard timeout, and are deleted
// when the trace ends. This file is the pure part: the packet, and the
// assembly and comparison of what the southbound observed.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/sim"
)

// TraceDSCP is the DSCP codepoint nva reserves for live trace packets:
// 63 (0b111111), from pool 2 of RFC 2474 (xxxx11, experimental or local
// use). Tenant packets that carry it are copied to the controller (and
// ignored there) while a live trace runs, and forwarded as usual.
const TraceDSCP = 63

// LivePacket is a live trace's packet and where it enters.
type LivePacket struct {
	// NVE and Interface are the source VAP's NVE and interface; VLAN is
	// the tag the frame carries (0: untagged).
	NVE, Interface string
	// Frame is the Ethernet frame to inject.
	Frame []byte
	// Nonce is the payload marker that tells the trace's packet apart.
	Nonce []byte
	// IPv6 says the packet is IPv6 (else IPv4).
	IPv6 bool
	// SrcIP and DstIP are the packet's addresses (4 or 16 bytes).
	SrcIP, DstIP []byte
}

// Is reports whether frame (as a switch reported it: its MACs, VLAN tags
// and TTL may have changed on the way) is this trace's packet: it carries
// the nonce and the packet's source and destination addresses. A
// tenant's answer to it (an echo reply, an ICMP error quoting it) has
// the addresses the other way round and is not taken for it.
func (p *LivePacket) Is(frame []byte) bool {
	if len(p.Nonce) == 0 || !bytes.Contains(frame, p.Nonce) || len(frame) < 14 {
		return false
	}
	off := 12
	et := binary.BigEndian.Uint16(frame[off:])
	for (et == flow.EthTypeVLAN || et == 0x88a8) && len(frame) >= off+6 {
		off += 4
		et = binary.BigEndian.Uint16(frame[off:])
	}
	ip := frame[off+2:]
	switch {
	case et == flow.EthTypeIPv4 && !p.IPv6 && len(ip) >= 20:
		return bytes.Equal(ip[12:16], p.SrcIP) && bytes.Equal(ip[16:20], p.DstIP)
	case et == flow.EthTypeIPv6 && p.IPv6 && len(ip) >= 40:
		return bytes.Equal(ip[8:24], p.SrcIP) && bytes.Equal(ip[24:40], p.DstIP)
	}
	return false
}

// LiveFrame checks that req can be traced live and builds its frame:
// the same packet Run simulates, with DSCP TraceDSCP, TTL 64, IPv4
// identification tag and nonce as the payload (ICMP echo data, UDP or
// TCP payload). ARP has no DSCP to mark: an InputError on field live.
func LiveFrame(snap *model.Snapshot, req Request, tag uint16, nonce []byte) (*LivePacket, error) {
	src, ok := snap.Ports.Lookup(req.Port)
	if !ok || req.Port == "" {
		return nil, inputErr("port", "no such port %q", req.Port)
	}
	if strings.EqualFold(req.Protocol, ProtoARP) {
		return nil, inputErr("live", "live traces need an IP packet (arp has no DSCP to mark)")
	}
	build, err := buildPacket(snap, src, req)
	if err != nil {
		return nil, err
	}
	p := build(0)
	frame, err := encodeFrame(p, tag, nonce)
	if err != nil {
		return nil, err
	}
	lp := &LivePacket{NVE: src.NVE, Interface: src.Interface, Frame: frame, Nonce: slices.Clone(nonce),
		IPv6: p.Get(flow.IPv6Src) != nil, SrcIP: slices.Clone(p.Get(flow.IPv4Src)), DstIP: slices.Clone(p.Get(flow.IPv4Dst))}
	if lp.IPv6 {
		lp.SrcIP, lp.DstIP = slices.Clone(p.Get(flow.IPv6Src)), slices.Clone(p.Get(flow.IPv6Dst))
	}
	return lp, nil
}

// encodeFrame builds the Ethernet frame of an IP sim.Packet.
func encodeFrame(p sim.Packet, tag uint16, payload []byte) ([]byte, error) {
	b := append([]byte(nil), p.Get(flow.EthDst)...)
	b = append(b, p.Get(flow.EthSrc)...)
	if v := p.Get(flow.VlanVID); len(v) == 2 && binary.BigEndian.Uint16(v)&flow.VIDPresent != 0 {
		vid := binary.BigEndian.Uint16(v)
		b = binary.BigEndian.AppendUint16(b, flow.EthTypeVLAN)
		b = binary.BigEndian.AppendUint16(b, vid&0x0fff)
	}
	proto := uint8(0)
	if v := p.Get(flow.IPProto); len(v) == 1 {
		proto = v[0]
	}
	v6 := p.Get(flow.IPv6Src) != nil
	var src, dst []byte
	if v6 {
		src, dst = p.Get(flow.IPv6Src), p.Get(flow.IPv6Dst)
	} else {
		src, dst = p.Get(flow.IPv4Src), p.Get(flow.IPv4Dst)
	}
	if src == nil || dst == nil {
		return nil, inputErr("live", "live traces need an IP packet")
	}
	var l4 []byte
	switch proto {
	case 1: // ICMP echo request
		l4 = []byte{8, 0, 0, 0, byte(tag >> 8), byte(tag), 0, 1}
		l4 = append(l4, payload...)
		binary.BigEndian.PutUint16(l4[2:4], checksum(0, l4))
	case flow.ProtoICMPv6: // echo request
		l4 = []byte{128, 0, 0, 0, byte(tag >> 8), byte(tag), 0, 1}
		l4 = append(l4, payload...)
		binary.BigEndian.PutUint16(l4[2:4], checksum(pseudo(src, dst, proto, len(l4)), l4))
	case 17:
		l4 = make([]byte, 8)
		copy(l4[0:2], p.Get(flow.UDPSrc))
		copy(l4[2:4], p.Get(flow.UDPDst))
		l4 = append(l4, payload...)
		binary.BigEndian.PutUint16(l4[4:6], uint16(len(l4)))
		c := checksum(pseudo(src, dst, proto, len(l4)), l4)
		if c == 0 {
			c = 0xffff
		}
		binary.BigEndian.PutUint16(l4[6:8], c)
	case 6: // a SYN carrying the nonce
		l4 = make([]byte, 20)
		binary.BigEndian.PutUint16(l4[0:2], 40000)
		binary.BigEndian.PutUint16(l4[2:4], 80)
		binary.BigEndian.PutUint32(l4[4:8], uint32(tag))
		l4[12] = 5 << 4
		l4[13] = 0x02
		binary.BigEndian.PutUint16(l4[14:16], 0xffff)
		l4 = append(l4, payload...)
		binary.BigEndian.PutUint16(l4[16:18], checksum(pseudo(src, dst, proto, len(l4)), l4))
	default:
		return nil, inputErr("protocol", "live traces send icmp, tcp or udp")
	}
	if v6 {
		b = binary.BigEndian.AppendUint16(b, flow.EthTypeIPv6)
		h := make([]byte, 40)
		binary.BigEndian.PutUint32(h[0:4], 6<<28|uint32(TraceDSCP)<<22)
		binary.BigEndian.PutUint16(h[4:6], uint16(len(l4)))
		h[6], h[7] = proto, 64
		copy(h[8:24], src)
		copy(h[24:40], dst)
		return append(append(b, h...), l4...), nil
	}
	b = binary.BigEndian.AppendUint16(b, flow.EthTypeIPv4)
	h := make([]byte, 20)
	h[0], h[1] = 0x45, TraceDSCP<<2
	binary.BigEndian.PutUint16(h[2:4], uint16(20+len(l4)))
	binary.BigEndian.PutUint16(h[4:6], tag)
	h[8], h[9] = 64, proto
	copy(h[12:16], src)
	copy(h[16:20], dst)
	binary.BigEndian.PutUint16(h[10:12], checksum(0, h))
	return append(append(b, h...), l4...), nil
}

// pseudo is the sum of the IPv4/IPv6 pseudo-header.
func pseudo(src, dst []byte, proto uint8, n int) uint32 {
	var s uint32
	for _, a := range [][]byte{src, dst} {
		for i := 0; i+1 < len(a); i += 2 {
			s += uint32(binary.BigEndian.Uint16(a[i:]))
		}
	}
	return s + uint32(proto) + uint32(n)
}

// checksum is the Internet checksum of b, starting from sum.
func checksum(sum uint32, b []byte) uint16 {
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// Observation is one table the live packet went through on one NVE, as
// the southbound saw it (a packet-in from the trace's shadow flow).
type Observation struct {
	NVE string
	// Arrival is how the packet entered the NVE (set on the observation
	// of the first table).
	Arrival string
	// Step is the table, the installed flow that matched (with the
	// switch's port numbers) and its verdict.
	Step Step
	// Outputs are the copies the flow sent, resolved (ports by name,
	// tunnels with the remote NVE and VNI), on the last step of a path.
	Outputs []Output
}

// Observed is what the southbound saw of a live trace.
type Observed struct {
	// Observations in the order they arrived (per NVE, in table order).
	Observations []Observation
	// Unobserved names the NVEs the trace could not watch and why (a
	// strict OpenFlow 1.3 NVE, an NVE not connected to this node).
	Unobserved map[string]string
	// Complete is false when the trace timed out with a path unfinished
	// (a tunnel copy that never arrived, a table not reported).
	Complete bool
	// Errors are problems met while observing.
	Errors []string
}

// LiveResult is where a live packet really went.
type LiveResult struct {
	Hops      []Hop
	Delivered []Delivery
	Dropped   bool
	// Unobserved NVEs (name: why).
	Unobserved map[string]string
	Complete   bool
	Errors     []string
}

// Terminal reports whether a step ends the packet's path on its NVE.
func (s Step) Terminal() bool { return s.Verdict != "goto" }

// Assemble builds the live result from observations: one hop per NVE
// (in the order the NVEs were first seen), its steps in arrival order,
// the outputs of its last step, or why it dropped.
func Assemble(o *Observed) *LiveResult {
	res := &LiveResult{Unobserved: o.Unobserved, Complete: o.Complete, Errors: o.Errors}
	idx := map[string]int{}
	for _, ob := range o.Observations {
		i, ok := idx[ob.NVE]
		if !ok {
			i = len(res.Hops)
			idx[ob.NVE] = i
			res.Hops = append(res.Hops, Hop{NVE: ob.NVE})
		}
		h := &res.Hops[i]
		if h.Arrival == "" {
			h.Arrival = ob.Arrival
		}
		h.Steps = append(h.Steps, ob.Step)
		h.Outputs = append(h.Outputs, ob.Outputs...)
		for _, out := range ob.Outputs {
			switch {
			case out.Controller:
				res.Delivered = append(res.Delivered, Delivery{NVE: ob.NVE, Kind: "controller"})
			case out.Port != "" && out.ToInPort:
				res.Delivered = append(res.Delivered, Delivery{NVE: ob.NVE, Port: out.Port, Kind: "in_port"})
			case out.Port != "":
				res.Delivered = append(res.Delivered, Delivery{NVE: ob.NVE, Port: out.Port, Kind: "port"})
			}
		}
	}
	for i := range res.Hops {
		h := &res.Hops[i]
		if n := len(h.Steps); n > 0 && len(h.Outputs) == 0 {
			if last := h.Steps[n-1]; last.Verdict == "drop" || last.Verdict == "miss" {
				h.Drop = DropReason(last)
			}
		}
	}
	pruneCandidates(res)
	res.Hops = causalOrder(res.Hops)
	res.Dropped = len(res.Delivered) == 0
	return res
}

// pruneCandidates keeps, of the tunnel outputs that are buckets of a
// select or fast-failover group, those toward an NVE the packet was seen
// arriving at from a tunnel (where it really went), when there is one.
func pruneCandidates(res *LiveResult) {
	arrived := map[string]bool{}
	for _, h := range res.Hops {
		if strings.HasPrefix(h.Arrival, "tunnel") {
			arrived[h.NVE] = true
		}
	}
	for i := range res.Hops {
		h := &res.Hops[i]
		seen := false
		for _, o := range h.Outputs {
			if o.Candidate && o.Tunnel != nil && arrived[o.Tunnel.RemoteNVE] {
				seen = true
			}
		}
		if !seen {
			continue
		}
		h.Outputs = slices.DeleteFunc(h.Outputs, func(o Output) bool {
			return o.Candidate && o.Tunnel != nil && !arrived[o.Tunnel.RemoteNVE]
		})
	}
}

// causalOrder orders hops as the packet went: NVEs it entered from a
// port first, then the NVEs their tunnel copies reached, breadth first
// (the switches report on separate connections, so a remote NVE's
// observations may come first); hops reached from nowhere observed last.
func causalOrder(hops []Hop) []Hop {
	byNVE := map[string]int{}
	for i, h := range hops {
		byNVE[h.NVE] = i
	}
	seen := make([]bool, len(hops))
	var queue []int
	for i, h := range hops {
		if !strings.HasPrefix(h.Arrival, "tunnel") {
			queue = append(queue, i)
			seen[i] = true
		}
	}
	out := make([]Hop, 0, len(hops))
	for len(queue) > 0 {
		i := queue[0]
		queue = queue[1:]
		out = append(out, hops[i])
		for _, o := range hops[i].Outputs {
			if o.Tunnel == nil {
				continue
			}
			if j, ok := byNVE[o.Tunnel.RemoteNVE]; ok && !seen[j] {
				seen[j] = true
				queue = append(queue, j)
			}
		}
	}
	for i, h := range hops {
		if !seen[i] {
			out = append(out, h)
		}
	}
	return out
}

// Compare lists where the simulated and the live trace disagree: an NVE
// one crosses and the other does not, a different sequence of tables on
// an NVE, a different dropping stage, different outputs. NVEs the live
// trace could not observe are not compared. Empty: they agree.
func Compare(simulated *Result, live *LiveResult) []string {
	var out []string
	simHops := map[string]*Hop{}
	for i := range simulated.Hops {
		h := &simulated.Hops[i]
		if _, ok := simHops[h.NVE]; !ok {
			simHops[h.NVE] = h
		}
	}
	liveHops := map[string]*Hop{}
	for i := range live.Hops {
		liveHops[live.Hops[i].NVE] = &live.Hops[i]
	}
	names := make([]string, 0, len(simHops)+len(liveHops))
	for n := range simHops {
		names = append(names, n)
	}
	for n := range liveHops {
		if _, ok := simHops[n]; !ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		if _, skip := live.Unobserved[n]; skip {
			continue
		}
		s, l := simHops[n], liveHops[n]
		switch {
		case s == nil:
			out = append(out, fmt.Sprintf("NVE %s: the live packet reached it; the simulation does not", n))
			continue
		case l == nil:
			out = append(out, fmt.Sprintf("NVE %s: the simulation reaches it; the live packet was not seen there", n))
			continue
		}
		if a, b := tables(s), tables(l); a != b {
			out = append(out, fmt.Sprintf("NVE %s: simulated tables %s, live %s", n, a, b))
		}
		if a, b := dropStage(s), dropStage(l); a != b {
			out = append(out, fmt.Sprintf("NVE %s: simulated drop %s, live drop %s", n, orNone(a), orNone(b)))
		}
		if a, b := outputs(s), outputs(l); a != b {
			out = append(out, fmt.Sprintf("NVE %s: simulated outputs %s, live %s", n, orNone(a), orNone(b)))
		}
	}
	return out
}

func tables(h *Hop) string {
	var t []string
	for _, s := range h.Steps {
		t = append(t, s.Table)
	}
	return strings.Join(t, " -> ")
}

func dropStage(h *Hop) string {
	if h.Drop == "" || len(h.Steps) == 0 {
		return ""
	}
	return strings.Join(h.Steps[len(h.Steps)-1].Stages, "/")
}

func outputs(h *Hop) string {
	var o []string
	for _, x := range h.Outputs {
		switch {
		case x.Controller:
			o = append(o, "controller")
		case x.Tunnel != nil:
			o = append(o, fmt.Sprintf("tunnel to %s (%s, VNI %d)", x.Tunnel.RemoteNVE, x.Tunnel.Encap, x.Tunnel.VNI))
		case x.ToInPort:
			o = append(o, "in_port "+x.Port)
		default:
			o = append(o, "port "+x.Port)
		}
	}
	sort.Strings(o)
	return strings.Join(slices.Compact(o), ", ")
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// NVEsToObserve lists the NVEs a live trace of req should watch: every
// NVE the simulation crosses, and every NVE hosting a port of the
// source's VN or of the destination port's VN (where a packet that
// diverges from the simulation would go), sorted.
func NVEsToObserve(snap *model.Snapshot, req Request, simulated *Result) []string {
	set := map[string]bool{}
	for _, h := range simulated.Hops {
		set[h.NVE] = true
	}
	for _, name := range []string{req.Port, req.ToPort} {
		if p, ok := snap.Ports.Lookup(name); ok && name != "" {
			for _, q := range snap.PortsIn(p.VN) {
				set[q.NVE] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// UnderlayNVE is the NVE with that underlay address ("" if none).
func UnderlayNVE(snap *model.Snapshot, ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ""
	}
	for _, n := range snap.SortedNVEs() {
		for _, u := range n.UnderlayIPs {
			if b, err := netip.ParseAddr(u); err == nil && b.Unmap() == a.Unmap() {
				return n.Name
			}
		}
	}
	return ""
}
