package conn

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"testing"
	"time"

	"antrea.io/libOpenflow/common"
	"antrea.io/libOpenflow/openflow13"
	"antrea.io/libOpenflow/util"
)

func TestHandshake(t *testing.T) {
	h := newHarness(t, Options{})
	f, sw := h.connect(0x00000000000abc01,
		phyPort(1, "vm1", false), phyPort(2, "tun0", true), phyPort(openflow13.P_LOCAL, "br-int", false))

	if sw.DPID() != 0xabc01 {
		t.Errorf("DPID = %x, want abc01", sw.DPID())
	}
	if got := sw.Features().NumTables; got != 254 {
		t.Errorf("NumTables = %d, want 254", got)
	}
	ports := sw.Ports()
	if len(ports) != 3 {
		t.Fatalf("ports = %v, want 3", ports)
	}
	if p := ports[2]; p.Name != "tun0" || p.LinkUp || !p.AdminUp {
		t.Errorf("port 2 = %+v, want tun0 link down admin up", p)
	}
	p, ok := sw.PortByName("vm1")
	if !ok || p.Number != 1 || !p.LinkUp || p.HWAddr.String() != "02:00:00:00:00:01" {
		t.Errorf("PortByName(vm1) = %+v, %v", p, ok)
	}
	if _, ok := sw.PortByName("nope"); ok {
		t.Error("PortByName found a port that does not exist")
	}
	if sw.RemoteAddr().String() != f.c.LocalAddr().String() {
		t.Errorf("RemoteAddr = %s, want %s", sw.RemoteAddr(), f.c.LocalAddr())
	}
	if got := h.l.Switches(); len(got) != 1 || got[0] != sw {
		t.Errorf("Switches() = %v", got)
	}
	if sw.Err() != nil {
		t.Errorf("Err() = %v while connected", sw.Err())
	}

	f.c.Close()
	err := h.rec.waitDisconnected(t)
	if !errors.Is(err, ErrClosed) {
		t.Errorf("disconnect error %v does not wrap ErrClosed", err)
	}
	<-sw.Done()
	if sw.Err() == nil {
		t.Error("Err() nil after disconnect")
	}
	if _, err := sw.Send(openflow13.NewFlowMod()); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after close: %v", err)
	}
}

func TestNegotiate(t *testing.T) {
	hello := func(version uint8, bitmap ...uint32) []byte {
		h, _ := common.NewHello(int(version))
		if bitmap == nil {
			h.Elements = nil
		} else {
			h.Elements[0].(*common.HelloElemVersionBitmap).Bitmaps = bitmap
			h.Elements[0].(*common.HelloElemVersionBitmap).Length = uint16(4 + 4*len(bitmap))
		}
		b, err := h.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, tc := range []struct {
		name string
		msg  []byte
		ok   bool
	}{
		{"1.3 no bitmap", hello(4), true},
		{"1.5 no bitmap", hello(6), true},
		{"1.0 no bitmap", hello(1), false},
		{"1.5 bitmap with 1.3", hello(6, 1<<6|1<<4|1<<1), true},
		{"1.5 bitmap without 1.3", hello(6, 1<<6|1<<1), false},
		{"1.3 only", hello(4, 1<<4), true},
	} {
		ok, err := negotiate(tc.msg)
		if err != nil || ok != tc.ok {
			t.Errorf("%s: negotiate = %v, %v; want %v", tc.name, ok, err, tc.ok)
		}
	}
	bad := hello(4, 1<<4)
	binary.BigEndian.PutUint16(bad[10:12], 200) // element longer than message
	if _, err := negotiate(bad); !errors.Is(err, ErrMalformed) {
		t.Errorf("bad element length: %v", err)
	}
}

func TestVersionNegotiationFailure(t *testing.T) {
	h := newHarness(t, Options{})
	for _, tc := range []struct {
		name  string
		hello func() util.Message
	}{
		{"OF1.0 peer", func() util.Message {
			hh, _ := common.NewHello(1)
			hh.Elements = nil
			return hh
		}},
		{"OF1.0+1.5 bitmap", func() util.Message { hh, _ := common.NewHello(6); return hh }}, // libOpenflow's default bitmap: 1.0 and 1.5
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := h.dial()
			f.write(tc.hello())
			_ = f.c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if b, err := readFrame(f.c, 0); err != nil || b[1] != openflow13.Type_Hello {
				t.Fatalf("expected controller hello, got %v %v", b, err)
			}
			b, err := readFrame(f.c, 0)
			if err != nil {
				t.Fatalf("expected HELLO_FAILED error: %v", err)
			}
			e, err := decodeError(b)
			if err != nil || b[1] != openflow13.Type_Error || e.Type != openflow13.ET_HELLO_FAILED || e.Code != openflow13.HFC_INCOMPATIBLE {
				t.Fatalf("got %+v (%v), want HELLO_FAILED/INCOMPATIBLE", e, err)
			}
			waitClosed(t, f.c)
		})
	}
	select {
	case sw := <-h.rec.connected:
		t.Fatalf("incompatible switch %v was announced", sw)
	default:
	}
}

func TestEchoReply(t *testing.T) {
	h := newHarness(t, Options{})
	f, _ := h.connect(1)
	req := openflow13.NewEchoRequest()
	req.Xid = 0xfeed
	payload := []byte("are you there?")
	b, _ := req.MarshalBinary()
	b = append(b, payload...)
	binary.BigEndian.PutUint16(b[2:4], uint16(len(b)))
	f.writeRaw(b)
	_ = f.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		r, err := readFrame(f.c, 0)
		if err != nil {
			t.Fatal(err)
		}
		if r[1] != openflow13.Type_EchoReply {
			continue
		}
		if xidOf(r) != 0xfeed || !bytes.Equal(r[8:], payload) {
			t.Fatalf("echo reply xid %x payload %q", xidOf(r), r[8:])
		}
		return
	}
}

// TestNoEchoToATalkingSwitch: the keepalive is an inactivity probe, so a
// switch that keeps sending (here its own echo requests, as Open
// vSwitch's probe does) is never sent an echo request, while nva still
// answers each of its requests.
func TestNoEchoToATalkingSwitch(t *testing.T) {
	h := newHarness(t, Options{EchoInterval: 300 * time.Millisecond, DeadInterval: 10 * time.Second})
	f, sw := h.connect(1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 300; i++ {
			req := openflow13.NewEchoRequest()
			req.Xid = uint32(0x1000 + i)
			b, _ := req.MarshalBinary()
			f.writeRaw(b)
			time.Sleep(5 * time.Millisecond)
		}
	}()
	replies := 0
	_ = f.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for replies < 300 {
		b, err := readFrame(f.c, 0)
		if err != nil {
			t.Fatalf("after %d echo replies: %v", replies, err)
		}
		switch b[1] {
		case openflow13.Type_EchoRequest:
			t.Fatalf("nva sent an echo request to a switch that talked every 5 ms (after %d replies)", replies)
		case openflow13.Type_EchoReply:
			replies++
		}
	}
	<-done
	select {
	case <-sw.Done():
		t.Fatalf("talking switch disconnected: %v", sw.Err())
	default:
	}
}

func TestKeepaliveAndDeadInterval(t *testing.T) {
	h := newHarness(t, Options{EchoInterval: 20 * time.Millisecond, DeadInterval: 200 * time.Millisecond})
	f, sw := h.connect(1)

	// A switch that answers echoes stays up well past the dead interval.
	stop := make(chan struct{})
	answered := make(chan int, 1)
	go func() {
		n := 0
		defer func() { answered <- n }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			_ = f.c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			b, err := readFrame(f.c, 0)
			if err != nil {
				continue
			}
			if b[1] == openflow13.Type_EchoRequest {
				b[1] = openflow13.Type_EchoReply
				if _, err := f.c.Write(b); err == nil {
					n++
				}
			}
		}
	}()
	select {
	case <-sw.Done():
		t.Fatalf("switch answering echoes was disconnected: %v", sw.Err())
	case <-time.After(600 * time.Millisecond):
	}
	close(stop)
	if n := <-answered; n < 3 {
		t.Fatalf("only %d echo requests seen", n)
	}

	// Now the switch goes silent: the dead interval closes it.
	select {
	case <-sw.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("silent switch not disconnected")
	}
	if !errors.Is(sw.Err(), ErrDeadInterval) || !errors.Is(sw.Err(), ErrClosed) {
		t.Fatalf("Err() = %v, want dead interval", sw.Err())
	}
	if err := h.rec.waitDisconnected(t); !errors.Is(err, ErrDeadInterval) {
		t.Fatalf("SwitchDisconnected err = %v", err)
	}
}

func TestRepliesMatchedByXidOutOfOrder(t *testing.T) {
	got := make(chan Message, 4)
	h := newHarness(t, Options{OnMessage: func(sw *Switch, m Message) { got <- m }})
	f, sw := h.connect(7)
	ctx := context.Background()

	roleCh := make(chan error, 1)
	var role Role
	var gen uint64
	go func() {
		var err error
		role, gen, err = sw.SetRole(ctx, RoleMaster, 42)
		roleCh <- err
	}()
	roleReq := f.expect(openflow13.Type_RoleRequest)
	if r := binary.BigEndian.Uint32(roleReq[8:12]); r != uint32(RoleMaster) || binary.BigEndian.Uint64(roleReq[16:24]) != 42 {
		t.Fatalf("role request body %x", roleReq[8:])
	}
	cfgCh := make(chan util.Message, 1)
	errCh := async2(func() error {
		m, err := sw.Request(ctx, openflow13.NewConfigRequest())
		cfgCh <- m
		return err
	})
	cfgReq := f.expect(openflow13.Type_GetConfigRequest)

	// Unsolicited messages in between, then replies in reverse order.
	// A packet-in carrying the xid of a pending request must not complete it.
	pinRaw := []byte{4, openflow13.Type_PacketIn, 0, 8, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(pinRaw[4:8], xidOf(roleReq))
	f.writeRaw(pinRaw)
	cfg := openflow13.NewSetConfig()
	cfg.Header.Type = openflow13.Type_GetConfigReply
	cfg.Header.Xid = xidOf(cfgReq)
	cfg.MissSendLen = 1234
	f.write(cfg)
	rr := append([]byte(nil), roleReq...)
	rr[1] = openflow13.Type_RoleReply
	f.writeRaw(rr)

	if err := recv(t, errCh); err != nil {
		t.Fatal(err)
	}
	if m, ok := (<-cfgCh).(*openflow13.SwitchConfig); !ok || m.MissSendLen != 1234 {
		t.Fatalf("config reply = %#v", m)
	}
	if err := recv(t, roleCh); err != nil || role != RoleMaster || gen != 42 {
		t.Fatalf("SetRole = %v %d %v", role, gen, err)
	}
	select {
	case m := <-got:
		if m.Type != openflow13.Type_PacketIn {
			t.Fatalf("async message type %d", m.Type)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("packet-in not delivered to OnMessage")
	}
}

func async2(f func() error) <-chan error { return async(f) }

func flowStatsEntry(t testing.TB, cookie uint64, prio uint16) []byte {
	fs := openflow13.NewFlowStats()
	fs.Cookie, fs.Priority, fs.TableId = cookie, prio, 3
	fs.Match.AddField(*openflow13.NewInPortField(5))
	fs.Instructions = append(fs.Instructions, openflow13.NewInstrGotoTable(4))
	fs.Length = fs.Len()
	b, err := fs.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mpReply(mpType uint16, xid uint32, more bool, body []byte) []byte {
	b := header(openflow13.Type_MultiPartReply, mpHeaderLen+len(body), xid)
	binary.BigEndian.PutUint16(b[8:10], mpType)
	if more {
		binary.BigEndian.PutUint16(b[10:12], openflow13.OFPMPF_REPLY_MORE)
	}
	copy(b[16:], body)
	return b
}

func TestMultipartAccumulation(t *testing.T) {
	h := newHarness(t, Options{})
	f, sw := h.connect(7)
	var stats []*openflow13.FlowStats
	ch := async(func() error {
		var err error
		stats, err = sw.FlowStats(context.Background(), 3, 0xab00, 0xff00)
		return err
	})
	req := f.expect(openflow13.Type_MultiPartRequest)
	if binary.BigEndian.Uint16(req[8:10]) != openflow13.MultipartType_Flow || req[16] != 3 ||
		binary.BigEndian.Uint64(req[32:40]) != 0xab00 || binary.BigEndian.Uint64(req[40:48]) != 0xff00 {
		t.Fatalf("flow stats request %x", req)
	}
	xid := xidOf(req)
	f.writeRaw(mpReply(openflow13.MultipartType_Flow, xid, true, append(flowStatsEntry(t, 0xab01, 10), flowStatsEntry(t, 0xab02, 20)...)))
	f.writeRaw([]byte{4, openflow13.Type_EchoRequest, 0, 8, 0, 0, 0, 99}) // interleaved
	f.writeRaw(mpReply(openflow13.MultipartType_Flow, xid, true, nil))
	f.writeRaw(mpReply(openflow13.MultipartType_Flow, xid, false, flowStatsEntry(t, 0xab03, 30)))
	if err := recv(t, ch); err != nil {
		t.Fatal(err)
	}
	if len(stats) != 3 {
		t.Fatalf("got %d flow stats, want 3", len(stats))
	}
	for i, s := range stats {
		if s.Cookie != 0xab01+uint64(i) || s.Priority != uint16(10*(i+1)) || s.TableId != 3 || len(s.Instructions) != 1 {
			t.Errorf("entry %d = cookie %x prio %d table %d instrs %d", i, s.Cookie, s.Priority, s.TableId, len(s.Instructions))
		}
	}
	if g, ok := stats[0].Instructions[0].(*openflow13.InstrGotoTable); !ok || g.TableId != 4 {
		t.Errorf("instruction = %#v", stats[0].Instructions[0])
	}
}

// Parts are kept as they arrive (not copied into one buffer); a switch
// that splits an entry across parts is still read right.
func TestMultipartEntrySplitAcrossParts(t *testing.T) {
	h := newHarness(t, Options{})
	f, sw := h.connect(7)
	var entries [][]byte
	ch := async(func() error {
		var err error
		entries, err = sw.FlowStatsRaw(context.Background(), 3, 0, 0)
		return err
	})
	xid := xidOf(f.expect(openflow13.Type_MultiPartRequest))
	one, two := flowStatsEntry(t, 0xab01, 10), flowStatsEntry(t, 0xab02, 20)
	body := append(append([]byte(nil), one...), two...)
	cut := len(one) + 10 // inside the second entry
	f.writeRaw(mpReply(openflow13.MultipartType_Flow, xid, true, body[:cut]))
	f.writeRaw(mpReply(openflow13.MultipartType_Flow, xid, false, body[cut:]))
	if err := recv(t, ch); err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || !bytes.Equal(entries[0], one) || !bytes.Equal(entries[1], two) {
		t.Fatalf("entries %x, want %x and %x", entries, one, two)
	}
}

func flowMod(cookie uint64) *openflow13.FlowMod {
	fm := openflow13.NewFlowMod()
	fm.Cookie = cookie
	return fm
}

func TestBarrierReturnsErrorsOfItsEpoch(t *testing.T) {
	onErr := make(chan *OFError, 16)
	h := newHarness(t, Options{OnError: func(sw *Switch, e *OFError) { onErr <- e }})
	f, sw := h.connect(7)
	ctx := context.Background()

	var xids []uint32
	for i := 0; i < 5; i++ {
		x, err := sw.Send(flowMod(uint64(i)))
		if err != nil {
			t.Fatal(err)
		}
		xids = append(xids, x)
	}
	b1 := async(func() error { return sw.Barrier(ctx) })
	for i := 0; i < 5; i++ {
		m := f.expect(openflow13.Type_FlowMod)
		if xidOf(m) != xids[i] || binary.BigEndian.Uint64(m[8:16]) != uint64(i) {
			t.Fatalf("flow-mod %d arrived with xid %d cookie %x, want %d", i, xidOf(m), m[8:16], xids[i])
		}
	}
	bar1 := f.expect(openflow13.Type_BarrierRequest)
	// Messages sent after the first barrier belong to the second one.
	late, _ := sw.Send(flowMod(99))
	b2 := async(func() error { return sw.Barrier(ctx) })
	f.expect(openflow13.Type_FlowMod)
	bar2 := f.expect(openflow13.Type_BarrierRequest)

	f.sendError(xids[1], openflow13.ET_BAD_ACTION, openflow13.BAC_BAD_OUT_PORT)
	f.sendError(xids[3], openflow13.ET_FLOW_MOD_FAILED, openflow13.FMFC_TABLE_FULL)
	f.reply(openflow13.Type_BarrierReply, xidOf(bar1))
	f.sendError(late, openflow13.PET_BAD_MATCH, openflow13.BMC_BAD_FIELD)
	f.reply(openflow13.Type_BarrierReply, xidOf(bar2))

	err := recv(t, b1)
	var be *BatchError
	if !errors.As(err, &be) {
		t.Fatalf("first barrier: %v, want *BatchError", err)
	}
	if got := be.Xids(); len(got) != 2 || got[0] != xids[1] || got[1] != xids[3] {
		t.Fatalf("first barrier failed xids %v, want %v", got, []uint32{xids[1], xids[3]})
	}
	var oe *OFError
	if !errors.As(err, &oe) || oe.Type != openflow13.ET_BAD_ACTION {
		t.Errorf("errors.As OFError = %v", oe)
	}
	err = recv(t, b2)
	if !errors.As(err, &be) || len(be.Errors) != 1 || be.Errors[0].Xid != late || be.Errors[0].Code != openflow13.BMC_BAD_FIELD {
		t.Fatalf("second barrier: %v", err)
	}
	// A clean epoch.
	b3 := async(func() error { return sw.Barrier(ctx) })
	f.reply(openflow13.Type_BarrierReply, xidOf(f.expect(openflow13.Type_BarrierRequest)))
	if err := recv(t, b3); err != nil {
		t.Fatalf("third barrier: %v", err)
	}
	st := sw.ErrorState()
	if st.Count != 3 || st.Last == "" || st.LastAt.IsZero() {
		t.Errorf("ErrorState = %+v", st)
	}
	// OnError runs on the event goroutine, in arrival order.
	for i, want := range []uint32{xids[1], xids[3], late} {
		select {
		case e := <-onErr:
			if e.Xid != want {
				t.Errorf("OnError %d xid %d, want %d", i, e.Xid, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("OnError %d not called", i)
		}
	}
}

func TestRequestErrorAndNoReplyRefused(t *testing.T) {
	h := newHarness(t, Options{})
	f, sw := h.connect(7)
	ch := async(func() error { _, _, err := sw.SetRole(context.Background(), RoleSlave, 1); return err })
	req := f.expect(openflow13.Type_RoleRequest)
	f.sendError(xidOf(req), openflow13.ET_ROLE_REQUEST_FAILED, 0 /* STALE */)
	var oe *OFError
	if err := recv(t, ch); !errors.As(err, &oe) || oe.Type != openflow13.ET_ROLE_REQUEST_FAILED || oe.Xid != xidOf(req) {
		t.Fatalf("SetRole error = %v", err)
	}
	if _, err := sw.Request(context.Background(), flowMod(1)); err == nil {
		t.Fatal("Request with a flow-mod (no reply) was accepted")
	}
	// A request abandoned by its caller does not leak or block others.
	ctx, cancel := context.WithCancel(context.Background())
	ch = async(func() error { _, err := sw.Request(ctx, openflow13.NewFeaturesRequest()); return err })
	f.expect(openflow13.Type_FeaturesRequest)
	cancel()
	if err := recv(t, ch); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled request: %v", err)
	}
}

func TestPortStatusEvents(t *testing.T) {
	events := make(chan PortEvent, 16)
	h := newHarness(t, Options{OnPortStatus: func(sw *Switch, ev PortEvent) { events <- ev }})
	f, sw := h.connect(7, phyPort(1, "vm1", false))
	sub := make(chan PortEvent, 16)
	cancel := sw.SubscribePorts(func(ev PortEvent) { sub <- ev })
	defer cancel()

	send := func(reason uint8, p *openflow13.PhyPort) {
		ps := openflow13.NewPortStatus()
		ps.Header.Type = openflow13.Type_PortStatus
		ps.Reason = reason
		ps.Desc = *p
		f.write(ps)
	}
	down := phyPort(1, "vm1", true)
	down.Config = openflow13.PC_PORT_DOWN
	send(openflow13.PR_ADD, phyPort(2, "vm2", false))
	send(openflow13.PR_MODIFY, down)
	send(openflow13.PR_DELETE, phyPort(2, "vm2", false))

	want := []struct {
		r    PortReason
		name string
	}{{PortAdded, "vm2"}, {PortModified, "vm1"}, {PortDeleted, "vm2"}}
	for i, w := range want {
		for _, ch := range []chan PortEvent{events, sub} {
			select {
			case ev := <-ch:
				if ev.Reason != w.r || ev.Port.Name != w.name {
					t.Fatalf("event %d = %v %s, want %v %s", i, ev.Reason, ev.Port.Name, w.r, w.name)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("event %d not delivered", i)
			}
		}
	}
	ports := sw.Ports()
	if len(ports) != 1 || ports[1].LinkUp || ports[1].AdminUp {
		t.Fatalf("port table after events = %+v", ports)
	}
}

func TestBundleWireFormat(t *testing.T) {
	h := newHarness(t, Options{})
	f, sw := h.connect(7)
	ch := async(func() error {
		return sw.Bundle(context.Background(), []util.Message{flowMod(1), flowMod(2)})
	})
	ctl := func(want uint16) (uint32, []byte) {
		b := f.expect(openflow13.Type_Experimenter)
		if binary.BigEndian.Uint32(b[8:12]) != openflow13.ONF_EXPERIMENTER_ID || binary.BigEndian.Uint32(b[12:16]) != onftBundleControl {
			t.Fatalf("not a bundle control: %x", b)
		}
		if typ := binary.BigEndian.Uint16(b[20:22]); typ != want {
			t.Fatalf("bundle control type %d, want %d", typ, want)
		}
		if fl := binary.BigEndian.Uint16(b[22:24]); fl != bundleFlagAtomic|bundleFlagOrdered {
			t.Fatalf("bundle flags %d", fl)
		}
		return binary.BigEndian.Uint32(b[16:20]), b
	}
	replyCtl := func(req []byte, typ uint16) {
		r := append([]byte(nil), req...)
		binary.BigEndian.PutUint16(r[20:22], typ)
		f.writeRaw(r)
	}
	id, open := ctl(bundleOpenRequest)
	replyCtl(open, bundleOpenReply)
	for i := 1; i <= 2; i++ {
		add := f.expect(openflow13.Type_Experimenter)
		if binary.BigEndian.Uint32(add[12:16]) != onftBundleAdd || binary.BigEndian.Uint32(add[16:20]) != id {
			t.Fatalf("bundle add %d: %x", i, add[:24])
		}
		inner := add[24:]
		if inner[1] != openflow13.Type_FlowMod || int(binary.BigEndian.Uint16(inner[2:4])) != len(inner) ||
			xidOf(inner) != xidOf(add) || binary.BigEndian.Uint64(inner[8:16]) != uint64(i) {
			t.Fatalf("bundle add %d inner message %x", i, inner[:16])
		}
	}
	f.reply(openflow13.Type_BarrierReply, xidOf(f.expect(openflow13.Type_BarrierRequest)))
	_, commit := ctl(bundleCommitRequest)
	replyCtl(commit, bundleCommitReply)
	if err := recv(t, ch); err != nil {
		t.Fatal(err)
	}

	// A refused add discards the bundle and names the failing xid.
	ch = async(func() error {
		return sw.Bundle(context.Background(), []util.Message{flowMod(1), flowMod(2)})
	})
	_, open = ctl(bundleOpenRequest)
	replyCtl(open, bundleOpenReply)
	f.expect(openflow13.Type_Experimenter)
	bad := f.expect(openflow13.Type_Experimenter)
	f.sendError(xidOf(bad), openflow13.PET_BAD_MATCH, openflow13.BMC_BAD_PREREQ)
	f.reply(openflow13.Type_BarrierReply, xidOf(f.expect(openflow13.Type_BarrierRequest)))
	_, disc := ctl(bundleDiscardRequest)
	replyCtl(disc, bundleDiscardReply)
	var be *BatchError
	if err := recv(t, ch); !errors.As(err, &be) || len(be.Errors) != 1 || be.Errors[0].Xid != xidOf(bad) {
		t.Fatalf("bundle with refused add: %v", err)
	}
}

// Malformed input closes only the offending switch's connection.
func TestMalformedClosesOnlyThatSwitch(t *testing.T) {
	h := newHarness(t, Options{})
	good, goodSw := h.connect(1)

	portStatusShort := []byte{4, openflow13.Type_PortStatus, 0, 16, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0}
	errorShort := []byte{4, openflow13.Type_Error, 0, 10, 0, 0, 0, 1, 0, 1}
	for _, tc := range []struct {
		name  string
		bytes []byte
		eof   bool // close our write side after sending
	}{
		{"length below header", []byte{4, 0, 0, 4, 0, 0, 0, 1}, false},
		{"truncated body", []byte{4, openflow13.Type_PacketIn, 0, 100, 0, 0, 0, 1, 1, 2, 3}, true},
		{"garbage", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), false},
		{"wrong version", []byte{1, openflow13.Type_EchoRequest, 0, 8, 0, 0, 0, 1}, false},
		{"short port status", portStatusShort, false},
		{"short error", errorShort, false},
		{"short multipart reply", []byte{4, openflow13.Type_MultiPartReply, 0, 12, 0, 0, 0, 1, 0, 1, 0, 0}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, sw := h.connect(2)
			f.writeRaw(tc.bytes)
			if tc.eof {
				f.c.(*net.TCPConn).CloseWrite()
			}
			select {
			case <-sw.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("malformed message did not close the connection")
			}
			if !errors.Is(sw.Err(), ErrMalformed) {
				t.Errorf("Err() = %v, want ErrMalformed", sw.Err())
			}
			h.rec.waitDisconnected(t)
		})
	}
	// The well-behaved switch is untouched.
	select {
	case <-goodSw.Done():
		t.Fatalf("good switch closed: %v", goodSw.Err())
	default:
	}
	ch := async(func() error { return goodSw.Barrier(context.Background()) })
	good.reply(openflow13.Type_BarrierReply, xidOf(good.expect(openflow13.Type_BarrierRequest)))
	if err := recv(t, ch); err != nil {
		t.Fatal(err)
	}
}

func TestMalformedMultipartBodyFailsCallOnly(t *testing.T) {
	h := newHarness(t, Options{})
	f, sw := h.connect(1)
	ch := async(func() error { _, err := sw.FlowStats(context.Background(), openflow13.OFPTT_ALL, 0, 0); return err })
	req := f.expect(openflow13.Type_MultiPartRequest)
	entry := flowStatsEntry(t, 1, 1)
	binary.BigEndian.PutUint16(entry[0:2], uint16(len(entry)+40)) // claims more than it has
	f.writeRaw(mpReply(openflow13.MultipartType_Flow, xidOf(req), false, entry))
	if err := recv(t, ch); !errors.Is(err, ErrMalformed) {
		t.Fatalf("FlowStats on a bad entry: %v", err)
	}
}

func TestListenerCloseEndsEverything(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	rec := newRecorder()
	l, err := Listen(ctx, "tcp:127.0.0.1:0", nil, rec, Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, l: l, rec: rec}
	f, sw := h.connect(5)
	cancel()
	<-sw.Done()
	if !errors.Is(rec.waitDisconnected(t), ErrClosed) {
		t.Error("disconnect cause does not wrap ErrClosed")
	}
	waitClosed(t, f.c)
	select {
	case <-l.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("listener not done")
	}
	if _, err := net.Dial("tcp", l.Addr().String()); err == nil {
		t.Error("listener still accepting")
	}
}

func TestHandshakeTimeout(t *testing.T) {
	h := newHarness(t, Options{HandshakeTimeout: 200 * time.Millisecond})
	f := h.dial() // never says hello
	waitClosed(t, f.c)
	// One that says hello but never answers FEATURES_REQUEST.
	f = h.dial()
	f.write(hello13())
	waitClosed(t, f.c)
	select {
	case sw := <-h.rec.connected:
		t.Fatalf("switch %v announced without a handshake", sw)
	default:
	}
}

func TestAbandonedBarrierPassesErrorsOn(t *testing.T) {
	h := newHarness(t, Options{})
	f, sw := h.connect(7)
	x, _ := sw.Send(flowMod(1))
	ctx, cancel := context.WithCancel(context.Background())
	b1 := async(func() error { return sw.Barrier(ctx) })
	f.expect(openflow13.Type_FlowMod)
	bar1 := f.expect(openflow13.Type_BarrierRequest)
	f.sendError(x, openflow13.ET_FLOW_MOD_FAILED, openflow13.FMFC_OVERLAP)
	// Make sure the error was dispatched before abandoning the barrier.
	for deadline := time.Now().Add(5 * time.Second); sw.ErrorState().Count == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("error not dispatched")
		}
	}
	cancel()
	if err := recv(t, b1); !errors.Is(err, context.Canceled) {
		t.Fatalf("abandoned barrier: %v", err)
	}
	f.reply(openflow13.Type_BarrierReply, xidOf(bar1)) // late reply: ignored
	b2 := async(func() error { return sw.Barrier(context.Background()) })
	f.reply(openflow13.Type_BarrierReply, xidOf(f.expect(openflow13.Type_BarrierRequest)))
	var be *BatchError
	if err := recv(t, b2); !errors.As(err, &be) || len(be.Errors) != 1 || be.Errors[0].Xid != x {
		t.Fatalf("next barrier: %v, want the abandoned barrier's error", err)
	}
}

func TestGroupDescParsing(t *testing.T) {
	h := newHarness(t, Options{})
	f, sw := h.connect(7)
	bkt := openflow13.NewBucket()
	bkt.AddAction(openflow13.NewActionOutput(5))
	bb, _ := bkt.MarshalBinary()
	entry := append([]byte{0, byte(8 + len(bb)), openflow13.OFPGT_SELECT, 0, 0, 0, 0, 9}, bb...)
	var groups []*GroupDesc
	ch := async(func() error { var err error; groups, err = sw.GroupDesc(context.Background()); return err })
	req := f.expect(openflow13.Type_MultiPartRequest)
	f.writeRaw(mpReply(openflow13.MultipartType_GroupDesc, xidOf(req), true, entry))
	f.writeRaw(mpReply(openflow13.MultipartType_GroupDesc, xidOf(req), false, entry))
	if err := recv(t, ch); err != nil {
		t.Fatal(err)
	}
	if len(groups) != 2 || groups[0].GroupID != 9 || groups[0].Type != openflow13.OFPGT_SELECT || len(groups[0].Buckets) != 1 ||
		!bytes.Equal(groups[1].Raw, entry) {
		t.Fatalf("groups = %+v", groups)
	}
	if out, ok := groups[0].Buckets[0].Actions[0].(*openflow13.ActionOutput); !ok || out.Port != 5 {
		t.Fatalf("bucket action %#v", groups[0].Buckets[0].Actions[0])
	}
	// A bucket with an impossible action length fails GroupDesc, not GroupDescRaw.
	bad := append([]byte(nil), entry...)
	binary.BigEndian.PutUint16(bad[8+16+2:], 3)
	ch = async(func() error { _, err := sw.GroupDesc(context.Background()); return err })
	req = f.expect(openflow13.Type_MultiPartRequest)
	f.writeRaw(mpReply(openflow13.MultipartType_GroupDesc, xidOf(req), false, bad))
	if err := recv(t, ch); !errors.Is(err, ErrMalformed) {
		t.Fatalf("GroupDesc with bad action: %v", err)
	}
	var raw [][]byte
	ch = async(func() error { var err error; raw, err = sw.GroupDescRaw(context.Background()); return err })
	req = f.expect(openflow13.Type_MultiPartRequest)
	f.writeRaw(mpReply(openflow13.MultipartType_GroupDesc, xidOf(req), false, bad))
	if err := recv(t, ch); err != nil || len(raw) != 1 || !bytes.Equal(raw[0], bad) {
		t.Fatalf("GroupDescRaw = %d entries, %v", len(raw), err)
	}
}
