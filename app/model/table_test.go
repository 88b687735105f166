package model

import (
	"fmt"
	"maps"
	"math/rand"
	"slices"
	"testing"
)

// checkTable fails unless t holds exactly want's entries.
func checkTable(t *testing.T, label string, tb Table[int], want map[string]int) {
	t.Helper()
	if tb.Len() != len(want) {
		t.Fatalf("%s: Len %d, want %d", label, tb.Len(), len(want))
	}
	if got := tb.Map(); !maps.Equal(got, want) {
		t.Fatalf("%s: entries %v, want %v", label, got, want)
	}
	n := 0
	for k, v := range tb.All() {
		n++
		if w, ok := want[k]; !ok || w != v {
			t.Fatalf("%s: All yields %s=%d, want %d (present %v)", label, k, v, w, ok)
		}
	}
	if n != len(want) {
		t.Fatalf("%s: All yields %d entries, want %d", label, n, len(want))
	}
	for k, w := range want {
		if v, ok := tb.Lookup(k); !ok || v != w || tb.Get(k) != w {
			t.Fatalf("%s: Lookup(%s) = %d, %v; want %d", label, k, v, ok, w)
		}
	}
	if _, ok := tb.Lookup("absent"); ok || tb.Get("absent") != 0 {
		t.Fatalf("%s: an absent name is found", label)
	}
}

// TestTableMatchesMap edits tables at random beside Go maps: every table
// holds its map's entries, and no edit changes a table taken before it.
func TestTableMatchesMap(t *testing.T) {
	for seed := int64(1); seed <= 6; seed++ {
		r := rand.New(rand.NewSource(seed))
		var tb Table[int]
		checkTable(t, "zero", tb, map[string]int{})
		m := map[string]int{}
		type kept struct {
			tb   Table[int]
			want map[string]int
		}
		var history []kept
		for step := 0; step < 300; step++ {
			e := tb.Edit()
			for k := r.Intn(8); k >= 0; k-- {
				name := fmt.Sprintf("n%d", r.Intn(400))
				if r.Intn(3) == 0 {
					e.Delete(name)
					delete(m, name)
				} else {
					v := r.Intn(1000) + 1
					e.Set(name, v)
					m[name] = v
				}
			}
			tb = e.Done()
			label := fmt.Sprintf("seed %d step %d", seed, step)
			checkTable(t, label, tb, m)
			if r.Intn(10) == 0 {
				history = append(history, kept{tb, maps.Clone(m)})
			}
		}
		// Deleting every entry empties the shards, which later sets refill.
		e := tb.Edit()
		for k := range m {
			e.Delete(k)
		}
		e.Set("again", 1)
		checkTable(t, fmt.Sprintf("seed %d emptied", seed), e.Done(), map[string]int{"again": 1})
		for i, k := range history {
			checkTable(t, fmt.Sprintf("seed %d kept %d", seed, i), k.tb, k.want)
		}
	}
}

// TestTableWithWithout: one-entry edits leave the table they came from
// as it was.
func TestTableWithWithout(t *testing.T) {
	a := TableOf(map[string]int{"x": 1, "y": 2})
	b := a.With("z", 3).Without("x")
	checkTable(t, "a", a, map[string]int{"x": 1, "y": 2})
	checkTable(t, "b", b, map[string]int{"y": 2, "z": 3})
	if c := b.Without("absent"); c != b {
		t.Fatal("removing an absent name made a new table")
	}
}

// TestDiffTables: the names DiffTables reports are exactly those whose
// entries differ, for tables edited from each other (shards shared) and
// for unrelated ones.
func TestDiffTables(t *testing.T) {
	brute := func(a, b map[string]int) []string {
		var out []string
		for k, v := range b {
			if w, ok := a[k]; !ok || w != v {
				out = append(out, k)
			}
		}
		for k := range a {
			if _, ok := b[k]; !ok {
				out = append(out, k)
			}
		}
		slices.Sort(out)
		return out
	}
	diff := func(a, b Table[int]) []string {
		var out []string
		DiffTables(a, b, func(n string) { out = append(out, n) })
		slices.Sort(out)
		return out
	}
	r := rand.New(rand.NewSource(9))
	start := map[string]int{}
	for i := range 500 {
		start[fmt.Sprintf("p%d", i)] = i
	}
	base := TableOf(start)
	if got := diff(base, base); len(got) != 0 {
		t.Fatalf("a table differs from itself: %v", got)
	}
	for step := 0; step < 100; step++ {
		m := maps.Clone(start)
		e := base.Edit()
		for k := r.Intn(5); k >= 0; k-- {
			name := fmt.Sprintf("p%d", r.Intn(600))
			switch r.Intn(3) {
			case 0:
				e.Delete(name)
				delete(m, name)
			case 1:
				e.Set(name, m[name]) // same value: no difference
				if _, ok := m[name]; !ok {
					m[name] = 0
				}
			default:
				e.Set(name, 10000+step)
				m[name] = 10000 + step
			}
		}
		next := e.Done()
		want := brute(start, m)
		if got := diff(base, next); !slices.Equal(got, want) {
			t.Fatalf("step %d: derived tables differ in %v, want %v", step, got, want)
		}
		if got := diff(next, base); !slices.Equal(got, want) {
			t.Fatalf("step %d: reversed, derived tables differ in %v, want %v", step, got, want)
		}
		if got := diff(TableOf(start), next); !slices.Equal(got, want) {
			t.Fatalf("step %d: unrelated tables differ in %v, want %v", step, got, want)
		}
	}
	if got, want := diff(Table[int]{}, base), brute(nil, start); !slices.Equal(got, want) {
		t.Fatalf("against the empty table: %d names, want %d", len(got), len(want))
	}
}
