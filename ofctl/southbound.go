package ofctl

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"maps"
	"net"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/ofctl/conn"
	"github.com/nva-project/nva/ofctl/neighbor"
	"github.com/nva-project/nva/ofctl/reconcile"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults.
const (
	DefaultListenAddr    = "127.0.0.1:6653"
	DefaultAuditInterval = 10 * time.Second
	DefaultOpTimeout     = 30 * time.Second
	DefaultRetryInterval = 2 * time.Second
)

// Ticker is the part of *time.Ticker the southbound uses, so tests can
// drive audits by hand.
type Ticker interface {
	C() <-chan time.Time
	Stop()
}

type realTicker struct{ t *time.Ticker }

func (r realTicker) C() <-chan time.Time { return r.t.C }
func (r realTicker) Stop()               { r.t.Stop() }

// Config configures the southbound.
type Config struct {
	// ListenAddr is where switches connect: "host:port", "tcp:host:port"
	// or "unix:/path" (DefaultListenAddr if empty; port 0 picks one, see
	// Addr).
	ListenAddr string
	// TLS, when set, requires TLS on every switch connection.
	TLS *tls.Config
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// AuditInterval is how often installed state is re-read and drift
	// repaired (DefaultAuditInterval if 0; negative disables audits).
	AuditInterval time.Duration
	// Conn tunes the connection layer (keepalive, timeouts). Its
	// OnPortStatus and OnError callbacks, if set, are called in addition
	// to the southbound's own; OnPacketIn is the southbound's (the ARP/ND
	// responder) and must be nil.
	Conn conn.Options
	// NeighborRate is how many ARP requests and neighbor solicitations per
	// second the controller-side responder answers for one switch (a token
	// bucket of NeighborBurst); 0 means ofctl/neighbor's defaults (100/s,
	// burst 200). Only switches whose profile punts them send any.
	NeighborRate  float64
	NeighborBurst int
	// Generation goes into every flow cookie (see flow.MakeCookie).
	Generation uint16
	// OpTimeout bounds one reconciliation's switch I/O (DefaultOpTimeout
	// if 0).
	OpTimeout time.Duration
	// RetryInterval is the delay before a failed reconciliation is retried
	// (DefaultRetryInterval if 0).
	RetryInterval time.Duration
	// PortNumbers, if set, supplies OpenFlow port numbers by interface name
	// for an NVE (e.g. from OVSDB); they complete the switch's port table
	// (names the switch reports keep the switch's number). Call
	// PortsChanged when what it returns changes, so the NVE is recompiled
	// at once. It is called without the southbound's locks held. The
	// southbound only reads the map it returns.
	PortNumbers func(nve string) map[string]uint32
	// PlanWorkers bounds how many reconciliations do CPU work (compile,
	// decode the switch's report, diff, encode) at once
	// (DefaultPlanWorkers, GOMAXPROCS, if 0). Connection readers, echo
	// replies and keepalives never wait for it.
	PlanWorkers int
	// SyncWorkers bounds how many switches are reconciled at once,
	// including the time spent waiting for their answers (16 ×
	// PlanWorkers if 0). More switches wait in a queue, each once however
	// often it was kicked.
	SyncWorkers int
	// FollowerObserveGap is the least time between two reads of a switch
	// by a follower that no local ?wait=realized write waits for
	// (DefaultFollowerObserveGap if 0; negative: no gap). A follower
	// reads a switch its NVE's changes concern to report what it holds;
	// during a burst of writes, reading at every change cost each
	// follower more CPU than the leader spends writing them.
	FollowerObserveGap time.Duration
	// NewTicker creates the audit ticker (time.NewTicker if nil). Each
	// tick starts an audit round, which spreads the connected switches'
	// audits evenly over AuditInterval, each at its own phase (by
	// datapath ID).
	NewTicker func(d time.Duration) Ticker
	// Now is the clock for status timestamps (time.Now if nil).
	Now func() time.Time
	// CounterInterval is how often the traffic counters are read from
	// the connected switches (counters.go; 0 disables; PollCounters
	// reads them once on demand).
	CounterInterval time.Duration

	// L2 gateway learning (learn.go). Learn receives the MACs learned on
	// segment ports (nil: learning packet-ins are counted and dropped);
	// LearnRate and LearnBurst bound the learning packet-ins taken per
	// switch (DefaultLearnRate, DefaultLearnBurst if 0); LearnRefresh is
	// how often MACs still sending are re-reported (DefaultLearnRefresh
	// if 0).
	Learn        LearnSink
	LearnRate    float64
	LearnBurst   int
	LearnRefresh time.Duration

	// TimeExceededRate and TimeExceededBurst bound the ICMP time-exceeded
	// answers per switch (ttlexceeded.go; DefaultTimeExceededRate,
	// DefaultTimeExceededBurst if 0).
	TimeExceededRate  float64
	TimeExceededBurst int
}

// Source is what the southbound needs from the replicated store.
type Source interface {
	SnapshotAndWatch(ctx context.Context) (*model.Snapshot, <-chan model.Change)
	Snapshot() *model.Snapshot
	// IsLeader reports whether this node is the Raft leader: only the
	// leader writes to switches (see Southbound).
	IsLeader() bool
	// Term is the current Raft term: the generation ID of the OpenFlow
	// master/slave role requests, so a switch refuses a deposed leader.
	Term() uint64
	// LeaderReady reports whether this node, the leader, has applied
	// everything committed before its term (the store runs one barrier per
	// term). Until it has, the switches are only observed, so a node that
	// wins an election while still replaying its log (a restart) never
	// reconciles them against a half-loaded store.
	LeaderReady(ctx context.Context) (term uint64, ready bool, err error)
}

// Southbound is the OpenFlow southbound component. Create it with New,
// start it with Start; it implements the daemon's Component and
// MetricsComponent interfaces and the web server's Realizer, FlowReporter
// and StatusReporter.
type Southbound struct {
	cfg  Config
	log  *slog.Logger
	diff reconcile.Options
	m    *metrics
	// neigh answers punted ARP requests and neighbor solicitations.
	neigh *neighbor.Responder
	// learn is the MAC learning of L2 gateway segments (learn.go).
	learn *learner
	// ttl rate-limits the ICMP time-exceeded answers (ttlexceeded.go).
	ttl ttlLimiter
	// tableFeatures shares the switches' parsed table-features answers
	// (tablefeatures.go).
	tableFeatures featuresCache
	// sums shares the identity hashes of compiled slices' flows as nva
	// encodes them (byteverify.go).
	sums sumPool

	src    Source
	ln     *conn.Listener
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	refreshMu sync.Mutex // serializes refresh
	readyTerm uint64     // leaderLoop only: the term whose barrier succeeded

	mu       sync.Mutex
	started  bool
	leader   bool // this node writes to switches
	snap     *model.Snapshot
	seen     uint64        // store revision of snap
	changed  chan struct{} // closed and replaced whenever realization state changes
	switches map[uint64]*worker
	health   healthState // NVEs without a connected switch (health.go)
	// waitAll and waitFor (under mu) count this node's realization
	// waiters: of every NVE, and by NVE (see holdObserve).
	waitAll int
	waitFor map[string]int
	nves    map[string]*nveState

	// leaderTerm (under mu) is the Raft term in which this node leads,
	// valid while leader: the generation ID of its master role requests.
	// Never the current term: a deposed leader that has already heard the
	// new term but not yet stopped writing would otherwise claim the
	// master role with its successor's generation, and the switch would
	// grant it and demote the real leader.
	leaderTerm uint64
	// roleKnown (under mu) is set once leaderLoop has seen this node
	// lead with its store caught up, or another node lead. Until then a
	// starting node leaves connecting switches alone (syncOnce): reading
	// and compiling them for a mere observation would be done again as
	// soon as the role is known, which kicks them all.
	roleKnown bool

	// refused: connected switches whose certificate the NVE their
	// datapath ID names does not pin (identity.go); never in switches.
	refused map[*conn.Switch]*refusedSwitch

	runq    []*worker  // (mu) workers waiting for a pool goroutine to audit, FIFO
	runCond *sync.Cond // on mu: a run queue has work, or ctx ended
	// runqUrgent (mu): workers with work (a change) waiting for a pool
	// goroutine, FIFO, taken before runq (pool.go).
	runqUrgent []*worker

	cpu  chan struct{} // CPU slots (PlanWorkers), see cpuSlot
	seed maphash.Seed  // for reportHash
	ctr  counterState  // traffic counters (counters.go)
	live liveState     // live packet traces (livetrace.go)

	// planHook, when set (tests only), runs in the CPU slot of every
	// reconciliation after the compile, before the diff.
	planHook func()

	// parts is shared by every worker's compiler cache: the port parts
	// NVEs compile alike (a VN's remote ports) are held once.
	parts *compiler.PartPool

	// stages times the stages of realizing a change
	// (realize_stages.go).
	stages *prometheus.HistogramVec

	// watchPending counts the store events the watch loop has queued or
	// taken and not yet refreshed to (watchLoop): while it is not zero,
	// a waiter leaves the refresh to the watch loop (waitRealized).
	watchPending atomic.Int64
	watchCh      atomic.Pointer[<-chan model.Change] // the watch loop's channel
	// fullCompares counts refreshes that compared two snapshots object
	// by object (affectedNVEs) for want of the events: O(domain).
	fullCompares atomic.Int64
}

// nveState is the southbound's record of one NVE, guarded by
// Southbound.mu.
type nveState struct {
	sync      string // SyncInSync, SyncPending, SyncError, SyncDisconnected
	lastErr   string
	lastErrAt time.Time
	errCount  uint64
	lastSync  time.Time
	realized  uint64
	pending   []uint64 // unrealized store revisions that affect it, ascending
	flowMods  uint64
	groupMods uint64
	lastPlan  string
	warnings  []string
	awaiting  []string // ports without an OpenFlow port yet (see unready)
	// pendingAt is when pending last went from empty to not (the
	// realize stage's start).
	pendingAt time.Time
	// tunnels: the per-remote tunnel ports last compiled (profiles
	// without flow tunnels); tableCheck: the table-features check.
	tunnels    []model.TunnelPortStatus
	tableCheck string
}

// Sync states (see model.OpenFlowStatus).
const (
	SyncInSync       = model.SyncInSync
	SyncPending      = model.SyncPending
	SyncError        = model.SyncError
	SyncDisconnected = model.SyncDisconnected
	SyncUnclaimed    = model.SyncUnclaimed
)

// New returns a southbound with cfg's defaults applied. It does nothing
// until Start.
func New(cfg Config) *Southbound {
	if cfg.NeighborRate < 0 {
		cfg.NeighborRate = 0
	}
	if cfg.NeighborBurst < 0 {
		cfg.NeighborBurst = 0
	}
	if cfg.ListenAddr == "" {
		cfg.ListenAddr = DefaultListenAddr
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.AuditInterval == 0 {
		cfg.AuditInterval = DefaultAuditInterval
	}
	if cfg.OpTimeout <= 0 {
		cfg.OpTimeout = DefaultOpTimeout
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = DefaultRetryInterval
	}
	if cfg.NewTicker == nil {
		cfg.NewTicker = func(d time.Duration) Ticker { return realTicker{time.NewTicker(d)} }
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Conn.Logger == nil {
		cfg.Conn.Logger = cfg.Logger
	}
	if cfg.PlanWorkers <= 0 {
		cfg.PlanWorkers = DefaultPlanWorkers()
	}
	if cfg.SyncWorkers <= 0 {
		cfg.SyncWorkers = syncWorkersPerPlanWorker * cfg.PlanWorkers
	}
	if cfg.FollowerObserveGap == 0 {
		cfg.FollowerObserveGap = DefaultFollowerObserveGap
	}
	if cfg.LearnRate <= 0 {
		cfg.LearnRate = DefaultLearnRate
	}
	if cfg.LearnBurst <= 0 {
		cfg.LearnBurst = DefaultLearnBurst
	}
	if cfg.LearnRefresh <= 0 {
		cfg.LearnRefresh = DefaultLearnRefresh
	}
	s := &Southbound{
		cfg:      cfg,
		log:      cfg.Logger.With("component", "ofctl"),
		diff:     reconcile.Options{OwnsGroup: ownsGroup},
		m:        newMetrics(),
		changed:  make(chan struct{}),
		switches: map[uint64]*worker{},
		nves:     map[string]*nveState{},
		cpu:      make(chan struct{}, cfg.PlanWorkers),
		seed:     maphash.MakeSeed(),
		live:     liveState{slot: make(chan struct{}, 1)},
		parts:    compiler.NewPartPool(),
		ctr:      counterState{wake: make(chan struct{}, 1)},
	}
	s.runCond = sync.NewCond(&s.mu)
	s.stages = newStageHistogram()
	s.m.allCollects = append(s.m.allCollects, s.stages)
	s.neigh = s.newResponder()
	s.m.allCollects = append(s.m.allCollects, s.neigh)
	s.learn = newLearner() // learn.go
	s.m.allCollects = append(s.m.allCollects, s.learn.collectors()...)
	return s
}

// ownsGroup: nva's group IDs are the compiler's (compiler.OwnsGroup: the
// FloodGroupID range, a 24-bit VNI shifted left by one plus one bit, and
// the dual-homing groups). Groups outside it belong to someone else and
// are never deleted.
func ownsGroup(id uint32) bool { return compiler.OwnsGroup(id) }

// Start opens the OpenFlow listener and starts following src. It does not
// block; everything stops when ctx ends or Close is called.
func (s *Southbound) Start(ctx context.Context, src Source) error {
	if src == nil {
		return errors.New("ofctl: nil store")
	}
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return errors.New("ofctl: already started")
	}
	s.started = true
	s.mu.Unlock()

	ctx, cancel := context.WithCancel(ctx)
	s.ctx, s.cancel, s.src = ctx, cancel, src
	snap, events := src.SnapshotAndWatch(ctx)
	s.mu.Lock()
	s.snap, s.seen = snap, snap.Revision
	// Leadership counts only once the store has caught up (leaderLoop);
	// until then the switches are only observed.
	s.leader = false
	s.mu.Unlock()

	opts := s.cfg.Conn
	userPS, userErr := opts.OnPortStatus, opts.OnError
	opts.OnPortStatus = func(sw *conn.Switch, ev conn.PortEvent) {
		s.onPortStatus(sw, ev)
		if userPS != nil {
			userPS(sw, ev)
		}
	}
	if opts.OnPacketIn != nil {
		cancel()
		return errors.New("ofctl: Config.Conn.OnPacketIn is the southbound's own (the ARP/ND responder); leave it nil")
	}
	opts.OnPacketIn = s.onPacketIn
	opts.OnError = func(sw *conn.Switch, e *conn.OFError) {
		s.m.errors.WithLabelValues("openflow").Inc()
		if userErr != nil {
			userErr(sw, e)
		}
	}
	ln, err := conn.Listen(ctx, s.cfg.ListenAddr, s.cfg.TLS, s, opts)
	if err != nil {
		cancel()
		return fmt.Errorf("ofctl: %w", err)
	}
	s.ln = ln
	for range s.cfg.SyncWorkers {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.poolLoop(ctx) }()
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		<-ctx.Done()
		s.mu.Lock()
		s.runCond.Broadcast()
		s.mu.Unlock()
	}()
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.watchLoop(ctx, events) }()
	if s.cfg.AuditInterval > 0 {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.auditLoop(ctx) }()
	}
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.leaderLoop(ctx) }()
	if s.cfg.CounterInterval > 0 {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.countersLoop(ctx) }()
	}
	if s.cfg.Learn != nil {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.learnLoop(ctx) }()
	}
	s.log.Info("openflow southbound started", "addr", ln.Addr().String(), "audit_interval", s.cfg.AuditInterval,
		"plan_workers", s.cfg.PlanWorkers, "sync_workers", s.cfg.SyncWorkers)
	return nil
}

// Addr is the listener's bound address (nil before Start).
func (s *Southbound) Addr() net.Addr {
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Close stops the listener, the store watch and every switch connection,
// and waits for them. Flows stay on the switches.
func (s *Southbound) Close() error {
	if s.cancel == nil {
		return nil
	}
	s.cancel()
	if s.ln != nil {
		s.ln.Close()
		<-s.ln.Done()
	}
	s.wg.Wait()
	return nil
}

// watchLoop follows the store: every batch of events triggers a refresh
// (the NVEs the events affect, kicks). A reset re-subscribes.
func (s *Southbound) watchLoop(ctx context.Context, events <-chan model.Change) {
	var batch []model.Change // events taken, not yet refreshed to
	s.watchCh.Store(&events)
	for {
		s.watchPending.Store(int64(len(batch)))
		if len(batch) == 0 {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-events:
				s.watchPending.Store(1)
				if !ok || ev.Kind == model.ChangeReset {
					if events = s.resubscribe(ctx, ok); events == nil {
						return
					}
					s.watchCh.Store(&events)
					continue
				}
				batch = append(batch, ev)
			}
		}
		// Coalesce whatever else is queued, then read the snapshot: it
		// is at least at every event taken, and the store publishes a
		// revision's events before readers see the revision, so one more
		// look after the read takes every event up to it. Events past it
		// wait for the next round (with the next snapshot).
		var reset, closed bool
		batch, reset, closed = drainEvents(events, batch)
		snap := s.src.Snapshot()
		if !reset {
			batch, reset, closed = drainEvents(events, batch)
		}
		if reset {
			if events = s.resubscribe(ctx, !closed); events == nil {
				return
			}
			s.watchCh.Store(&events)
			batch = nil
			continue
		}
		var now []model.Change
		now, batch = splitAt(batch, snap.Revision)
		s.refreshEvents(snap, now, "store change")
	}
}

// watchBusy reports whether the watch loop has store events queued or
// taken that it has not refreshed to yet.
func (s *Southbound) watchBusy() bool {
	if s.watchPending.Load() > 0 {
		return true
	}
	ch := s.watchCh.Load()
	return ch != nil && len(*ch) > 0
}

// drainEvents appends the events queued on events to batch without
// blocking; reset when it met a reset or the closed channel (closed).
func drainEvents(events <-chan model.Change, batch []model.Change) (_ []model.Change, reset, closed bool) {
	for {
		select {
		case ev, ok := <-events:
			if !ok || ev.Kind == model.ChangeReset {
				return batch, true, !ok
			}
			batch = append(batch, ev)
		default:
			return batch, false, false
		}
	}
}

// splitAt splits events (in index order) into those at or below rev and
// the rest.
func splitAt(events []model.Change, rev uint64) (upTo, after []model.Change) {
	i := len(events)
	for i > 0 && events[i-1].Index > rev {
		i--
	}
	return events[:i], slices.Clone(events[i:])
}

// resubscribe follows a reset (or a closed watch, after a pause so a
// closed store does not spin): a new snapshot, compared with the last in
// full, and a new watch; nil when ctx ended.
func (s *Southbound) resubscribe(ctx context.Context, wasReset bool) <-chan model.Change {
	if ctx.Err() != nil {
		return nil
	}
	if !wasReset {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
	snap, events := s.src.SnapshotAndWatch(ctx)
	s.refreshTo(snap, "store reset")
	return events
}

// refresh takes the store's current snapshot and applies it.
func (s *Southbound) refresh(reason string) {
	s.refreshTo(s.src.Snapshot(), reason)
}

// refreshTo makes snap current: computes the NVEs the difference affects,
// records the revision as pending for the connected ones, re-evaluates
// which switch belongs to which NVE, and kicks the workers concerned.
func (s *Southbound) refreshTo(snap *model.Snapshot, reason string) {
	s.refreshEvents(snap, nil, reason)
}

// refreshEvents is refreshTo; evs, when not nil, are the watch's change
// events not refreshed to yet, up to snap's revision: every event after
// the current snapshot's revision up to snap's is among them (events of
// revisions a refresh without events, WaitRealized's, has already taken
// may be too, which only adds NVEs), so the affected NVEs are found from
// them at the cost of the change (affectedByChanges) instead of
// comparing the two snapshots object by object.
func (s *Southbound) refreshEvents(snap *model.Snapshot, evs []model.Change, reason string) {
	if snap == nil {
		return
	}
	s.refreshMu.Lock()
	defer s.refreshMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if snap.Revision < s.seen {
		return
	}
	old := s.snap
	var affected map[string]bool
	ok := false
	if evs != nil {
		affected, ok = affectedByChanges(old, snap, evs)
	}
	if !ok {
		s.fullCompares.Add(1)
		affected = affectedNVEs(old, snap)
	}
	s.snap, s.seen = snap, snap.Revision
	if sameNVEs(old, snap) {
		// No NVE changed (the store shares the map of a kind that did not
		// change), so no claim, pin or NVE health did: only the affected
		// NVEs' switches are looked at, not every switch (0.6 ms a write
		// at 1,000 NVEs), and no refused switch can be promoted.
		for name := range affected {
			if w := s.workerFor(name); w != nil {
				s.kickAffectedLocked(w, snap, reason)
			}
		}
		s.broadcastLocked()
		return
	}
	for _, w := range s.switches {
		if s.demoteLocked(snap, w) { // identity.go: no longer matches its NVE's pin
			continue
		}
		name := claimant(snap, w.dpid)
		if name != w.nve {
			s.log.Info("switch claim changed", "dpid", fmt.Sprintf("%016x", w.dpid), "from", w.nve, "to", name)
			if w.nve != "" {
				s.state(w.nve).sync = SyncDisconnected
				s.state(w.nve).pending = nil
			}
			w.nve = name
			w.full = true
			if name != "" {
				affected[name] = true
				if st := s.state(name); st.sync == SyncDisconnected {
					// Its switch is connected: its first run is
					// pending (as SwitchConnected records it).
					st.sync = SyncPending
				}
			}
		}
		if w.nve != "" && affected[w.nve] {
			s.kickAffectedLocked(w, snap, reason)
		}
	}
	s.promoteLocked(snap)
	s.updateGaugesLocked()
	s.broadcastLocked()
}

// kickAffectedLocked records snap's revision as pending on w's NVE, which
// the refresh to snap affects, and kicks w.
func (s *Southbound) kickAffectedLocked(w *worker, snap *model.Snapshot, reason string) {
	st := s.state(w.nve)
	st.addPending(snap.Revision)
	if st.sync == SyncInSync {
		st.sync = SyncPending
	}
	w.kickLocked(reason)
}

// sameNVEs reports whether two snapshots share their NVE map: the store
// derives a snapshot from the last one and copies the map of a kind only
// when an object of it changed, and never changes a published map, so a
// shared map means the same NVEs.
func sameNVEs(a, b *model.Snapshot) bool {
	return a != nil && b != nil && a.NVEs != nil && sameMap(a.NVEs, b.NVEs)
}

func (st *nveState) addPending(rev uint64) {
	if n := len(st.pending); n > 0 && st.pending[n-1] >= rev {
		return
	}
	if len(st.pending) == 0 {
		st.pendingAt = time.Now()
	}
	st.pending = append(st.pending, rev)
	if len(st.pending) > 1024 {
		// Collapsing to the oldest is conservative: the NVE stays a
		// laggard for every revision from there on until it catches up.
		st.pending = st.pending[:1]
	}
}

func (s *Southbound) state(name string) *nveState {
	st, ok := s.nves[name]
	if !ok {
		st = &nveState{sync: SyncDisconnected}
		s.nves[name] = st
	}
	return st
}

func (s *Southbound) broadcastLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// updateGaugesLocked updates NVE health (healthLocked: nves are the NVEs
// whose claims may have changed, besides any change of the snapshot's
// NVEs) and the connection gauges, at the cost of the change: it runs on
// every connect, so it walks no switch and no NVE.
func (s *Southbound) updateGaugesLocked(nves ...string) {
	s.healthLocked(nves...)
	connected, unclaimed := s.switchCountsLocked()
	s.m.connected.Set(float64(connected))
	s.m.unclaimed.Set(float64(unclaimed))
}

// switchCountsLocked counts the connected switches and those of them no
// NVE claims (refused ones included), from the down set, which
// healthLocked has just updated: a registered switch that claims an NVE
// is the one workerFor finds for it (it is registered under its datapath
// ID, which names that NVE), so the claimed switches and the NVEs that
// are up correspond one to one.
func (s *Southbound) switchCountsLocked() (connected, unclaimed int) {
	claimed := 0
	if s.snap != nil {
		claimed = len(s.snap.NVEs) - len(s.health.down)
	}
	return len(s.switches) + len(s.refused), len(s.switches) - claimed + len(s.refused)
}

// claimant is the NVE whose datapath ID is dpid ("" if none; the first by
// name if several claim it).
func claimant(snap *model.Snapshot, dpid uint64) string {
	if snap == nil {
		return ""
	}
	if n := snap.NVEByDPID(dpid); n != nil {
		return n.Name
	}
	return ""
}

// affectedNVEs lists the NVEs whose compiled state may differ between two
// snapshots: for a changed port, the NVEs hosting its VN before or after
// (and its own NVE before and after); for a changed VN, the NVEs hosting
// it; for a changed NVE, itself and every NVE sharing a VN with it (its
// underlay IPs are in their tunnel flows). Objects are compared by
// identity: the store replaces an object when it changes. It walks every
// port, VN and NVE of both snapshots; affectedByChanges answers the same
// from the store's change events at the cost of the change.
func affectedNVEs(old, cur *model.Snapshot) map[string]bool {
	out := map[string]bool{}
	if old == nil || len(old.NVEs) == 0 {
		// Every NVE is new (a restarted node's first refresh after its
		// log replay starts from an empty store): all are affected, and
		// nothing else can be. Working that out object by object costs
		// ~190 ms at 1,000 NVEs, under the southbound's lock.
		for n := range cur.NVEs {
			out[n] = true
		}
		return out
	}
	a := newAffector(old, cur, out)
	model.DiffTables(old.Ports, cur.Ports, a.port)
	eachChanged(old.VNs, cur.VNs, a.hosting)
	eachChanged(old.NVEs, cur.NVEs, a.nve)
	a.rest()
	return out
}

// eachChanged calls f with the name of every object of one kind that is
// new in cur, gone from it, or replaced (another pointer: the store
// replaces an object when it changes).
func eachChanged[T any](old, cur map[string]*T, f func(name string)) {
	for name, o := range cur {
		if old[name] != o {
			f(name)
		}
	}
	for name := range old {
		if _, ok := cur[name]; !ok {
			f(name)
		}
	}
}

// affectedByChanges is affectedNVEs for snapshots old and cur when evs are
// the store's change events of every revision after old's up to cur's
// (in any order; events of revisions in between that no snapshot saw add
// their objects too, which only adds NVEs): the ports, VNs and NVEs the
// events name stand for the walk over every object. ok is false when an
// event is of a kind it does not know, or does not name its object (the
// caller then asks affectedNVEs).
// The kinds of state that change without an event (inter-VN policies, L3
// gateways) and the learned endpoints are compared as affectedNVEs does.
func affectedByChanges(old, cur *model.Snapshot, evs []model.Change) (out map[string]bool, ok bool) {
	if old == nil {
		return nil, false
	}
	out = map[string]bool{}
	a := newAffector(old, cur, out)
	for _, ev := range evs {
		switch ev.Kind {
		case model.ChangePort, model.ChangeVN, model.ChangeNVE:
			if ev.Name == "" {
				return nil, false // a change of an unexpected shape
			}
		}
		switch ev.Kind {
		case model.ChangePort:
			for _, o := range []any{ev.Old, ev.New} {
				if p, _ := o.(*model.Port); p != nil { // a state no snapshot saw
					out[p.NVE] = true
					a.hosting(p.VN)
				}
			}
			a.port(ev.Name)
		case model.ChangeVN:
			a.hosting(ev.Name)
		case model.ChangeNVE:
			a.nve(ev.Name)
		case model.ChangeNode, model.ChangeLearned:
			// Members are no input of the compile; learned endpoints
			// are compared below.
		default:
			return nil, false
		}
	}
	a.rest()
	return out, true
}

// affector adds to out the NVEs a change of one object affects, asking
// both snapshots (see affectedNVEs).
type affector struct {
	old, cur *model.Snapshot
	out      map[string]bool
	domains  [2]map[string][]string // L3 domains of old and cur, built on first use
}

func newAffector(old, cur *model.Snapshot, out map[string]bool) *affector {
	return &affector{old: old, cur: cur, out: out}
}

// hosting: the NVEs hosting VN vn, and for a routed VN the NVEs hosting a
// VN of its L3 domain (app/compiler's l3_route).
func (a *affector) hosting(vn string) {
	for i, snap := range []*model.Snapshot{a.old, a.cur} {
		for _, n := range snap.NVEsHosting(vn) {
			a.out[n] = true
		}
		if v := snap.VNs[vn]; v != nil && v.DomainKey() != "" {
			if a.domains[i] == nil {
				a.domains[i] = snap.L3Domains()
			}
			for _, other := range a.domains[i][v.DomainKey()] {
				for _, n := range snap.NVEsHosting(other) {
					a.out[n] = true
				}
			}
		}
	}
}

// port: port name as either snapshot has it (its NVE, the NVEs hosting
// its VN).
func (a *affector) port(name string) {
	for _, snap := range []*model.Snapshot{a.old, a.cur} {
		if p := snap.Ports.Get(name); p != nil {
			a.out[p.NVE] = true
			a.hosting(p.VN)
		}
	}
}

// peers: the NVEs sharing a VN with nve (its underlay IP is in their
// tunnel flows) or routing to it.
func (a *affector) peers(snap *model.Snapshot, nve string) {
	for _, p := range snap.Peers(nve) {
		a.out[p.NVE] = true
	}
	for _, p := range snap.RoutePeers(nve) { // its underlay IP is in their route flows
		a.out[p.NVE] = true
	}
}

// nve: NVE name changed, came or went: itself and its peers in either
// snapshot. (A peer that gained or lost a VN with the NVE had a port
// change, which port covers for both snapshots.) A tNVE has no peers: its
// nNVE and every NVE of its VNs read its access link (the VLANs; who
// reaches its ports how).
func (a *affector) nve(name string) {
	a.out[name] = true
	for _, snap := range []*model.Snapshot{a.old, a.cur} {
		if _, ok := snap.NVEs[name]; ok {
			a.peers(snap, name)
		}
	}
	for _, snap := range []*model.Snapshot{a.old, a.cur} {
		if t := snap.NVEs[name]; t.IsTNVE() {
			a.out[t.AccessLink.NNVE] = true
			for _, vn := range snap.VNsOn(name) {
				a.hosting(vn)
			}
		}
	}
}

// rest: what changes without naming a port, VN or NVE: learned endpoints
// that moved (app/compiler/segment.go), inter-VN policy rules (every NVE
// hosting a VN of the rule's L3 domain, app/model's policy.go) and L3
// gateways (l3gateway.go).
func (a *affector) rest() {
	for _, vn := range model.LearnedChangedVNs(a.old, a.cur) {
		a.hosting(vn)
	}
	for _, dk := range model.ChangedPolicyDomains(a.old, a.cur) {
		for i, snap := range []*model.Snapshot{a.old, a.cur} {
			if a.domains[i] == nil {
				a.domains[i] = snap.L3Domains()
			}
			for _, vn := range a.domains[i][dk] {
				for _, n := range snap.NVEsHosting(vn) {
					a.out[n] = true
				}
			}
		}
	}
	l3GatewayAffected(a.old, a.cur, a.out) // l3gateway.go
}

// leaderLoop follows Raft leadership: when this node becomes (or stops
// being) the leader, every switch is re-read and reconciled (or merely
// observed). A new leader first waits for its store to catch up (see
// Source.LeaderReady) and takes its snapshot after that.
func (s *Southbound) leaderLoop(ctx context.Context) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	var changed <-chan struct{} // the store's leader-change signal, when it has one
	for first := true; ; first = false {
		if n, ok := s.src.(leaderNotifier); ok {
			changed = n.LeaderChanged()
		}
		if !first {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			case <-changed:
			}
		}
		l := s.src.IsLeader() && s.leaderReady(ctx)
		known := l || s.otherLeads()
		s.mu.Lock()
		if l {
			s.leaderTerm = s.readyTerm
		}
		switch {
		case l != s.leader:
			s.leader = l
			s.log.Info("southbound role changed", "writes_to_switches", l)
			for _, w := range s.switches {
				if w.nve != "" {
					w.full = true
					w.kickLocked("leadership change")
				}
			}
		case known && !s.roleKnown:
			// A follower from the start: the switches left alone until
			// now are observed.
			for _, w := range s.switches {
				if w.nve != "" {
					w.full = true
					w.kickLocked("leader known")
				}
			}
		}
		s.roleKnown = s.roleKnown || known
		s.mu.Unlock()
	}
}

// leaderNotifier is the part of a Source that signals leader changes
// (the store; optional: without it leaderLoop polls every 250 ms).
type leaderNotifier interface {
	LeaderChanged() <-chan struct{}
}

// leaderNamer is the part of a Source that names the current leader (the
// store; optional).
type leaderNamer interface {
	Leader() (id, apiAddr string)
}

// otherLeads reports whether another node is known to lead; a Source that
// cannot tell is taken to have one, so its switches are observed at once.
func (s *Southbound) otherLeads() bool {
	n, ok := s.src.(leaderNamer)
	if !ok {
		return true
	}
	id, _ := n.Leader()
	return id != "" && !s.src.IsLeader()
}

// leaderReady reports whether this node, the Raft leader, has applied
// everything committed before its term: a barrier once per term, after
// which the southbound's snapshot is refreshed from the store.
func (s *Southbound) leaderReady(ctx context.Context) bool {
	start := time.Now()
	bctx, cancel := context.WithTimeout(ctx, s.cfg.OpTimeout)
	term, ready, err := s.src.LeaderReady(bctx)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			s.log.Info("leader, but the store has not caught up yet; switches are only observed", "term", term, "error", err)
		}
		return false
	}
	if !ready {
		return false
	}
	if term == s.readyTerm {
		return true
	}
	s.readyTerm = term
	s.refresh("leader caught up")
	s.mu.Lock()
	rev := s.seen
	s.mu.Unlock()
	s.log.Info("leader: store caught up with the log; writing to switches", "term", term, "revision", rev, "took", time.Since(start))
	return true
}

// auditLoop runs the audit rounds: each tick starts one, which audits
// every connected, claimed switch once, spread evenly over the audit
// interval in datapath-ID order (the first at once), so each switch is
// audited at its own phase and never all at once. A round that has not
// finished when the next tick comes is superseded by the new one.
func (s *Southbound) auditLoop(ctx context.Context) {
	t := s.cfg.NewTicker(s.cfg.AuditInterval)
	defer t.Stop()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var (
		round   []uint64
		next    int
		start   time.Time
		spacing time.Duration
		timerC  <-chan time.Time
	)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			round, next, start = s.auditOrder(), 0, time.Now()
			if len(round) > 0 {
				spacing = s.cfg.AuditInterval / time.Duration(len(round))
			}
			s.m.auditRound.Set(float64(len(round)))
		case <-timerC:
		}
		now := time.Now()
		for next < len(round) && !now.Before(start.Add(time.Duration(next)*spacing)) {
			s.auditSwitch(round[next])
			next++
		}
		timerC = nil
		if next < len(round) {
			timer.Reset(start.Add(time.Duration(next) * spacing).Sub(now))
			timerC = timer.C
		}
	}
}

// auditOrder lists the connected, claimed switches by datapath ID, on
// the leader only: a follower never repairs drift, and it re-reads a
// switch on the triggers that matter to it (a store change, a switch
// event, a reconnect, an observation that is not yet in sync), so
// periodic audits would only cost it a read of every switch per interval.
func (s *Southbound) auditOrder() []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.leader {
		return nil
	}
	out := make([]uint64, 0, len(s.switches))
	for dpid, w := range s.switches {
		if w.nve != "" {
			out = append(out, dpid)
		}
	}
	slices.Sort(out)
	return out
}

// observeDelayCap bounds the back-off between re-reads of a switch that
// is not yet in sync with this node's desired state (a follower waiting
// for the leader's writes, or a failed read); a shorter audit interval
// bounds it too.
const observeDelayCap = 10 * time.Second

func (s *Southbound) maxObserveDelay() time.Duration {
	if s.cfg.AuditInterval > 0 && s.cfg.AuditInterval < observeDelayCap {
		return s.cfg.AuditInterval
	}
	return observeDelayCap
}

// auditSwitch queues an audit of the switch with datapath ID dpid, if it
// is still connected and claimed (an audit already queued is not queued
// twice: audits never pile up).
func (s *Southbound) auditSwitch(dpid uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if w := s.switches[dpid]; w != nil && w.nve != "" && s.leader {
		w.audit = true
		w.wakeLocked("audit")
	}
}

// Audit makes every connected, claimed switch re-read its installed state
// and repair any drift now, all at once (the audit rounds of auditLoop
// spread them instead).
func (s *Southbound) Audit() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, w := range s.switches {
		if w.nve != "" {
			w.audit = true
			w.wakeLocked("audit")
		}
	}
}

// onPortStatus: a port added, changed or removed on a switch changes the
// port numbers its NVE is compiled with, so the NVE is recompiled and
// reconciled now (the kick coalesces a burst of events into one run, which
// reads the switch's port table as it is then).
func (s *Southbound) onPortStatus(sw *conn.Switch, ev conn.PortEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if w := s.switches[sw.DPID()]; w != nil && w.sw == sw && w.nve != "" {
		w.kickLocked("port " + ev.Reason.String() + " " + ev.Port.Name)
	}
}

// PortsChanged tells the southbound that what Config.PortNumbers returns
// for NVE nve may have changed (e.g. OVSDB reported a new ofport): the
// NVE's switch, if connected, is recompiled and reconciled now. It does
// not block.
//
// Numbers the NVE's last compile already used change nothing, and its
// switch is left alone: after a restart, OVSDB reconnects and reports
// every NVE's ofports once more, the same ones the switch's port table
// gave the compile, and recompiling a thousand NVEs for that would double
// the restart's CPU work.
func (s *Southbound) PortsChanged(nve string) {
	s.mu.Lock()
	w := s.workerFor(nve)
	s.mu.Unlock()
	if w == nil {
		return
	}
	ports := s.portNumbers(w.sw, nve) // outside s.mu: it asks Config.PortNumbers
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.workerFor(nve) != w {
		return // replaced: the new connection's first run compiles afresh
	}
	if !w.running && !w.queued { // no compile in flight that could be older
		if last := w.lastCompile(nve); last != nil && maps.Equal(last.ports.ports, ports) {
			return
		}
	}
	w.kickLocked("port numbers of " + nve + " changed")
}

// Unclaimed lists the connected switches no NVE claims.
func (s *Southbound) Unclaimed() []model.UnclaimedSwitch {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []model.UnclaimedSwitch
	for _, w := range s.switches {
		if w.nve == "" {
			out = append(out, unclaimedEntry(w.sw, "", ""))
		}
	}
	out = append(out, s.refusedEntriesLocked()...)
	sort.Slice(out, func(i, j int) bool { return out[i].DatapathID < out[j].DatapathID })
	return out
}

// UnclaimedSwitches is Unclaimed, never nil (the REST API's list).
func (s *Southbound) UnclaimedSwitches() []model.UnclaimedSwitch {
	if u := s.Unclaimed(); u != nil {
		return u
	}
	return []model.UnclaimedSwitch{}
}
