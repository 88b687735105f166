package flow

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
)

// legacyMatchKey is MatchKey as it was computed from a []MatchField before
// matches were packed; Key.Match (and so every cookie's flow ID) must not
// change, or a restarted nva would see every installed flow as foreign.
func legacyMatchKey(m []MatchField) string {
	idx := make([]int, len(m))
	ords := make([]int, len(m))
	for i := range m {
		idx[i] = i
		o, ok := fieldOrders[m[i].Field]
		if !ok {
			o = len(fieldSpecs)
		}
		ords[i] = o
	}
	slices.SortStableFunc(idx, func(a, b int) int { return ords[a] - ords[b] })
	var b []byte
	for _, i := range idx {
		f := &m[i]
		mask := f.Mask
		if mask != nil {
			zero, ones := true, true
			for _, x := range mask {
				zero = zero && x == 0
				ones = ones && x == 0xff
			}
			if zero {
				continue
			}
			if ones {
				mask = nil
			}
		}
		if o := ords[i]; o < len(fieldSpecs) {
			b = append(b, byte(o))
		} else {
			b = append(b, 0xff, byte(len(f.Field)))
			b = append(b, f.Field...)
		}
		if mask == nil {
			b = append(b, 0, byte(len(f.Value)))
			b = append(b, f.Value...)
			continue
		}
		b = append(b, 1, byte(len(f.Value)))
		for j, v := range f.Value {
			if j < len(mask) {
				v &= mask[j]
			}
			b = append(b, v)
		}
		b = append(b, mask...)
	}
	return string(b)
}

// randomFields draws fields from the registry (and an unknown one), with
// exact, masked, all-ones, all-zero and bits-outside-the-mask values.
func randomFields(r *rand.Rand) []MatchField {
	specs := Specs()
	n := r.IntN(7)
	out := make([]MatchField, 0, n)
	for range n {
		var name string
		width := 4
		if r.IntN(20) == 0 {
			name = "x_unknown"
		} else {
			s := specs[r.IntN(len(specs))]
			name, width = s.Name, s.Bytes
		}
		v := make([]byte, width)
		for i := range v {
			v[i] = byte(r.IntN(256))
		}
		f := MatchField{Field: name, Value: v}
		switch r.IntN(6) {
		case 1:
			f.Mask = bytes.Repeat([]byte{0xff}, width)
		case 2:
			f.Mask = make([]byte, width)
		case 3, 4:
			f.Mask = make([]byte, width)
			for i := range f.Mask {
				f.Mask[i] = byte(r.IntN(256))
			}
			if r.IntN(2) == 0 { // no bit outside the mask
				for i := range v {
					v[i] &= f.Mask[i]
				}
			}
		case 5: // a mask of another width (an invalid field, still kept)
			if r.IntN(3) == 0 {
				f.Mask = make([]byte, 1+r.IntN(2*width))
				for i := range f.Mask {
					f.Mask[i] = byte(r.IntN(256))
				}
			}
		}
		out = append(out, f)
	}
	return out
}

// legacyCanonical is the old Canonicalize: all-ones masks dropped, a
// stable sort by field order.
func legacyCanonical(in []MatchField) []MatchField {
	m := make([]MatchField, len(in))
	copy(m, in)
	for i := range m {
		if m[i].Mask != nil && allOnesBytes(m[i].Mask) {
			m[i].Mask = nil
		}
	}
	slices.SortStableFunc(m, func(a, b MatchField) int { return FieldOrder(a.Field) - FieldOrder(b.Field) })
	return m
}

func allOnesBytes(b []byte) bool {
	for _, x := range b {
		if x != 0xff {
			return false
		}
	}
	return true
}

func sameFields(a, b []MatchField) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Field != b[i].Field || !bytes.Equal(a[i].Value, b[i].Value) ||
			(a[i].Mask == nil) != (b[i].Mask == nil) || !bytes.Equal(a[i].Mask, b[i].Mask) {
			return false
		}
	}
	return true
}

func TestMatchPackedAgainstLegacy(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 20000 {
		fs := randomFields(r)
		m := M(fs...)
		if got, want := MatchKey(m), legacyMatchKey(fs); got != want {
			t.Fatalf("case %d %v: MatchKey %x, legacy %x", i, fs, got, want)
		}
		want := legacyCanonical(fs)
		if got := m.Slice(); !sameFields(got, want) {
			t.Fatalf("case %d: fields %v, want %v", i, got, want)
		}
		if m.Len() != len(want) || m.IsEmpty() != (len(want) == 0) {
			t.Fatalf("case %d: Len %d IsEmpty %v, want %d fields", i, m.Len(), m.IsEmpty(), len(want))
		}
		// Built again from its own fields, in any order: the same match.
		back := m.Slice()
		r.Shuffle(len(back), func(a, b int) { back[a], back[b] = back[b], back[a] })
		if dup := hasDup(back); !dup && M(back...) != m {
			t.Fatalf("case %d: rebuilt match differs", i)
		}
		// Norm: bits outside masks cleared, zero masks dropped; its key
		// is the same and is the packed form itself.
		n := m.Norm()
		odd := slices.ContainsFunc(want, func(f MatchField) bool { return f.Mask != nil && len(f.Mask) != len(f.Value) })
		if (!odd && !n.IsNorm()) || MatchKey(n) != MatchKey(m) || MNorm(fs...) != n {
			t.Fatalf("case %d: Norm %x (IsNorm %v), MNorm %x", i, n.p, n.IsNorm(), MNorm(fs...).p)
		}
		if !odd && m.IsNorm() != (n == m) {
			t.Fatalf("case %d: IsNorm %v but Norm changed it: %v", i, m.IsNorm(), n != m)
		}
		for _, f := range want {
			g, ok := m.Get(f.Field)
			if !ok || !m.Has(f.Field) {
				t.Fatalf("case %d: Get(%s) missing", i, f.Field)
			}
			if first := want[slices.IndexFunc(want, func(x MatchField) bool { return x.Field == f.Field })]; !sameFields([]MatchField{g}, []MatchField{first}) {
				t.Fatalf("case %d: Get(%s) = %v, want %v", i, f.Field, g, first)
			}
		}
	}
}

func hasDup(fs []MatchField) bool {
	seen := map[string]bool{}
	for _, f := range fs {
		if seen[f.Field] {
			return true
		}
		seen[f.Field] = true
	}
	return false
}

func TestMatchValueSemantics(t *testing.T) {
	v := U32(7)
	m := M(Exact(InPort, v), Masked(Metadata, U64(0x64), U64(0xff)))
	v[3] = 9 // M copied the value
	if g, _ := m.Get(InPort); !bytes.Equal(g.Value, U32(7)) {
		t.Fatalf("match changed with its input: %v", g.Value)
	}
	g, _ := m.Get(InPort)
	g.Value[3] = 1 // Get's value is the caller's
	for f := range m.Fields() {
		f.Value[0] = 0xee // so are Fields'
	}
	if FormatMatch(m) != "in_port=7,metadata=0x64/0xff" {
		t.Fatalf("match changed through an accessor: %s", FormatMatch(m))
	}
	if (Match{}) != M() || !M().IsEmpty() || M().Len() != 0 || M().Slice() != nil || MatchKey(M()) != "" {
		t.Fatal("empty match is not the zero Match")
	}
	if MNorm(Masked(EthDst, make([]byte, 6), make([]byte, 6))) != (Match{}) {
		t.Fatal("a lone wildcard field does not normalize to the empty match")
	}
	w := m.With(Exact(EthType, U16(EthTypeIPv4)))
	if w != M(Exact(EthType, U16(EthTypeIPv4)), Exact(InPort, U32(7)), Masked(Metadata, U64(0x64), U64(0xff))) || !w.Has(EthType) || m.Has(EthType) {
		t.Fatalf("With: %v", w)
	}
	// Comparable: a map key.
	set := map[Match]int{m: 1}
	if set[M(Masked(Metadata, U64(0x64), U64(0xff)), Exact(InPort, U32(7)))] != 1 {
		t.Fatal("equal matches are different map keys")
	}
	var raw []string
	for f := range m.Raw() {
		raw = append(raw, f.Name)
		if f.Spec == nil || f.Spec.Name != f.Name {
			t.Fatalf("raw field %s without its spec", f.Name)
		}
	}
	if !slices.Equal(raw, []string{InPort, Metadata}) {
		t.Fatalf("Raw order %v", raw)
	}
}

func TestMatchTooLongPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("a 256-byte value did not panic")
		}
	}()
	M(Exact("x_long", make([]byte, 256)))
}

func TestMatchAllocs(t *testing.T) {
	fs := []MatchField{Exact(InPort, U32(3)), Masked(Metadata, U64(0x64), U64(0xffffff)),
		Exact(EthSrc, []byte{2, 0, 0, 0, 0, 1}), Exact(EthType, U16(EthTypeIPv4)), Exact(IPv4Src, IP(netip.MustParseAddr("10.0.0.1")))}
	var m Match
	if n := testing.AllocsPerRun(100, func() { m = M(fs...) }); n != 1 {
		t.Errorf("M: %v allocations, want 1", n)
	}
	if n := testing.AllocsPerRun(100, func() { _ = MatchKey(m) }); n != 0 {
		t.Errorf("MatchKey: %v allocations, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() {
		for f := range m.Raw() {
			_ = f
		}
	}); n != 0 {
		t.Errorf("Raw: %v allocations, want 0", n)
	}
}

func BenchmarkMatch(b *testing.B) {
	fs := []MatchField{Exact(InPort, U32(3)), Masked(Metadata, U64(0x64), U64(0xffffff)),
		Exact(EthSrc, []byte{2, 0, 0, 0, 0, 1}), Exact(EthType, U16(EthTypeIPv4))}
	m := M(fs...)
	b.Run("M", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			m = M(fs...)
		}
	})
	b.Run("Get", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			_, _ = m.Get(EthType)
		}
	})
	b.Run("Fields", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			for f := range m.Fields() {
				_ = f
			}
		}
	})
}

// TestRawOrder: a raw field's Order is its FieldOrder, for registry fields
// and others.
func TestRawOrder(t *testing.T) {
	m := M(Exact(EthType, U16(EthTypeIPv4)), Exact(InPort, U32(3)), Exact("x_unknown", []byte{1}),
		Masked(IPv4Dst, []byte{10, 0, 0, 0}, []byte{255, 0, 0, 0}))
	n := 0
	for f := range m.Raw() {
		n++
		if f.Order != FieldOrder(f.Name) {
			t.Errorf("field %s: Order %d, FieldOrder %d", f.Name, f.Order, FieldOrder(f.Name))
		}
	}
	if n != 4 {
		t.Fatalf("%d fields, want 4", n)
	}
}
