package ofctl

import (
	"maps"
	"reflect"
	"slices"

	"github.com/nva-project/nva/app/model"
)

// NVE health for the compiler's BUM decisions (app/compiler/bum.go): an
// NVE whose switch is not connected (claimed) is down, so it is not
// elected designated forwarder of a dual-homed system, not sent unicast
// for one while its twin is up, and not used as a replicator. When the
// set changes, the switches of the NVEs sharing a VN that depends on it
// (one with a dual-homed pair, or in replicator mode) are recompiled.
//
// The set is kept by its changes, never rebuilt per connect: at 1,000
// switches reconnecting after a restart, a walk over every switch and NVE
// on each connect was O(N²). An NVE is up exactly when workerFor finds
// its switch (the switch registered under its datapath ID claims it), so
// the callers that register, drop or re-claim a switch name the NVEs
// concerned and only those are looked at (updateGaugesLocked). The whole
// set is recomputed only when the snapshot's NVE map is another one (an
// NVE came, went or changed: refreshEvents then re-claims every switch
// anyway), which also takes deleted NVEs out of it.

// healthState is the southbound's record of NVE health, guarded by
// Southbound.mu.
type healthState struct {
	// down is the set of NVEs of nves without a claimed switch. Once
	// handed out (downNVEs: compiles read it outside the lock) it is
	// never modified: shared says so, and the next change applies to a
	// copy.
	down   map[string]bool
	shared bool
	// nves is the snapshot NVE map down was computed against (by
	// identity: the store never changes a published map).
	nves map[string]*model.NVE
}

// healthLocked brings the down set up to date after the claims of the
// NVEs named changed (a switch claiming one was registered, dropped or
// re-claimed), or, when the snapshot's NVE map is not the one the set
// reflects, recomputes all of it; then it kicks the workers concerned.
// The caller holds s.mu.
func (s *Southbound) healthLocked(names ...string) {
	if s.snap == nil {
		return
	}
	h := &s.health
	var changed []string
	if !sameMap(h.nves, s.snap.NVEs) {
		changed = s.healthChangesAll()
		h.nves = s.snap.NVEs
	} else {
		for _, n := range names {
			if n == "" || slices.Contains(changed, n) {
				continue
			}
			if _, ok := s.snap.NVEs[n]; ok && s.nveDownLocked(n) != h.down[n] {
				changed = append(changed, n)
			}
		}
	}
	if len(changed) == 0 {
		return
	}
	if h.shared || h.down == nil {
		h.down = maps.Clone(h.down)
		if h.down == nil {
			h.down = make(map[string]bool, len(changed))
		}
		h.shared = false
	}
	for _, n := range changed {
		if _, ok := s.snap.NVEs[n]; ok && s.nveDownLocked(n) {
			h.down[n] = true
		} else {
			delete(h.down, n)
		}
	}
	s.kickHealthDependentsLocked(changed)
}

// nveDownLocked reports whether NVE n (of s.snap) has no claimed switch.
func (s *Southbound) nveDownLocked(n string) bool { return s.workerFor(n) == nil }

// healthChangesAll lists the NVEs whose health differs from the down set:
// every NVE of the snapshot is looked at, and every NVE of the set that
// is gone from it leaves the set.
func (s *Southbound) healthChangesAll() []string {
	down := s.health.down
	var changed []string
	for name := range s.snap.NVEs {
		if s.nveDownLocked(name) != down[name] {
			changed = append(changed, name)
		}
	}
	for name := range down {
		if _, ok := s.snap.NVEs[name]; !ok {
			changed = append(changed, name) // down before, gone now
		}
	}
	return changed
}

// kickHealthDependentsLocked kicks the switches of the NVEs sharing a
// health-dependent VN (bumDependsOnHealth) with an NVE whose health
// changed.
func (s *Southbound) kickHealthDependentsLocked(changed []string) {
	var kicked map[string]bool
	for _, n := range changed {
		for _, vn := range s.snap.VNsOn(n) {
			if !bumDependsOnHealth(s.snap, vn) {
				continue
			}
			for _, h := range s.snap.NVEsHosting(vn) {
				if kicked[h] {
					continue
				}
				if kicked == nil {
					kicked = map[string]bool{}
				}
				kicked[h] = true
				if w := s.workerFor(h); w != nil {
					w.kickLocked("nve health")
				}
			}
		}
	}
}

// sameMap reports whether a and b are the same map (not merely equal);
// two nil maps are.
func sameMap[K comparable, V any](a, b map[K]V) bool {
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

// bumDependsOnHealth reports whether VN vn's compiled flows depend on NVE
// health: it is in replicator mode or has a dual-homed pair.
func bumDependsOnHealth(snap *model.Snapshot, vn string) bool {
	if v := snap.VNs[vn]; v != nil && v.BUM.Mode == model.BUMReplicator {
		return true
	}
	return slices.ContainsFunc(snap.PortsIn(vn), func(p *model.Port) bool { return p.Pair != "" })
}

// downNVEs returns the current down set (shared: read only).
func (s *Southbound) downNVEs() map[string]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.health.shared = true
	return s.health.down
}
