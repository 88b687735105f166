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

// MatchKey is the binary canonical form of a match (Key.Match): for each
// field, in canonical order, its registry position (or 0xff, the name's
// length and the name), 0 and the value for an exact field, or 1, the value
// (masked) and the mask for a masked one; fields under an all-zero mask
// are left out. For a match as a switch reports it (Match.IsNorm, which
// every match nva compiles is) it is the packed match itself, no copy.
func MatchKey(m Match) string {
	if m.IsNorm() {
		if m.p == "" {
			return ""
		}
		return m.p[1:]
	}
	var b strings.Builder
	b.Grow(len(m.p))
	for f := range m.Raw() {
		mask := f.Mask
		if mask != "" && allZero(mask) {
			continue // matches everything: no field
		}
		if f.Spec != nil {
			b.WriteByte(byte(f.Order))
		} else {
			b.WriteByte(unknownField)
			b.WriteByte(byte(len(f.Name)))
			b.WriteString(f.Name)
		}
		if mask == "" {
			b.WriteByte(0)
			b.WriteByte(byte(len(f.Value)))
			b.WriteString(f.Value)
			continue
		}
		b.WriteByte(1)
		b.WriteByte(byte(len(f.Value)))
		for j := 0; j < len(f.Value); j++ {
			v := f.Value[j]
			if j < len(mask) {
				v &= mask[j]
			}
			b.WriteByte(v)
		}
		b.WriteString(mask)
	}
	return b.String()
}

func allZero(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != 0 {
			return false
		}
	}
	return true
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

// IDHash64 is (k.ID(), k.Hash64()) in one pass over the key (the two
// hash chains run side by side).
func (k Key) IDHash64() (uint32, uint64) {
	const offset32, prime32 = 2166136261, 16777619
	const offset64, prime64 = 14695981039346656037, 1099511628211
	h32, h64 := uint32(offset32), uint64(offset64)
	for i := 0; i < len(k.Table); i++ {
		c := k.Table[i]
		h32 = (h32 ^ uint32(c)) * prime32
		h64 = (h64 ^ uint64(c)) * prime64
	}
	hi, lo := byte(k.Priority>>8), byte(k.Priority)
	h32 = (h32 ^ 0) * prime32
	h64 = (h64 ^ 0xff) * prime64
	h32 = (h32 ^ uint32(hi)) * prime32
	h64 = (h64 ^ uint64(hi)) * prime64
	h32 = (h32 ^ uint32(lo)) * prime32
	h64 = (h64 ^ uint64(lo)) * prime64
	for i := 0; i < len(k.Match); i++ {
		c := k.Match[i]
		h32 = (h32 ^ uint32(c)) * prime32
		h64 = (h64 ^ uint64(c)) * prime64
	}
	return h32, h64
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
