package pipeline_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/pipeline"
)

// realization renders a profile's tables as "number name [stages] -> gotos".
func realization(p pipeline.Profile) string {
	var b strings.Builder
	for _, t := range p.Tables {
		fmt.Fprintf(&b, "%d %s %v -> %v\n", t.Number, t.Name, t.Stages, t.Goto)
	}
	return b.String()
}

// TestRealizations pins both profiles' realization of the stages: the
// mapping is data (OVSTables, StrictTables), and this is what it must give.
func TestRealizations(t *testing.T) {
	for _, c := range []struct {
		prof pipeline.Profile
		want string
	}{
		{pipeline.OVS(), `0 classify [classify] -> [port_security l3_conntrack l2_forward l3gw_in l3gw_out]
10 port_security [port_security] -> [neighbor]
20 neighbor [neighbor] -> [nd_advert l3_conntrack l3_route l2_forward reply]
25 nd_advert [nd_advert] -> [reply]
27 l3_conntrack [l3_conntrack] -> [l3_policy l2_forward]
28 l3_policy [l3_policy] -> [l3_route]
29 l3_route [l3_route] -> [l3gw_out]
30 l2_forward [l2_forward] -> []
40 reply [reply] -> []
50 l3gw_in [l3gw_in] -> [l3gw_route]
51 l3gw_out [l3gw_out] -> [l3gw_egress]
52 l3gw_route [l3gw_route] -> []
53 l3gw_egress [l3gw_egress] -> []
`},
		{pipeline.Strict(), `0 classify [classify] -> [port_security l2_forward]
1 port_security [port_security] -> [neighbor]
2 neighbor [neighbor] -> [l2_forward]
3 l2_forward [l2_forward l3_route] -> []
`},
	} {
		if got := realization(c.prof); got != c.want {
			t.Errorf("profile %s realizes\n%swant\n%s", c.prof.Name, got, c.want)
		}
		if err := c.prof.Validate(); err != nil {
			t.Errorf("profile %s: %v", c.prof.Name, err)
		}
	}
}

func TestStrictProfile(t *testing.T) {
	p := pipeline.Strict()
	if p.Name != "openflow13" || p.Extensions || p.FlowTunnels || p.ARPInSwitch || p.NDInSwitch || p.Bundles {
		t.Fatalf("strict capabilities: %+v", p)
	}
	if len(p.Tables) > 4 {
		t.Errorf("%d tables, at most 4", len(p.Tables))
	}
	for i, tb := range p.Tables {
		if int(tb.Number) != i {
			t.Errorf("table %s is %d, want %d (default IDs 0..N-1)", tb.Name, tb.Number, i)
		}
		for _, list := range [][]string{tb.Match, tb.Set} {
			for _, f := range list {
				if s, _ := flow.Spec(f); s.Nicira || s.Class != flow.ClassOpenFlow13 {
					t.Errorf("table %s allows non-standard field %s", tb.Name, f)
				}
			}
		}
		if len(tb.Read) > 0 {
			t.Errorf("table %s allows move", tb.Name)
		}
	}
	for _, f := range p.Groups.Set {
		if s, _ := flow.Spec(f); s.Nicira {
			t.Errorf("buckets may set extension field %s", f)
		}
	}
	// Stages it cannot do are left out; Next from neighbor skips nothing,
	// and the responder's answer stages are not there.
	if p.Realizes(pipeline.Reply) || p.Realizes(pipeline.NDAdvert) || !p.Realizes(pipeline.PortSecurity) {
		t.Error("strict realizes the wrong stages")
	}
	if s, err := pipeline.ForName("openflow13"); err != nil || s.Name != p.Name {
		t.Errorf("ForName(openflow13): %v", err)
	}
}

func TestStagesDeclaredOnce(t *testing.T) {
	seen := map[string]bool{}
	for i, s := range pipeline.Stages() {
		if seen[s.Name] {
			t.Errorf("stage %s declared twice", s.Name)
		}
		seen[s.Name] = true
		for _, g := range append(slices.Clone(s.Goto), s.Next) {
			if g == "" {
				continue
			}
			j := slices.IndexFunc(pipeline.Stages(), func(o pipeline.Stage) bool { return o.Name == g })
			if j <= i {
				t.Errorf("stage %s goes to %s, which is not later in packet order", s.Name, g)
			}
		}
	}
}

// merged is the OVS profile with l2_forward and reply (parallel stages:
// neighbor goes to one or the other) sharing one table.
func merged() []pipeline.TableSpec {
	return []pipeline.TableSpec{
		{Name: pipeline.Classify, Number: 0, Stages: []string{pipeline.Classify}},
		{Name: pipeline.PortSecurity, Number: 1, Stages: []string{pipeline.PortSecurity}},
		{Name: pipeline.Neighbor, Number: 2, Stages: []string{pipeline.Neighbor}},
		{Name: pipeline.NDAdvert, Number: 3, Stages: []string{pipeline.NDAdvert}},
		{Name: "egress", Number: 4, Stages: []string{pipeline.L2Forward, pipeline.Reply}},
	}
}

// TestMergeRule: only parallel stages may share a table; a stage is
// realized at most once; classify comes first; in-switch answers need the
// stages that build them.
func TestMergeRule(t *testing.T) {
	base := pipeline.OVS()
	if _, err := pipeline.Realize(base, merged()); err != nil {
		t.Fatalf("parallel stages l2_forward+reply rejected: %v", err)
	}
	specs := func(edit func([]pipeline.TableSpec) []pipeline.TableSpec) []pipeline.TableSpec {
		return edit(merged())
	}
	for _, c := range []struct {
		name  string
		specs []pipeline.TableSpec
		want  string
	}{
		{"sequential stages share a table", specs(func(s []pipeline.TableSpec) []pipeline.TableSpec {
			s[2].Stages = []string{pipeline.Neighbor, pipeline.NDAdvert}
			return append(s[:3], s[4:]...)
		}), "stage neighbor goes to stage nd_advert in the same table"},
		{"stage realized twice", specs(func(s []pipeline.TableSpec) []pipeline.TableSpec {
			s[3].Stages = []string{pipeline.NDAdvert, pipeline.Classify}
			return s
		}), "stage classify realized twice"},
		{"unknown stage", specs(func(s []pipeline.TableSpec) []pipeline.TableSpec {
			s[4].Stages = append(s[4].Stages, "acl")
			return s
		}), `unknown stage "acl"`},
		{"classify not first", specs(func(s []pipeline.TableSpec) []pipeline.TableSpec {
			s[0].Number = 9
			return s
		}), "before classify's table"},
		{"answers without their stages", specs(func(s []pipeline.TableSpec) []pipeline.TableSpec {
			s[4].Stages = []string{pipeline.L2Forward}
			return s
		}), "ARP answers in the switch need"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := pipeline.Realize(base, c.specs)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}
	// A profile without the neighbor stage: port_security's next is
	// l2_forward (the Next chain skips what is left out).
	p, err := pipeline.Realize(pipeline.Profile{Name: "lean"}, []pipeline.TableSpec{
		{Name: "in", Number: 0, Stages: []string{pipeline.Classify}},
		{Name: "sec", Number: 1, Stages: []string{pipeline.PortSecurity}},
		{Name: "fwd", Number: 2, Stages: []string{pipeline.L2Forward}},
	})
	if err != nil {
		t.Fatal(err)
	}
	f := flow.Flow{Table: pipeline.PortSecurity, Priority: 1, Goto: pipeline.Next}
	if err := p.Realizer().Flow(&f); err != nil || f.Table != "sec" || f.Goto != "fwd" {
		t.Errorf("Next past a left-out stage: %v %s", err, f)
	}
	g := flow.Flow{Table: pipeline.Neighbor, Priority: 1}
	if err := p.Realizer().Flow(&g); err == nil {
		t.Error("flow into a left-out stage realized")
	}
}

// TestRealizerSharedTable: stages sharing a table are told apart by the
// metadata stage selector, matched by their flows and written by flows
// going to them; each has its own miss flow.
func TestRealizerSharedTable(t *testing.T) {
	p, err := pipeline.Realize(pipeline.OVS(), merged())
	if err != nil {
		t.Fatal(err)
	}
	r := p.Realizer()
	vn := flow.Masked(flow.Metadata, flow.U64(100), flow.U64(pipeline.MetaVN.Mask()))
	toReply := flow.Flow{Table: pipeline.Neighbor, Priority: 200, Match: flow.M(vn), Goto: pipeline.Reply}
	toFwd := flow.Flow{Table: pipeline.Neighbor, Priority: 1, Match: flow.M(vn), Goto: pipeline.Next}
	reply := flow.Flow{Table: pipeline.Reply, Priority: 100, Match: flow.M(flow.Exact(flow.InPort, flow.U32(1)), vn),
		Actions: []flow.Action{flow.Output{Port: flow.PortInPort}}}
	fwd := flow.Flow{Table: pipeline.L2Forward, Priority: 100, Match: flow.M(vn, flow.Exact(flow.EthDst, []byte{2, 0, 0, 0, 0, 1})),
		Actions: []flow.Action{flow.Output{Port: 1}}}
	for _, f := range []*flow.Flow{&toReply, &toFwd, &reply, &fwd} {
		if err := r.Flow(f); err != nil {
			t.Fatal(err)
		}
	}
	sel := pipeline.MetaStage
	if toReply.Goto != "egress" || toReply.MetadataMask != sel.Mask() || toReply.WriteMetadata != sel.Put(1) {
		t.Errorf("goto reply: %s", toReply)
	}
	if toFwd.Goto != "egress" || toFwd.MetadataMask != sel.Mask() || toFwd.WriteMetadata != sel.Put(0) {
		t.Errorf("goto next (l2_forward): %s", toFwd)
	}
	md, _ := reply.Match.Get(flow.Metadata)
	if reply.Table != "egress" || string(md.Value) != string(flow.U64(100|sel.Put(1))) || string(md.Mask) != string(flow.U64(pipeline.MetaVN.Mask()|sel.Mask())) {
		t.Errorf("reply flow: %s", reply)
	}
	md, _ = fwd.Match.Get(flow.Metadata)
	if string(md.Value) != string(flow.U64(100)) || string(md.Mask) != string(flow.U64(pipeline.MetaVN.Mask()|sel.Mask())) {
		t.Errorf("l2_forward flow: %s", fwd)
	}
	miss, err := r.MissFlows()
	if err != nil {
		t.Fatal(err)
	}
	var egress []string
	for _, f := range miss {
		if f.Table == "egress" {
			egress = append(egress, f.String())
		}
	}
	if len(miss) != 6 || len(egress) != 2 || egress[0] == egress[1] {
		t.Errorf("miss flows: %v", miss)
	}
	flows := append(miss, toReply, toFwd, reply, fwd)
	if err := pipeline.Check(p, flows, nil); err != nil {
		t.Errorf("realized flows break the merged profile's contract: %v", err)
	}
}

func TestWithTableIDs(t *testing.T) {
	p, err := pipeline.Strict().WithTableIDs(map[string]uint8{pipeline.Classify: 10, pipeline.PortSecurity: 20, pipeline.Neighbor: 30, pipeline.L2Forward: 50})
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := p.Number(pipeline.L2Forward); n != 50 {
		t.Errorf("l2_forward is %d", n)
	}
	if name, _ := p.NameOf(30); name != pipeline.Neighbor {
		t.Errorf("NameOf(30) = %s", name)
	}
	// Only some pinned: the others keep their numbers.
	if q, err := pipeline.OVS().WithTableIDs(map[string]uint8{pipeline.Reply: 35}); err != nil || q.Tables[slices.IndexFunc(q.Tables, func(t pipeline.Table) bool { return t.Name == pipeline.Reply })].Number != 35 {
		t.Errorf("pin reply: %v", err)
	}
	// Renumbering may reorder tables that do not reach each other.
	if q, err := pipeline.OVS().WithTableIDs(map[string]uint8{pipeline.Reply: 26}); err != nil || q.Order(pipeline.Reply) >= q.Order(pipeline.L2Forward) {
		t.Errorf("reply before l2_forward: %v", err)
	}
	for _, c := range []struct {
		ids  map[string]uint8
		want string
	}{
		{map[string]uint8{"acl": 5}, `unknown table "acl"`},
		{map[string]uint8{pipeline.Neighbor: 1}, "port_security and neighbor both have ID 1"},
		{map[string]uint8{pipeline.Neighbor: 9}, "neighbor=9 goes to l2_forward=3"},
		{map[string]uint8{pipeline.Classify: 255}, "classify=255"},
		{map[string]uint8{pipeline.Classify: 2, pipeline.Neighbor: 0, pipeline.PortSecurity: 1}, "classify=2 goes to port_security=1"},
	} {
		if _, err := pipeline.Strict().WithTableIDs(c.ids); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want %q", c.ids, err, c.want)
		}
	}
}

func TestForNVE(t *testing.T) {
	for _, c := range []struct {
		kind, override string
		ids            map[string]uint8
		want           string
		number         uint8
	}{
		{"ovs", "", nil, "ovs", 30},
		{"openflow", "", nil, "openflow13", 3},
		{"openflow", "ovs", nil, "ovs", 30},
		{"ovs", "openflow13", nil, "openflow13", 3},
		{"openflow", "", map[string]uint8{pipeline.L2Forward: 60}, "openflow13", 60},
	} {
		p, err := pipeline.ForNVE(c.kind, c.override, c.ids)
		if err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
		if n, _ := p.Number(pipeline.L2Forward); p.Name != c.want || n != c.number {
			t.Errorf("%+v: profile %s, l2_forward %d", c, p.Name, n)
		}
	}
	for _, c := range [][3]string{{"vtep", "", "NVE kind"}, {"ovs", "cisco", "unknown switch profile"}} {
		if _, err := pipeline.ForNVE(c[0], c[1], nil); err == nil || !strings.Contains(err.Error(), c[2]) {
			t.Errorf("%v: %v", c, err)
		}
	}
	if _, err := pipeline.ForNVE("openflow", "", map[string]uint8{"reply": 4}); err == nil || !strings.Contains(err.Error(), `unknown table "reply"`) {
		t.Errorf("table the profile lacks: %v", err)
	}
}

func TestMetaFields(t *testing.T) {
	var used uint64
	for _, f := range pipeline.MetaFields() {
		if used&f.Mask() != 0 {
			t.Errorf("metadata field %s overlaps another", f.Name)
		}
		used |= f.Mask()
		if f.Get(f.Put(1)) != 1 || f.Get(^uint64(0)) != 1<<f.Bits-1 {
			t.Errorf("field %s: put/get", f.Name)
		}
	}
	if pipeline.MetaContext != 0x1ffffff {
		t.Errorf("classify's metadata mask changed: %#x", pipeline.MetaContext)
	}
	md := uint64(0x64) | pipeline.MetaStage.Put(3)
	if pipeline.VNIFromMetadata(md) != 100 || pipeline.FromTunnelMetadata(md) || !pipeline.FromTunnelMetadata(md|pipeline.MetaFromTunnel.Mask()) {
		t.Error("metadata getters")
	}
}
