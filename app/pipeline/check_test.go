package pipeline

import (
	"slices"
	"strings"
	"testing"

	"github.com/nva-project/nva/app/flow"
)

func TestVIDPresent(t *testing.T) {
	if vidPresent != string(flow.U16(flow.VIDPresent)) {
		t.Fatalf("vidPresent %q", vidPresent)
	}
}

// TestPrereqFields: checkFlow skips prereq for the registry fields outside
// prereqFields, so exactly those must have no prerequisite.
func TestPrereqFields(t *testing.T) {
	var none knownFields
	for _, s := range flow.Specs() {
		o := flow.FieldOrder(s.Name)
		if o >= 64 {
			continue // checked by name
		}
		if got, want := prereq(s.Name, &none) != nil, prereqFields.hasOrder(o); got != want {
			t.Errorf("field %s: prerequisite %v, in prereqFields %v", s.Name, got, want)
		}
	}
}

// TestPrereqManyFields: a match with more fields needing a prerequisite
// than checkFlow notes on its first pass still has each one checked, in
// the match's (canonical) order.
func TestPrereqManyFields(t *testing.T) {
	c, err := NewChecker(OVS())
	if err != nil {
		t.Fatal(err)
	}
	table := OVS().Tables[0].Name
	for _, n := range []int{2, 9, 12} {
		fields := []flow.MatchField{
			flow.Exact(flow.ARPOp, flow.U16(1)), flow.Exact(flow.ARPSPA, []byte{10, 0, 0, 1}),
			flow.Exact(flow.ARPTPA, []byte{10, 0, 0, 2}), flow.Exact(flow.ARPSHA, []byte{2, 0, 0, 0, 0, 1}),
			flow.Exact(flow.ARPTHA, []byte{2, 0, 0, 0, 0, 2}), flow.Exact(flow.IPv4Src, []byte{10, 0, 0, 3}),
			flow.Exact(flow.IPv4Dst, []byte{10, 0, 0, 4}), flow.Exact(flow.IPProto, flow.U8(17)),
			flow.Exact(flow.UDPSrc, flow.U16(1)), flow.Exact(flow.UDPDst, flow.U16(2)),
			flow.Exact(flow.IPv6Src, make([]byte, 16)), flow.Exact(flow.IPv6Dst, make([]byte, 16)),
		}[:n]
		m := flow.M(fields...)
		var want []string
		for f := range m.Raw() { // canonical order
			want = append(want, "match "+f.Name+": ")
		}
		var got []string
		for _, e := range checkFlow(c, flow.Flow{Table: table, Match: m}, nil) {
			if s := e.Error(); strings.HasPrefix(s, "match ") && strings.Contains(s, ": needs ") {
				got = append(got, s[:strings.Index(s, ": needs ")+2])
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%d fields: prerequisite errors for %q, want %q", n, got, want)
		}
	}
}
