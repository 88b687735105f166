package web

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/web/wire"
)

// Defaults of EventsOptions.
const (
	DefaultEventsKeepAlive      = 15 * time.Second
	DefaultEventsStatusInterval = 200 * time.Millisecond
	DefaultEventsStatusRecheck  = 5 * time.Second
	// DefaultEventsCountersCheck is how often a stream looks for a new
	// round of traffic counters to send (a counters event).
	DefaultEventsCountersCheck = time.Second
	// eventsWriteTimeout bounds one batch of writes to a client: a client
	// that stops reading is dropped (it reconnects and refetches).
	eventsWriteTimeout = 30 * time.Second
	// eventsRetry is the reconnection delay the stream asks browsers for.
	eventsRetry = time.Second
)

// EventsOptions tunes GET /api/v1/events; zero values take the defaults.
type EventsOptions struct {
	// KeepAlive is how often an idle stream sends a ping event.
	KeepAlive time.Duration
	// StatusInterval is the least time between two batches of status
	// events on one stream: bursts of status changes are coalesced.
	StatusInterval time.Duration
	// StatusRecheck re-reads every NVE's status this often even without a
	// notification (changes no notifier reports, such as leadership);
	// negative: never.
	StatusRecheck time.Duration
	// CountersCheck is how often a stream looks for a new round of
	// traffic counters (sent as a counters event when the southbound has
	// polled since the last one); negative: never.
	CountersCheck time.Duration
}

func (o EventsOptions) withDefaults() EventsOptions {
	if o.KeepAlive <= 0 {
		o.KeepAlive = DefaultEventsKeepAlive
	}
	if o.StatusInterval <= 0 {
		o.StatusInterval = DefaultEventsStatusInterval
	}
	if o.StatusRecheck == 0 {
		o.StatusRecheck = DefaultEventsStatusRecheck
	}
	if o.CountersCheck == 0 {
		o.CountersCheck = DefaultEventsCountersCheck
	}
	return o
}

// changeEvent is the data of an SSE change event.
type changeEvent struct {
	Kind   string `json:"kind"`
	Op     string `json:"op"`
	Name   string `json:"name"`
	Object any    `json:"object,omitempty"`
}

// statusEvent is the data of an SSE status event.
type statusEvent struct {
	NVE    string          `json:"nve"`
	Status json.RawMessage `json:"status"`
}

// sseWriter writes Server-Sent Events through a buffer; flush sends them.
type sseWriter struct {
	rc  *http.ResponseController
	buf *bufio.Writer
	err error
}

func (e *sseWriter) event(typ string, id uint64, data any) {
	if e.err != nil {
		return
	}
	b, err := json.Marshal(data)
	if err != nil {
		e.err = err
		return
	}
	e.raw(typ, id, b)
}

// raw writes one event whose data is one line of JSON.
func (e *sseWriter) raw(typ string, id uint64, data []byte) {
	if e.err != nil {
		return
	}
	e.buf.WriteString("event: ")
	e.buf.WriteString(typ)
	e.buf.WriteByte('\n')
	if id != 0 {
		e.buf.WriteString("id: ")
		e.buf.WriteString(strconv.FormatUint(id, 10))
		e.buf.WriteByte('\n')
	}
	e.buf.WriteString("data: ")
	e.buf.Write(data)
	_, e.err = e.buf.WriteString("\n\n")
}

// deadline arms the write timeout of the next batch of writes.
func (e *sseWriter) deadline() {
	if err := e.rc.SetWriteDeadline(time.Now().Add(eventsWriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) && e.err == nil {
		e.err = err
	}
}

func (e *sseWriter) flush() error {
	if e.err != nil {
		return e.err
	}
	if e.err = e.buf.Flush(); e.err != nil {
		return e.err
	}
	e.err = e.rc.Flush()
	return e.err
}

// handleEvents serves GET /api/v1/events: a Server-Sent Events stream
// that starts with a snapshot (the aggregated topology, event id = its
// revision, at least the cluster's committed state when the stream
// opened) and then sends every change of the store (id = its Raft
// index), NVE status changes, the traffic counters after each poll round
// (counters events), keep-alive pings, and a reset (after which the
// server closes the stream) when the client must refetch. See API.md.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	if s.base.Err() != nil {
		writeError(w, newAPIError(http.StatusServiceUnavailable, wire.CodeUnavailable, "", "this node is shutting down"))
		return
	}
	// The stream outlives the server's write timeout: it sets a write
	// deadline per batch of events instead (sseWriter.deadline).
	holdOpen(w, 0)
	// The stream ends with the request or when the server closes.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer context.AfterFunc(s.base, cancel)()

	var statusCh <-chan struct{}
	if s.status != nil && s.notifier != nil {
		// Subscribed before the snapshot, so no change after it is missed.
		statusCh = s.notifier.SubscribeStatus(ctx)
	}
	s.catchUp(ctx)
	snap, changes := s.be.SnapshotAndWatch(ctx)

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	out := &sseWriter{rc: http.NewResponseController(w), buf: bufio.NewWriterSize(w, 32<<10)}
	out.deadline()

	st := newStreamStatus(s.statusFor(ctx))
	topo := s.topology(ctx, snap, true)
	st.seed(topo)
	unclaimed := unclaimedJSON(topo.UnclaimedSwitches)
	out.buf.WriteString("retry: " + strconv.FormatInt(eventsRetry.Milliseconds(), 10) + "\n\n")
	out.event("snapshot", snap.Revision, topo)
	topo = wire.Topology{} // let it go: it may be large
	if out.flush() != nil {
		return
	}

	o := s.events
	ping := time.NewTicker(o.KeepAlive)
	defer ping.Stop()
	var recheck <-chan time.Time
	if s.status != nil && o.StatusRecheck > 0 {
		t := time.NewTicker(o.StatusRecheck)
		defer t.Stop()
		recheck = t.C
	}
	// Status batches: at most one per StatusInterval.
	var statusTimer *time.Timer
	var statusDue <-chan time.Time
	var lastStatus time.Time
	scheduleStatus := func() {
		if s.status == nil || statusDue != nil {
			return
		}
		wait := max(0, o.StatusInterval-time.Since(lastStatus))
		if statusTimer == nil {
			statusTimer = time.NewTimer(wait)
		} else {
			statusTimer.Reset(wait)
		}
		statusDue = statusTimer.C
	}
	defer func() {
		if statusTimer != nil {
			statusTimer.Stop()
		}
	}()
	// Counters events: the totals after each poll round, for every role
	// but tenants (whose streams carry their VNs only; the counters are
	// fleet-wide).
	var countersTick <-chan time.Time
	var countersSent time.Time
	if s.counters != nil && o.CountersCheck > 0 && !s.auth.principalFrom(r.Context()).scoped() {
		t := time.NewTicker(o.CountersCheck)
		defer t.Stop()
		countersTick = t.C
	}

	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-changes:
			if !ok {
				return // the store is closing (or ctx ended)
			}
			out.deadline()
			if ev.Kind == model.ChangeReset {
				out.raw("reset", 0, []byte("{}"))
				out.flush()
				return
			}
			s.writeChange(out, st, ev)
			// More changes are usually queued behind a busy one: send
			// them in one flush.
			for drained := false; !drained && out.err == nil; {
				select {
				case ev, ok := <-changes:
					if !ok {
						out.flush()
						return
					}
					if ev.Kind == model.ChangeReset {
						out.raw("reset", 0, []byte("{}"))
						out.flush()
						return
					}
					s.writeChange(out, st, ev)
				default:
					drained = true
				}
			}
			if out.flush() != nil {
				return
			}
			scheduleStatus()
		case <-statusCh:
			scheduleStatus()
		case <-recheck:
			scheduleStatus()
		case <-statusDue:
			statusDue = nil
			lastStatus = time.Now()
			out.deadline()
			// The unclaimed switches have no event of their own (they come
			// and go as switches connect and NVEs are loaded, e.g. right
			// after a restart): when the set differs from the snapshot's,
			// the client takes a new snapshot.
			if sw := s.switchesFor(ctx); sw != nil && unclaimedJSON(sw.UnclaimedSwitches()) != unclaimed {
				out.raw("reset", 0, []byte("{}"))
				out.flush()
				return
			}
			if n := st.diff(out); n > 0 {
				if out.flush() != nil {
					return
				}
			}
		case <-countersTick:
			s.wantCounters(ctx, false) // a stream with counters events keeps them polled
			nves, at, enabled := s.counters.TrafficCounters()
			if !enabled || at.IsZero() || !at.After(countersSent) {
				continue
			}
			countersSent = at
			out.deadline()
			out.event("counters", 0, countersEvent(nves, &at))
			if out.flush() != nil {
				return
			}
		case <-ping.C:
			out.deadline()
			out.raw("ping", 0, []byte("{}"))
			if out.flush() != nil {
				return
			}
		}
	}
}

// eventsCatchUp bounds the wait for a consistent read before a stream's
// snapshot.
const eventsCatchUp = 5 * time.Second

// catchUp waits until this node has applied everything committed before
// the stream opened (a linearizable read: on a leader that has just been
// elected or restarted, until it has replayed its log), so that the
// snapshot is not a half-replayed state that the following changes
// complete. Without a leader it gives up after eventsCatchUp and the
// stream starts from the local state, which is what this node has.
func (s *Server) catchUp(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, eventsCatchUp)
	defer cancel()
	if _, err := s.be.ConsistentSnapshot(cctx); err != nil && ctx.Err() == nil {
		s.log.Info("events stream: starting from the local state, not a consistent read", "err", err)
	}
}

// writeChange writes one store change as a change event. Membership
// changes (kind node) are not part of the topology and are skipped.
func (s *Server) writeChange(out *sseWriter, st *streamStatus, ev model.Change) {
	if ev.Kind == model.ChangeNode {
		return
	}
	ce := changeEvent{Kind: ev.Kind, Op: ev.Op, Name: ev.Name}
	if ev.Op == model.OpPut {
		ce.Object = ev.New
	}
	if ev.Kind == model.ChangeNVE {
		st.track(ev.Name, ev.Op == model.OpPut)
	}
	out.event("change", ev.Index, ce)
}

// unclaimedJSON renders the unclaimed switches for comparison (nil and
// empty alike).
func unclaimedJSON(u []model.UnclaimedSwitch) string {
	if len(u) == 0 {
		return ""
	}
	b, _ := json.Marshal(u)
	return string(b)
}

// streamStatus is one stream's record of the NVE status it has sent, so
// that only NVEs whose status changed are sent again.
type streamStatus struct {
	rep   StatusReporter
	sent  map[string][]byte // NVE -> status JSON last sent (nil: none yet)
	names []string          // sorted NVE names
}

func newStreamStatus(rep StatusReporter) *streamStatus {
	return &streamStatus{rep: rep, sent: map[string][]byte{}}
}

// seed records the status the snapshot carried.
func (ss *streamStatus) seed(t wire.Topology) {
	for _, n := range t.NVEs {
		ss.names = append(ss.names, n.Name)
		if n.Status != nil {
			b, _ := json.Marshal(n.Status)
			ss.sent[n.Name] = b
		} else {
			ss.sent[n.Name] = nil
		}
	}
}

// track follows the NVE set: put adds, delete removes.
func (ss *streamStatus) track(name string, put bool) {
	i, found := slices.BinarySearch(ss.names, name)
	switch {
	case put && !found:
		ss.names = slices.Insert(ss.names, i, name)
		ss.sent[name] = nil
	case !put && found:
		ss.names = slices.Delete(ss.names, i, i+1)
		delete(ss.sent, name)
	}
}

// diff writes a status event for every NVE whose status differs from the
// one last sent; it returns how many it wrote.
func (ss *streamStatus) diff(out *sseWriter) int {
	if ss.rep == nil {
		return 0
	}
	n := 0
	for _, name := range ss.names {
		st := ss.rep.NVEStatus(name)
		if st == nil {
			continue
		}
		b, err := json.Marshal(st)
		if err != nil || bytes.Equal(b, ss.sent[name]) {
			continue
		}
		ss.sent[name] = b
		out.event("status", 0, statusEvent{NVE: name, Status: b})
		n++
	}
	return n
}
