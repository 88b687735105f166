package compiler_test

import (
	"cmp"
	"fmt"
	"maps"
	"math/rand"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/compiler/scenario"
	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/pipeline"
)

// randomDomain builds a small random domain: a few NVEs and VNs, ports
// with random VLANs (some interfaces shared as trunks, so VAP claims
// interact across VNs), addresses from a small pool (so some collide),
// random encapsulations and unknown-target policies.
type randomDomain struct {
	r     *rand.Rand
	d     *scenario.Domain
	nves  []string
	vns   []string
	next  int // next port number
	ports []string
	// wide: ports get MACs of their own (1 in 10 from the small set
	// that repeats) and addresses from a larger pool: large VNs whose
	// changes touch a few ports (newWideDomain).
	wide bool
}

// newWideDomain builds a random domain of one or two large VNs (40-100
// ports) over three to five NVEs, where most MACs and addresses are a
// single port's, as in a data center, but some collide.
func newWideDomain(r *rand.Rand) *randomDomain {
	return newDomainOf(&randomDomain{r: r, d: scenario.New(), wide: true}, 3+r.Intn(3), 1+r.Intn(2), 40+r.Intn(60))
}

func newRandomDomain(r *rand.Rand) *randomDomain {
	return newDomainOf(&randomDomain{r: r, d: scenario.New()}, 2+r.Intn(4), 2+r.Intn(4), 4+r.Intn(20))
}

// newDomainOf adds nves NVEs, then vns VNs, then ports ports to rd.
func newDomainOf(rd *randomDomain, nves, vns, ports int) *randomDomain {
	for range nves {
		rd.addNVE()
	}
	for range vns {
		rd.addVN()
	}
	for range ports {
		rd.addPort()
	}
	return rd
}

func (rd *randomDomain) addNVE() {
	n := fmt.Sprintf("hv%d", len(rd.nves)+1)
	rd.nves = append(rd.nves, n)
	rd.d.NVE(n, fmt.Sprintf("198.18.0.%d", len(rd.nves)))
}

func (rd *randomDomain) vnOpts() []func(*model.VN) {
	opts := []func(*model.VN){scenario.Encap(model.Encaps[rd.r.Intn(len(model.Encaps))])}
	if rd.r.Intn(2) == 0 {
		opts = append(opts, scenario.UnknownDrop)
	}
	return opts
}

func (rd *randomDomain) addVN() {
	v := fmt.Sprintf("vn%d", len(rd.vns)+1)
	rd.vns = append(rd.vns, v)
	rd.d.VN(v, uint32(100*len(rd.vns)), rd.vnOpts()...)
}

func (rd *randomDomain) ips() []string {
	pool := 12
	if rd.wide {
		pool = 150
	}
	var out []string
	for i := 0; i < rd.r.Intn(3); i++ {
		if rd.r.Intn(3) == 0 {
			out = append(out, fmt.Sprintf("2001:db8::%x", 1+rd.r.Intn(pool)))
		} else {
			out = append(out, fmt.Sprintf("10.0.0.%d", 1+rd.r.Intn(pool)))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func (rd *randomDomain) iface(nve string) string {
	return fmt.Sprintf("tap-%s-%d", nve, rd.r.Intn(6)) // few interfaces: some are trunks
}

func (rd *randomDomain) vlan() int {
	if rd.r.Intn(2) == 0 {
		return 0
	}
	return 10 * (1 + rd.r.Intn(3))
}

func (rd *randomDomain) addPort() {
	rd.next++
	name := fmt.Sprintf("p%d", rd.next)
	nve := rd.nves[rd.r.Intn(len(rd.nves))]
	mac := fmt.Sprintf("02:00:00:00:%02x:%02x", rd.r.Intn(2), rd.r.Intn(24)) // some MACs repeat
	if rd.wide && rd.r.Intn(10) != 0 {
		mac = fmt.Sprintf("02:00:00:01:%02x:%02x", rd.next>>8, rd.next&0xff)
	}
	rd.d.Port(name, rd.vns[rd.r.Intn(len(rd.vns))], nve, rd.iface(nve), mac, rd.vlan(), rd.ips()...)
	rd.ports = append(rd.ports, name)
}

// change makes one random change, as the store would (new revisions).
func (rd *randomDomain) change() string {
	r := rd.r
	pick := func() string { return rd.ports[r.Intn(len(rd.ports))] }
	switch k := r.Intn(10); {
	case k == 0 || len(rd.ports) < 3:
		rd.addPort()
		return "add port " + rd.ports[len(rd.ports)-1]
	case k == 1:
		i := r.Intn(len(rd.ports))
		p := rd.ports[i]
		rd.d.Remove(p)
		rd.ports = slices.Delete(rd.ports, i, i+1)
		return "remove port " + p
	case k == 2:
		p := pick()
		rd.d.Update(p, func(x *model.Port) { x.IPs = rd.ips() })
		return "readdress port " + p
	case k == 3:
		p := pick()
		rd.d.Update(p, func(x *model.Port) { x.VLAN = rd.vlan() })
		return "retag port " + p
	case k == 4:
		p := pick()
		rd.d.Update(p, func(x *model.Port) { x.NVE = rd.nves[r.Intn(len(rd.nves))]; x.Interface = rd.iface(x.NVE) })
		return "move port " + p
	case k == 5:
		v := rd.vns[r.Intn(len(rd.vns))]
		rd.d.VN(v, rd.d.VNs[v].VNI, rd.vnOpts()...)
		return "change VN " + v
	case k == 6:
		n := rd.nves[r.Intn(len(rd.nves))]
		rd.d.NVE(n, fmt.Sprintf("198.18.1.%d", 1+r.Intn(200)))
		return "re-address NVE " + n
	case k == 7:
		rd.addNVE()
		return "add NVE " + rd.nves[len(rd.nves)-1]
	case k == 8:
		p := rd.d.Ports[pick()]
		rd.d.SetOFPort(p.NVE, p.Interface, uint32(200+r.Intn(50)))
		return "renumber interface " + p.Interface + " of " + p.NVE
	default:
		p := pick()
		rd.d.Update(p, func(x *model.Port) { x.MAC = fmt.Sprintf("02:00:00:00:01:%02x", r.Intn(24)) })
		return "re-MAC port " + p
	}
}

// compileChecked compiles in with c and from scratch, fails the test
// (naming what) on an error or when the two differ (sameResult), and
// returns c's result.
func compileChecked(t *testing.T, what string, c *compiler.Cache, in compiler.Input, prof pipeline.Profile) compiler.Result {
	t.Helper()
	got, err := c.Compile(in, prof)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	want, err := compiler.Compile(in, prof)
	if err != nil {
		t.Fatalf("%s: from scratch: %v", what, err)
	}
	sameResult(t, what, got, want)
	return got
}

// sameResult compares a memoized result with a from-scratch one: flows
// (with cookies), groups, warnings, and each slice's VN, fingerprint,
// flows and groups.
func sameResult(t *testing.T, what string, got, want compiler.Result) {
	t.Helper()
	if !reflect.DeepEqual(got.FlowList(), want.FlowList()) {
		t.Fatalf("%s: memoized flows differ from a from-scratch compile:\n%s", what, lineDiff(flowsText(want.FlowList()), flowsText(got.FlowList())))
	}
	if !reflect.DeepEqual(got.Groups, want.Groups) || !reflect.DeepEqual(got.Warnings, want.Warnings) {
		t.Fatalf("%s: groups or warnings differ:\n%v\n%v\n%v\n%v", what, got.Groups, want.Groups, got.Warnings, want.Warnings)
	}
	if len(got.Slices) != len(want.Slices) {
		t.Fatalf("%s: %d slices, want %d", what, len(got.Slices), len(want.Slices))
	}
	for i := range got.Slices {
		g, w := got.Slices[i], want.Slices[i]
		if g.VN != w.VN || g.Fingerprint != w.Fingerprint || !reflect.DeepEqual(g.Flows, w.Flows) || !reflect.DeepEqual(g.Groups, w.Groups) {
			t.Fatalf("%s: slice %q differs from a from-scratch compile", what, w.VN)
		}
	}
}

func flowsText(fs []flow.Flow) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "%s cookie=%#x\n", f, f.Cookie)
	}
	return b.String()
}

// unionOfSlices checks that a result's slices partition its flows and
// groups.
func unionOfSlices(t *testing.T, what string, r compiler.Result) {
	t.Helper()
	var flows []string
	var groups []uint32
	for _, s := range r.Slices {
		for _, f := range s.Flows {
			flows = append(flows, fmt.Sprintf("%s cookie=%#x", f, f.Cookie))
		}
		for _, g := range s.Groups {
			groups = append(groups, g.ID)
		}
	}
	var all []string
	for _, f := range r.FlowList() {
		all = append(all, fmt.Sprintf("%s cookie=%#x", f, f.Cookie))
	}
	var allGroups []uint32
	for _, g := range r.Groups {
		allGroups = append(allGroups, g.ID)
	}
	slices.Sort(flows)
	slices.Sort(all)
	slices.Sort(groups)
	if !slices.Equal(flows, all) || !slices.Equal(groups, allGroups) {
		t.Fatalf("%s: the slices' union is not the result", what)
	}
}

// TestMemoizedEqualsFromScratch: for random domains, the union of the
// memoized slices (each NVE's Cache, kept across changes) equals a
// from-scratch compile, before and after random changes, on both
// profiles, with each Cache on its own or all of a domain's sharing a
// PartPool. Fixed seed: deterministic.
func TestMemoizedEqualsFromScratch(t *testing.T) {
	r := rand.New(rand.NewSource(20261129))
	for _, prof := range []pipeline.Profile{pipeline.OVS(), pipeline.Strict()} {
		reused, total, _ := memoizedEqualsFromScratch(t, r, prof, newRandomDomain, 25, 12, true)
		// The memo must actually be used, or the test proves nothing.
		if reused*2 < total {
			t.Errorf("%s: only %d of %d slices came from the caches", prof.Name, reused, total)
		}
		t.Logf("%s: %d of %d slices reused", prof.Name, reused, total)
	}
}

// memoizedEqualsFromScratch makes domains random domains (newDomain) and
// steps random changes to each, and checks that each NVE's Cache, kept
// across the changes (its NVEs sharing a PartPool in odd domains), gives
// what a from-scratch compile gives. With dropTunnels, a tunnel port is
// missing now and then (not created yet, or deleted). It returns how
// many slices the caches reused, of how many, and the caches.
func memoizedEqualsFromScratch(t *testing.T, r *rand.Rand, prof pipeline.Profile, newDomain func(*rand.Rand) *randomDomain,
	domains, steps int, dropTunnels bool) (reused, total int, all []*compiler.Cache) {
	t.Helper()
	for dom := 0; dom < domains; dom++ {
		rd := newDomain(r)
		caches := map[string]*compiler.Cache{}
		var pool *compiler.PartPool // odd domains: the NVEs' caches share their parts
		if dom%2 == 1 {
			pool = compiler.NewPartPool()
		}
		for step := 0; step <= steps; step++ {
			what := fmt.Sprintf("%s domain %d step %d", prof.Name, dom, step)
			if step > 0 {
				what += " (" + rd.change() + ")"
			}
			snap := rd.d.Snapshot()
			for _, nve := range rd.d.NVENames() {
				if caches[nve] == nil {
					caches[nve] = compiler.NewSharedCache(pool)
					all = append(all, caches[nve])
				}
				in := rd.d.InputAt(snap, nve)
				if dropTunnels && r.Intn(6) == 0 {
					delete(in.Tunnels, model.Encaps[r.Intn(len(model.Encaps))])
					// (In key order: the draws, and the test, are
					// deterministic.)
					keys := slices.SortedFunc(maps.Keys(in.RemoteTunnels), func(a, b compiler.RemoteTunnel) int {
						return cmp.Or(strings.Compare(a.NVE, b.NVE), strings.Compare(string(a.Encap), string(b.Encap)))
					})
					for _, k := range keys {
						if r.Intn(3) == 0 {
							delete(in.RemoteTunnels, k)
						}
					}
				}
				got := compileChecked(t, what+", "+nve, caches[nve], in, prof)
				unionOfSlices(t, what+", "+nve, got)
				if err := pipeline.Check(prof, got.FlowList(), got.Groups); err != nil {
					t.Fatalf("%s, %s: %v", what, nve, err)
				}
				for k := range got.Slices {
					total++
					if !got.Recompiled(k) {
						reused++
					}
				}
			}
		}
	}
	return reused, total, all
}

// TestOnePortChangeRecompilesItsPart: in random domains without
// collisions (every port its own interface, MAC and addresses), a change
// to one port (added, removed, re-addressed, re-tagged, re-MACed, moved to
// another NVE or VN) recompiles, on every NVE, only that port's part of
// its VN (old and new), and a VN's shared part only when the VN's local
// VAPs (OpenFlow port, VLAN) on the NVE or the NVEs hosting it changed;
// the NVE-wide slice never. The port's part is recompiled wherever it is
// compiled. Results equal a from-scratch compile. Fixed seed.
func TestOnePortChangeRecompilesItsPart(t *testing.T) {
	r := rand.New(rand.NewSource(20261130))
	for _, prof := range []pipeline.Profile{pipeline.OVS(), pipeline.Strict()} {
		partsRecompiled, sharedRecompiled, steps := 0, 0, 0
		for dom := 0; dom < 10; dom++ {
			d := scenario.New()
			nves := []string{"hv1", "hv2", "hv3", "hv4"}[:2+r.Intn(3)]
			for i, n := range nves {
				d.NVE(n, fmt.Sprintf("198.18.0.%d", 1+i))
			}
			vns := []string{"vn1", "vn2", "vn3"}
			for i, v := range vns {
				opts := []func(*model.VN){scenario.Encap(model.Encaps[r.Intn(len(model.Encaps))])}
				if r.Intn(2) == 0 {
					opts = append(opts, scenario.UnknownDrop)
				}
				d.VN(v, uint32(100*(i+1)), opts...)
			}
			uniq := 0
			next := func() int { uniq++; return uniq }
			ips := func() []string {
				n := next()
				out := []string{fmt.Sprintf("10.1.%d.%d", n/250, 1+n%250)}
				if r.Intn(3) == 0 {
					out = append(out, fmt.Sprintf("2001:db8::%x", n))
				}
				return out
			}
			mac := func() string {
				n := next()
				return fmt.Sprintf("02:00:00:%02x:%02x:%02x", n>>16&0xff, n>>8&0xff, n&0xff)
			}
			vlan := func() int { return []int{0, 0, 10, 20}[r.Intn(4)] }
			var ports []string
			addPort := func() string {
				name := fmt.Sprintf("p%03d", next())
				nve := nves[r.Intn(len(nves))]
				d.Port(name, vns[r.Intn(len(vns))], nve, "tap-"+name+"-"+nve, mac(), vlan(), ips()...)
				ports = append(ports, name)
				return name
			}
			for i := 0; i < 6+r.Intn(20); i++ {
				addPort()
			}
			// sig is what a VN's shared part reads on an NVE (besides the VN
			// and the remotes' underlay, which no step here changes).
			sig := func(snap *model.Snapshot, nve, vn string) string {
				var b strings.Builder
				for _, p := range snap.PortsAt(nve, vn) {
					fmt.Fprintf(&b, "%d/%d ", d.OFPort(nve, p.Interface), p.VLAN)
				}
				fmt.Fprint(&b, snap.NVEsHosting(vn))
				return b.String()
			}
			caches := map[string]*compiler.Cache{}
			compiled := map[string]map[string]bool{} // NVE -> slice keys of its last result
			keysOf := func(r compiler.Result) map[string]bool {
				m := map[string]bool{}
				for _, s := range r.Slices {
					m[s.Key] = true
				}
				return m
			}
			prev := d.Snapshot()
			for _, nve := range nves {
				caches[nve] = compiler.NewCache()
				res, err := caches[nve].Compile(d.InputAt(prev, nve), prof)
				if err != nil {
					t.Fatal(err)
				}
				compiled[nve] = keysOf(res)
			}
			for step := 0; step < 15; step++ {
				var p, what string
				pick := func() string { return ports[r.Intn(len(ports))] }
				switch k := r.Intn(7); {
				case k == 0 || len(ports) < 3:
					p = addPort()
					what = "add"
				case k == 1:
					i := r.Intn(len(ports))
					p = ports[i]
					d.Remove(p)
					ports = slices.Delete(ports, i, i+1)
					what = "remove"
				case k == 2:
					p = pick()
					d.Update(p, func(x *model.Port) { x.IPs = ips() })
					what = "re-address"
				case k == 3:
					p = pick()
					d.Update(p, func(x *model.Port) { x.VLAN = vlan() })
					what = "re-tag"
				case k == 4:
					p = pick()
					d.Update(p, func(x *model.Port) { x.MAC = mac() })
					what = "re-MAC"
				case k == 5:
					p = pick()
					d.Update(p, func(x *model.Port) {
						x.NVE = nves[r.Intn(len(nves))]
						x.Interface = "tap-" + x.Name + "-" + x.NVE
					})
					what = "move to another NVE"
				default:
					p = pick()
					d.Update(p, func(x *model.Port) { x.VN = vns[r.Intn(len(vns))] })
					what = "move to another VN"
				}
				steps++
				snap := d.Snapshot()
				keys := map[string]bool{}
				for _, s := range []*model.Snapshot{prev, snap} {
					if q, ok := s.Ports.Lookup(p); ok {
						keys[q.VN+"/"+p] = true
					}
				}
				for _, nve := range nves {
					where := fmt.Sprintf("%s domain %d step %d (%s %s), %s", prof.Name, dom, step, what, p, nve)
					in := d.InputAt(snap, nve)
					got := compileChecked(t, where, caches[nve], in, prof)
					for i, s := range got.Slices {
						switch {
						case s.Key == "":
							if got.Recompiled(i) {
								t.Errorf("%s: NVE-wide slice recompiled", where)
							}
						case s.Key == s.VN:
							if got.Recompiled(i) {
								sharedRecompiled++
								if sig(prev, nve, s.VN) == sig(snap, nve, s.VN) {
									t.Errorf("%s: VN %s's shared part recompiled, but its local VAPs and NVEs did not change", where, s.VN)
								}
							}
						case strings.Contains(s.Key, "/@") || strings.HasSuffix(s.Key, "/*"):
							// A VN's remote part (or common part): it
							// reads the VN and that remote NVE, which no
							// step changes, so only a remote new to the
							// VN (or a VN new on the NVE) has one to
							// compile.
							if got.Recompiled(i) && compiled[nve][s.Key] {
								t.Errorf("%s: remote or common part %s recompiled, but its VN and remote NVE did not change", where, s.Key)
							}
						case keys[s.Key]:
							if !got.Recompiled(i) {
								t.Errorf("%s: the changed port's part %s reused", where, s.Key)
							}
							partsRecompiled++
						case got.Recompiled(i) && compiled[nve][s.VN]:
							// (A VN newly compiled on the NVE has all its parts new.)
							t.Errorf("%s: part %s recompiled for a change to port %s", where, s.Key, p)
						}
					}
					compiled[nve] = keysOf(got)
				}
				prev = snap
			}
		}
		if partsRecompiled == 0 || sharedRecompiled == 0 {
			t.Errorf("%s: %d port parts, %d shared parts recompiled: the test exercised nothing", prof.Name, partsRecompiled, sharedRecompiled)
		}
		t.Logf("%s: %d steps: %d port parts and %d shared parts recompiled", prof.Name, steps, partsRecompiled, sharedRecompiled)
	}
}

// TestWideVNsEqualFromScratch: in large random VNs where most MACs and
// addresses are one port's but some collide, each NVE's Cache, kept
// across random changes, gives what a from-scratch compile gives, on
// both profiles, its NVEs sharing a PartPool or not; and most changed
// VNs are resolved from the last compile (completeDelta), so this
// checks that path against compiling from scratch. Fixed seed.
func TestWideVNsEqualFromScratch(t *testing.T) {
	r := rand.New(rand.NewSource(20261130))
	for _, prof := range []pipeline.Profile{pipeline.OVS(), pipeline.Strict()} {
		_, _, caches := memoizedEqualsFromScratch(t, r, prof, newWideDomain, 8, 40, false)
		completes, deltas := 0, 0
		for _, c := range caches {
			a, b := c.Resolutions()
			completes, deltas = completes+a, deltas+b
		}
		t.Logf("%s: %d VNs resolved from the last compile, %d in full", prof.Name, deltas, completes)
		if deltas < completes {
			t.Errorf("%s: only %d of %d changed VNs resolved from the last compile: the test does not exercise it", prof.Name, deltas, deltas+completes)
		}
	}
}
