package conn

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"antrea.io/libOpenflow/openflow13"
)

// Packet-in and packet-out are encoded and decoded here, not by
// libOpenflow: v0.15.0's PacketIn.MarshalBinary writes the cookie over
// buffer_id/total_len/reason/table_id, its PacketIn decoder parses the data
// as Ethernet (MACs come out as zeros), and PacketOut.UnmarshalBinary's
// action loop never terminates on its own (`n < n+ActionsLen`).

// Reserved port numbers (OFPP_*) a packet-out may name.
const (
	PortInPort     uint32 = openflow13.P_IN_PORT    // send back out of the packet's in_port
	PortTable      uint32 = openflow13.P_TABLE      // submit to the flow table (packet-out only)
	PortController uint32 = openflow13.P_CONTROLLER // to the controller
	PortLocal      uint32 = openflow13.P_LOCAL      // the switch's local port
	PortAny        uint32 = openflow13.P_ANY        // "no port": the packet-out in_port of a generated packet
)

// NoBuffer is OFP_NO_BUFFER: the packet-in carries the whole packet (or as
// much as max_len allowed) and no switch buffer holds it.
const NoBuffer uint32 = 0xffffffff

// Packet-in reasons (OFPR_*).
const (
	ReasonNoMatch    uint8 = openflow13.R_NO_MATCH
	ReasonAction     uint8 = openflow13.R_ACTION
	ReasonInvalidTTL uint8 = openflow13.R_INVALID_TTL
)

// PacketIn is one OFPT_PACKET_IN as decoded by this package.
type PacketIn struct {
	BufferID uint32 // NoBuffer unless the switch buffered the packet
	TotalLen uint16 // length of the whole frame; Data may be shorter
	Reason   uint8  // OFPR_*
	TableID  uint8
	Cookie   uint64
	Match    PacketInMatch
	Data     []byte // the frame (owned by the receiver)
}

// PacketInMatch holds the pipeline fields of a packet-in's match that nva
// uses. Other fields (Nicira registers, experimenter OXMs, ...) are
// skipped.
type PacketInMatch struct {
	InPort      uint32
	InPhyPort   uint32
	HasPhyPort  bool
	Metadata    uint64
	HasMetadata bool
	TunnelID    uint64
	HasTunnelID bool
}

// PacketInStats counts a switch's packet-ins.
type PacketInStats struct {
	Delivered uint64 // handed to Options.OnPacketIn
	Dropped   uint64 // the delivery queue was full (the handler is too slow)
	Malformed uint64 // could not be decoded; dropped, connection kept
}

// OXM field numbers of class OFPXMC_OPENFLOW_BASIC used here.
const (
	oxmClassBasic    = 0x8000
	oxmClassExp      = 0xffff
	oxmInPort        = 0
	oxmInPhyPort     = 1
	oxmMetadata      = 2
	oxmVlanVID       = 6
	oxmTunnelID      = 38
	packetInFixedLen = 24 // header + buffer_id, total_len, reason, table_id, cookie
)

// decodePacketIn parses an OFPT_PACKET_IN (OpenFlow 1.3 §7.4.1).
func decodePacketIn(b []byte) (PacketIn, error) {
	if len(b) < packetInFixedLen+8+2 {
		return PacketIn{}, fmt.Errorf("%w: packet-in of %d bytes", ErrMalformed, len(b))
	}
	pi := PacketIn{
		BufferID: binary.BigEndian.Uint32(b[8:12]),
		TotalLen: binary.BigEndian.Uint16(b[12:14]),
		Reason:   b[14],
		TableID:  b[15],
		Cookie:   binary.BigEndian.Uint64(b[16:24]),
	}
	m := b[packetInFixedLen:]
	padded, err := checkMatch(m)
	if err != nil {
		return PacketIn{}, fmt.Errorf("packet-in match: %w", err)
	}
	if len(m) < padded+2 {
		return PacketIn{}, fmt.Errorf("%w: packet-in ends inside its padding", ErrMalformed)
	}
	l := int(binary.BigEndian.Uint16(m[2:4]))
	for off := 4; off < l; {
		hdr := binary.BigEndian.Uint32(m[off:])
		class, field, hasMask, n := uint16(hdr>>16), uint8(hdr>>9)&0x7f, hdr&0x100 != 0, int(hdr&0xff)
		v := m[off+4 : off+4+n]
		if class == oxmClassBasic && !hasMask {
			switch {
			case field == oxmInPort && n == 4:
				pi.Match.InPort = binary.BigEndian.Uint32(v)
			case field == oxmInPhyPort && n == 4:
				pi.Match.InPhyPort, pi.Match.HasPhyPort = binary.BigEndian.Uint32(v), true
			case field == oxmMetadata && n == 8:
				pi.Match.Metadata, pi.Match.HasMetadata = binary.BigEndian.Uint64(v), true
			case field == oxmTunnelID && n == 8:
				pi.Match.TunnelID, pi.Match.HasTunnelID = binary.BigEndian.Uint64(v), true
			}
		}
		off += 4 + n
	}
	pi.Data = append([]byte(nil), m[padded+2:]...)
	return pi, nil
}

// Action is one packet-out action. Only standard OpenFlow 1.3 actions can
// be built (see OutputAction and friends), so a packet-out is valid on a
// strict switch.
type Action struct {
	typ    uint16
	port   uint32
	maxLen uint16
	value  uint16 // push_vlan ethertype, set_field vlan_vid
}

// OutputAction outputs to port: a port number or PortInPort, PortTable,
// PortController (the whole packet), PortLocal.
func OutputAction(port uint32) Action {
	a := Action{typ: openflow13.ActionType_Output, port: port}
	if port == PortController {
		a.maxLen = 0xffff // OFPCML_NO_BUFFER
	}
	return a
}

// PushVLANAction pushes a new outer VLAN tag with the given TPID (0x8100
// or 0x88a8); set its VID with SetVLANVIDAction.
func PushVLANAction(tpid uint16) Action {
	return Action{typ: openflow13.ActionType_PushVlan, value: tpid}
}

// PopVLANAction pops the outer VLAN tag.
func PopVLANAction() Action { return Action{typ: openflow13.ActionType_PopVlan} }

// SetVLANVIDAction sets the outer tag's VLAN ID (set_field vlan_vid with
// OFPVID_PRESENT).
func SetVLANVIDAction(vid uint16) Action {
	return Action{typ: openflow13.ActionType_SetField, value: vid & 0x0fff}
}

func (a Action) String() string {
	switch a.typ {
	case openflow13.ActionType_Output:
		switch a.port {
		case PortInPort:
			return "output:IN_PORT"
		case PortTable:
			return "output:TABLE"
		case PortController:
			return "output:CONTROLLER"
		case PortLocal:
			return "output:LOCAL"
		}
		return fmt.Sprintf("output:%d", a.port)
	case openflow13.ActionType_PushVlan:
		return fmt.Sprintf("push_vlan:%#04x", a.value)
	case openflow13.ActionType_PopVlan:
		return "pop_vlan"
	case openflow13.ActionType_SetField:
		return fmt.Sprintf("set_field:%d->vlan_vid", a.value)
	}
	return fmt.Sprintf("action(%d)", a.typ)
}

func (a Action) appendTo(b []byte) ([]byte, error) {
	switch a.typ {
	case openflow13.ActionType_Output:
		b = binary.BigEndian.AppendUint16(b, a.typ)
		b = binary.BigEndian.AppendUint16(b, 16)
		b = binary.BigEndian.AppendUint32(b, a.port)
		b = binary.BigEndian.AppendUint16(b, a.maxLen)
		return append(b, 0, 0, 0, 0, 0, 0), nil
	case openflow13.ActionType_PushVlan:
		b = binary.BigEndian.AppendUint16(b, a.typ)
		b = binary.BigEndian.AppendUint16(b, 8)
		b = binary.BigEndian.AppendUint16(b, a.value)
		return append(b, 0, 0), nil
	case openflow13.ActionType_PopVlan:
		b = binary.BigEndian.AppendUint16(b, a.typ)
		b = binary.BigEndian.AppendUint16(b, 8)
		return append(b, 0, 0, 0, 0), nil
	case openflow13.ActionType_SetField:
		// ofp_action_set_field: type, len 16, OXM vlan_vid (4 + 2), pad 6.
		b = binary.BigEndian.AppendUint16(b, a.typ)
		b = binary.BigEndian.AppendUint16(b, 16)
		b = binary.BigEndian.AppendUint32(b, oxmClassBasic<<16|oxmVlanVID<<9|2)
		b = binary.BigEndian.AppendUint16(b, 0x1000|a.value) // OFPVID_PRESENT
		return append(b, 0, 0, 0, 0, 0, 0), nil
	}
	return nil, fmt.Errorf("packet-out: action type %d cannot be encoded", a.typ)
}

// packetOutMsg encodes an OFPT_PACKET_OUT carrying data (buffer_id
// OFP_NO_BUFFER).
func packetOutMsg(inPort uint32, actions []Action, data []byte, xid uint32) ([]byte, error) {
	b := header(openflow13.Type_PacketOut, 24, xid)
	binary.BigEndian.PutUint32(b[8:12], NoBuffer)
	binary.BigEndian.PutUint32(b[12:16], inPort)
	var err error
	for _, a := range actions {
		if b, err = a.appendTo(b); err != nil {
			return nil, err
		}
	}
	alen := len(b) - 24
	b = append(b, data...)
	if len(b) > maxMsgLen {
		return nil, fmt.Errorf("packet-out of %d bytes is too large", len(b))
	}
	binary.BigEndian.PutUint16(b[16:18], uint16(alen))
	binary.BigEndian.PutUint16(b[2:4], uint16(len(b)))
	return b, nil
}

// PacketOut sends data out of the switch with the given actions, as if it
// had arrived on inPort (PortController, or PortAny, for a packet that
// did not come from a port; use the packet-in's in_port, with
// OutputAction(PortInPort), to answer back out of the port a request came
// in on). It does not wait for the switch: an OFPT_ERROR the switch sends
// for it is counted in ErrorState and passed to Options.OnError, but not
// returned by Barrier, so that packet-outs never fail someone else's
// batch. It returns an error if ctx is already done, the message cannot be
// encoded, or the connection is down.
func (s *Switch) PacketOut(ctx context.Context, inPort uint32, actions []Action, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(actions) == 0 {
		return fmt.Errorf("packet-out: no actions (the switch would drop the packet)")
	}
	b, err := packetOutMsg(inPort, actions, data, 0)
	if err != nil {
		return err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	xid := s.allocXidLocked()
	binary.BigEndian.PutUint32(b[4:8], xid)
	s.mu.Lock()
	s.pktOuts.add(xid)
	s.mu.Unlock()
	return s.writeLocked(b)
}

// xidRing remembers the most recent packet-out xids (up to
// packetOutXidMemory), so that an error for one is not attributed to a
// barrier. It grows with use (a switch that never gets a packet-out costs
// nothing) and is searched only when an error arrives without a pending
// call, which is rare: no index is kept.
type xidRing struct {
	ring []uint32
	next int
}

const packetOutXidMemory = 4096

func (r *xidRing) add(x uint32) {
	if len(r.ring) < packetOutXidMemory {
		r.ring = append(r.ring, x)
		return
	}
	r.ring[r.next] = x
	r.next = (r.next + 1) % packetOutXidMemory
}

func (r *xidRing) has(x uint32) bool { return slices.Contains(r.ring, x) }

// packetIns is a switch's bounded packet-in delivery queue, drained by a
// goroutine of its own so that a slow OnPacketIn never stalls the reader
// (echo replies, barrier replies) or the other events. The queue holds at
// most Options.PacketInQueue packet-ins; its storage grows with what is
// waiting and is released when the queue drains, and its goroutine runs
// only while there is something to deliver: an idle switch costs neither.
type packetIns struct {
	mu        sync.Mutex
	q         []PacketIn // waiting: q[head:]
	head      int
	open      bool // the switch was announced: packet-ins may be delivered
	running   bool // a delivery goroutine runs (it ends when q drains)
	closed    bool // the connection is down: nothing is queued any more
	delivered atomic.Uint64
	dropped   atomic.Uint64
	malformed atomic.Uint64
	wg        sync.WaitGroup
}

// defaultPacketInQueue is Options.PacketInQueue's default.
const defaultPacketInQueue = 1024

// keptPacketInCap is the queue storage kept once the queue drains: a
// burst's larger array is given back.
const keptPacketInCap = 16

// push queues pi unless limit packet-ins are already waiting or the
// connection is down; start is true when the caller must start a delivery
// goroutine (p.wg counts it already).
func (p *packetIns) push(pi PacketIn, limit int) (queued, start bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || len(p.q)-p.head >= limit {
		return false, false
	}
	if p.head > 0 && len(p.q) == cap(p.q) { // reuse the delivered prefix
		n := copy(p.q, p.q[p.head:])
		clear(p.q[n:])
		p.q, p.head = p.q[:n], 0
	}
	p.q = append(p.q, pi)
	return true, p.startLocked()
}

// startLocked marks a delivery goroutine running (counted in wg) if one
// is needed and may run; the caller starts it when it returns true.
func (p *packetIns) startLocked() bool {
	if !p.open || p.closed || p.running || p.head == len(p.q) {
		return false
	}
	p.running = true
	p.wg.Add(1)
	return true
}

// startPacketIns lets packet-ins be delivered (the switch was announced to
// the handler: none is delivered before SwitchConnected returns),
// starting with those already queued.
func (s *Switch) startPacketIns() {
	s.pins.mu.Lock()
	s.pins.open = true
	start := s.pins.startLocked()
	s.pins.mu.Unlock()
	if start {
		go s.deliverPacketIns()
	}
}

// pop takes the oldest waiting packet-in; when there is none, the
// delivery goroutine calling it ends (ok false).
func (p *packetIns) pop() (PacketIn, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.head == len(p.q) {
		p.running = false
		return PacketIn{}, false
	}
	pi := p.q[p.head]
	p.q[p.head] = PacketIn{} // the frame is the handler's now
	p.head++
	if p.head == len(p.q) {
		p.q, p.head = p.q[:0], 0
		if cap(p.q) > keptPacketInCap {
			p.q = nil
		}
	}
	return pi, true
}

// stop refuses later packet-ins and waits until no delivery goroutine
// runs (the connection is down: OnPacketIn is not called after it).
func (p *packetIns) stop() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.wg.Wait()
}

// handlePacketIn decodes and enqueues a packet-in (reader goroutine).
func (s *Switch) handlePacketIn(b []byte) {
	pi, err := decodePacketIn(b)
	if err != nil {
		s.pins.malformed.Add(1)
		s.log.Warn("dropping malformed packet-in", "dpid", fmt.Sprintf("%016x", s.DPID()), "error", err)
		return
	}
	queued, start := s.pins.push(pi, s.opts.PacketInQueue)
	if !queued {
		if n := s.pins.dropped.Add(1); n&(n-1) == 0 { // log at powers of two
			s.log.Warn("packet-in queue full, dropping", "dpid", fmt.Sprintf("%016x", s.DPID()), "dropped", n)
		}
		return
	}
	if start {
		go s.deliverPacketIns()
	}
}

// deliverPacketIns hands the queued packet-ins to OnPacketIn, in order,
// until the queue is empty or the connection is down.
func (s *Switch) deliverPacketIns() {
	defer s.pins.wg.Done()
	for {
		pi, ok := s.pins.pop()
		if !ok {
			return
		}
		select {
		case <-s.done:
			s.pins.drain()
			return
		default:
		}
		s.pins.delivered.Add(1)
		s.opts.OnPacketIn(s, pi)
	}
}

// drain forgets what is queued (the connection is down) and marks the
// delivery goroutine ended.
func (p *packetIns) drain() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.q, p.head, p.running = nil, 0, false
}

// PacketInStats returns the switch's packet-in counters.
func (s *Switch) PacketInStats() PacketInStats {
	return PacketInStats{
		Delivered: s.pins.delivered.Load(),
		Dropped:   s.pins.dropped.Load(),
		Malformed: s.pins.malformed.Load(),
	}
}
