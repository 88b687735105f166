package conn

import (
	"context"
	"fmt"
	"sync"
	"time"

	"antrea.io/libOpenflow/openflow13"
)

// sweeper is the inactivity probe and the dead interval of many switches
// on one timer: one goroutine per Listener checks every connection's idle
// time each tick and sends the due echo requests in one burst, instead of
// one goroutine and one ticker per switch whose wakeups, spread over time,
// cost more than the echoes themselves. It never waits for a switch's
// write lock (see probe), so one switch busy with a large batch delays no
// other switch's keepalive.
type sweeper struct {
	echo, dead time.Duration
	tick       time.Duration
	now        func() time.Time

	mu    sync.Mutex
	conns map[*Switch]time.Time // when the sweeper last probed each switch
	prev  time.Time             // the previous sweep (zero before the first)
	// scratch, reused by every sweep (guarded by mu)
	due, gone []*Switch
}

// newSweeper checks every tick = min(EchoInterval, DeadInterval/4): an
// echo goes out at most a tick after EchoInterval of silence, and a dead
// switch is closed at most a tick after DeadInterval. now is the clock
// (time.Now outside tests).
func newSweeper(opts Options, now func() time.Time) *sweeper {
	opts = opts.withDefaults()
	tick := opts.EchoInterval
	if d := opts.DeadInterval / 4; d < tick {
		tick = d
	}
	if tick < time.Millisecond {
		tick = time.Millisecond
	}
	return &sweeper{echo: opts.EchoInterval, dead: opts.DeadInterval, tick: tick, now: now,
		conns: make(map[*Switch]time.Time)}
}

// add starts watching s (its lastRecv must be set): no echo before an
// EchoInterval from now.
func (w *sweeper) add(s *Switch) {
	w.mu.Lock()
	w.conns[s] = w.now()
	w.mu.Unlock()
}

// remove stops watching s (a no-op for a switch not watched).
func (w *sweeper) remove(s *Switch) {
	w.mu.Lock()
	delete(w.conns, s)
	w.mu.Unlock()
}

// len is the number of switches watched.
func (w *sweeper) len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.conns)
}

// run sweeps every tick until ctx ends.
func (w *sweeper) run(ctx context.Context) {
	t := time.NewTicker(w.tick)
	defer t.Stop()
	w.mu.Lock()
	w.prev = w.now()
	w.mu.Unlock()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.sweep(w.now())
		}
	}
}

// sweep is one pass at time now: it closes the switches whose dead
// interval expired (see expired: when the sweep itself ran late, more
// than two ticks after the previous one, the process was starved and a
// switch gets twice the dead interval) and sends an echo request to every
// switch from which nothing was received for EchoInterval, at most one
// per EchoInterval, as Open vSwitch's inactivity probe does: a switch
// that talks, or probes nva itself, is sent none. It returns how many
// switches it probed and closed.
func (w *sweeper) sweep(now time.Time) (probed, closed int) {
	w.mu.Lock()
	late := !w.prev.IsZero() && now.Sub(w.prev) > 2*w.tick
	w.prev = now
	due, gone := w.due[:0], w.gone[:0]
	for s, lastEcho := range w.conns {
		select {
		case <-s.done:
			delete(w.conns, s)
			continue
		default:
		}
		idle := now.Sub(time.Unix(0, s.lastRecv.Load()))
		if expired(idle, w.dead, late) {
			gone = append(gone, s)
			delete(w.conns, s)
			continue
		}
		if idle >= w.echo && now.Sub(lastEcho) >= w.echo {
			w.conns[s] = now
			due = append(due, s)
		}
	}
	w.mu.Unlock()
	for _, s := range gone {
		idle := now.Sub(time.Unix(0, s.lastRecv.Load()))
		s.closeWith(fmt.Errorf("%w: nothing received for %s", ErrDeadInterval, idle.Round(time.Millisecond)))
	}
	for _, s := range due {
		s.probe()
	}
	// The scratch slices are reused; clear them so that they do not keep
	// closed switches alive.
	clear(due)
	clear(gone)
	w.mu.Lock()
	w.due, w.gone = due[:0], gone[:0]
	w.mu.Unlock()
	return len(due), len(gone)
}

// expired decides the dead interval: nothing received for dead. When the
// keepalive itself ran late (late: its ticks came more than two apart, so
// this process was starved of CPU and the reader may not have run either,
// with the switch's messages waiting in the socket), the reader gets until
// twice the dead interval: a switch is not declared dead because nva was
// too busy to read it.
func expired(idle, dead time.Duration, late bool) bool {
	if late {
		return idle >= 2*dead
	}
	return idle >= dead
}

// echoQueue bounds the echo replies waiting for the write lock.
const echoQueue = 8

// probe sends an echo request without waiting for the write lock: with
// the lock free it is written at once; while another writer holds it (a
// large batch) a goroutine of its own sends it when the lock is free.
func (s *Switch) probe() {
	if s.wmu.TryLock() {
		b := header(openflow13.Type_EchoRequest, headerLen, s.allocXidLocked())
		s.writeNowUnlock(b)
		return
	}
	go func() { _, _ = s.sendBytes(header(openflow13.Type_EchoRequest, headerLen, 0), nil) }()
}

// replyEcho writes the echo reply b from the reader without making the
// reader wait for the write lock: with the lock free the reader writes it
// itself (no other goroutine is woken); while another writer holds the
// lock (a large flow-mod batch or a bundle) a goroutine of its own waits
// for it, and the reader reads on. Up to echoQueue replies wait so; beyond
// that a reply is dropped (the switch sees the waiting ones, and asks
// again).
func (s *Switch) replyEcho(b []byte) {
	if s.echoWaiting.Load() == 0 && s.wmu.TryLock() {
		s.writeNowUnlock(b)
		return
	}
	if s.echoWaiting.Add(1) > echoQueue {
		s.echoWaiting.Add(-1)
		s.log.Debug("echo reply dropped: replies already waiting for the socket", "xid", xidOf(b))
		return
	}
	go func() {
		defer s.echoWaiting.Add(-1)
		s.wmu.Lock()
		defer s.wmu.Unlock()
		_ = s.writeLocked(b)
	}()
}

// writeNowUnlock writes b, a keepalive message, and releases the write
// lock, which the caller holds and hands over. The caller never waits for
// the peer: on an operating system socket (TCP, unix) b is written
// without waiting (no goroutine is woken, no timer set), and what the
// socket does not take at once is written, and the lock released, by a
// goroutine of its own, which keeps the message whole on the wire; on
// other connections (TLS) that goroutine writes the whole message.
func (s *Switch) writeNowUnlock(b []byte) {
	if s.raw == nil {
		go func() {
			defer s.wmu.Unlock()
			_ = s.writeLocked(b)
		}()
		return
	}
	select {
	case <-s.done:
		s.wmu.Unlock()
		return
	default:
	}
	// No deadline: the raw write never waits, and the deadline an
	// earlier writeLocked left (WriteTimeout after it) may have passed,
	// which would fail the write before it is tried.
	_ = s.conn.SetWriteDeadline(time.Time{})
	n, err := s.raw.write(b)
	switch {
	case err != nil:
		s.closeWith(fmt.Errorf("write: %w", err))
		s.wmu.Unlock()
	case n == len(b):
		s.wmu.Unlock()
	default:
		rest := b[n:]
		go func() {
			defer s.wmu.Unlock()
			_ = s.writeLocked(rest)
		}()
	}
}
