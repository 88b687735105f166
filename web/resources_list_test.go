package web

import (
	"encoding/json"
	"net/http/httptest"
	"testing"
)

// TestWriteListMatchesMarshal: writeList writes what writeJSON writes for
// the same list, byte for byte (items marshaled one by one).
func TestWriteListMatchesMarshal(t *testing.T) {
	type item struct {
		Name string            `json:"name"`
		Tags map[string]string `json:"tags,omitempty"`
		N    *int              `json:"n,omitempty"`
	}
	n := 3
	for _, l := range []List{
		{Items: []any{}},
		{Items: []any{item{Name: "a"}}},
		{Items: []any{item{Name: "<b>&", Tags: map[string]string{"z": "1", "a": "2"}, N: &n}, "text", 42, nil, []int{1, 2}}},
	} {
		want := httptest.NewRecorder()
		writeJSON(want, 200, l)
		got := httptest.NewRecorder()
		writeList(got, l)
		if got.Code != want.Code || got.Body.String() != want.Body.String() || got.Header().Get("Content-Type") != want.Header().Get("Content-Type") {
			t.Errorf("writeList = %d %q, writeJSON = %d %q", got.Code, got.Body.String(), want.Code, want.Body.String())
		}
	}
	// An item that cannot be marshaled: the error writeJSON reports.
	bad := List{Items: []any{item{Name: "a"}, func() {}}}
	got := httptest.NewRecorder()
	writeList(got, bad)
	var body struct {
		Error struct{ Code string } `json:"error"`
	}
	if got.Code != 500 || json.Unmarshal(got.Body.Bytes(), &body) != nil || body.Error.Code == "" {
		t.Errorf("unmarshalable item: %d %q, want a 500 error body", got.Code, got.Body.String())
	}
}
