package fleet

import (
	"encoding/json"
	"math"
)

// This file runs the operations of a transact request (RFC 7047 5.2):
// insert, select, update, mutate, delete, wait, commit, abort, comment.
// Either every operation succeeds and the transaction commits, or its
// results end with the first failure's error object (null for the
// operations not run) and nothing changes; a failed commit (referential
// integrity) adds one more error object.

type dbOp map[string]any

func (op dbOp) str(k string) (string, bool) {
	s, ok := op[k].(string)
	return s, ok
}

// transact runs one transaction of the raw operations and returns the
// result array (JSON) appended to out. by is passed to onCommit.
func (db *memDB) transact(out []byte, raw []any, by any) []byte {
	ops := make([]dbOp, len(raw))
	parseErrs := make([]*dbError, len(raw))
	for i, r := range raw {
		m, ok := r.(map[string]any)
		if !ok {
			parseErrs[i] = errorf("syntax error", "operation %d is not a JSON object", i)
		}
		ops[i] = m
	}
	// Named UUIDs: every insert's uuid-name, usable in any operation.
	names := map[string]string{}
	for i, op := range ops {
		if parseErrs[i] != nil || op["op"] != "insert" {
			continue
		}
		name, ok := op.str("uuid-name")
		if !ok {
			continue
		}
		if _, dup := names[name]; dup {
			parseErrs[i] = errorf("duplicate uuid-name", "%s", name)
			continue
		}
		u, ok := op.str("uuid")
		if !ok || !validUUID(u) {
			u = newUUID()
		}
		names[name] = u
	}
	namer := func(n string) (string, bool) { u, ok := names[n]; return u, ok }

	db.mu.Lock()
	defer db.mu.Unlock()
	t := db.begin()
	out = append(out, '[')
	var failed *dbError
	for i, op := range ops {
		if i > 0 {
			out = append(out, ',')
		}
		if failed != nil {
			out = append(out, "null"...)
			continue
		}
		err := parseErrs[i]
		if err == nil {
			out, err = t.run(out, op, namer)
		}
		if err != nil {
			failed = err
			out = appendError(out, err)
		}
	}
	if failed == nil {
		if err := t.commit(by); err != nil {
			if len(ops) > 0 {
				out = append(out, ',')
			}
			out = appendError(out, err)
		}
	}
	return append(out, ']')
}

// run executes one operation, appending its result.
func (t *txn) run(out []byte, op dbOp, names namer) ([]byte, *dbError) {
	kind, _ := op.str("op")
	switch kind {
	case "comment", "commit":
		return append(out, "{}"...), nil
	case "abort":
		return out, errorf("aborted", "aborted by request")
	case "assert":
		return out, errorf("not owner", "this server has no locks")
	}
	tname, _ := op.str("table")
	tb := t.db.tables[tname]
	if tb == nil {
		if kind != "insert" && kind != "select" && kind != "update" && kind != "mutate" && kind != "delete" && kind != "wait" {
			return out, errorf("syntax error", "unknown operation %q", kind)
		}
		return out, errorf("syntax error", "unknown table %q", tname)
	}
	ts := tb.schema
	switch kind {
	case "insert":
		u := ""
		if n, ok := op.str("uuid-name"); ok {
			u, _ = names(n)
		} else if s, ok := op.str("uuid"); ok {
			if !validUUID(s) {
				return out, errorf("syntax error", "uuid %q is not a UUID", s)
			}
			u = s
		} else {
			u = newUUID()
		}
		if t.get(tb, u) != nil {
			return out, errorf("duplicate uuid", "table %s already has a row %s", tname, u)
		}
		rowJSON, _ := op["row"].(map[string]any)
		_, err := t.insert(tb, u, func(vals []datum) *dbError {
			for cn, v := range rowJSON {
				c, err := settable(ts, cn, false)
				if err != nil {
					return err
				}
				d, err := parseDatum(c, v, names, false, false)
				if err != nil {
					return err
				}
				vals[c.idx] = d
			}
			return nil
		})
		if err != nil {
			return out, err
		}
		out = append(out, `{"uuid":["uuid","`...)
		out = append(out, u...)
		return append(out, `"]}`...), nil
	case "select":
		rows, err := t.where(tb, op["where"], names)
		if err != nil {
			return out, err
		}
		cols, err := columnList(ts, op["columns"], true)
		if err != nil {
			return out, err
		}
		out = append(out, `{"rows":[`...)
		for i, r := range rows {
			if i > 0 {
				out = append(out, ',')
			}
			out = appendSelected(out, cols, r)
		}
		return append(out, "]}"...), nil
	case "update":
		rowJSON, _ := op["row"].(map[string]any)
		type set struct {
			c *column
			d datum
		}
		sets := make([]set, 0, len(rowJSON))
		for cn, v := range rowJSON {
			c, err := settable(ts, cn, true)
			if err != nil {
				return out, err
			}
			d, err := parseDatum(c, v, names, false, false)
			if err != nil {
				return out, err
			}
			sets = append(sets, set{c, d})
		}
		rows, err := t.where(tb, op["where"], names)
		if err != nil {
			return out, err
		}
		for _, r := range rows {
			for _, s := range sets {
				if s.c.hasRefs() {
					t.refsDirty = true
				}
			}
			t.modify(tb, r, func(vals []datum) {
				for _, s := range sets {
					vals[s.c.idx] = s.d
				}
			})
		}
		return appendCount(out, len(rows)), nil
	case "mutate":
		muts, err := parseMutations(ts, op["mutations"], names)
		if err != nil {
			return out, err
		}
		rows, err := t.where(tb, op["where"], names)
		if err != nil {
			return out, err
		}
		for _, r := range rows {
			vals := make([]datum, len(r.vals))
			copy(vals, r.vals)
			for _, m := range muts {
				d, err := m.apply(vals[m.c.idx])
				if err != nil {
					return out, err
				}
				vals[m.c.idx] = d
				if m.c.hasRefs() {
					t.refsDirty = true
				}
			}
			t.put(tb, &dbRow{uuid: r.uuid, vals: vals})
		}
		return appendCount(out, len(rows)), nil
	case "delete":
		rows, err := t.where(tb, op["where"], names)
		if err != nil {
			return out, err
		}
		for _, r := range rows {
			t.remove(tb, r.uuid)
		}
		return appendCount(out, len(rows)), nil
	case "wait":
		return t.wait(out, tb, op, names)
	}
	return out, errorf("syntax error", "unknown operation %q", kind)
}

func appendCount(out []byte, n int) []byte {
	out = append(out, `{"count":`...)
	out = append(out, []byte(jsonInt(n))...)
	return append(out, '}')
}

func jsonInt(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// settable is the column cn of ts that an insert (or, with update, an
// update) may set.
func settable(ts *tableSchema, cn string, update bool) (*column, *dbError) {
	c := ts.byName[cn]
	switch {
	case cn == "_uuid" || cn == "_version":
		return nil, errorf("constraint violation", "column %s cannot be set", cn)
	case c == nil:
		return nil, errorf("unknown column", "table %s has no column %s", ts.name, cn)
	case update && !c.mutable:
		return nil, errorf("constraint violation", "column %s of table %s is not mutable", cn, ts.name)
	}
	return c, nil
}

// columnList parses an operation's "columns" (nil: every column, with
// _uuid first when withUUID).
func columnList(ts *tableSchema, v any, withUUID bool) ([]*column, *dbError) {
	if v == nil {
		cols := make([]*column, 0, len(ts.cols)+1)
		if withUUID {
			cols = append(cols, uuidColumn)
		}
		return append(cols, ts.cols...), nil
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, errorf("syntax error", "columns: %v is not an array", v)
	}
	cols := make([]*column, 0, len(arr))
	for _, x := range arr {
		name, _ := x.(string)
		c := ts.column(name)
		if c == nil {
			return nil, errorf("syntax error", "table %s has no column %v", ts.name, x)
		}
		cols = append(cols, c)
	}
	return cols, nil
}

func rowValue(r *dbRow, c *column) datum {
	if c.idx < 0 {
		return datum{keys: []atom{{s: r.uuid}}}
	}
	return r.vals[c.idx]
}

func appendSelected(out []byte, cols []*column, r *dbRow) []byte {
	out = append(out, '{')
	for i, c := range cols {
		if i > 0 {
			out = append(out, ',')
		}
		out = appendString(out, c.name)
		out = append(out, ':')
		out = appendDatum(out, c, rowValue(r, c))
	}
	return append(out, '}')
}

// condition is one clause of a where.
type condition struct {
	c   *column
	fn  string
	arg datum
}

func parseWhere(ts *tableSchema, v any, names namer) ([]condition, *dbError) {
	if v == nil {
		return nil, nil
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, errorf("syntax error", "where: %v is not an array", v)
	}
	conds := make([]condition, 0, len(arr))
	for _, x := range arr {
		cl, ok := x.([]any)
		if !ok || len(cl) != 3 {
			return nil, errorf("syntax error", "where: %v is not a condition", x)
		}
		name, _ := cl[0].(string)
		fn, _ := cl[1].(string)
		c := ts.column(name)
		if c == nil {
			return nil, errorf("syntax error", "table %s has no column %v", ts.name, cl[0])
		}
		switch fn {
		case "==", "!=", "includes", "excludes":
		case "<", "<=", ">", ">=":
			if c.key.kind != kindInteger && c.key.kind != kindReal || c.isMap() {
				return nil, errorf("syntax error", "%s cannot be applied to column %s", fn, name)
			}
		default:
			return nil, errorf("syntax error", "unknown function %q", fn)
		}
		d, err := parseDatum(c, cl[2], names, fn != "==" && fn != "!=", false)
		if err != nil {
			return nil, err
		}
		conds = append(conds, condition{c: c, fn: fn, arg: d})
	}
	return conds, nil
}

func (cd *condition) match(r *dbRow) bool {
	v := rowValue(r, cd.c)
	switch cd.fn {
	case "==":
		return cd.c.equal(v, cd.arg)
	case "!=":
		return !cd.c.equal(v, cd.arg)
	case "includes":
		return cd.c.includes(v, cd.arg)
	case "excludes":
		return cd.c.excludes(v, cd.arg)
	}
	if len(v.keys) != 1 || len(cd.arg.keys) != 1 {
		return false
	}
	cmp := compareAtoms(cd.c.key.kind, v.keys[0], cd.arg.keys[0])
	switch cd.fn {
	case "<":
		return cmp < 0
	case "<=":
		return cmp <= 0
	case ">":
		return cmp > 0
	default:
		return cmp >= 0
	}
}

// where is the rows of tb (as the transaction sees them) that match every
// condition; a leading _uuid == U is a lookup.
func (t *txn) where(tb *dbTable, v any, names namer) ([]*dbRow, *dbError) {
	conds, err := parseWhere(tb.schema, v, names)
	if err != nil {
		return nil, err
	}
	matches := func(r *dbRow) bool {
		for i := range conds {
			if !conds[i].match(r) {
				return false
			}
		}
		return true
	}
	for _, cd := range conds {
		if cd.c == uuidColumn && cd.fn == "==" && len(cd.arg.keys) == 1 {
			r := t.get(tb, cd.arg.keys[0].s)
			if r == nil || !matches(r) {
				return nil, nil
			}
			return []*dbRow{r}, nil
		}
	}
	var rows []*dbRow
	t.each(tb, func(r *dbRow) bool {
		if matches(r) {
			rows = append(rows, r)
		}
		return true
	})
	return rows, nil
}

// mutation is one parsed mutation.
type mutation struct {
	c       *column
	mutator string
	arg     datum
	scalar  atom // the argument of an arithmetic mutator
}

func parseMutations(ts *tableSchema, v any, names namer) ([]mutation, *dbError) {
	arr, ok := v.([]any)
	if !ok {
		return nil, errorf("syntax error", "mutations: %v is not an array", v)
	}
	out := make([]mutation, 0, len(arr))
	for _, x := range arr {
		m, ok := x.([]any)
		if !ok || len(m) != 3 {
			return nil, errorf("syntax error", "mutations: %v is not a mutation", x)
		}
		name, _ := m[0].(string)
		mutator, _ := m[1].(string)
		c, err := settable(ts, name, true)
		if err != nil {
			return nil, err
		}
		mu := mutation{c: c, mutator: mutator}
		switch mutator {
		case "+=", "-=", "*=", "/=", "%=":
			if c.isMap() || (c.key.kind != kindInteger && c.key.kind != kindReal) || (mutator == "%=" && c.key.kind != kindInteger) {
				return nil, errorf("constraint violation", "%s cannot be applied to column %s", mutator, name)
			}
			a, err := parseAtom(&baseType{kind: c.key.kind, minInt: math.MinInt64, maxInt: math.MaxInt64}, m[2], names)
			if err != nil {
				return nil, err
			}
			if (mutator == "/=" || mutator == "%=") && (a.n == 0 || (c.key.kind == kindReal && a.real() == 0)) {
				return nil, errorf("domain error", "division by zero")
			}
			mu.scalar = a
		case "insert", "delete":
			if c.scalar() {
				return nil, errorf("constraint violation", "%s cannot be applied to column %s, which is not a set or a map", mutator, name)
			}
			keysOnly := false
			if c.isMap() && mutator == "delete" {
				if a, ok := m[2].([]any); !ok || len(a) == 0 || a[0] != "map" {
					keysOnly = true
				}
			}
			d, err := parseDatum(c, m[2], names, true, keysOnly)
			if err != nil {
				return nil, err
			}
			mu.arg = d
		default:
			return nil, errorf("syntax error", "unknown mutator %q", mutator)
		}
		out = append(out, mu)
	}
	return out, nil
}

// apply is the mutated value of d.
func (m *mutation) apply(d datum) (datum, *dbError) {
	c := m.c
	var out datum
	switch m.mutator {
	case "insert":
		out = c.union(d, m.arg)
	case "delete":
		out = c.minus(d, m.arg)
	default:
		out.keys = make([]atom, len(d.keys))
		for i, a := range d.keys {
			var r atom
			if c.key.kind == kindInteger {
				x, y := a.n, m.scalar.n
				switch m.mutator {
				case "+=":
					r.n = x + y
				case "-=":
					r.n = x - y
				case "*=":
					r.n = x * y
				case "/=":
					r.n = x / y
				case "%=":
					r.n = x % y
				}
				if r.n < c.key.minInt || r.n > c.key.maxInt {
					return d, errorf("constraint violation", "column %s: %d is out of range", c.name, r.n)
				}
			} else {
				x, y := a.real(), m.scalar.real()
				var f float64
				switch m.mutator {
				case "+=":
					f = x + y
				case "-=":
					f = x - y
				case "*=":
					f = x * y
				case "/=":
					f = x / y
				}
				if (c.key.hasMin && f < c.key.minReal) || (c.key.hasMax && f > c.key.maxReal) {
					return d, errorf("constraint violation", "column %s: %g is out of range", c.name, f)
				}
				r = realAtom(f)
			}
			out.keys[i] = r
		}
		if err := out.normalize(c); err != nil {
			return d, err
		}
	}
	if err := checkSize(c, out); err != nil {
		return d, err
	}
	return out, nil
}

// wait compares the rows the where selects, projected on the columns,
// with the given rows: "==" succeeds when they are the same rows, "!="
// when they are not. The condition is checked once: a false one fails
// with "timed out" whatever the timeout (the clients of this server only
// wait with timeout 0).
func (t *txn) wait(out []byte, tb *dbTable, op dbOp, names namer) ([]byte, *dbError) {
	ts := tb.schema
	cols, err := columnList(ts, op["columns"], false)
	if err != nil {
		return out, err
	}
	until, _ := op.str("until")
	if until != "==" && until != "!=" {
		return out, errorf("syntax error", "until: %q is neither == nor !=", until)
	}
	rowsJSON, ok := op["rows"].([]any)
	if !ok {
		return out, errorf("syntax error", "rows: %v is not an array", op["rows"])
	}
	want := make([][]datum, 0, len(rowsJSON))
	for _, x := range rowsJSON {
		obj, ok := x.(map[string]any)
		if !ok {
			return out, errorf("syntax error", "rows: %v is not a row", x)
		}
		vals := make([]datum, len(cols))
		for i, c := range cols {
			v, ok := obj[c.name]
			if !ok {
				return out, errorf("syntax error", "a row of the wait lacks column %s", c.name)
			}
			d, err := parseDatum(c, v, names, false, false)
			if err != nil {
				return out, err
			}
			vals[i] = d
		}
		if len(obj) != len(cols) {
			return out, errorf("syntax error", "a row of the wait has columns that are not waited for")
		}
		want = append(want, vals)
	}
	rows, err := t.where(tb, op["where"], names)
	if err != nil {
		return out, err
	}
	equal := len(rows) == len(want)
	if equal {
		used := make([]bool, len(want))
		for _, r := range rows {
			found := false
			for j, w := range want {
				if used[j] {
					continue
				}
				same := true
				for i, c := range cols {
					if !c.equal(rowValue(r, c), w[i]) {
						same = false
						break
					}
				}
				if same {
					used[j], found = true, true
					break
				}
			}
			if !found {
				equal = false
				break
			}
		}
	}
	if equal == (until == "==") {
		return append(out, "{}"...), nil
	}
	return out, errorf("timed out", "wait on table %s: the condition %s does not hold", ts.name, until)
}
