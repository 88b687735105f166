package vtep

import (
	"context"
	"errors"
	"fmt"
	hw "github.com/nva-project/nva/ovsdb/hwvtep"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/ovn-kubernetes/libovsdb/cache"
	"github.com/ovn-kubernetes/libovsdb/client"
	"github.com/ovn-kubernetes/libovsdb/model"
	"github.com/ovn-kubernetes/libovsdb/ovsdb"
)

// Reporter takes the MACs VTEPs learn on their physical ports: the daemon
// makes them learned endpoints of their VNs.
type Reporter interface {
	// VTEPLearned is called with every MAC VTEP nve has learned (by VN
	// then MAC) whenever that set changes, and after each (re)connect. An
	// error has it called again on the next change of the database or
	// the desired state.
	VTEPLearned(ctx context.Context, nve string, macs []Learned) error
}

// Status is one VTEP's management state.
type Status struct {
	NVE       string
	Connected bool      // the OVSDB session is up and its monitor cache populated
	InSync    bool      // the last pass found nothing to change
	LastError string    // the current problem ("" once a pass succeeds)
	Warnings  []string  // what of the desired state could not be applied
	Learned   []Learned // the MACs the VTEP has learned in nva's VNs
	Updated   time.Time
}

func (s Status) equal(o Status) bool {
	return s.NVE == o.NVE && s.Connected == o.Connected && s.InSync == o.InSync && s.LastError == o.LastError &&
		slices.Equal(s.Warnings, o.Warnings) && slices.Equal(s.Learned, o.Learned)
}

// Option configures a Manager.
type Option func(*Manager)

// WithBackoff sets the reconnect/retry backoff bounds (defaults 200ms, 10s).
func WithBackoff(min, max time.Duration) Option {
	return func(m *Manager) { m.backoffMin, m.backoffMax = min, max }
}

// WithLearnedRefresh has the learned MACs reported again every d even
// when unchanged (0, the default: only on change), so that a store that
// ages learned endpoints by when they were last seen keeps the VTEP's.
func WithLearnedRefresh(d time.Duration) Option { return func(m *Manager) { m.refresh = d } }

// WithClock sets the clock of Status.Updated.
func WithClock(now func() time.Time) Option { return func(m *Manager) { m.now = now } }

// Manager manages the VTEPs: one OVSDB session, monitor cache and
// goroutine per VTEP, each applying its latest Desired whenever it or the
// database changes.
type Manager struct {
	log        *slog.Logger
	rep        Reporter
	onStatus   func(Status)
	now        func() time.Time
	backoffMin time.Duration
	backoffMax time.Duration
	opTimeout  time.Duration
	refresh    time.Duration

	mu      sync.Mutex
	workers map[string]*worker
	closed  bool
}

// NewManager returns a Manager that reports learned MACs to rep and calls
// onStatus (may be nil; it must not block for long) when a VTEP's status
// changes.
func NewManager(log *slog.Logger, rep Reporter, onStatus func(Status), opts ...Option) *Manager {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if onStatus == nil {
		onStatus = func(Status) {}
	}
	m := &Manager{log: log, rep: rep, onStatus: onStatus, now: time.Now, backoffMin: 200 * time.Millisecond,
		backoffMax: 10 * time.Second, opTimeout: 10 * time.Second, workers: map[string]*worker{}}
	for _, o := range opts {
		o(m)
	}
	return m
}

// Sync hands a VTEP's desired state to its goroutine (started on first
// use) and returns at once.
func (m *Manager) Sync(d Desired) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	w := m.workers[d.NVE]
	if w == nil {
		ctx, cancel := context.WithCancel(context.Background())
		w = &worker{m: m, nve: d.NVE, ctx: ctx, cancel: cancel, offer: make(chan struct{}, 1), done: make(chan struct{})}
		w.status.NVE = d.NVE
		m.workers[d.NVE] = w
		go w.run()
	}
	w.mu.Lock()
	w.desired = d
	w.mu.Unlock()
	select {
	case w.offer <- struct{}{}:
	default:
	}
}

// Remove takes nva's configuration off a VTEP (its logical switches, their
// bindings and remote MACs; a logical switch the VTEP still has learned
// MACs in stays), then forgets it. It blocks until done or ctx ends.
func (m *Manager) Remove(ctx context.Context, nve string) error {
	m.mu.Lock()
	w := m.workers[nve]
	delete(m.workers, nve)
	m.mu.Unlock()
	if w == nil {
		return nil
	}
	w.mu.Lock()
	w.desired.VNs, w.removing = nil, true
	w.mu.Unlock()
	select {
	case w.offer <- struct{}{}:
	default:
	}
	select {
	case <-w.done:
		return w.removeErr
	case <-ctx.Done():
		w.cancel()
		<-w.done
		return fmt.Errorf("remove VTEP %s: %w", nve, ctx.Err())
	}
}

// Close stops every VTEP's goroutine, leaving the VTEPs configured.
func (m *Manager) Close() {
	m.mu.Lock()
	m.closed = true
	ws := m.workers
	m.workers = map[string]*worker{}
	m.mu.Unlock()
	for _, w := range ws {
		w.cancel()
	}
	for _, w := range ws {
		<-w.done
	}
}

// Status returns a VTEP's last status.
func (m *Manager) Status(nve string) (Status, bool) {
	m.mu.Lock()
	w := m.workers[nve]
	m.mu.Unlock()
	if w == nil {
		return Status{}, false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.status
	s.Warnings, s.Learned = slices.Clone(s.Warnings), slices.Clone(s.Learned)
	return s, true
}

type worker struct {
	m      *Manager
	nve    string
	ctx    context.Context
	cancel context.CancelFunc
	offer  chan struct{}
	done   chan struct{}

	mu        sync.Mutex
	desired   Desired
	removing  bool
	status    Status
	removeErr error // set before done closes

	reported []Learned // last reported to the Reporter (nil with ok false: never)
	repOK    bool
	repAt    time.Time // when (m.now)
}

func (w *worker) current() (Desired, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.desired, w.removing
}

func (w *worker) setStatus(f func(*Status)) {
	w.mu.Lock()
	old := w.status
	f(&w.status)
	changed := !old.equal(w.status)
	if changed {
		w.status.Updated = w.m.now()
	}
	s := w.status
	w.mu.Unlock()
	if changed {
		w.m.onStatus(s)
	}
}

func (w *worker) run() {
	defer close(w.done)
	backoff := w.m.backoffMin
	for w.ctx.Err() == nil {
		d, removing := w.current()
		c, err := w.dial(d)
		if err != nil {
			w.setStatus(func(s *Status) { s.Connected, s.InSync, s.LastError = false, false, err.Error() })
			if removing {
				w.removeErr = err
				return
			}
			if !w.sleep(backoff, nil) {
				return
			}
			backoff = min(2*backoff, w.m.backoffMax)
			continue
		}
		backoff = w.m.backoffMin
		w.repOK = false
		w.serve(c, d.Endpoint)
		c.close()
		if _, removing := w.current(); removing {
			return
		}
	}
}

// serve ensures the desired state on one session until it is lost, the
// endpoint changes or the worker stops.
func (w *worker) serve(c *conn, endpoint string) {
	retry := w.m.backoffMin
	var refresh <-chan time.Time
	if w.m.refresh > 0 {
		t := time.NewTicker(w.m.refresh)
		defer t.Stop()
		refresh = t.C
	}
	for {
		d, removing := w.current()
		if d.Endpoint != endpoint {
			return
		}
		err := w.ensure(c, d)
		if removing {
			w.removeErr = err
			w.cancel()
			return
		}
		var timer *time.Timer
		var fire <-chan time.Time
		if err != nil {
			timer = time.NewTimer(retry)
			fire = timer.C
			retry = min(2*retry, w.m.backoffMax)
		} else {
			retry = w.m.backoffMin
		}
		lost := false
		select {
		case <-w.ctx.Done():
			lost = true
		case <-c.lost:
			w.setStatus(func(s *Status) { s.Connected, s.InSync, s.LastError = false, false, "OVSDB session lost" })
			lost = true
		case <-c.kick:
		case <-w.offer:
		case <-fire:
		case <-refresh:
		}
		if timer != nil {
			timer.Stop()
		}
		if lost {
			return
		}
	}
}

// ensure reads the cache, applies the plan (if it has operations) and
// reports the learned MACs.
func (w *worker) ensure(c *conn, d Desired) error {
	ctx, cancel := context.WithTimeout(w.ctx, w.m.opTimeout)
	defer cancel()
	err := func() error {
		v, err := read(ctx, c.client, d.TunnelIP)
		if err != nil {
			return err
		}
		learned := v.learned()
		p, err := makePlan(c.client, v, d)
		if err != nil {
			return fmt.Errorf("plan: %w", err)
		}
		warnings := append(slices.Clone(d.Warnings), p.warnings...)
		if len(p.ops) > 0 {
			res, err := c.client.Transact(ctx, p.ops...)
			if err == nil {
				_, err = ovsdb.CheckOperationResults(res, p.ops)
			}
			if err != nil {
				return fmt.Errorf("transact (%d operations): %w", len(p.ops), err)
			}
			w.m.log.Debug("vtep updated", "nve", w.nve, "operations", len(p.ops))
		}
		w.setStatus(func(s *Status) {
			s.Connected, s.InSync, s.LastError, s.Warnings, s.Learned = true, len(p.ops) == 0, "", warnings, learned
		})
		now := w.m.now()
		stale := w.m.refresh > 0 && len(learned) > 0 && now.Sub(w.repAt) >= w.m.refresh
		if w.m.rep != nil && (!w.repOK || !slices.Equal(learned, w.reported) || stale) {
			if err := w.m.rep.VTEPLearned(ctx, w.nve, learned); err != nil {
				return fmt.Errorf("report learned MACs: %w", err)
			}
			w.reported, w.repOK, w.repAt = learned, true, now
		}
		return nil
	}()
	if err != nil {
		w.setStatus(func(s *Status) { s.InSync, s.LastError = false, err.Error() })
		w.m.log.Warn("vtep ensure failed", "nve", w.nve, "err", err)
	}
	return err
}

func (w *worker) sleep(d time.Duration, extra <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-w.ctx.Done():
		return false
	case <-t.C:
	case <-w.offer:
	case <-extra:
	}
	return true
}

// conn is one OVSDB session with its monitor cache.
type conn struct {
	client client.Client
	kick   chan struct{}
	lost   chan struct{}
	done   chan struct{}
}

func (c *conn) poke() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *conn) close() {
	select {
	case <-c.done:
	default:
		close(c.done)
		c.client.Close()
	}
}

func (w *worker) dial(d Desired) (*conn, error) {
	ctx, cancel := context.WithTimeout(w.ctx, w.m.opTimeout)
	defer cancel()
	dbm, err := models()
	if err != nil {
		return nil, fmt.Errorf("hardware_vtep model: %w", err)
	}
	lr := logr.FromSlogHandler(w.m.log.Handler())
	opts := []client.Option{client.WithEndpoint(d.Endpoint), client.WithLogger(&lr)}
	if d.TLS != nil {
		opts = append(opts, client.WithTLSConfig(d.TLS))
	}
	cl, err := client.NewOVSDBClient(dbm, opts...)
	if err != nil {
		return nil, fmt.Errorf("OVSDB client for %s: %w", d.Endpoint, err)
	}
	c := &conn{client: cl, kick: make(chan struct{}, 1), lost: make(chan struct{}), done: make(chan struct{})}
	notify := cl.DisconnectNotify()
	go func() {
		select {
		case <-notify:
			close(c.lost)
		case <-c.done:
		}
	}()
	if err := cl.Connect(ctx); err != nil {
		c.close()
		return nil, fmt.Errorf("connect %s: %w", d.Endpoint, err)
	}
	cl.Cache().AddEventHandler(&cache.EventHandlerFuncs{
		AddFunc:    func(string, model.Model) { c.poke() },
		UpdateFunc: func(string, model.Model, model.Model) { c.poke() },
		DeleteFunc: func(string, model.Model) { c.poke() },
	})
	var (
		ps hw.PhysicalSwitch
		pp hw.PhysicalPort
	)
	mon := cl.NewMonitor(
		client.WithTable(&ps, &ps.Name, &ps.Ports, &ps.TunnelIPs),
		client.WithTable(&pp, &pp.Name, &pp.VLANBindings),
		client.WithTable(&hw.LogicalSwitch{}),
		client.WithTable(&hw.UcastMacsLocal{}),
		client.WithTable(&hw.UcastMacsRemote{}),
		client.WithTable(&hw.McastMacsLocal{}),
		client.WithTable(&hw.McastMacsRemote{}),
		client.WithTable(&hw.PhysicalLocator{}),
		client.WithTable(&hw.PhysicalLocatorSet{}),
	)
	if len(mon.Errors) > 0 {
		c.close()
		return nil, fmt.Errorf("OVSDB monitor request: %w", errors.Join(mon.Errors...))
	}
	if _, err := cl.Monitor(ctx, mon); err != nil {
		c.close()
		return nil, fmt.Errorf("monitor %s: %w", d.Endpoint, err)
	}
	return c, nil
}
