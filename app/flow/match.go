package flow

import (
	"fmt"
	"iter"
	"strings"
)

// MatchField is one field of a match: an exact value, or a value under a
// mask (Mask nil means exact). Value and Mask are big-endian, Spec.Bytes long.
// It is the unit callers build matches from (Exact, Masked, M) and read
// them as (Get, Fields, Slice).
type MatchField struct {
	Field string
	Value []byte
	Mask  []byte
}

// Exact builds an exact-match field.
func Exact(field string, value []byte) MatchField { return MatchField{Field: field, Value: value} }

// Masked builds a masked-match field.
func Masked(field string, value, mask []byte) MatchField {
	return MatchField{Field: field, Value: value, Mask: mask}
}

// Match is an immutable set of match fields in canonical order: fields
// sorted by FieldOrder (stable, so repeated fields keep their order),
// all-ones masks dropped (exact). Build it with M; the zero Match matches
// everything. Matches are comparable: equal canonical matches are ==, so a
// Match is a map key and Equal is ==.
//
// A Match is packed into one string (one allocation, none when empty):
// a header byte, then per field its registry position (or 0xff, the name's
// length and the name for a field outside the registry), a kind byte
// (kindExact, kindMasked: mask as long as the value, kindMaskedLen: mask
// length byte follows), the value's length, the value and the mask. The
// header says whether the rest is already the match's Key form (MatchKey),
// which the layout is chosen to coincide with.
type Match struct{ p string }

const (
	kindExact     = 0
	kindMasked    = 1
	kindMaskedLen = 2 // mask length differs from the value's (never built by nva)

	unknownField = 0xff

	// hdrKey: the packed fields are the match's MatchKey (no value bit
	// outside its mask, no all-zero mask, no kindMaskedLen field).
	hdrKey = 1
	// hdrUnknown: some field is outside the registry.
	hdrUnknown = 2
)

// M builds a canonical match from fields. Field values and masks are
// copied; fields is not retained. A value, mask or unregistered field name
// longer than 255 bytes is a programming error (registry fields are at
// most 16 bytes) and panics.
func M(fields ...MatchField) Match { return build(fields, false) }

// MNorm builds a match as a switch reports it: like M, and besides value
// bits outside a field's mask cleared and fields under an all-zero mask
// (wildcards) dropped. MNorm(fs...) == M(fs...).Norm().
func MNorm(fields ...MatchField) Match { return build(fields, true) }

func build(fields []MatchField, norm bool) Match {
	if len(fields) == 0 {
		return Match{}
	}
	var ordBuf, idxBuf [16]int
	ords, idx := ordBuf[:0], idxBuf[:0]
	if len(fields) > len(ordBuf) {
		ords, idx = make([]int, 0, len(fields)), make([]int, 0, len(fields))
	}
	n, hdr := 1, byte(hdrKey)
	for i := range fields {
		f := &fields[i]
		o, ok := fieldOrders[f.Field]
		if !ok {
			o = len(fieldSpecs)
			checkLen("field name", len(f.Field))
			n += 2 + len(f.Field)
			hdr |= hdrUnknown
		}
		checkLen("value", len(f.Value))
		ords = append(ords, o)
		n += 3 + len(f.Value)
		switch maskKind(f.Value, f.Mask) {
		case maskNone:
		case maskZero:
			if norm {
				ords[len(ords)-1] = -1 // dropped
				n -= 3 + len(f.Value)
				if !ok {
					n -= 2 + len(f.Field)
				}
				continue
			}
			hdr &^= hdrKey
			n += len(f.Mask)
		case maskSameLen:
			if !norm && outside(f.Value, f.Mask) {
				hdr &^= hdrKey
			}
			n += len(f.Mask)
		case maskOtherLen:
			checkLen("mask", len(f.Mask))
			hdr &^= hdrKey
			n += 1 + len(f.Mask)
		}
		idx = append(idx, i)
	}
	if len(idx) == 0 {
		return Match{}
	}
	// Insertion sort by field order (stable, a no-op on canonical input):
	// matches have a handful of fields.
	for i := 1; i < len(idx); i++ {
		for j := i; j > 0 && ords[idx[j-1]] > ords[idx[j]]; j-- {
			idx[j-1], idx[j] = idx[j], idx[j-1]
		}
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteByte(hdr)
	for _, i := range idx {
		if ords[i] < 0 {
			continue
		}
		f := &fields[i]
		if o := ords[i]; o < len(fieldSpecs) {
			b.WriteByte(byte(o))
		} else {
			b.WriteByte(unknownField)
			b.WriteByte(byte(len(f.Field)))
			b.WriteString(f.Field)
		}
		kind := maskKind(f.Value, f.Mask)
		switch kind {
		case maskNone:
			b.WriteByte(kindExact)
			b.WriteByte(byte(len(f.Value)))
			b.Write(f.Value)
			continue
		case maskOtherLen:
			b.WriteByte(kindMaskedLen)
			b.WriteByte(byte(len(f.Mask)))
		default:
			b.WriteByte(kindMasked)
		}
		b.WriteByte(byte(len(f.Value)))
		for j, v := range f.Value {
			if norm && j < len(f.Mask) {
				v &= f.Mask[j]
			}
			b.WriteByte(v)
		}
		b.Write(f.Mask)
	}
	return Match{b.String()}
}

func checkLen(what string, n int) {
	if n > 0xff {
		panic(fmt.Sprintf("flow: match %s of %d bytes (at most 255)", what, n))
	}
}

const (
	maskNone     = iota // exact: no mask, or an all-ones one
	maskZero            // all-zero mask (matches any value)
	maskSameLen         // a real mask as long as the value
	maskOtherLen        // a real mask of another length than the value
)

func maskKind(value, mask []byte) int {
	if mask == nil {
		return maskNone
	}
	zero, ones := true, true
	for _, x := range mask {
		zero = zero && x == 0
		ones = ones && x == 0xff
	}
	switch {
	case ones: // (an empty mask too)
		return maskNone
	case len(mask) != len(value):
		return maskOtherLen
	case zero:
		return maskZero
	}
	return maskSameLen
}

// outside reports whether value has a bit set outside mask.
func outside(value, mask []byte) bool {
	for j, v := range value {
		if j < len(mask) && v&^mask[j] != 0 {
			return true
		}
	}
	return false
}

// RawField is a read-only view of one field of a packed Match, without
// copying: Spec is nil for a field outside the registry. Mask is "" for an
// exact field. Order is the field's FieldOrder (read from the packed
// match, no lookup by name).
type RawField struct {
	Name        string
	Spec        *FieldSpec
	Value, Mask string
	Order       int
}

// next decodes the field at p[i:] and returns the index after it.
func (m Match) next(i int) (RawField, int) {
	p := m.p
	var f RawField
	if o := p[i]; o != unknownField {
		f.Spec = &fieldSpecs[o]
		f.Name = f.Spec.Name
		f.Order = int(o)
		i++
	} else {
		l := int(p[i+1])
		f.Name = p[i+2 : i+2+l]
		f.Order = len(fieldSpecs)
		i += 2 + l
	}
	kind := p[i]
	i++
	ml := -1
	if kind == kindMaskedLen {
		ml = int(p[i])
		i++
	}
	vl := int(p[i])
	i++
	f.Value = p[i : i+vl]
	i += vl
	switch kind {
	case kindMasked:
		ml = vl
	case kindExact:
		ml = 0
	}
	f.Mask = p[i : i+ml]
	return f, i + ml
}

// Raw iterates over the fields in canonical order without allocating.
func (m Match) Raw() iter.Seq[RawField] {
	return func(yield func(RawField) bool) {
		for i := 1; i < len(m.p); {
			var f RawField
			f, i = m.next(i)
			if !yield(f) {
				return
			}
		}
	}
}

// Fields iterates over the fields in canonical order. The values and
// masks yielded are the caller's (one copy of the match per iteration).
func (m Match) Fields() iter.Seq[MatchField] {
	return func(yield func(MatchField) bool) {
		if m.p == "" {
			return
		}
		buf := []byte(m.p)
		for i := 1; i < len(m.p); {
			var f RawField
			f, i = m.next(i)
			if !yield(fieldIn(f, buf, i)) {
				return
			}
		}
	}
}

// fieldIn turns raw field f, whose encoding ends at buf[end] (buf a copy
// of the packed bytes), into a MatchField whose slices point into buf.
func fieldIn(f RawField, buf []byte, end int) MatchField {
	// Value and mask are the last bytes of the field's encoding.
	me := end
	ms := me - len(f.Mask)
	ve := ms
	vs := ve - len(f.Value)
	mf := MatchField{Field: f.Name, Value: buf[vs:ve:ve]}
	if f.Mask != "" {
		mf.Mask = buf[ms:me:me]
	}
	return mf
}

// Slice returns the fields in canonical order (nil for the empty match);
// the caller owns them.
func (m Match) Slice() []MatchField {
	if m.p == "" {
		return nil
	}
	out := make([]MatchField, 0, m.Len())
	for f := range m.Fields() {
		out = append(out, f)
	}
	return out
}

// Len is the number of fields.
func (m Match) Len() int {
	n := 0
	for i := 1; i < len(m.p); n++ {
		_, i = m.next(i)
	}
	return n
}

// IsEmpty reports whether the match has no field (matches everything).
func (m Match) IsEmpty() bool { return m.p == "" }

// Get returns the match on field, if present (the first one if repeated);
// the returned value and mask are the caller's.
func (m Match) Get(field string) (MatchField, bool) {
	for i := 1; i < len(m.p); {
		var f RawField
		start := i
		f, i = m.next(i)
		if f.Name == field {
			return fieldIn(f, []byte(m.p[start:i]), i-start), true
		}
	}
	return MatchField{}, false
}

// Has reports whether the match has field.
func (m Match) Has(field string) bool {
	for i := 1; i < len(m.p); {
		var f RawField
		f, i = m.next(i)
		if f.Name == field {
			return true
		}
	}
	return false
}

// With returns the canonical match of m's fields plus fields.
func (m Match) With(fields ...MatchField) Match {
	if m.p == "" {
		return M(fields...)
	}
	if len(fields) == 0 {
		return m
	}
	return M(append(m.Slice(), fields...)...)
}

// Equal reports whether two matches are the same (m == o).
func (m Match) Equal(o Match) bool { return m == o }

// Norm returns the match as a switch reports it: value bits outside a
// field's mask cleared, fields under an all-zero mask dropped (see MNorm).
func (m Match) Norm() Match {
	if m.IsNorm() {
		return m
	}
	return MNorm(m.Slice()...)
}

// IsNorm reports whether m.Norm() == m.
func (m Match) IsNorm() bool { return m.p == "" || m.p[0]&hdrKey != 0 }

// String renders the match in ovs-ofctl syntax (FormatMatch).
func (m Match) String() string { return FormatMatch(m) }
