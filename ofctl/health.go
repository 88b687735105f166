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
	up := make(map[string]bool, len(s.switches))
	for _, w := range s.switches {
		if w.nve != "" {
			up[w.nve] = true
		}
	}
	down := map[string]bool{}
	for name := range s.snap.NVEs {
		if !up[name] {
			down[name] = true
		}
	}
	prev := s.down
	if maps.Equal(prev, down) {
		return
	}
	s.down = down
	changed := map[string]bool{}
	for n := range down {
		if !prev[n] {
			changed[n] = true
		}
	}
	for n := range prev {
		if !down[n] {
			changed[n] = true
		}
	}
	kick := map[string]bool{}
	for n := range changed {
		for _, vn := range s.snap.VNsOn(n) {
			if !bumDependsOnHealth(s.snap, vn) {
				continue
			}
			for _, h := range s.snap.NVEsHosting(vn) {
				kick[h] = true
			}
		}
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
