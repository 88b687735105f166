package ofctl

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"antrea.io/libOpenflow/openflow13"
	"antrea.io/libOpenflow/util"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/pipeline"
	"github.com/nva-project/nva/ofctl/codec"
	"github.com/nva-project/nva/ofctl/conn"
	"github.com/nva-project/nva/ofctl/reconcile"
)

// worker reconciles one connected switch. Fields marked (mu) are guarded
// by Southbound.mu; the rest belong to the worker goroutine.
type worker struct {
	sw   *conn.Switch
	dpid uint64
	kick chan struct{} // capacity 1: kicks coalesce

	nve     string // (mu) claimed NVE, "" when unclaimed
	full    bool   // (mu) re-read installed state before diffing
	audit   bool   // (mu) this run is an audit (drift repairs are counted)
	trigger string // (mu) why the next run happens

	noBundles       bool            // the switch refused to open a bundle
	tables          *tableFeatures  // the switch's OFPMP_TABLE_FEATURES answer (nil: not asked yet)
	cache           *compiler.Cache // incremental compiles of the claimed NVE (it resets itself on another NVE or profile)
	observeDelay    time.Duration   // follower: next re-check delay
	role            conn.Role       // role last granted by the switch (RoleNoChange: none asked)
	roleGen         uint64          // its generation
	have            bool            // installed* reflect the switch
	haveFor         string
	installed       []flow.Flow
	installedGroups []flow.GroupEntry
	// slices is what the switch holds per compiler slice (by Slice.Key: ""
	// for the NVE-wide one, a VN's name for its shared part, VN/port for a
	// port's part) when have is true and it was set after a sync of
	// haveFor: the reconciler then diffs only the slices whose fingerprint
	// changed (see sliceDiff).
	slices map[string]installedSlice
}

// installedSlice is one compiler slice as the switch holds it.
type installedSlice struct {
	fingerprint uint64
	flows       []flow.Flow // canonical, as installed
	groups      []flow.GroupEntry
}

// compilerCache is the worker's compiler cache (the worker goroutine's
// alone: a Cache is not safe for concurrent use).
func (w *worker) compilerCache() *compiler.Cache {
	if w.cache == nil {
		w.cache = compiler.NewCache()
	}
	return w.cache
}

func (w *worker) kickLocked(reason string) {
	if w.trigger == "" {
		w.trigger = reason
	}
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// SwitchConnected implements conn.Handler: it registers the switch and
// starts its worker, which runs until the connection (or the southbound)
// ends. It must return at once: the connection layer delivers the switch's
// events (port status, errors) on this goroutine only after it returns, so
// running the worker here would hold every port-status event back until
// the switch disconnected, and a port attached after the connection would
// only be compiled in by the next audit.
func (s *Southbound) SwitchConnected(sw *conn.Switch) {
	dpid := sw.DPID()
	w := &worker{sw: sw, dpid: dpid, kick: make(chan struct{}, 1), full: true}
	s.mu.Lock()
	prev := s.switches[dpid]
	s.switches[dpid] = w
	w.nve = claimant(s.snap, dpid)
	if w.nve != "" {
		st := s.state(w.nve)
		st.sync = SyncPending
		st.pending = nil
		st.addPending(s.seen)
		st.tableCheck = "" // this connection's switch is asked afresh
	}
	w.kickLocked("connect")
	s.updateGaugesLocked()
	s.broadcastLocked()
	s.mu.Unlock()
	if prev != nil && prev.sw != sw {
		s.log.Info("switch reconnected; closing its previous connection", "dpid", fmt.Sprintf("%016x", dpid))
		prev.sw.Close()
	}
	if w.nve == "" {
		s.log.Warn("switch connected with a datapath ID no NVE claims; leaving it untouched",
			"dpid", model.FormatDatapathID(dpid), "remote", sw.RemoteAddr().String())
	} else {
		s.log.Info("switch connected", "nve", w.nve, "dpid", model.FormatDatapathID(dpid), "remote", sw.RemoteAddr().String())
	}
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.runWorker(w) }()
}

// SwitchDisconnected implements conn.Handler.
func (s *Southbound) SwitchDisconnected(sw *conn.Switch, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.switches[sw.DPID()]
	if w == nil || w.sw != sw {
		return
	}
	delete(s.switches, sw.DPID())
	s.neigh.Forget(sw.DPID())
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
	s.updateGaugesLocked()
	s.broadcastLocked()
}

func (s *Southbound) runWorker(w *worker) {
	ctx := s.ctx
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.sw.Done():
			return
		case <-w.kick:
		}
		s.syncOnce(ctx, w)
	}
}

// syncJob is what one run of syncOnce works on, taken from the worker
// and the southbound under s.mu.
type syncJob struct {
	name    string // the claimed NVE ("" when unclaimed)
	full    bool   // re-read the installed state first
	audit   bool
	trigger string
	snap    *model.Snapshot
	target  uint64 // the store revision snap is at
	leader  bool
	term    uint64 // leader: the term it leads in (the master role's generation)
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
	if !j.leader {
		s.ensureRole(ctx, w, conn.RoleSlave, s.src.Term())
		s.observeOnce(ctx, w, j.name, j.snap, j.target)
		return
	}
	if err := s.ensureRole(ctx, w, conn.RoleMaster, j.term); err != nil {
		s.roleRefused(j.name, err)
		return
	}
	if !w.have || w.haveFor != j.name {
		j.full = true
	}
	if j.trigger == "" {
		j.trigger = "kick"
	}
	start := time.Now()
	plan, warnings, wait, err := s.reconcileNVE(ctx, w, j.name, j.snap, j.full)
	s.m.reconcile.WithLabelValues(j.kind()).Observe(time.Since(start).Seconds())

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
	j := syncJob{name: w.nve, full: w.full, audit: w.audit, trigger: w.trigger, snap: s.snap, target: s.seen, leader: s.leader, term: s.leaderTerm}
	w.full, w.audit, w.trigger = false, false, ""
	return j, true
}

// roleRefused records that the switch of NVE name refused the master role:
// nothing is written to it.
func (s *Southbound) roleRefused(name string, err error) {
	s.mu.Lock()
	st := s.state(name)
	st.sync, st.lastErr, st.lastErrAt = SyncError, err.Error(), s.cfg.Now()
	st.errCount++
	s.m.errors.WithLabelValues("role").Inc()
	s.broadcastLocked()
	s.mu.Unlock()
	s.log.Warn("switch refused the master role; not writing", "nve", name, "error", err)
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

// reconciledLocked counts and logs a successful reconciliation; an audit
// that had to change something repaired drift.
func (s *Southbound) reconciledLocked(j syncJob, st *nveState, plan reconcile.Plan, start time.Time) {
	if plan.Empty() {
		s.m.syncs.WithLabelValues("noop").Inc()
		return
	}
	s.m.syncs.WithLabelValues("ok").Inc()
	st.lastPlan = plan.String()
	if j.audit {
		s.m.repairs.Add(float64(plan.Len()))
		s.log.Warn("audit repaired drift", "nve", j.name, "plan", plan.String())
	} else {
		s.log.Info("reconciled", "nve", j.name, "trigger", j.trigger, "plan", plan.String(), "took", time.Since(start))
	}
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
		return fmt.Errorf("asked for role %s generation %d, switch granted %s", role, gen, got)
	}
	w.role, w.roleGen = role, gen
	return nil
}

// observeOnce is a follower's reconciliation: read the switch, compare it
// with the desired state, write nothing. In sync means realized; otherwise
// it looks again later (the leader is applying the change), backing off up
// to the audit interval.
func (s *Southbound) observeOnce(ctx context.Context, w *worker, name string, snap *model.Snapshot, target uint64) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.OpTimeout)
	defer cancel()
	w.have = false // a follower's cache would go stale: always re-read
	var res compiler.Result
	var ports portView
	prof, err := profileOf(snap, name)
	if err == nil {
		err = s.checkSwitchTables(ctx, w, name, prof)
	}
	if err == nil {
		res, ports, err = s.compile(snap, name, w.sw, prof, w.compilerCache())
	}
	wait := unready(snap, name, ports)
	var plan reconcile.Plan
	if err == nil {
		var inst []installedFlow
		var groups []flow.GroupEntry
		inst, groups, err = s.readInstalled(ctx, w.sw, prof)
		if err == nil {
			flows := make([]flow.Flow, len(inst))
			for i, f := range inst {
				flows[i] = f.Flow
			}
			plan = s.diff.Diff(res.Flows, flows, res.Groups, groups)
		}
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
	} else if w.observeDelay *= 2; s.cfg.AuditInterval > 0 && w.observeDelay > s.cfg.AuditInterval {
		w.observeDelay = s.cfg.AuditInterval
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
// a name longer than an OpenFlow port name holds.
func (s *Southbound) portNumbers(sw *conn.Switch, nve string) map[string]uint32 {
	out := map[string]uint32{}
	if sw != nil {
		for no, p := range sw.Ports() {
			if no == 0 || no > openflow13.P_MAX {
				continue // LOCAL and other reserved ports
			}
			out[p.Name] = no
		}
	}
	if s.cfg.PortNumbers != nil {
		for n, no := range s.cfg.PortNumbers(nve) {
			if _, ok := out[n]; !ok && no != 0 && no <= openflow13.P_MAX {
				out[n] = no
			}
		}
	}
	return out
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
func (s *Southbound) compile(snap *model.Snapshot, nve string, sw *conn.Switch, prof pipeline.Profile, cache *compiler.Cache) (compiler.Result, portView, error) {
	pv := portView{ports: s.portNumbers(sw, nve), flowTunnels: prof.FlowTunnels}
	in := compiler.Input{Snapshot: snap, NVE: nve, OFPorts: pv.ports, Generation: s.cfg.Generation}
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
	tableName := func(n uint8) string {
		name, _ := prof.NameOf(n)
		return name
	}
	entries, err := sw.FlowStatsRaw(ctx, openflow13.OFPTT_ALL, flow.NVACookie, flow.CookieTagMask)
	if err != nil {
		return nil, nil, err
	}
	var flows []installedFlow
	for _, e := range entries {
		f, st, err := codec.DecodeFlowStatsEntry(e, tableName)
		var pe *codec.PartialError
		switch {
		case errors.As(err, &pe):
			f.Goto = undecodable
		case err != nil:
			s.m.errors.WithLabelValues("read").Inc()
			s.log.Warn("installed flow not decodable; left alone", "error", err)
			continue
		}
		flows = append(flows, installedFlow{Flow: f, Stats: st})
	}
	gds, err := sw.GroupDesc(ctx)
	if err != nil {
		return nil, nil, err
	}
	var groups []flow.GroupEntry
	for _, gd := range gds {
		g, err := codec.DecodeGroupDescEntry(gd.Raw)
		var pe *codec.PartialError
		switch {
		case errors.As(err, &pe):
			g = flow.GroupEntry{ID: gd.GroupID, Type: flow.GroupType(0xff)} // differs from any desired group
		case err != nil:
			s.m.errors.WithLabelValues("read").Inc()
			s.log.Warn("installed group not decodable; left alone", "group", gd.GroupID, "error", err)
			continue
		}
		groups = append(groups, g)
	}
	return flows, groups, nil
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
	// Nothing is written to a switch whose tables do not fit the profile.
	if err := s.checkSwitchTables(ctx, w, name, prof); err != nil {
		return reconcile.Plan{}, nil, portView{}, err
	}
	planStart := time.Now()
	res, ports, err := s.compile(snap, name, w.sw, prof, w.compilerCache())
	if err != nil {
		s.m.errors.WithLabelValues("compile").Inc()
		return reconcile.Plan{}, nil, ports, fmt.Errorf("compile: %w", err)
	}
	planTime := time.Since(planStart)
	if full {
		flows, groups, err := s.readInstalled(ctx, w.sw, prof)
		if err != nil {
			s.m.errors.WithLabelValues("read").Inc()
			w.have = false
			return reconcile.Plan{}, res.Warnings, ports, fmt.Errorf("read installed state: %w", err)
		}
		// What was read is the truth now: not the slices of the last sync.
		w.slices = nil
		w.installed = make([]flow.Flow, 0, len(flows))
		for _, f := range flows {
			w.installed = append(w.installed, f.Flow)
		}
		w.installedGroups = groups
		w.have, w.haveFor = true, name
	}
	var plan reconcile.Plan
	diffStart := time.Now()
	if sd, ok := w.sliceDiff(res, name); ok && !full {
		plan = s.diff.Diff(sd.flows, sd.installed, sd.groups, sd.installedGroups)
		s.m.sliceDiffs.WithLabelValues("changed_slices").Inc()
	} else {
		plan = s.diff.Diff(res.Flows, w.installedFlows(), res.Groups, w.installedGroups)
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
	if err := s.send(ctx, w, plan, msgs, prof); err != nil {
		s.m.errors.WithLabelValues("apply").Inc()
		w.have = false
		return plan, res.Warnings, ports, err
	}
	s.countPlan(name, plan)
	// The switch now holds the desired state (plus groups nva doesn't own):
	// slice by slice when the result has slices (only changed ones are
	// canonicalized again; the flat list is rebuilt from them when a full
	// diff needs it), else as one list.
	if w.setSlices(res) {
		w.installed = nil
	} else {
		w.installed = w.installed[:0]
		for _, f := range res.Flows {
			w.installed = append(w.installed, codec.Canonical(f))
		}
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
// installed state unknown, or a result without slices that add up to it.
func (w *worker) sliceDiff(res compiler.Result, name string) (sliceInputs, bool) {
	if !w.have || w.slices == nil || w.haveFor != name {
		return sliceInputs{}, false
	}
	var in sliceInputs
	n, kept := 0, 0
	for _, sl := range res.Slices {
		n += len(sl.Flows)
		old, had := w.slices[sl.Key]
		if had {
			kept++
			if old.fingerprint == sl.Fingerprint {
				continue
			}
		}
		in.flows = append(in.flows, sl.Flows...)
		in.groups = append(in.groups, sl.Groups...)
		if had {
			in.installed = append(in.installed, old.flows...)
			in.installedGroups = append(in.installedGroups, old.groups...)
		}
	}
	if n != len(res.Flows) {
		return sliceInputs{}, false
	}
	if kept < len(w.slices) { // some slices are gone
		seen := sliceKeys(res)
		for key, old := range w.slices {
			if !seen[key] {
				in.installed = append(in.installed, old.flows...)
				in.installedGroups = append(in.installedGroups, old.groups...)
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

// setSlices records that the switch now holds res, slice by slice (an
// unchanged slice keeps its canonical flows; the record is updated in
// place, so the cost is the changed slices plus a lookup per slice);
// false when res has no slices that add up to it (then w.slices is nil).
func (w *worker) setSlices(res compiler.Result) bool {
	n := 0
	for _, sl := range res.Slices {
		n += len(sl.Flows)
	}
	if len(res.Slices) == 0 || n != len(res.Flows) {
		w.slices = nil
		return false
	}
	if w.slices == nil {
		w.slices = make(map[string]installedSlice, len(res.Slices))
	}
	for _, sl := range res.Slices {
		if old, ok := w.slices[sl.Key]; ok && old.fingerprint == sl.Fingerprint {
			continue
		}
		flows := make([]flow.Flow, len(sl.Flows))
		for i, f := range sl.Flows {
			flows[i] = codec.Canonical(f)
		}
		w.slices[sl.Key] = installedSlice{fingerprint: sl.Fingerprint, flows: flows, groups: sl.Groups}
	}
	if len(w.slices) != len(res.Slices) { // some slices are gone
		seen := sliceKeys(res)
		for key := range w.slices {
			if !seen[key] {
				delete(w.slices, key)
			}
		}
	}
	return true
}

// installedFlows is what the switch holds as one list: the list read from
// it (non-nil, possibly empty), or (after a sync recorded slice by slice,
// which sets installed to nil) the slices' flows.
func (w *worker) installedFlows() []flow.Flow {
	if w.installed != nil || w.slices == nil {
		return w.installed
	}
	var out []flow.Flow
	for _, sl := range w.slices {
		out = append(out, sl.flows...)
	}
	return out
}

// needsAtomic says whether a plan must be applied as one transaction: it
// changes or removes existing state and has more than one message (e.g. a
// port moving: its old flows go, its new ones come, groups change).
func needsAtomic(p reconcile.Plan) bool {
	changes := len(p.FlowModifies) + len(p.FlowDeletes) + len(p.GroupModifies) + len(p.GroupDeletes)
	return changes > 0 && p.Len() > 1
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
func (s *Southbound) send(ctx context.Context, w *worker, plan reconcile.Plan, msgs []util.Message, prof pipeline.Profile) error {
	sw := w.sw
	if !prof.Bundles {
		return s.sendFenced(ctx, sw, plan, msgs)
	}
	if needsAtomic(plan) && !w.noBundles {
		err := sw.Bundle(ctx, msgs)
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
	for i, m := range msgs {
		if _, err := sw.Send(m); err != nil {
			return fmt.Errorf("send message %d of %d: %w", i+1, len(msgs), err)
		}
	}
	if err := sw.Barrier(ctx); err != nil {
		return fmt.Errorf("barrier after %d messages: %w", len(msgs), err)
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
func (s *Southbound) sendFenced(ctx context.Context, sw *conn.Switch, plan reconcile.Plan, msgs []util.Message) error {
	i := 0
	for _, n := range planPhases(plan) {
		if n == 0 {
			continue
		}
		if i+n > len(msgs) {
			return fmt.Errorf("plan of %d steps encoded to %d messages", plan.Len(), len(msgs))
		}
		for _, m := range msgs[i : i+n] {
			i++
			if _, err := sw.Send(m); err != nil {
				return fmt.Errorf("send message %d of %d: %w", i, len(msgs), err)
			}
		}
		if err := sw.Barrier(ctx); err != nil {
			return fmt.Errorf("barrier after message %d of %d: %w", i, len(msgs), err)
		}
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

// encodePlan encodes a plan's steps in order.
func (s *Southbound) encodePlan(p reconcile.Plan, prof pipeline.Profile) ([]util.Message, error) {
	c := codec.New(codec.Options{AllowNicira: prof.Extensions})
	msgs := make([]util.Message, 0, p.Len())
	for _, st := range p.Steps() {
		var m util.Message
		var err error
		switch st.Kind {
		case reconcile.AddGroup:
			m, err = c.EncodeGroupMod(st.Group, codec.GroupAdd)
		case reconcile.ModifyGroup:
			m, err = c.EncodeGroupMod(st.Group, codec.GroupModify)
		case reconcile.DeleteGroup:
			m, err = c.EncodeGroupMod(st.Group, codec.GroupDelete)
		case reconcile.AddFlow, reconcile.ReplaceFlow:
			m, err = c.EncodeFlowMod(st.Flow, prof.Number, codec.FlowAdd)
		case reconcile.ModifyFlow:
			m, err = c.EncodeFlowMod(st.Flow, prof.Number, codec.FlowModifyStrict)
		case reconcile.DeleteFlow:
			m, err = c.EncodeFlowMod(st.Flow, prof.Number, codec.FlowDeleteStrict)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", st.Kind, err)
		}
		msgs = append(msgs, m)
	}
	return msgs, nil
}

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
