package web

import (
	"reflect"
	"testing"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/web/wire"
)

// TestCheckKeys: the key check walks raw JSON (strings holding braces,
// quotes and escapes; escaped keys; whitespace) and names the first key
// at fault by its full path, or nothing when every key is exact.
func TestCheckKeys(t *testing.T) {
	vn := reflect.TypeFor[*model.VN]()
	port := reflect.TypeFor[*model.Port]()
	batch := reflect.TypeFor[*wire.BatchRequest]()
	cases := []struct {
		doc   string
		t     reflect.Type
		field string // "" = accepted
	}{
		{`{"name":"a","tenant":"t"}`, vn, ""},
		{` { "name" : "a{\"}[" , "tenant" : "\\" , "bum" : { "mode" : "replicate" } } `, vn, ""},
		{`{"\u0074enant":"t"}`, vn, ""}, // an escaped exact key
		{`{"name":"a","Tenant":"t"}`, vn, "Tenant"},
		{`{"name":"}\"{","bum":{"mode":"x","TTL":1}}`, vn, "bum.TTL"},
		{`{"bum":{"mode":"x"},"zz":[{"a":1}]}`, vn, "zz"},
		{`{"ips":["10.0.0.1"],"name":"p","vlan":3,"Mac":"x"}`, port, "Mac"},
		{`{"items":[{"op":"create","kind":"vn","object":{"Anything":["goes",{"here":1}]}},{"op":"x","Kind":"vn"}]}`, batch, "items[1].Kind"},
		{`{"items":[]}`, batch, ""},
		{`[1,2]`, vn, ""},           // not an object: the decoder's error
		{`{"name":`, vn, ""},        // not JSON: the decoder's error
		{`{"name":"a"} {}`, vn, ""}, // trailing data: the decoder's error
	}
	for _, c := range cases {
		ae := checkKeys([]byte(c.doc), c.t)
		switch {
		case c.field == "" && ae != nil:
			t.Errorf("%s: %v", c.doc, ae)
		case c.field != "" && (ae == nil || ae.Field != c.field):
			t.Errorf("%s: %v, want field %s", c.doc, ae, c.field)
		}
	}
}
