package web

import (
	"encoding"
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// checkKeys compares the object keys of a generically decoded JSON value
// (v) with the fields of the Go type it is about to be decoded into (t),
// at every depth. encoding/json matches keys case-insensitively, so
// {"Tenant":"t2"} would set Tenant; the API's keys are exact: a key that
// differs from a field only in case is a 400 naming it, as is a key that
// names no field. The field is named by its full path (bum.ttl,
// items[2].object). Values of types that decode themselves
// (json.Unmarshaler, encoding.TextUnmarshaler) and of interface types are
// not looked into; type mismatches are left to the decoder.
func checkKeys(v any, t reflect.Type) *APIError {
	c := keyChecker{fields: map[reflect.Type]*fieldSet{}}
	return c.check(v, t, "")
}

type keyChecker struct {
	fields map[reflect.Type]*fieldSet
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

func (c *keyChecker) check(v any, t reflect.Type, path string) *APIError {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if opaque(t) {
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		fs := c.fieldsOf(t)
		for _, k := range slices.Sorted(maps.Keys(obj)) {
			p := joinPath(path, k)
			ft, ok := fs.exact[k]
			if !ok {
				if want, folded := fs.fold[strings.ToLower(k)]; folded {
					return badRequest(p, "field %q: JSON keys are case-sensitive: %q is spelt %q", p, k, want)
				}
				return badRequest(p, "unknown field %q", p)
			}
			if err := c.check(obj[k], ft, p); err != nil {
				return err
			}
		}
	case reflect.Map:
		obj, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		for _, k := range slices.Sorted(maps.Keys(obj)) {
			if err := c.check(obj[k], t.Elem(), joinPath(path, k)); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		arr, ok := v.([]any)
		if !ok {
			return nil
		}
		for i, e := range arr {
			if err := c.check(e, t.Elem(), path+"["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
		}
	}
	return nil
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
