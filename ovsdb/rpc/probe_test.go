package rpc

import (
	"encoding/json"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// testClock is an injected clock, read by the sessions' readers too.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// probedSession is a session over loopback TCP (the probe's writes never
// wait on it) with its server side.
type probedSession struct {
	*Session
	srv *fakeServer
}

func newProbedSessions(t *testing.T, p *Prober, n int) []probedSession {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var out []probedSession
	for range n {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		srv, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		s := NewSession(c, Config{Prober: p})
		t.Cleanup(s.Close)
		t.Cleanup(func() { srv.Close() })
		out = append(out, probedSession{s, &fakeServer{t: t, c: srv, dec: json.NewDecoder(srv)}})
	}
	return out
}

// expectProbe reads the session's echo request and, when answer is set,
// answers it.
func (s probedSession) expectProbe(t *testing.T, answer bool) {
	t.Helper()
	_ = s.srv.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	m := s.srv.recv()
	if string(m["method"]) != `"echo"` || string(m["id"]) != `"probe"` {
		t.Fatalf("want the probe, got %s", m)
	}
	if answer {
		s.srv.send(`{"id":"probe","result":["nva probe"],"error":null}`)
	}
}

// waitRead waits until the session's reader has handled a message at or
// after the prober's elapsed time at.
func (s probedSession) waitRead(t *testing.T, at time.Duration) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Duration(s.lastRead.Load()) < at {
		if time.Now().After(deadline) {
			t.Fatal("the session did not read the answer")
		}
		time.Sleep(time.Millisecond)
	}
}

// One Prober probes many sessions on one timer, as each session's own
// probe did: an echo to a session that heard nothing for an interval, and
// a session whose echo got no answer by the next sweep ends.
func TestProberSweep(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	clk := &testClock{t: t0}
	p := newProber(5*time.Second, clk.now)
	p.manual = true
	ss := newProbedSessions(t, p, 2)
	answering, silent := ss[0], ss[1]
	at := func(d time.Duration) time.Time { return t0.Add(d) }

	if n, e := p.sweep(at(4 * time.Second)); n != 0 || e != 0 {
		t.Fatalf("at 4s: %d probed, %d ended; want none", n, e)
	}
	if n, e := p.sweep(at(5 * time.Second)); n != 2 || e != 0 {
		t.Fatalf("at 5s: %d probed, %d ended; want both probed", n, e)
	}
	clk.set(at(6 * time.Second))
	answering.expectProbe(t, true)
	silent.expectProbe(t, false)
	answering.waitRead(t, 6*time.Second)

	if n, e := p.sweep(at(10 * time.Second)); n != 0 || e != 1 {
		t.Fatalf("at 10s: %d probed, %d ended; want the silent session ended", n, e)
	}
	select {
	case <-silent.Lost():
	default:
		t.Fatal("the silent session is not lost")
	}
	if err := silent.Err(); err == nil || !strings.Contains(err.Error(), "no reply to an echo request") {
		t.Fatalf("Err() = %v", err)
	}
	if answering.Err() != nil {
		t.Fatalf("the answering session ended: %v", answering.Err())
	}
	p.mu.Lock()
	n := len(p.sessions)
	p.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d sessions probed, want 1", n)
	}
}

// A sweep that runs late (this process was starved) ends no session: an
// echo unanswered then gets until the next sweep on time.
func TestProberLateSweepEndsNothing(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	p := newProber(5*time.Second, (&testClock{t: t0}).now)
	p.manual = true
	s := newProbedSessions(t, p, 1)[0]
	if n, _ := p.sweep(t0.Add(5 * time.Second)); n != 1 {
		t.Fatal("not probed after an interval of silence")
	}
	s.expectProbe(t, false)
	if n, e := p.sweep(t0.Add(30 * time.Second)); n != 0 || e != 0 {
		t.Fatalf("late sweep: %d probed, %d ended; want nothing", n, e)
	}
	if _, e := p.sweep(t0.Add(35 * time.Second)); e != 1 {
		t.Fatal("the unanswered session survived a sweep on time")
	}
}

// The prober never waits for a session's write lock: the echo to a
// session busy writing waits on a goroutine of its own, the others go at
// once.
func TestProberNotBehindWriter(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	p := newProber(5*time.Second, (&testClock{t: t0}).now)
	p.manual = true
	ss := newProbedSessions(t, p, 2)
	busy, other := ss[0], ss[1]
	busy.wmu.Lock()
	locked := true
	defer func() {
		if locked {
			busy.wmu.Unlock()
		}
	}()
	done := make(chan int, 1)
	go func() { n, _ := p.sweep(t0.Add(5 * time.Second)); done <- n }()
	select {
	case n := <-done:
		if n != 2 {
			t.Fatalf("%d probed, want 2", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the sweep waited for a session's write lock")
	}
	other.expectProbe(t, false)
	busy.wmu.Unlock()
	locked = false
	busy.expectProbe(t, false)
}

// The timer runs only while a session uses the prober.
func TestProberTimerOnlyWhileUsed(t *testing.T) {
	p := NewProber(time.Hour)
	s := newProbedSessions(t, p, 1)[0]
	p.mu.Lock()
	running := p.timer != nil
	p.mu.Unlock()
	if !running {
		t.Fatal("no timer with a session")
	}
	s.Close()
	p.tick()
	p.mu.Lock()
	running = p.timer != nil
	p.mu.Unlock()
	if running {
		t.Fatal("the timer runs on with no session")
	}
	if NewProber(-1) != nil {
		t.Fatal("a negative interval gives a prober")
	}
}
