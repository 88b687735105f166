package codec

import (
	"testing"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/pipeline"
)

// BenchmarkEncodeDecodeFlow: encode, marshal and decode one ARP-responder
// flow (the largest shape the compiler emits).
func BenchmarkEncodeDecodeFlow(b *testing.B) {
	var f = withKey(actionCases()[10].f, 1)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		fm, err := ovsCodec.EncodeFlowMod(f, tables, FlowAdd)
		if err != nil {
			b.Fatal(err)
		}
		raw, err := fm.MarshalBinary()
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := DecodeFlowModBytes(raw, tableNames); err != nil {
			b.Fatal(err)
		}
	}
}

// compiledFlows is every flow and group the compiler emits for the
// golden scenarios under the OVS profile (a realistic mix of shapes).
func compiledFlows(b *testing.B) ([]flow.Flow, []flow.GroupEntry, pipeline.Profile) {
	prof := pipeline.OVS()
	var flows []flow.Flow
	var groups []flow.GroupEntry
	eachGoldenResult(b, prof, func(_, _ string, res compiler.Result) {
		flows = append(flows, res.FlowList()...)
		groups = append(groups, res.Groups...)
	})
	return flows, groups, prof
}

// BenchmarkFlowMod: one FLOW_MOD (add) of a compiled flow to wire bytes,
// cycling through every compiled flow of the golden scenarios: through
// libOpenflow (EncodeFlowMod, MarshalBinary) and directly (AppendFlowMod
// into a reused buffer).
func BenchmarkFlowMod(b *testing.B) {
	flows, _, prof := compiledFlows(b)
	c := New(Options{AllowNicira: prof.Extensions})
	b.Run("libopenflow", func(b *testing.B) {
		b.ReportAllocs()
		for i := range b.N {
			fm, err := c.EncodeFlowMod(flows[i%len(flows)], prof.Number, FlowAdd)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := fm.MarshalBinary(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for i := range b.N {
			var err error
			if buf, err = c.AppendFlowMod(buf[:0], flows[i%len(flows)], prof.Number, FlowAdd); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkGroupMod is BenchmarkFlowMod for the compiled groups.
func BenchmarkGroupMod(b *testing.B) {
	_, groups, prof := compiledFlows(b)
	c := New(Options{AllowNicira: prof.Extensions})
	b.Run("libopenflow", func(b *testing.B) {
		b.ReportAllocs()
		for i := range b.N {
			gm, err := c.EncodeGroupMod(groups[i%len(groups)], GroupAdd)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := gm.MarshalBinary(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for i := range b.N {
			var err error
			if buf, err = c.AppendGroupMod(buf[:0], groups[i%len(groups)], GroupAdd); err != nil {
				b.Fatal(err)
			}
		}
	})
}
