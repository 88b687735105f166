package web

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/nva-project/nva/web/wire"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/store"
)

// openStore starts a real single-node in-memory store and waits until it
// leads.
func openStore(t *testing.T, id string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), store.Config{NodeID: id, InMemory: true, Bootstrap: true, RaftAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	deadline := time.Now().Add(10 * time.Second)
	for !st.IsLeader() {
		if time.Now().After(deadline) {
			t.Fatal("store did not become leader within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return st
}

type testEnv struct {
	t   *testing.T
	st  *store.Store
	srv *Server
	ts  *httptest.Server
}

// newEnv serves the API over a real store; mod may adjust the options.
func newEnv(t *testing.T, mod func(*Options)) *testEnv {
	t.Helper()
	st := openStore(t, "n1")
	return newEnvWith(t, st, st, mod)
}

func newEnvWith(t *testing.T, st *store.Store, be Backend, mod func(*Options)) *testEnv {
	t.Helper()
	// The tests' NVEs name documentation addresses: allow any endpoint
	// (TestOVSDBEndpointPolicy tests the default).
	opts := Options{Backend: be, NodeID: "n1", OVSDBAllow: model.MustOVSDBPolicy("*")}
	if mod != nil {
		mod(&opts)
	}
	srv, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := st.RegisterMetrics(srv.Registry()); err != nil {
		t.Fatalf("store metrics: %v", err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return &testEnv{t: t, st: st, srv: srv, ts: ts}
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) err() wire.ErrorDetail {
	var eb wire.ErrorBody
	json.Unmarshal(r.body, &eb)
	return eb.Error
}

func (r resp) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decoding %s: %v", r.body, err)
	}
}

// do sends a request; a body sent without explicit headers is JSON.
func (e *testEnv) do(method, path, body string, hdr ...string) resp {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.ts.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
		if hdr[i] == "Host" {
			req.Host = hdr[i+1] // net/http sends req.Host, not the header
		}
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

// must sends a request and fails the test unless it gets status want.
func (e *testEnv) must(want int, method, path, body string, hdr ...string) resp {
	e.t.Helper()
	r := e.do(method, path, body, hdr...)
	if r.status != want {
		e.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, r.status, want, r.body)
	}
	return r
}

// state is the domain content of the store without revisions, for
// "nothing changed" checks.
func state(st *store.Store) map[string]any {
	s := st.Snapshot()
	var b bytes.Buffer
	json.NewEncoder(&b).Encode(map[string]any{"vns": s.VNs, "nves": s.NVEs, "ports": s.Ports})
	var m map[string]any
	json.Unmarshal(b.Bytes(), &m)
	return m
}

func sameState(a, b map[string]any) bool { return reflect.DeepEqual(a, b) }

// seed creates VN blue (vni 100), NVEs hv1 and hv2, and port p1 on blue/hv1.
func (e *testEnv) seed() {
	e.t.Helper()
	e.must(201, "POST", "/api/v1/vns", `{"name":"blue","vni":100}`)
	e.must(201, "POST", "/api/v1/nves", `{"name":"hv1","underlay_ips":["192.0.2.1"],"ovsdb":"unix:/run/ovs1.sock"}`)
	e.must(201, "POST", "/api/v1/nves", `{"name":"hv2","underlay_ips":["192.0.2.2"],"ovsdb":"tcp:192.0.2.2:6640"}`)
	e.must(201, "POST", "/api/v1/ports", `{"name":"p1","vn":"blue","nve":"hv1","interface":"veth1","mac":"02:00:00:00:00:01","ips":["10.0.0.1"]}`)
}

var _ = model.VN{}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 15s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
