package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/nva-project/nva/web"
	"github.com/nva-project/nva/web/wire"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestApplyYAML applies a declarative YAML file against a real in-process
// server: everything is created in one batch; applying a changed file
// updates what exists, creates what does not and runs the file's items.
func TestApplyYAML(t *testing.T) {
	ts, st := server(t)
	c := cli{t, map[string]string{"NVA_SERVER": ts.URL}}
	first := writeFile(t, "topo.yaml", `
vns:
  - name: blue
    vni: 100
  - {name: red}
nves:
  - name: hv1
    underlay_ips: [198.18.0.1]
    ovsdb: unix:/run/openvswitch/db.sock
  - name: tor1
    kind: openflow
    underlay_ips: [198.18.0.9]
    datapath_id: 00004e56000000aa   # YAML would read this as a float
ports:
  - {name: web1, vn: blue, nve: hv1, interface: veth1, mac: 02:00:00:00:00:01, ips: [10.0.0.1]}
  - {name: web2, vn: blue, nve: tor1, interface: eth1, mac: 02:00:00:00:00:02, vlan: 10}
  - {name: db1, vn: red, nve: hv1, interface: veth2, mac: 02:00:00:00:00:03}
`)
	out := c.ok("apply", "-f", first)
	snap := st.Snapshot()
	if len(snap.VNs) != 2 || len(snap.NVEs) != 2 || snap.Ports.Len() != 3 {
		t.Fatalf("after apply: %d VNs, %d NVEs, %d ports\n%s", len(snap.VNs), len(snap.NVEs), snap.Ports.Len(), out)
	}
	rev := snap.Ports.Get("web1").Revision
	for _, v := range snap.VNs {
		if v.Revision != rev {
			t.Fatalf("not one batch: vn %s at %d, web1 at %d", v.Name, v.Revision, rev)
		}
	}
	if d := snap.NVEs["tor1"].DatapathID; d != "00004e56000000aa" {
		t.Fatalf("tor1 datapath_id %q", d)
	}
	if r := row(t, out, "create"); r[1] != "vn" || r[2] != "2" {
		t.Fatalf("summary row %v:\n%s", r, out)
	}
	if !strings.Contains(out, "create  port  3") || !strings.Contains(out, "applied 7 items in 1 batch at revision") {
		t.Fatalf("summary:\n%s", out)
	}

	second := writeFile(t, "topo2.yaml", `
ports:
  - {name: web1, vn: blue, nve: hv1, interface: veth1, mac: 02:00:00:00:00:01, ips: [10.0.0.1, 10.0.0.11]}
  - {name: web3, vn: blue, nve: hv1, interface: veth3, mac: 02:00:00:00:00:04}
items:
  - {op: delete, kind: port, name: db1}
  - {op: delete, kind: vn, name: red}
`)
	out = c.ok("apply", "-f", second)
	snap = st.Snapshot()
	if p := snap.Ports.Get("web1"); len(p.IPs) != 2 || snap.Ports.Get("web3") == nil || snap.Ports.Get("db1") != nil || snap.VNs["red"] != nil {
		t.Fatalf("after the second apply: %+v\n%s", snap.Ports, out)
	}
	for _, want := range []string{"create  port  1", "update  port  1", "delete  port  1", "delete  vn    1"} {
		if !strings.Contains(out, want) {
			t.Fatalf("summary lacks %q:\n%s", want, out)
		}
	}
}

// TestApplyJSONAndBatches: a JSON file of API items, -o json, and
// --batch-size splitting a file into several atomic batches.
func TestApplyJSONAndBatches(t *testing.T) {
	ts, st := server(t)
	c := cli{t, map[string]string{"NVA_SERVER": ts.URL}}
	f := writeFile(t, "items.json", `{"items":[
		{"op":"create","kind":"vn","object":{"name":"blue"}},
		{"op":"create","kind":"nve","object":{"name":"hv1","underlay_ips":["198.18.0.1"],"ovsdb":"tcp:198.18.0.1:6640"}},
		{"op":"create","kind":"port","object":{"name":"p1","vn":"blue","nve":"hv1","interface":"t1","mac":"02:00:00:00:00:01"}},
		{"op":"create","kind":"port","object":{"name":"p2","vn":"blue","nve":"hv1","interface":"t2","mac":"02:00:00:00:00:02"}},
		{"op":"create","kind":"port","object":{"name":"p3","vn":"blue","nve":"hv1","interface":"t3","mac":"02:00:00:00:00:03"}}
	]}`)
	out := c.ok("apply", "-f", f, "--batch-size", "2", "-o", "json")
	var answers []wire.BatchResponse
	if err := json.Unmarshal([]byte(out), &answers); err != nil || len(answers) != 3 {
		t.Fatalf("-o json of 3 batches: %v\n%s", err, out)
	}
	if answers[2].Items[0].Name != "p3" || st.Snapshot().Ports.Get("p3").Revision != answers[2].Revision {
		t.Fatalf("last batch %+v", answers[2])
	}
	if st.Snapshot().Ports.Len() != 3 {
		t.Fatal("ports missing")
	}
}

// TestApplyRefused: a file the server refuses exits non-zero with every
// failing item, placed in the file, and changes nothing.
func TestApplyRefused(t *testing.T) {
	ts, st := server(t)
	c := cli{t, map[string]string{"NVA_SERVER": ts.URL}}
	c.ok("vn", "create", "blue")
	before := st.AppliedIndex()
	bad := writeFile(t, "bad.yaml", `
vns:
  - {name: green, vni: 16777216}
ports:
  - {name: p1, vn: blue, nve: hv1, interface: t1, mac: "01:00:00:00:00:01"}
items:
  - {op: delete, kind: vn}
`)
	errs := c.fails("refused", "apply", "-f", bad)
	for _, want := range []string{
		`items[0] (vns[0] create vn "green") vni: must be between 1 and 16777215`,
		`items[1] (ports[0] create port "p1") mac: must be a unicast MAC address`,
		`items[2] (items[0] delete vn "") name: is required`,
		"[422 invalid]",
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
	conflict := writeFile(t, "conflict.yaml", `
nves:
  - {name: hv1, underlay_ips: [198.18.0.1], ovsdb: "unix:/x"}
ports:
  - {name: p1, vn: blue, nve: hv1, interface: t1, mac: "02:00:00:00:00:01"}
  - {name: p2, vn: blue, nve: hv1, interface: t1, mac: "02:00:00:00:00:02"}
`)
	errs = c.fails(`items[2] (ports[1] create port "p2") interface:`, "apply", "-f", conflict)
	if !strings.Contains(errs, "409 conflict") {
		t.Errorf("conflict: %s", errs)
	}
	if st.AppliedIndex() != before || len(st.Snapshot().NVEs) != 0 {
		t.Fatal("a refused apply changed the store")
	}
	c.fails("unknown field \"vms\"", "apply", "-f", writeFile(t, "typo.yaml", "vms: []\n"))
	c.fails("nothing to apply", "apply", "-f", writeFile(t, "empty.yaml", "vns: []\n"))
	c.fails("-f FILE", "apply")
	c.fails("--batch-size", "apply", "-f", conflict, "--batch-size", "20000")
}

// TestApplyWait: --wait waits for the batch's revision to be realized.
func TestApplyWait(t *testing.T) {
	ts, st := server(t, func(o *web.Options) { o.Realizer = slowRealizer{} })
	c := cli{t, map[string]string{"NVA_SERVER": ts.URL}}
	f := writeFile(t, "vn.yaml", "vns: [{name: blue}]\n")
	errs := c.fails("not_realized", "apply", "-f", f, "--wait", "--wait-timeout", "100ms")
	if !strings.Contains(errs, "hv9") {
		t.Errorf("wait error: %s", errs)
	}
	if st.Snapshot().VNs["blue"] == nil {
		t.Error("blue not committed")
	}
}

func TestParseApplyFile(t *testing.T) {
	yml, err := parseApplyFile([]byte("nves:\n  - {name: a, datapath_id: 0x2a, vni: 7, x: ~, y: true, z: 1.5}\n"))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(yml.NVEs[0], &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"name": "a", "datapath_id": "0x2a", "vni": 7.0, "x": nil, "y": true, "z": 1.5}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("yaml: %v, want %v", got, want)
	}
	raw, err := readApplyFile("-", strings.NewReader(`{"vns":[{"name":"blue"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	js, err := parseApplyFile(raw)
	if err != nil || len(js.VNs) != 1 {
		t.Fatalf("json from stdin: %+v %v", js, err)
	}
	if _, err := parseApplyFile([]byte("- a\n- b\n")); err == nil || !strings.Contains(err.Error(), "mapping") {
		t.Fatalf("a list: %v", err)
	}
	if _, err := parseApplyFile([]byte("vns: []\nvns: []\n")); err == nil {
		t.Fatal("a duplicate key was accepted")
	}
}

// TestApplyPrefersMinimal: the summary needs only each item's op and
// kind, so apply asks for return=minimal answers; -o json prints the
// stored objects and does not.
func TestApplyPrefersMinimal(t *testing.T) {
	ts, _ := server(t)
	var mu sync.Mutex
	var prefer []string
	target, err := url.Parse(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	rec := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/batch" {
			mu.Lock()
			prefer = append(prefer, r.Header.Get(wire.PreferHeader))
			mu.Unlock()
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(rec.Close)
	c := cli{t, map[string]string{"NVA_SERVER": rec.URL}}
	out := c.ok("apply", "-f", writeFile(t, "a.yaml", "vns:\n  - name: blue\n"))
	if !strings.Contains(out, "create  vn    1") {
		t.Fatalf("summary:\n%s", out)
	}
	out = c.ok("apply", "-o", "json", "-f", writeFile(t, "b.yaml", "vns:\n  - name: red\n"))
	var ans wire.BatchResponse
	if err := json.Unmarshal([]byte(out), &ans); err != nil || len(ans.Items) != 1 || len(ans.Items[0].Object) == 0 {
		t.Fatalf("-o json answer without the stored object: %v\n%s", err, out)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(prefer) != 2 || prefer[0] != wire.PreferReturnMinimal || prefer[1] != "" {
		t.Fatalf("Prefer headers of the two applies: %q, want %q then none", prefer, wire.PreferReturnMinimal)
	}
}
