package ofshim

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"antrea.io/libOpenflow/openflow13"
)

// ctlSide is a fake controller: a listener the shim dials.
type ctlSide struct {
	t  *testing.T
	ln net.Listener
}

func newController(t *testing.T, network, addr string) *ctlSide {
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return &ctlSide{t: t, ln: ln}
}

func (c *ctlSide) target() string {
	if c.ln.Addr().Network() == "unix" {
		return "unix:" + c.ln.Addr().String()
	}
	return "tcp:" + c.ln.Addr().String()
}

func (c *ctlSide) accept() net.Conn {
	c.t.Helper()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() { cc, err := c.ln.Accept(); ch <- res{cc, err} }()
	select {
	case r := <-ch:
		if r.err != nil {
			c.t.Fatal(r.err)
		}
		c.t.Cleanup(func() { r.c.Close() })
		return r.c
	case <-time.After(5 * time.Second):
		c.t.Fatal("shim did not dial the controller")
		return nil
	}
}

func startShim(t *testing.T, opts Options) *Shim {
	t.Helper()
	if opts.Listen == "" {
		opts.Listen = "tcp:127.0.0.1:0"
	}
	opts.Log = t.Logf
	s, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func dialShim(t *testing.T, s *Shim) net.Conn {
	t.Helper()
	network, addr := splitAddr(s.Target())
	c, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func send(t *testing.T, c net.Conn, b []byte) {
	t.Helper()
	_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
}

func recvMsg(t *testing.T, c net.Conn) []byte {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := readFrame(c)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return b
}

func withXid(b []byte, xid uint32) []byte {
	b = append([]byte(nil), b...)
	binary.BigEndian.PutUint32(b[4:8], xid)
	return b
}

// A session of one switch: hello both ways, a standard flow-mod passed
// on unchanged, the features reply's table count lowered, a packet-in
// passed up unchanged.
func TestProxyForwardsBothWays(t *testing.T) {
	ctl := newController(t, "tcp", "127.0.0.1:0")
	s := startShim(t, Options{Upstream: ctl.target()})
	sw := dialShim(t, s)
	cc := ctl.accept()

	hello := rawMsg(0, 0, 1, 0, 8, 0, 0, 0, 0x10)
	send(t, sw, hello)
	if got := recvMsg(t, cc); !bytes.Equal(got, hello) {
		t.Fatalf("switch hello arrived as %x", got)
	}
	send(t, cc, hello)
	if got := recvMsg(t, sw); !bytes.Equal(got, hello) {
		t.Fatalf("controller hello arrived as %x", got)
	}
	fm := withXid(marshal(t, stdFlow(1, 3)), 41)
	send(t, cc, fm)
	if got := recvMsg(t, sw); !bytes.Equal(got, fm) {
		t.Fatalf("flow-mod changed on the way:\n got  %x\n want %x", got, fm)
	}
	features := rawMsg(typeFeaturesReply, make([]byte, 24)...)
	binary.BigEndian.PutUint64(features[8:16], 0xabc)
	features[20] = 254
	send(t, sw, features)
	got := recvMsg(t, cc)
	if got[20] != 4 || binary.BigEndian.Uint64(got[8:16]) != 0xabc {
		t.Fatalf("features reply %x: want n_tables 4", got)
	}
	pin := rawMsg(10, bytes.Repeat([]byte{0xab}, 100)...)
	send(t, sw, pin)
	if got := recvMsg(t, cc); !bytes.Equal(got, pin) {
		t.Fatal("packet-in changed on the way")
	}
	if s.Forwarded() != 2 || len(s.Refused()) != 0 {
		t.Fatalf("forwarded %d refused %v", s.Forwarded(), s.Refused())
	}
}

// Refused messages never reach the switch; the controller gets the error
// before the reply to a barrier sent after them, as from a real switch.
func TestProxyRefuses(t *testing.T) {
	ctl := newController(t, "tcp", "127.0.0.1:0")
	s := startShim(t, Options{Upstream: ctl.target(), KeepRefusals: 2})
	sw := dialShim(t, s)
	cc := ctl.accept()

	nicira := withXid(marshal(t, stdFlow(0, 0, openflow13.NewActionSetField(*openflow13.NewTunnelIpv4DstField(net.IPv4(198, 18, 0, 2), nil)))), 100)
	bundle := withXid(marshal(t, openflow13.NewBundleControl(&openflow13.BundleControl{BundleID: 9, Type: openflow13.OFPBCT_OPEN_REQUEST, Flags: 3})), 101)
	table := withXid(marshal(t, stdFlow(6, 0)), 102)
	good := withXid(marshal(t, stdFlow(0, 1)), 103)
	barrier := withXid(rawMsg(20), 104)
	for _, m := range [][]byte{nicira, bundle, good, table, barrier} {
		send(t, cc, m)
	}
	// The switch sees only the good flow-mod and the barrier.
	if got := recvMsg(t, sw); !bytes.Equal(got, good) {
		t.Fatalf("switch got %x, want the good flow-mod", got)
	}
	if got := recvMsg(t, sw); !bytes.Equal(got, barrier) {
		t.Fatalf("switch got %x, want the barrier", got)
	}
	reply := withXid(rawMsg(21), 104)
	send(t, sw, reply)
	for _, w := range []struct {
		xid       uint32
		msg       []byte
		typ, code uint16
	}{
		{100, nicira, ErrTypeBadAction, CodeBadActionSetType},
		{101, bundle, ErrTypeBadRequest, CodeBadRequestExperimenter},
		{102, table, ErrTypeFlowModFailed, CodeFlowModBadTableID},
	} {
		e := recvMsg(t, cc)
		if e[1] != typeError || binary.BigEndian.Uint32(e[4:8]) != w.xid ||
			binary.BigEndian.Uint16(e[8:10]) != w.typ || binary.BigEndian.Uint16(e[10:12]) != w.code {
			t.Fatalf("controller got %x, want error %d/%d for xid %d", e[:12], w.typ, w.code, w.xid)
		}
		n := min(64, len(w.msg))
		if !bytes.Equal(e[12:], w.msg[:n]) {
			t.Fatalf("error data %x, want the first %d bytes of the message", e[12:], n)
		}
	}
	if got := recvMsg(t, cc); !bytes.Equal(got, reply) {
		t.Fatalf("controller got %x, want the barrier reply", got)
	}
	want := map[string]int{ReasonSetFieldType: 1, ReasonExperimenterMessage: 1, ReasonTableID: 1}
	if got := s.Refused(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Refused() = %v, want %v", got, want)
	}
	if s.Forwarded() != 2 {
		t.Fatalf("Forwarded() = %d", s.Forwarded())
	}
	rs := s.Refusals() // the last two
	if len(rs) != 2 || rs[0].Xid != 101 || rs[1].Xid != 102 || rs[0].Detail != "ONF bundle control (open)" || rs[1].MsgType != typeFlowMod {
		t.Fatalf("Refusals() = %v", rs)
	}
}

// Several switches at once, each with its own upstream connection; over
// unix sockets.
func TestProxyManySwitchesUnix(t *testing.T) {
	dir := t.TempDir()
	ctl := newController(t, "unix", filepath.Join(dir, "nva.sock"))
	s := startShim(t, Options{Listen: "unix:" + filepath.Join(dir, "shim.sock"), Upstream: ctl.target(), MaxTables: 8})
	if s.Target() != "unix:"+filepath.Join(dir, "shim.sock") {
		t.Fatalf("Target() = %s", s.Target())
	}
	const n = 3
	var sws, ccs []net.Conn
	for i := 0; i < n; i++ {
		sw := dialShim(t, s)
		// Identify each switch by an echo it sends first.
		send(t, sw, withXid(rawMsg(2, byte(i)), uint32(i)))
		cc := ctl.accept()
		e := recvMsg(t, cc)
		if int(e[8]) != i {
			t.Fatalf("connection %d carries switch %d's echo", i, e[8])
		}
		sws, ccs = append(sws, sw), append(ccs, cc)
	}
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				fm := withXid(marshal(t, stdFlow(uint8(j%8), 0)), uint32(i<<16|j))
				if _, err := ccs[i].Write(fm); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		for j := 0; j < 50; j++ {
			got := recvMsg(t, sws[i])
			if binary.BigEndian.Uint32(got[4:8]) != uint32(i<<16|j) {
				t.Fatalf("switch %d message %d has xid %#x", i, j, binary.BigEndian.Uint32(got[4:8]))
			}
		}
	}
	wg.Wait()
	if s.Forwarded() != n*50 {
		t.Fatalf("Forwarded() = %d", s.Forwarded())
	}
}

// Close ends every proxied connection and the listener, and returns only
// when the shim's goroutines are done.
func TestCloseEndsEverything(t *testing.T) {
	ctl := newController(t, "tcp", "127.0.0.1:0")
	s, err := Start(context.Background(), Options{Listen: "127.0.0.1:0", Upstream: ctl.target()})
	if err != nil {
		t.Fatal(err)
	}
	sw := dialShim(t, s)
	cc := ctl.accept()
	send(t, sw, rawMsg(2))
	recvMsg(t, cc)
	s.Close()
	for _, c := range []net.Conn{sw, cc} {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !isReset(err) {
			t.Fatalf("after Close, read = %v; want EOF", err)
		}
	}
	if c, err := net.DialTimeout("tcp", s.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Fatal("shim still accepting after Close")
	}
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout()
}

// A switch whose controller cannot be reached is disconnected (Open
// vSwitch then retries).
func TestUpstreamDown(t *testing.T) {
	ctl := newController(t, "tcp", "127.0.0.1:0")
	addr := ctl.target()
	ctl.ln.Close()
	s := startShim(t, Options{Upstream: addr})
	sw := dialShim(t, s)
	_ = sw.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := sw.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !isReset(err) {
		t.Fatalf("read = %v; want the shim to hang up", err)
	}
}

func TestStartErrors(t *testing.T) {
	for _, o := range []Options{
		{Listen: "127.0.0.1:0"},
		{Listen: "127.0.0.1:0", Upstream: "tcp:127.0.0.1:1", MaxTables: 255},
		{Listen: "unix:/nonexistent-dir/x.sock", Upstream: "tcp:127.0.0.1:1"},
	} {
		if s, err := Start(context.Background(), o); err == nil {
			s.Close()
			t.Errorf("Start(%+v) succeeded", o)
		}
	}
}
