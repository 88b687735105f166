package fleet

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// TestParseJSON compares parseJSON with encoding/json (UseNumber) on
// valid texts and checks that invalid ones fail.
func TestParseJSON(t *testing.T) {
	for _, s := range []string{
		`{}`, `[]`, `{"a":[1,-2.5e3,true,false,null,"x"],"b":{"c":[]}}`,
		`{"id":7,"method":"transact","params":["Open_vSwitch",{"op":"insert","table":"Port","row":{"name":"p\"\\\/\n\u00e9\ud83d\ude00"},"uuid-name":"p1"}]}`,
		` [ 1 , 2 ] `, `"caf\u00e9 ü"`, `0`, `-0.5`, `1E+2`,
	} {
		got, err := parseJSON([]byte(s))
		if err != nil {
			t.Errorf("%s: %v", s, err)
			continue
		}
		d := json.NewDecoder(bytes.NewReader([]byte(s)))
		d.UseNumber()
		var want any
		if err := d.Decode(&want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %#v, want %#v", s, got, want)
		}
	}
	for _, s := range []string{``, `{`, `[1,]`, `{"a" 1}`, `{"a":1,}`, `"abc`, `tru`, `01`, `1.`, `"\x"`, "\"a\x01\"", `[1] 2`, `{1:2}`} {
		if v, err := parseJSON([]byte(s)); err == nil {
			t.Errorf("%q: parsed as %#v, want an error", s, v)
		}
	}
}
