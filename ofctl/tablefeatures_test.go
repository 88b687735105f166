package ofctl

import (
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/nva-project/nva/app/pipeline"
)

// Switches that send the same table-features answer share one parsed
// copy, whose tables share one match list when they match the same
// fields; the copy goes when no switch refers to it any more.
func TestTableFeaturesShared(t *testing.T) {
	var c featuresCache
	body := slices.Concat(ovsLikeFeatures()...)
	a, err := c.parsed(body)
	if err != nil || a == nil {
		t.Fatalf("parsed: %v %v", a, err)
	}
	b, err := c.parsed(slices.Clone(body))
	if err != nil || b != a {
		t.Fatalf("the same answer parsed twice: %p and %p (%v)", a, b, err)
	}
	if len(a.tables) != 254 || &a.tables[0].Match[0] != &a.tables[253].Match[0] {
		t.Fatalf("%d tables; match lists shared: %v", len(a.tables), &a.tables[0].Match[0] == &a.tables[253].Match[0])
	}
	if p := checkTables(pipeline.OVS(), 254, a); p != nil {
		t.Fatalf("the OVS profile does not fit an OVS-like answer: %v", p)
	}
	strict := pipeline.Strict()
	other, err := c.parsed(slices.Concat(fittingFeatures(strict)...))
	if err != nil || other == a {
		t.Fatalf("another answer: %p (the first %p), %v", other, a, err)
	}
	if p := checkTables(strict, 254, other); p != nil {
		t.Fatalf("strict: %v", p)
	}
	if tf, err := c.parsed(nil); tf != nil || err != nil {
		t.Fatalf("an empty answer: %v %v", tf, err)
	}
	runtime.KeepAlive(other)

	a, b, other = nil, nil, nil
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		c.mu.Lock()
		n := len(c.m)
		c.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d answers still cached when no switch refers to them", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The facts kept of a table are those the check reads: next tables as a
// set (absent: not checked), and an empty match list differs from none.
func TestTableFeatureFacts(t *testing.T) {
	prof := pipeline.OVS()
	tf := features(t, fittingFeatures(prof))
	first := prof.Tables[0]
	f := tf.table(first.Number)
	if f == nil || !f.hasNext {
		t.Fatalf("table %d: %+v", first.Number, f)
	}
	for _, t2 := range prof.Tables {
		if got, want := f.goesTo(t2.Number), t2.Number > first.Number; got != want {
			t.Errorf("table %d goes to %d: %v, want %v", first.Number, t2.Number, got, want)
		}
	}
	if tf.table(253) != nil {
		t.Fatal("a table the answer does not list")
	}
	empty := features(t, [][]byte{tableFeatureEntry(0, ^uint64(0), ^uint64(0), nil, nil)})
	if f := empty.table(0); f == nil || f.Match == nil || len(f.Match) != 0 || !f.hasNext || f.goesTo(1) {
		t.Fatalf("table with empty match and next-tables properties: %+v", f)
	}
}
