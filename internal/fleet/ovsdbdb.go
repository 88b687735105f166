package fleet

import (
	"encoding/hex"
	"math/rand/v2"
	"slices"
	"sync"
)

// This file holds the simulated OVSDB server's database: rows in maps,
// transactions that edit copies and commit all at once (or nothing),
// Open vSwitch's referential integrity and garbage collection, and the
// monitors a commit notifies.

// dbRow is a row: its UUID and one datum per column of its table (in the
// table's column order). A stored row is never modified: an edit stores a
// new one.
type dbRow struct {
	uuid string
	vals []datum
}

// dbTable is a table's rows by UUID.
type dbTable struct {
	schema *tableSchema
	rows   map[string]*dbRow
}

// memDB is one database. mu serializes transactions, monitor
// registrations and readers.
type memDB struct {
	schema *dbSchema

	mu       sync.Mutex
	tables   map[string]*dbTable
	monitors map[*dbMonitor]struct{}
	onCommit func(by any) // after every commit that changed something; by is the transaction's owner
}

func newMemDB(s *dbSchema) *memDB {
	db := &memDB{schema: s, tables: make(map[string]*dbTable, len(s.tables)), monitors: map[*dbMonitor]struct{}{}}
	for name, ts := range s.tables {
		db.tables[name] = &dbTable{schema: ts, rows: map[string]*dbRow{}}
	}
	return db
}

// newUUID is a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	hi, lo := rand.Uint64(), rand.Uint64()
	for i := 0; i < 8; i++ {
		b[i] = byte(hi >> (56 - 8*i))
		b[8+i] = byte(lo >> (56 - 8*i))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:36], b[10:16])
	return string(s[:])
}

// txn is a transaction in progress: the rows it inserted, changed or
// deleted (nil), by table, over the committed ones. Only one runs at a
// time (db.mu).
type txn struct {
	db      *memDB
	changes map[*dbTable]map[string]*dbRow
	// refsDirty: references may have changed (a row was inserted or
	// deleted, a reference column edited), so the commit checks
	// referential integrity and collects garbage.
	refsDirty bool
	deleted   bool // some row was deleted
}

func (db *memDB) begin() *txn { return &txn{db: db, changes: map[*dbTable]map[string]*dbRow{}} }

// get is the row as the transaction sees it (nil: none).
func (t *txn) get(tb *dbTable, uuid string) *dbRow {
	if m := t.changes[tb]; m != nil {
		if r, ok := m[uuid]; ok {
			return r
		}
	}
	return tb.rows[uuid]
}

// each calls f with every row of tb as the transaction sees it, until f
// returns false.
func (t *txn) each(tb *dbTable, f func(*dbRow) bool) {
	m := t.changes[tb]
	for u, r := range tb.rows {
		if m != nil {
			if _, ok := m[u]; ok {
				continue
			}
		}
		if !f(r) {
			return
		}
	}
	for _, r := range m {
		if r != nil && !f(r) {
			return
		}
	}
}

func (t *txn) put(tb *dbTable, r *dbRow) {
	m := t.changes[tb]
	if m == nil {
		m = map[string]*dbRow{}
		t.changes[tb] = m
	}
	m[r.uuid] = r
}

func (t *txn) remove(tb *dbTable, uuid string) {
	m := t.changes[tb]
	if m == nil {
		m = map[string]*dbRow{}
		t.changes[tb] = m
	}
	if tb.rows[uuid] == nil {
		delete(m, uuid) // inserted by this transaction: simply gone
	} else {
		m[uuid] = nil
	}
	t.refsDirty, t.deleted = true, true
}

// insert adds a row with every column at its default but the given ones.
func (t *txn) insert(tb *dbTable, uuid string, set func(vals []datum) *dbError) (*dbRow, *dbError) {
	r := &dbRow{uuid: uuid, vals: make([]datum, len(tb.schema.cols))}
	for i, c := range tb.schema.cols {
		r.vals[i] = defaultDatum(c)
	}
	if set != nil {
		if err := set(r.vals); err != nil {
			return nil, err
		}
	}
	t.put(tb, r)
	if !tb.schema.root || len(tb.schema.refCols) > 0 {
		t.refsDirty = true
	}
	return r, nil
}

// modify stores a copy of r with the column changes set makes.
func (t *txn) modify(tb *dbTable, r *dbRow, set func(vals []datum)) *dbRow {
	n := &dbRow{uuid: r.uuid, vals: slices.Clone(r.vals)}
	set(n.vals)
	t.put(tb, n)
	return n
}

// check enforces referential integrity and collects garbage, as
// ovsdb-server does before a commit: a strong reference to a row that does
// not exist fails the transaction; a row of a non-root table that no
// strong reference reaches from a root table's rows is deleted; weak
// references to rows that are gone are dropped.
func (t *txn) check() *dbError {
	if !t.refsDirty {
		return nil
	}
	db := t.db
	marked := make(map[*dbTable]map[string]bool, 4)
	var stack []*dbRow
	var stackTables []*dbTable
	mark := func(tb *dbTable, r *dbRow) {
		m := marked[tb]
		if m == nil {
			m = map[string]bool{}
			marked[tb] = m
		}
		if m[r.uuid] {
			return
		}
		m[r.uuid] = true
		if len(tb.schema.refCols) > 0 {
			stack = append(stack, r)
			stackTables = append(stackTables, tb)
		}
	}
	for _, name := range db.schema.names {
		tb := db.tables[name]
		if tb.schema.root {
			t.each(tb, func(r *dbRow) bool { mark(tb, r); return true })
		}
	}
	var bad *dbError
	follow := func(from *dbTable, r *dbRow, c *column, bt *baseType, atoms []atom) {
		if bt == nil || !bt.strong {
			return
		}
		to := db.tables[bt.refTable]
		for _, a := range atoms {
			target := t.get(to, a.s)
			if target == nil {
				if bad == nil {
					bad = errorf("referential integrity violation", "table %s column %s of row %s refers to %s row %s, which does not exist", from.schema.name, c.name, r.uuid, bt.refTable, a.s)
				}
				continue
			}
			mark(to, target)
		}
	}
	for len(stack) > 0 {
		r, tb := stack[len(stack)-1], stackTables[len(stackTables)-1]
		stack, stackTables = stack[:len(stack)-1], stackTables[:len(stackTables)-1]
		for _, c := range tb.schema.refCols {
			d := r.vals[c.idx]
			follow(tb, r, c, &c.key, d.keys)
			follow(tb, r, c, c.val, d.vals)
		}
	}
	if bad != nil {
		return bad
	}
	// Rows inserted or changed by this transaction must not refer to rows
	// that do not exist either, even if they are garbage themselves.
	for tb, m := range t.changes {
		for _, r := range m {
			if r == nil || len(tb.schema.refCols) == 0 {
				continue
			}
			for _, c := range tb.schema.refCols {
				for _, p := range []struct {
					bt    *baseType
					atoms []atom
				}{{&c.key, r.vals[c.idx].keys}, {c.val, r.vals[c.idx].vals}} {
					if p.bt == nil || !p.bt.strong {
						continue
					}
					for _, a := range p.atoms {
						if t.get(db.tables[p.bt.refTable], a.s) == nil {
							return errorf("referential integrity violation", "table %s column %s of row %s refers to %s row %s, which does not exist", tb.schema.name, c.name, r.uuid, p.bt.refTable, a.s)
						}
					}
				}
			}
		}
	}
	// Sweep.
	for _, name := range db.schema.names {
		tb := db.tables[name]
		if tb.schema.root {
			continue
		}
		m := marked[tb]
		var garbage []string
		t.each(tb, func(r *dbRow) bool {
			if !m[r.uuid] {
				garbage = append(garbage, r.uuid)
			}
			return true
		})
		for _, u := range garbage {
			t.remove(tb, u)
		}
	}
	if t.deleted {
		t.dropWeak()
	}
	return nil
}

// dropWeak removes weak references to rows that are gone.
func (t *txn) dropWeak() {
	db := t.db
	for _, name := range db.schema.names {
		tb := db.tables[name]
		for _, c := range tb.schema.refCols {
			if (c.key.refTable == "" || c.key.strong) && (c.val == nil || c.val.refTable == "" || c.val.strong) {
				continue
			}
			var edits []*dbRow
			t.each(tb, func(r *dbRow) bool {
				if t.danglingWeak(c, r.vals[c.idx]) {
					edits = append(edits, r)
				}
				return true
			})
			for _, r := range edits {
				d := r.vals[c.idx]
				out := datum{}
				for i, k := range d.keys {
					if t.danglingAtom(&c.key, k) || (c.val != nil && t.danglingAtom(c.val, d.vals[i])) {
						continue
					}
					out.keys = append(out.keys, k)
					if c.val != nil {
						out.vals = append(out.vals, d.vals[i])
					}
				}
				t.modify(tb, r, func(vals []datum) { vals[c.idx] = out })
			}
		}
	}
}

func (t *txn) danglingAtom(bt *baseType, a atom) bool {
	return bt.refTable != "" && !bt.strong && t.get(t.db.tables[bt.refTable], a.s) == nil
}

func (t *txn) danglingWeak(c *column, d datum) bool {
	for i, k := range d.keys {
		if t.danglingAtom(&c.key, k) || (c.val != nil && t.danglingAtom(c.val, d.vals[i])) {
			return true
		}
	}
	return false
}

// checkIndexes enforces the tables' indexes: in a table the transaction
// inserted or changed rows of, no two rows may have the same values in the
// columns of an index.
func (t *txn) checkIndexes() *dbError {
	for tb, m := range t.changes {
		if len(tb.schema.indexes) == 0 {
			continue
		}
		changed := false
		for _, r := range m {
			if r != nil {
				changed = true
				break
			}
		}
		if !changed {
			continue
		}
		for _, idx := range tb.schema.indexes {
			seen := make(map[string]string, len(tb.rows)+len(m))
			var key []byte
			var bad *dbError
			t.each(tb, func(r *dbRow) bool {
				key = key[:0]
				for _, c := range idx {
					key = appendDatum(key, c, r.vals[c.idx])
					key = append(key, 0)
				}
				if other, dup := seen[string(key)]; dup {
					names := make([]string, len(idx))
					for i, c := range idx {
						names[i] = c.name
					}
					bad = errorf("constraint violation", "rows %s and %s of table %s have the same values (%s) for the index on %v", other, r.uuid, tb.schema.name, key[:len(key)-1], names)
					return false
				}
				seen[string(key)] = r.uuid
				return true
			})
			if bad != nil {
				return bad
			}
		}
	}
	return nil
}

// rowChange is a committed change of one row (old nil: inserted; new nil:
// deleted).
type rowChange struct {
	old, new *dbRow
}

// commit checks the transaction, stores its rows and notifies the
// monitors, all under db.mu. A transaction that changes nothing commits
// nothing and notifies nobody. by is passed to onCommit.
func (t *txn) commit(by any) *dbError {
	if err := t.check(); err != nil {
		return err
	}
	if err := t.checkIndexes(); err != nil {
		return err
	}
	db := t.db
	changed := make(map[*dbTable][]rowChange, len(t.changes))
	n := 0
	for tb, m := range t.changes {
		for u, r := range m {
			old := tb.rows[u]
			if r == nil {
				if old == nil {
					continue
				}
				delete(tb.rows, u)
			} else {
				if old != nil && rowsEqual(tb.schema, old, r) {
					continue
				}
				tb.rows[u] = r
			}
			changed[tb] = append(changed[tb], rowChange{old: old, new: r})
			n++
		}
	}
	if n == 0 {
		return nil
	}
	for m := range db.monitors {
		m.notify(changed)
	}
	if db.onCommit != nil {
		db.onCommit(by)
	}
	return nil
}

func rowsEqual(ts *tableSchema, a, b *dbRow) bool {
	for _, c := range ts.cols {
		if !c.equal(a.vals[c.idx], b.vals[c.idx]) {
			return false
		}
	}
	return true
}

// edit runs f in a transaction under the lock and commits it when f
// returns nil (by is passed to onCommit).
func (db *memDB) edit(by any, f func(t *txn) error) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	t := db.begin()
	if err := f(t); err != nil {
		return err
	}
	if err := t.commit(by); err != nil {
		return err
	}
	return nil
}
