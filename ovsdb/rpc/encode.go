package rpc

import (
	"cmp"
	"encoding/json"
	"slices"
	"strconv"

	"github.com/ovn-kubernetes/libovsdb/ovsdb"
)

// appendJSON appends v's JSON encoding: what json.Marshal gives for the
// values of OVSDB requests (libovsdb's Operation, Row, Condition,
// Mutation, OvsSet, OvsMap and UUID, with their MarshalJSON's notation),
// written in one pass instead of through encoding/json's reflection, a
// MarshalJSON per value and the re-validation of each one's output. The
// pairs of a map are written in key order (libovsdb's in map order).
// Other values are encoded by encoding/json.
func appendJSON(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return appendString(b, v), nil
	case bool:
		return strconv.AppendBool(b, v), nil
	case int:
		return strconv.AppendInt(b, int64(v), 10), nil
	case int64:
		return strconv.AppendInt(b, v, 10), nil
	case uint64:
		return strconv.AppendUint(b, v, 10), nil
	case []any:
		return appendArray(b, len(v), func(b []byte, i int) ([]byte, error) { return appendJSON(b, v[i]) })
	case []string:
		return appendArray(b, len(v), func(b []byte, i int) ([]byte, error) { return appendString(b, v[i]), nil })
	case ovsdb.UUID:
		if ovsdb.ValidateUUID(v.GoUUID) == nil {
			b = append(b, `["uuid",`...)
		} else {
			b = append(b, `["named-uuid",`...)
		}
		return append(appendString(b, v.GoUUID), ']'), nil
	case ovsdb.OvsSet:
		if len(v.GoSet) == 1 {
			return appendJSON(b, v.GoSet[0])
		}
		b = append(b, `["set",`...)
		b, err := appendJSON(b, v.GoSet)
		return append(b, ']'), err
	case ovsdb.OvsMap:
		return appendMap(b, v)
	case ovsdb.Row:
		return appendRow(b, v)
	case ovsdb.Condition:
		return appendTriple(b, v.Column, string(v.Function), v.Value)
	case ovsdb.Mutation:
		return appendTriple(b, v.Column, string(v.Mutator), v.Value)
	case ovsdb.Operation:
		return appendOperation(b, v)
	case json.RawMessage: // valid JSON, encoded beforehand
		return append(b, v...), nil
	}
	j, err := json.Marshal(v)
	return append(b, j...), err
}

// encode is a message's JSON encoding (json.Marshal's, for requests and
// replies in one pass).
func encode(v any) ([]byte, error) {
	switch m := v.(type) {
	case request:
		b := append(make([]byte, 0, 256), `{"id":`...)
		b, err := appendJSON(b, m.ID)
		if err != nil {
			return nil, err
		}
		b = append(b, `,"method":`...)
		b = appendString(b, m.Method)
		b = append(b, `,"params":`...)
		if m.Params == nil {
			b = append(b, "null"...)
		} else if b, err = appendJSON(b, m.Params); err != nil {
			return nil, err
		}
		return append(b, '}'), nil
	case reply:
		b := append(make([]byte, 0, 128), `{"id":`...)
		if len(m.ID) == 0 {
			b = append(b, "null"...)
		} else {
			b = append(b, m.ID...)
		}
		b = append(b, `,"result":`...)
		b, err := appendJSON(b, m.Result)
		if err != nil {
			return nil, err
		}
		b = append(b, `,"error":`...)
		if b, err = appendJSON(b, m.Error); err != nil {
			return nil, err
		}
		return append(b, '}'), nil
	}
	return json.Marshal(v)
}

// appendString appends s as encoding/json quotes it (escaping <, > and &
// too), directly when it is plain ASCII.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			j, _ := json.Marshal(s) // a string always encodes
			return append(b, j...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func appendArray(b []byte, n int, elem func(b []byte, i int) ([]byte, error)) ([]byte, error) {
	b = append(b, '[')
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = elem(b, i); err != nil {
			return b, err
		}
	}
	return append(b, ']'), nil
}

func appendTriple(b []byte, column, fn string, value any) ([]byte, error) {
	b = append(b, '[')
	b = appendString(b, column)
	b = append(b, ',')
	b = appendString(b, fn)
	b = append(b, ',')
	b, err := appendJSON(b, value)
	return append(b, ']'), err
}

// appendMap appends ["map", [[k, v], ...]], its pairs in key order when
// the keys are strings.
func appendMap(b []byte, m ovsdb.OvsMap) ([]byte, error) {
	keys := make([]any, 0, len(m.GoMap))
	for k := range m.GoMap {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y any) int {
		xs, xok := x.(string)
		ys, yok := y.(string)
		if xok && yok {
			return cmp.Compare(xs, ys)
		}
		return 0
	})
	b = append(b, `["map",`...)
	b, err := appendArray(b, len(keys), func(b []byte, i int) ([]byte, error) {
		b = append(b, '[')
		b, err := appendJSON(b, keys[i])
		if err != nil {
			return b, err
		}
		b = append(b, ',')
		b, err = appendJSON(b, m.GoMap[keys[i]])
		return append(b, ']'), err
	})
	return append(b, ']'), err
}

// appendRow appends a row as an object, its columns in order (as
// encoding/json writes a map).
func appendRow(b []byte, r ovsdb.Row) ([]byte, error) {
	if r == nil {
		return append(b, "null"...), nil
	}
	cols := make([]string, 0, len(r))
	for c := range r {
		cols = append(cols, c)
	}
	slices.Sort(cols)
	b = append(b, '{')
	for i, c := range cols {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, c)
		b = append(b, ':')
		var err error
		if b, err = appendJSON(b, r[c]); err != nil {
			return b, err
		}
	}
	return append(b, '}'), nil
}

// appendOperation appends an operation as libovsdb's MarshalJSON does:
// empty members omitted, but a select's where always present.
func appendOperation(b []byte, op ovsdb.Operation) ([]byte, error) {
	var err error
	first := true
	key := func(k string) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendString(b, k)
		b = append(b, ':')
	}
	b = append(b, '{')
	if op.Op == ovsdb.OperationSelect {
		key("where")
		if b, err = appendConditions(b, op.Where); err != nil {
			return b, err
		}
	}
	key("op")
	b = appendString(b, op.Op)
	if op.Table != "" {
		key("table")
		b = appendString(b, op.Table)
	}
	if len(op.Row) > 0 {
		key("row")
		if b, err = appendRow(b, op.Row); err != nil {
			return b, err
		}
	}
	if len(op.Rows) > 0 {
		key("rows")
		if b, err = appendArray(b, len(op.Rows), func(b []byte, i int) ([]byte, error) { return appendRow(b, op.Rows[i]) }); err != nil {
			return b, err
		}
	}
	if len(op.Columns) > 0 {
		key("columns")
		b, _ = appendJSON(b, op.Columns)
	}
	if len(op.Mutations) > 0 {
		key("mutations")
		b, err = appendArray(b, len(op.Mutations), func(b []byte, i int) ([]byte, error) {
			m := op.Mutations[i]
			return appendTriple(b, m.Column, string(m.Mutator), m.Value)
		})
		if err != nil {
			return b, err
		}
	}
	if op.Timeout != nil {
		key("timeout")
		b = strconv.AppendInt(b, int64(*op.Timeout), 10)
	}
	if len(op.Where) > 0 && op.Op != ovsdb.OperationSelect {
		key("where")
		if b, err = appendConditions(b, op.Where); err != nil {
			return b, err
		}
	}
	if op.Until != "" {
		key("until")
		b = appendString(b, op.Until)
	}
	if op.Durable != nil {
		key("durable")
		b = strconv.AppendBool(b, *op.Durable)
	}
	if op.Comment != nil {
		key("comment")
		b = appendString(b, *op.Comment)
	}
	if op.Lock != nil {
		key("lock")
		b = appendString(b, *op.Lock)
	}
	if op.UUID != "" {
		key("uuid")
		b = appendString(b, op.UUID)
	}
	if op.UUIDName != "" {
		key("uuid-name")
		b = appendString(b, op.UUIDName)
	}
	return append(b, '}'), nil
}

func appendConditions(b []byte, cs []ovsdb.Condition) ([]byte, error) {
	return appendArray(b, len(cs), func(b []byte, i int) ([]byte, error) {
		return appendTriple(b, cs[i].Column, string(cs[i].Function), cs[i].Value)
	})
}
