package conn

import (
	"errors"
	"net"
	"testing"
	"time"

	"antrea.io/libOpenflow/openflow13"
)

// fakeClock is the sweeper's injected clock.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

// sweptSwitch is a Switch over loopback TCP with no reader: the test sets
// its lastRecv and reads what it writes from peer.
type sweptSwitch struct {
	*Switch
	peer net.Conn
}

func newSweptSwitches(t *testing.T, n int, opts Options) []sweptSwitch {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	opts.Logger = testLogger(t)
	var out []sweptSwitch
	for range n {
		peer, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		s := newSwitch(c, opts)
		t.Cleanup(func() { s.Close(); peer.Close() })
		out = append(out, sweptSwitch{s, peer})
	}
	return out
}

// expectEcho reads the next message the switch's controller side wrote
// and checks that it is an echo request.
func (s sweptSwitch) expectEcho(t *testing.T) {
	t.Helper()
	_ = s.peer.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := readFrame(s.peer, 0)
	if err != nil {
		t.Fatalf("no echo request: %v", err)
	}
	if b[1] != openflow13.Type_EchoRequest {
		t.Fatalf("message type %d, want an echo request", b[1])
	}
}

func (s sweptSwitch) heardAt(t time.Time) { s.lastRecv.Store(t.UnixNano()) }

// The sweeper is Open vSwitch's inactivity probe for every switch on one
// timer: an echo request only to a switch silent for EchoInterval, at
// most one per EchoInterval, and the dead interval closes a switch silent
// for DeadInterval.
func TestSweeperProbesIdleSwitchesOnly(t *testing.T) {
	opts := Options{EchoInterval: 5 * time.Second, DeadInterval: 15 * time.Second}
	t0 := time.Unix(1_000_000, 0)
	clk := &fakeClock{t: t0}
	w := newSweeper(opts, clk.now)
	if w.tick != 3750*time.Millisecond {
		t.Fatalf("tick %v, want min(EchoInterval, DeadInterval/4) = 3.75s", w.tick)
	}
	sw := newSweptSwitches(t, 2, opts)
	talker, silent := sw[0], sw[1]
	for _, s := range sw {
		s.heardAt(t0)
		w.add(s.Switch)
	}
	at := func(d time.Duration) time.Time { return t0.Add(d) }

	if p, c := w.sweep(at(w.tick)); p != 0 || c != 0 {
		t.Fatalf("after 3.75s of silence: %d probed, %d closed; want none", p, c)
	}
	talker.heardAt(at(6 * time.Second))
	if p, c := w.sweep(at(2 * w.tick)); p != 1 || c != 0 {
		t.Fatalf("at 7.5s: %d probed, %d closed; want only the silent switch probed", p, c)
	}
	silent.expectEcho(t)
	// The silent switch was probed 3.75 s ago: no second echo yet; the
	// talker has now been silent for 5.25 s.
	if p, c := w.sweep(at(3 * w.tick)); p != 1 || c != 0 {
		t.Fatalf("at 11.25s: %d probed, %d closed; want the talker probed", p, c)
	}
	talker.expectEcho(t)
	// 15 s of silence: the dead interval.
	if p, c := w.sweep(at(4 * w.tick)); c != 1 || p != 0 {
		t.Fatalf("at 15s: %d probed, %d closed; want the silent switch closed", p, c)
	}
	select {
	case <-silent.Done():
	default:
		t.Fatal("the silent switch is still up after the dead interval")
	}
	if !errors.Is(silent.Err(), ErrDeadInterval) || !errors.Is(silent.Err(), ErrClosed) {
		t.Fatalf("Err() = %v, want the dead interval", silent.Err())
	}
	if talker.Err() != nil {
		t.Fatalf("the talker was closed: %v", talker.Err())
	}
	if n := w.len(); n != 1 {
		t.Fatalf("%d switches watched, want the talker only", n)
	}
	w.remove(talker.Switch)
	if n := w.len(); n != 0 {
		t.Fatalf("%d switches watched after remove", n)
	}
}

// A sweep that runs late (more than two ticks after the previous one: the
// process was starved) gives every switch twice the dead interval, as the
// per-switch keepalive did: no switch is dropped because nva was busy.
func TestSweeperLateSweepKeepsSwitches(t *testing.T) {
	opts := Options{EchoInterval: 5 * time.Second, DeadInterval: 15 * time.Second}
	t0 := time.Unix(1_000_000, 0)
	w := newSweeper(opts, (&fakeClock{t: t0}).now)
	sw := newSweptSwitches(t, 1, opts)[0]
	sw.heardAt(t0)
	w.add(sw.Switch)
	if _, c := w.sweep(t0.Add(w.tick)); c != 0 {
		t.Fatal("closed after one tick")
	}
	// The next sweep comes 20 s later: late, so 21.25 s of silence < 30 s
	// is not dead (an echo goes out instead).
	late := t0.Add(w.tick + 20*time.Second)
	if p, c := w.sweep(late); c != 0 || p != 1 {
		t.Fatalf("late sweep: %d probed, %d closed; want the switch probed, not closed", p, c)
	}
	sw.expectEcho(t)
	// The next regular sweep applies the dead interval again.
	if _, c := w.sweep(late.Add(w.tick)); c != 1 {
		t.Fatal("a switch silent for 25 s survived a sweep on time")
	}
	if !errors.Is(sw.Err(), ErrDeadInterval) {
		t.Fatalf("Err() = %v, want the dead interval", sw.Err())
	}
}

// The sweeper never waits for a switch's write lock: while a large batch
// holds it, the echo request to that switch waits for the lock on a
// goroutine of its own, and the other switches are probed at once.
func TestSweeperNotBehindWriter(t *testing.T) {
	opts := Options{EchoInterval: 5 * time.Second, DeadInterval: 15 * time.Second}
	t0 := time.Unix(1_000_000, 0)
	w := newSweeper(opts, (&fakeClock{t: t0}).now)
	sw := newSweptSwitches(t, 2, opts)
	for _, s := range sw {
		s.heardAt(t0)
		w.add(s.Switch)
	}
	busy, other := sw[0], sw[1]
	busy.wmu.Lock()
	locked := true
	defer func() {
		if locked {
			busy.wmu.Unlock()
		}
	}()
	done := make(chan int, 1)
	go func() { p, _ := w.sweep(t0.Add(6 * time.Second)); done <- p }()
	select {
	case p := <-done:
		if p != 2 {
			t.Fatalf("%d switches probed, want 2", p)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the sweep waited for a switch's write lock")
	}
	other.expectEcho(t)
	busy.wmu.Unlock()
	locked = false
	busy.expectEcho(t)
}

// An echo reply goes out from the reader itself when the write lock is
// free (no goroutine is woken for it).
func TestEchoReplyWrittenByReader(t *testing.T) {
	opts := Options{}
	s := newSweptSwitches(t, 1, opts)[0]
	if s.raw == nil {
		t.Fatal("a TCP connection is not taken for a raw socket")
	}
	// The deadline an earlier write left has passed (as it has on an
	// idle connection WriteTimeout after the last batch): no matter.
	_ = s.conn.SetWriteDeadline(time.Now().Add(-time.Second))
	req := header(openflow13.Type_EchoRequest, headerLen, 0x1234)
	if err := s.handleFrame(req); err != nil {
		t.Fatal(err)
	}
	// Written synchronously: the write lock is free again and no reply
	// waits for it.
	if !s.wmu.TryLock() {
		t.Fatal("the write lock is still held after the reader's echo reply")
	}
	s.wmu.Unlock()
	if n := s.echoWaiting.Load(); n != 0 {
		t.Fatalf("%d echo replies waiting", n)
	}
	if err := s.Err(); err != nil {
		t.Fatalf("connection closed: %v", err)
	}
	_ = s.peer.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := readFrame(s.peer, 0)
	if err != nil {
		t.Fatal(err)
	}
	if b[1] != openflow13.Type_EchoReply || xidOf(b) != 0x1234 {
		t.Fatalf("got type %d xid %#x, want the echo reply to xid 0x1234", b[1], xidOf(b))
	}
}

// A keepalive write never waits for the peer: with the socket full (the
// switch not reading) the reader's echo reply returns at once, and the
// part the socket did not take follows, whole, when the switch reads
// again; the write lock is held until then, so nothing else is written
// into the middle of it.
func TestEchoReplyToAFullSocket(t *testing.T) {
	s := newSweptSwitches(t, 1, Options{})[0]
	if s.raw == nil {
		t.Fatal("a TCP connection is not taken for a raw socket")
	}
	filler := make([]byte, 1<<16)
	queued := 0
	for {
		n, err := s.raw.write(filler)
		if err != nil {
			t.Fatal(err)
		}
		queued += n
		if n < len(filler) {
			break
		}
	}
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		_ = s.handleFrame(header(openflow13.Type_EchoRequest, headerLen, 0x77))
	}()
	select {
	case <-returned:
	case <-time.After(10 * time.Second):
		t.Fatal("the reader waited for a switch that does not read")
	}
	got := 0
	buf := make([]byte, 1<<16)
	_ = s.peer.SetReadDeadline(time.Now().Add(10 * time.Second))
	for got < queued {
		n, err := s.peer.Read(buf[:min(len(buf), queued-got)])
		if err != nil {
			t.Fatalf("after %d of %d filler bytes: %v", got, queued, err)
		}
		got += n
	}
	b, err := readFrame(s.peer, 0)
	if err != nil {
		t.Fatal(err)
	}
	if b[1] != openflow13.Type_EchoReply || xidOf(b) != 0x77 {
		t.Fatalf("got type %d xid %#x, want the echo reply to xid 0x77", b[1], xidOf(b))
	}
	// The lock comes free once the reply is out.
	s.wmu.Lock()
	s.wmu.Unlock()
}
