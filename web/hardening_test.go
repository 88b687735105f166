package web

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/web/wire"
)

// The REST surface's hardening (issue 13): each test reproduces a finding
// made against an unhardened server.

// newServedEnv is newEnv served the way the daemon serves the API:
// NewHTTPServer with opts on a LimitListener of maxConns.
func newServedEnv(t *testing.T, opts HTTPOptions, maxConns int, mod func(*Options)) *testEnv {
	t.Helper()
	st := openStore(t, "n1")
	o := Options{Backend: st, NodeID: "n1", OVSDBAllow: model.MustOVSDBPolicy("*")}
	if mod != nil {
		mod(&o)
	}
	srv, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	ts := httptest.NewUnstartedServer(nil)
	ts.Config = NewHTTPServer(srv, opts)
	ts.Listener = LimitListener(ts.Listener, maxConns)
	ts.Start()
	t.Cleanup(ts.Close)
	return &testEnv{t: t, st: st, srv: srv, ts: ts}
}

// rawRequest writes head (the request line and headers, without the
// blank line) and body on a new connection and reads one response.
func (e *testEnv) rawRequest(head, body string, closeWrite bool) (*http.Response, []byte) {
	e.t.Helper()
	c, err := net.Dial("tcp", e.ts.Listener.Addr().String())
	if err != nil {
		e.t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, head+"\r\n\r\n"+body); err != nil {
		e.t.Fatal(err)
	}
	if closeWrite {
		c.(*net.TCPConn).CloseWrite()
	}
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		e.t.Fatalf("reading the response: %v", err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, b
}

func errorBody(t *testing.T, b []byte) wire.ErrorDetail {
	t.Helper()
	var eb wire.ErrorBody
	if err := json.Unmarshal(b, &eb); err != nil || eb.Error.Code == "" {
		t.Fatalf("not the standard error body: %s (%v)", b, err)
	}
	return eb.Error
}

// TestSlowBodyConnectionsClosed: connections that trickle a request body
// one byte at a time are answered 408 and closed once the read timeout
// passes, long before their bodies are complete; slow headers are cut off
// too. (Unhardened, ten such connections stayed open indefinitely.)
func TestSlowBodyConnectionsClosed(t *testing.T) {
	e := newServedEnv(t, HTTPOptions{ReadHeaderTimeout: 300 * time.Millisecond, ReadTimeout: 300 * time.Millisecond, WriteTimeout: 30 * time.Second}, 0, nil)
	const bodyLen = 64
	const trickle = 250 * time.Millisecond // a byte per interval: the body needs 16 s
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", e.ts.Listener.Addr().String())
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			fmt.Fprintf(c, "POST /api/v1/vns HTTP/1.1\r\nHost: nva\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", bodyLen)
			type answer struct {
				res  *http.Response
				body []byte
				err  error
				rest error
			}
			got := make(chan answer, 1)
			go func() {
				br := bufio.NewReader(c)
				res, err := http.ReadResponse(br, nil)
				var a answer
				a.res, a.err = res, err
				if err == nil {
					a.body, _ = io.ReadAll(res.Body)
					// Then the server closes the connection.
					_, a.rest = br.ReadByte()
				}
				got <- a
			}()
			sent := 0
			for ; sent < bodyLen; sent++ {
				select {
				case a := <-got:
					if a.err != nil {
						t.Errorf("conn %d: no response: %v", i, a.err)
						return
					}
					if a.res.StatusCode != http.StatusRequestTimeout {
						t.Errorf("conn %d: status %d, want 408: %s", i, a.res.StatusCode, a.body)
					}
					if d := errorBody(t, a.body); d.Code != wire.CodeTimeout {
						t.Errorf("conn %d: error %+v", i, d)
					}
					if a.rest == nil {
						t.Errorf("conn %d: still open after the 408", i)
					}
					return
				case <-time.After(trickle):
				}
				if _, err := c.Write([]byte{'x'}); err != nil {
					return // closed by the server
				}
			}
			t.Errorf("conn %d: the whole trickled body (%d bytes) was accepted", i, sent)
		}()
	}
	// Headers trickled a byte at a time are cut off as well.
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := net.Dial("tcp", e.ts.Listener.Addr().String())
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		closed := make(chan struct{})
		go func() { io.Copy(io.Discard, c); close(closed) }()
		head := "GET /api/v1/health HTTP/1.1\r\nHost: nva\r\nX-Padding: " + strings.Repeat("y", 60) + "\r\n\r\n"
		for i := 0; i < len(head); i++ {
			select {
			case <-closed:
				return
			case <-time.After(trickle):
			}
			if _, err := c.Write([]byte{head[i]}); err != nil {
				return
			}
		}
		t.Error("slow headers: the whole trickled request was accepted")
	}()
	wg.Wait()
	if n := len(e.st.Snapshot().VNs); n != 0 {
		t.Errorf("%d VNs created", n)
	}
}

// TestConnectionCap: the listener holds at most max connections; the next
// client is accepted once one of them closes.
func TestConnectionCap(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := LimitListener(inner, 2)
	defer ln.Close()
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	var clients []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients = append(clients, c)
	}
	first, second := <-accepted, <-accepted
	select {
	case c := <-accepted:
		c.Close()
		t.Fatal("a third connection was accepted while two were open")
	case <-time.After(200 * time.Millisecond):
	}
	first.Close()
	first.Close() // a second Close gives no second slot back
	third := <-accepted
	defer second.Close()
	defer third.Close()
	select {
	case c := <-accepted:
		t.Fatalf("accepted %v beyond the cap", c)
	case <-time.After(100 * time.Millisecond):
	}
	ln.Close()
	if _, ok := <-accepted; ok {
		t.Fatal("accepted after Close")
	}
}

// TestLongRequestsOutliveTimeouts: the events stream and a ?wait=realized
// write outlive the server's read and write timeouts (they set their own
// deadlines), while the timeouts still apply to everything else.
func TestLongRequestsOutliveTimeouts(t *testing.T) {
	const timeout = 200 * time.Millisecond
	release := make(chan struct{})
	e := newServedEnv(t, HTTPOptions{ReadHeaderTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout}, 0, func(o *Options) {
		o.Events.KeepAlive = timeout / 2
		o.Realizer = blockingRealizer{release}
	})
	s := e.openEvents()
	if ev := <-s.events; ev.typ != "snapshot" {
		t.Fatalf("want snapshot, got %+v", ev)
	}
	// Ten pings span five times the timeouts.
	for i := 0; i < 10; i++ {
		select {
		case ev := <-s.events:
			if ev.typ != "ping" {
				t.Fatalf("want ping, got %+v", ev)
			}
		case <-s.done:
			t.Fatalf("the events stream ended after %d pings", i)
		}
	}
	// A write waiting for realization past the timeouts is answered.
	type answer struct {
		status int
		err    error
	}
	answered := make(chan answer, 1)
	go func() {
		res, err := http.Post(e.ts.URL+"/api/v1/vns?wait=realized&timeout=1m", "application/json", strings.NewReader(`{"name":"blue"}`))
		if err != nil {
			answered <- answer{err: err}
			return
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		answered <- answer{status: res.StatusCode}
	}()
	time.Sleep(5 * timeout)
	close(release)
	if a := <-answered; a.err != nil || a.status != http.StatusCreated {
		t.Fatalf("wait=realized past the timeouts: %d %v", a.status, a.err)
	}
	// And the stream is still open: it sends the change.
	if kind, op, name, _ := decodeChange(t, s.next()); kind != "vn" || op != "put" || name != "blue" {
		t.Fatalf("change %s %s %s", kind, op, name)
	}
}

type blockingRealizer struct{ release <-chan struct{} }

func (b blockingRealizer) WaitRealizedFor(ctx context.Context, index uint64, _ []string) ([]string, error) {
	select {
	case <-b.release:
		return nil, nil
	case <-ctx.Done():
		return []string{"blocked"}, ctx.Err()
	}
}

// TestBodyTransportErrors: a body that ends before its Content-Length or
// whose chunked framing is broken is the client's error (400 with the
// standard body), not a 500; nothing is written.
func TestBodyTransportErrors(t *testing.T) {
	e := newServedEnv(t, HTTPOptions{}, 0, nil)
	e.seed()
	before := state(e.st)
	cases := []struct {
		name, path, head, body string
	}{
		{"short body", "/api/v1/vns", "Content-Length: 100", `{"name":"green"`},
		{"bad chunk size", "/api/v1/vns", "Transfer-Encoding: chunked", "zz\r\n{\"name\":\"green\"}\r\n0\r\n\r\n"},
		{"chunk without CRLF", "/api/v1/vns", "Transfer-Encoding: chunked", "10\r\n{\"name\":\"green\"}XX0\r\n\r\n"},
		{"truncated chunk", "/api/v1/vns", "Transfer-Encoding: chunked", "40\r\n{\"name\":\"green\"}"},
		{"short patch", "/api/v1/vns/blue", "Content-Length: 50", `{"mtu":1400`},
		{"short batch", "/api/v1/batch", "Content-Length: 500", `{"items":[{"op":"create","kind":"vn","object":{"name":"green"}}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			method := "POST"
			if strings.HasPrefix(c.path, "/api/v1/vns/") {
				method = "PATCH"
			}
			head := method + " " + c.path + " HTTP/1.1\r\nHost: nva\r\nContent-Type: application/json\r\n" + c.head
			res, b := e.rawRequest(head, c.body, true)
			if res.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", res.StatusCode, b)
			}
			if d := errorBody(t, b); d.Code != wire.CodeBadRequest {
				t.Fatalf("error %+v", d)
			}
		})
	}
	if !sameState(before, state(e.st)) {
		t.Fatal("a request with a broken body changed the store")
	}
}

// TestExactCaseKeys: JSON keys are matched exactly. encoding/json alone
// takes {"Tenant":"t2"} for tenant (a PATCH answered 200 with a new
// revision and changed nothing); now create, patch and batch all refuse a
// key whose case differs, naming it by its full path, as they name
// unknown nested fields (bum.ttl).
func TestExactCaseKeys(t *testing.T) {
	e := newEnv(t, nil)
	e.seed()
	before := state(e.st)
	rev := e.st.AppliedIndex()
	cases := []struct {
		name, method, path, body, field string
	}{
		{"patch tenant", "PATCH", "/api/v1/vns/blue", `{"Tenant":"t2"}`, "Tenant"},
		{"patch null", "PATCH", "/api/v1/vns/blue", `{"TENANT":null}`, "TENANT"},
		{"patch nested", "PATCH", "/api/v1/vns/blue", `{"bum":{"Mode":"flood"}}`, "bum.Mode"},
		{"patch nested unknown", "PATCH", "/api/v1/vns/blue", `{"bum":{"ttl":3}}`, "bum.ttl"},
		{"patch port list item", "PATCH", "/api/v1/ports/p1", `{"Ips":["10.0.0.9"]}`, "Ips"},
		{"create", "POST", "/api/v1/vns", `{"name":"green","Tenant":"t2"}`, "Tenant"},
		{"create name", "POST", "/api/v1/vns", `{"Name":"green"}`, "Name"},
		{"create nested", "POST", "/api/v1/vns", `{"name":"green","bum":{"MODE":"replicate"}}`, "bum.MODE"},
		{"create nested unknown", "POST", "/api/v1/vns", `{"name":"green","bum":{"mode":"replicate","ttl":3}}`, "bum.ttl"},
		{"create nve", "POST", "/api/v1/nves", `{"name":"hv3","Underlay_IPs":["192.0.2.3"],"ovsdb":"unix:/x"}`, "Underlay_IPs"},
		{"batch object", "POST", "/api/v1/batch", `{"items":[{"op":"create","kind":"vn","object":{"name":"green","Tenant":"t2"}}]}`, "items[0].Tenant"},
		{"batch nested", "POST", "/api/v1/batch", `{"items":[{"op":"create","kind":"vn","object":{"name":"x"}},{"op":"create","kind":"vn","object":{"name":"green","bum":{"ttl":1}}}]}`, "items[1].bum.ttl"},
		{"batch item key", "POST", "/api/v1/batch", `{"items":[{"OP":"create","kind":"vn","object":{"name":"green"}}]}`, "items[0].OP"},
		{"join", "POST", "/api/v1/cluster/join", `{"ID":"n2","raft_addr":"127.0.0.1:1"}`, "ID"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.must(400, c.method, c.path, c.body)
			if d := r.err(); d.Code != wire.CodeBadRequest || d.Field != c.field || !strings.Contains(d.Message, c.field) {
				t.Fatalf("error %+v, want a 400 naming %s", d, c.field)
			}
		})
	}
	if !sameState(before, state(e.st)) || e.st.AppliedIndex() != rev {
		t.Fatal("a request with a mis-cased key wrote to the store")
	}
	// Exact keys still work, on create and patch alike.
	var vn model.VN
	e.must(200, "PATCH", "/api/v1/vns/blue", `{"tenant":"t2","bum":{"mode":"replicate"}}`).decode(t, &vn)
	if vn.Tenant != "t2" {
		t.Fatalf("patched %+v", vn)
	}
}

// TestPatchRetryAfterDelete: a PATCH retried with its X-Request-ID after
// the object was deleted answers its first result (the store remembers
// it), instead of a 404 that says it never applied; a different patch
// under that ID is refused, and nothing is recreated.
func TestPatchRetryAfterDelete(t *testing.T) {
	e := newEnv(t, nil)
	e.seed()
	type obj = map[string]any
	cases := []struct {
		path, patch, other string
	}{
		// In this order: a VN or NVE with ports cannot be deleted.
		{"/api/v1/ports/p1", `{"vlan":7}`, `{"vlan":8}`},
		{"/api/v1/vns/blue", `{"mtu":1400,"tenant":"t2"}`, `{"mtu":1300}`},
		{"/api/v1/nves/hv2", `{"underlay_ips":["192.0.2.22"]}`, `{"underlay_ips":["192.0.2.23"]}`},
	}
	for i, c := range cases {
		id := fmt.Sprintf("patch-retry-%d", i)
		first := e.must(200, "PATCH", c.path, c.patch, wire.RequestIDHeader, id)
		e.must(204, "DELETE", c.path, "")
		e.must(404, "GET", c.path, "")
		again := e.must(200, "PATCH", c.path, c.patch, wire.RequestIDHeader, id)
		var a, b obj
		first.decode(t, &a)
		again.decode(t, &b)
		if fmt.Sprint(a) != fmt.Sprint(b) || again.header.Get("ETag") != first.header.Get("ETag") {
			t.Fatalf("%s: retry answered %s, first %s", c.path, again.body, first.body)
		}
		e.must(404, "GET", c.path, "") // answered, not recreated
		if r := e.must(409, "PATCH", c.path, c.other, wire.RequestIDHeader, id); !strings.Contains(r.err().Message, "request ID") {
			t.Fatalf("%s: another patch under the ID: %s", c.path, r.body)
		}
		e.must(404, "PATCH", c.path, c.patch, wire.RequestIDHeader, id+"-new")
		e.must(404, "PATCH", c.path, c.patch)
		e.must(404, "GET", c.path, "")
	}
	// An ID that recorded a write of another object is not this PATCH's.
	e.must(201, "POST", "/api/v1/vns", `{"name":"red"}`, wire.RequestIDHeader, "made-red")
	if r := e.must(409, "PATCH", "/api/v1/vns/blue", `{"mtu":1400}`, wire.RequestIDHeader, "made-red"); !strings.Contains(r.err().Message, "request ID") {
		t.Fatalf("ID of another write: %s", r.body)
	}
}

// TestOpenFlowNVEFields: an openflow NVE is reached over OpenFlow only;
// bridge and datapath_type, which nva would store and never use, are
// refused naming the field, on create, patch and in a batch.
func TestOpenFlowNVEFields(t *testing.T) {
	e := newEnv(t, nil)
	base := `"name":"tor1","kind":"openflow","underlay_ips":["192.0.2.9"],"datapath_id":"2a"`
	for _, c := range []struct{ extra, field string }{
		{`"bridge":"br-int"`, "bridge"},
		{`"bridge":"$(reboot)"`, "bridge"},
		{`"datapath_type":"netdev"`, "datapath_type"},
		{`"datapath_type":"anything at all"`, "datapath_type"},
	} {
		r := e.must(422, "POST", "/api/v1/nves", "{"+base+","+c.extra+"}")
		if d := r.err(); d.Code != wire.CodeInvalid || d.Field != c.field {
			t.Fatalf("%s: %+v", c.extra, d)
		}
		r = e.must(422, "POST", "/api/v1/batch", `{"items":[{"op":"create","kind":"nve","object":{`+base+","+c.extra+`}}]}`)
		if d := r.err(); d.Field != "items[0]."+c.field {
			t.Fatalf("batch %s: %+v", c.extra, d)
		}
	}
	e.must(201, "POST", "/api/v1/nves", "{"+base+"}")
	if d := e.must(422, "PATCH", "/api/v1/nves/tor1", `{"bridge":"br0"}`).err(); d.Field != "bridge" {
		t.Fatalf("patch: %+v", d)
	}
	var n model.NVE
	e.must(200, "GET", "/api/v1/nves/tor1", "").decode(t, &n)
	if n.Bridge != "" || n.DatapathType != "" {
		t.Fatalf("stored %+v", n)
	}
}

// TestNoRedirectForWrites: a write to a path that is not canonical gets a
// 404 with the standard body, not a 301 (which a client may follow as a
// GET, or to where it did not mean); a GET is still redirected.
func TestNoRedirectForWrites(t *testing.T) {
	e := newEnv(t, nil)
	e.seed()
	before := state(e.st)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	send := func(method, path, body string) (*http.Response, []byte) {
		t.Helper()
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, err := http.NewRequest(method, e.ts.URL+path, rd)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		res, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, b
	}
	for _, c := range []struct{ method, path, body string }{
		{"DELETE", "//api/v1/vns/blue", ""},
		{"DELETE", "/api/v1//vns/blue", ""},
		{"DELETE", "/api/v1/vns/blue/", ""},
		{"DELETE", "/api/v1/x/../vns/blue", ""},
		{"PATCH", "//api/v1/vns/blue", `{"mtu":1400}`},
		{"PATCH", "/api/v1/vns/blue/", `{"mtu":1400}`},
		{"PATCH", "/api/v1/./vns/blue", `{"mtu":1400}`},
		{"POST", "//api/v1/vns", `{"name":"green"}`},
		{"POST", "/api/v1/vns/", `{"name":"green"}`},
		{"PUT", "//api/v1/vns/blue", `{"name":"blue"}`},
	} {
		res, b := send(c.method, c.path, c.body)
		if res.StatusCode != http.StatusNotFound || res.Header.Get("Location") != "" {
			t.Errorf("%s %s: %d (Location %q), want 404", c.method, c.path, res.StatusCode, res.Header.Get("Location"))
			continue
		}
		if d := errorBody(t, b); d.Code != wire.CodeNotFound {
			t.Errorf("%s %s: error %+v", c.method, c.path, d)
		}
	}
	if !sameState(before, state(e.st)) {
		t.Fatal("a write to a non-canonical path changed the store")
	}
	res, _ := send("GET", "//api/v1/vns/blue?consistent=true", "")
	if res.StatusCode != http.StatusMovedPermanently || res.Header.Get("Location") != "/api/v1/vns/blue?consistent=true" {
		t.Fatalf("GET: %d Location %q", res.StatusCode, res.Header.Get("Location"))
	}
	if r := e.must(200, "GET", "//api/v1/vns/blue", ""); !strings.Contains(string(r.body), `"blue"`) {
		t.Fatalf("followed GET: %s", r.body)
	}
}

// TestOVSDBEndpointPolicy: an NVE's OVSDB endpoint must be allowed by the
// server's policy (default: unix sockets and loopback port 6640), so that
// the API cannot make nva dial anything it is told (request forgery, port
// probing): others get a 422 naming ovsdb, on create, patch and batch.
func TestOVSDBEndpointPolicy(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.OVSDBAllow = nil }) // the default
	nve := func(name, ep string) string {
		return fmt.Sprintf(`{"name":%q,"underlay_ips":["192.0.2.%d"],"ovsdb":%q}`, name, len(name), ep)
	}
	for _, ep := range []string{"tcp:192.0.2.2:6640", "tcp:127.0.0.1:22", "tcp:169.254.169.254:80", "ssl:192.0.2.2:6640", "tcp:localhost:6640"} {
		r := e.must(422, "POST", "/api/v1/nves", nve("hv2", ep))
		if d := r.err(); d.Code != wire.CodeInvalid || d.Field != "ovsdb" || !strings.Contains(d.Message, ep) {
			t.Fatalf("%s: %+v", ep, d)
		}
	}
	e.must(201, "POST", "/api/v1/nves", nve("hv1", "unix:/run/openvswitch/db.sock"))
	e.must(201, "POST", "/api/v1/nves", nve("hv11", "tcp:127.0.0.1:6640"))
	if d := e.must(422, "PATCH", "/api/v1/nves/hv1", `{"ovsdb":"tcp:10.0.0.1:6640"}`).err(); d.Field != "ovsdb" {
		t.Fatalf("patch: %+v", d)
	}
	r := e.must(422, "POST", "/api/v1/batch", `{"items":[{"op":"create","kind":"vn","object":{"name":"blue"}},`+
		`{"op":"create","kind":"nve","object":`+nve("hv3", "tcp:10.0.0.3:6640")+`}]}`)
	if d := r.err(); d.Code != wire.CodeInvalid || d.Field != "items[1].ovsdb" {
		t.Fatalf("batch: %+v", d)
	}
	if snap := e.st.Snapshot(); len(snap.NVEs) != 2 || len(snap.VNs) != 0 || snap.NVEs["hv1"].OVSDB != "unix:/run/openvswitch/db.sock" {
		t.Fatalf("store: %d NVEs %d VNs, hv1 %+v", len(snap.NVEs), len(snap.VNs), snap.NVEs["hv1"])
	}
	// A malformed endpoint is named as such, not as refused by the policy.
	if d := e.must(422, "POST", "/api/v1/nves", nve("hv4", "tcp:nope")).err(); d.Field != "ovsdb" || strings.Contains(d.Message, "policy") {
		t.Fatalf("malformed: %+v", d)
	}

	// A configured policy.
	e2 := newEnv(t, func(o *Options) { o.OVSDBAllow = model.MustOVSDBPolicy("tcp:10.0.0.0/8:6640,ssl:*:6640") })
	e2.must(201, "POST", "/api/v1/nves", nve("hv1", "tcp:10.1.2.3:6640"))
	e2.must(201, "POST", "/api/v1/nves", nve("hv22", "ssl:ovs.example.net:6640"))
	for _, ep := range []string{"tcp:10.1.2.3:22", "unix:/run/openvswitch/db.sock", "tcp:127.0.0.1:6640"} {
		if d := e2.must(422, "POST", "/api/v1/nves", nve("hv3", ep)).err(); d.Field != "ovsdb" {
			t.Fatalf("%s: %+v", ep, d)
		}
	}
}
