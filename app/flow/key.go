package flow

import (
	"encoding/binary"
	"strings"
)

// Key is a flow's OpenFlow identity: its table, priority and canonical
// match. Two flows a switch treats as the same entry (same table, priority
// and match, however the match was built or decoded) have equal Keys, so a
// Key is a map key for desired and installed flows alike. It is computed
// from the match's bytes, never from its text.
type Key struct {
	Table    string
	Priority uint16
	// Match is the canonical match in binary form: for each field, in
	// canonical field order, its registry position, its value (masked)
	// and, for a masked field, its mask. Compare Keys, never parse this.
	Match string
}

// KeyOf returns f's Key. The match is canonicalized on the way (fields in
// canonical order, value bits outside the mask cleared, all-ones masks
// taken as exact, all-zero masks dropped), as a switch does.
func KeyOf(f Flow) Key {
	return Key{Table: f.Table, Priority: f.Priority, Match: MatchKey(f.Match)}
}

// MatchKey is the binary canonical form of a match (Key.Match).
func MatchKey(m Match) string {
	var ordBuf, idxBuf [12]int
	ords, idx := ordBuf[:0], idxBuf[:0]
	if len(m) > len(ordBuf) {
		ords, idx = make([]int, 0, len(m)), make([]int, 0, len(m))
	}
	n := 0
	for i := range m {
		o, ok := fieldOrders[m[i].Field]
		if !ok {
			o = len(fieldSpecs)
			n += 2 + len(m[i].Field)
		}
		ords = append(ords, o)
		idx = append(idx, i)
		n += 3 + len(m[i].Value) + len(m[i].Mask)
	}
	// Insertion sort by field order (a no-op on canonical matches):
	// matches have a handful of fields.
	for i := 1; i < len(idx); i++ {
		for j := i; j > 0 && ords[idx[j-1]] > ords[idx[j]]; j-- {
			idx[j-1], idx[j] = idx[j], idx[j-1]
		}
	}
	var stack [160]byte
	b := stack[:0]
	if n > len(stack) {
		b = make([]byte, 0, n)
	}
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
				continue // matches everything: no field
			}
			if ones {
				mask = nil // exact
			}
		}
		if o := ords[i]; o < len(fieldSpecs) {
			b = append(b, byte(o))
		} else {
			// Not in the registry: named, so unknown fields still compare.
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

// ID is the Key's 32-bit identity hash (FNV-1a over the table name, the
// priority and the binary match), the flow-ID part of nva's cookies.
func (k Key) ID() uint32 {
	const offset, prime = 2166136261, 16777619
	h := uint32(offset)
	for i := 0; i < len(k.Table); i++ {
		h = (h ^ uint32(k.Table[i])) * prime
	}
	var p [3]byte
	binary.BigEndian.PutUint16(p[1:], k.Priority)
	for _, c := range p {
		h = (h ^ uint32(c)) * prime
	}
	for i := 0; i < len(k.Match); i++ {
		h = (h ^ uint32(k.Match[i])) * prime
	}
	return h
}

// Hash64 is a 64-bit FNV-1a hash of the Key, for indexes of many keys:
// equal Keys have equal hashes.
func (k Key) Hash64() uint64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	for i := 0; i < len(k.Table); i++ {
		h = (h ^ uint64(k.Table[i])) * prime
	}
	h = (h ^ 0xff) * prime
	h = (h ^ uint64(k.Priority>>8)) * prime
	h = (h ^ uint64(k.Priority&0xff)) * prime
	for i := 0; i < len(k.Match); i++ {
		h = (h ^ uint64(k.Match[i])) * prime
	}
	return h
}

// Compare orders Keys by table name, priority (highest first), then
// binary match: a total order for deterministic output.
func (k Key) Compare(o Key) int {
	if c := strings.Compare(k.Table, o.Table); c != 0 {
		return c
	}
	if k.Priority != o.Priority {
		if k.Priority > o.Priority {
			return -1
		}
		return 1
	}
	return strings.Compare(k.Match, o.Match)
}
