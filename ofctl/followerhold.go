package ofctl

import "time"

// DefaultFollowerObserveGap is Config.FollowerObserveGap's default.
const DefaultFollowerObserveGap = 250 * time.Millisecond

// holdObserve puts off a follower's run for w's switch (job j), one a
// change caused, until Config.FollowerObserveGap after its last read,
// unless a write on this node waits for the NVE to be realized or the run
// must re-read the switch anyway (a connect: j.full). Audits are not held
// (their rounds bound their cost). It reports whether it did: the job is
// then put back on w, and one run is queued at the end of the gap (later
// kicks coalesce into it). A follower reads the switches
// of every NVE a change concerns; without the gap, each of a burst of
// writes had each follower read them, compile and compare, and retry
// while the leader had not yet written: more CPU than the leader spends.
// The leader never holds a run.
func (s *Southbound) holdObserve(w *worker, j syncJob) bool {
	gap := s.cfg.FollowerObserveGap
	if gap <= 0 || j.full || !j.work {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.waitAll > 0 || s.waitFor[j.name] > 0 {
		return false
	}
	wait := gap - time.Since(w.lastObserve)
	if wait <= 0 {
		return false
	}
	w.work = true
	w.audit = w.audit || j.audit
	if w.trigger == "" {
		w.trigger = j.trigger
	}
	if !w.held {
		w.held = true
		time.AfterFunc(wait, func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			w.held = false
			if s.switches[w.dpid] == w {
				w.wakeLocked("observe") // the held job's work is on w
			}
		})
	}
	return true
}

// addWaiterLocked registers a realization waiter for the NVEs of want
// (nil: every NVE) and, on a follower, runs at once the held reads of
// their switches; the returned func (called with s.mu held) removes it.
func (s *Southbound) addWaiterLocked(want map[string]bool) func() {
	if want == nil {
		s.waitAll++
	} else {
		if s.waitFor == nil {
			s.waitFor = map[string]int{}
		}
		for n := range want {
			s.waitFor[n]++
		}
	}
	if !s.leader {
		release := func(w *worker) {
			if w != nil && w.held {
				w.kickLocked("wait realized")
			}
		}
		if want == nil {
			for _, w := range s.switches {
				release(w)
			}
		} else {
			for n := range want {
				release(s.workerFor(n))
			}
		}
	}
	return func() {
		if want == nil {
			s.waitAll--
			return
		}
		for n := range want {
			if s.waitFor[n]--; s.waitFor[n] <= 0 {
				delete(s.waitFor, n)
			}
		}
	}
}
