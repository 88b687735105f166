package ofctl

import (
	"maps"
	"slices"

	"github.com/nva-project/nva/app/model"
)

// NVE health for the compiler's BUM decisions (app/compiler/bum.go): an
// NVE whose switch is not connected (claimed) is down, so it is not
// elected designated forwarder of a dual-homed system, not sent unicast
// for one while its twin is up, and not used as a replicator. The set is
// recomputed whenever connections or claims change (updateGaugesLocked);
// when it changes, the switches of the NVEs sharing a VN that depends on
// it (one with a dual-homed pair, or in replicator mode) are recompiled.

// healthLocked recomputes the down set and kicks the workers concerned.
// The caller holds s.mu.
func (s *Southbound) healthLocked() {
	if s.snap == nil {
		return
	}
	// It runs on every connect, disconnect and claim: at 1,000 switches
	// reconnecting after a restart, building the sets afresh each time was
	// O(N^2) in allocations. The up set is a scratch map reused between
	// calls, the change is found without building a new down set, and a
	// new down set (it is shared read-only with compiles) is a copy of the
	// previous one with the change applied.
	up := s.healthUp
	if up == nil {
		up = make(map[string]bool, len(s.switches))
		s.healthUp = up
	}
	clear(up)
	for _, w := range s.switches {
		if w.nve != "" {
			up[w.nve] = true
		}
	}
	prev := s.down
	var changed []string
	for name := range s.snap.NVEs {
		if !up[name] != prev[name] {
			changed = append(changed, name)
		}
	}
	for name := range prev {
		if _, ok := s.snap.NVEs[name]; !ok {
			changed = append(changed, name) // down before, gone now
		}
	}
	if len(changed) == 0 {
		return
	}
	down := maps.Clone(prev)
	if down == nil {
		down = make(map[string]bool, len(changed))
	}
	for _, n := range changed {
		if _, ok := s.snap.NVEs[n]; ok && !up[n] {
			down[n] = true
		} else {
			delete(down, n)
		}
	}
	s.down = down
	kick := map[string]bool{}
	for _, n := range changed {
		for _, vn := range s.snap.VNsOn(n) {
			if !bumDependsOnHealth(s.snap, vn) {
				continue
			}
			for _, h := range s.snap.NVEsHosting(vn) {
				kick[h] = true
			}
		}
	}
	if len(kick) == 0 {
		return
	}
	for _, w := range s.switches {
		if w.nve != "" && kick[w.nve] {
			w.kickLocked("nve health")
		}
	}
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
	return s.down
}
