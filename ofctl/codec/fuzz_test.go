package codec

import "testing"

// FuzzDecodeFlowStatsEntry: any bytes a switch sends as a flow stats entry
// decode to a flow or an error, never a panic; what decodes re-encodes.
func FuzzDecodeFlowStatsEntry(f *testing.F) {
	for i, c := range allFlowCases() {
		fm, err := ovsCodec.EncodeFlowMod(withKey(c.f, i), tables, FlowAdd)
		if err != nil {
			f.Fatal(err)
		}
		b, err := fm.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(statsEntry(b, 1, 1))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fl, _, err := DecodeFlowStatsEntry(b, tableNames)
		if err != nil {
			return
		}
		// A decoded flow is canonical.
		if !Canonical(fl).Match.Equal(fl.Match) {
			t.Fatalf("decoded match not canonical: %#v", fl.Match)
		}
	})
}

// FuzzDecodeGroupDescEntry: same for group descriptions.
func FuzzDecodeGroupDescEntry(f *testing.F) {
	for _, c := range groupCases() {
		gm, err := ovsCodec.EncodeGroupMod(c.g, GroupAdd)
		if err != nil {
			f.Fatal(err)
		}
		b, err := gm.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		desc := append([]byte{0, 0, b[10], 0}, b[12:]...)
		desc[0], desc[1] = byte(len(desc)>>8), byte(len(desc))
		f.Add(desc)
	}
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = DecodeGroupDescEntry(b) })
}
