package web

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/store"
	"github.com/nva-project/nva/web/wire"
)

func fieldPaths(d wire.ErrorDetail) []string {
	var out []string
	for _, f := range d.Fields {
		out = append(out, f.Field)
	}
	return out
}

// batchBody renders items as a POST /api/v1/batch body.
func batchBody(t *testing.T, items ...wire.BatchItem) string {
	t.Helper()
	b, err := json.Marshal(wire.BatchRequest{Items: items})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func obj(s string) json.RawMessage { return json.RawMessage(s) }

func TestBatchLimitsAgree(t *testing.T) {
	if wire.MaxBatchItems != store.MaxBatchItems {
		t.Fatalf("wire.MaxBatchItems %d, store.MaxBatchItems %d", wire.MaxBatchItems, store.MaxBatchItems)
	}
}

// TestBatchCreatesInOrder: one batch creates a VN, an NVE and ports on
// them, updates and deletes; every stored object comes back with the
// batch's revision, which X-Revision carries; the store has them all.
func TestBatchCreatesInOrder(t *testing.T) {
	e := newEnv(t, nil)
	e.seed()
	blueRev := e.st.Snapshot().VNs["blue"].Revision
	body := batchBody(t,
		wire.BatchItem{Op: "create", Kind: "vn", Object: obj(`{"name":"green","mtu":1400}`)},
		wire.BatchItem{Op: "create", Kind: "nve", Object: obj(`{"name":"hv3","underlay_ips":["192.0.2.3"],"ovsdb":"unix:/run/ovs3.sock"}`)},
		wire.BatchItem{Op: "create", Kind: "port", Object: obj(`{"name":"g1","vn":"green","nve":"hv3","interface":"tap1","mac":"02-00-00-00-01-01","ips":["10.1.0.1"]}`)},
		wire.BatchItem{Op: "update", Kind: "port", Name: "p1", Object: obj(`{"name":"p1","vn":"green","nve":"hv3","interface":"tap2","mac":"02:00:00:00:00:01","revision":99}`)},
		wire.BatchItem{Op: "delete", Kind: "nve", Name: "hv2"},
		wire.BatchItem{Op: "update", Kind: "vn", Object: obj(`{"name":"blue","vni":100,"tenant":"acme"}`), IfRevision: blueRev},
	)
	r := e.must(200, "POST", "/api/v1/batch", body)
	var res wire.BatchResponse
	r.decode(t, &res)
	if r.header.Get(wire.RevisionHeader) != fmt.Sprint(res.Revision) || res.Revision == 0 {
		t.Fatalf("X-Revision %q, body revision %d", r.header.Get(wire.RevisionHeader), res.Revision)
	}
	if len(res.Items) != 6 {
		t.Fatalf("%d item results: %s", len(res.Items), r.body)
	}
	var g1 model.Port
	if err := json.Unmarshal(res.Items[2].Object, &g1); err != nil || g1.MAC != "02:00:00:00:01:01" || g1.Revision != res.Revision {
		t.Fatalf("items[2] = %s (%v)", res.Items[2].Object, err)
	}
	if it := res.Items[4]; it.Op != "delete" || it.Kind != "nve" || it.Name != "hv2" || it.Object != nil {
		t.Fatalf("items[4] = %+v", it)
	}
	if it := res.Items[0]; it.Name != "green" || it.Op != "create" || it.Kind != "vn" {
		t.Fatalf("items[0] = %+v", it)
	}
	snap := e.st.Snapshot()
	if p := snap.Ports.Get("p1"); p == nil || p.VN != "green" || p.Revision != res.Revision {
		t.Fatalf("p1 = %+v", p)
	}
	if _, ok := snap.NVEs["hv2"]; ok {
		t.Fatal("hv2 not deleted")
	}
	if v := snap.VNs["blue"]; v.Tenant != "acme" {
		t.Fatalf("blue = %+v", v)
	}
}

// TestBatchErrors: every failing item is reported by index and field, with
// the status of the existing error mapping, and nothing changes.
func TestBatchErrors(t *testing.T) {
	e := newEnv(t, nil)
	e.seed()
	before := state(e.st)
	rev := e.st.AppliedIndex()
	cases := []struct {
		name   string
		body   string
		hdr    []string
		status int
		code   string
		fields []string
	}{
		{"invalid values", batchBody(t,
			wire.BatchItem{Op: "create", Kind: "vn", Object: obj(`{"name":"green"}`)},
			wire.BatchItem{Op: "create", Kind: "port", Object: obj(`{"name":"g1","vn":"green","nve":"hv1","interface":"t1","mac":"01:00:00:00:00:01","vlan":5000}`)},
			wire.BatchItem{Op: "create", Kind: "vn", Object: obj(`{"name":"red","vni":16777216}`)},
		), nil, 422, wire.CodeInvalid, []string{"items[1].mac", "items[1].vlan", "items[2].vni"}},
		{"malformed items", batchBody(t,
			wire.BatchItem{Op: "upsert", Kind: "vn", Object: obj(`{"name":"green"}`)},
			wire.BatchItem{Op: "create", Kind: "vm", Object: obj(`{"name":"x"}`)},
			wire.BatchItem{Op: "delete", Kind: "port"},
			wire.BatchItem{Op: "create", Kind: "port", Object: obj(`{"name":"g1","vn":"blue","nve":"hv1","interface":"t1","mac":"zz"}`)},
			wire.BatchItem{Op: "create", Kind: "vn", Object: obj(`{"name":"x"}`), IfRevision: 3},
		), nil, 422, wire.CodeInvalid, []string{"items[0].op", "items[1].kind", "items[2].name", "items[3].mac", "items[4].if_revision"}},
		{"objects that do not decode", batchBody(t,
			wire.BatchItem{Op: "create", Kind: "vn", Object: obj(`{"name":"green","colour":"red"}`)},
			wire.BatchItem{Op: "create", Kind: "vn", Object: obj(`{"name":"red"}`)},
			wire.BatchItem{Op: "create", Kind: "vn", Object: obj(`{"name":"gold","vni":"ten"}`)},
			wire.BatchItem{Op: "create", Kind: "nve", Object: obj(`[1]`)},
		), nil, 400, wire.CodeBadRequest, []string{"items[0].colour", "items[2].vni", "items[3].object"}},
		{"conflicts against the state", batchBody(t,
			wire.BatchItem{Op: "create", Kind: "vn", Object: obj(`{"name":"green"}`)},
			wire.BatchItem{Op: "create", Kind: "port", Object: obj(`{"name":"g1","vn":"green","nve":"hv1","interface":"t1","mac":"02:00:00:00:01:01"}`)},
			wire.BatchItem{Op: "create", Kind: "port", Object: obj(`{"name":"p9","vn":"blue","nve":"hv2","interface":"v9","mac":"02:00:00:00:00:01"}`)},
			wire.BatchItem{Op: "delete", Kind: "vn", Name: "blue"},
			wire.BatchItem{Op: "create", Kind: "port", Object: obj(`{"name":"g2","vn":"green","nve":"hv1","interface":"t1","mac":"02:00:00:00:01:02"}`)},
		), nil, 409, wire.CodeConflict, []string{"items[2].mac", "items[3]", "items[4].interface"}},
		{"a missing object first", batchBody(t,
			wire.BatchItem{Op: "update", Kind: "vn", Object: obj(`{"name":"green"}`)},
			wire.BatchItem{Op: "create", Kind: "vn", Object: obj(`{"name":"blue"}`)},
		), nil, 404, wire.CodeNotFound, []string{"items[0]", "items[1].name"}},
		{"a missing reference", batchBody(t,
			wire.BatchItem{Op: "create", Kind: "port", Object: obj(`{"name":"p9","vn":"gold","nve":"hv1","interface":"v9","mac":"02:00:00:00:00:09"}`)},
		), nil, 422, wire.CodeReference, []string{"items[0].vn"}},
		{"a stale if_revision", batchBody(t,
			wire.BatchItem{Op: "update", Kind: "vn", Object: obj(`{"name":"blue","mtu":1400}`), IfRevision: 999},
		), nil, 409, wire.CodeConflict, []string{"items[0].revision"}},
		{"no items", `{"items":[]}`, nil, 422, wire.CodeInvalid, nil},
		{"unknown top-level field", `{"items":[],"atomic":true}`, nil, 400, wire.CodeBadRequest, nil},
		{"not json", `items: []`, []string{"Content-Type", "application/yaml"}, 415, wire.CodeUnsupportedMedia, nil},
		{"get is not allowed", ``, nil, 405, wire.CodeMethodNotAllowed, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			method := "POST"
			if tc.status == 405 {
				method = "GET"
			}
			r := e.do(method, "/api/v1/batch", tc.body, tc.hdr...)
			ae := r.err()
			if r.status != tc.status || ae.Code != tc.code {
				t.Fatalf("status %d code %q, want %d %q: %s", r.status, ae.Code, tc.status, tc.code, r.body)
			}
			if tc.fields != nil {
				if got := fieldPaths(ae); !reflect.DeepEqual(got, tc.fields) || ae.Field != tc.fields[0] {
					t.Fatalf("field %q fields %v, want %v: %s", ae.Field, got, tc.fields, r.body)
				}
			}
			if !sameState(before, state(e.st)) {
				t.Fatal("a rejected batch changed the store")
			}
		})
	}
	if got := e.st.AppliedIndex(); got != rev {
		t.Fatalf("rejected batches consumed log entries: applied index %d, was %d", got, rev)
	}
}

// TestBatchLimits: more than MaxBatchItems items, or a body over
// MaxBatchBodyBytes, is a 413 and changes nothing; a body over the
// 1 MiB of the other routes is taken.
func TestBatchLimits(t *testing.T) {
	e := newEnv(t, nil)
	e.seed()
	before := state(e.st)
	items := make([]string, wire.MaxBatchItems+1)
	for i := range items {
		items[i] = `{"op":"delete","kind":"port","name":"p1"}`
	}
	r := e.do("POST", "/api/v1/batch", `{"items":[`+strings.Join(items, ",")+`]}`)
	if r.status != 413 || r.err().Code != wire.CodeTooLarge || r.err().Field != "items" {
		t.Fatalf("too many items: %d %s", r.status, r.body)
	}
	huge := `{"items":[{"op":"create","kind":"vn","object":{"name":"x","tenant":"` + strings.Repeat("y", wire.MaxBatchBodyBytes) + `"}}]}`
	if r := e.do("POST", "/api/v1/batch", huge); r.status != 413 || r.err().Code != wire.CodeTooLarge {
		t.Fatalf("huge body: %d %.200s", r.status, r.body)
	}
	if !sameState(before, state(e.st)) {
		t.Fatal("a refused batch changed the store")
	}
	// 2,000 VNs: about 2 MiB with padding, twice the other routes' cap.
	big := make([]wire.BatchItem, 2000)
	for i := range big {
		big[i] = wire.BatchItem{Op: "create", Kind: "vn", Object: obj(fmt.Sprintf(`{"name":"vn%04d","tenant":"t%s"}`, i, strings.Repeat("x", 40)))}
	}
	body := batchBody(t, big...)
	body = body[:len(body)-1] + strings.Repeat(" ", 2*MaxBodyBytes-len(body)) + "}"
	var res wire.BatchResponse
	e.must(200, "POST", "/api/v1/batch", body).decode(t, &res)
	if len(res.Items) != 2000 || len(e.st.Snapshot().VNs) != 2001 {
		t.Fatalf("%d results, %d VNs", len(res.Items), len(e.st.Snapshot().VNs))
	}
}

// TestBatchWaitRealized: ?wait=realized waits for the batch's revision
// through the server's realizer, and says 504 naming the laggards when it
// does not come (the batch is committed all the same).
func TestBatchWaitRealized(t *testing.T) {
	fr := &fakeRealizer{}
	e := newEnv(t, func(o *Options) { o.Realizer = fr })
	var res wire.BatchResponse
	e.must(200, "POST", "/api/v1/batch?wait=realized", batchBody(t,
		wire.BatchItem{Op: "create", Kind: "vn", Object: obj(`{"name":"blue"}`)},
		wire.BatchItem{Op: "create", Kind: "vn", Object: obj(`{"name":"red"}`)},
	)).decode(t, &res)
	fr.mu.Lock()
	got := append([]uint64(nil), fr.indexes...)
	fr.laggards = []string{"hv2"}
	fr.mu.Unlock()
	if len(got) != 1 || got[0] != res.Revision {
		t.Fatalf("WaitRealized called with %v, want [%d]", got, res.Revision)
	}
	e.must(201, "POST", "/api/v1/nves", `{"name":"hv2","underlay_ips":["192.0.2.2"],"ovsdb":"unix:/x"}`)
	e.must(201, "POST", "/api/v1/ports", `{"name":"r2","vn":"red","nve":"hv2","interface":"t2","mac":"02:00:00:00:00:02"}`)
	r := e.do("POST", "/api/v1/batch?wait=realized&timeout=50ms", batchBody(t,
		wire.BatchItem{Op: "delete", Kind: "port", Name: "r2"},
		wire.BatchItem{Op: "delete", Kind: "vn", Name: "red"},
	))
	if r.status != 504 || r.err().Code != wire.CodeNotRealized || strings.Join(r.err().Laggards, ",") != "hv2" {
		t.Fatalf("not realized: %d %s", r.status, r.body)
	}
	if _, ok := e.st.Snapshot().VNs["red"]; ok {
		t.Fatal("the unrealized batch was not committed")
	}
	e.must(400, "POST", "/api/v1/batch?wait=soon", batchBody(t, wire.BatchItem{Op: "delete", Kind: "vn", Name: "blue"}))
}

// TestBatchRequestID: a batch retried with its X-Request-ID is applied
// once and answered with the first result.
func TestBatchRequestID(t *testing.T) {
	e := newEnv(t, nil)
	body := batchBody(t,
		wire.BatchItem{Op: "create", Kind: "vn", Object: obj(`{"name":"blue"}`)},
		wire.BatchItem{Op: "create", Kind: "vn", Object: obj(`{"name":"red"}`)},
	)
	var a, b wire.BatchResponse
	e.must(200, "POST", "/api/v1/batch", body, wire.RequestIDHeader, "bulk-1").decode(t, &a)
	e.must(200, "POST", "/api/v1/batch", body, wire.RequestIDHeader, "bulk-1").decode(t, &b)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("retry answered %+v, first %+v", b, a)
	}
	if r := e.do("POST", "/api/v1/batch", body, wire.RequestIDHeader, "bulk-2"); r.status != 409 || r.err().Field != "items[0].name" {
		t.Fatalf("the same batch under a new ID: %d %s", r.status, r.body)
	}
}

// TestBatchPreferMinimal: with Prefer: return=minimal the item results
// carry op, kind and name but no objects, Preference-Applied says so, and
// the batch is applied just the same.
func TestBatchPreferMinimal(t *testing.T) {
	e := newEnv(t, nil)
	e.seed()
	body := batchBody(t,
		wire.BatchItem{Op: "create", Kind: "vn", Object: obj(`{"name":"green"}`)},
		wire.BatchItem{Op: "create", Kind: "port", Object: obj(`{"name":"g1","vn":"green","nve":"hv1","interface":"tap9","mac":"02:00:00:00:09:01"}`)},
		wire.BatchItem{Op: "delete", Kind: "port", Name: "g1"},
	)
	r := e.must(200, "POST", "/api/v1/batch", body, wire.PreferHeader, "respond-async, return=minimal")
	if got := r.header.Get(wire.PreferenceAppliedHeader); got != wire.PreferReturnMinimal {
		t.Fatalf("Preference-Applied %q", got)
	}
	var res wire.BatchResponse
	r.decode(t, &res)
	if len(res.Items) != 3 || res.Revision == 0 {
		t.Fatalf("answer %s", r.body)
	}
	for i, want := range []wire.BatchItemResult{{Op: "create", Kind: "vn", Name: "green"}, {Op: "create", Kind: "port", Name: "g1"}, {Op: "delete", Kind: "port", Name: "g1"}} {
		if it := res.Items[i]; it.Op != want.Op || it.Kind != want.Kind || it.Name != want.Name || it.Object != nil {
			t.Fatalf("items[%d] = %+v, want %+v without object", i, it, want)
		}
	}
	if _, ok := e.st.Snapshot().VNs["green"]; !ok {
		t.Fatal("green not created")
	}
	// Without the preference every object comes back (and no header).
	r = e.must(200, "POST", "/api/v1/batch", batchBody(t, wire.BatchItem{Op: "create", Kind: "vn", Object: obj(`{"name":"red"}`)}))
	if r.header.Get(wire.PreferenceAppliedHeader) != "" {
		t.Fatalf("Preference-Applied without Prefer: %q", r.header.Get(wire.PreferenceAppliedHeader))
	}
	r.decode(t, &res)
	if len(res.Items) != 1 || res.Items[0].Object == nil {
		t.Fatalf("answer without Prefer: %s", r.body)
	}
}
