package ovsdb

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nva-project/nva/ovsdb/rpc"
)

// Status is the OVSDB-side state of one NVE, pushed to the Manager's
// callback whenever it changes.
type Status struct {
	NVE         string
	Connected   bool              // the OVSDB session is up and its monitor cache is populated
	LastError   string            // the current problem, "" once an ensure succeeds
	Updated     time.Time         // when this status last changed
	OFPorts     map[string]uint32 // interface name -> OpenFlow port number (only values > 0)
	Links       map[string]bool   // interface name -> link_state is "up"
	Errors      map[string]string // interface name -> the Interface row's error column, when set
	BridgeReady bool              // the bridge, its settings, controllers and tunnel ports match the desired state
	// BFD is the bfd_status column of every interface of the bridge that
	// has one (BFD enabled), by interface name: state, forwarding,
	// diagnostic, remote_state, flap_count, ... as Open vSwitch reports.
	BFD map[string]map[string]string
}

// equal compares everything but Updated.
func (s Status) equal(o Status) bool {
	return s.NVE == o.NVE && s.Connected == o.Connected && s.LastError == o.LastError &&
		s.BridgeReady == o.BridgeReady && maps.Equal(s.OFPorts, o.OFPorts) &&
		maps.Equal(s.Links, o.Links) && maps.Equal(s.Errors, o.Errors) &&
		maps.EqualFunc(s.BFD, o.BFD, maps.Equal[map[string]string])
}

func (s Status) clone() Status {
	s.OFPorts = maps.Clone(s.OFPorts)
	s.Links = maps.Clone(s.Links)
	s.Errors = maps.Clone(s.Errors)
	if s.BFD != nil {
		bfd := make(map[string]map[string]string, len(s.BFD))
		for k, v := range s.BFD {
			bfd[k] = maps.Clone(v)
		}
		s.BFD = bfd
	}
	return s
}

// workerStatus is how a worker keeps its NVE's Status: the interfaces'
// states as one slice, sorted by name, instead of three maps (an NVE has
// a few dozen interfaces, and a manager 1,000 NVEs); view makes the
// Status of it.
type workerStatus struct {
	Status              // OFPorts, Links and Errors nil
	ifaces []ifaceState // the bridge's interfaces, by name
}

// ifaceState is what the status says of one interface.
type ifaceState struct {
	name   string
	ofport uint32 // 0: none
	up     bool   // link_state is "up"
	err    string // the error column
}

func (s workerStatus) equal(o workerStatus) bool {
	return s.Status.equal(o.Status) && slices.Equal(s.ifaces, o.ifaces)
}

// ofports is the OFPorts of view.
func (s workerStatus) ofports() map[string]uint32 {
	m := make(map[string]uint32, len(s.ifaces))
	for _, i := range s.ifaces {
		if i.ofport > 0 {
			m[i.name] = i.ofport
		}
	}
	return m
}

// view is the Status, with maps of its own.
func (s workerStatus) view() Status {
	v := s.Status.clone()
	v.OFPorts = s.ofports()
	v.Links = make(map[string]bool, len(s.ifaces))
	v.Errors = map[string]string{}
	for _, i := range s.ifaces {
		v.Links[i.name] = i.up
		if i.err != "" {
			v.Errors[i.name] = i.err
		}
	}
	return v
}

// Stats counts one NVE's OVSDB activity since it was first synced.
type Stats struct {
	Connects     uint64 // successful connections (the first one and every reconnect)
	ConnectFails uint64 // failed connection attempts
	Ensures      uint64 // times the cache was compared with the desired state
	Transactions uint64 // transactions sent (ensure and remove)
	Resyncs      uint64 // sessions restarted because the cache kept failing its guards
}

// Option configures a Manager.
type Option func(*Manager)

// WithClock sets the clock used for Status.Updated.
func WithClock(now func() time.Time) Option { return func(m *Manager) { m.now = now } }

// WithBackoff sets the reconnect/retry backoff bounds (defaults 200ms, 10s).
func WithBackoff(min, max time.Duration) Option {
	return func(m *Manager) { m.backoffMin, m.backoffMax = min, max }
}

// WithProbeInterval sets the inactivity probe of the OVSDB sessions
// (default 5s, rpc.DefaultProbeInterval): a session that heard nothing from
// the server for that long sends an echo request, and one that hears
// nothing for another interval is dropped and re-established.
func WithProbeInterval(d time.Duration) Option { return func(m *Manager) { m.probeInterval = d } }

// Manager manages the Open vSwitch of every NVE over OVSDB: one client,
// monitor cache and goroutine per NVE.
type Manager struct {
	log           *slog.Logger
	onStatus      func(Status)
	now           func() time.Time
	backoffMin    time.Duration
	backoffMax    time.Duration
	probeInterval time.Duration
	prober        *rpc.Prober   // probes every session on one timer (nil: no probe)
	opTimeout     time.Duration // bound on one connect or transaction
	settleTimeout time.Duration // how long to wait for a transaction to show in the cache

	// clientTLS is the base configuration of ssl: sessions (tls.go);
	// tlsByNVE the configuration made from it per NVE and pin (mu).
	clientTLS *tls.Config
	tlsByNVE  map[string]nveTLS

	mu      sync.Mutex
	workers map[string]*worker
	closed  bool

	writeGate func(ctx context.Context) error // see WithWriteGate (gate.go)

	models *rpc.Models  // the database models of the sessions, shared
	bufs   *rpc.Buffers // the sessions' message buffers, shared
}

// NewManager returns a Manager that logs to logger and calls onStatus (from
// the NVE's goroutine; it must not block for long) whenever an NVE's status
// changes. onStatus may be nil; it must not call Remove or Close, which wait
// for that goroutine.
func NewManager(logger *slog.Logger, onStatus func(Status), opts ...Option) *Manager {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if onStatus == nil {
		onStatus = func(Status) {}
	}
	m := &Manager{
		log:           logger,
		onStatus:      onStatus,
		now:           time.Now,
		backoffMin:    200 * time.Millisecond,
		backoffMax:    10 * time.Second,
		probeInterval: 5 * time.Second,
		opTimeout:     10 * time.Second,
		settleTimeout: 2 * time.Second,
		workers:       map[string]*worker{},
		models:        rpc.NewModels(mustDBModel()),
		bufs:          rpc.NewBuffers(),
	}
	for _, o := range opts {
		o(m)
	}
	m.prober = rpc.NewProber(m.probeInterval)
	return m
}

// shared is what the manager's sessions share.
func (m *Manager) shared() shared { return shared{prober: m.prober, models: m.models, bufs: m.bufs} }

// Sync hands the desired state of one NVE to its goroutine, creating the
// goroutine and its OVSDB client on first use, and returns at once. The state
// is applied idempotently: when OVS already matches, nothing is written. An
// invalid Desired is reported in the NVE's Status and otherwise ignored (the
// previous desired state stays in force). ctx is not retained.
func (m *Manager) Sync(ctx context.Context, d Desired) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	d = m.withTLSLocked(d)
	w := m.workers[d.NVE]
	if w == nil {
		w = newWorker(m, d.NVE)
		m.workers[d.NVE] = w
		go w.run()
	}
	m.mu.Unlock()
	w.offer(d)
}

// Remove takes nva's configuration off the NVE and forgets it: tunnel ports,
// VAP ports and controllers nva added are deleted, the bridge too if nva
// created it; a pre-existing bridge gets its recorded settings back. Then the
// client is closed. It blocks until done or ctx ends; the error says what
// could not be removed (the NVE is forgotten either way).
func (m *Manager) Remove(ctx context.Context, nve string) error {
	m.mu.Lock()
	w := m.workers[nve]
	delete(m.workers, nve)
	delete(m.tlsByNVE, nve)
	m.mu.Unlock()
	if w == nil {
		return nil
	}
	req := removeReq{ctx: ctx, errc: make(chan error, 1)}
	select {
	case w.removeCh <- req:
	case <-w.done:
		return nil
	case <-ctx.Done():
		w.cancel()
		<-w.done
		return fmt.Errorf("remove NVE %s: %w", nve, ctx.Err())
	}
	err := <-req.errc
	<-w.done
	return err
}

// Status returns the last status of an NVE.
func (m *Manager) Status(nve string) (Status, bool) {
	m.mu.Lock()
	w := m.workers[nve]
	m.mu.Unlock()
	if w == nil {
		return Status{}, false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.status.view(), true
}

// OFPorts returns Status(nve).OFPorts alone (the OpenFlow southbound
// asks for them on every reconcile of the NVE's switch). The map is
// shared until the status next changes: read only.
func (m *Manager) OFPorts(nve string) (map[string]uint32, bool) {
	m.mu.Lock()
	w := m.workers[nve]
	m.mu.Unlock()
	if w == nil {
		return nil, false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ofp == nil {
		w.ofp = w.status.ofports()
	}
	return w.ofp, true
}

// Stats returns an NVE's counters.
func (m *Manager) Stats(nve string) (Stats, bool) {
	m.mu.Lock()
	w := m.workers[nve]
	m.mu.Unlock()
	if w == nil {
		return Stats{}, false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stats, true
}

// Close stops every NVE's goroutine and closes its client. It leaves the
// switches configured: flows and settings survive a controller restart.
func (m *Manager) Close() {
	m.mu.Lock()
	m.closed = true
	ws := make([]*worker, 0, len(m.workers))
	for _, w := range m.workers {
		ws = append(ws, w)
	}
	m.workers = map[string]*worker{}
	m.mu.Unlock()
	for _, w := range ws {
		w.cancel()
	}
	for _, w := range ws {
		<-w.done
	}
}

type removeReq struct {
	ctx  context.Context
	errc chan error
}

// worker is the goroutine of one NVE. Fields below mu are shared; the rest
// belong to the goroutine.
type worker struct {
	m         *Manager
	name      string
	log       *slog.Logger
	ctx       context.Context
	cancel    context.CancelFunc
	desiredCh chan Desired
	removeCh  chan removeReq
	done      chan struct{}

	desired Desired
	have    bool
	invalid string // why the last Sync was rejected, until a valid one arrives
	opErr   string // the current operational problem ("" when none)
	conn    *conn
	backoff time.Duration
	retry   *time.Timer
	// conflicts counts consecutive ensures whose guard failed; see
	// staleAfter.
	conflicts int

	mu     sync.Mutex
	status workerStatus
	ofp    map[string]uint32 // status.ofports(), built on demand (nil: build it)
	stats  Stats
}

func newWorker(m *Manager, nve string) *worker {
	ctx, cancel := context.WithCancel(context.Background())
	return &worker{
		m:         m,
		name:      nve,
		log:       m.log.With("nve", nve),
		ctx:       ctx,
		cancel:    cancel,
		desiredCh: make(chan Desired, 1),
		removeCh:  make(chan removeReq),
		done:      make(chan struct{}),
		backoff:   m.backoffMin,
		status:    workerStatus{Status: Status{NVE: nve}},
	}
}

// offer replaces any pending desired state with d.
func (w *worker) offer(d Desired) {
	for {
		select {
		case w.desiredCh <- d:
			return
		default:
		}
		select {
		case <-w.desiredCh:
		default:
		}
	}
}

func (w *worker) run() {
	defer close(w.done)
	defer w.dropConn()
	for {
		var kick, lost <-chan struct{}
		if w.conn != nil {
			kick, lost = w.conn.kick, w.conn.lost
		}
		var retry <-chan time.Time
		if w.retry != nil {
			retry = w.retry.C
		}
		select {
		case <-w.ctx.Done():
			return
		case req := <-w.removeCh:
			req.errc <- w.remove(req.ctx)
			return
		case d := <-w.desiredCh:
			w.apply(d)
		case <-kick:
			w.reconcile()
		case <-lost:
			w.lost(fmt.Errorf("OVSDB connection lost: %w", w.conn.sess.Err()))
		case <-retry:
			w.retry = nil
			w.reconcile()
		}
	}
}

func (w *worker) apply(d Desired) {
	if err := d.Validate(); err != nil {
		w.log.Warn("invalid desired OVSDB state", "err", err)
		w.invalid = "invalid desired state: " + err.Error()
		w.setStatus(func(s *workerStatus) { s.LastError = w.errorText(w.opErr) })
		return
	}
	w.invalid = ""
	old, had := w.desired, w.have
	if had && w.conn != nil && (old.Endpoint != d.Endpoint || old.TLS != d.TLS) {
		w.log.Info("OVSDB endpoint changed", "from", old.Endpoint, "to", d.Endpoint)
		w.dropConn()
	}
	if had && w.conn != nil && old.Bridge != d.Bridge {
		// The NVE moved to another bridge: take nva's state off the old one.
		if err := w.transactRemove(w.ctx, old.Bridge); err != nil {
			w.log.Warn("cleaning up previous bridge", "bridge", old.Bridge, "err", err)
		}
	}
	w.desired, w.have = d, true
	w.reconcile()
}

// reconcile connects if needed and ensures the desired state.
func (w *worker) reconcile() {
	if !w.have {
		return
	}
	if w.conn == nil {
		if err := w.connect(); err != nil {
			w.count(func(st *Stats) { st.ConnectFails++ })
			w.fail(err)
			return
		}
	}
	if err := w.ensure(); err != nil {
		switch {
		case errors.Is(err, errNotConnected):
			w.lost(err)
		case errors.Is(err, errConflict), errors.Is(err, errInconsistent):
			// Transient: recompute from the next cache state. A guard
			// that keeps failing although the cache does not move means
			// the cache is out of step with the server: start a new
			// session, whose monitor reads every row afresh.
			w.conflicts++
			if w.conflicts >= staleAfter {
				w.log.Warn("OVSDB cache out of step with the server; resynchronizing", "conflicts", w.conflicts, "err", err)
				w.conflicts = 0
				w.count(func(st *Stats) { st.Resyncs++ })
				w.dropConn()
			} else {
				w.log.Debug("OVSDB ensure raced a concurrent change", "err", err)
			}
			if w.retry != nil {
				w.retry.Stop()
			}
			w.retry = time.NewTimer(w.m.backoffMin)
		default:
			w.fail(err)
		}
	}
}

var errNotConnected = errors.New("not connected")

// ensure compares the cache with the desired state and, when they differ,
// applies the difference in one transaction, then waits for the monitor to
// show the result.
func (w *worker) ensure() error {
	c := w.conn
	snap, err := c.snapshot()
	if err != nil {
		return err
	}
	p := planEnsure(snap, w.desired)
	w.count(func(st *Stats) { st.Ensures++ })
	converged := p.empty()
	if !converged {
		w.log.Info("ensuring OVSDB state", "bridge", w.desired.Bridge, "operations", len(p.ops), "summary", summarize(p.ops))
		ctx, cancel := context.WithTimeout(w.ctx, w.m.opTimeout)
		start := time.Now()
		err := w.m.gate(ctx)
		gated := time.Now()
		if err == nil {
			err = c.transact(ctx, p.ops)
		}
		cancel()
		w.count(func(st *Stats) { st.Transactions++ })
		if err != nil {
			return fmt.Errorf("ensure bridge %s: %w", w.desired.Bridge, err)
		}
		done := time.Now()
		snap, p, converged = w.settle(c)
		// Where an ensure's time goes: the leadership check (the write
		// gate), the transaction's round trip, and the wait for the
		// monitor to show its result.
		w.log.Debug("OVSDB state ensured", "bridge", w.desired.Bridge, "converged", converged,
			"gate", gated.Sub(start), "transact", done.Sub(gated), "settle", time.Since(done))
	}
	w.publish(snap, p, converged)
	if !converged {
		w.schedule()
		return nil
	}
	w.backoff = w.m.backoffMin
	w.conflicts = 0
	return nil
}

// staleAfter is how many consecutive ensures may fail their guard before
// the worker resynchronizes its cache with a new session. A real
// concurrent writer makes a guard fail once or twice; a cache whose copy of
// a row no longer equals the server's would make it fail every time. The
// session's monitor stores each row as the server sends it (sets in the
// server's order, which the `wait` of libovsdb's in-memory server compares
// order-sensitively), so this is a safety net, not a routine path.
const staleAfter = 5

// settle waits until the monitor cache shows a state that needs no more
// operations, or the settle timeout passes.
func (w *worker) settle(c *conn) (*snapshot, *plan, bool) {
	deadline := time.NewTimer(w.m.settleTimeout)
	defer deadline.Stop()
	for {
		snap, err := c.snapshot()
		if err != nil {
			return newSnapshot(), &plan{}, false
		}
		p := planEnsure(snap, w.desired)
		if p.empty() {
			return snap, p, true
		}
		select {
		case <-c.kick:
		case <-c.lost:
			return snap, p, false
		case <-deadline.C:
			return snap, p, false
		case <-w.ctx.Done():
			return snap, p, false
		}
	}
}

// publish derives the status from a snapshot and its plan.
func (w *worker) publish(snap *snapshot, p *plan, converged bool) {
	ifaces, found := ifaceStates(snap, w.desired.Bridge)
	w.setStatus(func(s *workerStatus) {
		s.Connected = true
		s.ifaces = ifaces
		s.BFD = bfdStatusOf(snap, w.desired.Bridge)
		// A VAP that cannot be attached is reported but does not make the
		// bridge itself unready.
		s.BridgeReady = found && converged && !p.blocking
		switch {
		case len(p.problems) > 0:
			s.LastError = w.errorText(strings.Join(p.problems, "; "))
		case !converged:
			s.LastError = w.errorText("OVSDB state has not converged yet")
		default:
			s.LastError = w.errorText("")
		}
	})
}

func (w *worker) connect() error {
	ctx, cancel := context.WithTimeout(w.ctx, w.m.opTimeout)
	defer cancel()
	c, err := dial(ctx, w.desired, w.m.probeInterval, w.m.shared(), w.log)
	if err != nil {
		return err
	}
	w.conn = c
	w.count(func(st *Stats) { st.Connects++ })
	w.log.Info("OVSDB connected", "endpoint", w.desired.Endpoint)
	return nil
}

func (w *worker) dropConn() {
	if w.conn != nil {
		w.conn.close()
		w.conn = nil
	}
}

// lost handles a dropped session: the client is discarded and a new one is
// dialled after the backoff; the fresh monitor then triggers a full ensure.
func (w *worker) lost(err error) {
	w.log.Warn("OVSDB session lost", "err", err)
	w.dropConn()
	w.setStatus(func(s *workerStatus) {
		s.Connected = false
		s.BridgeReady = false
		s.LastError = w.errorText(err.Error())
	})
	w.schedule()
}

func (w *worker) fail(err error) {
	w.log.Warn("OVSDB sync failed", "err", err, "retry_in", w.backoff)
	w.setStatus(func(s *workerStatus) {
		s.Connected = w.conn != nil
		if w.conn == nil {
			s.BridgeReady = false
		}
		s.LastError = w.errorText(err.Error())
	})
	w.schedule()
}

// schedule arms the retry timer with the current backoff and doubles it.
func (w *worker) schedule() {
	if w.retry != nil {
		w.retry.Stop()
	}
	w.retry = time.NewTimer(w.backoff)
	w.backoff = min(2*w.backoff, w.m.backoffMax)
}

// remove takes nva's state off the NVE's bridge, then closes the client.
func (w *worker) remove(ctx context.Context) error {
	if !w.have {
		return nil
	}
	if w.conn == nil {
		cctx, cancel := context.WithTimeout(ctx, w.m.opTimeout)
		c, err := dial(cctx, w.desired, w.m.probeInterval, w.m.shared(), w.log)
		cancel()
		if err != nil {
			return fmt.Errorf("remove NVE %s: %w", w.name, err)
		}
		w.conn = c
	}
	if err := w.transactRemove(ctx, w.desired.Bridge); err != nil {
		return fmt.Errorf("remove NVE %s: %w", w.name, err)
	}
	w.log.Info("removed nva's OVSDB state", "bridge", w.desired.Bridge)
	return nil
}

func (w *worker) transactRemove(ctx context.Context, bridge string) error {
	snap, err := w.conn.snapshot()
	if err != nil {
		return err
	}
	p := planRemove(snap, bridge)
	if p.empty() {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, w.m.opTimeout)
	defer cancel()
	if err := w.m.gate(ctx); err != nil {
		return err
	}
	w.count(func(st *Stats) { st.Transactions++ })
	if err := w.conn.transact(ctx, p.ops); err != nil {
		return fmt.Errorf("bridge %s: %w", bridge, err)
	}
	return nil
}

func (w *worker) count(f func(*Stats)) {
	w.mu.Lock()
	f(&w.stats)
	w.mu.Unlock()
}

// errorText prefixes msg with the rejection of the last Sync, if any, so
// that neither hides the other.
func (w *worker) errorText(msg string) string {
	w.opErr = msg
	switch {
	case w.invalid == "":
		return msg
	case msg == "":
		return w.invalid
	default:
		return w.invalid + "; " + msg
	}
}

// setStatus applies f and pushes the result if anything changed. f gets
// a shallow copy of the status: it may replace its slice and maps, never
// modify them (the status shares them).
func (w *worker) setStatus(f func(*workerStatus)) {
	w.mu.Lock()
	next := w.status
	f(&next)
	if next.equal(w.status) {
		w.mu.Unlock()
		return
	}
	next.Updated = w.m.now()
	w.status, w.ofp = next, nil
	out := next.view()
	w.mu.Unlock()
	w.m.onStatus(out)
}

// summarize names the operations of a transaction for the log.
func summarize(ops []opLike) string {
	counts := map[string]int{}
	for _, o := range ops {
		counts[o.Op+" "+o.Table]++
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s x%d", k, counts[k]))
	}
	return strings.Join(parts, ", ")
}
