package rpc

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Prober is the inactivity probe of many sessions on one timer: each tick
// (one probe interval) it sends an echo request to every session that
// heard nothing from its server for an interval, and ends a session whose
// echo got no answer (nothing received) by the next tick. One Prober for
// all of a manager's sessions costs one timer instead of one per session,
// whose wakeups, spread over time, cost more than the echoes themselves.
// The timer runs only while some session uses the Prober. Safe for
// concurrent use; the zero value is not usable (NewProber).
type Prober struct {
	interval time.Duration
	now      func() time.Time
	epoch    time.Time // session read times are durations since it
	msg      []byte    // the echo request, encoded once (never modified)

	mu       sync.Mutex
	sessions map[*Session]time.Duration // when the unanswered echo was sent (0: none)
	timer    *time.Timer
	prev     time.Time // the previous sweep (or when the timer started)
	// manual: no timer, the test calls sweep
	manual bool
	// scratch of sweep (guarded by mu)
	due, lost []*Session
}

// NewProber returns a prober with the given interval (0:
// DefaultProbeInterval), or nil for a negative interval (no probe).
func NewProber(interval time.Duration) *Prober {
	return newProber(interval, time.Now)
}

func newProber(interval time.Duration, now func() time.Time) *Prober {
	if interval < 0 {
		return nil
	}
	if interval == 0 {
		interval = DefaultProbeInterval
	}
	msg, err := encode(request{ID: "probe", Method: "echo", Params: []any{"nva probe"}})
	if err != nil {
		panic(fmt.Sprintf("rpc: encoding the probe: %v", err)) // a constant message
	}
	return &Prober{interval: interval, now: now, epoch: now(), msg: msg, sessions: map[*Session]time.Duration{}}
}

// elapsed is now as a duration since the prober's epoch (monotonic with
// time.Now).
func (p *Prober) elapsed() time.Duration { return p.now().Sub(p.epoch) }

// add starts probing s, and the timer when none runs.
func (p *Prober) add(s *Session) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sessions[s] = 0
	if !p.manual && p.timer == nil {
		p.prev = p.now()
		p.timer = time.AfterFunc(p.interval, p.tick)
	}
}

// remove stops probing s.
func (p *Prober) remove(s *Session) {
	p.mu.Lock()
	delete(p.sessions, s)
	p.mu.Unlock()
}

// tick is the timer's: one sweep, then again an interval later while
// some session is probed.
func (p *Prober) tick() {
	p.sweep(p.now())
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.sessions) == 0 {
		p.timer = nil // add starts a new one
		return
	}
	p.timer.Reset(p.interval)
}

// sweep is one tick at time now. It returns how many sessions it probed
// and how many it ended. When the sweep itself runs late (more than two
// intervals after the previous one: this process was starved of CPU, and
// an answer may be waiting unread in the socket) no session is ended: an
// unanswered echo gets until the next sweep on time.
func (p *Prober) sweep(now time.Time) (probed, ended int) {
	p.mu.Lock()
	late := !p.prev.IsZero() && now.Sub(p.prev) > 2*p.interval
	p.prev = now
	at := now.Sub(p.epoch)
	due, lost := p.due[:0], p.lost[:0]
	for s, probedAt := range p.sessions {
		last := time.Duration(s.lastRead.Load())
		if probedAt != 0 && last < probedAt {
			if !late {
				lost = append(lost, s)
				delete(p.sessions, s)
			}
			continue
		}
		p.sessions[s] = 0
		if at-last >= p.interval {
			p.sessions[s] = at
			due = append(due, s)
		}
	}
	p.mu.Unlock()
	for _, s := range lost {
		s.end(fmt.Errorf("no reply to an echo request within %v", p.interval))
	}
	for _, s := range due {
		s.sendProbe(p.msg, p.interval)
	}
	probed, ended = len(due), len(lost)
	clear(due)
	clear(lost)
	p.mu.Lock()
	p.due, p.lost = due[:0], lost[:0]
	p.mu.Unlock()
	return probed, ended
}

// sendProbe writes an echo request: at once when the write lock is free
// (the socket takes a small message without waiting), else from a
// goroutine of its own, so that a session busy writing a large
// transaction delays no other session's probe.
func (s *Session) sendProbe(b []byte, interval time.Duration) {
	send := func() {
		defer s.wmu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), interval)
		defer cancel()
		if err := s.writeLocked(ctx, b); err != nil {
			s.end(fmt.Errorf("echo: %w", err))
		}
	}
	if s.wmu.TryLock() {
		send()
		return
	}
	go func() {
		s.wmu.Lock()
		send()
	}()
}
