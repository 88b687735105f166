package compiler

import (
	"slices"
	"strings"
	"testing"

	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/pipeline"
)

func TestFeaturesDeclareRealStages(t *testing.T) {
	names := map[string]bool{}
	for _, f := range features {
		if names[f.Name()] {
			t.Errorf("two features named %s", f.Name())
		}
		names[f.Name()] = true
		if len(f.Stages()) == 0 {
			t.Errorf("feature %s contributes to no stage", f.Name())
		}
		for _, s := range f.Stages() {
			if _, ok := pipeline.StageByName(s); !ok {
				t.Errorf("feature %s: unknown stage %q", f.Name(), s)
			}
		}
	}
}

// lldpGuard is a feature written for this test: it drops LLDP from every
// local VAP in port_security, above the port's own rules.
type lldpGuard struct{ stage string }

func (lldpGuard) Name() string          { return "lldp guard" }
func (lldpGuard) Stages() []string      { return []string{pipeline.PortSecurity} }
func (lldpGuard) NVE(*nveCtx, *emitter) {}
func (lldpGuard) VN(*vnCtx, *emitter)   {}
func (g lldpGuard) Port(c *portCtx, out *emitter) {
	if v := c.part.vap; v != nil {
		out.flow(flow.Flow{Table: g.stage, Priority: 150, Match: flow.M(inPort(v.ofp), ethType(0x88cc))})
	}
}

// testInput is VN blue on hv1 (two ports) and hv2 (one port); package
// scenario cannot be used here (it imports this package).
func testInput() Input {
	vn := &model.VN{Name: "blue", VNI: 100}
	vn.Defaults()
	nves := map[string]*model.NVE{}
	for i, n := range []string{"hv1", "hv2"} {
		nves[n] = &model.NVE{Name: n, Kind: model.NVEOVS, UnderlayIPs: []string{"198.18.0." + string(rune('1'+i))}}
	}
	ports := map[string]*model.Port{}
	for _, p := range []*model.Port{
		{Name: "a", VN: "blue", NVE: "hv1", Interface: "tap-a", MAC: "02:00:00:00:00:01", IPs: []string{"10.0.0.1"}},
		{Name: "b", VN: "blue", NVE: "hv1", Interface: "tap-b", MAC: "02:00:00:00:00:02", VLAN: 10},
		{Name: "c", VN: "blue", NVE: "hv2", Interface: "tap-c", MAC: "02:00:00:00:00:03", IPs: []string{"10.0.0.3"}},
	} {
		p.Parse()
		ports[p.Name] = p
	}
	return Input{
		Snapshot:      model.NewSnapshot(1, map[string]*model.VN{"blue": vn}, nves, ports),
		NVE:           "hv1",
		OFPorts:       map[string]uint32{"tap-a": 1, "tap-b": 2},
		Tunnels:       map[model.Encap]uint32{model.EncapVXLAN: 100},
		RemoteTunnels: map[RemoteTunnel]uint32{{NVE: "hv2", Encap: model.EncapVXLAN}: 1000},
	}
}

func compileText(t *testing.T, c *Cache, prof pipeline.Profile) (string, error) {
	t.Helper()
	r, err := c.Compile(testInput(), prof)
	if err != nil {
		return "", err
	}
	fs := append([]flow.Flow(nil), r.FlowList()...)
	flow.SortFlows(fs, prof.Order)
	s, err := flow.FormatFlows(fs, flow.TextOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s, nil
}

// TestAddingAFeature: a new feature is one more entry in the feature
// list; the others' output does not change, and its flows appear in the
// stage it declared, on every profile.
func TestAddingAFeature(t *testing.T) {
	for _, prof := range []pipeline.Profile{pipeline.OVS(), pipeline.Strict()} {
		base, err := compileText(t, NewCache(), prof)
		if err != nil {
			t.Fatal(err)
		}
		with, err := compileText(t, newCacheWith(append(slices.Clone(features), lldpGuard{pipeline.PortSecurity})), prof)
		if err != nil {
			t.Fatal(err)
		}
		var added []string
		for _, l := range strings.Split(with, "\n") {
			if !strings.Contains(base, l+"\n") {
				added = append(added, l)
			}
		}
		if len(added) != 2 || strings.Count(with, "\n")-strings.Count(base, "\n") != 2 {
			t.Fatalf("%s: adding the feature changed more than its 2 flows: %q", prof.Name, added)
		}
		for _, l := range added {
			if !strings.HasPrefix(l, "table=port_security,priority=150,") || !strings.Contains(l, "eth_type=0x88cc,actions=drop") {
				t.Errorf("%s: unexpected flow %s", prof.Name, l)
			}
		}
	}
}

// TestFeatureStaysInItsStages: a flow into a stage the feature did not
// declare is a compiler error naming the feature.
func TestFeatureStaysInItsStages(t *testing.T) {
	c := newCacheWith(append(slices.Clone(features), lldpGuard{pipeline.L2Forward}))
	_, err := compileText(t, c, pipeline.OVS())
	if err == nil || !strings.Contains(err.Error(), `feature lldp guard emitted a flow into stage "l2_forward"`) {
		t.Fatalf("error %v", err)
	}
}
