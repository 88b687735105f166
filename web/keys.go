package web

import (
	"bytes"
	"encoding"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"
)

// checkKeys compares the object keys of a JSON document (b) with the
// fields of the Go type it is about to be decoded into (t), at every depth.
// encoding/json matches keys case-insensitively, so {"Tenant":"t2"} would
// set Tenant; the API's keys are exact: a key that differs from a field
// only in case is a 400 naming it, as is a key that names no field. The
// field is named by its full path (bum.ttl, items[2].object). Values of
// types that decode themselves (json.Unmarshaler such as json.RawMessage,
// encoding.TextUnmarshaler) and of interface types are not looked into;
// malformed JSON and type mismatches are left to the decoder. Only the
// object and array levels the type has are split (into raw values), so a
// document is not decoded twice.
func checkKeys(b []byte, t reflect.Type) *APIError {
	return newKeyChecker().checkDoc(b, t)
}

// checkDoc checks a whole document: nothing when it is not valid JSON
// (the decoder says what is wrong).
func (c *keyChecker) checkDoc(b []byte, t reflect.Type) *APIError {
	if !json.Valid(b) {
		return nil
	}
	return c.check(b, t, "")
}

// keyChecker memoizes what it learns of types; one may serve many
// documents (a batch's objects), on one goroutine.
type keyChecker struct {
	fields map[reflect.Type]*fieldSet
	opaque map[reflect.Type]bool
}

func newKeyChecker() *keyChecker {
	return &keyChecker{fields: map[reflect.Type]*fieldSet{}, opaque: map[reflect.Type]bool{}}
}

func (c *keyChecker) isOpaque(t reflect.Type) bool {
	o, ok := c.opaque[t]
	if !ok {
		o = opaque(t)
		c.opaque[t] = o
	}
	return o
}

// fieldSet is a struct type's JSON keys: exact, and by their lower case.
type fieldSet struct {
	exact map[string]reflect.Type
	fold  map[string]string
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

func opaque(t reflect.Type) bool {
	if t.Kind() == reflect.Interface {
		return true
	}
	pt := reflect.PointerTo(t)
	return t.Implements(jsonUnmarshaler) || pt.Implements(jsonUnmarshaler) ||
		t.Implements(textUnmarshaler) || pt.Implements(textUnmarshaler)
}

// check checks the keys of b, valid JSON, against t. path names b.
func (c *keyChecker) check(b []byte, t reflect.Type, path string) *APIError {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if c.isOpaque(t) {
		return nil
	}
	var bad *APIError
	switch t.Kind() {
	case reflect.Struct:
		fs := c.fieldsOf(t)
		eachMember(b, func(key, val []byte) bool {
			ft, ok := fs.exact[string(key)]
			if !ok && bytes.IndexByte(key, '\\') >= 0 {
				ft, ok = fs.exact[keyString(key)] // an escaped key
			}
			if !ok {
				k := keyString(key)
				p := joinPath(path, k)
				if want, folded := fs.fold[strings.ToLower(k)]; folded {
					bad = badRequest(p, "field %q: JSON keys are case-sensitive: %q is spelt %q", p, k, want)
				} else {
					bad = badRequest(p, "unknown field %q", p)
				}
				return false
			}
			if c.splittable(ft) {
				bad = c.check(val, ft, joinPath(path, keyString(key)))
			}
			return bad == nil
		})
	case reflect.Map:
		if !c.splittable(t.Elem()) {
			return nil
		}
		eachMember(b, func(key, val []byte) bool {
			bad = c.check(val, t.Elem(), joinPath(path, keyString(key)))
			return bad == nil
		})
	case reflect.Slice, reflect.Array:
		if !c.splittable(t.Elem()) {
			return nil
		}
		i := 0
		eachElement(b, func(val []byte) bool {
			bad = c.check(val, t.Elem(), path+"["+strconv.Itoa(i)+"]")
			i++
			return bad == nil
		})
	}
	return bad
}

// The scanner below walks valid JSON (json.Valid) without decoding it: the
// members of an object, the elements of an array, as raw bytes.

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] ('"').
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// skipValue returns the index after the value starting at b[i].
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return len(b)
	}
	for i < len(b) && !strings.ContainsRune(",}] \t\r\n", rune(b[i])) {
		i++
	}
	return i
}

// eachMember calls f with each member of the object b (the key as it is
// written, without its quotes) until f returns false; nothing when b is
// not an object.
func eachMember(b []byte, f func(key, val []byte) bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return
	}
	for i = skipSpace(b, i+1); i < len(b) && b[i] == '"'; {
		end := skipString(b, i)
		key := b[i+1 : end-1]
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return
		}
		i = skipSpace(b, i+1)
		if i >= len(b) {
			return
		}
		vend := skipValue(b, i)
		if !f(key, b[i:vend]) {
			return
		}
		i = skipSpace(b, vend)
		if i >= len(b) || b[i] != ',' {
			return
		}
		i = skipSpace(b, i+1)
	}
}

// eachElement calls f with each element of the array b until f returns
// false; nothing when b is not an array.
func eachElement(b []byte, f func(val []byte) bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '[' {
		return
	}
	for i = skipSpace(b, i+1); i < len(b) && b[i] != ']'; {
		end := skipValue(b, i)
		if !f(b[i:end]) {
			return
		}
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ',' {
			return
		}
		i = skipSpace(b, i+1)
	}
}

// keyString is a raw key as a string, its escapes decoded.
func keyString(raw []byte) string {
	if !bytes.ContainsRune(raw, '\\') {
		return string(raw)
	}
	var s string
	if json.Unmarshal(append(append([]byte{'"'}, raw...), '"'), &s) != nil {
		return string(raw)
	}
	return s
}

// splittable reports whether values of t can hold JSON objects whose keys
// are checked (a struct at some depth); a []string is not looked into.
func (c *keyChecker) splittable(t reflect.Type) bool {
	for depth := 0; depth < 16; depth++ {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if c.isOpaque(t) {
			return false
		}
		switch t.Kind() {
		case reflect.Struct:
			return true
		case reflect.Map, reflect.Slice, reflect.Array:
			t = t.Elem()
		default:
			return false
		}
	}
	return false
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// fieldsOf lists the JSON keys of struct type t as encoding/json decodes
// them: tag names, field names, and the fields of embedded structs.
func (c *keyChecker) fieldsOf(t reflect.Type) *fieldSet {
	if fs := c.fields[t]; fs != nil {
		return fs
	}
	fs := &fieldSet{exact: map[string]reflect.Type{}, fold: map[string]string{}}
	c.fields[t] = fs
	c.addFields(fs, t, 0)
	return fs
}

func (c *keyChecker) addFields(fs *fieldSet, t reflect.Type, depth int) {
	if depth > 8 {
		return
	}
	// A struct's own fields first: they win over the embedded structs'.
	var embedded []reflect.Type
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if f.Anonymous && name == "" && ft.Kind() == reflect.Struct {
			embedded = append(embedded, ft)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" || !utf8.ValidString(name) {
			name = f.Name
		}
		if _, dup := fs.exact[name]; dup {
			continue
		}
		fs.exact[name] = f.Type
		if _, dup := fs.fold[strings.ToLower(name)]; !dup {
			fs.fold[strings.ToLower(name)] = name
		}
	}
	for _, et := range embedded {
		c.addFields(fs, et, depth+1)
	}
}
