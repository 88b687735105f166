package conn

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"antrea.io/libOpenflow/common"
	"antrea.io/libOpenflow/openflow13"
	"antrea.io/libOpenflow/util"
)

// fakeSwitch is the switch side of a connection, written with the
// libOpenflow codec.
type fakeSwitch struct {
	t testing.TB
	c net.Conn
}

func (f *fakeSwitch) write(m util.Message) {
	f.t.Helper()
	b, err := m.MarshalBinary()
	if err != nil {
		f.t.Fatalf("fake switch marshal %T: %v", m, err)
	}
	f.writeRaw(b)
}

func (f *fakeSwitch) writeRaw(b []byte) {
	f.t.Helper()
	_ = f.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := f.c.Write(b); err != nil {
		f.t.Fatalf("fake switch write: %v", err)
	}
}

// read returns the next message from the controller, skipping echo
// requests (which it answers) unless keepEcho.
func (f *fakeSwitch) read() []byte {
	f.t.Helper()
	for {
		_ = f.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, err := readFrame(f.c, 0)
		if err != nil {
			f.t.Fatalf("fake switch read: %v", err)
		}
		if b[1] == openflow13.Type_EchoRequest {
			r := append([]byte(nil), b...)
			r[1] = openflow13.Type_EchoReply
			f.writeRaw(r)
			continue
		}
		return b
	}
}

func (f *fakeSwitch) expect(typ uint8) []byte {
	f.t.Helper()
	b := f.read()
	if b[1] != typ {
		f.t.Fatalf("fake switch: got message type %d, want %d", b[1], typ)
	}
	return b
}

func hello13() *common.Hello {
	h, _ := common.NewHello(openflow13.VERSION)
	h.Elements[0].(*common.HelloElemVersionBitmap).Bitmaps = []uint32{1 << openflow13.VERSION}
	return h
}

func phyPort(no uint32, name string, linkDown bool) *openflow13.PhyPort {
	p := openflow13.NewPhyPort()
	p.PortNo = no
	copy(p.Name, name)
	p.HWAddr = net.HardwareAddr{0x02, 0, 0, 0, 0, byte(no)}
	if linkDown {
		p.State = openflow13.PS_LINK_DOWN
	}
	return p
}

// handshake plays the switch's part: hello, then the features and port
// desc requests, answered in the order they come (the controller sends
// both at once, from two goroutines).
func (f *fakeSwitch) handshake(dpid uint64, ports ...*openflow13.PhyPort) {
	f.t.Helper()
	f.write(hello13())
	f.expect(openflow13.Type_Hello)
	for features, portDesc := false, false; !features || !portDesc; {
		m := f.read()
		switch {
		case m[1] == openflow13.Type_FeaturesRequest && !features:
			features = true
			// libOpenflow v0.15.0's SwitchFeatures.MarshalBinary leaves
			// out the DPID, so the features reply is encoded by hand.
			fr := header(openflow13.Type_FeaturesReply, 32, xidOf(m))
			binary.BigEndian.PutUint64(fr[8:16], dpid)
			fr[20] = 254
			f.writeRaw(fr)
		case m[1] == openflow13.Type_MultiPartRequest && !portDesc:
			if got := binary.BigEndian.Uint16(m[8:10]); got != openflow13.MultipartType_PortDesc {
				f.t.Fatalf("handshake multipart type %d, want PORT_DESC", got)
			}
			portDesc = true
			rep := &openflow13.MultipartReply{Header: openflow13.NewOfp13Header(), Type: openflow13.MultipartType_PortDesc}
			rep.Header.Type = openflow13.Type_MultiPartReply
			rep.Header.Xid = xidOf(m)
			for _, p := range ports {
				rep.Body = append(rep.Body, p)
			}
			f.write(rep)
		default:
			f.t.Fatalf("fake switch: got message type %d during the handshake (features answered %v, port desc %v)", m[1], features, portDesc)
		}
	}
}

func (f *fakeSwitch) sendError(xid uint32, typ, code uint16) {
	e := openflow13.NewErrorMsg()
	e.Header = openflow13.NewOfp13Header()
	e.Header.Type = openflow13.Type_Error
	e.Header.Xid = xid
	e.Type, e.Code = typ, code
	e.Data = *util.NewBuffer([]byte{4, 14, 0, 8, 0, 0, 0, 0})
	e.Header.Length = e.Len()
	f.write(e)
}

func (f *fakeSwitch) reply(typ uint8, xid uint32) {
	h := openflow13.NewOfp13Header()
	h.Type, h.Xid, h.Length = typ, xid, 8
	f.write(&h)
}

// recorder is a Handler that records what it is told.
type recorder struct {
	connected    chan *Switch
	disconnected chan error
}

func newRecorder() *recorder {
	return &recorder{connected: make(chan *Switch, 16), disconnected: make(chan error, 16)}
}
func (r *recorder) SwitchConnected(sw *Switch)               { r.connected <- sw }
func (r *recorder) SwitchDisconnected(sw *Switch, err error) { r.disconnected <- err }

func (r *recorder) waitConnected(t testing.TB) *Switch {
	t.Helper()
	select {
	case sw := <-r.connected:
		return sw
	case <-time.After(10 * time.Second):
		t.Fatal("switch not announced as connected")
		return nil
	}
}

func (r *recorder) waitDisconnected(t testing.TB) error {
	t.Helper()
	select {
	case err := <-r.disconnected:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("switch not announced as disconnected")
		return nil
	}
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// harness is a listener on loopback TCP with a recorder.
type harness struct {
	t   testing.TB
	l   *Listener
	rec *recorder
}

func newHarness(t testing.TB, opts Options) *harness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	rec := newRecorder()
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	l, err := Listen(ctx, "127.0.0.1:0", nil, rec, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		select {
		case <-l.Done():
		case <-time.After(10 * time.Second):
			t.Error("listener did not shut down")
		}
	})
	return &harness{t: t, l: l, rec: rec}
}

func (h *harness) dial() *fakeSwitch {
	h.t.Helper()
	c, err := net.Dial("tcp", h.l.Addr().String())
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { c.Close() })
	return &fakeSwitch{t: h.t, c: c}
}

// connect dials and completes the handshake.
func (h *harness) connect(dpid uint64, ports ...*openflow13.PhyPort) (*fakeSwitch, *Switch) {
	h.t.Helper()
	f := h.dial()
	f.handshake(dpid, ports...)
	return f, h.rec.waitConnected(h.t)
}

// waitClosed waits for c to be closed by the controller.
func waitClosed(t testing.TB, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4096)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue
		}
		if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err) {
			return
		}
		t.Fatalf("waiting for close: %v", err)
	}
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout()
}

// async runs f in a goroutine and returns a channel with its error.
func async(f func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- f() }()
	return ch
}

func recv(t testing.TB, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("call did not return")
		return nil
	}
}
