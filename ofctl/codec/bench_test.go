package codec

import "testing"

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
