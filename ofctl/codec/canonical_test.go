package codec

import (
	"reflect"
	"testing"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/compiler/scenario"
	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/pipeline"
)

// copyCanonical is Canonical without the fast path: always a copy.
func copyCanonical(f flow.Flow) flow.Flow {
	f.Match = canonicalMatch(f.Match)
	f.Actions = canonicalActions(f.Actions)
	if f.MetadataMask == 0 {
		f.WriteMetadata = 0
	} else {
		f.WriteMetadata &= f.MetadataMask
	}
	return f
}

// Canonical returns a canonical flow as is (the compiler's flows are, and
// decoded ones): equal to the copy it would make, without allocating; any
// other flow is copied as before.
func TestCanonicalFastPath(t *testing.T) {
	var flows []flow.Flow
	for _, prof := range []pipeline.Profile{pipeline.OVS(), pipeline.Strict()} {
		for _, d := range []*scenario.Domain{scenario.OneVNOneNVE(), scenario.TwoVNsThreeNVEs(), scenario.PartialVN(), scenario.IPv6Ports()} {
			for _, nve := range d.NVENames() {
				res, err := compiler.Compile(d.Input(nve), prof)
				if err != nil {
					t.Fatal(err)
				}
				flows = append(flows, res.FlowList()...)
			}
		}
	}
	var fast []flow.Flow
	for _, f := range flows {
		want := copyCanonical(f)
		if got := Canonical(f); !reflect.DeepEqual(got, want) {
			t.Fatalf("Canonical(%s)\n got %#v\nwant %#v", f, got, want)
		}
		if isCanonicalMatch(f.Match) && isCanonicalActions(f.Actions) {
			fast = append(fast, f)
		}
	}
	if len(fast) < len(flows)*9/10 {
		t.Fatalf("only %d of %d compiled flows are canonical as they are", len(fast), len(flows))
	}
	if n := testing.AllocsPerRun(100, func() {
		for _, f := range fast {
			_ = Canonical(f)
		}
	}); n != 0 {
		t.Errorf("Canonical of canonical flows allocates %v times", n)
	}

	// Flows that are not canonical, each in one way.
	reg := flow.Masked(flow.Reg0, flow.U32(0xff), flow.U32(0xff))
	in := flow.Exact(flow.InPort, flow.U32(1))
	for i, f := range []flow.Flow{
		// (Field order, all-ones and empty masks, nil versus empty values:
		// flow.M makes every match canonical in those ways.)
		{Match: flow.M(in, flow.Masked(flow.Reg0, flow.U32(0xfff), flow.U32(0xff)))},
		{Match: flow.M(in, flow.Masked(flow.Reg0, flow.U32(0), flow.U32(0)))},
		{Actions: []flow.Action{}},
		{Actions: []flow.Action{flow.Output{Port: 3, MaxLen: 9}}},
		{Actions: []flow.Action{&flow.Output{Port: 3}}},
		{Actions: []flow.Action{flow.PushVLAN{}}},
		{Actions: []flow.Action{flow.SetField{Field: flow.EthDst, Value: []byte{}}}},
		{Actions: []flow.Action{&flow.DecTTL{}}},
	} {
		if isCanonicalMatch(f.Match) && isCanonicalActions(f.Actions) {
			t.Errorf("case %d taken as canonical: %#v", i, f)
		}
		if got, want := Canonical(f), copyCanonical(f); !reflect.DeepEqual(got, want) {
			t.Errorf("case %d: got %#v, want %#v", i, got, want)
		}
	}
	// And ones that are.
	for i, f := range []flow.Flow{
		{},
		{Match: flow.Match{}},
		{Match: flow.M(reg, in)},
		{Match: flow.M(in, flow.Masked(flow.Reg0, flow.U32(7), flow.U32(0xffffffff)))},
		{Match: flow.M(in, reg), Actions: []flow.Action{flow.Output{Port: flow.PortController, MaxLen: 64}, flow.SetField{Field: flow.EthDst, Value: []byte{2, 0, 0, 0, 0, 1}}, flow.PopVLAN{}}},
	} {
		if !isCanonicalMatch(f.Match) || !isCanonicalActions(f.Actions) {
			t.Errorf("canonical case %d not taken as canonical: %#v", i, f)
		}
		if got, want := Canonical(f), copyCanonical(f); !reflect.DeepEqual(got, want) {
			t.Errorf("canonical case %d: got %#v, want %#v", i, got, want)
		}
	}
}
