package flow

import (
	"net/netip"
	"testing"
)

func TestKeyCanonical(t *testing.T) {
	in := Exact(InPort, U32(3))
	md := Masked(Metadata, U64(0x64), U64(0xffffff))
	base := Flow{Table: "l2_forward", Priority: 100, Match: M(in, md)}
	same := map[string]Flow{
		"fields out of order":    {Table: "l2_forward", Priority: 100, Match: M(md, in)},
		"all-ones mask is exact": {Table: "l2_forward", Priority: 100, Match: M(Masked(InPort, U32(3), U32(0xffffffff)), md)},
		"bits outside the mask":  {Table: "l2_forward", Priority: 100, Match: M(in, Masked(Metadata, U64(0xff000064), U64(0xffffff)))},
		"zero mask matches all":  {Table: "l2_forward", Priority: 100, Match: M(in, md, Masked(EthDst, U64(0)[:6], U64(0)[:6]))},
		"other actions":          {Table: "l2_forward", Priority: 100, Match: M(in, md), Actions: []Action{Output{Port: 1}}},
	}
	k := KeyOf(base)
	for name, f := range same {
		if got := KeyOf(f); got != k {
			t.Errorf("%s: key %q, want %q", name, got.Match, k.Match)
		}
		if ID(f) != ID(base) {
			t.Errorf("%s: ID differs", name)
		}
	}
	differ := map[string]Flow{
		"table":           {Table: "classify", Priority: 100, Match: M(in, md)},
		"priority":        {Table: "l2_forward", Priority: 101, Match: M(in, md)},
		"value":           {Table: "l2_forward", Priority: 100, Match: M(Exact(InPort, U32(4)), md)},
		"mask":            {Table: "l2_forward", Priority: 100, Match: M(in, Masked(Metadata, U64(0x64), U64(0x1ffffff)))},
		"field":           {Table: "l2_forward", Priority: 100, Match: M(in)},
		"exact vs masked": {Table: "l2_forward", Priority: 100, Match: M(in, Exact(Metadata, U64(0x64)))},
		"ipv4 field": {Table: "l2_forward", Priority: 100, Match: M(in, md,
			Exact(EthType, U16(EthTypeIPv4)), Exact(IPv4Src, IP(netip.MustParseAddr("10.0.0.1"))))},
	}
	for name, f := range differ {
		if KeyOf(f) == k {
			t.Errorf("%s: same key as the base flow", name)
		}
	}
	// Compare: table name, then priority (highest first), then match.
	if k.Compare(KeyOf(differ["priority"])) <= 0 || k.Compare(KeyOf(differ["table"])) <= 0 || k.Compare(k) != 0 {
		t.Error("Compare order wrong")
	}
}

func BenchmarkKeyOf(b *testing.B) {
	f := Flow{Table: "port_security", Priority: 100, Match: M(Exact(InPort, U32(3)), Masked(Metadata, U64(0x64), U64(0xffffff)),
		Exact(EthSrc, []byte{2, 0, 0, 0, 0, 1}), Exact(EthType, U16(EthTypeIPv4)), Exact(IPv4Src, IP(netip.MustParseAddr("10.0.0.1"))))}
	b.Run("key", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			_ = KeyOf(f).ID()
		}
	})
	b.Run("text", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			_ = FormatMatch(f.Match)
		}
	})
}

// TestKeyIDsPinned: flow IDs (the cookies of installed flows) as nva
// computed them before matches were packed; a change would make a
// restarted nva take every installed flow for another.
func TestKeyIDsPinned(t *testing.T) {
	for _, c := range []struct {
		f  Flow
		id uint32
	}{
		{Flow{Table: "classify", Priority: 100, Match: M(Exact(InPort, U32(3)), Exact(VlanVID, U16(0)))}, 0x8cfd531f},
		{Flow{Table: "l2_forward", Priority: 200, Match: M(Masked(Metadata, U64(0x1234), U64(0xffffff)), Exact(EthDst, []byte{2, 0, 0, 0, 0, 1}))}, 0xe6812c93},
		{Flow{Table: "l3_policy", Priority: 900, Match: M(Exact(EthType, U16(EthTypeIPv6)),
			Masked(IPv6Src, IP(netip.MustParseAddr("fd00::")), IP(netip.MustParseAddr("ffff:ffff::"))), Masked(TCPDst, U16(0x40), U16(0xffc0)))}, 0x765acb75},
		{Flow{Table: "x", Priority: 1}, 0xc933fafa},
	} {
		k := KeyOf(c.f)
		if got := k.ID(); got != c.id {
			t.Errorf("%s: ID %#x, want %#x", c.f, got, c.id)
		}
		if id, h := k.IDHash64(); id != c.id || h != k.Hash64() {
			t.Errorf("%s: IDHash64 %#x %#x, want %#x %#x", c.f, id, h, c.id, k.Hash64())
		}
	}
}
