package ofctl

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"maps"
	"reflect"
	"slices"
	"sync/atomic"
	"time"

	"antrea.io/libOpenflow/openflow13"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/pipeline"
	"github.com/nva-project/nva/ofctl/codec"
	"github.com/nva-project/nva/ofctl/conn"
	"github.com/nva-project/nva/ofctl/reconcile"
)

// worker is the reconciliation state of one connected switch. Fields
// marked (mu) are guarded by Southbound.mu; the rest belong to the pool
// goroutine running it (one at a time: see poolLoop).
type worker struct {
	sb   *Southbound
	sw   *conn.Switch
	dpid uint64
	// ports is the port map of the switch's last compile (portNumbers),
	// kept while its sources are the same maps (the run's goroutine).
	ports portMemo

	nve     string // (mu) claimed NVE, "" when unclaimed
	full    bool   // (mu) re-read installed state before diffing
	audit   bool   // (mu) the next run audits the switch (see auditOnce)
	work    bool   // (mu) something changed: the next run recompiles and diffs
	trigger string // (mu) why the next run happens
	queued  bool   // (mu) in Southbound.runq or runqUrgent
	urgent  bool   // (mu) queued in Southbound.runqUrgent
	running bool   // (mu) a pool goroutine runs it
	again   bool   // (mu) kicked while running: queue it again after
	// kickedAt (mu) is when the first kick the next run takes came (zero:
	// none); runStart is when the current run took its job.
	kickedAt time.Time
	runStart time.Time

	noBundles    bool            // the switch refused to open a bundle
	invalidTTL   bool            // invalid-TTL packet-ins asked for on this connection (ttlexceeded.go)
	tables       *tableFeatures  // the switch's OFPMP_TABLE_FEATURES answer (nil: not asked yet)
	tableCheck   tableCheck      // checkTables's last answer for these tables
	cache        *compiler.Cache // incremental compiles of the claimed NVE (it resets itself on another NVE or profile)
	observeDelay time.Duration   // follower: next re-check delay
	// lastObserve (mu) is when this follower last read the switch, and
	// held (mu) says a run it put off is scheduled (see holdObserve).
	lastObserve time.Time
	held        bool
	role        conn.Role // role last granted by the switch (RoleNoChange: none asked)
	roleGen     uint64    // its generation
	// What nva last installed on the switch (what the audit compares the
	// switch with): have says installed* (or slices) reflect the switch,
	// for NVE haveFor. installed is a list read from the switch, or the
	// last compile's result when it had no slices; it is nil when slices
	// say it.
	have            bool
	haveFor         string
	installed       []flow.Flow
	installedGroups []flow.GroupEntry
	// slices is what the switch holds, slice by slice: the Slices of the
	// compile result last installed (when have is true and it was set
	// after a sync of haveFor), the very array the published compile
	// (compiled) holds while they are the same, so the record costs
	// nothing of its own. The reconciler then diffs only the slices whose
	// fingerprint changed (see sliceDiff).
	slices []*compiler.Slice
	// compiled is the last compile of the claimed NVE (compiled.go), for
	// readers on other goroutines (the traffic counters): its slices are
	// the compiler cache's own, immutable.
	compiled atomic.Pointer[compiledNVE]
	// report is the hash of the last report (flows and groups as read)
	// found equal to the record: while nothing is sent, an audit whose
	// report hashes the same is clean without decoding or diffing
	// anything. Zero when unknown.
	report reportSum
}

// forgetInstalled drops the record of what the switch holds (it is not
// known any more: the next run re-reads the switch), releasing it.
func (w *worker) forgetInstalled() {
	w.have, w.report = false, reportSum{}
	w.installed, w.installedGroups, w.slices = nil, nil, nil
}

// compilerCache is the worker's compiler cache (the worker goroutine's
// alone: a Cache is not safe for concurrent use).
func (w *worker) compilerCache() *compiler.Cache {
	if w.cache == nil {
		var pool *compiler.PartPool
		if w.sb != nil {
			pool = w.sb.parts
		}
		w.cache = compiler.NewSharedCache(pool)
	}
	return w.cache
}

// SwitchConnected implements conn.Handler: it registers the switch and
// queues its first reconciliation on the pool (see poolLoop). It must
// return at once: the connection layer delivers the switch's events (port
// status, errors) on this goroutine only after it returns, so reconciling
// here would hold every port-status event back until the switch
// disconnected, and a port attached after the connection would only be
// compiled in by the next audit.
func (s *Southbound) SwitchConnected(sw *conn.Switch) {
	dpid := sw.DPID()
	w := &worker{sb: s, sw: sw, dpid: dpid, full: true}
	s.mu.Lock()
	if s.refuseLocked(sw) { // identity.go: a certificate its NVE does not pin
		s.mu.Unlock()
		return
	}
	prev := s.registerLocked(w)
	nve := w.nve // w.nve is s.mu's: a store change may reassign it
	known := s.roleKnown
	s.mu.Unlock()
	if prev != nil && prev.sw != sw {
		s.log.Info("switch reconnected; closing its previous connection", "dpid", fmt.Sprintf("%016x", dpid))
		prev.sw.Close()
	}
	switch {
	case nve == "" && !known:
		// Starting: the store may not have replayed its log yet, so the
		// NVE naming the switch may not be known yet either (refreshTo
		// claims it then).
		s.log.Info("switch connected while the node starts; its NVE is looked up once the store has caught up",
			"dpid", model.FormatDatapathID(dpid), "remote", sw.RemoteAddr().String())
	case nve == "":
		s.log.Warn("switch connected with a datapath ID no NVE claims; leaving it untouched",
			"dpid", model.FormatDatapathID(dpid), "remote", sw.RemoteAddr().String())
	default:
		s.log.Info("switch connected", "nve", nve, "dpid", model.FormatDatapathID(dpid), "remote", sw.RemoteAddr().String())
	}
}

// registerLocked makes w the switch of its datapath ID, claiming the NVE
// that ID names in the current snapshot, queues its first run and
// updates NVE health and the gauges for the NVEs concerned only (this
// runs for each of 1,000 switches reconnecting after a restart). It
// returns the worker w replaced, if any.
func (s *Southbound) registerLocked(w *worker) (prev *worker) {
	prev = s.switches[w.dpid]
	s.switches[w.dpid] = w
	w.nve = claimant(s.snap, w.dpid)
	if w.nve != "" {
		st := s.state(w.nve)
		st.sync = SyncPending
		st.pending = nil
		st.addPending(s.seen)
		st.tableCheck = "" // this connection's switch is asked afresh
	}
	w.kickLocked("connect")
	if prev != nil { // replaced (it claimed what w claims: the same datapath ID)
		s.updateGaugesLocked(w.nve, prev.nve)
	} else {
		s.updateGaugesLocked(w.nve)
	}
	s.broadcastLocked()
	return prev
}

// SwitchDisconnected implements conn.Handler.
func (s *Southbound) SwitchDisconnected(sw *conn.Switch, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.forgetRefusedLocked(sw) {
		return
	}
	w := s.switches[sw.DPID()]
	if w == nil || w.sw != sw {
		return
	}
	s.unregisterLocked(w, err)
}

// unregisterLocked drops w, the registered switch of its datapath ID,
// which disconnected with err: its NVE is disconnected.
func (s *Southbound) unregisterLocked(w *worker, err error) {
	delete(s.switches, w.dpid)
	s.neigh.Forget(w.dpid)
	if w.nve != "" {
		st := s.state(w.nve)
		st.sync = SyncDisconnected
		st.pending = nil
		if err != nil && !errors.Is(err, context.Canceled) {
			st.lastErr = "disconnected: " + err.Error()
			st.lastErrAt = s.cfg.Now()
		}
	}
	s.log.Info("switch disconnected", "nve", w.nve, "dpid", model.FormatDatapathID(w.dpid), "error", err)
	s.updateGaugesLocked(w.nve)
	s.broadcastLocked()
}

// syncJob is what one run of syncOnce works on, taken from the worker
// and the southbound under s.mu.
type syncJob struct {
	name    string // the claimed NVE ("" when unclaimed)
	full    bool   // re-read the installed state first
	audit   bool   // compare the switch with what nva last installed
	work    bool   // something changed since the last run
	trigger string
	snap    *model.Snapshot
	target  uint64 // the store revision snap is at
	leader  bool
	term    uint64 // leader: the term it leads in (the master role's generation)
	// roleKnown: the node knows whether it leads (see Southbound.roleKnown)
	roleKnown bool
}

// kind labels the reconcile duration metric.
func (j syncJob) kind() string {
	switch {
	case j.audit:
		return "audit"
	case j.trigger == "connect":
		return "connect"
	}
	return "store"
}

// syncOnce runs one reconciliation of w's switch against its NVE's
// desired state at the current store revision: a follower only observes;
// the leader takes the master role, reconciles and records the outcome.
func (s *Southbound) syncOnce(ctx context.Context, w *worker) {
	j, ok := s.takeJob(w)
	if !ok || j.name == "" {
		return // replaced, or unclaimed: never written to
	}
	if !j.leader && !j.roleKnown {
		// Starting, and no node is known to lead yet (or this one
		// leads but its store has not caught up): leaderLoop kicks
		// every switch once the role is known.
		s.mu.Lock()
		w.full = true
		s.mu.Unlock()
		return
	}
	if !j.leader {
		if s.holdObserve(w, j) {
			return
		}
		s.ensureRole(ctx, w, conn.RoleSlave, s.src.Term())
		s.observeOnce(ctx, w, j)
		s.mu.Lock()
		w.lastObserve = time.Now()
		s.mu.Unlock()
		return
	}
	if err := s.ensureRole(ctx, w, conn.RoleMaster, j.term); err != nil {
		s.roleFailed(j.name, err)
		return
	}
	if !w.have || w.haveFor != j.name {
		j.full = true
	}
	var drift reconcile.Plan
	if j.audit {
		if j.full {
			// What is installed is not known: the full re-read below is
			// the audit, and what it changes is not counted as drift.
			s.m.audits.WithLabelValues("full").Inc()
		} else {
			var clean bool
			var err error
			drift, clean, err = s.auditOnce(ctx, w, j)
			if err != nil {
				if ctx.Err() == nil {
					s.mu.Lock()
					s.reconcileFailedLocked(w, j, s.state(j.name), err)
					s.mu.Unlock()
				}
				return
			}
			if clean && !j.work {
				return // nothing changed on either side: nothing compiled
			}
		}
	}
	if j.trigger == "" {
		j.trigger = "kick"
	}
	start := time.Now()
	plan, warnings, wait, err := s.reconcileNVE(ctx, w, j.name, j.snap, j.full)
	s.m.reconcile.WithLabelValues(j.kind()).Observe(time.Since(start).Seconds())
	if err == nil {
		s.ensureInvalidTTL(ctx, w, j.snap, j.name) // ttlexceeded.go: strict NVEs, once per connection
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.state(j.name)
	st.warnings = warnings
	if err != nil {
		if ctx.Err() == nil {
			s.reconcileFailedLocked(w, j, st, err)
		}
		return
	}
	if !drift.Empty() {
		// Only what the switch lost or gained against nva's own last
		// install: changes nva had pending in the same run are not drift.
		s.m.repairs.Add(float64(drift.Len()))
		s.log.Warn("audit repaired drift", "nve", j.name, "drift", drift.String())
	}
	s.reconciledLocked(j, st, plan, start)
	s.realizeLocked(w, j.name, st, j.target, wait)
	s.broadcastLocked()
}

// takeJob takes w's pending run (and clears its flags); false when w is
// no longer the switch's worker.
func (s *Southbound) takeJob(w *worker) (syncJob, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.switches[w.dpid] != w {
		return syncJob{}, false
	}
	j := syncJob{name: w.nve, full: w.full, audit: w.audit, work: w.work || w.full, trigger: w.trigger, snap: s.snap, target: s.seen, leader: s.leader, term: s.leaderTerm, roleKnown: s.roleKnown}
	w.full, w.audit, w.work, w.trigger = false, false, false, ""
	w.runStart = time.Now()
	if !w.kickedAt.IsZero() {
		s.observeStage(stageQueue, w.runStart.Sub(w.kickedAt))
		w.kickedAt = time.Time{}
	}
	return j, true
}

// errRoleNotGranted: the switch answered a role request with another role.
var errRoleNotGranted = errors.New("switch granted another role")

// roleFailure says what went wrong with a master role request, for the
// log and the NVE's status: only an OpenFlow error in answer to it means
// the switch refused the role.
func roleFailure(err error) string {
	var oe *conn.OFError
	switch {
	case errors.As(err, &oe):
		return "switch refused the master role; not writing"
	case errors.Is(err, errRoleNotGranted):
		return "switch granted another role than master; not writing"
	case errors.Is(err, context.DeadlineExceeded):
		return "switch did not answer the master role request in time; not writing"
	case errors.Is(err, conn.ErrClosed):
		return "connection closed during the master role request"
	case errors.Is(err, context.Canceled):
		return "master role request canceled"
	}
	return "master role request failed; not writing"
}

// roleFailed records that the switch of NVE name did not grant the master
// role (refused it, did not answer, or went away): nothing is written to
// it. A retry follows a timeout; a refusal waits for the next trigger (a
// new term, a reconnect, a change).
func (s *Southbound) roleFailed(name string, err error) {
	what := roleFailure(err)
	s.mu.Lock()
	st := s.state(name)
	if !errors.Is(err, conn.ErrClosed) { // the disconnect records that itself
		st.sync, st.lastErr, st.lastErrAt = SyncError, what+": "+err.Error(), s.cfg.Now()
		st.errCount++
	}
	s.m.errors.WithLabelValues("role").Inc()
	s.broadcastLocked()
	s.mu.Unlock()
	s.log.Warn(what, "nve", name, "error", err)
}

// reconcileFailedLocked records a failed reconciliation and schedules a
// retry with a full re-read: the switch may hold part of the plan.
func (s *Southbound) reconcileFailedLocked(w *worker, j syncJob, st *nveState, err error) {
	s.m.syncs.WithLabelValues("error").Inc()
	st.sync = SyncError
	st.lastErr = err.Error()
	st.lastErrAt = s.cfg.Now()
	st.errCount++
	s.log.Warn("reconcile failed", "nve", j.name, "trigger", j.trigger, "error", err)
	if isConfigError(err) {
		// Retrying changes nothing: the NVE's profile or the switch must
		// change, and either kicks the worker (store change, reconnect).
		s.broadcastLocked()
		return
	}
	time.AfterFunc(s.cfg.RetryInterval, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.switches[w.dpid] == w {
			w.full = true
			w.kickLocked("retry")
		}
	})
	s.broadcastLocked()
}

// reconciledLocked counts and logs a successful reconciliation. (Drift is
// counted by the audit that found it: see auditOnce.)
func (s *Southbound) reconciledLocked(j syncJob, st *nveState, plan reconcile.Plan, start time.Time) {
	if plan.Empty() {
		s.m.syncs.WithLabelValues("noop").Inc()
		return
	}
	s.m.syncs.WithLabelValues("ok").Inc()
	st.lastPlan = plan.String()
	s.log.Info("reconciled", "nve", j.name, "trigger", j.trigger, "plan", plan.String(), "took", time.Since(start))
}

// auditOnce compares what w's switch reports with what nva last installed
// on it (w's record: the cached slices of the last sync), without
// compiling: clean when they are equal. A difference is drift, returned
// as the plan that repairs it; the switch's report then becomes the
// installed state the reconciliation that follows diffs against, so the
// repair goes out with whatever change is pending in the same run, and
// only the drift is counted as drift.
func (s *Southbound) auditOnce(ctx context.Context, w *worker, j syncJob) (drift reconcile.Plan, clean bool, err error) {
	start := time.Now()
	prof, err := profileOf(j.snap, j.name)
	if err != nil {
		return reconcile.Plan{}, false, nil // the reconciliation reports it
	}
	rctx, cancel := context.WithTimeout(ctx, s.cfg.OpTimeout)
	defer cancel()
	raw, err := s.readRaw(rctx, w.sw)
	if err != nil {
		s.m.audits.WithLabelValues("error").Inc()
		s.m.errors.WithLabelValues("read").Inc()
		w.forgetInstalled()
		return reconcile.Plan{}, false, fmt.Errorf("audit: read installed state: %w", err)
	}
	report := s.reportHash(raw)
	if report.valid() && report == w.report {
		s.m.audits.WithLabelValues("clean").Inc()
		s.m.auditTime.Observe(time.Since(start).Seconds())
		return reconcile.Plan{}, true, nil
	}
	if !s.cpuSlot(ctx) {
		return reconcile.Plan{}, false, ctx.Err()
	}
	// Entries with the bytes nva encodes for a flow of the record are
	// that flow (byteverify.go): only the rest are decoded and diffed.
	record := wantedList(w.installed)
	if w.installed == nil && w.slices != nil {
		record = wantedSlices(w.slices) // the record, slice by slice
	}
	var ownGroups []flow.GroupEntry
	for _, g := range w.installedGroups {
		if ownsGroup(g.ID) {
			ownGroups = append(ownGroups, g)
		}
	}
	v := s.verifyInstalled(raw, s.entrySums(raw), record, ownGroups, prof)
	drift = s.diffVerified(record, ownGroups, v)
	s.cpuDone()
	s.m.auditTime.Observe(time.Since(start).Seconds())
	w.report = report // the record equals this report (now, if not before)
	if drift.Empty() {
		s.m.audits.WithLabelValues("clean").Inc()
		return drift, true, nil
	}
	s.m.audits.WithLabelValues("drift").Inc()
	w.slices = nil
	w.installed, w.installedGroups = v.heldFlows(record), v.groups
	return drift, false, nil
}

// ensureRole asks the switch for role with generation gen (once per role
// and generation): the master role with the term this node leads in, the
// slave role with the current term.
func (s *Southbound) ensureRole(ctx context.Context, w *worker, role conn.Role, gen uint64) error {
	if w.role == role && w.roleGen == gen {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.OpTimeout)
	defer cancel()
	got, _, err := w.sw.SetRole(ctx, role, gen)
	if err != nil {
		w.role = conn.RoleNoChange
		return fmt.Errorf("role %s generation %d: %w", role, gen, err)
	}
	if got != role {
		w.role = conn.RoleNoChange
		return fmt.Errorf("asked for role %s generation %d: %w: %s", role, gen, errRoleNotGranted, got)
	}
	w.role, w.roleGen = role, gen
	return nil
}

// observeOnce is a follower's reconciliation: read the switch, compare it
// with the desired state, write nothing. In sync means realized; otherwise
// it looks again later (the leader is applying the change), backing off up
// to the audit interval.
func (s *Southbound) observeOnce(ctx context.Context, w *worker, j syncJob) {
	name, snap, target := j.name, j.snap, j.target
	ctx, cancel := context.WithTimeout(ctx, s.cfg.OpTimeout)
	defer cancel()
	start := time.Now()
	var res compiler.Result
	var ports portView
	var raw rawInstalled
	prof, err := profileOf(snap, name)
	if err == nil {
		err = s.checkSwitchTables(ctx, w, name, prof)
	}
	if err == nil {
		raw, err = s.readRaw(ctx, w.sw)
	}
	var report reportSum
	if err == nil {
		report = s.reportHash(raw)
		if j.audit && !j.work && w.have && w.haveFor == name && report.valid() && report == w.report {
			// The switch reports exactly what it held when this node last
			// saw it in sync, and nothing changed here: still in sync.
			s.m.audits.WithLabelValues("clean").Inc()
			s.m.auditTime.Observe(time.Since(start).Seconds())
			return
		}
	}
	// Not known to be in sync any more: the record is rebuilt below.
	w.forgetInstalled()
	if err == nil {
		if !s.cpuSlot(ctx) {
			return
		}
		res, ports, err = s.compile(snap, name, w.sw, prof, w.compilerCache(), &w.ports)
		s.cpuDone()
		if err == nil {
			w.publish(name, res, ports)
		}
	}
	wait := unready(snap, name, ports)
	var plan reconcile.Plan
	if err == nil {
		if !s.cpuSlot(ctx) {
			return
		}
		want := wantedResult(res)
		plan = s.diffVerified(want, res.Groups, s.verifyInstalled(raw, s.entrySums(raw), want, res.Groups, prof))
		s.cpuDone()
		if plan.Empty() {
			// The switch holds this node's desired state: that is the
			// record the next audit compares with.
			if w.setSlices(res) {
				w.installed = nil
			} else {
				w.installed = res.FlowList()
			}
			w.installedGroups = res.Groups
			w.have, w.haveFor, w.report = true, name, report
		}
	}
	if j.audit {
		s.m.audits.WithLabelValues("full").Inc()
		s.m.auditTime.Observe(time.Since(start).Seconds())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if ctx.Err() != nil && err != nil {
		return
	}
	st := s.state(name)
	if err == nil && plan.Empty() {
		w.observeDelay = 0
		s.realizeLocked(w, name, st, target, wait)
		s.broadcastLocked()
		return
	}
	if err != nil {
		st.lastErr, st.lastErrAt = "observe: "+err.Error(), s.cfg.Now()
	}
	st.sync = SyncPending
	if w.observeDelay == 0 {
		w.observeDelay = 50 * time.Millisecond
	} else if w.observeDelay *= 2; w.observeDelay > s.maxObserveDelay() {
		w.observeDelay = s.maxObserveDelay()
	}
	time.AfterFunc(w.observeDelay, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.switches[w.dpid] == w {
			w.kickLocked("observe")
		}
	})
	s.broadcastLocked()
}

// realizeLocked records that w's switch holds NVE name's state at target,
// as far as wait allows: while some of the NVE's ports (or a tunnel port its
// VNs need) have no OpenFlow port yet, their flows are not on the switch,
// so no revision from the oldest of them on counts as realized. Those
// revisions stay pending (WaitRealized keeps waiting and names the NVE)
// until a port-status event or an outside port-number source
// (PortsChanged) has the NVE recompiled with the port.
func (s *Southbound) realizeLocked(w *worker, name string, st *nveState, target uint64, wait unreadyState) {
	if w.nve != name || s.switches[w.dpid] != w {
		return // the claim changed meanwhile
	}
	if len(st.awaiting) > 0 && len(wait.names) == 0 && !st.pendingAt.IsZero() {
		s.observeStage(stagePorts, w.runStart.Sub(st.pendingAt))
	}
	st.awaiting = wait.names
	st.tunnels = wait.tunnels
	if len(wait.names) > 0 && wait.since <= target {
		if wait.since == 0 {
			target = 0
		} else {
			target = wait.since - 1
		}
	}
	if target > st.realized {
		st.realized = target
	}
	i := 0
	for i < len(st.pending) && st.pending[i] <= target {
		i++
	}
	st.pending = st.pending[i:]
	if len(st.pending) == 0 {
		if !st.pendingAt.IsZero() {
			s.observeStage(stageRealize, time.Since(st.pendingAt))
			st.pendingAt = time.Time{}
		}
		st.sync = SyncInSync
	} else {
		st.sync = SyncPending
	}
	st.lastSync = s.cfg.Now()
}

// unreadyState is what keeps an NVE's compiled state short of the store's
// (see unready), and the tunnel ports the compile saw.
type unreadyState struct {
	names []string // "port p1 (interface vm1)", "tunnel port nva-vxlan (VN blue)", "tunnel port nvxc6120002 (vxlan to NVE hv2)"
	since uint64   // the oldest store revision they concern
	// tunnels are the per-remote tunnel ports (profiles without flow
	// tunnels), for the NVE's status.
	tunnels []model.TunnelPortStatus
}

// unready lists the ports of NVE nve in snap whose interface has no
// OpenFlow port in pv (the compiler skips them), and the tunnel ports its
// VNs need to reach their other NVEs that are missing: the flow-based
// port per encapsulation, or the port per remote NVE (pv.tunnels); since
// is the oldest revision of the objects concerned.
func unready(snap *model.Snapshot, nve string, pv portView) unreadyState {
	u := unreadyState{tunnels: pv.tunnels}
	if snap == nil {
		return u
	}
	first := true
	note := func(name string, rev uint64) {
		u.names = append(u.names, name)
		if first || rev < u.since {
			u.since, first = rev, false
		}
	}
	has := func(iface string) bool {
		no, ok := pv.ports[iface]
		return ok && no != 0 && no < flow.PortInPort
	}
	for _, p := range snap.PortsOn(nve) {
		if !has(p.Interface) {
			note(fmt.Sprintf("port %s (interface %s)", p.Name, p.Interface), p.Revision)
		}
	}
	// Split NVE: a tNVE needs its uplink instead of tunnel ports; an nNVE
	// needs the ports its tNVEs' access links land on.
	if n := snap.NVEs[nve]; n.IsTNVE() {
		if len(snap.PortsOn(nve)) > 0 && !has(n.AccessLink.Uplink) {
			note("access link uplink "+n.AccessLink.Uplink, n.Revision)
		}
		return u
	}
	for _, t := range snap.TNVEsOf(nve) {
		if len(snap.PortsOn(t.Name)) > 0 && !has(t.AccessLink.NNVEPort) {
			note(fmt.Sprintf("access link port %s (tNVE %s)", t.AccessLink.NNVEPort, t.Name), t.Revision)
		}
	}
	if !pv.flowTunnels {
		for _, tp := range pv.tunnels {
			if tp.OFPort == 0 {
				note(fmt.Sprintf("tunnel port %s (%s to NVE %s)", tp.Port, tp.Encap, tp.Remote), pv.tunnelSince[tunnelKey(tp.Remote, tp.Encap)])
			}
		}
		return u
	}
	// A VN this NVE hosts with another NVE needs its tunnel port; the
	// wait dates from the VN's oldest port or the VN, whichever is older.
	for _, name := range snap.VNsOn(nve) {
		vn, ok := snap.VNs[name]
		if !ok || len(snap.NVEsHosting(name)) < 2 {
			continue
		}
		if tun := compiler.TunnelPortName(vn.Encap); !has(tun) {
			rev := vn.Revision
			for _, p := range snap.PortsIn(name) {
				rev = min(rev, p.Revision)
			}
			note(fmt.Sprintf("tunnel port %s (VN %s)", tun, vn.Name), rev)
		}
	}
	return u
}

// portNumbers is the interface-name → OpenFlow port map of a switch: its
// own port table (what its flows match against), completed by the
// configured outside source (OVSDB) for the names the table lacks, e.g. an
// interface OVSDB reports before the switch's port-status event arrived, or
// a name longer than an OpenFlow port name holds. It is the switch's own
// map (shared, read only) when the outside source adds nothing, the usual
// case: no map is built per compile.
func (s *Southbound) portNumbers(sw *conn.Switch, nve string) map[string]uint32 {
	return s.portNumbersMemo(sw, nve, nil)
}

// portMemo is a switch's last merged port map and the maps it was made
// of, compared by identity: both sources keep a map until it changes (and
// the memo keeps them alive, so no other map takes their address).
type portMemo struct {
	own, outside map[string]uint32
	merged       map[string]uint32
}

// mapID is a map's identity.
func mapID(m map[string]uint32) uintptr { return uintptr(reflect.ValueOf(m).UnsafePointer()) }

// portNumbersMemo is portNumbers, keeping a merged map in memo (nil:
// none) while the switch's and the outside source's maps are the same.
func (s *Southbound) portNumbersMemo(sw *conn.Switch, nve string, memo *portMemo) map[string]uint32 {
	var own map[string]uint32
	if sw != nil {
		own = sw.PortNumbers()
	}
	var outside map[string]uint32
	if s.cfg.PortNumbers != nil {
		outside = s.cfg.PortNumbers(nve)
	}
	if memo != nil && memo.merged != nil && mapID(memo.own) == mapID(own) && mapID(memo.outside) == mapID(outside) {
		return memo.merged
	}
	var out map[string]uint32
	for n, no := range outside {
		if _, ok := own[n]; ok || no == 0 || no > openflow13.P_MAX {
			continue
		}
		if out == nil {
			out = make(map[string]uint32, len(own)+len(outside))
			maps.Copy(out, own)
		}
		out[n] = no
	}
	switch {
	case out != nil:
		if memo != nil {
			*memo = portMemo{own: own, outside: outside, merged: out}
		}
		return out
	case own != nil:
		return own
	}
	return map[string]uint32{}
}

// portView is what the southbound knows of a switch's ports when it
// compiles an NVE for it.
type portView struct {
	ports       map[string]uint32 // interface name -> OpenFlow port (portNumbers)
	flowTunnels bool              // the profile tunnels by flow (one port per encapsulation)
	// Without flow tunnels: the per-remote tunnel ports (remoteTunnels),
	// the warnings about remotes without one, and the revision from which
	// each remote's port is needed.
	tunnels     []model.TunnelPortStatus
	warnings    []string
	tunnelSince map[string]uint64
}

// compile computes nve's desired state for profile prof with the switch's
// port numbers; it also returns what it saw of the switch's ports.
func (s *Southbound) compile(snap *model.Snapshot, nve string, sw *conn.Switch, prof pipeline.Profile, cache *compiler.Cache, memo *portMemo) (compiler.Result, portView, error) {
	pv := portView{ports: s.portNumbersMemo(sw, nve, memo), flowTunnels: prof.FlowTunnels}
	in := compiler.Input{Snapshot: snap, NVE: nve, OFPorts: pv.ports, Generation: s.cfg.Generation, Down: s.downNVEs()}
	if pv.flowTunnels {
		in.Tunnels = map[model.Encap]uint32{}
		for _, e := range model.Encaps {
			if no, ok := pv.ports[compiler.TunnelPortName(e)]; ok {
				in.Tunnels[e] = no
			}
		}
	} else {
		pv.tunnels, pv.warnings, pv.tunnelSince = remoteTunnels(snap, nve, pv.ports)
		in.RemoteTunnels = make(map[compiler.RemoteTunnel]uint32, len(pv.tunnels))
		for _, tp := range pv.tunnels {
			if tp.OFPort != 0 {
				in.RemoteTunnels[compiler.RemoteTunnel{NVE: tp.Remote, Encap: tp.Encap}] = tp.OFPort
			}
		}
	}
	var res compiler.Result
	var err error
	if cache != nil {
		res, err = cache.Compile(in, prof)
	} else {
		res, err = compiler.Compile(in, prof)
	}
	// The cache's result is shared with it: the warnings are copied
	// before anything is added.
	res.Warnings = append(slices.Clip(res.Warnings), pv.warnings...)
	return res, pv, err
}

// undecodable marks an installed flow whose instructions nva's IR cannot
// represent: no desired flow has this goto, so it is replaced or deleted.
const undecodable = "\x00undecodable"

// readInstalled reads nva's flows (by cookie tag) and all groups.
func (s *Southbound) readInstalled(ctx context.Context, sw *conn.Switch, prof pipeline.Profile) ([]installedFlow, []flow.GroupEntry, error) {
	raw, err := s.readRaw(ctx, sw)
	if err != nil {
		return nil, nil, err
	}
	flows, groups := s.decodeInstalled(raw, prof)
	return flows, groups, nil
}

// rawInstalled is what a switch reported of its flows (nva's, by cookie
// tag) and groups, not decoded yet.
type rawInstalled struct {
	flows  [][]byte
	groups [][]byte // ofp_group_desc entries (framing checked, not decoded)
}

// readRaw asks the switch for its flows and groups: I/O only, so it runs
// outside the CPU slots. Both requests go out at once (the replies are
// matched by transaction ID), so the read waits for the switch once, not
// twice: on a restart, a thousand switches are read through a bounded
// pool (Config.SyncWorkers) whose runs mostly wait for their switch.
func (s *Southbound) readRaw(ctx context.Context, sw *conn.Switch) (rawInstalled, error) {
	var (
		gds    [][]byte
		gerr   error
		groups = make(chan struct{})
	)
	go func() {
		defer close(groups)
		gds, gerr = sw.GroupDescRaw(ctx) // decoded only where not verified by their bytes
	}()
	entries, err := sw.FlowStatsRaw(ctx, openflow13.OFPTT_ALL, flow.NVACookie, flow.CookieTagMask)
	<-groups
	if err != nil {
		return rawInstalled{}, err
	}
	if gerr != nil {
		return rawInstalled{}, gerr
	}
	return rawInstalled{flows: entries, groups: gds}, nil
}

// rawRead is the outcome of a readRaw started ahead (readRawAhead).
type rawRead struct {
	raw rawInstalled
	err error
}

// readRawAhead starts readRaw and returns where its outcome arrives (a
// buffered channel: nothing leaks if nobody takes it; ctx bounds it).
func (s *Southbound) readRawAhead(ctx context.Context, sw *conn.Switch) <-chan rawRead {
	out := make(chan rawRead, 1)
	go func() {
		raw, err := s.readRaw(ctx, sw)
		out <- rawRead{raw, err}
	}()
	return out
}

// reportSum identifies a switch's report (see reportHash); the zero value
// is "unknown".
type reportSum struct {
	sum, xor uint64
	n        int
}

func (r reportSum) valid() bool { return r != reportSum{} }

// reportHash hashes a switch's report, independent of the order of its
// entries: every flow entry without its counters (duration, packet and
// byte counts), every group description as is. Equal hashes mean the
// switch reported the same flows and groups (to 64-bit hash collisions),
// at the cost of hashing the bytes, a fraction of decoding them.
func (s *Southbound) reportHash(raw rawInstalled) reportSum {
	r, _ := s.reportSums(raw, false)
	return r
}

// reportSums is reportHash, and (when entries) the identity hash of each
// flow entry (entryIdentityHash), in report order, for verifyInstalled.
func (s *Southbound) reportSums(raw rawInstalled, entries bool) (reportSum, []uint64) {
	r := reportSum{n: 1 + len(raw.flows) + len(raw.groups)<<32}
	var h maphash.Hash
	h.SetSeed(s.seed)
	add := func(v uint64) { r.sum += v; r.xor ^= v * 0x9e3779b97f4a7c15 }
	var sums []uint64
	if entries {
		sums = make([]uint64, len(raw.flows))
	}
	for i, e := range raw.flows {
		v := entryIdentityHash(&h, e)
		if entries {
			sums[i] = v
		}
		add(v)
	}
	for _, g := range raw.groups {
		h.Reset()
		h.WriteByte(0xff) // groups apart from flows
		h.Write(g)
		add(h.Sum64())
	}
	return r, sums
}

// entrySums is the identity hash of each flow entry of raw, in report
// order (the ones reportHash sums).
func (s *Southbound) entrySums(raw rawInstalled) []uint64 {
	var h maphash.Hash
	h.SetSeed(s.seed)
	sums := make([]uint64, len(raw.flows))
	for i, e := range raw.flows {
		sums[i] = entryIdentityHash(&h, e)
	}
	return sums
}

// decodeInstalled decodes what readRaw read.
func (s *Southbound) decodeInstalled(raw rawInstalled, prof pipeline.Profile) ([]installedFlow, []flow.GroupEntry) {
	tableName := func(n uint8) string {
		name, _ := prof.NameOf(n)
		return name
	}
	flows := make([]installedFlow, 0, len(raw.flows))
	s.m.flowEntries.WithLabelValues("decoded").Add(float64(len(raw.flows)))
	for _, e := range raw.flows {
		f, st, ok := s.decodeFlowEntry(e, tableName)
		if ok {
			flows = append(flows, installedFlow{Flow: f, Stats: st})
		}
	}
	var groups []flow.GroupEntry
	for _, gd := range raw.groups {
		if g, ok := s.decodeGroupEntry(gd); ok {
			groups = append(groups, g)
		}
	}
	return flows, groups
}

// decodeGroupEntry decodes one group-desc entry (as conn.GroupDescRaw
// splits them: at least 8 bytes): a group nva's IR cannot represent is
// kept as one that differs from any desired group; one that does not
// decode at all is left alone (false).
func (s *Southbound) decodeGroupEntry(e []byte) (flow.GroupEntry, bool) {
	g, err := codec.DecodeGroupDescEntry(e)
	var pe *codec.PartialError
	switch {
	case errors.As(err, &pe):
		return flow.GroupEntry{ID: groupDescID(e), Type: flow.GroupType(0xff)}, true // differs from any desired group
	case err != nil:
		s.m.errors.WithLabelValues("read").Inc()
		s.log.Warn("installed group not decodable; left alone", "group", groupDescID(e), "error", err)
		return flow.GroupEntry{}, false
	}
	return g, true
}

// groupDescID is the group ID of an ofp_group_desc entry (8 bytes or
// more).
func groupDescID(e []byte) uint32 { return binary.BigEndian.Uint32(e[4:8]) }

// decodeFlows decodes flow-stats entries (decodeInstalled's rules),
// without their counters; the result is never nil.
func (s *Southbound) decodeFlows(entries [][]byte, prof pipeline.Profile) []flow.Flow {
	tableName := func(n uint8) string {
		name, _ := prof.NameOf(n)
		return name
	}
	flows := make([]flow.Flow, 0, len(entries))
	s.m.flowEntries.WithLabelValues("decoded").Add(float64(len(entries)))
	for _, e := range entries {
		if f, _, ok := s.decodeFlowEntry(e, tableName); ok {
			flows = append(flows, f)
		}
	}
	return flows
}

// decodeFlowEntry decodes one flow-stats entry: a flow whose instructions
// nva's IR cannot represent is kept as undecodable (it differs from every
// desired flow); one that does not decode at all is left alone (false).
func (s *Southbound) decodeFlowEntry(e []byte, tableName func(uint8) string) (flow.Flow, codec.FlowStats, bool) {
	f, st, err := codec.DecodeFlowStatsEntry(e, tableName)
	var pe *codec.PartialError
	switch {
	case errors.As(err, &pe):
		f.Goto = undecodable
	case err != nil:
		s.m.errors.WithLabelValues("read").Inc()
		s.log.Warn("installed flow not decodable; left alone", "error", err)
		return flow.Flow{}, st, false
	}
	return f, st, true
}

type installedFlow struct {
	Flow  flow.Flow
	Stats codec.FlowStats
}

// reconcileNVE compiles, diffs (re-reading the switch when full) and sends
// the plan; on success the worker's installed state is the desired state,
// short of what the returned unreadyState names.
func (s *Southbound) reconcileNVE(ctx context.Context, w *worker, name string, snap *model.Snapshot, full bool) (reconcile.Plan, []string, unreadyState, error) {
	plan, warnings, ports, err := s.reconcileCompiled(ctx, w, name, snap, full)
	return plan, warnings, unready(snap, name, ports), err
}

func (s *Southbound) reconcileCompiled(ctx context.Context, w *worker, name string, snap *model.Snapshot, full bool) (reconcile.Plan, []string, portView, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.OpTimeout)
	defer cancel()
	prof, err := profileOf(snap, name)
	if err != nil {
		s.m.errors.WithLabelValues("profile").Inc()
		return reconcile.Plan{}, nil, portView{}, err
	}
	// A full run reads the switch's flows and groups while the tables
	// are checked and the NVE compiled: the switch answers the requests
	// in one wait instead of one after the other. (The master role was
	// granted before: syncOnce.)
	var ahead <-chan rawRead
	if full {
		ahead = s.readRawAhead(ctx, w.sw)
	}
	// Nothing is written to a switch whose tables do not fit the profile.
	if err := s.checkSwitchTables(ctx, w, name, prof); err != nil {
		return reconcile.Plan{}, nil, portView{}, err
	}
	// CPU work (compile; decode, diff, encode) holds a CPU slot; waiting
	// for the switch (the read, the send's barrier) does not.
	slotStart := time.Now()
	if !s.cpuSlot(ctx) {
		return reconcile.Plan{}, nil, portView{}, ctx.Err()
	}
	planStart := time.Now()
	s.observeStage(stageCPUWait, planStart.Sub(slotStart))
	res, ports, err := s.compile(snap, name, w.sw, prof, w.compilerCache(), &w.ports)
	if err != nil {
		s.cpuDone()
		s.m.errors.WithLabelValues("compile").Inc()
		return reconcile.Plan{}, nil, ports, fmt.Errorf("compile: %w", err)
	}
	w.publish(name, res, ports)
	if s.planHook != nil {
		s.planHook()
	}
	planTime := time.Since(planStart)
	var held *verified // a full read's report, checked against res
	var want wanted    // with held: res's flows
	if full {
		s.cpuDone()
		var raw rawInstalled
		select {
		case r := <-ahead:
			raw, err = r.raw, r.err
		case <-ctx.Done():
			err = ctx.Err()
		}
		if err != nil {
			s.m.errors.WithLabelValues("read").Inc()
			w.forgetInstalled()
			return reconcile.Plan{}, res.Warnings, ports, fmt.Errorf("read installed state: %w", err)
		}
		if !s.cpuSlot(ctx) {
			return reconcile.Plan{}, res.Warnings, ports, ctx.Err()
		}
		// What was read is the truth now: not the slices of the last sync.
		// Entries with the bytes nva encodes for a desired flow are that
		// flow (byteverify.go); only the rest are decoded.
		var sums []uint64
		w.report, sums = s.reportSums(raw, true)
		want = wantedResult(res)
		v := s.verifyInstalled(raw, sums, want, res.Groups, prof)
		held = &v
		if v.same && want.slices != nil {
			// It holds res's flows: the record is res's slices (no list
			// of 700 flows per switch on a warm restart).
			w.slices, w.installed = res.Slices, nil
		} else {
			w.slices = nil
			w.installed = v.heldFlows(want)
		}
		w.installedGroups = v.groups
		w.have, w.haveFor = true, name
	}
	slot := true
	defer func() {
		if slot {
			s.cpuDone()
		}
	}()
	var plan reconcile.Plan
	diffStart := time.Now()
	if held != nil && held.same {
		// The switch holds exactly the desired flows: only groups to diff.
		plan = s.diffVerified(want, res.Groups, *held)
		s.m.sliceDiffs.WithLabelValues("verified").Inc()
	} else if sd, ok := w.sliceDiff(res, name); ok && !full {
		plan = s.diff.Diff(sd.flows, sd.installed, sd.groups, sd.installedGroups)
		s.m.sliceDiffs.WithLabelValues("changed_slices").Inc()
	} else {
		plan = s.diff.Diff(res.FlowList(), w.installedFlows(), res.Groups, w.installedGroups) // (transient lists)
		s.m.sliceDiffs.WithLabelValues("full").Inc()
	}
	if !full {
		// nva's own part; a full run also waited for the switch's read.
		s.m.planning.Observe((planTime + time.Since(diffStart)).Seconds())
	}
	for _, c := range plan.Conflicts {
		s.log.Warn("compiled state conflict", "nve", name, "conflict", c)
	}
	if plan.Empty() {
		if w.setSlices(res) {
			w.installed = nil // the slices say it
		}
		return plan, res.Warnings, ports, nil
	}
	msgs, err := s.encodePlan(plan, prof)
	if err != nil {
		s.m.errors.WithLabelValues("encode").Inc()
		return plan, res.Warnings, ports, fmt.Errorf("encode: %w", err)
	}
	s.cpuDone()
	slot = false
	w.report = reportSum{} // the switch changes: its next report is new
	sendStart := time.Now()
	if err := s.send(ctx, w, plan, msgs, prof); err != nil {
		s.m.errors.WithLabelValues("apply").Inc()
		w.forgetInstalled()
		return plan, res.Warnings, ports, err
	}
	s.observeStage(stageSend, time.Since(sendStart))
	s.countPlan(name, plan)
	// The switch now holds the desired state (plus groups nva doesn't own):
	// slice by slice when the result has slices (the flat list is rebuilt
	// from them, transiently, when a full diff needs it), else as one
	// (empty) list.
	if w.setSlices(res) {
		w.installed = nil
	} else {
		w.installed = res.FlowList()
	}
	keep := map[uint32]bool{}
	for _, g := range res.Groups {
		keep[g.ID] = true
	}
	groups := append([]flow.GroupEntry(nil), res.Groups...)
	for _, g := range w.installedGroups {
		if !keep[g.ID] && !ownsGroup(g.ID) {
			groups = append(groups, g)
		}
	}
	w.installedGroups = groups
	return plan, res.Warnings, ports, nil
}

// sliceInputs is the part of a reconciliation that changed: the desired
// flows and groups of the slices whose fingerprint changed (or that are
// new), and what the switch holds for those slices (or for slices that
// are gone).
type sliceInputs struct {
	flows, installed        []flow.Flow
	groups, installedGroups []flow.GroupEntry
}

// sliceDiff returns what to diff when the switch is known to hold exactly
// the slices of the last sync (w.slices): the changed slices only, on both
// sides together (so a flow that moves between two changed slices, e.g. a
// port moved to another VN on the same interface, is one modify). An
// unchanged slice costs nothing. ok is false when a full diff is needed:
// the installed state is unknown or not recorded slice by slice.
func (w *worker) sliceDiff(res compiler.Result, name string) (sliceInputs, bool) {
	if !w.have || w.slices == nil || w.haveFor != name {
		return sliceInputs{}, false
	}
	// The record's slice of the same key: usually at the same index (the
	// compiler orders slices by key; only a VN or port that comes or goes
	// shifts them), else found through an index built then.
	var byKey map[string]int
	find := func(i int, key string) (int, bool) {
		if i < len(w.slices) && w.slices[i].Key == key {
			return i, true
		}
		if byKey == nil {
			byKey = make(map[string]int, len(w.slices))
			for j, sl := range w.slices {
				byKey[sl.Key] = j
			}
		}
		j, ok := byKey[key]
		return j, ok
	}
	var in sliceInputs
	kept := 0
	for j, sl := range res.Slices {
		i, had := find(j, sl.Key)
		if had {
			kept++
			if w.slices[i].Fingerprint == sl.Fingerprint {
				continue
			}
		}
		in.flows = append(in.flows, sl.Flows...)
		in.groups = append(in.groups, sl.Groups...)
		if had {
			in.installed = append(in.installed, w.slices[i].Flows...)
			in.installedGroups = append(in.installedGroups, w.slices[i].Groups...)
		}
	}
	if kept < len(w.slices) { // some slices are gone
		seen := sliceKeys(res)
		for _, sl := range w.slices {
			if !seen[sl.Key] {
				in.installed = append(in.installed, sl.Flows...)
				in.installedGroups = append(in.installedGroups, sl.Groups...)
			}
		}
	}
	return in, true
}

// sliceKeys returns the keys of res's slices.
func sliceKeys(res compiler.Result) map[string]bool {
	seen := make(map[string]bool, len(res.Slices))
	for _, sl := range res.Slices {
		seen[sl.Key] = true
	}
	return seen
}

// setSlices records that the switch now holds res, slice by slice: the
// record is res.Slices itself (the compiler cache's slices, never a copy;
// the same array the published compile holds); false when res has no
// slices (then w.slices is nil).
func (w *worker) setSlices(res compiler.Result) bool {
	if len(res.Slices) == 0 {
		w.slices = nil
		return false
	}
	w.slices = res.Slices
	return true
}

// installedFlows is what the switch holds as one list: the list read from
// it (non-nil, possibly empty), or (after a sync recorded slice by slice,
// which sets installed to nil) the slices' flows.
func (w *worker) installedFlows() []flow.Flow {
	if w.installed != nil || w.slices == nil {
		return w.installed
	}
	n := 0
	for _, sl := range w.slices {
		n += len(sl.Flows)
	}
	out := make([]flow.Flow, 0, n)
	for _, sl := range w.slices {
		out = append(out, sl.Flows...)
	}
	return out
}

// needsAtomic says whether a plan must be applied as one transaction: it
// changes or removes existing state and has more than one message (e.g. a
// port moving: its old flows go, its new ones come, groups change). A
// plan that only adds (flows, groups, and buckets of flood groups: a port
// attaching) is applied in its make-before-break order without a bundle:
// nothing a packet could meet before it is taken away, so every
// intermediate state forwards all the traffic the old state did. A
// bundle costs the switch two more round trips (each one a turn of OVS's
// main loop, whose length grows with the bridge's ports), so an attach
// stays one round trip.
func needsAtomic(p reconcile.Plan) bool {
	if p.Len() <= 1 {
		return false
	}
	if len(p.FlowModifies)+len(p.FlowDeletes)+len(p.GroupDeletes) > 0 {
		return true
	}
	for _, m := range p.GroupModifies {
		if !m.OnlyAddsBuckets() {
			return true
		}
	}
	return false
}

// send applies the messages. A profile with bundles (Open vSwitch) sends a
// plan that must be atomic in one bundle, anything else as plain messages
// followed by a barrier. A profile without bundles (strict OpenFlow 1.3)
// sends plain messages only, in the plan's make-before-break order and
// fenced by a barrier after each phase (groups added or changed, flows
// added or changed, flows deleted, groups deleted), since a switch may
// reorder messages between barriers: a flow never points to a group the
// switch has not added, and nothing is deleted before its replacement is
// in. Either way the switch has acknowledged the whole plan when send
// returns nil.
func (s *Southbound) send(ctx context.Context, w *worker, plan reconcile.Plan, msgs [][]byte, prof pipeline.Profile) error {
	sw := w.sw
	if !prof.Bundles {
		return s.sendFenced(ctx, sw, plan, msgs)
	}
	if needsAtomic(plan) && !w.noBundles {
		err := sw.BundleRaw(ctx, msgs)
		if err == nil {
			s.m.bundles.Inc()
			return nil
		}
		if !bundlesUnsupported(err) {
			return fmt.Errorf("bundle of %d messages: %w", len(msgs), err)
		}
		// The switch refused to open a bundle, so nothing was applied:
		// fall back to plain messages (not atomic) from now on.
		s.log.Warn("switch does not support bundles; changes will not be atomic", "dpid", model.FormatDatapathID(w.dpid), "error", err)
		w.noBundles = true
	}
	if err := sw.SendAllRawBarrier(ctx, msgs); err != nil {
		return fmt.Errorf("send %d messages and a barrier: %w", len(msgs), err)
	}
	return nil
}

// planPhases is the number of messages of each phase of a plan's Steps:
// groups added or modified, flows added or modified, flows deleted,
// groups deleted.
func planPhases(p reconcile.Plan) []int {
	return []int{
		len(p.GroupAdds) + len(p.GroupModifies),
		len(p.FlowAdds) + len(p.FlowModifies),
		len(p.FlowDeletes),
		len(p.GroupDeletes),
	}
}

// sendFenced sends msgs (encoded from plan.Steps) phase by phase, each
// non-empty phase followed by a barrier.
func (s *Southbound) sendFenced(ctx context.Context, sw *conn.Switch, plan reconcile.Plan, msgs [][]byte) error {
	i := 0
	for _, n := range planPhases(plan) {
		if n == 0 {
			continue
		}
		if i+n > len(msgs) {
			return fmt.Errorf("plan of %d steps encoded to %d messages", plan.Len(), len(msgs))
		}
		if err := sw.SendAllRawBarrier(ctx, msgs[i:i+n]); err != nil {
			return fmt.Errorf("send messages %d-%d of %d and a barrier: %w", i+1, i+n, len(msgs), err)
		}
		i += n
	}
	return nil
}

// bundlesUnsupported tells a refused bundle open (BAD_REQUEST: the switch
// doesn't know the ONF bundle experimenter messages) from a bundle whose
// content was refused.
func bundlesUnsupported(err error) bool {
	var be *conn.BatchError
	if errors.As(err, &be) {
		return false
	}
	var oe *conn.OFError
	return errors.As(err, &oe) && oe.Type == openflow13.ET_BAD_REQUEST &&
		(oe.Code == openflow13.BRC_BAD_TYPE || oe.Code == openflow13.BRC_BAD_EXPERIMENTER || oe.Code == openflow13.BRC_BAD_EXP_TYPE)
}

// encodePlan encodes a plan's steps in order (the order of p.Steps, walked
// without building them), straight to wire bytes (codec's direct
// encoder): the messages lie back to back in one buffer, each a slice of
// it, with xid 0 (the connection stamps the xids).
func (s *Southbound) encodePlan(p reconcile.Plan, prof pipeline.Profile) ([][]byte, error) {
	c := codec.New(codec.Options{AllowNicira: prof.Extensions})
	n := p.Len()
	buf := make([]byte, 0, encodedStepBytes*n)
	ends := make([]int, 0, n)
	var err error
	group := func(kind reconcile.StepKind, g flow.GroupEntry, cmd uint16) error {
		if buf, err = c.AppendGroupMod(buf, g, cmd); err != nil {
			return fmt.Errorf("%s: %w", kind, err)
		}
		ends = append(ends, len(buf))
		return nil
	}
	flowMod := func(kind reconcile.StepKind, f flow.Flow, cmd uint8) error {
		if buf, err = c.AppendFlowMod(buf, f, prof.Number, cmd); err != nil {
			return fmt.Errorf("%s: %w", kind, err)
		}
		ends = append(ends, len(buf))
		return nil
	}
	for _, g := range p.GroupAdds {
		if err := group(reconcile.AddGroup, g, codec.GroupAdd); err != nil {
			return nil, err
		}
	}
	for _, m := range p.GroupModifies {
		if err := group(reconcile.ModifyGroup, m.New, codec.GroupModify); err != nil {
			return nil, err
		}
	}
	for _, f := range p.FlowAdds {
		if err := flowMod(reconcile.AddFlow, f, codec.FlowAdd); err != nil {
			return nil, err
		}
	}
	for _, m := range p.FlowModifies {
		kind, cmd := reconcile.ModifyFlow, uint8(codec.FlowModifyStrict)
		if m.CookieChanged {
			kind, cmd = reconcile.ReplaceFlow, codec.FlowAdd
		}
		if err := flowMod(kind, m.New, cmd); err != nil {
			return nil, err
		}
	}
	for _, f := range p.FlowDeletes {
		if err := flowMod(reconcile.DeleteFlow, f, codec.FlowDeleteStrict); err != nil {
			return nil, err
		}
	}
	for _, g := range p.GroupDeletes {
		if err := group(reconcile.DeleteGroup, g, codec.GroupDelete); err != nil {
			return nil, err
		}
	}
	// Sliced only now: appending may have moved the buffer.
	msgs := make([][]byte, len(ends))
	start := 0
	for i, end := range ends {
		msgs[i], start = buf[start:end], end
	}
	return msgs, nil
}

// encodedStepBytes is about what one step encodes to (the compiler's
// flow-mods are 100-250 bytes), to size encodePlan's buffer.
const encodedStepBytes = 192

func (s *Southbound) countPlan(name string, p reconcile.Plan) {
	var replace, modify int
	for _, m := range p.FlowModifies {
		if m.CookieChanged {
			replace++
		} else {
			modify++
		}
	}
	s.m.flowMods.WithLabelValues("add").Add(float64(len(p.FlowAdds)))
	s.m.flowMods.WithLabelValues("modify").Add(float64(modify))
	s.m.flowMods.WithLabelValues("replace").Add(float64(replace))
	s.m.flowMods.WithLabelValues("delete").Add(float64(len(p.FlowDeletes)))
	s.m.groupMods.WithLabelValues("add").Add(float64(len(p.GroupAdds)))
	s.m.groupMods.WithLabelValues("modify").Add(float64(len(p.GroupModifies)))
	s.m.groupMods.WithLabelValues("delete").Add(float64(len(p.GroupDeletes)))
	s.mu.Lock()
	st := s.state(name)
	st.flowMods += uint64(len(p.FlowAdds) + len(p.FlowModifies) + len(p.FlowDeletes))
	st.groupMods += uint64(len(p.GroupAdds) + len(p.GroupModifies) + len(p.GroupDeletes))
	s.mu.Unlock()
}
