// Package liveness owns tunnel liveness as nva's state (RFC 8014 §12 and
// §4.5): it turns the bfd_status Open vSwitch reports for every tunnel
// path port (compiler.TunnelPaths) into path and NVE-pair states with
// transition times, isolates faults (underlay: both NVEs connected, no
// path up; overlay: an NVE not connected), and decides which VAPs to take
// down because their NVE has no live path to any other NVE of their VN.
// It is pure: the clock is injected and nothing here does I/O.
package liveness

import (
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/model"
)

// ParseBFD reads one interface's bfd_status: up when the session is up
// and forwarding; down when it is not and it has a diagnostic (e.g.
// "Control Detection Time Expired") or was up before (wasUp); else
// unknown (a session that has never come up, such as the peer not
// started yet).
func ParseBFD(status map[string]string, wasUp bool) (model.PathState, string) {
	if len(status) == 0 {
		return model.PathUnknown, ""
	}
	diag := status["diagnostic"]
	if diag == "No Diagnostic" {
		diag = ""
	}
	if status["state"] == "up" && status["forwarding"] != "false" {
		return model.PathUp, diag
	}
	if diag != "" || wasUp {
		return model.PathDown, diag
	}
	return model.PathUnknown, diag
}

// Event is one state change: of a path (Port set) or of an NVE pair's
// tunnel (Port "").
type Event struct {
	NVE, Remote string
	Port        string
	From, To    model.PathState
	Diagnostic  string
	Fault       model.TunnelFault
	At          time.Time
}

type pathKey struct{ nve, port string }

type pathState struct {
	state       model.PathState
	diag        string
	since       time.Time
	transitions uint64
	wasUp       bool
}

type pairKey struct{ nve, remote string }

type pairState struct {
	state model.PathState
	since time.Time
}

// Tracker holds the liveness of every path nva has heard about. Safe for
// concurrent use.
type Tracker struct {
	now func() time.Time

	mu        sync.Mutex
	paths     map[pathKey]*pathState
	pairs     map[pairKey]*pairState
	connected map[string]bool // NVE -> its OVSDB session is up
}

// New returns an empty tracker reading time from now.
func New(now func() time.Time) *Tracker {
	return &Tracker{now: now, paths: map[pathKey]*pathState{}, pairs: map[pairKey]*pairState{}, connected: map[string]bool{}}
}

// Observe records what NVE nve's Open vSwitch reports: whether it is
// connected, and the bfd_status of its interfaces by name. Paths of nve
// in snap (compiler.TunnelPaths) missing from bfd are unknown. It returns
// the transitions, paths first then pairs, in a deterministic order.
func (t *Tracker) Observe(snap *model.Snapshot, nve string, connected bool, bfd map[string]map[string]string) []Event {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.connected[nve] = connected
	var events []Event
	var paths []compiler.Path
	if anyMultipath(snap) {
		paths = compiler.TunnelPaths(snap, nve)
	}
	seen := make(map[string]bool, len(paths))
	for _, p := range paths {
		k := pathKey{nve, p.Port}
		seen[p.Port] = true
		ps := t.paths[k]
		if ps == nil {
			ps = &pathState{state: model.PathUnknown}
			t.paths[k] = ps
		}
		st, diag := model.PathUnknown, ""
		if connected {
			st, diag = ParseBFD(bfd[p.Port], ps.wasUp)
		}
		ps.diag = diag
		if st != ps.state {
			events = append(events, Event{NVE: nve, Remote: p.Remote, Port: p.Port, From: ps.state, To: st, Diagnostic: diag, At: now})
			ps.state, ps.since = st, now
			ps.transitions++
		}
		if st == model.PathUp {
			ps.wasUp = true
		}
	}
	for k := range t.paths {
		if k.nve == nve && !seen[k.port] {
			delete(t.paths, k)
		}
	}
	// Pairs: every pair whose state may have changed, which is nve's and
	// (for the fault, which reads connectivity) every pair toward nve.
	pairs := t.tunnelsLocked(snap, nve)
	remotes := map[string]bool{}
	for _, p := range paths {
		remotes[p.Remote] = true
	}
	for _, r := range slices.Sorted(maps.Keys(remotes)) {
		for _, ts := range t.tunnelsLocked(snap, r) {
			if ts.Remote == nve {
				pairs = append(pairs, ts)
			}
		}
	}
	for _, ts := range pairs {
		k := pairKey{ts.NVE, ts.Remote}
		ps := t.pairs[k]
		if ps == nil {
			ps = &pairState{state: model.PathUnknown}
			t.pairs[k] = ps
		}
		if ps.state != ts.State {
			events = append(events, Event{NVE: ts.NVE, Remote: ts.Remote, From: ps.state, To: ts.State, Fault: ts.Fault, At: now})
			ps.state, ps.since = ts.State, now
		}
	}
	return events
}

// Tunnels returns the liveness of every multipath NVE pair of snap, by
// NVE then remote name (each direction separately: each NVE's BFD view).
func (t *Tracker) Tunnels(snap *model.Snapshot) []model.TunnelStatus {
	return t.TunnelsOf(snap, "")
}

// TunnelsOf is Tunnels for the pairs from NVE nve only ("": every NVE).
func (t *Tracker) TunnelsOf(snap *model.Snapshot, nve string) []model.TunnelStatus {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := t.tunnelsLocked(snap, nve)
	for i := range out {
		if ps := t.pairs[pairKey{out[i].NVE, out[i].Remote}]; ps != nil && ps.state == out[i].State {
			out[i].Since = ps.since
		}
	}
	return out
}

// tunnelsLocked computes the pairs from NVE only ("": from every NVE).
func (t *Tracker) tunnelsLocked(snap *model.Snapshot, only string) []model.TunnelStatus {
	if !anyMultipath(snap) {
		return nil
	}
	var out []model.TunnelStatus
	for _, n := range snap.SortedNVEs() {
		if only != "" && n.Name != only {
			continue
		}
		var cur *model.TunnelStatus
		for _, p := range compiler.TunnelPaths(snap, n.Name) {
			if cur == nil || cur.Remote != p.Remote {
				out = append(out, model.TunnelStatus{NVE: n.Name, Remote: p.Remote, Mode: p.Mode})
				cur = &out[len(out)-1]
			}
			ps := model.TunnelPathStatus{Port: p.Port, LocalIP: p.LocalIP.String(), RemoteIP: p.RemoteIP.String(), State: model.PathUnknown}
			if s := t.paths[pathKey{n.Name, p.Port}]; s != nil {
				ps.State, ps.Diagnostic, ps.Since, ps.Transitions = s.state, s.diag, s.since, s.transitions
			}
			cur.Paths = append(cur.Paths, ps)
		}
	}
	for i := range out {
		ts := &out[i]
		up, down := 0, 0
		for _, p := range ts.Paths {
			switch p.State {
			case model.PathUp:
				up++
			case model.PathDown:
				down++
			}
		}
		switch {
		case up > 0:
			ts.State = model.PathUp
		case down == len(ts.Paths) && down > 0:
			ts.State = model.PathDown
		default:
			ts.State = model.PathUnknown
		}
		switch {
		case !t.connected[ts.NVE] || !t.connected[ts.Remote]:
			if ts.State != model.PathUp {
				ts.Fault = model.FaultOverlay
			}
		case ts.State == model.PathDown:
			ts.Fault = model.FaultUnderlay
		}
	}
	return out
}

// anyMultipath reports whether some NVE of snap has multipath set (else
// no pair is multipath and there is nothing to track).
func anyMultipath(snap *model.Snapshot) bool {
	for _, n := range snap.NVEs {
		if n.Multipath != model.MultipathNone {
			return true
		}
	}
	return false
}

// VAPsDown returns the ports whose VAPs must be down: for every NVE and
// VN of snap with vap_signal not off, when every other NVE hosting the VN
// is reached only over paths (the pair is multipath) and the NVE's tunnel
// to each is down. A pair without liveness (not multipath) or with an
// unknown state counts as live: nva signals only what BFD has shown.
// Sorted by port name.
func (t *Tracker) VAPsDown(snap *model.Snapshot) []*model.Port {
	if !anyMultipath(snap) {
		return nil // no pair has liveness, so none is down
	}
	tunnels := t.Tunnels(snap)
	state := make(map[pairKey]model.PathState, len(tunnels))
	for _, ts := range tunnels {
		state[pairKey{ts.NVE, ts.Remote}] = ts.State
	}
	var out []*model.Port
	for _, vn := range snap.SortedVNs() {
		if !vn.SignalsVAP() {
			continue
		}
		hosts := snap.NVEsHosting(vn.Name)
		for _, nve := range hosts {
			dead, others := true, 0
			for _, r := range hosts {
				if r == nve {
					continue
				}
				others++
				if state[pairKey{nve, r}] != model.PathDown {
					dead = false
					break
				}
			}
			if dead && others > 0 {
				out = append(out, snap.PortsAt(nve, vn.Name)...)
			}
		}
	}
	slices.SortFunc(out, func(a, b *model.Port) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return out
}

// Forget drops what the tracker knows of NVEs not in names.
func (t *Tracker) Forget(names []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	keep := map[string]bool{}
	for _, n := range names {
		keep[n] = true
	}
	maps.DeleteFunc(t.paths, func(k pathKey, _ *pathState) bool { return !keep[k.nve] })
	maps.DeleteFunc(t.pairs, func(k pairKey, _ *pairState) bool { return !keep[k.nve] || !keep[k.remote] })
	maps.DeleteFunc(t.connected, func(k string, _ bool) bool { return !keep[k] })
}
