package model

import (
	"hash/maphash"
	"iter"
	"maps"
)

// Table is an immutable map from names to values that shares structure
// with the tables edited from it: its entries are spread over a fixed
// number of shards by a hash of the name, and an edit copies only the
// shards it changes (and the small array of shards), never the whole
// table. A snapshot's ports are one (Snapshot.Ports): a write of one port
// at 20,000 ports copies about 300 entries instead of 20,000, and every
// snapshot of the store shares the rest with the one before it.
//
// The zero Table is empty. A Table is a value: copy it freely; it is safe
// for concurrent readers. Iteration order is unspecified, as a map's.
type Table[V any] struct {
	r *tableRoot[V]
}

// tableShards is the number of shards: at 20,000 entries an edit copies
// one shard of about 300 and an array of 64 pointers.
const tableShards = 64

type tableRoot[V any] struct {
	seed   maphash.Seed
	n      int
	shards [tableShards]*tableShard[V] // nil: no entry
}

// tableShard is one shard's entries; tables that share it share the
// pointer, so two tables are compared shard by shard (DiffTables).
type tableShard[V any] struct {
	m map[string]V
}

// get returns the map of shard sh (nil when sh is nil).
func (sh *tableShard[V]) get() map[string]V {
	if sh == nil {
		return nil
	}
	return sh.m
}

func (r *tableRoot[V]) shard(name string) int {
	return int(maphash.String(r.seed, name) % tableShards)
}

// TableOf returns a table of m's entries (m is copied, not kept).
func TableOf[V any](m map[string]V) Table[V] {
	e := Table[V]{}.Edit()
	for k, v := range m {
		e.Set(k, v)
	}
	return e.Done()
}

// Len is the number of entries.
func (t Table[V]) Len() int {
	if t.r == nil {
		return 0
	}
	return t.r.n
}

// Get returns the value of name (the zero value if none).
func (t Table[V]) Get(name string) V {
	v, _ := t.Lookup(name)
	return v
}

// Lookup returns the value of name and whether there is one.
func (t Table[V]) Lookup(name string) (V, bool) {
	if t.r == nil {
		var zero V
		return zero, false
	}
	v, ok := t.r.shards[t.r.shard(name)].get()[name]
	return v, ok
}

// All yields every entry, in no particular order.
func (t Table[V]) All() iter.Seq2[string, V] {
	return func(yield func(string, V) bool) {
		if t.r == nil {
			return
		}
		for _, sh := range t.r.shards {
			for k, v := range sh.get() {
				if !yield(k, v) {
					return
				}
			}
		}
	}
}

// Map returns a new map of the table's entries.
func (t Table[V]) Map() map[string]V {
	out := make(map[string]V, t.Len())
	for k, v := range t.All() {
		out[k] = v
	}
	return out
}

// Edit starts an edit of the table: the table itself never changes; Done
// returns the edited copy, which shares every shard the edit did not
// touch.
func (t Table[V]) Edit() *TableEdit[V] {
	r := &tableRoot[V]{}
	if t.r != nil {
		*r = *t.r
	} else {
		r.seed = maphash.MakeSeed()
	}
	return &TableEdit[V]{r: r}
}

// TableEdit is one edit of a Table (Table.Edit). It is not safe for
// concurrent use, and is spent by Done.
type TableEdit[V any] struct {
	r     *tableRoot[V]
	owned uint64 // bit i: shard i is this edit's own copy
}

// own returns shard i, copied first unless the edit already owns it.
func (e *TableEdit[V]) own(i int) map[string]V {
	if e.owned&(1<<i) == 0 {
		m := maps.Clone(e.r.shards[i].get())
		if m == nil {
			m = map[string]V{}
		}
		e.r.shards[i] = &tableShard[V]{m}
		e.owned |= 1 << i
	}
	return e.r.shards[i].m
}

// Set sets name's value.
func (e *TableEdit[V]) Set(name string, v V) {
	m := e.own(e.r.shard(name))
	if _, ok := m[name]; !ok {
		e.r.n++
	}
	m[name] = v
}

// Delete removes name's entry, if any.
func (e *TableEdit[V]) Delete(name string) {
	i := e.r.shard(name)
	if _, ok := e.r.shards[i].get()[name]; !ok {
		return
	}
	m := e.own(i)
	delete(m, name)
	e.r.n--
	if len(m) == 0 {
		e.r.shards[i] = nil
		e.owned &^= 1 << i
	}
}

// Done returns the edited table. The edit must not be used afterwards.
func (e *TableEdit[V]) Done() Table[V] {
	t := Table[V]{e.r}
	e.r = nil
	return t
}

// DiffTables calls f with the name of every entry that differs between
// old and cur: added, removed, or another value. Shards the two tables
// share (cur edited from old, or from a table edited from it) are skipped
// without being read, so the cost follows the shards the edits between
// them touched, not the tables' size.
func DiffTables[V comparable](old, cur Table[V], f func(name string)) {
	if old.r == cur.r {
		return
	}
	if old.r == nil || cur.r == nil || old.r.seed != cur.r.seed {
		// Unrelated tables: entry by entry.
		for k, v := range cur.All() {
			if o, ok := old.Lookup(k); !ok || o != v {
				f(k)
			}
		}
		for k := range old.All() {
			if _, ok := cur.Lookup(k); !ok {
				f(k)
			}
		}
		return
	}
	for i := range cur.r.shards {
		o, c := old.r.shards[i], cur.r.shards[i]
		if o == c {
			continue
		}
		om, cm := o.get(), c.get()
		for k, v := range cm {
			if ov, ok := om[k]; !ok || ov != v {
				f(k)
			}
		}
		for k := range om {
			if _, ok := cm[k]; !ok {
				f(k)
			}
		}
	}
}

// With returns the table with name set to v (one edit).
func (t Table[V]) With(name string, v V) Table[V] {
	e := t.Edit()
	e.Set(name, v)
	return e.Done()
}

// Without returns the table without name's entry (one edit).
func (t Table[V]) Without(name string) Table[V] {
	if _, ok := t.Lookup(name); !ok {
		return t
	}
	e := t.Edit()
	e.Delete(name)
	return e.Done()
}
