package ofctl

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/ofctl/codec"
	"github.com/nva-project/nva/ofctl/conn"
	"github.com/nva-project/nva/ofctl/reconcile"
)

// WaitRealized returns once every connected NVE affected by the store
// changes up to index has acknowledged (barrier or bundle commit) a state
// at least that recent, with every port of the NVE at that state compiled
// in (a port whose interface has no OpenFlow port yet keeps its NVE a
// laggard, see realizeLocked). When ctx ends first it returns the names of the
// NVEs that had not caught up, with ctx's error. NVEs that are not
// connected are not waited for (their status says so).
func (s *Southbound) WaitRealized(ctx context.Context, index uint64) ([]string, error) {
	return s.waitRealized(ctx, index, nil, s.laggardsLocked)
}

// waitRealized waits until the southbound has seen index and laggards
// (called under s.mu) names no NVE, or ctx ends (then it returns the last
// laggards with ctx's error): the loop of WaitRealized and
// WaitRealizedFor. want is the NVEs waited for (nil: every NVE): a
// follower reads their switches without holding off (holdObserve).
//
// A write's waiter usually gets here before the watch loop has taken the
// write's events (the store publishes them before it answers the write):
// while the watch loop has events to refresh to, the waiter leaves the
// refresh to it, which finds the NVEs the write affects from the events,
// for up to watchGrace. An event the store hands to a watch loop blocked
// on its channel leaves the channel empty before the loop counts it
// (watchPending), so a watch loop that looks idle gets watchHandoff to
// show the event before the waiter concludes that the revision carries
// none. Otherwise (no event, or a watch loop that is late) the waiter
// refreshes itself, comparing the snapshots in full: O(domain), 1.5 ms
// at 1,000 NVEs, which a third of the attaches paid without the handoff.
func (s *Southbound) waitRealized(ctx context.Context, index uint64, want map[string]bool, laggards func(index uint64) []string) ([]string, error) {
	s.mu.Lock()
	remove := s.addWaiterLocked(want)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		remove()
		s.mu.Unlock()
	}()
	start := time.Now()
	grace, handoff := start.Add(watchGrace), start.Add(watchHandoff)
	for {
		s.mu.Lock()
		seen := s.seen
		s.mu.Unlock()
		idle := false
		if seen < index && s.src != nil {
			now := time.Now()
			idle = !s.watchBusy()
			if (idle && !now.Before(handoff)) || !now.Before(grace) {
				s.refresh("wait realized")
			}
		}
		s.mu.Lock()
		lag := laggards(index)
		caughtUp := s.seen >= index
		ch := s.changed
		s.mu.Unlock()
		if caughtUp && len(lag) == 0 {
			return nil, nil
		}
		var poll <-chan time.Time
		if !caughtUp {
			// The store applies index on this node soon; its watch event
			// wakes us, the poll covers revisions that carry no event.
			d := 50 * time.Millisecond
			if g := time.Until(grace); g > 0 {
				d = g
			}
			if h := time.Until(handoff); idle && h > 0 {
				d = h
			}
			poll = time.After(d)
		}
		select {
		case <-ch:
		case <-poll:
		case <-ctx.Done():
			return lag, ctx.Err()
		}
	}
}

// watchGrace is how long a waiter leaves the refresh to a busy watch
// loop; watchHandoff how long it waits for an idle-looking one to take
// an event handed to it.
const (
	watchGrace   = 5 * time.Millisecond
	watchHandoff = time.Millisecond
)

// laggardsLocked lists the connected, claimed NVEs with an unrealized
// change at or below index; before the southbound has seen index, every
// connected claimed NVE.
func (s *Southbound) laggardsLocked(index uint64) []string {
	var out []string
	for _, w := range s.switches {
		if w.nve == "" {
			continue
		}
		st := s.state(w.nve)
		if s.seen < index || (len(st.pending) > 0 && st.pending[0] <= index) {
			out = append(out, w.nve)
		}
	}
	sort.Strings(out)
	return out
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// StatusChanged returns a channel that is closed at the next change of
// any NVE's realization or OpenFlow status (a switch connecting or
// disconnecting, a sync starting or ending); call it again for the next.
// The events stream uses it to send status changes as they happen.
func (s *Southbound) StatusChanged() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// OpenFlowStatus returns the OpenFlow side of an NVE's status.
func (s *Southbound) OpenFlowStatus(nve string) *model.OpenFlowStatus {
	o := s.status(nve)
	return &o
}

func (s *Southbound) status(nve string) model.OpenFlowStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.state(nve)
	// An NVE in sync with nothing pending holds every change up to the
	// revision the southbound has seen that affects it: that is its
	// realized revision, as ?wait=realized judges it (laggardsForLocked),
	// even when the later changes did not touch it.
	realized := st.realized
	if st.sync == SyncInSync && len(st.pending) == 0 && len(st.awaiting) == 0 && realized > 0 {
		realized = max(realized, s.seen)
	}
	o := model.OpenFlowStatus{
		Sync:             st.sync,
		RealizedRevision: realized,
		LastSync:         timePtr(st.lastSync),
		LastError:        st.lastErr,
		LastErrorAt:      timePtr(st.lastErrAt),
		ErrorCount:       st.errCount,
		FlowModsSent:     st.flowMods,
		GroupModsSent:    st.groupMods,
		LastChange:       st.lastPlan,
		Warnings:         st.warnings,
		Awaiting:         st.awaiting,
	}
	if n, ok := s.snap.NVEs[nve]; ok {
		if n.DatapathID != "" {
			o.DatapathID = n.DatapathID
		}
		o.Profile = profileStatus(n)
		o.Profile.TableCheck = st.tableCheck
		o.TunnelPorts = st.tunnels
		o.BUM = compiler.BUMStatus(s.snap, nve, s.health.down)
	}
	if w := s.workerFor(nve); w != nil {
		o.Connected = true
		o.DatapathID = model.FormatDatapathID(w.dpid)
		o.Remote = w.sw.RemoteAddr().String()
		o.OpenFlowErrors = w.sw.ErrorState().Count
		o.SwitchSubject, o.SwitchFingerprint = certIdentity(w.sw)
	} else {
		o.Sync = SyncDisconnected
	}
	return o
}

func (s *Southbound) workerFor(nve string) *worker {
	// A switch's NVE is the one its datapath ID names in s.snap
	// (claimant; re-evaluated under s.mu, which the callers hold, whenever
	// s.snap changes) or none, so the NVE's own datapath ID finds its
	// switch: no walk over every switch for each NVE of a status list.
	if s.snap == nil {
		return nil
	}
	n, ok := s.snap.NVEs[nve]
	if !ok {
		return nil
	}
	if w := s.switches[n.DPID()]; w != nil && w.nve == nve {
		return w
	}
	return nil
}

var textOpts = flow.TextOptions{Cookie: true}

func flowText(f flow.Flow) string {
	if f.Goto == undecodable {
		f.Goto = ""
		t, _ := flow.FormatFlow(f, textOpts)
		return t + " (instructions not representable)"
	}
	t, err := flow.FormatFlow(f, textOpts)
	if err != nil {
		return fmt.Sprintf("table=%s,priority=%d (%v)", f.Table, f.Priority, err)
	}
	return t
}

// NVEFlows reports an NVE's desired and installed flows. Installed state is
// read from the switch now when it is connected.
func (s *Southbound) NVEFlows(ctx context.Context, nve string) (*model.FlowReport, error) {
	s.mu.Lock()
	snap := s.snap
	w := s.workerFor(nve)
	s.mu.Unlock()
	if snap == nil {
		return nil, fmt.Errorf("ofctl: southbound not started")
	}
	if _, ok := snap.NVEs[nve]; !ok {
		return nil, &model.Error{Kind: model.KindNotFound, Field: "nve", Message: fmt.Sprintf("nve %q not found", nve)}
	}
	prof, err := profileOf(snap, nve)
	if err != nil {
		return nil, fmt.Errorf("nve %s: %w", nve, err)
	}
	rep := &model.FlowReport{NVE: nve, Profile: prof.Name, Revision: snap.Revision, Status: s.status(nve)}
	var sw *conn.Switch // the switch's port table, when connected
	if w != nil {
		sw = w.sw
	}
	res, _, err := s.compile(snap, nve, sw, prof, nil, nil) // not the worker's cache nor port memo: another goroutine
	if err != nil {
		return nil, fmt.Errorf("compile %s: %w", nve, err)
	}
	rep.Warnings = res.Warnings
	desired := make([]flow.Flow, 0, res.NumFlows())
	for f := range res.Flows() {
		desired = append(desired, codec.Canonical(*f))
	}
	flow.SortFlows(desired, prof.Order)
	for _, f := range desired {
		rep.Desired = append(rep.Desired, flowText(f))
	}
	for _, g := range res.Groups {
		rep.DesiredGroups = append(rep.DesiredGroups, flow.FormatGroup(codec.CanonicalGroup(g)))
	}
	rep.Desired = nonNil(rep.Desired)
	rep.DesiredGroups = nonNil(rep.DesiredGroups)
	rep.Installed = []model.InstalledRow{}
	rep.InstalledGroups = []string{}
	if sw == nil {
		return rep, nil
	}
	rctx, cancel := context.WithTimeout(ctx, s.cfg.OpTimeout)
	defer cancel()
	inst, groups, err := s.readInstalled(rctx, sw, prof)
	if err != nil {
		rep.ReadError = err.Error()
		return rep, nil
	}
	rep.InstalledKnown = true
	instFlows := make([]flow.Flow, len(inst))
	byKey := map[flow.Key]installedFlow{}
	for i, f := range inst {
		instFlows[i] = f.Flow
		byKey[reconcile.Key(f.Flow)] = f
	}
	sorted := append([]flow.Flow(nil), instFlows...)
	flow.SortFlows(sorted, prof.Order)
	for _, f := range sorted {
		st := byKey[reconcile.Key(f)].Stats
		rep.Installed = append(rep.Installed, model.InstalledRow{Flow: flowText(f), Packets: st.Packets, Bytes: st.Bytes, DurationSec: st.DurationSec})
	}
	flow.SortGroups(groups)
	for _, g := range groups {
		rep.InstalledGroups = append(rep.InstalledGroups, flow.FormatGroup(g))
	}
	plan := s.diff.Diff(res.FlowList(), instFlows, res.Groups, groups)
	d := model.DiffSummary{InSync: plan.Empty(), ForeignIgnored: plan.Foreign, UnchangedFlows: plan.Unchanged, PlannedMessages: plan.Len()}
	for _, f := range plan.FlowAdds {
		d.Missing = append(d.Missing, flowText(f))
	}
	for _, m := range plan.FlowModifies {
		d.Differ = append(d.Differ, flowText(m.New))
	}
	for _, f := range plan.FlowDeletes {
		d.Extra = append(d.Extra, flowText(f))
	}
	for _, g := range plan.GroupAdds {
		d.GroupsMissing = append(d.GroupsMissing, g.ID)
	}
	for _, g := range plan.GroupModifies {
		d.GroupsDiffer = append(d.GroupsDiffer, g.New.ID)
	}
	for _, g := range plan.GroupDeletes {
		d.GroupsExtra = append(d.GroupsExtra, g.ID)
	}
	rep.Diff = d
	return rep, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
