package compiler_test

import (
	"fmt"
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
}

func newRandomDomain(r *rand.Rand) *randomDomain {
	rd := &randomDomain{r: r, d: scenario.New()}
	for i := 0; i < 2+r.Intn(4); i++ {
		rd.addNVE()
	}
	for i := 0; i < 2+r.Intn(4); i++ {
		rd.addVN()
	}
	for i := 0; i < 4+r.Intn(20); i++ {
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
	var out []string
	for i := 0; i < rd.r.Intn(3); i++ {
		if rd.r.Intn(3) == 0 {
			out = append(out, fmt.Sprintf("2001:db8::%x", 1+rd.r.Intn(12)))
		} else {
			out = append(out, fmt.Sprintf("10.0.0.%d", 1+rd.r.Intn(12)))
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

// sameResult compares a memoized result with a from-scratch one: flows
// (with cookies), groups, warnings, and each slice's VN, fingerprint,
// flows and groups.
func sameResult(t *testing.T, what string, got, want compiler.Result) {
	t.Helper()
	if !reflect.DeepEqual(got.Flows, want.Flows) {
		t.Fatalf("%s: memoized flows differ from a from-scratch compile:\n%s", what, lineDiff(flowsText(want.Flows), flowsText(got.Flows)))
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
	for _, f := range r.Flows {
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
// profiles. Fixed seed: deterministic.
func TestMemoizedEqualsFromScratch(t *testing.T) {
	r := rand.New(rand.NewSource(20261129))
	for _, prof := range []pipeline.Profile{pipeline.OVS(), pipeline.Strict()} {
		reused, total := 0, 0
		for dom := 0; dom < 25; dom++ {
			rd := newRandomDomain(r)
			caches := map[string]*compiler.Cache{}
			for step := 0; step <= 12; step++ {
				what := fmt.Sprintf("%s domain %d step %d", prof.Name, dom, step)
				if step > 0 {
					what += " (" + rd.change() + ")"
				}
				snap := rd.d.Snapshot()
				for _, nve := range rd.d.NVENames() {
					if caches[nve] == nil {
						caches[nve] = compiler.NewCache()
					}
					in := rd.d.InputAt(snap, nve)
					// Now and then a tunnel port is missing (not created
					// yet, or deleted): the slices that use it change.
					if r.Intn(6) == 0 {
						delete(in.Tunnels, model.Encaps[r.Intn(len(model.Encaps))])
						for k := range in.RemoteTunnels {
							if r.Intn(3) == 0 {
								delete(in.RemoteTunnels, k)
							}
						}
					}
					got, err := caches[nve].Compile(in, prof)
					if err != nil {
						t.Fatalf("%s, %s: %v", what, nve, err)
					}
					want, err := compiler.Compile(in, prof)
					if err != nil {
						t.Fatalf("%s, %s: %v", what, nve, err)
					}
					sameResult(t, what+", "+nve, got, want)
					unionOfSlices(t, what+", "+nve, got)
					if err := pipeline.Check(prof, got.Flows, got.Groups); err != nil {
						t.Fatalf("%s, %s: %v", what, nve, err)
					}
					for _, s := range got.Slices {
						total++
						if !s.Recompiled {
							reused++
						}
					}
				}
			}
		}
		// The memo must actually be used, or the test proves nothing.
		if reused*2 < total {
			t.Errorf("%s: only %d of %d slices came from the caches", prof.Name, reused, total)
		}
		t.Logf("%s: %d of %d slices reused", prof.Name, reused, total)
	}
}
