package ofctl

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/ofctl/codec"
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
	for {
		s.mu.Lock()
		seen := s.seen
		s.mu.Unlock()
		if seen < index && s.src != nil {
			s.refresh("wait realized")
		}
		s.mu.Lock()
		lag := s.laggardsLocked(index)
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
			poll = time.After(50 * time.Millisecond)
		}
		select {
		case <-ch:
		case <-poll:
		case <-ctx.Done():
			return lag, ctx.Err()
		}
	}
}

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

// OpenFlowStatus is the OpenFlow side of an NVE's status (what NVEStatus
// returns; the daemon shows it under the NVE's status.openflow).
type OpenFlowStatus struct {
	Connected  bool   `json:"connected"`
	DatapathID string `json:"datapath_id,omitempty"`
	Remote     string `json:"remote,omitempty"`
	// Sync is in_sync, pending, error or disconnected.
	Sync             string     `json:"sync"`
	RealizedRevision uint64     `json:"realized_revision"`
	LastSync         *time.Time `json:"last_sync,omitempty"`
	LastError        string     `json:"last_error,omitempty"`
	LastErrorAt      *time.Time `json:"last_error_at,omitempty"`
	// ErrorCount counts failed reconciliations; OpenFlowErrors counts
	// OFPT_ERROR messages on the current connection.
	ErrorCount     uint64   `json:"error_count"`
	OpenFlowErrors uint64   `json:"openflow_errors"`
	FlowModsSent   uint64   `json:"flow_mods_sent"`
	GroupModsSent  uint64   `json:"group_mods_sent"`
	LastChange     string   `json:"last_change,omitempty"`
	Warnings       []string `json:"warnings,omitempty"`
	// Awaiting lists the NVE's ports (and tunnel ports) that have no
	// OpenFlow port on the switch yet: their flows are not installed, so
	// the revisions that added them are not realized.
	Awaiting []string `json:"awaiting,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// NVEStatus returns an NVE's OpenFlow status (an OpenFlowStatus).
func (s *Southbound) NVEStatus(nve string) any { return s.status(nve) }

func (s *Southbound) status(nve string) OpenFlowStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.state(nve)
	o := OpenFlowStatus{
		Sync:             st.sync,
		RealizedRevision: st.realized,
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
	if n, ok := s.snap.NVEs[nve]; ok && n.DatapathID != "" {
		o.DatapathID = n.DatapathID
	}
	if w := s.workerFor(nve); w != nil {
		o.Connected = true
		o.DatapathID = model.FormatDatapathID(w.dpid)
		o.Remote = w.sw.RemoteAddr().String()
		o.OpenFlowErrors = w.sw.ErrorState().Count
	} else {
		o.Sync = SyncDisconnected
	}
	return o
}

func (s *Southbound) workerFor(nve string) *worker {
	for _, w := range s.switches {
		if w.nve == nve {
			return w
		}
	}
	return nil
}

// FlowReport is the answer of GET /api/v1/nves/{name}/flows: desired and
// installed flows and groups in ovs-ofctl syntax with table names, the
// difference, and the sync state.
type FlowReport struct {
	NVE       string         `json:"nve"`
	Profile   string         `json:"profile"`
	Status    OpenFlowStatus `json:"status"`
	Revision  uint64         `json:"revision"`
	Desired   []string       `json:"desired"`
	Installed []InstalledRow `json:"installed"`
	// InstalledKnown is false when the switch is not connected (or could
	// not be read); Installed is empty then.
	InstalledKnown  bool     `json:"installed_known"`
	DesiredGroups   []string `json:"desired_groups"`
	InstalledGroups []string `json:"installed_groups"`
	// Diff is what a reconciliation would send now.
	Diff      DiffSummary `json:"diff"`
	Warnings  []string    `json:"warnings,omitempty"`
	ReadError string      `json:"read_error,omitempty"`
}

// InstalledRow is one installed flow with its counters.
type InstalledRow struct {
	Flow        string `json:"flow"`
	Packets     uint64 `json:"n_packets"`
	Bytes       uint64 `json:"n_bytes"`
	DurationSec uint32 `json:"duration_sec"`
}

// DiffSummary lists the differences between desired and installed.
type DiffSummary struct {
	InSync          bool     `json:"in_sync"`
	Missing         []string `json:"missing,omitempty"` // desired, not installed
	Differ          []string `json:"differ,omitempty"`  // installed with other actions/cookie (desired form)
	Extra           []string `json:"extra,omitempty"`   // installed nva flows not desired
	GroupsMissing   []uint32 `json:"groups_missing,omitempty"`
	GroupsDiffer    []uint32 `json:"groups_differ,omitempty"`
	GroupsExtra     []uint32 `json:"groups_extra,omitempty"`
	ForeignIgnored  int      `json:"foreign_ignored,omitempty"`
	UnchangedFlows  int      `json:"unchanged_flows"`
	PlannedMessages int      `json:"planned_messages"`
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

// NVEFlows reports an NVE's desired and installed flows (a *FlowReport).
// Installed state is read from the switch now when it is connected.
func (s *Southbound) NVEFlows(ctx context.Context, nve string) (any, error) {
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
	prof := s.profileFor(snap, nve)
	rep := &FlowReport{NVE: nve, Profile: prof.Name, Revision: snap.Revision, Status: s.status(nve)}
	var sw = w
	res, _, err := s.compile(snap, nve, nil, prof)
	if sw != nil {
		res, _, err = s.compile(snap, nve, sw.sw, prof)
	}
	if err != nil {
		return nil, fmt.Errorf("compile %s: %w", nve, err)
	}
	rep.Warnings = res.Warnings
	desired := make([]flow.Flow, len(res.Flows))
	for i, f := range res.Flows {
		desired[i] = codec.Canonical(f)
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
	rep.Installed = []InstalledRow{}
	rep.InstalledGroups = []string{}
	if sw == nil {
		return rep, nil
	}
	rctx, cancel := context.WithTimeout(ctx, s.cfg.OpTimeout)
	defer cancel()
	inst, groups, err := s.readInstalled(rctx, sw.sw, prof)
	if err != nil {
		rep.ReadError = err.Error()
		return rep, nil
	}
	rep.InstalledKnown = true
	instFlows := make([]flow.Flow, len(inst))
	byKey := map[string]installedFlow{}
	for i, f := range inst {
		instFlows[i] = f.Flow
		byKey[reconcile.Key(f.Flow)] = f
	}
	sorted := append([]flow.Flow(nil), instFlows...)
	flow.SortFlows(sorted, prof.Order)
	for _, f := range sorted {
		st := byKey[reconcile.Key(f)].Stats
		rep.Installed = append(rep.Installed, InstalledRow{Flow: flowText(f), Packets: st.Packets, Bytes: st.Bytes, DurationSec: st.DurationSec})
	}
	flow.SortGroups(groups)
	for _, g := range groups {
		rep.InstalledGroups = append(rep.InstalledGroups, flow.FormatGroup(g))
	}
	plan := s.diff.Diff(res.Flows, instFlows, res.Groups, groups)
	d := DiffSummary{InSync: plan.Empty(), ForeignIgnored: plan.Foreign, UnchangedFlows: plan.Unchanged, PlannedMessages: plan.Len()}
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
