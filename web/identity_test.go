package web

import (
	"reflect"
	"strings"
	"testing"

	"github.com/nva-project/nva/app/model"
)

// An NVE's switch_identity: stored normalized, shown, replaced and removed
// by PATCH; a bad pin is a 422 naming the field and changes nothing.
func TestNVESwitchIdentity(t *testing.T) {
	e := newEnv(t, nil)
	fp := "sha256:" + strings.Repeat("ab", 32)
	var n model.NVE
	e.must(201, "POST", "/api/v1/nves", `{"name":"tor1","kind":"openflow","underlay_ips":["192.0.2.9"],"datapath_id":"2a",`+
		`"switch_identity":{"fingerprint":"SHA256:`+strings.ToUpper(strings.Repeat("ab:", 31))+`AB"}}`).decode(t, &n)
	if n.SwitchIdentity == nil || n.SwitchIdentity.Fingerprint != fp {
		t.Fatalf("created with switch_identity %+v, want fingerprint %s", n.SwitchIdentity, fp)
	}
	before := state(e.st)
	for body, field := range map[string]string{
		`{"switch_identity":{"fingerprint":"sha1:0123"}}`:          "switch_identity.fingerprint",
		`{"switch_identity":{"fingerprint":null,"subject":"hv1"}}`: "switch_identity.subject",
		`{"switch_identity":{"fingerprint":null}}`:                 "switch_identity",
	} {
		r := e.do("PATCH", "/api/v1/nves/tor1", body)
		if r.status != 422 {
			t.Fatalf("PATCH %s: status %d, want 422", body, r.status)
		}
		var fields []string
		for _, f := range r.err().Fields {
			fields = append(fields, f.Field)
		}
		if r.err().Field != field && !reflect.DeepEqual(fields, []string{field}) {
			t.Fatalf("PATCH %s: error %+v does not name %s", body, r.err(), field)
		}
	}
	if after := state(e.st); !reflect.DeepEqual(before, after) {
		t.Fatal("a refused pin changed the store")
	}
	e.must(200, "PATCH", "/api/v1/nves/tor1", `{"switch_identity":{"subject":"CN=tor1,O=Example"}}`).decode(t, &n)
	if n.SwitchIdentity == nil || n.SwitchIdentity.Fingerprint != fp || n.SwitchIdentity.Subject != "CN=tor1,O=Example" {
		t.Fatalf("merged pin %+v", n.SwitchIdentity)
	}
	var removed model.NVE
	e.must(200, "PATCH", "/api/v1/nves/tor1", `{"switch_identity":null}`).decode(t, &removed)
	if removed.SwitchIdentity != nil {
		t.Fatalf("pin after null: %+v", removed.SwitchIdentity)
	}
}
