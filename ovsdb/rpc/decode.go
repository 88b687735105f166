package rpc

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sync"

	"github.com/ovn-kubernetes/libovsdb/model"
	"github.com/ovn-kubernetes/libovsdb/ovsdb"
)

// parseMessage splits a JSON-RPC message into its members, as
// json.Unmarshal into a message would, but without copying: the raw parts
// are slices of b, valid until the next message is read. Every member is
// checked but a result that is an object or array: that is only skipped
// to its end, and its syntax is checked where it is used
// (Session.handleResponse), once (a schema or a monitor reply is most of
// what a session reads).
func parseMessage(b []byte) (message, error) { return parseFramed(b, nil) }

// parseFramed is parseMessage for a message whose members' containers
// the framer found at spans.
func parseFramed(b []byte, spans []span) (message, error) {
	var m message
	s := scan{b: b, spans: spans}
	err := s.object(func(key []byte) error {
		var err error
		switch string(key) {
		case "id":
			m.ID, err = s.value()
		case "method":
			if s.null() {
				return nil
			}
			m.Method, err = s.str()
		case "params":
			m.Params, err = s.value()
		case "result":
			m.Result, err = s.container()
		case "error":
			m.Error, err = s.value()
		default:
			err = s.skip(0)
		}
		return err
	})
	if err == nil {
		err = s.end()
	}
	return m, err
}

// tableDecoder decodes the rows of one table straight into the table's
// model struct, as libovsdb's Row.UnmarshalJSON and model.CreateModel do
// in two passes (JSON into generic values, generic values into the struct
// through the mapper): the same columns are set to the same values, and
// the same malformed values are refused.
type tableDecoder struct {
	table string
	fast  bool         // false: rows are decoded by libovsdb (slowRow)
	typ   reflect.Type // the model struct
	uuid  int          // field index of _uuid (-1: none)
	cols  []columnDecoder
}

func (d *tableDecoder) column(name []byte) *columnDecoder {
	for i := range d.cols {
		if d.cols[i].name == string(name) {
			return &d.cols[i]
		}
	}
	return nil
}

// columnDecoder decodes one column of the schema into its struct field.
type columnDecoder struct {
	name  string
	field int
	kind  string // ovsdb.TypeSet, ovsdb.TypeMap or "" (atomic)
	key   string // atomic type of the value, a set's elements or a map's keys
	value string // atomic type of a map's values
	ref   string // the table a UUID (of a set's or an atomic column) names
	typ   reflect.Type
}

// newTableDecoder prepares the decoding of the given columns of table's
// rows (other columns a server may send are skipped); ok is false when the
// model has a field for one of them that this decoder does not handle
// (rows are then decoded by libovsdb).
func newTableDecoder(dbm model.DatabaseModel, table string, columns []string) (*tableDecoder, bool) {
	ts := dbm.Schema.Table(table)
	m, err := dbm.NewModel(table)
	if ts == nil || err != nil {
		return nil, false
	}
	typ := reflect.TypeOf(m)
	if typ.Kind() != reflect.Pointer || typ.Elem().Kind() != reflect.Struct {
		return nil, false
	}
	typ = typ.Elem()
	d := &tableDecoder{table: table, typ: typ, uuid: -1}
	for i := range typ.NumField() {
		f := typ.Field(i)
		name := f.Tag.Get("ovsdb")
		if name == "" {
			continue
		}
		if name == "_uuid" {
			if f.Type.Kind() != reflect.String {
				return nil, false
			}
			d.uuid = i
			continue
		}
		if !slices.Contains(columns, name) {
			continue
		}
		cs := ts.Column(name)
		if cs == nil || ovsdb.NativeType(cs) != f.Type {
			return nil, false
		}
		cd := columnDecoder{name: name, field: i, typ: f.Type}
		switch cs.Type {
		case ovsdb.TypeSet:
			cd.kind, cd.key = ovsdb.TypeSet, cs.TypeObj.Key.Type
		case ovsdb.TypeMap:
			cd.kind, cd.key, cd.value = ovsdb.TypeMap, cs.TypeObj.Key.Type, cs.TypeObj.Value.Type
		case ovsdb.TypeEnum:
			cd.key = cs.TypeObj.Key.Type
		default:
			cd.key = cs.Type
		}
		if cd.key == ovsdb.TypeUUID && cd.kind != ovsdb.TypeMap && cs.TypeObj != nil && cs.TypeObj.Key != nil {
			if rt, err := cs.TypeObj.Key.RefTable(); err == nil {
				cd.ref = rt
			}
		}
		if !atomicType(cd.key) || cd.kind == ovsdb.TypeMap && !atomicType(cd.value) {
			return nil, false
		}
		d.cols = append(d.cols, cd)
	}
	return d, true
}

func atomicType(t string) bool {
	switch t {
	case ovsdb.TypeInteger, ovsdb.TypeReal, ovsdb.TypeBoolean, ovsdb.TypeString, ovsdb.TypeUUID:
		return true
	}
	return false
}

// row decodes a row object into a new model with the given UUID.
func (d *tableDecoder) row(s *scan, uuid string) (model.Model, error) {
	pv := reflect.New(d.typ)
	v := pv.Elem()
	err := s.object(func(key []byte) error {
		cd := d.column(key)
		if cd == nil {
			return s.skip(0)
		}
		if err := cd.decode(s, v.Field(cd.field)); err != nil {
			return fmt.Errorf("table %s, column %s: %w", d.table, cd.name, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if d.uuid >= 0 && uuid != "" {
		v.Field(d.uuid).SetString(uuid)
	}
	return pv.Interface().(model.Model), nil
}

// atom is one decoded atomic value.
type atom struct {
	s string
	f float64
	b bool
}

// atom decodes an atomic value of type t as libovsdb accepts it: a UUID
// as ["uuid", U] or ["named-uuid", U], the others as JSON scalars of their
// type (an integer as any number, truncated).
func (s *scan) atom(t string) (atom, error) {
	var a atom
	var err error
	switch t {
	case ovsdb.TypeString:
		if s.peek() != '"' {
			return a, s.errorf("want a string")
		}
		if s.in == nil {
			a.s, err = s.str()
			break
		}
		var b []byte
		if b, err = s.strBytes(); err == nil {
			a.s = s.in.str(b)
		}
	case ovsdb.TypeUUID:
		var b []byte
		if b, err = s.uuid(); err == nil {
			a.s = s.uuidString(b, s.ref)
		}
	case ovsdb.TypeInteger, ovsdb.TypeReal:
		a.f, err = s.float()
	case ovsdb.TypeBoolean:
		a.b, err = s.boolean()
	}
	return a, err
}

// uuid decodes ["uuid", U] or ["named-uuid", U].
func (s *scan) uuid() ([]byte, error) {
	if err := s.want('['); err != nil {
		return nil, s.errorf("want a UUID")
	}
	tag, err := s.strBytes()
	if err != nil {
		return nil, err
	}
	if string(tag) != "uuid" && string(tag) != "named-uuid" {
		return nil, s.errorf("want a UUID, not %q", tag)
	}
	if err := s.want(','); err != nil {
		return nil, err
	}
	u, err := s.strBytes()
	if err != nil {
		return nil, err
	}
	if err := s.want(']'); err != nil {
		return nil, err
	}
	return u, nil
}

// uuidString is UUID u (of a row of table, if known) as a string: the
// cached row's own UUID string when it is cached, or the one made for the
// same UUID earlier in the message, so a row's UUID and the references
// to it share one string.
func (s *scan) uuidString(u []byte, table string) string {
	if s.c != nil && table != "" {
		if td := s.c.decoders[table]; td != nil && td.fast && td.uuid >= 0 {
			// (the reading goroutine is the only writer of c.tables)
			if m := s.c.tables[table].getBytes(u); m != nil {
				return reflect.ValueOf(m).Elem().Field(td.uuid).String()
			}
		}
	}
	if str, ok := s.pending[string(u)]; ok {
		return str
	}
	str := string(u)
	if s.c != nil {
		if s.pending == nil {
			s.pending = map[string]string{}
		}
		s.pending[str] = str
	}
	return str
}

// tagged consumes `[` and the tag of a ["set", ...] or ["map", ...]
// value if one is next; it reports whether it did.
func (s *scan) tagged(tag string) (bool, error) {
	if s.peek() != '[' {
		return false, nil
	}
	save := s.i
	s.i++
	if s.peek() != '"' {
		s.i = save
		return false, nil
	}
	t, err := s.strBytes()
	if err != nil {
		return false, err
	}
	if string(t) != tag {
		s.i = save
		return false, nil
	}
	return true, s.want(',')
}

// set decodes an OVSDB set of atoms of type t: ["set", [...]] or a single
// atom, appending to into.
func (s *scan) set(t string, into []atom) ([]atom, error) {
	ok, err := s.tagged("set")
	if err != nil {
		return into, err
	}
	if !ok {
		a, err := s.atom(t)
		return append(into, a), err
	}
	err = s.array(func() error {
		a, err := s.atom(t)
		into = append(into, a)
		return err
	})
	if err != nil {
		return into, err
	}
	return into, s.want(']')
}

// pairs decodes an OVSDB map ["map", [[k, v], ...]], appending keys and
// values to into alternately.
func (s *scan) pairs(kt, vt string, into []atom) ([]atom, error) {
	ok, err := s.tagged("map")
	if err != nil {
		return into, err
	}
	if !ok {
		return into, s.errorf("want a map")
	}
	err = s.array(func() error {
		if err := s.want('['); err != nil {
			return err
		}
		k, err := s.atom(kt)
		if err != nil {
			return err
		}
		if err := s.want(','); err != nil {
			return err
		}
		v, err := s.atom(vt)
		if err != nil {
			return err
		}
		into = append(into, k, v)
		return s.want(']')
	})
	if err != nil {
		return into, err
	}
	return into, s.want(']')
}

// set stores an atom of type t in v (of the type libovsdb gives t).
func setAtom(v reflect.Value, t string, a atom) {
	switch t {
	case ovsdb.TypeString, ovsdb.TypeUUID:
		v.SetString(a.s)
	case ovsdb.TypeInteger:
		v.SetInt(int64(int(a.f)))
	case ovsdb.TypeReal:
		v.SetFloat(a.f)
	case ovsdb.TypeBoolean:
		v.SetBool(a.b)
	}
}

// decode decodes the column's value into field.
func (cd *columnDecoder) decode(s *scan, field reflect.Value) error {
	var buf [16]atom
	s.ref = cd.ref
	defer func() { s.ref = "" }()
	switch cd.kind {
	case "":
		a, err := s.atom(cd.key)
		if err != nil {
			return err
		}
		setAtom(field, cd.key, a)
	case ovsdb.TypeSet:
		as, err := s.set(cd.key, buf[:0])
		if err != nil {
			return err
		}
		if cd.typ.Kind() == reflect.Pointer {
			switch len(as) {
			case 0:
				field.SetZero()
			case 1:
				if s.in != nil && s.in.setPtr(field, cd.typ, as[0]) {
					return nil
				}
				p := reflect.New(cd.typ.Elem())
				setAtom(p.Elem(), cd.key, as[0])
				field.Set(p)
			default:
				return fmt.Errorf("expected a slice of len =< 1, but got a slice with %d elements", len(as))
			}
			return nil
		}
		if p, ok := field.Addr().Interface().(*[]string); ok {
			ss := make([]string, len(as))
			for i, a := range as {
				ss[i] = a.s
			}
			*p = ss
			return nil
		}
		sl := reflect.MakeSlice(cd.typ, len(as), len(as))
		for i, a := range as {
			setAtom(sl.Index(i), cd.key, a)
		}
		field.Set(sl)
	case ovsdb.TypeMap:
		as, err := s.pairs(cd.key, cd.value, buf[:0])
		if err != nil {
			return err
		}
		if p, ok := field.Addr().Interface().(*map[string]string); ok {
			if s.in != nil {
				*p = s.in.stringMap(as)
				return nil
			}
			m := make(map[string]string, len(as)/2)
			for i := 0; i < len(as); i += 2 {
				m[as[i].s] = as[i+1].s
			}
			*p = m
			return nil
		}
		m := reflect.MakeMapWithSize(cd.typ, len(as)/2)
		k, v := reflect.New(cd.typ.Key()).Elem(), reflect.New(cd.typ.Elem()).Elem()
		for i := 0; i < len(as); i += 2 {
			setAtom(k, cd.key, as[i])
			setAtom(v, cd.value, as[i+1])
			m.SetMapIndex(k, v)
		}
		field.Set(m)
	}
	return nil
}

// updates decodes RFC 7047 table-updates (table -> row UUID -> {"old",
// "new"}) of the monitored tables into changes; other tables are only
// checked and skipped. A row update without "new" (or with a null one)
// deletes the row.
func (c *Cache) decodeUpdates(raw []byte) ([]change, error) {
	var changes []change
	s := scan{b: raw, in: c.intern, c: c}
	if !c.ready {
		// The initial rows: every UUID is new (a bridge's rows and the
		// references between them).
		s.pending = make(map[string]string, 64)
	}
	err := s.object(func(tkey []byte) error {
		td, monitored := c.decoders[string(tkey)]
		if !monitored {
			return s.skip(0)
		}
		table := td.table
		if s.null() {
			return nil
		}
		return s.object(func(ukey []byte) error {
			if s.null() {
				return nil
			}
			uuid := s.uuidString(ukey, table)
			ch := change{table: table, uuid: uuid}
			err := s.object(func(key []byte) error {
				if string(key) != "new" {
					return s.skip(0)
				}
				ch.row = nil
				if s.null() {
					return nil
				}
				var err error
				if td.fast {
					ch.row, err = td.row(&s, uuid)
				} else {
					ch.row, err = c.slowRow(&s, table, uuid)
				}
				if err != nil {
					return fmt.Errorf("%s row %s: %w", table, uuid, err)
				}
				return nil
			})
			if err != nil {
				return err
			}
			changes = append(changes, ch)
			return nil
		})
	})
	if err == nil {
		err = s.end()
	}
	return changes, err
}

// slowRow decodes a row with libovsdb (a model this package's decoder
// does not handle).
func (c *Cache) slowRow(s *scan, table, uuid string) (model.Model, error) {
	raw, err := s.value()
	if err != nil {
		return nil, err
	}
	var row ovsdb.Row
	if err := json.Unmarshal(raw, &row); err != nil {
		return nil, err
	}
	return model.CreateModel(c.dbm, table, &row, uuid)
}

// Interning bounds: how many distinct strings and maps are shared, and
// the longest string and largest map that are.
const (
	maxInterned    = 4096
	maxInternedLen = 64
	maxInternedMap = 4
)

// interner shares equal short strings and small string maps between the
// rows of the sessions of one schema: almost every row nva keeps has the
// same external_ids ({"nva-owned": "true"}), empty maps, and values such
// as "up", "internal" or "vxlan". Cached rows are never modified, so
// sharing is safe; the tables are bounded. Safe for concurrent use.
type interner struct {
	mu      sync.Mutex
	strs    map[string]string
	maps    map[string]map[string]string
	strPtrs map[string]*string // the optional string columns' values ("up", "secure", ...)
	intPtrs map[int]*int       // the optional integer columns' values (ofports, probe intervals, ...)
	key     []byte             // scratch key of stringMap, under mu
}

func newInterner() *interner {
	return &interner{strs: map[string]string{}, maps: map[string]map[string]string{},
		strPtrs: map[string]*string{}, intPtrs: map[int]*int{}}
}

var (
	stringPtrType = reflect.TypeFor[*string]()
	intPtrType    = reflect.TypeFor[*int]()
)

// setPtr sets field (of type typ: *string or *int, an optional column) to a
// shared pointer to a's value, and reports whether it did (other types,
// long strings and a full table are left to the caller). Rows never
// modify what their fields point to.
func (in *interner) setPtr(field reflect.Value, typ reflect.Type, a atom) bool {
	switch typ {
	case stringPtrType:
		if len(a.s) > maxInternedLen {
			return false
		}
		return setShared(field, &in.mu, in.strPtrs, a.s)
	case intPtrType:
		return setShared(field, &in.mu, in.intPtrs, int(a.f))
	}
	return false
}

// setShared sets field to the pointer ptrs shares for v (made now if
// ptrs has room), under mu, and reports whether it did.
func setShared[T comparable](field reflect.Value, mu *sync.Mutex, ptrs map[T]*T, v T) bool {
	mu.Lock()
	p, ok := ptrs[v]
	if !ok && len(ptrs) < maxInterned {
		p, ok = &v, true
		ptrs[v] = p
	}
	mu.Unlock()
	if ok {
		field.Set(reflect.ValueOf(p))
	}
	return ok
}

// str returns b as a string, shared with earlier equal ones.
func (in *interner) str(b []byte) string {
	if len(b) > maxInternedLen {
		return string(b)
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if s, ok := in.strs[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(in.strs) < maxInterned {
		in.strs[s] = s
	}
	return s
}

// stringMap returns the map of the alternating keys and values kv, shared
// with earlier equal ones (as listed in the same order) when small.
func (in *interner) stringMap(kv []atom) map[string]string {
	make := func() map[string]string {
		m := make(map[string]string, len(kv)/2)
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].s] = kv[i+1].s
		}
		return m
	}
	if len(kv)/2 > maxInternedMap {
		return make()
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	in.key = in.key[:0]
	for _, a := range kv {
		in.key = binary.AppendUvarint(in.key, uint64(len(a.s)))
		in.key = append(in.key, a.s...)
	}
	if m, ok := in.maps[string(in.key)]; ok && len(m) == len(kv)/2 {
		return m
	}
	m := make()
	if len(in.maps) < maxInterned && len(m) == len(kv)/2 {
		in.maps[string(in.key)] = m
	}
	return m
}
