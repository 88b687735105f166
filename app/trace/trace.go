// Package trace owns nva's simulated packet trace: from a store snapshot,
// a source port and packet fields it compiles the pipeline of every NVE
// the packet crosses (app/compiler, as the southbound does) and walks the
// packet through it with the packet simulator (app/sim), following
// tunnels to the remote NVE by underlay address. It reports, per NVE,
// every table the packet went through with the flow it matched and what
// that flow decided, the tunnels it left by (encapsulation, remote NVE,
// VNI), and where every copy ended: a port, the controller, or a drop
// (the stage that missed or the explicit drop flow).
//
// It also owns the pure part of live traces (live.go): the marked packet
// a live trace injects, telling it apart in packet-ins, assembling what
// the southbound observed into hops, and comparing that with the
// simulation.
//
// The simulated trace is of nva's desired state, not of a switch: OpenFlow port
// numbers are assigned by the trace itself (interfaces in name order from
// 1; tunnel ports from 10000), which changes no decision of the pipeline,
// and every interface and tunnel port is taken as present. It does no
// I/O and is deterministic.
package trace

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/pipeline"
	"github.com/nva-project/nva/app/sim"
)

// Protocols a Request may name.
const (
	ProtoARP  = "arp"
	ProtoICMP = "icmp"
	ProtoTCP  = "tcp"
	ProtoUDP  = "udp"
)

// Request is the packet to trace. Only Port is required.
type Request struct {
	// Port is the source port (the VAP the packet enters by).
	Port string
	// ToPort, if set, names a destination port: its MAC is the default
	// eth_dst and its first address of the packet's family the default
	// destination address.
	ToPort string
	// EthSrc defaults to the source port's MAC; EthDst to ToPort's MAC,
	// or broadcast for ARP.
	EthSrc, EthDst string
	// VLAN is the 802.1Q tag the frame carries: nil means the source
	// port's own VLAN (untagged for an untagged VAP); 0 untagged.
	VLAN *int
	// Protocol is arp, icmp, tcp or udp (default icmp).
	Protocol string
	// SrcIP defaults to the source port's first address of DstIP's family
	// (IPv4 when neither is given); DstIP to ToPort's address.
	SrcIP, DstIP string
	// SrcPort and DstPort are the TCP/UDP ports.
	SrcPort, DstPort uint16
	// ARPOp is the ARP operation (default 1, request).
	ARPOp uint16
}

// Result is a simulated trace.
type Result struct {
	// Packet is the packet as it entered, in ovs-ofctl field form.
	Packet string
	// VN is the source port's VN.
	VN string
	// Hops are the NVEs the packet (or a copy) went through, in the order
	// they were simulated.
	Hops []Hop
	// Delivered lists where copies ended on a tenant port or the
	// controller (the ports by name).
	Delivered []Delivery
	// Dropped is true when no copy reached any port or the controller.
	Dropped bool
	// Errors lists what the simulator found undefined (ambiguous flows,
	// actions on absent fields) and tunnels it could not follow.
	Errors []string
}

// Delivery is one copy's end.
type Delivery struct {
	NVE string
	// Port is the tenant port's name; "" for the controller.
	Port string
	// Kind is "port", "in_port" (sent back where it came from, e.g. an
	// ARP answer) or "controller" (a packet-in: nva answers it).
	Kind string
}

// Hop is the packet's pass through one NVE.
type Hop struct {
	NVE     string
	Profile string
	// Arrival is how it entered: "port p1 (interface tap1)" or
	// "tunnel from hv1 (vxlan, VNI 100)".
	Arrival string
	// Steps are the tables it went through; the first is the
	// classification.
	Steps []Step
	// Outputs are the copies that left the NVE.
	Outputs []Output
	// Drop says why the packet ended here with no output: "miss in stage
	// X" or "dropped by an explicit drop flow in stage X".
	Drop string
}

// Step is one table lookup.
type Step struct {
	Table  string
	Number uint8
	// Stages are the pipeline stages the table realizes.
	Stages []string
	// Flow is the matched flow (ovs-ofctl text), "" on a miss.
	Flow string
	// Decision is what the flow did: its actions and goto in ovs-ofctl
	// text, "drop" or "miss: table-miss drops".
	Decision string
	// Verdict is the decision's kind: "goto" (Goto names the next table),
	// "output" (actions, no goto), "drop" (an explicit drop flow) or
	// "miss".
	Verdict string
	Goto    string
}

// Output is one copy leaving an NVE.
type Output struct {
	// Port is the tenant port it left by ("" for a tunnel or the
	// controller).
	Port string
	// Controller is true for a packet-in.
	Controller bool
	// ToInPort is true when it left by the port it came in on (Port).
	ToInPort bool
	// Candidate marks one bucket of a select or fast-failover group (live
	// traces): the switch sends the packet by one of them only.
	Candidate bool
	// Tunnel is set when it left into a tunnel.
	Tunnel *Tunnel
	// Packet is the copy as it left.
	Packet string
}

// Tunnel is a tunnel a copy left by.
type Tunnel struct {
	Encap     string
	RemoteNVE string
	RemoteIP  string
	VNI       uint64
}

// Profiles returns the switch profile an NVE is compiled for.
type Profiles func(n *model.NVE) (pipeline.Profile, error)

// DefaultProfiles is the profile by the NVE's kind and profile override,
// with the profile's own table numbers.
func DefaultProfiles(n *model.NVE) (pipeline.Profile, error) {
	return pipeline.ForNVE(string(n.Kind), n.Profile, nil)
}

// InputError is a Request that cannot be traced (bad field, unknown
// port); Field names the request field.
type InputError struct {
	Field string
	Msg   string
}

func (e *InputError) Error() string { return e.Field + ": " + e.Msg }

func inputErr(field, format string, args ...any) error {
	return &InputError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// maxHops bounds the NVEs one trace crosses (a packet from a tunnel never
// goes back into one; this only guards against a broken pipeline).
const maxHops = 64

// Run traces req through snap's NVEs.
func Run(snap *model.Snapshot, profiles Profiles, req Request) (*Result, error) {
	if profiles == nil {
		profiles = DefaultProfiles
	}
	src, ok := snap.Ports.Lookup(req.Port)
	if !ok || req.Port == "" {
		return nil, inputErr("port", "no such port %q", req.Port)
	}
	pkt0, err := buildPacket(snap, src, req)
	if err != nil {
		return nil, err
	}
	t := &tracer{snap: snap, profiles: profiles, nodes: map[string]*node{}}
	res := &Result{VN: src.VN}
	first, err := t.node(src.NVE)
	if err != nil {
		return nil, fmt.Errorf("trace: NVE %s: %w", src.NVE, err)
	}
	in, ok := first.ifaces[src.Interface]
	if !ok {
		return nil, fmt.Errorf("trace: port %s: interface %s not on NVE %s", src.Name, src.Interface, src.NVE)
	}
	pkt := pkt0(in)
	res.Packet = pkt.String()
	type pending struct {
		nve     string
		arrival string
		pkt     sim.Packet
	}
	queue := []pending{{src.NVE, fmt.Sprintf("port %s (interface %s)", src.Name, src.Interface), pkt}}
	for len(queue) > 0 {
		if len(res.Hops) >= maxHops {
			res.Errors = append(res.Errors, fmt.Sprintf("more than %d NVE hops: stopped", maxHops))
			break
		}
		p := queue[0]
		queue = queue[1:]
		n, err := t.node(p.nve)
		if err != nil {
			res.Errors = append(res.Errors, fmt.Sprintf("NVE %s: %v", p.nve, err))
			continue
		}
		r := n.sw.Run(p.pkt)
		for _, e := range r.Errors {
			res.Errors = append(res.Errors, p.nve+": "+e)
		}
		hop := Hop{NVE: p.nve, Profile: n.prof.Name, Arrival: p.arrival}
		for _, st := range r.Steps {
			hop.Steps = append(hop.Steps, n.step(st))
		}
		if r.Dropped() && len(hop.Steps) > 0 {
			hop.Drop = DropReason(hop.Steps[len(hop.Steps)-1])
		}
		for _, o := range r.Outputs {
			out := Output{Packet: o.Packet.String()}
			switch {
			case o.PacketIn():
				out.Controller = true
				res.Delivered = append(res.Delivered, Delivery{NVE: p.nve, Kind: "controller"})
			case n.portName[o.Port] != "":
				out.Port = n.portName[o.Port]
				kind := "port"
				if o.ToInPort {
					kind = "in_port"
					out.ToInPort = true
				}
				res.Delivered = append(res.Delivered, Delivery{NVE: p.nve, Port: out.Port, Kind: kind})
			default:
				tun, next, err := t.follow(n, o)
				if err != nil {
					res.Errors = append(res.Errors, fmt.Sprintf("%s: output to port %d: %v", p.nve, o.Port, err))
					break
				}
				out.Tunnel = tun
				queue = append(queue, pending{tun.RemoteNVE, fmt.Sprintf("tunnel from %s (%s, VNI %d)", p.nve, tun.Encap, tun.VNI), next})
			}
			hop.Outputs = append(hop.Outputs, out)
		}
		res.Hops = append(res.Hops, hop)
	}
	res.Dropped = len(res.Delivered) == 0
	return res, nil
}

// dropReasons says what a drop in a stage usually means.
var dropReasons = map[string]string{
	pipeline.Classify:     "not a known VAP or tunnel of a VN on this NVE",
	pipeline.PortSecurity: "source MAC or address not the port's, or a frame type the port may not send",
	pipeline.L2Forward:    "unknown unicast: no port of the VN has that destination MAC",
	pipeline.Neighbor:     "ARP/ND for an unknown target, dropped by the VN's policy",
}

type tracer struct {
	snap     *model.Snapshot
	profiles Profiles
	nodes    map[string]*node
}

// node is one NVE compiled and loaded in a simulated switch, with the
// trace's port numbering.
type node struct {
	name     string
	prof     pipeline.Profile
	sw       *sim.Switch
	ifaces   map[string]uint32 // interface -> OpenFlow port
	portName map[uint32]string // OpenFlow port -> tenant port name (first by name)
	tunnels  map[uint32]tunnelPort
	byRemote map[compiler.RemoteTunnel]uint32
	flowTun  map[model.Encap]uint32
}

type tunnelPort struct {
	encap  model.Encap
	remote string // per-remote ports only
}

func encapIndex(e model.Encap) uint32 { return uint32(slices.Index(model.Encaps, e)) }

func (t *tracer) node(name string) (*node, error) {
	if n, ok := t.nodes[name]; ok {
		return n, nil
	}
	nve, ok := t.snap.NVEs[name]
	if !ok {
		return nil, errors.New("no such NVE")
	}
	prof, err := t.profiles(nve)
	if err != nil {
		return nil, err
	}
	n := &node{name: name, prof: prof, ifaces: map[string]uint32{}, portName: map[uint32]string{},
		tunnels: map[uint32]tunnelPort{}, byRemote: map[compiler.RemoteTunnel]uint32{}, flowTun: map[model.Encap]uint32{}}
	ports := t.snap.PortsOn(name)
	var ifaces []string
	for _, p := range ports {
		if _, ok := n.ifaces[p.Interface]; !ok {
			n.ifaces[p.Interface] = 0
			ifaces = append(ifaces, p.Interface)
		}
	}
	sort.Strings(ifaces)
	for i, f := range ifaces {
		n.ifaces[f] = uint32(i + 1)
	}
	for _, p := range ports { // by name: the first port of an interface names it
		if no := n.ifaces[p.Interface]; n.portName[no] == "" {
			n.portName[no] = p.Name
		}
	}
	// Tunnel ports are numbered from 10000 (a power of ten above every
	// interface's): the flow-based ones base+0..2, the per-remote ones
	// base+10+4i+encap for the i-th NVE by name.
	base := uint32(10000)
	for uint32(len(ifaces)) >= base {
		base *= 10
	}
	in := compiler.Input{Snapshot: t.snap, NVE: name, OFPorts: map[string]uint32{}}
	for k, v := range n.ifaces {
		in.OFPorts[k] = v
	}
	if prof.FlowTunnels {
		in.Tunnels = map[model.Encap]uint32{}
		for _, e := range model.Encaps {
			no := base + encapIndex(e)
			in.Tunnels[e] = no
			n.flowTun[e] = no
			n.tunnels[no] = tunnelPort{encap: e}
		}
	} else {
		in.RemoteTunnels = map[compiler.RemoteTunnel]uint32{}
		for i, nv := range t.snap.SortedNVEs() {
			for _, e := range model.Encaps {
				no := base + 10 + 4*uint32(i) + encapIndex(e)
				rt := compiler.RemoteTunnel{NVE: nv.Name, Encap: e}
				in.RemoteTunnels[rt] = no
				n.byRemote[rt] = no
				n.tunnels[no] = tunnelPort{encap: e, remote: nv.Name}
			}
		}
	}
	res, err := compiler.Compile(in, prof)
	if err != nil {
		return nil, fmt.Errorf("compiling: %w", err)
	}
	n.sw, err = sim.New(prof, res.FlowList(), res.Groups)
	if err != nil {
		return nil, err
	}
	t.nodes[name] = n
	return n, nil
}

func (n *node) step(st sim.Step) Step { return StepOf(n.prof, st.Table, st.Flow) }

// StepOf describes one table lookup in prof: table is the table's name,
// f the flow that matched (nil: a miss).
func StepOf(prof pipeline.Profile, table string, f *flow.Flow) Step {
	s := Step{Table: table}
	if tb, ok := prof.Table(table); ok {
		s.Number = tb.Number
		s.Stages = slices.Clone(tb.Stages)
	}
	if len(s.Stages) == 0 {
		s.Stages = []string{table}
	}
	if f == nil {
		s.Decision, s.Verdict = "miss: table-miss drops", "miss"
		return s
	}
	s.Flow = f.String()
	var parts []string
	if len(f.Actions) > 0 {
		parts = append(parts, flow.FormatActions(f.Actions))
	}
	if f.Goto != "" {
		parts = append(parts, "goto "+f.Goto)
	}
	switch {
	case f.Goto != "":
		s.Verdict, s.Goto = "goto", f.Goto
	case len(f.Actions) > 0:
		s.Verdict = "output"
	default:
		s.Verdict = "drop"
	}
	if len(parts) == 0 {
		s.Decision = "drop"
	} else {
		s.Decision = strings.Join(parts, "; ")
	}
	return s
}

// DropReason says why a packet ended at step last with no output.
func DropReason(last Step) string {
	stage := strings.Join(last.Stages, "/")
	var why string
	if last.Flow == "" {
		why = fmt.Sprintf("miss in stage %s (table %s): no flow matched", stage, last.Table)
	} else {
		why = fmt.Sprintf("dropped by an explicit drop flow in stage %s (table %s)", stage, last.Table)
	}
	if len(last.Stages) > 0 {
		if r := dropReasons[last.Stages[len(last.Stages)-1]]; r != "" {
			why += ": " + r
		}
	}
	return why
}

// follow resolves a tunnel output to the remote NVE and the packet as
// that NVE receives it.
func (t *tracer) follow(n *node, o sim.Output) (*Tunnel, sim.Packet, error) {
	tp, ok := n.tunnels[o.Port]
	if !ok {
		return nil, sim.Packet{}, errors.New("neither a tenant port nor a tunnel port")
	}
	vni := be(o.Packet.Get(flow.TunID))
	tun := &Tunnel{Encap: string(tp.encap), VNI: vni, RemoteNVE: tp.remote}
	if tun.RemoteNVE == "" {
		dst := o.Packet.Text(flow.TunIPv4Dst)
		tun.RemoteIP = dst
		tun.RemoteNVE = t.nveByUnderlay(dst)
		if tun.RemoteNVE == "" {
			return nil, sim.Packet{}, fmt.Errorf("tunnel to %s: no NVE has that underlay address", dst)
		}
	} else if r := t.snap.NVEs[tun.RemoteNVE]; r != nil && len(r.UnderlayIPs) > 0 {
		tun.RemoteIP = r.UnderlayIPs[0]
	}
	remote, err := t.node(tun.RemoteNVE)
	if err != nil {
		return nil, sim.Packet{}, fmt.Errorf("NVE %s: %w", tun.RemoteNVE, err)
	}
	var inPort uint32
	if remote.prof.FlowTunnels {
		inPort = remote.flowTun[tp.encap]
	} else {
		inPort = remote.byRemote[compiler.RemoteTunnel{NVE: n.name, Encap: tp.encap}]
	}
	srcIP := "0.0.0.0"
	if self := t.snap.NVEs[n.name]; self != nil {
		for _, a := range self.UnderlayIPs {
			if ad, err := netip.ParseAddr(a); err == nil && ad.Is4() {
				srcIP = a
				break
			}
		}
	}
	// What the remote's tunnel port delivers: the inner frame with
	// tun_id and tun_src; the pipeline's state does not cross.
	p := o.Packet.With(flow.Metadata, flow.U64(0)).With(flow.TunIPv4Dst, flow.U32(0))
	for _, r := range []string{flow.Reg0, flow.Reg1, flow.Reg2, flow.Reg3} {
		p = p.With(r, flow.U32(0))
	}
	return tun, p.FromTunnel(inPort, vni, srcIP), nil
}

func (t *tracer) nveByUnderlay(ip string) string { return UnderlayNVE(t.snap, ip) }

func be(b []byte) uint64 {
	var v uint64
	for _, x := range b {
		v = v<<8 | uint64(x)
	}
	return v
}

// buildPacket checks req and returns the packet builder (the ingress
// port number comes from the trace's numbering).
func buildPacket(snap *model.Snapshot, src *model.Port, req Request) (func(uint32) sim.Packet, error) {
	proto := strings.ToLower(req.Protocol)
	if proto == "" {
		proto = ProtoICMP
	}
	switch proto {
	case ProtoARP, ProtoICMP, ProtoTCP, ProtoUDP:
	default:
		return nil, inputErr("protocol", "%q: want arp, icmp, tcp or udp", req.Protocol)
	}
	var dst *model.Port
	if req.ToPort != "" {
		d, ok := snap.Ports.Lookup(req.ToPort)
		if !ok {
			return nil, inputErr("to_port", "no such port %q", req.ToPort)
		}
		dst = d
	}
	ethSrc := src.MAC
	if req.EthSrc != "" {
		ethSrc = req.EthSrc
	}
	srcMAC, err := net.ParseMAC(ethSrc)
	if err != nil || len(srcMAC) != 6 {
		return nil, inputErr("eth_src", "%q is not a MAC address", ethSrc)
	}
	ethDst := req.EthDst
	if ethDst == "" {
		switch {
		case dst != nil:
			ethDst = dst.MAC
		case proto == ProtoARP:
			ethDst = "ff:ff:ff:ff:ff:ff"
		default:
			return nil, inputErr("eth_dst", "required without to_port (except for arp)")
		}
	}
	dstMAC, err := net.ParseMAC(ethDst)
	if err != nil || len(dstMAC) != 6 {
		return nil, inputErr("eth_dst", "%q is not a MAC address", ethDst)
	}
	vlan := src.VLAN
	if req.VLAN != nil {
		vlan = *req.VLAN
	}
	if vlan < 0 || vlan > 4094 {
		return nil, inputErr("vlan", "%d: want 0 (untagged) to 4094", vlan)
	}
	parse := func(field, s string) (netip.Addr, error) {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Addr{}, inputErr(field, "%q is not an IP address", s)
		}
		return a.Unmap(), nil
	}
	var srcIP, dstIP netip.Addr
	if req.DstIP != "" {
		if dstIP, err = parse("dst_ip", req.DstIP); err != nil {
			return nil, err
		}
	}
	if req.SrcIP != "" {
		if srcIP, err = parse("src_ip", req.SrcIP); err != nil {
			return nil, err
		}
	}
	v6 := (dstIP.IsValid() && dstIP.Is6()) || (!dstIP.IsValid() && srcIP.IsValid() && srcIP.Is6())
	pick := func(p *model.Port) netip.Addr {
		for _, a := range p.Addrs() {
			if a.Is6() == v6 && !a.IsLinkLocalUnicast() {
				return a
			}
		}
		return netip.Addr{}
	}
	if !srcIP.IsValid() {
		srcIP = pick(src)
	}
	if !dstIP.IsValid() && dst != nil {
		dstIP = pick(dst)
	}
	if !srcIP.IsValid() {
		return nil, inputErr("src_ip", "required: port %s has no address of that family", src.Name)
	}
	if !dstIP.IsValid() {
		return nil, inputErr("dst_ip", "required (or to_port with an address of that family)")
	}
	if srcIP.Is6() != dstIP.Is6() {
		return nil, inputErr("src_ip", "%s and dst_ip %s are of different families", srcIP, dstIP)
	}
	if proto == ProtoARP && srcIP.Is6() {
		return nil, inputErr("protocol", "arp needs IPv4 addresses")
	}
	op := req.ARPOp
	if op == 0 {
		op = 1
	}
	return func(inPort uint32) sim.Packet {
		p := sim.NewPacket(inPort)
		p.Fields[flow.EthSrc] = flow.MAC(srcMAC)
		p.Fields[flow.EthDst] = flow.MAC(dstMAC)
		switch {
		case proto == ProtoARP:
			p.Fields[flow.EthType] = flow.U16(flow.EthTypeARP)
			p.Fields[flow.ARPOp] = flow.U16(op)
			p.Fields[flow.ARPSHA] = flow.MAC(srcMAC)
			p.Fields[flow.ARPSPA] = flow.IP(srcIP)
			if op == 1 {
				p.Fields[flow.ARPTHA] = make([]byte, 6)
			} else {
				p.Fields[flow.ARPTHA] = flow.MAC(dstMAC)
			}
			p.Fields[flow.ARPTPA] = flow.IP(dstIP)
		case srcIP.Is4():
			p.Fields[flow.EthType] = flow.U16(flow.EthTypeIPv4)
			p.Fields[flow.IPv4Src] = flow.IP(srcIP)
			p.Fields[flow.IPv4Dst] = flow.IP(dstIP)
		default:
			p.Fields[flow.EthType] = flow.U16(flow.EthTypeIPv6)
			p.Fields[flow.IPv6Src] = flow.IP(srcIP)
			p.Fields[flow.IPv6Dst] = flow.IP(dstIP)
		}
		if proto != ProtoARP {
			switch proto {
			case ProtoICMP:
				if srcIP.Is4() {
					p.Fields[flow.IPProto] = flow.U8(1)
				} else {
					p.Fields[flow.IPProto] = flow.U8(flow.ProtoICMPv6)
					p.Fields[flow.ICMPv6Type] = flow.U8(128) // echo request
					p.Fields[flow.ICMPv6Code] = flow.U8(0)
				}
			case ProtoTCP:
				p.Fields[flow.IPProto] = flow.U8(6)
			case ProtoUDP:
				p.Fields[flow.IPProto] = flow.U8(17)
				p.Fields[flow.UDPSrc] = flow.U16(req.SrcPort)
				p.Fields[flow.UDPDst] = flow.U16(req.DstPort)
			}
		}
		if vlan != 0 {
			p = p.Tagged(vlan)
		}
		return p
	}, nil
}
