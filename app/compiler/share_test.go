package compiler_test

import (
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/compiler/scenario"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/pipeline"
)

// TestPartPoolSharesRemoteParts: at the fleet layout (every VN on 10
// NVEs), Caches sharing a PartPool give the results of a from-scratch
// compile, and a port's part on the NVEs it is not attached to is one
// slice (the same flows array) on all of them; a port's part on its own
// NVE is that NVE's alone; the NVE-wide slice is one for all. An attach recompiles the new port's part on
// one remote NVE of its VN only: the others take it from the pool.
func TestPartPoolSharesRemoteParts(t *testing.T) {
	for _, prof := range []pipeline.Profile{pipeline.OVS(), pipeline.Strict()} {
		d := fleetDomain(12)
		snap := d.Snapshot()
		pool := compiler.NewPartPool()
		first := map[string]*compiler.Slice{} // by slice key: its first NVE's
		remote, local, remoteParts := 0, 0, 0
		var caches []*compiler.Cache // (alive: the pool holds parts weakly)
		for _, nve := range d.NVENames() {
			in := d.InputAt(snap, nve)
			c := compiler.NewSharedCache(pool)
			caches = append(caches, c)
			got := compileChecked(t, prof.Name+" "+nve, c, in, prof)
			for i := range got.Slices {
				s := got.Slices[i]
				if s.Key == "" { // the NVE-wide slice: one for all NVEs
					if f, seen := first[""]; !seen {
						first[""] = s
					} else if &f.Flows[0] != &s.Flows[0] || f.Fingerprint != s.Fingerprint {
						t.Fatalf("%s: the NVE-wide slice on %s is not the pool's", prof.Name, nve)
					}
					continue
				}
				if s.Key == s.VN || len(s.Flows) == 0 {
					continue
				}
				port := s.Key[len(s.VN)+1:]
				if p := s.Port(); (p == "") != (port[0] == '@' || port[0] == '*') || (p != "" && p != port) {
					t.Fatalf("%s: slice %s: Port() = %q", prof.Name, s.Key, p)
				}
				if strings.HasPrefix(port, "@") || port == "*" { // a VN's remote part (one for all NVEs reaching it alike) or common part
					if f, seen := first[s.Key]; !seen {
						first[s.Key] = s
					} else if &f.Flows[0] != &s.Flows[0] {
						t.Fatalf("%s: remote part %s on %s is not the pool's", prof.Name, s.Key, nve)
					} else {
						remoteParts++
					}
					continue
				}
				isLocal := d.Ports[port].NVE == nve
				f, seen := first[s.Key]
				switch {
				case isLocal:
					local++
				case !seen:
					first[s.Key] = s
				default:
					remote++
					if &f.Flows[0] != &s.Flows[0] {
						t.Fatalf("%s: part %s on %s is not the pool's", prof.Name, s.Key, nve)
					}
				}
			}
		}
		if remote == 0 || local == 0 || remoteParts == 0 || pool.Len() == 0 {
			t.Fatalf("%s: %d shared remote ports' parts, %d local, %d shared VN remote parts, pool of %d", prof.Name, remote, local, remoteParts, pool.Len())
		}
		// Attach a port on nve0000 in vn0000 (on nve0000 to nve0009): one
		// part more in the pool, and the same on the 9 remote NVEs.
		n := pool.Len()
		d.Port("a0000-00", "vn0000", "nve0000", "a0000p00", "02:f2:00:00:00:00", 0, "10.0.0.100")
		snap = d.Snapshot()
		var part *compiler.Slice
		for i, nve := range d.NVENames() {
			in := d.InputAt(snap, nve)
			got := compileChecked(t, prof.Name+" attach "+nve, caches[i], in, prof)
			for j := range got.Slices {
				s := got.Slices[j]
				if s.Key != "vn0000/a0000-00" || nve == "nve0000" {
					continue
				}
				if part == nil {
					part = s
				} else if &part.Flows[0] != &s.Flows[0] {
					t.Fatalf("%s: the new port's part on %s is not the pool's", prof.Name, nve)
				}
			}
		}
		runtime.KeepAlive(caches)
		if part == nil || pool.Len() != n+1 {
			t.Fatalf("%s: after the attach the pool holds %d parts, want %d", prof.Name, pool.Len(), n+1)
		}
	}
}

// TestPartPoolConcurrent: Caches on many goroutines share one PartPool
// (as the southbound's workers do), each recompiling its NVE across a
// change; every result equals a from-scratch compile. Run with -race.
func TestPartPoolConcurrent(t *testing.T) {
	d := fleetDomain(12)
	before := d.Snapshot()
	d.Port("a0000-00", "vn0000", "nve0000", "a0000p00", "02:f2:00:00:00:00", 0, "10.0.0.100")
	after := d.Snapshot()
	prof := pipeline.OVS()
	pool := compiler.NewPartPool()
	names := d.NVENames()
	errs := make(chan error, len(names))
	var wg sync.WaitGroup
	for _, nve := range names {
		ins := []compiler.Input{d.InputAt(before, nve), d.InputAt(after, nve), d.InputAt(before, nve)}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := compiler.NewSharedCache(pool)
			for i, in := range ins {
				got, err := c.Compile(in, prof)
				if err != nil {
					errs <- err
					return
				}
				want, err := compiler.Compile(in, prof)
				if err != nil {
					errs <- err
					return
				}
				if !reflect.DeepEqual(got.FlowList(), want.FlowList()) || !reflect.DeepEqual(got.Groups, want.Groups) {
					errs <- fmt.Errorf("%s, compile %d: flows or groups differ from a from-scratch compile", nve, i)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestPartPoolSharedPartsFollowVNWideChanges: the parts shared through a
// PartPool whatever the NVE (a VN's remote and common parts, the remote
// ports' parts) follow the changes that make every NVE of a VN compile
// them anew: a passthrough port (the VN's tunnel traffic may be tagged),
// the VN's unknown-target policy, a remote NVE's new underlay address.
// After each, every NVE's Cache gives a from-scratch compile's result, and
// a changed part is one for all the NVEs using it.
func TestPartPoolSharedPartsFollowVNWideChanges(t *testing.T) {
	for _, prof := range []pipeline.Profile{pipeline.OVS(), pipeline.Strict()} {
		d := fleetDomain(12)
		pool := compiler.NewPartPool()
		caches := map[string]*compiler.Cache{}
		changes := []struct {
			what string
			do   func()
		}{
			{"none", func() {}},
			{"passthrough port", func() {
				d.Update("p0001-00", func(p *model.Port) { p.VLANMode, p.AllowedVLANs = model.VLANPassthrough, []int{10} })
			}},
			{"unknown-target policy", func() { d.VN("vn0001", d.VNs["vn0001"].VNI, scenario.UnknownDrop) }},
			{"re-addressed NVE", func() { d.NVE("nve0002", "198.18.9.9") }},
		}
		for _, ch := range changes {
			ch.do()
			snap := d.Snapshot()
			parts := map[string]*compiler.Slice{} // remote and common parts by key: the first NVE's
			for _, nve := range d.NVENames() {
				if caches[nve] == nil {
					caches[nve] = compiler.NewSharedCache(pool)
				}
				in := d.InputAt(snap, nve)
				got := compileChecked(t, prof.Name+" "+ch.what+" "+nve, caches[nve], in, prof)
				for _, s := range got.Slices {
					if !strings.HasSuffix(s.Key, "/*") && !strings.Contains(s.Key, "/@") {
						continue
					}
					if f, ok := parts[s.Key]; !ok {
						parts[s.Key] = s
					} else if f.Fingerprint != s.Fingerprint || &f.Flows[0] != &s.Flows[0] {
						t.Fatalf("%s %s: part %s on %s is not the one the other NVEs use", prof.Name, ch.what, s.Key, nve)
					}
				}
			}
			if len(parts) == 0 {
				t.Fatalf("%s %s: no remote or common part", prof.Name, ch.what)
			}
		}
	}
}
