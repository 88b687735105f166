package conn

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"antrea.io/libOpenflow/openflow13"
)

// oxm encodes one OXM TLV (class, field, no mask) with value v.
func oxm(class uint16, field uint8, v []byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, class)
	b = append(b, field<<1, byte(len(v)))
	return append(b, v...)
}

// packetInMsg encodes an OFPT_PACKET_IN by hand (libOpenflow v0.15.0's
// PacketIn.MarshalBinary writes the cookie over the fields before it).
func packetInMsg(xid uint32, reason, table uint8, cookie uint64, fields [][]byte, data []byte) []byte {
	var m []byte
	for _, f := range fields {
		m = append(m, f...)
	}
	match := binary.BigEndian.AppendUint16(nil, 1) // OFPMT_OXM
	match = binary.BigEndian.AppendUint16(match, uint16(4+len(m)))
	match = append(match, m...)
	for len(match)%8 != 0 {
		match = append(match, 0)
	}
	b := header(openflow13.Type_PacketIn, 24, xid)
	binary.BigEndian.PutUint32(b[8:12], NoBuffer)
	binary.BigEndian.PutUint16(b[12:14], uint16(len(data)))
	b[14], b[15] = reason, table
	binary.BigEndian.PutUint64(b[16:24], cookie)
	b = append(b, match...)
	b = append(b, 0, 0)
	b = append(b, data...)
	binary.BigEndian.PutUint16(b[2:4], uint16(len(b)))
	return b
}

func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

var testFrame = []byte("\xff\xff\xff\xff\xff\xff\x02\x00\x00\x00\x0a\x01\x08\x06 an ARP request would follow")

func TestPacketInDecoded(t *testing.T) {
	got := make(chan PacketIn, 4)
	other := make(chan Message, 4)
	h := newHarness(t, Options{
		OnPacketIn: func(sw *Switch, pi PacketIn) { got <- pi },
		OnMessage:  func(sw *Switch, m Message) { other <- m },
	})
	f, sw := h.connect(7)
	fields := [][]byte{
		oxm(oxmClassBasic, oxmInPort, u32(5)),
		oxm(0x0001, 0, u32(0xdead)), // Nicira reg0, as OVS adds: skipped
		oxm(oxmClassBasic, oxmMetadata, u64(0x0100_1092)),
		oxm(oxmClassExp, 7, append(u32(0x00d0f0), 1, 2, 3, 4)), // experimenter OXM: skipped
		oxm(oxmClassBasic, oxmTunnelID, u64(4242)),
	}
	f.writeRaw(packetInMsg(0, ReasonAction, 2, 0x4e56000000000001, fields, testFrame))
	// One with only in_port, from a table miss.
	f.writeRaw(packetInMsg(0, ReasonNoMatch, 0, 0, [][]byte{oxm(oxmClassBasic, oxmInPort, u32(9)), oxm(oxmClassBasic, oxmInPhyPort, u32(19))}, testFrame[:14]))

	want := []PacketIn{
		{BufferID: NoBuffer, TotalLen: uint16(len(testFrame)), Reason: ReasonAction, TableID: 2, Cookie: 0x4e56000000000001,
			Match: PacketInMatch{InPort: 5, Metadata: 0x01001092, HasMetadata: true, TunnelID: 4242, HasTunnelID: true}, Data: testFrame},
		{BufferID: NoBuffer, TotalLen: 14, Reason: ReasonNoMatch,
			Match: PacketInMatch{InPort: 9, InPhyPort: 19, HasPhyPort: true}, Data: testFrame[:14]},
	}
	for i, w := range want {
		select {
		case pi := <-got:
			if !bytes.Equal(pi.Data, w.Data) {
				t.Fatalf("packet-in %d data %q, want %q", i, pi.Data, w.Data)
			}
			if pi.key() != w.key() {
				t.Fatalf("packet-in %d = %+v\nwant %+v", i, pi, w)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("packet-in %d not delivered", i)
		}
	}
	select {
	case m := <-other:
		t.Fatalf("OnMessage got message type %d while OnPacketIn is set", m.Type)
	default:
	}
	if st := sw.PacketInStats(); st != (PacketInStats{Delivered: 2}) {
		t.Fatalf("stats %+v", st)
	}
}

type piKey struct {
	BufferID        uint32
	TotalLen        uint16
	Reason, TableID uint8
	Cookie          uint64
	Match           PacketInMatch
}

func (p PacketIn) key() piKey {
	return piKey{p.BufferID, p.TotalLen, p.Reason, p.TableID, p.Cookie, p.Match}
}

// A handler that blocks must not stop the reader: echoes and barriers are
// still answered, and packet-ins beyond the queue are dropped and counted.
func TestPacketInSlowHandlerDoesNotBlockReader(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 64)
	var handled atomic.Int64
	h := newHarness(t, Options{
		PacketInQueue: 4,
		OnPacketIn: func(sw *Switch, pi PacketIn) {
			entered <- struct{}{}
			<-release
			handled.Add(1)
		},
	})
	f, sw := h.connect(7)
	const sent = 50
	pi := packetInMsg(0, ReasonAction, 0, 0, [][]byte{oxm(oxmClassBasic, oxmInPort, u32(1))}, testFrame)
	f.writeRaw(pi)
	select { // the first one is in the handler, which blocks
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("first packet-in not delivered")
	}
	for i := 1; i < sent; i++ {
		f.writeRaw(pi)
	}
	// The switch asks for an echo: the reader answers at once.
	f.writeRaw(header(openflow13.Type_EchoRequest, 8, 0xabcd))
	_ = f.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	r, err := readFrame(f.c, 0)
	if err != nil || r[1] != openflow13.Type_EchoReply || xidOf(r) != 0xabcd {
		t.Fatalf("echo reply while the handler blocks: %x %v", r, err)
	}
	// And a barrier completes.
	ch := async(func() error { return sw.Barrier(context.Background()) })
	f.reply(openflow13.Type_BarrierReply, xidOf(f.expect(openflow13.Type_BarrierRequest)))
	if err := recv(t, ch); err != nil {
		t.Fatal(err)
	}
	close(release)
	// One in the handler, four queued: the other 45 were dropped.
	st := sw.PacketInStats()
	if st.Dropped != sent-5 {
		t.Fatalf("stats %+v, want %d dropped", st, sent-5)
	}
	for deadline := time.Now().Add(5 * time.Second); handled.Load() < 5; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("handled %d, want 5", handled.Load())
		}
	}
	if st := sw.PacketInStats(); st.Delivered != 5 {
		t.Fatalf("stats %+v", st)
	}
}

// The packet-in queue costs an idle switch nothing: its storage grows
// with a burst and is given back when the burst is delivered, and its
// delivery goroutine runs only while there is something to deliver.
func TestPacketInQueueReleasedWhenIdle(t *testing.T) {
	var handled atomic.Int64
	h := newHarness(t, Options{OnPacketIn: func(*Switch, PacketIn) { handled.Add(1) }})
	f, sw := h.connect(7)
	idle := func() bool {
		sw.pins.mu.Lock()
		defer sw.pins.mu.Unlock()
		return !sw.pins.running && cap(sw.pins.q) <= keptPacketInCap
	}
	if !idle() || cap(sw.pins.q) != 0 {
		t.Fatalf("a switch without packet-ins has a queue of %d or a delivery goroutine", cap(sw.pins.q))
	}
	const sent = 200
	pi := packetInMsg(0, ReasonAction, 0, 0, [][]byte{oxm(oxmClassBasic, oxmInPort, u32(1))}, testFrame)
	for range sent {
		f.writeRaw(pi)
	}
	for deadline := time.Now().Add(10 * time.Second); handled.Load() < sent || !idle(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("handled %d of %d; idle %v", handled.Load(), sent, idle())
		}
	}
	if st := sw.PacketInStats(); st.Delivered != sent || st.Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestPacketInMalformedDropped(t *testing.T) {
	got := make(chan PacketIn, 4)
	h := newHarness(t, Options{OnPacketIn: func(sw *Switch, pi PacketIn) { got <- pi }})
	f, sw := h.connect(7)
	good := packetInMsg(0, ReasonAction, 0, 0, [][]byte{oxm(oxmClassBasic, oxmInPort, u32(3))}, testFrame)
	badLen := append([]byte(nil), good...)
	binary.BigEndian.PutUint16(badLen[26:28], 200) // match longer than the message
	badOXM := append([]byte(nil), good...)
	badOXM[24+4+3] = 40 // in_port claims 40 bytes
	for _, b := range [][]byte{badLen, badOXM, append([]byte(nil), good[:30]...)} {
		binary.BigEndian.PutUint16(b[2:4], uint16(len(b)))
		f.writeRaw(b)
	}
	f.writeRaw(good)
	select {
	case pi := <-got:
		if pi.Match.InPort != 3 {
			t.Fatalf("packet-in %+v", pi)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("good packet-in after bad ones not delivered")
	}
	if st := sw.PacketInStats(); st.Malformed != 3 || st.Delivered != 1 {
		t.Fatalf("stats %+v", st)
	}
	if sw.Err() != nil {
		t.Fatalf("connection closed: %v", sw.Err())
	}
}

// blockingHandler's SwitchConnected waits for release.
type blockingHandler struct {
	release      chan struct{}
	returned     atomic.Bool
	disconnected atomic.Bool
	running      atomic.Int64 // OnPacketIn calls in progress
	runningAtEnd int64
	connected    chan *Switch
	done         chan struct{}
}

func (b *blockingHandler) SwitchConnected(sw *Switch) {
	b.connected <- sw
	<-b.release
	b.returned.Store(true)
}
func (b *blockingHandler) SwitchDisconnected(sw *Switch, err error) {
	b.disconnected.Store(true)
	b.runningAtEnd = b.running.Load()
	close(b.done)
}

// Packet-ins, like every event, reach the handler only after
// SwitchConnected returned, and never after SwitchDisconnected.
func TestPacketInOrderedWithHandler(t *testing.T) {
	bh := &blockingHandler{release: make(chan struct{}), connected: make(chan *Switch, 1), done: make(chan struct{})}
	type seen struct{ afterConnected, afterDisconnected bool }
	got := make(chan seen, 4)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l, err := Listen(ctx, "127.0.0.1:0", nil, bh, Options{Logger: testLogger(t), OnPacketIn: func(sw *Switch, pi PacketIn) {
		bh.running.Add(1)
		defer bh.running.Add(-1)
		got <- seen{bh.returned.Load(), bh.disconnected.Load()}
		time.Sleep(50 * time.Millisecond) // likely still running when the connection closes
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { l.Close(); <-l.Done() }()
	h := &harness{t: t, l: l}
	f := h.dial()
	f.handshake(7)
	sw := <-bh.connected
	f.writeRaw(packetInMsg(0, ReasonAction, 0, 0, [][]byte{oxm(oxmClassBasic, oxmInPort, u32(1))}, testFrame))
	f.writeRaw(header(openflow13.Type_EchoRequest, 8, 0x77))
	_ = f.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if r, err := readFrame(f.c, 0); err != nil || r[1] != openflow13.Type_EchoReply {
		t.Fatalf("echo: %v", err) // the reader has dispatched the packet-in by now
	}
	close(bh.release)
	if s := <-got; !s.afterConnected {
		t.Fatal("packet-in delivered before SwitchConnected returned")
	}
	f.writeRaw(packetInMsg(0, ReasonAction, 0, 0, [][]byte{oxm(oxmClassBasic, oxmInPort, u32(1))}, testFrame))
	if s := <-got; s.afterDisconnected {
		t.Fatal("packet-in delivered after SwitchDisconnected")
	}
	sw.Close()
	<-bh.done
	if bh.runningAtEnd != 0 {
		t.Fatal("SwitchDisconnected called while OnPacketIn was running")
	}
}

func TestPacketOutWireFormat(t *testing.T) {
	h := newHarness(t, Options{})
	f, sw := h.connect(7)
	data := []byte("reply frame")
	ch := async(func() error {
		return sw.PacketOut(context.Background(), 5, []Action{
			PushVLANAction(0x8100), SetVLANVIDAction(100), OutputAction(PortInPort), PopVLANAction(), OutputAction(PortController),
		}, data)
	})
	if err := recv(t, ch); err != nil {
		t.Fatal(err)
	}
	b := f.expect(openflow13.Type_PacketOut)
	want := strings.Join([]string{
		"04 0d 0063", hex.EncodeToString(b[4:8]), // header: 8 + 16 + 64 actions + 11 data = 99
		"ffffffff 00000005 0040 000000000000",  // buffer_id, in_port, actions_len, pad
		"0011 0008 8100 0000",                  // push_vlan 0x8100
		"0019 0010 80000c02 1064 000000000000", // set_field vlan_vid = OFPVID_PRESENT|100
		"0000 0010 fffffff8 0000 000000000000", // output IN_PORT
		"0012 0008 00000000",                   // pop_vlan: 8 bytes
		"0000 0010 fffffffd ffff 000000000000", // output CONTROLLER, max_len NO_BUFFER
		hex.EncodeToString(data),
	}, "")
	if got := hex.EncodeToString(b); got != strings.ReplaceAll(want, " ", "") {
		t.Fatalf("packet-out\n got  %s\n want %s", got, strings.ReplaceAll(want, " ", ""))
	}
	// The structure is valid for the checks this package runs on actions.
	if err := checkActions(b[24 : 24+64]); err != nil {
		t.Fatal(err)
	}
}

// An error for a packet-out goes to OnError and ErrorState, never into the
// BatchError of a Barrier whose caller did not send it.
func TestPacketOutErrorNotInBarrier(t *testing.T) {
	onErr := make(chan *OFError, 4)
	h := newHarness(t, Options{OnError: func(sw *Switch, e *OFError) { onErr <- e }})
	f, sw := h.connect(7)
	ctx := context.Background()
	fm, _ := sw.Send(flowMod(1))
	if err := sw.PacketOut(ctx, 1, []Action{OutputAction(2)}, testFrame); err != nil {
		t.Fatal(err)
	}
	b := async(func() error { return sw.Barrier(ctx) })
	f.expect(openflow13.Type_FlowMod)
	po := f.expect(openflow13.Type_PacketOut)
	bar := f.expect(openflow13.Type_BarrierRequest)
	f.sendError(xidOf(po), openflow13.ET_BAD_ACTION, openflow13.BAC_BAD_OUT_PORT)
	f.reply(openflow13.Type_BarrierReply, xidOf(bar))
	if err := recv(t, b); err != nil {
		t.Fatalf("barrier after a failed packet-out: %v", err)
	}
	select {
	case e := <-onErr:
		if e.Xid != xidOf(po) || e.Code != openflow13.BAC_BAD_OUT_PORT {
			t.Fatalf("OnError %v", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("packet-out error not passed to OnError")
	}
	if sw.ErrorState().Count != 1 {
		t.Fatalf("ErrorState %+v", sw.ErrorState())
	}
	// A flow-mod's error still reaches its barrier.
	b = async(func() error { return sw.Barrier(ctx) })
	f.sendError(fm, openflow13.ET_FLOW_MOD_FAILED, openflow13.FMFC_TABLE_FULL)
	f.reply(openflow13.Type_BarrierReply, xidOf(f.expect(openflow13.Type_BarrierRequest)))
	var be *BatchError
	if err := recv(t, b); !errors.As(err, &be) || be.Errors[0].Xid != fm {
		t.Fatalf("barrier: %v, want the flow-mod's error", err)
	}
}

func TestPacketOutRefused(t *testing.T) {
	h := newHarness(t, Options{})
	f, sw := h.connect(7)
	if err := sw.PacketOut(context.Background(), 1, nil, testFrame); err == nil {
		t.Error("packet-out without actions accepted")
	}
	if err := sw.PacketOut(context.Background(), 1, []Action{OutputAction(2)}, make([]byte, 65535)); err == nil {
		t.Error("oversize packet-out accepted")
	}
	if err := sw.PacketOut(context.Background(), 1, []Action{{typ: 0xffff}}, testFrame); err == nil {
		t.Error("unknown action encoded")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := sw.PacketOut(ctx, 1, []Action{OutputAction(2)}, testFrame); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled packet-out: %v", err)
	}
	f.c.Close()
	<-sw.Done()
	if err := sw.PacketOut(context.Background(), 1, []Action{OutputAction(2)}, testFrame); !errors.Is(err, ErrClosed) {
		t.Errorf("packet-out on a closed connection: %v", err)
	}
}

func TestActionString(t *testing.T) {
	got := []string{}
	for _, a := range []Action{OutputAction(3), OutputAction(PortInPort), OutputAction(PortTable), OutputAction(PortLocal),
		OutputAction(PortController), PushVLANAction(0x88a8), PopVLANAction(), SetVLANVIDAction(7)} {
		got = append(got, a.String())
	}
	want := "output:3 output:IN_PORT output:TABLE output:LOCAL output:CONTROLLER push_vlan:0x88a8 pop_vlan set_field:7->vlan_vid"
	if strings.Join(got, " ") != want {
		t.Fatalf("got %q", strings.Join(got, " "))
	}
}
