package fleet

import (
	"slices"
	"strings"
)

// dbMonitor is an RFC 7047 monitor ("monitor", version 1) of one session:
// per table, the columns it reports and the kinds of change it wants.
type dbMonitor struct {
	conn   *dbConn
	id     []byte      // the client's json-value (encoding/json's encoding of it)
	key    string      // id compacted: the session's key of the monitor
	tables []*monTable // sorted by table name
}

type monTable struct {
	tb                              *dbTable
	cols                            []*column
	initial, insert, delete, modify bool
}

// parseMonitorRequests reads monitor-requests (table -> monitor-request
// or array of them) into the monitor's tables.
func parseMonitorRequests(db *memDB, v any) ([]*monTable, *dbError) {
	reqs, ok := v.(map[string]any)
	if !ok {
		return nil, errorf("syntax error", "monitor-requests: %v is not an object", v)
	}
	var out []*monTable
	for name, r := range reqs {
		tb := db.tables[name]
		if tb == nil {
			return nil, errorf("syntax error", "unknown table %s", name)
		}
		list, isList := r.([]any)
		if !isList {
			list = []any{r}
		}
		mt := &monTable{tb: tb}
		seen := map[*column]bool{}
		for _, x := range list {
			req, ok := x.(map[string]any)
			if !ok {
				return nil, errorf("syntax error", "table %s: %v is not a monitor-request", name, x)
			}
			if cols, ok := req["columns"]; !ok {
				for _, c := range tb.schema.cols {
					if !seen[c] {
						seen[c] = true
						mt.cols = append(mt.cols, c)
					}
				}
			} else {
				names, ok := cols.([]any)
				if !ok {
					return nil, errorf("syntax error", "table %s: columns %v is not an array", name, cols)
				}
				for _, n := range names {
					cn, _ := n.(string)
					c := tb.schema.byName[cn]
					if c == nil {
						return nil, errorf("syntax error", "table %s has no column %v", name, n)
					}
					if seen[c] {
						return nil, errorf("syntax error", "table %s column %s is monitored twice", name, cn)
					}
					seen[c] = true
					mt.cols = append(mt.cols, c)
				}
			}
			sel, _ := req["select"].(map[string]any)
			flag := func(k string) bool { b, ok := sel[k].(bool); return !ok || b }
			mt.initial = mt.initial || flag("initial")
			mt.insert = mt.insert || flag("insert")
			mt.delete = mt.delete || flag("delete")
			mt.modify = mt.modify || flag("modify")
		}
		slices.SortFunc(mt.cols, func(a, b *column) int { return a.idx - b.idx })
		out = append(out, mt)
	}
	slices.SortFunc(out, func(a, b *monTable) int { return strings.Compare(a.tb.schema.name, b.tb.schema.name) })
	return out, nil
}

// appendRow encodes the monitored columns of r as a JSON object; with
// only set, just the columns whose value differs from other's.
func (mt *monTable) appendRow(b []byte, r, other *dbRow) []byte {
	b = append(b, '{')
	first := true
	for _, c := range mt.cols {
		if other != nil && c.equal(r.vals[c.idx], other.vals[c.idx]) {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendString(b, c.name)
		b = append(b, ':')
		b = appendDatum(b, c, r.vals[c.idx])
	}
	return append(b, '}')
}

// modified says whether a monitored column differs between old and new.
func (mt *monTable) modified(old, new *dbRow) bool {
	for _, c := range mt.cols {
		if !c.equal(old.vals[c.idx], new.vals[c.idx]) {
			return true
		}
	}
	return false
}

// appendInitial encodes the monitor's initial table-updates (db.mu held).
func (m *dbMonitor) appendInitial(b []byte) []byte {
	b = append(b, '{')
	firstTable := true
	for _, mt := range m.tables {
		if !mt.initial || len(mt.tb.rows) == 0 {
			continue
		}
		if !firstTable {
			b = append(b, ',')
		}
		firstTable = false
		b = appendString(b, mt.tb.schema.name)
		b = append(b, ":{"...)
		first := true
		for u, r := range mt.tb.rows {
			if !first {
				b = append(b, ',')
			}
			first = false
			b = appendString(b, u)
			b = append(b, `:{"new":`...)
			b = mt.appendRow(b, r, nil)
			b = append(b, '}')
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

// notify sends the session an update notification with the changes of a
// commit that the monitor selects (none: nothing is sent). db.mu is held.
func (m *dbMonitor) notify(changed map[*dbTable][]rowChange) {
	var b []byte
	firstTable := true
	for _, mt := range m.tables {
		chs := changed[mt.tb]
		if len(chs) == 0 {
			continue
		}
		firstRow := true
		for _, ch := range chs {
			switch {
			case ch.old == nil && !mt.insert, ch.new == nil && !mt.delete:
				continue
			case ch.old != nil && ch.new != nil && (!mt.modify || !mt.modified(ch.old, ch.new)):
				continue
			}
			if b == nil {
				size := 256
				for _, mt := range m.tables {
					size += 64 * len(changed[mt.tb]) * (1 + len(mt.cols))
				}
				b = append(make([]byte, 0, size), `{"id":null,"method":"update","params":[`...)
				b = append(b, m.id...)
				b = append(b, ",{"...)
			}
			if firstRow {
				if !firstTable {
					b = append(b, ',')
				}
				firstTable = false
				b = appendString(b, mt.tb.schema.name)
				b = append(b, ":{"...)
			} else {
				b = append(b, ',')
			}
			firstRow = false
			var u string
			if ch.new != nil {
				u = ch.new.uuid
			} else {
				u = ch.old.uuid
			}
			b = appendString(b, u)
			b = append(b, ":{"...)
			switch {
			case ch.old == nil:
				b = append(b, `"new":`...)
				b = mt.appendRow(b, ch.new, nil)
			case ch.new == nil:
				b = append(b, `"old":`...)
				b = mt.appendRow(b, ch.old, nil)
			default:
				b = append(b, `"old":`...)
				b = mt.appendRow(b, ch.old, ch.new)
				b = append(b, `,"new":`...)
				b = mt.appendRow(b, ch.new, nil)
			}
			b = append(b, '}')
		}
		if !firstRow {
			b = append(b, '}')
		}
	}
	if b == nil {
		return
	}
	b = append(b, "}]}"...)
	m.conn.send(b)
}
