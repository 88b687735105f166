package ofctl

import (
	"encoding/binary"
	"log/slog"
	"slices"
	"testing"

	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/pipeline"
	"github.com/nva-project/nva/ofctl/codec"
)

// groupDescEntry is the ofp_group_desc entry a switch that keeps nva's
// bytes reports for group g.
func groupDescEntry(t *testing.T, g flow.GroupEntry, prof pipeline.Profile) []byte {
	t.Helper()
	m, err := codec.New(codec.Options{AllowNicira: prof.Extensions}).AppendGroupMod(nil, g, codec.GroupAdd)
	if err != nil {
		t.Fatal(err)
	}
	e := make([]byte, 8, 8+len(m)-16)
	e[2] = m[10]
	binary.BigEndian.PutUint32(e[4:8], g.ID)
	e = append(e, m[16:]...)
	binary.BigEndian.PutUint16(e[0:2], uint16(len(e)))
	return e
}

// Groups reported with the bytes nva encodes are the wanted groups
// without being decoded, and a report of exactly the wanted groups
// diffs to nothing without a diff; every other entry is decoded and
// diffed as before: one encoded another way but equal (a bucket weight an
// ALL group ignores), one that really differs, a foreign group, a wanted
// group missing, a wanted ID twice.
func TestByteVerifyGroups(t *testing.T) {
	res, raw := fleetSwitch(t, fleetSnap(20), "hv0", nil)
	prof := pipeline.OVS()
	if len(res.Groups) < 3 {
		t.Fatalf("%d groups", len(res.Groups))
	}
	s := New(Config{Logger: slog.New(slog.DiscardHandler)})
	want := wantedResult(res)
	verify := func(entries [][]byte, wantGroups []flow.GroupEntry) verified {
		t.Helper()
		r := rawInstalled{flows: raw.flows, groups: entries}
		v := s.verifyInstalled(r, s.entrySums(r), want, wantGroups, prof)
		if !v.same {
			t.Fatal("the flows are not recognised")
		}
		return v
	}

	// Exactly the wanted groups, in any order.
	entries := slices.Clone(raw.groups)
	slices.Reverse(entries)
	v := verify(entries, res.Groups)
	if !v.groupsSame {
		t.Fatal("the wanted groups, as nva encodes them, are not recognised")
	}
	if p := s.diffVerified(want, res.Groups, v); !p.Empty() || p.Unchanged != want.n || want.n == 0 {
		t.Fatalf("plan %s (unchanged %d), want empty (%d unchanged)", p, p.Unchanged, want.n)
	}
	if len(v.groups) != len(res.Groups) {
		t.Fatalf("%d groups held, want %d", len(v.groups), len(res.Groups))
	}

	byID := map[uint32][]byte{}
	for _, e := range raw.groups {
		byID[groupDescID(e)] = e
	}
	g0, g1, g2 := res.Groups[0], res.Groups[1], res.Groups[2]
	if g0.Type != flow.GroupAll || len(g0.Buckets) == 0 {
		t.Fatalf("group %d: type %d, %d buckets; want an ALL group with buckets", g0.ID, g0.Type, len(g0.Buckets))
	}
	// g0 encoded another way: the first bucket's weight set (ignored by
	// an ALL group). g1 really differs: its last bucket dropped. g2 is
	// missing. A foreign group is there.
	other := slices.Clone(byID[g0.ID])
	binary.BigEndian.PutUint16(other[8+2:], 7)
	short := g1
	short.Buckets = g1.Buckets[:len(g1.Buckets)-1]
	foreign := flow.GroupEntry{ID: 0x7f000000, Type: flow.GroupAll, Buckets: []flow.Bucket{{Actions: []flow.Action{flow.Output{Port: 1}}}}}
	if ownsGroup(foreign.ID) {
		t.Fatalf("group %#x is nva's", foreign.ID)
	}
	entries = [][]byte{other, groupDescEntry(t, short, prof), groupDescEntry(t, foreign, prof)}
	for _, g := range res.Groups[3:] {
		entries = append(entries, byID[g.ID])
	}
	v = verify(entries, res.Groups)
	if v.groupsSame {
		t.Fatal("a report with other groups is taken as the wanted one")
	}
	p := s.diffVerified(want, res.Groups, v)
	if len(p.GroupModifies) != 1 || p.GroupModifies[0].New.ID != g1.ID {
		t.Fatalf("group modifies %v, want only group %d's", p.GroupModifies, g1.ID)
	}
	if len(p.GroupAdds) != 1 || p.GroupAdds[0].ID != g2.ID {
		t.Fatalf("group adds %v, want only group %d", p.GroupAdds, g2.ID)
	}
	if len(p.GroupDeletes) != 0 {
		t.Fatalf("group deletes %v, want none (the foreign group is left alone)", p.GroupDeletes)
	}
	if len(v.groups) != len(entries) {
		t.Fatalf("%d groups held, want the %d reported", len(v.groups), len(entries))
	}

	// A wanted ID twice is never "the wanted groups": the diff reports
	// the conflict.
	dup := append(slices.Clone(res.Groups), g0)
	v = verify(raw.groups, dup)
	if v.groupsSame {
		t.Fatal("wanted groups with an ID twice are taken as held")
	}
	if p := s.diffVerified(want, dup, v); len(p.Conflicts) != 1 {
		t.Fatalf("conflicts %v, want one", p.Conflicts)
	}
}
