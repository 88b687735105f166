package ofctl

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/nva-project/nva/app/model"
)

// healthNVEs returns NVEs named names with datapath IDs 1, 2, ... in
// order.
func healthNVEs(names ...string) map[string]*model.NVE {
	nves := map[string]*model.NVE{}
	for i, n := range names {
		nves[n] = &model.NVE{Name: n, DatapathID: model.FormatDatapathID(uint64(i + 1))}
	}
	return nves
}

// scratchDown is the down set computed from scratch, the way it was
// before it was kept by its changes: every NVE of the snapshot without a
// registered switch claiming it.
func scratchDown(s *Southbound) map[string]bool {
	up := map[string]bool{}
	for _, w := range s.switches {
		if w.nve != "" {
			up[w.nve] = true
		}
	}
	down := map[string]bool{}
	for n := range s.snap.NVEs {
		if !up[n] {
			down[n] = true
		}
	}
	return down
}

// scratchCounts counts the connected and the unclaimed switches by
// walking them.
func scratchCounts(s *Southbound) (connected, unclaimed int) {
	for _, w := range s.switches {
		if w.nve == "" {
			unclaimed++
		}
	}
	return len(s.switches) + len(s.refused), unclaimed + len(s.refused)
}

// reclaimAll re-evaluates every registered switch's claim against the
// current snapshot, as refreshEvents does when the NVEs changed, and
// updates health.
func reclaimAll(s *Southbound) {
	for _, w := range s.switches {
		w.nve = claimant(s.snap, w.dpid)
	}
	s.updateGaugesLocked()
}

// TestHealthFollowsClaims: the down set is every NVE of the snapshot
// without a claimed switch, updated on each change, and a set handed out
// earlier (compiles read it outside the lock) is never modified.
func TestHealthFollowsClaims(t *testing.T) {
	s := New(Config{})
	s.snap = model.NewSnapshot(1, map[string]*model.VN{}, healthNVEs("a", "b", "c"), map[string]*model.Port{})
	check := func(want ...string) map[string]bool {
		t.Helper()
		w := map[string]bool{}
		for _, n := range want {
			w[n] = true
		}
		got := s.downNVEs()
		if !maps.Equal(got, w) {
			t.Fatalf("down = %v, want %v", got, w)
		}
		return got
	}
	s.updateGaugesLocked()
	all := check("a", "b", "c")
	s.registerLocked(&worker{sb: s, dpid: 1}) // claims a
	s.registerLocked(&worker{sb: s, dpid: 7}) // no NVE has datapath ID 7: no NVE is up by it
	afterA := check("b", "c")
	if !maps.Equal(all, map[string]bool{"a": true, "b": true, "c": true}) {
		t.Fatalf("an earlier down set was modified: %v", all)
	}
	s.updateGaugesLocked("a", "b")
	if same := check("b", "c"); len(same) != 2 {
		t.Fatalf("unchanged claims changed the set: %v", same)
	}
	// c's NVE takes datapath ID 7: the switch registered under it claims
	// it now.
	nves := maps.Clone(s.snap.NVEs)
	nves["c"] = &model.NVE{Name: "c", DatapathID: model.FormatDatapathID(7)}
	s.snap = model.NewSnapshot(2, map[string]*model.VN{}, nves, map[string]*model.Port{})
	reclaimAll(s)
	check("b")
	s.unregisterLocked(s.switches[1], errors.New("gone"))
	check("a", "b")
	// An NVE removed from the snapshot leaves the down set.
	nves = maps.Clone(nves)
	delete(nves, "b")
	s.snap = model.NewSnapshot(3, map[string]*model.VN{}, nves, map[string]*model.Port{})
	reclaimAll(s)
	check("a")
	if !maps.Equal(afterA, map[string]bool{"b": true, "c": true}) {
		t.Fatalf("an earlier down set was modified: %v", afterA)
	}
}

// TestHealthIncrementalMatchesScratch drives the southbound's health
// through a long random sequence (fixed seed) of switch connects (new and
// replacing), disconnects, claim changes (an NVE's datapath ID moving to
// another switch) and NVE deletions and additions, through the code the
// connection and store paths run, and checks after every step that the
// down set kept by its changes equals the one computed from scratch, the
// gauges equal a count of the switches, no down set handed out earlier
// changed, and the switches of NVEs sharing a health-dependent VN with an
// NVE whose health changed were kicked.
func TestHealthIncrementalMatchesScratch(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 2026))
	const nNVE, nDPID = 12, 16
	var names []string
	for i := range nNVE {
		names = append(names, fmt.Sprintf("n%02d", i))
	}
	// VNs: "pair" has a dual-homed pair (n00/n01) and spans n00-n03;
	// "rep" is in replicator mode on n04-n07; "plain" (n08-n11, n00)
	// depends on no NVE's health.
	vns := map[string]*model.VN{
		"pair":  {Name: "pair", VNI: 1},
		"rep":   {Name: "rep", VNI: 2, BUM: model.BUM{Mode: model.BUMReplicator}},
		"plain": {Name: "plain", VNI: 3},
	}
	ports := map[string]*model.Port{}
	addPort := func(name, vn, nve, pair string) {
		ports[name] = &model.Port{Name: name, VN: vn, NVE: nve, Pair: pair}
	}
	addPort("pa", "pair", "n00", "pb")
	addPort("pb", "pair", "n01", "pa")
	addPort("p2", "pair", "n02", "")
	addPort("p3", "pair", "n03", "")
	for i := 4; i < 8; i++ {
		addPort(fmt.Sprintf("r%d", i), "rep", names[i], "")
	}
	for _, i := range []int{0, 8, 9, 10, 11} {
		addPort(fmt.Sprintf("q%d", i), "plain", names[i], "")
	}
	dpidOf := map[string]uint64{}
	for i, n := range names {
		dpidOf[n] = uint64(i + 1)
	}
	rev := uint64(1)
	present := map[string]bool{}
	for _, n := range names {
		present[n] = true
	}
	makeSnap := func() *model.Snapshot {
		nves := map[string]*model.NVE{}
		for _, n := range names {
			if present[n] {
				nves[n] = &model.NVE{Name: n, DatapathID: model.FormatDatapathID(dpidOf[n])}
			}
		}
		ps := map[string]*model.Port{}
		for k, p := range ports {
			if present[p.NVE] {
				ps[k] = p
			}
		}
		rev++
		return model.NewSnapshot(rev, vns, nves, ps)
	}
	s := New(Config{})
	s.snap = makeSnap()
	s.updateGaugesLocked()

	// dependents: the NVEs whose switches a health change of n kicks.
	dependents := func(n string) []string {
		var out []string
		for _, vn := range s.snap.VNsOn(n) {
			if bumDependsOnHealth(s.snap, vn) {
				out = append(out, s.snap.NVEsHosting(vn)...)
			}
		}
		return out
	}
	type handed struct {
		set  map[string]bool
		copy map[string]bool
	}
	var handouts []handed
	var kinds [5]int
	kicksChecked := 0
	for step := range 3000 {
		prevDown := maps.Clone(s.health.down)
		// Forget earlier kicks, so the ones this step makes show.
		for _, w := range s.switches {
			w.work = false
		}
		var what string
		switch op := rng.IntN(10); {
		case op < 4: // a switch connects (replacing one of the same datapath ID)
			d := uint64(rng.IntN(nDPID) + 1)
			s.registerLocked(&worker{sb: s, dpid: d})
			what = fmt.Sprintf("connect %d", d)
			kinds[0]++
		case op < 7: // a switch disconnects
			if len(s.switches) == 0 {
				continue
			}
			ds := slices.Sorted(maps.Keys(s.switches))
			d := ds[rng.IntN(len(ds))]
			s.unregisterLocked(s.switches[d], nil)
			what = fmt.Sprintf("disconnect %d", d)
			kinds[1]++
		case op < 8: // an NVE's datapath ID changes: claims move
			n := names[rng.IntN(nNVE)]
			dpidOf[n] = uint64(rng.IntN(nDPID) + 1)
			s.snap = makeSnap()
			reclaimAll(s)
			what = fmt.Sprintf("%s to datapath ID %d", n, dpidOf[n])
			kinds[2]++
		case op < 9: // an NVE is deleted
			n := names[rng.IntN(nNVE)]
			present[n] = false
			s.snap = makeSnap()
			reclaimAll(s)
			what = "delete " + n
			kinds[3]++
		default: // an NVE is (re)created
			n := names[rng.IntN(nNVE)]
			present[n] = true
			s.snap = makeSnap()
			reclaimAll(s)
			what = "create " + n
			kinds[4]++
		}
		if want := scratchDown(s); !maps.Equal(s.health.down, want) {
			t.Fatalf("step %d (%s): down = %v, from scratch %v", step, what, s.health.down, want)
		}
		c, u := s.switchCountsLocked()
		if wc, wu := scratchCounts(s); c != wc || u != wu {
			t.Fatalf("step %d (%s): connected/unclaimed = %d/%d, counted %d/%d", step, what, c, u, wc, wu)
		}
		// Every NVE whose health changed (and is still in the snapshot)
		// had the switches of its health-dependent VNs kicked.
		for _, n := range names {
			if prevDown[n] == s.health.down[n] || !present[n] {
				continue
			}
			for _, h := range dependents(n) {
				w := s.workerFor(h)
				if w == nil {
					continue
				}
				if !w.work {
					t.Fatalf("step %d (%s): %s's health changed, but %s's switch was not kicked", step, what, n, h)
				}
				kicksChecked++
			}
		}
		if rng.IntN(3) == 0 {
			d := s.downNVEs()
			handouts = append(handouts, handed{d, maps.Clone(d)})
		}
	}
	for i, h := range handouts {
		if !maps.Equal(h.set, h.copy) {
			t.Fatalf("down set handed out %d-th was modified: %v, was %v", i, h.set, h.copy)
		}
	}
	for i, k := range kinds {
		if k == 0 {
			t.Fatalf("operation %d never ran: %v", i, kinds)
		}
	}
	if kicksChecked == 0 {
		t.Fatal("no health change ever had a dependent switch to kick")
	}
	t.Logf("operations %v, %d kicks checked, %d down sets handed out", kinds, kicksChecked, len(handouts))
}

// BenchmarkReconnectAll is the connect path's part of a restart at 1,000
// NVEs (the fleet layout): every switch registers (claiming its NVE,
// updating health and the gauges), then every one disconnects. ns/op is
// per restart; ns/connect per switch connect and disconnect.
func BenchmarkReconnectAll(b *testing.B) {
	const n = 1000
	s := New(Config{Logger: slog.New(slog.DiscardHandler)})
	s.snap = fleetSnap(n)
	workers := make([]*worker, n)
	b.ReportAllocs()
	for b.Loop() {
		for i := range workers {
			workers[i] = &worker{sb: s, dpid: uint64(i + 1)}
			s.registerLocked(workers[i])
		}
		if len(s.health.down) != 0 {
			b.Fatalf("%d NVEs down with every switch connected", len(s.health.down))
		}
		for _, w := range workers {
			s.unregisterLocked(w, nil)
		}
		s.runq, s.runqUrgent = s.runq[:0], s.runqUrgent[:0] // the kicks queued them; no pool runs here
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/connect")
}
