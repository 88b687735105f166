package ofctl

import (
	"context"
	"runtime"
	"time"
)

// The work pool. A switch's reconciliations never run on a goroutine of
// their own: a kick queues the switch's worker (once, however often it is
// kicked), and one of Config.SyncWorkers pool goroutines runs it. Within a
// run, the CPU-bound parts (compiling, decoding what the switch reports,
// diffing, encoding) each take one of Config.PlanWorkers CPU slots, sized
// to the machine, and give it back before waiting for the switch. So at
// most PlanWorkers goroutines compete for the CPU with the connection
// layer's readers, echo writers and keepalives (ofctl/conn), which have
// goroutines of their own and are never queued behind reconciliations: a
// switch is not declared dead because nva is busy.

// DefaultPlanWorkers is Config.PlanWorkers when unset: one CPU slot per
// processor Go schedules on (GOMAXPROCS).
func DefaultPlanWorkers() int { return max(1, runtime.GOMAXPROCS(0)) }

// syncWorkersPerPlanWorker is the default ratio of pool goroutines (runs
// in progress, most of them waiting for a switch's answer) to CPU slots.
const syncWorkersPerPlanWorker = 16

// kickLocked asks for a run of w because something changed (a store
// change, a port event, a retry, ...): the run recompiles and diffs.
func (w *worker) kickLocked(reason string) {
	w.work = true
	if w.kickedAt.IsZero() {
		w.kickedAt = time.Now()
	}
	w.wakeLocked(reason)
}

// wakeLocked queues a run of w (coalescing with one already queued; a kick
// while w runs queues it again when it finishes). The caller holds
// Southbound.mu. A run with work (a store change, a port event: what a
// user's write waits for) goes to the front queue, ahead of runs that only
// audit; an audit already queued that is kicked moves to the front queue
// too (its entry in the back queue is then skipped).
func (w *worker) wakeLocked(reason string) {
	if w.trigger == "" {
		w.trigger = reason
	}
	switch {
	case w.running:
		w.again = true
	case !w.queued:
		w.queued = true
		w.sb.enqueueLocked(w)
		w.sb.runCond.Signal()
	case w.work && !w.urgent:
		w.urgent = true
		w.sb.runqUrgent = append(w.sb.runqUrgent, w)
	}
}

// enqueueLocked appends w (queued) to the run queue its run belongs to.
func (s *Southbound) enqueueLocked(w *worker) {
	if w.work {
		w.urgent = true
		s.runqUrgent = append(s.runqUrgent, w)
		return
	}
	s.runq = append(s.runq, w)
}

// dequeueLocked takes the next queued worker, front queue first (nil when
// none is queued). Entries of a worker that has already been taken from
// the other queue are dropped.
func (s *Southbound) dequeueLocked() *worker {
	for _, q := range []*[]*worker{&s.runqUrgent, &s.runq} {
		for len(*q) > 0 {
			w := (*q)[0]
			(*q)[0] = nil
			*q = (*q)[1:]
			if w.queued {
				w.queued, w.urgent = false, false
				return w
			}
		}
	}
	return nil
}

// poolLoop is one pool goroutine: it runs queued workers, runs with work
// first, each queue first in first out, until ctx ends.
func (s *Southbound) poolLoop(ctx context.Context) {
	s.mu.Lock()
	for {
		var w *worker
		for ctx.Err() == nil {
			if w = s.dequeueLocked(); w != nil {
				break
			}
			s.runCond.Wait()
		}
		if ctx.Err() != nil {
			s.mu.Unlock()
			return
		}
		w.running = true
		s.mu.Unlock()

		s.syncOnce(ctx, w)

		s.mu.Lock()
		w.running = false
		if w.again {
			w.again = false
			if s.switches[w.dpid] == w {
				w.queued = true
				s.enqueueLocked(w)
			}
		}
	}
}

// cpuSlot takes one of the PlanWorkers CPU slots (false when ctx ended
// first); give it back with cpuDone. The test hook planHook runs in it.
func (s *Southbound) cpuSlot(ctx context.Context) bool {
	select {
	case s.cpu <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (s *Southbound) cpuDone() { <-s.cpu }
