package rpc

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"github.com/ovn-kubernetes/libovsdb/model"
	"github.com/ovn-kubernetes/libovsdb/ovsdb"
)

// TableColumns names a monitored table and the columns kept of its rows.
type TableColumns struct {
	Table   string
	Columns []string
}

// Cache holds the rows of one monitor, decoded into the structs of the
// database model, by table and row UUID. An update notification is decoded
// first and then swapped in under the lock, so Read sees the rows between
// two updates, never during one. A stored row is never modified: an update
// stores a new one.
type Cache struct {
	dbm      model.DatabaseModel
	decoders map[string]*tableDecoder // by monitored table (shared, read-only)
	intern   *interner                // shared with the caches of the same Schema
	onChange func()

	mu     sync.RWMutex
	tables map[string]*rowList
	gen    uint64 // counts the updates swapped in

	// reading goroutine only
	ready  bool              // the initial rows are in
	queued []json.RawMessage // updates that overtook the initial rows (copies)
}

// change is one row of an update: its new contents, or nil if deleted.
type change struct {
	table, uuid string
	row         model.Model
}

// Monitor starts a plain RFC 7047 monitor of the given tables and columns
// of dbm's database and returns its cache, filled with the initial rows.
// Every update after that replaces the rows it names with their new
// contents (all monitored columns, as the server sends them, sets in the
// server's order), then calls onChange (if not nil) on the session's
// reading goroutine: it must not block.
func (s *Session) Monitor(ctx context.Context, dbm model.DatabaseModel, tables []TableColumns, onChange func()) (*Cache, error) {
	if !dbm.Valid() {
		return nil, fmt.Errorf("monitor: the database model has no schema")
	}
	decoders, err := newDecoders(dbm, tables)
	if err != nil {
		return nil, fmt.Errorf("monitor: %w", err)
	}
	reqs, err := monitorRequests(tables)
	if err != nil {
		return nil, fmt.Errorf("monitor: %w", err)
	}
	return s.monitor(ctx, dbm, decoders, newInterner(), reqs, onChange)
}

// MonitorSchema is Monitor with a shared Schema (Models.Schema), whose row
// decoders its sessions share.
func (s *Session) MonitorSchema(ctx context.Context, sc *Schema, tables []TableColumns, onChange func()) (*Cache, error) {
	if !sc.Model.Valid() {
		return nil, fmt.Errorf("monitor: the database model has no schema")
	}
	m, err := sc.monitorFor(tables)
	if err != nil {
		return nil, fmt.Errorf("monitor: %w", err)
	}
	return s.monitor(ctx, sc.Model, m.decoders, sc.intern, m.requests, onChange)
}

// monitorRequests is the JSON of the monitor-requests of tables (the same
// for every session: encoded once per Schema).
func monitorRequests(tables []TableColumns) (json.RawMessage, error) {
	reqs := make(map[string]ovsdb.MonitorRequest, len(tables))
	for _, t := range tables {
		// Select is spelled out: libovsdb's server cannot do without it.
		reqs[t.Table] = ovsdb.MonitorRequest{Columns: t.Columns, Select: ovsdb.NewDefaultMonitorSelect()}
	}
	return json.Marshal(reqs)
}

func (s *Session) monitor(ctx context.Context, dbm model.DatabaseModel, decoders map[string]*tableDecoder, in *interner, reqs json.RawMessage, onChange func()) (*Cache, error) {
	c := newCacheWith(dbm, decoders, in, onChange)
	s.mu.Lock()
	s.nextID++
	id := fmt.Sprintf("nva-monitor-%d", s.nextID)
	s.monitors[id] = c
	s.mu.Unlock()
	err := s.call(ctx, "monitor", []any{dbm.Schema.Name, id, reqs}, nil, c.initial)
	if err != nil {
		s.mu.Lock()
		delete(s.monitors, id)
		s.mu.Unlock()
		return nil, err
	}
	return c, nil
}

// newDecoders prepares the row decoders of a monitor of tables.
func newDecoders(dbm model.DatabaseModel, tables []TableColumns) (map[string]*tableDecoder, error) {
	decoders := make(map[string]*tableDecoder, len(tables))
	for _, t := range tables {
		if dbm.Schema.Table(t.Table) == nil {
			return nil, fmt.Errorf("table %s is not in database %s", t.Table, dbm.Schema.Name)
		}
		td, ok := newTableDecoder(dbm, t.Table, t.Columns)
		if !ok {
			td = &tableDecoder{table: t.Table}
		}
		td.fast = ok
		decoders[t.Table] = td
	}
	return decoders, nil
}

// newCacheWith is the empty cache of a monitor with the given decoders.
func newCacheWith(dbm model.DatabaseModel, decoders map[string]*tableDecoder, in *interner, onChange func()) *Cache {
	c := &Cache{dbm: dbm, decoders: decoders, intern: in, onChange: onChange, tables: make(map[string]*rowList, len(decoders))}
	for t := range decoders {
		c.tables[t] = &rowList{}
	}
	return c
}

// rowList is the rows of one table, sorted by UUID: a cache holds a few
// dozen rows of a table, kept in two slices at a fraction of a map's
// size (a manager keeps 1,000 caches).
type rowList struct {
	uuids []string
	rows  []model.Model // rows[i] is the row of uuids[i]
}

// getBytes returns the row with UUID u (nil: none).
func (l *rowList) getBytes(u []byte) model.Model {
	i, ok := slices.BinarySearchFunc(l.uuids, u, func(a string, b []byte) int {
		for k := 0; k < len(a) && k < len(b); k++ {
			if a[k] != b[k] {
				return cmp.Compare(a[k], b[k])
			}
		}
		return cmp.Compare(len(a), len(b))
	})
	if ok {
		return l.rows[i]
	}
	return nil
}

// set stores m as the row of UUID u, or deletes it if m is nil.
func (l *rowList) set(u string, m model.Model) {
	i, ok := slices.BinarySearch(l.uuids, u)
	switch {
	case ok && m != nil:
		l.rows[i] = m
	case ok:
		l.uuids = slices.Delete(l.uuids, i, i+1)
		l.rows = slices.Delete(l.rows, i, i+1)
	case m != nil:
		l.uuids = slices.Insert(l.uuids, i, u)
		l.rows = slices.Insert(l.rows, i, m)
	}
}

// newCache is the empty cache of a monitor of tables.
func newCache(dbm model.DatabaseModel, tables []TableColumns, onChange func()) (*Cache, error) {
	decoders, err := newDecoders(dbm, tables)
	if err != nil {
		return nil, err
	}
	return newCacheWith(dbm, decoders, newInterner(), onChange), nil
}

// initial applies the monitor's reply, then any update that overtook it
// (libovsdb's server can send one before its reply; reapplying the new
// contents of a row already in the reply changes nothing).
func (c *Cache) initial(raw []byte) error {
	if err := c.apply(raw); err != nil {
		return err
	}
	c.ready = true
	for _, u := range c.queued {
		if err := c.apply(u); err != nil {
			return err
		}
	}
	c.queued = nil
	return nil
}

// update applies an update notification's table-updates (raw is valid
// only during the call).
func (c *Cache) update(raw []byte) error {
	if !c.ready {
		c.queued = append(c.queued, append(json.RawMessage(nil), raw...))
		return nil
	}
	return c.apply(raw)
}

// apply decodes table-updates and swaps them in at once.
func (c *Cache) apply(raw []byte) error {
	changes, err := c.decodeUpdates(raw)
	if err != nil {
		return fmt.Errorf("decoding table updates: %w", err)
	}
	if len(changes) == 0 {
		return nil
	}
	c.mu.Lock()
	if !c.ready {
		// The initial rows: each table's slices are made for its rows at
		// once.
		counts := make(map[string]int, len(c.tables))
		for _, ch := range changes {
			counts[ch.table]++
		}
		for t, n := range counts {
			if l := c.tables[t]; len(l.uuids) == 0 {
				l.uuids, l.rows = make([]string, 0, n), make([]model.Model, 0, n)
			}
		}
	}
	for _, ch := range changes {
		c.tables[ch.table].set(ch.uuid, ch.row)
	}
	c.gen++
	c.mu.Unlock()
	if c.onChange != nil {
		c.onChange()
	}
	return nil
}

// Read calls f with the rows of every monitored table (table -> UUID ->
// row) as they are between two updates, in maps made for the call. f may
// keep the rows, which are never modified.
func (c *Cache) Read(f func(tables map[string]map[string]model.Model)) {
	c.mu.RLock()
	tables := make(map[string]map[string]model.Model, len(c.tables))
	for t, l := range c.tables {
		m := make(map[string]model.Model, len(l.uuids))
		for i, u := range l.uuids {
			m[u] = l.rows[i]
		}
		tables[t] = m
	}
	c.mu.RUnlock()
	f(tables)
}

// ReadRows calls f with the rows of each monitored table and their UUIDs
// (rows[i] has UUID uuids[i]), as they are between two updates: Read
// without making maps. f must neither keep nor modify the slices; it may
// keep the rows, which are never modified.
//
// It returns the cache's generation, which counts the updates swapped in:
// two reads that return the same generation saw the same rows.
func (c *Cache) ReadRows(f func(table string, uuids []string, rows []model.Model)) (gen uint64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for t, l := range c.tables {
		f(t, l.uuids, l.rows)
	}
	return c.gen
}

// Generation is the number of updates swapped in so far (ReadRows).
func (c *Cache) Generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}
