package ofctl

import (
	"fmt"
	"math/rand"
	"sort"
	"testing"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/pipeline"
	"github.com/nva-project/nva/ofctl/codec"
	"github.com/nva-project/nva/ofctl/reconcile"
)

// planSummary renders a plan as sorted lines (operation, key, new
// actions), so two plans can be compared whatever their order.
func planSummary(p reconcile.Plan) []string {
	var out []string
	for _, f := range p.FlowAdds {
		out = append(out, fmt.Sprintf("add %v %v", flow.KeyOf(f), f.Actions))
	}
	for _, m := range p.FlowModifies {
		out = append(out, fmt.Sprintf("modify %v %v", flow.KeyOf(m.New), m.New.Actions))
	}
	for _, f := range p.FlowDeletes {
		out = append(out, fmt.Sprintf("delete %v", flow.KeyOf(f)))
	}
	for _, g := range p.GroupAdds {
		out = append(out, fmt.Sprintf("group-add %d %v", g.ID, g.Buckets))
	}
	for _, g := range p.GroupModifies {
		out = append(out, fmt.Sprintf("group-modify %d %v", g.New.ID, g.New.Buckets))
	}
	for _, g := range p.GroupDeletes {
		out = append(out, fmt.Sprintf("group-delete %d", g.ID))
	}
	sort.Strings(out)
	return out
}

// A reconciliation that diffs only the changed slices plans exactly what a
// full diff plans, over random changes (ports added, removed, re-addressed,
// moved to another VN on the same interface, moved to another NVE; a VN's
// VNI changed; a remote NVE's underlay changed), when the switch holds the last desired state.
func TestSliceDiffEqualsFullDiff(t *testing.T) {
	rng := rand.New(rand.NewSource(8))
	prof := pipeline.OVS()
	ofports := map[string]uint32{compiler.TunnelPortName(model.EncapVXLAN): 100, compiler.TunnelPortName(model.EncapGENEVE): 101}
	for i := 1; i <= 8; i++ {
		ofports[fmt.Sprintf("v%d", i)] = uint32(i)
	}
	snap := &model.Snapshot{Revision: 1, VNs: map[string]*model.VN{}, NVEs: map[string]*model.NVE{}}
	for i, name := range []string{"blue", "red", "green"} {
		encap := model.EncapVXLAN
		if i == 2 {
			encap = model.EncapGENEVE
		}
		snap.VNs[name] = &model.VN{Name: name, VNI: uint32(100 + i), Encap: encap, Service: model.ServiceL2,
			BUM: model.BUM{Mode: model.BUMReplicate}, Unknown: model.UnknownFlood, Revision: 1}
	}
	for i := 1; i <= 3; i++ {
		n := fmt.Sprintf("hv%d", i)
		snap.NVEs[n] = &model.NVE{Name: n, Kind: model.NVEOVS, UnderlayIPs: []string{fmt.Sprintf("198.18.0.%d", i)}, DatapathID: model.FormatDatapathID(uint64(i)), Revision: 1}
	}
	vnNames := []string{"blue", "red", "green"}
	portN := 0
	newPort := func(rev uint64) *model.Port {
		portN++
		nve := fmt.Sprintf("hv%d", 1+rng.Intn(3))
		return &model.Port{Name: fmt.Sprintf("p%d", portN), VN: vnNames[rng.Intn(3)], NVE: nve,
			Interface: fmt.Sprintf("v%d", 1+rng.Intn(8)), MAC: fmt.Sprintf("02:00:00:00:%02x:%02x", portN/256, portN%256),
			IPs: []string{fmt.Sprintf("192.0.2.%d", portN%250+1)}, Revision: rev}
	}
	for range 10 {
		p := newPort(1)
		snap.Ports = snap.Ports.With(p.Name, p)
	}

	cache := compiler.NewCache()
	w := &worker{}
	compile := func(s *model.Snapshot) compiler.Result {
		t.Helper()
		res, err := cache.Compile(compiler.Input{Snapshot: s, NVE: "hv1", OFPorts: ofports,
			Tunnels: map[model.Encap]uint32{model.EncapVXLAN: 100, model.EncapGENEVE: 101}}, prof)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	install := func(res compiler.Result) {
		w.installed = w.installed[:0]
		for _, f := range res.FlowList() {
			w.installed = append(w.installed, codec.Canonical(f))
		}
		w.installedGroups = append([]flow.GroupEntry(nil), res.Groups...)
		w.have, w.haveFor = true, "hv1"
		w.setSlices(res)
	}
	install(compile(snap))

	restricted := 0
	for step := range 120 {
		next := &model.Snapshot{Revision: snap.Revision + 1, VNs: map[string]*model.VN{}, NVEs: map[string]*model.NVE{}}
		for k, v := range snap.VNs {
			next.VNs[k] = v
		}
		for k, v := range snap.NVEs {
			next.NVEs[k] = v
		}
		for k, v := range snap.Ports.All() {
			next.Ports = next.Ports.With(k, v)
		}
		rev := next.Revision
		names := make([]string, 0, next.Ports.Len())
		for n := range next.Ports.All() {
			names = append(names, n)
		}
		sort.Strings(names)
		what := ""
		switch op := rng.Intn(8); {
		case op == 0 || len(names) == 0:
			p := newPort(rev)
			next.Ports = next.Ports.With(p.Name, p)
			what = "add " + p.Name
		case op == 1:
			next.Ports = next.Ports.Without(names[rng.Intn(len(names))])
			what = "remove"
		case op == 2:
			p := *next.Ports.Get(names[rng.Intn(len(names))])
			p.IPs, p.Revision = []string{fmt.Sprintf("203.0.113.%d", 1+rng.Intn(250))}, rev
			next.Ports = next.Ports.With(p.Name, &p)
			what = "re-address " + p.Name
		case op == 3:
			p := *next.Ports.Get(names[rng.Intn(len(names))])
			p.VN, p.Revision = vnNames[rng.Intn(3)], rev // same interface, maybe another VN
			next.Ports = next.Ports.With(p.Name, &p)
			what = "move " + p.Name + " to " + p.VN
		case op == 6:
			// Surely another VN (its key VN/port changes: the old part goes,
			// a new one comes, with flows that share keys across them).
			p := *next.Ports.Get(names[rng.Intn(len(names))])
			for p.VN == next.Ports.Get(p.Name).VN {
				p.VN = vnNames[rng.Intn(3)]
			}
			p.Revision = rev
			next.Ports = next.Ports.With(p.Name, &p)
			what = "move " + p.Name + " to another VN " + p.VN
		case op == 7:
			// Another NVE (local <-> remote) and, half the time, another VN.
			p := *next.Ports.Get(names[rng.Intn(len(names))])
			for old := p.NVE; p.NVE == old; {
				p.NVE = fmt.Sprintf("hv%d", 1+rng.Intn(3))
			}
			if rng.Intn(2) == 0 {
				p.VN = vnNames[rng.Intn(3)]
			}
			p.Revision = rev
			next.Ports = next.Ports.With(p.Name, &p)
			what = "move " + p.Name + " to " + p.NVE + " in " + p.VN
		case op == 4:
			vn := *next.VNs[vnNames[rng.Intn(3)]]
			vn.VNI, vn.Revision = uint32(1000+step), rev
			next.VNs[vn.Name] = &vn
			what = "renumber " + vn.Name
		default:
			n := *next.NVEs[fmt.Sprintf("hv%d", 2+rng.Intn(2))]
			n.UnderlayIPs, n.Revision = []string{fmt.Sprintf("198.19.0.%d", step+1)}, rev
			next.NVEs[n.Name] = &n
			what = "re-underlay " + n.Name
		}
		res := compile(next)
		full := planSummary(reconcile.Diff(res.FlowList(), w.installed, res.Groups, w.installedGroups))
		sd, ok := w.sliceDiff(res, "hv1")
		if !ok {
			t.Fatalf("step %d (%s): no slice diff although the switch holds the last sync", step, what)
		}
		got := planSummary(reconcile.Diff(sd.flows, sd.installed, sd.groups, sd.installedGroups))
		if fmt.Sprint(got) != fmt.Sprint(full) {
			t.Fatalf("step %d (%s): slice diff plans\n%v\nfull diff plans\n%v", step, what, got, full)
		}
		if len(sd.flows)+len(sd.installed) < res.NumFlows()+len(w.installed) {
			restricted++
		}
		install(res)
		snap = next
	}
	if restricted == 0 {
		t.Error("no step diffed less than everything")
	}
	t.Logf("%d of 120 steps diffed only part of the flows", restricted)

	// Unknown installed state (after a failed send) means a full diff.
	w.have = false
	if _, ok := w.sliceDiff(compile(snap), "hv1"); ok {
		t.Error("slice diff without a known installed state")
	}
}

// The published compile keeps the result's slices only (no flat copy of
// the flows), and the record of what the switch holds is that very array:
// the two cost one array per switch.
func TestRecordSharesPublishedSlices(t *testing.T) {
	snap := fleetSnap(10)
	prof := pipeline.OVS()
	ofports := map[string]uint32{compiler.TunnelPortName(model.EncapVXLAN): 100}
	for j := range 20 {
		ofports[fmt.Sprintf("v%d", j+1)] = uint32(j + 1)
	}
	w := &worker{}
	res, err := w.compilerCache().Compile(compiler.Input{Snapshot: snap, NVE: "hv0", OFPorts: ofports,
		Tunnels: map[model.Encap]uint32{model.EncapVXLAN: 100}}, prof)
	if err != nil {
		t.Fatal(err)
	}
	w.publish("hv0", res, portView{})
	if !w.setSlices(res) {
		t.Fatal("result without slices")
	}
	c := w.lastCompile("hv0")
	if c == nil || c.res.Groups != nil || c.res.Warnings != nil || len(c.res.Slices) != len(res.Slices) || c.res.NumFlows() != res.NumFlows() {
		t.Fatalf("published compile: %d flows, %d groups, %d slices", c.res.NumFlows(), len(c.res.Groups), len(c.res.Slices))
	}
	if &w.slices[0] != &c.res.Slices[0] {
		t.Fatal("the record and the published compile hold two arrays of slices")
	}
	if got := w.installedFlows(); len(got) != res.NumFlows() {
		t.Fatalf("the record says %d flows, the result has %d", len(got), res.NumFlows())
	}
}
