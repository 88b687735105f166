// Package sim owns nva's packet simulator: it walks a packet through
// compiled flows and groups the way an OpenFlow 1.3 switch does (tables by
// priority with masked matches, apply-actions, write-metadata, goto, group
// buckets as independent copies) and reports every output with the
// packet's resulting fields, plus a readable trace. A packet sent to the
// controller shows as a packet-in ("to controller") with its in_port and
// metadata, as the switch's packet-in message carries them. Tests use it
// to check what the compiled pipeline does to real packet shapes without
// a switch, for every profile (the first table is the profile's
// lowest-numbered). It also reports what OpenFlow leaves undefined (two
// matching flows of the same priority) as errors.
package sim

import (
	"bytes"
	"fmt"
	"slices"
	"sort"

	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/pipeline"
)

// Switch is a simulated switch holding one NVE's flows and groups.
type Switch struct {
	prof      pipeline.Profile
	tables    map[string][]flow.Flow // by table, highest priority first
	groups    map[uint32]flow.GroupEntry
	first     string
	conns     map[ctKey]bool  // conntrack.go: committed connections
	down      map[uint32]bool // ports not live (liveness.go)
	adminDown map[uint32]bool // ports administratively down (liveness.go)
}

// New loads flows and groups into a simulated switch of profile prof.
func New(prof pipeline.Profile, flows []flow.Flow, groups []flow.GroupEntry) (*Switch, error) {
	s := &Switch{prof: prof, tables: map[string][]flow.Flow{}, groups: map[uint32]flow.GroupEntry{}}
	if len(prof.Tables) == 0 {
		return nil, fmt.Errorf("sim: profile %s has no tables", prof.Name)
	}
	first := prof.Tables[0]
	for _, t := range prof.Tables {
		if t.Number < first.Number {
			first = t
		}
	}
	s.first = first.Name
	for _, f := range flows {
		if _, ok := prof.Table(f.Table); !ok {
			return nil, fmt.Errorf("sim: flow %s: unknown table", f)
		}
		s.tables[f.Table] = append(s.tables[f.Table], f)
	}
	for t := range s.tables {
		fs := s.tables[t]
		sort.SliceStable(fs, func(i, j int) bool { return fs[i].Priority > fs[j].Priority })
	}
	for _, g := range groups {
		s.groups[g.ID] = g
	}
	return s, nil
}

// Output is one packet leaving the switch.
type Output struct {
	// Port is the port it leaves on (IN_PORT resolved to the ingress port;
	// flow.PortController for packet-ins).
	Port uint32
	// ToInPort is true when it left through the IN_PORT action.
	ToInPort bool
	// Packet is the packet as it left, with the pipeline's fields
	// (metadata) as they were at that point.
	Packet Packet
}

// PacketIn reports whether the output is a packet-in (sent to the
// controller).
func (o Output) PacketIn() bool { return o.Port == flow.PortController }

// Metadata returns the packet's metadata when it left: for a packet-in,
// the metadata its match carries.
func (o Output) Metadata() uint64 { return be64(o.Packet.Fields[flow.Metadata]) }

// PacketIns returns the outputs that went to the controller.
func (r Result) PacketIns() []Output {
	var out []Output
	for _, o := range r.Outputs {
		if o.PacketIn() {
			out = append(out, o)
		}
	}
	return out
}

// Result is what the switch did with one packet.
type Result struct {
	Outputs []Output
	// TTLDrops counts packets dec_ttl dropped (TTL 0 or 1).
	TTLDrops int
	Trace    []string
	// Errors lists behaviour OpenFlow leaves undefined or the switch would
	// reject (ambiguous matches, actions on absent fields, loops).
	Errors []string
	// Steps are the tables the packet went through, in order, with the
	// flow it matched in each (for structured traces).
	Steps []Step
}

// Step is one table lookup: the table and the flow that matched (nil on a
// table miss).
type Step struct {
	Table string
	Flow  *flow.Flow
}

// Dropped reports whether no copy of the packet left the switch.
func (r Result) Dropped() bool { return len(r.Outputs) == 0 }

// Ports returns the output ports, sorted.
func (r Result) Ports() []uint32 {
	out := make([]uint32, len(r.Outputs))
	for i, o := range r.Outputs {
		out[i] = o.Port
	}
	slices.Sort(out)
	return out
}

// TraceText returns the trace, one step a line.
func (r Result) TraceText() string {
	var b bytes.Buffer
	for _, l := range r.Trace {
		b.WriteString(l + "\n")
	}
	for _, e := range r.Errors {
		b.WriteString("ERROR: " + e + "\n")
	}
	return b.String()
}

type run struct {
	s   *Switch
	res *Result
}

func (r *run) tracef(depth int, format string, args ...any) {
	pad := bytes.Repeat([]byte("  "), depth)
	r.res.Trace = append(r.res.Trace, string(pad)+fmt.Sprintf(format, args...))
}

func (r *run) errorf(format string, args ...any) {
	r.res.Errors = append(r.res.Errors, fmt.Sprintf(format, args...))
}

// Run sends p into the switch's first table and returns what came out.
func (s *Switch) Run(p Packet) Result {
	var res Result
	r := &run{s: s, res: &res}
	pkt := p.Clone()
	pkt.Fields[flow.InPort] = flow.U32(pkt.InPort)
	r.tracef(0, "packet in_port=%d: %s", pkt.InPort, pkt)
	r.table(s.first, pkt, 0, 0)
	if res.Dropped() {
		r.tracef(0, "result: dropped")
	}
	for _, o := range res.Outputs {
		if o.PacketIn() {
			r.tracef(0, "result: to controller (packet-in in_port=%d metadata=%#x): %s", o.Packet.InPort, o.Metadata(), o.Packet)
			continue
		}
		r.tracef(0, "result: output port %d: %s", o.Port, o.Packet)
	}
	return res
}

// Matches reports whether packet p matches m.
func Matches(m flow.Match, p Packet) bool {
	for f := range m.Raw() {
		v, ok := p.Fields[f.Name]
		if !ok || len(v) != len(f.Value) {
			return false
		}
		for i := range v {
			mask := byte(0xff)
			if f.Mask != "" {
				mask = f.Mask[i]
			}
			if v[i]&mask != f.Value[i]&mask {
				return false
			}
		}
	}
	return true
}

func (r *run) table(name string, p Packet, depth, steps int) {
	if steps > 64 {
		r.errorf("more than 64 table steps: loop")
		return
	}
	num, _ := r.s.prof.Number(name)
	var hit *flow.Flow
	for i := range r.s.tables[name] {
		f := &r.s.tables[name][i]
		if !Matches(f.Match, p) {
			continue
		}
		if hit == nil {
			hit = f
			continue
		}
		if f.Priority == hit.Priority {
			r.errorf("table %s: ambiguous: %s and %s both match at priority %d", name, hit, f, f.Priority)
		}
		break
	}
	if hit == nil {
		r.res.Steps = append(r.res.Steps, Step{Table: name})
		r.tracef(depth, "table %s(%d): no match: table miss drops", name, num)
		return
	}
	r.res.Steps = append(r.res.Steps, Step{Table: name, Flow: hit})
	r.tracef(depth, "table %s(%d): %s", name, num, hit)
	if !r.actions(hit.Actions, &p, depth+1) {
		return
	}
	if hit.MetadataMask != 0 {
		md := be64(p.Fields[flow.Metadata])
		md = md&^hit.MetadataMask | hit.WriteMetadata&hit.MetadataMask
		p.Fields[flow.Metadata] = flow.U64(md)
	}
	if hit.Goto != "" {
		r.table(hit.Goto, p, depth, steps+1)
	} else if len(hit.Actions) == 0 {
		r.tracef(depth+1, "drop")
	}
}

func be64(b []byte) uint64 {
	var v uint64
	for _, x := range b {
		v = v<<8 | uint64(x)
	}
	return v
}

// actions applies an action list; false when the packet's processing
// stops there (dec_ttl of an expired TTL).
func (r *run) actions(as []flow.Action, p *Packet, depth int) bool {
	for _, a := range as {
		switch a := a.(type) {
		case flow.Output:
			port := a.Port
			toIn := false
			switch {
			case port == flow.PortInPort:
				port, toIn = p.InPort, true
			case port == p.InPort:
				r.tracef(depth, "output:%d is the ingress port: not sent (use IN_PORT)", port)
				continue
			}
			if port == flow.PortController {
				r.tracef(depth, "to controller: packet-in in_port=%d metadata=%#x", p.InPort, be64(p.Fields[flow.Metadata]))
			} else if r.s.adminDown[port] {
				r.tracef(depth, "output to port %d: port administratively down, not sent", port)
				continue
			} else {
				r.tracef(depth, "output to port %d", port)
			}
			r.res.Outputs = append(r.res.Outputs, Output{Port: port, ToInPort: toIn, Packet: p.Clone()})
		case flow.SetField:
			if _, ok := p.Fields[a.Field]; !ok {
				r.errorf("set_field %s on a packet without that field", a.Field)
				continue
			}
			if a.Field == flow.VlanVID && be64(p.Fields[flow.VlanVID])&uint64(flow.VIDPresent) == 0 {
				r.errorf("set_field vlan_vid on an untagged packet")
				continue
			}
			p.Fields[a.Field] = append([]byte(nil), a.Value...)
			r.tracef(depth, "%s", flow.FormatAction(a))
		case flow.Move:
			src, ok1 := p.Fields[a.Src]
			dst, ok2 := p.Fields[a.Dst]
			if !ok1 || !ok2 {
				r.errorf("move %s->%s on a packet without those fields", a.Src, a.Dst)
				continue
			}
			p.Fields[a.Dst] = moveBits(src, dst, a.SrcOfs, a.DstOfs, a.Bits)
			r.tracef(depth, "%s", flow.FormatAction(a))
		case flow.PushVLAN:
			if t := p.TPID(); t != 0 { // QinQ: the outer tag goes beneath
				p.Inner = append([]VLANTag{{TPID: t, VID: uint16(be64(p.Fields[flow.VlanVID]))}}, p.Inner...)
			}
			p.OuterTPID = a.EtherType
			p.Fields[flow.VlanVID] = flow.U16(flow.VIDPresent)
			r.tracef(depth, "%s", flow.FormatAction(a))
		case flow.PopVLAN:
			if be64(p.Fields[flow.VlanVID])&uint64(flow.VIDPresent) == 0 {
				r.errorf("pop_vlan on an untagged packet")
				continue
			}
			p.Fields[flow.VlanVID], p.OuterTPID = flow.U16(0), 0
			if len(p.Inner) > 0 {
				p.Fields[flow.VlanVID], p.OuterTPID, p.Inner = flow.U16(p.Inner[0].VID), p.Inner[0].TPID, p.Inner[1:]
			}
			r.tracef(depth, "pop_vlan")
		case flow.DecTTL:
			ttl, ok := p.Fields[flow.IPTTL]
			if !ok || len(ttl) != 1 {
				r.errorf("dec_ttl on a packet without an IP TTL")
				return false
			}
			if ttl[0] <= 1 {
				// As OVS: no decrement, the rest of the actions and the
				// goto are skipped (an invalid-TTL packet-in only to a
				// controller that asked for one: nva does not).
				r.tracef(depth, "dec_ttl: TTL %d: packet dropped", ttl[0])
				r.res.TTLDrops++
				return false
			}
			p.Fields[flow.IPTTL] = flow.U8(ttl[0] - 1)
			r.tracef(depth, "dec_ttl")
		case flow.Group:
			g, ok := r.s.groups[a.ID]
			if !ok {
				r.errorf("group %d does not exist", a.ID)
				continue
			}
			r.tracef(depth, "group:%d (%d buckets)", a.ID, len(g.Buckets))
			for i, b := range r.s.buckets(g, *p) {
				if g.Type != flow.GroupAll {
					r.tracef(depth+1, "%s", r.s.chosen(g, i))
				}
				c := p.Clone()
				r.tracef(depth+1, "bucket %d:", i)
				r.actions(b.Actions, &c, depth+2)
			}
		case flow.CT:
			if !r.conntrack(a, p, depth) { // conntrack.go, ct.go
				return false
			}
		default:
			r.errorf("unknown action %T", a)
		}
	}
	return true
}

// moveBits copies n bits from src (starting at bit srcOfs, counted from the
// least significant bit) into a copy of dst at dstOfs.
func moveBits(src, dst []byte, srcOfs, dstOfs, n int) []byte {
	out := append([]byte(nil), dst...)
	bit := func(b []byte, i int) byte { return b[len(b)-1-i/8] >> (i % 8) & 1 }
	for i := 0; i < n; i++ {
		v := bit(src, srcOfs+i)
		j := dstOfs + i
		idx := len(out) - 1 - j/8
		out[idx] = out[idx]&^(1<<(j%8)) | v<<(j%8)
	}
	return out
}
