package fleet

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	wire "github.com/ovn-kubernetes/libovsdb/ovsdb"
)

// This file holds the simulated OVSDB server's schema and values: atoms,
// data (sets and maps kept sorted, as ovsdb-server does), their parsing
// from RFC 7047 JSON and their encoding back.

// atomKind is an RFC 7047 atomic type.
type atomKind uint8

const (
	kindInteger atomKind = iota
	kindReal
	kindBoolean
	kindString
	kindUUID
)

// atom is one atomic value; its kind comes from the column: strings and
// UUIDs use s, integers and booleans (0/1) n, reals n as math.Float64bits.
type atom struct {
	s string
	n int64
}

func (a atom) real() float64 { return math.Float64frombits(uint64(a.n)) }

func realAtom(f float64) atom { return atom{n: int64(math.Float64bits(f))} }

// baseType is an RFC 7047 base type.
type baseType struct {
	kind             atomKind
	enum             []atom // sorted; nil: any value of the kind
	minInt, maxInt   int64
	refTable         string // uuid kinds: the referenced table ("": none)
	strong           bool   // a strong reference (refTable set)
	hasMin, hasMax   bool
	minReal, maxReal float64
}

// column is a column of a table (or the _uuid pseudo-column, idx -1).
type column struct {
	name     string
	idx      int
	key      baseType
	val      *baseType // a map's value type; nil: not a map
	min, max int       // max -1: unlimited
	mutable  bool
}

func (c *column) isMap() bool  { return c.val != nil }
func (c *column) scalar() bool { return c.val == nil && c.min == 1 && c.max == 1 }
func (c *column) hasRefs() bool {
	return c.key.refTable != "" || (c.val != nil && c.val.refTable != "")
}

// uuidColumn is the _uuid pseudo-column.
var uuidColumn = &column{name: "_uuid", idx: -1, key: baseType{kind: kindUUID}, min: 1, max: 1}

// datum is a column's value: keys alone for a set (a scalar is a set of
// one), keys and vals of equal length for a map; keys sorted and unique. A
// datum is never modified once stored: edits make new slices.
type datum struct {
	keys, vals []atom
}

func (d datum) len() int { return len(d.keys) }

// tableSchema is a table's columns (sorted by name) and whether it is a
// root table.
type tableSchema struct {
	name    string
	cols    []*column
	byName  map[string]*column
	root    bool
	refCols []*column   // columns holding references
	indexes [][]*column // sets of columns whose values no two rows may share
}

// column looks a column up, _uuid included.
func (ts *tableSchema) column(name string) *column {
	if name == "_uuid" {
		return uuidColumn
	}
	return ts.byName[name]
}

// dbSchema is a database's compiled schema and its get_schema reply.
type dbSchema struct {
	name   string
	tables map[string]*tableSchema
	names  []string // table names, sorted
	json   []byte   // the schema as get_schema returns it
}

// compileSchema turns a libovsdb schema (the wire type) into the server's.
func compileSchema(s wire.DatabaseSchema) (*dbSchema, error) {
	raw, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	ds := &dbSchema{name: s.Name, tables: map[string]*tableSchema{}, json: raw}
	for name, t := range s.Tables {
		ts := &tableSchema{name: name, root: t.IsRoot, byName: map[string]*column{}}
		for cname, cs := range t.Columns {
			if cs.TypeObj == nil || cs.TypeObj.Key == nil {
				return nil, fmt.Errorf("table %s column %s: no type", name, cname)
			}
			c := &column{name: cname, min: cs.TypeObj.Min(), max: cs.TypeObj.Max(), mutable: cs.Mutable()}
			if c.key, err = compileBase(cs.TypeObj.Key); err != nil {
				return nil, fmt.Errorf("table %s column %s: %w", name, cname, err)
			}
			if cs.TypeObj.Value != nil {
				v, err := compileBase(cs.TypeObj.Value)
				if err != nil {
					return nil, fmt.Errorf("table %s column %s: %w", name, cname, err)
				}
				c.val = &v
			}
			ts.cols = append(ts.cols, c)
		}
		slices.SortFunc(ts.cols, func(a, b *column) int { return strings.Compare(a.name, b.name) })
		for i, c := range ts.cols {
			c.idx = i
			ts.byName[c.name] = c
			if c.hasRefs() {
				ts.refCols = append(ts.refCols, c)
			}
		}
		for _, idx := range t.Indexes {
			var cols []*column
			for _, cn := range idx {
				c := ts.byName[cn]
				if c == nil {
					return nil, fmt.Errorf("table %s: index on unknown column %s", name, cn)
				}
				cols = append(cols, c)
			}
			ts.indexes = append(ts.indexes, cols)
		}
		ds.tables[name] = ts
		ds.names = append(ds.names, name)
	}
	slices.Sort(ds.names)
	for _, ts := range ds.tables {
		for _, c := range ts.refCols {
			for _, b := range []*baseType{&c.key, c.val} {
				if b != nil && b.refTable != "" && ds.tables[b.refTable] == nil {
					return nil, fmt.Errorf("table %s column %s refers to unknown table %s", ts.name, c.name, b.refTable)
				}
			}
		}
	}
	return ds, nil
}

func compileBase(b *wire.BaseType) (baseType, error) {
	var bt baseType
	switch b.Type {
	case wire.TypeInteger:
		bt.kind = kindInteger
		bt.minInt, bt.maxInt = math.MinInt64, math.MaxInt64
		if v, err := b.MinInteger(); err == nil {
			bt.minInt = int64(v)
		}
		if v, err := b.MaxInteger(); err == nil {
			bt.maxInt = int64(v)
		}
	case wire.TypeReal:
		bt.kind = kindReal
		if v, err := b.MinReal(); err == nil {
			bt.hasMin, bt.minReal = true, v
		}
		if v, err := b.MaxReal(); err == nil {
			bt.hasMax, bt.maxReal = true, v
		}
	case wire.TypeBoolean:
		bt.kind = kindBoolean
	case wire.TypeString:
		bt.kind = kindString
	case wire.TypeUUID:
		bt.kind = kindUUID
		bt.refTable, _ = b.RefTable()
		rt, _ := b.RefType()
		bt.strong = bt.refTable != "" && rt != wire.Weak
	default:
		return bt, fmt.Errorf("unknown atomic type %q", b.Type)
	}
	for _, e := range b.Enum {
		a, err := parseAtom(&baseType{kind: bt.kind, minInt: math.MinInt64, maxInt: math.MaxInt64}, jsonToAny(e), nil)
		if err != nil {
			return bt, fmt.Errorf("enum: %w", err)
		}
		bt.enum = append(bt.enum, a)
	}
	slices.SortFunc(bt.enum, func(x, y atom) int { return compareAtoms(bt.kind, x, y) })
	return bt, nil
}

// jsonToAny brings a libovsdb enum value (a Go value) to the form the
// parser takes (what encoding/json's UseNumber decoding gives).
func jsonToAny(v any) any {
	switch x := v.(type) {
	case int:
		return json.Number(strconv.Itoa(x))
	case float64:
		return json.Number(strconv.FormatFloat(x, 'g', -1, 64))
	}
	return v
}

func compareAtoms(k atomKind, a, b atom) int {
	switch k {
	case kindString, kindUUID:
		return strings.Compare(a.s, b.s)
	case kindReal:
		x, y := a.real(), b.real()
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	default:
		switch {
		case a.n < b.n:
			return -1
		case a.n > b.n:
			return 1
		}
		return 0
	}
}

// dbError is an RFC 7047 error object.
type dbError struct {
	err, details string
}

func (e *dbError) Error() string {
	if e.details == "" {
		return e.err
	}
	return e.err + ": " + e.details
}

func errorf(kind, format string, args ...any) *dbError {
	return &dbError{err: kind, details: fmt.Sprintf(format, args...)}
}

func appendError(b []byte, e *dbError) []byte {
	b = append(b, `{"error":`...)
	b = appendString(b, e.err)
	if e.details != "" {
		b = append(b, `,"details":`...)
		b = appendString(b, e.details)
	}
	return append(b, '}')
}

// namer resolves a named UUID of the transaction ("" and false: unknown).
type namer func(name string) (string, bool)

// parseAtom parses one atom of base type bt from its decoded JSON.
func parseAtom(bt *baseType, v any, names namer) (atom, *dbError) {
	var a atom
	switch bt.kind {
	case kindInteger:
		n, ok := v.(json.Number)
		if !ok {
			return a, errorf("syntax error", "%v is not an integer", v)
		}
		i, err := n.Int64()
		if err != nil {
			return a, errorf("syntax error", "%s is not an integer", n)
		}
		if i < bt.minInt || i > bt.maxInt {
			return a, errorf("constraint violation", "%d is not in the range %d to %d", i, bt.minInt, bt.maxInt)
		}
		a.n = i
	case kindReal:
		n, ok := v.(json.Number)
		if !ok {
			return a, errorf("syntax error", "%v is not a real", v)
		}
		f, err := n.Float64()
		if err != nil {
			return a, errorf("syntax error", "%s is not a real", n)
		}
		if (bt.hasMin && f < bt.minReal) || (bt.hasMax && f > bt.maxReal) {
			return a, errorf("constraint violation", "%g is out of range", f)
		}
		a = realAtom(f)
	case kindBoolean:
		b, ok := v.(bool)
		if !ok {
			return a, errorf("syntax error", "%v is not a boolean", v)
		}
		if b {
			a.n = 1
		}
	case kindString:
		s, ok := v.(string)
		if !ok {
			return a, errorf("syntax error", "%v is not a string", v)
		}
		a.s = s
	case kindUUID:
		arr, ok := v.([]any)
		if !ok || len(arr) != 2 {
			return a, errorf("syntax error", "%v is not a uuid", v)
		}
		tag, _ := arr[0].(string)
		s, ok := arr[1].(string)
		switch {
		case !ok:
			return a, errorf("syntax error", "%v is not a uuid", v)
		case tag == "uuid":
			if !validUUID(s) {
				return a, errorf("syntax error", "%q is not a UUID", s)
			}
			a.s = s
		case tag == "named-uuid":
			u, found := "", false
			if names != nil {
				u, found = names(s)
			}
			if !found {
				return a, errorf("syntax error", "named-uuid %q is not defined in this transaction", s)
			}
			a.s = u
		default:
			return a, errorf("syntax error", "%v is not a uuid", v)
		}
	}
	if bt.enum != nil {
		if _, ok := slices.BinarySearchFunc(bt.enum, a, func(x, y atom) int { return compareAtoms(bt.kind, x, y) }); !ok {
			return a, errorf("constraint violation", "%v is not one of the allowed values", v)
		}
	}
	return a, nil
}

// parseDatum parses a value of column c (a scalar column takes an atom or
// a ["set", ...] of one, as ovsdb-server does). relax skips the size check (the
// arguments of conditions and mutations); keysOnly parses a map column's
// value as a set of its keys (a map delete mutation's key set).
func parseDatum(c *column, v any, names namer, relax, keysOnly bool) (datum, *dbError) {
	var d datum
	if c.isMap() && !keysOnly {
		arr, ok := v.([]any)
		if !ok || len(arr) != 2 || arr[0] != "map" {
			return d, errorf("syntax error", "column %s: %v is not a map", c.name, v)
		}
		pairs, ok := arr[1].([]any)
		if !ok {
			return d, errorf("syntax error", "column %s: %v is not a map", c.name, v)
		}
		d.keys = make([]atom, 0, len(pairs))
		d.vals = make([]atom, 0, len(pairs))
		for _, p := range pairs {
			kv, ok := p.([]any)
			if !ok || len(kv) != 2 {
				return d, errorf("syntax error", "column %s: %v is not a key-value pair", c.name, p)
			}
			k, err := parseAtom(&c.key, kv[0], names)
			if err != nil {
				return d, err
			}
			val, err := parseAtom(c.val, kv[1], names)
			if err != nil {
				return d, err
			}
			d.keys = append(d.keys, k)
			d.vals = append(d.vals, val)
		}
	} else {
		var elems []any
		if arr, ok := v.([]any); ok && len(arr) == 2 && arr[0] == "set" {
			if elems, ok = arr[1].([]any); !ok {
				return d, errorf("syntax error", "column %s: %v is not a set", c.name, v)
			}
		} else {
			elems = []any{v}
		}
		d.keys = make([]atom, 0, len(elems))
		for _, e := range elems {
			a, err := parseAtom(&c.key, e, names)
			if err != nil {
				return d, err
			}
			d.keys = append(d.keys, a)
		}
	}
	if err := d.normalize(c); err != nil {
		return d, err
	}
	if !relax {
		if err := checkSize(c, d); err != nil {
			return d, err
		}
	}
	return d, nil
}

// normalize sorts d by key and refuses duplicate keys.
func (d *datum) normalize(c *column) *dbError {
	k := c.key.kind
	if d.vals == nil {
		if !slices.IsSortedFunc(d.keys, func(x, y atom) int { return compareAtoms(k, x, y) }) {
			slices.SortFunc(d.keys, func(x, y atom) int { return compareAtoms(k, x, y) })
		}
	} else if len(d.keys) > 1 {
		idx := make([]int, len(d.keys))
		for i := range idx {
			idx[i] = i
		}
		slices.SortStableFunc(idx, func(x, y int) int { return compareAtoms(k, d.keys[x], d.keys[y]) })
		keys, vals := make([]atom, len(idx)), make([]atom, len(idx))
		for i, j := range idx {
			keys[i], vals[i] = d.keys[j], d.vals[j]
		}
		d.keys, d.vals = keys, vals
	}
	for i := 1; i < len(d.keys); i++ {
		if compareAtoms(k, d.keys[i-1], d.keys[i]) == 0 {
			return errorf("constraint violation", "column %s: duplicate value in a set or duplicate key in a map", c.name)
		}
	}
	return nil
}

func checkSize(c *column, d datum) *dbError {
	if d.len() < c.min || (c.max >= 0 && d.len() > c.max) {
		return errorf("constraint violation", "column %s: %d values, want %d to %s", c.name, d.len(), c.min, maxString(c.max))
	}
	return nil
}

func maxString(n int) string {
	if n < 0 {
		return "unlimited"
	}
	return strconv.Itoa(n)
}

// defaultDatum is a column's value in a row that does not set it.
func defaultDatum(c *column) datum {
	if c.min == 0 {
		return datum{}
	}
	var a atom
	switch c.key.kind {
	case kindUUID:
		a.s = "00000000-0000-0000-0000-000000000000"
	case kindInteger:
		if c.key.minInt > 0 {
			a.n = c.key.minInt
		}
	}
	if len(c.key.enum) > 0 {
		a = c.key.enum[0]
	}
	return datum{keys: []atom{a}}
}

func datumsEqual(k, vk atomKind, a, b datum) bool {
	if len(a.keys) != len(b.keys) || len(a.vals) != len(b.vals) {
		return false
	}
	for i := range a.keys {
		if compareAtoms(k, a.keys[i], b.keys[i]) != 0 {
			return false
		}
	}
	for i := range a.vals {
		if compareAtoms(vk, a.vals[i], b.vals[i]) != 0 {
			return false
		}
	}
	return true
}

func (c *column) equal(a, b datum) bool {
	vk := kindString
	if c.val != nil {
		vk = c.val.kind
	}
	return datumsEqual(c.key.kind, vk, a, b)
}

// find is the index of key in d (sorted), or -1.
func (c *column) find(d datum, key atom) int {
	i, ok := slices.BinarySearchFunc(d.keys, key, func(x, y atom) int { return compareAtoms(c.key.kind, x, y) })
	if !ok {
		return -1
	}
	return i
}

// includes says whether every element (or pair) of sub is in d.
func (c *column) includes(d, sub datum) bool {
	for i, k := range sub.keys {
		j := c.find(d, k)
		if j < 0 {
			return false
		}
		if sub.vals != nil && compareAtoms(c.val.kind, d.vals[j], sub.vals[i]) != 0 {
			return false
		}
	}
	return true
}

// excludes says whether no element (or pair) of sub is in d.
func (c *column) excludes(d, sub datum) bool {
	for i, k := range sub.keys {
		j := c.find(d, k)
		if j < 0 {
			continue
		}
		if sub.vals == nil || compareAtoms(c.val.kind, d.vals[j], sub.vals[i]) == 0 {
			return false
		}
	}
	return true
}

// union is d with the elements (pairs whose keys are new) of add.
func (c *column) union(d, add datum) datum {
	out := datum{keys: make([]atom, 0, len(d.keys)+len(add.keys))}
	if c.isMap() {
		out.vals = make([]atom, 0, cap(out.keys))
	}
	i, j := 0, 0
	for i < len(d.keys) || j < len(add.keys) {
		var cmp int
		switch {
		case i == len(d.keys):
			cmp = 1
		case j == len(add.keys):
			cmp = -1
		default:
			cmp = compareAtoms(c.key.kind, d.keys[i], add.keys[j])
		}
		if cmp <= 0 {
			out.keys = append(out.keys, d.keys[i])
			if out.vals != nil {
				out.vals = append(out.vals, d.vals[i])
			}
			i++
			if cmp == 0 {
				j++
			}
			continue
		}
		out.keys = append(out.keys, add.keys[j])
		if out.vals != nil {
			out.vals = append(out.vals, add.vals[j])
		}
		j++
	}
	return out
}

// minus is d without the elements of del: for a map, del is either a set
// of keys (vals nil) or pairs that must match to be removed.
func (c *column) minus(d, del datum) datum {
	out := datum{keys: make([]atom, 0, len(d.keys))}
	if c.isMap() {
		out.vals = make([]atom, 0, len(d.keys))
	}
	for i, k := range d.keys {
		j, ok := slices.BinarySearchFunc(del.keys, k, func(x, y atom) int { return compareAtoms(c.key.kind, x, y) })
		if ok && (del.vals == nil || compareAtoms(c.val.kind, d.vals[i], del.vals[j]) == 0) {
			continue
		}
		out.keys = append(out.keys, k)
		if out.vals != nil {
			out.vals = append(out.vals, d.vals[i])
		}
	}
	return out
}

// Encoding.

func appendAtom(b []byte, k atomKind, a atom) []byte {
	switch k {
	case kindInteger:
		return strconv.AppendInt(b, a.n, 10)
	case kindReal:
		f := a.real()
		if f == math.Trunc(f) && math.Abs(f) < 1e15 {
			return strconv.AppendFloat(b, f, 'f', 1, 64)
		}
		return strconv.AppendFloat(b, f, 'g', -1, 64)
	case kindBoolean:
		if a.n != 0 {
			return append(b, "true"...)
		}
		return append(b, "false"...)
	case kindUUID:
		b = append(b, `["uuid","`...)
		b = append(b, a.s...)
		return append(b, `"]`...)
	default:
		return appendString(b, a.s)
	}
}

// appendDatum encodes d as RFC 7047 <value> of column c: a map as
// ["map", ...], a set of one element as the bare atom (as ovsdb-server
// does), other sets as ["set", ...].
func appendDatum(b []byte, c *column, d datum) []byte {
	switch {
	case c.isMap():
		b = append(b, `["map",[`...)
		for i := range d.keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '[')
			b = appendAtom(b, c.key.kind, d.keys[i])
			b = append(b, ',')
			b = appendAtom(b, c.val.kind, d.vals[i])
			b = append(b, ']')
		}
		return append(b, "]]"...)
	case len(d.keys) == 1:
		return appendAtom(b, c.key.kind, d.keys[0])
	default:
		b = append(b, `["set",[`...)
		for i, k := range d.keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendAtom(b, c.key.kind, k)
		}
		return append(b, "]]"...)
	}
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// validUUID says whether s is a UUID in its canonical 36-character form.
func validUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}
