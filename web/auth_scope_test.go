package web

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/web/wire"
)

func names(t *testing.T, r resp) []string {
	t.Helper()
	var l struct {
		Items []struct {
			Name string `json:"name"`
		} `json:"items"`
	}
	r.decode(t, &l)
	out := []string{}
	for _, it := range l.Items {
		out = append(out, it.Name)
	}
	return out
}

// TestTenantListFiltering: a tenant's lists and topology hold its scope
// only; the other roles see everything.
func TestTenantListFiltering(t *testing.T) {
	e := newAuthEnv(t, nil)
	for _, tc := range []struct{ role, path, want string }{
		{"tenant", "/api/v1/vns", "a-net"},
		{"tenant", "/api/v1/vns?consistent=true", "a-net"},
		{"tenant", "/api/v1/vns?tenant=beta", ""},
		{"tenant", "/api/v1/ports", "a-p1"},
		{"tenant", "/api/v1/ports?vn=b-net", ""},
		{"reader", "/api/v1/vns", "a-net,b-net"},
		{"reader", "/api/v1/ports", "a-p1,b-p1"},
		{"operator", "/api/v1/nves", "hv1,hv2"},
	} {
		r := e.as(tc.role, "GET", tc.path, "")
		if r.status != 200 {
			t.Fatalf("%s %s: %d %s", tc.role, tc.path, r.status, r.body)
		}
		if got := strings.Join(names(t, r), ","); got != tc.want {
			t.Errorf("%s GET %s: %q, want %q", tc.role, tc.path, got, tc.want)
		}
	}

	var topo wire.Topology
	e.as("tenant", "GET", "/api/v1/topology", "").decode(t, &topo)
	if len(topo.VNs) != 1 || topo.VNs[0].Name != "a-net" || len(topo.Ports) != 1 || topo.Ports[0].Name != "a-p1" {
		t.Fatalf("tenant topology: %+v", topo)
	}
	if len(topo.NVEs) != 1 || topo.NVEs[0].Name != "hv1" || topo.NVEs[0].OVSDB != "" || len(topo.NVEs[0].UnderlayIPs) != 0 || topo.NVEs[0].DatapathID != "" {
		t.Fatalf("tenant sees NVE internals: %+v", topo.NVEs)
	}
	if len(topo.Tunnels) != 0 || topo.UnclaimedSwitches != nil {
		t.Fatalf("tenant topology: tunnels %v, unclaimed %v", topo.Tunnels, topo.UnclaimedSwitches)
	}
	e.as("reader", "GET", "/api/v1/topology", "").decode(t, &topo)
	if len(topo.VNs) != 2 || len(topo.NVEs) != 2 || topo.NVEs[0].OVSDB == "" {
		t.Fatalf("reader topology: %+v", topo)
	}

	// The 404 of another tenant's VN is the 404 of a VN that does not
	// exist: same code, same message form.
	other := e.as("tenant", "GET", "/api/v1/vns/b-net", "").err()
	none := e.as("tenant", "GET", "/api/v1/vns/zzz", "").err()
	if other.Code != none.Code || strings.ReplaceAll(other.Message, "b-net", "zzz") != none.Message {
		t.Fatalf("another tenant's VN answers %+v, a missing one %+v", other, none)
	}
	other = e.as("tenant", "DELETE", "/api/v1/vns/b-net", "").err()
	none = e.as("tenant", "DELETE", "/api/v1/vns/zzz", "").err()
	if other.Code != none.Code || strings.ReplaceAll(other.Message, "b-net", "zzz") != none.Message {
		t.Fatalf("delete: another tenant's VN answers %+v, a missing one %+v", other, none)
	}
	// A tenant's VN created without a tenant is the tenant's.
	var v model.VN
	e.as("tenant", "POST", "/api/v1/vns", `{"name":"mine"}`).decode(t, &v)
	if v.Tenant != "acme" {
		t.Fatalf("tenant's new VN has tenant %q", v.Tenant)
	}
}

// sseReader reads Server-Sent Events.
type sseReader struct {
	sc *bufio.Scanner
}

func (s *sseReader) next(t *testing.T) (typ string, data []byte) {
	t.Helper()
	for s.sc.Scan() {
		line := s.sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			typ = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = []byte(strings.TrimPrefix(line, "data: "))
		case line == "" && typ != "":
			return typ, data
		}
	}
	t.Fatalf("stream ended: %v", s.sc.Err())
	return "", nil
}

func openEvents(t *testing.T, e *authEnv, hdr ...string) *sseReader {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", e.ts.URL+"/api/v1/events", nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	if res.StatusCode != 200 {
		t.Fatalf("events: %d", res.StatusCode)
	}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	return &sseReader{sc: sc}
}

// TestTenantEvents: a tenant's stream (authenticated by the session
// cookie, as the UI's EventSource is) starts from its scope and carries
// only its changes, with the NVE of its first port there appearing first,
// reduced.
func TestTenantEvents(t *testing.T) {
	e := newAuthEnv(t, nil)
	r := e.do("POST", "/api/v1/session", `{"token":"`+e.bearer["tenant"]+`"}`)
	if r.status != 200 {
		t.Fatalf("session: %d %s", r.status, r.body)
	}
	cookie := r.header.Get("Set-Cookie")
	for _, attr := range []string{wire.SessionCookie + "=", "HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(cookie, attr) {
			t.Fatalf("Set-Cookie %q lacks %s", cookie, attr)
		}
	}
	cv := strings.SplitN(cookie, ";", 2)[0]
	ev := openEvents(t, e, "Cookie", cv)
	typ, data := ev.next(t)
	if typ != "snapshot" {
		t.Fatalf("first event %s", typ)
	}
	var topo wire.Topology
	if err := json.Unmarshal(data, &topo); err != nil {
		t.Fatal(err)
	}
	if len(topo.VNs) != 1 || topo.VNs[0].Name != "a-net" || len(topo.NVEs) != 1 {
		t.Fatalf("tenant snapshot %s", data)
	}
	ctx := context.Background()
	// Another tenant's changes, then the tenant's port on a new NVE.
	if _, err := e.st.CreateVN(ctx, "", model.VN{Name: "b-net2", Tenant: "beta"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.CreatePort(ctx, "", model.Port{Name: "b-p2", VN: "b-net", NVE: "hv1", Interface: "tb2", MAC: "02:00:00:00:0b:02"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.CreatePort(ctx, "", model.Port{Name: "a-p2", VN: "a-net", NVE: "hv2", Interface: "ta2", MAC: "02:00:00:00:0a:02"}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for len(got) < 2 {
		typ, data := ev.next(t)
		if typ != "change" {
			continue
		}
		var ce struct {
			Kind, Op, Name string
			Object         map[string]any
		}
		if err := json.Unmarshal(data, &ce); err != nil {
			t.Fatal(err)
		}
		got = append(got, ce.Kind+":"+ce.Name)
		if ce.Kind == "nve" && (ce.Object["ovsdb"] != nil || len(ce.Object["underlay_ips"].([]any)) != 0) {
			t.Fatalf("tenant sees NVE internals: %s", data)
		}
	}
	if strings.Join(got, ",") != "nve:hv2,port:a-p2" {
		t.Fatalf("tenant's changes: %v", got)
	}
	// The cookie alone authenticates reads; a bad one does not.
	if r := e.do("GET", "/api/v1/vns", "", "Cookie", cv); r.status != 200 || strings.Join(names(t, r), ",") != "a-net" {
		t.Fatalf("cookie read: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/api/v1/vns", "", "Cookie", wire.SessionCookie+"=nva_x_y"); r.status != 401 {
		t.Fatalf("bad cookie: %d", r.status)
	}
	if r := e.do("POST", "/api/v1/session", `{"token":"nva_0123456789abcdef_`+strings.Repeat("0", 64)+`"}`); r.status != 401 {
		t.Fatalf("session with an unknown token: %d", r.status)
	}
	if r := e.do("DELETE", "/api/v1/session", ""); r.status != 204 || !strings.Contains(r.header.Get("Set-Cookie"), "Max-Age=0") {
		t.Fatalf("logout: %d %q", r.status, r.header.Get("Set-Cookie"))
	}
}

// TestTokenEndpoints: create shows the secret once, the secret works,
// list never shows it, revoke ends it.
func TestTokenEndpoints(t *testing.T) {
	e := newAuthEnv(t, nil)
	r := e.as("admin", "POST", "/api/v1/tokens", `{"name":"ci","role":"tenant","tenant":"beta"}`)
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var tok wire.Token
	r.decode(t, &tok)
	if tok.Secret == "" || tok.Role != model.RoleTenant || tok.Tenant != "beta" || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("created %+v", tok)
	}
	e.bearer["beta"] = tok.Secret
	if got := strings.Join(names(t, e.as("beta", "GET", "/api/v1/vns", "")), ","); got != "b-net" {
		t.Fatalf("new tenant token sees %q", got)
	}
	list := e.as("admin", "GET", "/api/v1/tokens", "")
	if strings.Contains(string(list.body), tok.Secret[len(tok.Secret)-64:]) || strings.Contains(string(list.body), "hash") {
		t.Fatalf("list shows a secret: %s", list.body)
	}
	var tl wire.TokenList
	list.decode(t, &tl)
	if len(tl.Items) != 5 {
		t.Fatalf("%d tokens listed", len(tl.Items))
	}
	for _, body := range []string{`{"role":"root"}`, `{"role":"tenant"}`, `{"role":"admin","tenant":"x"}`, `{"role":"reader","extra":1}`} {
		if r := e.as("admin", "POST", "/api/v1/tokens", body); r.status/100 != 4 || r.err().Field == "" {
			t.Fatalf("create %s: %d %s", body, r.status, r.body)
		}
	}
	e.must(204, "DELETE", "/api/v1/tokens/"+tok.ID, "", "Authorization", "Bearer "+e.bearer["admin"])
	if r := e.as("beta", "GET", "/api/v1/vns", ""); r.status != 401 {
		t.Fatalf("revoked token: %d", r.status)
	}
	if r := e.as("admin", "DELETE", "/api/v1/tokens/"+tok.ID, ""); r.status != 404 {
		t.Fatalf("revoke twice: %d", r.status)
	}
	// A token of the right form whose secret is wrong is refused.
	id, _, _ := model.ParseToken(e.bearer["reader"])
	if r := e.do("GET", "/api/v1/vns", "", "Authorization", "Bearer "+model.FormatToken(id, strings.Repeat("0", 64))); r.status != 401 {
		t.Fatalf("wrong secret: %d", r.status)
	}
	if r := e.do("GET", "/api/v1/vns", "", "Authorization", "Basic abc"); r.status != 401 {
		t.Fatalf("basic auth: %d", r.status)
	}
}

// TestNoAuthMode: without Enforce (loopback), no token means admin, and
// a token that is sent still counts (and must be valid).
func TestNoAuthMode(t *testing.T) {
	e := newAuthEnv(t, func(o *Options) { o.Auth.Enforce = false })
	if r := e.as("none", "POST", "/api/v1/nves", `{"name":"hv9","underlay_ips":["192.0.2.99"],"ovsdb":"unix:/x"}`); r.status != 201 {
		t.Fatalf("anonymous admin: %d %s", r.status, r.body)
	}
	if got := strings.Join(names(t, e.as("tenant", "GET", "/api/v1/vns", "")), ","); got != "a-net" {
		t.Fatalf("tenant token without enforcement sees %q", got)
	}
	if r := e.as("bad", "GET", "/api/v1/vns", ""); r.status != 401 {
		t.Fatalf("bad token: %d", r.status)
	}
	if r := e.do("GET", "/api/v1/vns", "", "Cookie", wire.SessionCookie+"=stale"); r.status != 200 {
		t.Fatalf("stale cookie: %d", r.status)
	}
	var s wire.Session
	e.as("none", "GET", "/api/v1/session", "").decode(t, &s)
	if s.Auth || s.Role != model.RoleAdmin {
		t.Fatalf("session %+v", s)
	}
}

// TestCrossSite: form posts, foreign origins and foreign Host names are
// refused before anything runs, with auth off (loopback) too.
func TestCrossSite(t *testing.T) {
	e := newAuthEnv(t, func(o *Options) {
		o.Auth.Enforce = false
		o.Auth.Hostnames = []string{"127.0.0.1", "localhost", "nva.example"}
		o.Auth.AllowedOrigins = []string{"https://console.example/"}
	})
	before := state(e.st)
	for _, tc := range []struct {
		name, method, path, body string
		hdr                      []string
		want                     int
		code                     string
	}{
		{"no content type", "POST", "/api/v1/vns", `{"name":"x1"}`, []string{"Content-Type", ""}, 415, wire.CodeUnsupportedMedia},
		{"form post", "POST", "/api/v1/vns", `name=x`, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, wire.CodeUnsupportedMedia},
		{"text/plain", "PATCH", "/api/v1/vns/a-net", `{"mtu":1300}`, []string{"Content-Type", "text/plain"}, 415, wire.CodeUnsupportedMedia},
		{"delete with a form body", "DELETE", "/api/v1/vns/a-net", `x=1`, []string{"Content-Type", "text/plain"}, 415, wire.CodeUnsupportedMedia},
		{"session as a form", "POST", "/api/v1/session", `token=x`, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, wire.CodeUnsupportedMedia},
		{"foreign origin", "POST", "/api/v1/vns", `{"name":"x2"}`, []string{"Origin", "http://evil.example"}, 403, wire.CodeForbidden},
		{"null origin", "POST", "/api/v1/vns", `{"name":"x3"}`, []string{"Origin", "null"}, 403, wire.CodeForbidden},
		{"foreign origin read", "GET", "/api/v1/vns", "", []string{"Origin", "http://evil.example"}, 403, wire.CodeForbidden},
		{"rebinding", "GET", "/api/v1/vns", "", []string{"Host", "evil.example"}, 421, wire.CodeMisdirected},
		{"rebinding write", "DELETE", "/api/v1/vns/a-net", "", []string{"Host", "evil.example:8080"}, 421, wire.CodeMisdirected},
		{"rebinding UI", "GET", "/", "", []string{"Host", "evil.example"}, 421, wire.CodeMisdirected},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(tc.method, tc.path, tc.body, tc.hdr...)
			if r.status != tc.want || r.err().Code != tc.code {
				t.Fatalf("%d %s, want %d %s", r.status, r.body, tc.want, tc.code)
			}
		})
	}
	if after := state(e.st); !equalJSON(before, after) {
		t.Fatal("a refused request changed the state")
	}
	port := e.ts.URL[strings.LastIndex(e.ts.URL, ":")+1:]
	for _, tc := range []struct {
		name string
		hdr  []string
	}{
		{"same origin", []string{"Origin", e.ts.URL}},
		{"allowed origin", []string{"Origin", "https://console.example"}},
		{"configured host name", []string{"Host", "nva.example:" + port}},
		{"merge patch type", []string{"Content-Type", "application/merge-patch+json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := e.do("PATCH", "/api/v1/vns/a-net", `{"mtu":1400}`, tc.hdr...); r.status != 200 {
				t.Fatalf("%d %s", r.status, r.body)
			}
		})
	}
	// A DELETE without a body needs no content type.
	e.must(204, "DELETE", "/api/v1/ports/a-p1", "")
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// TestTenantFilter: the store's changes as a tenant's stream sees them.
func TestTenantFilter(t *testing.T) {
	vn := func(name, tenant string) *model.VN { return &model.VN{Name: name, Tenant: tenant} }
	nve := func(name string) *model.NVE {
		return &model.NVE{Name: name, Kind: model.NVEOVS, UnderlayIPs: []string{"192.0.2.1"}, OVSDB: "unix:/x"}
	}
	port := func(name, vn, nve string) *model.Port { return &model.Port{Name: name, VN: vn, NVE: nve} }
	snap := model.NewSnapshot(10,
		map[string]*model.VN{"a": vn("a", "acme"), "b": vn("b", "beta")},
		map[string]*model.NVE{"hv1": nve("hv1"), "hv2": nve("hv2")},
		map[string]*model.Port{"pa": port("pa", "a", "hv1"), "pb": port("pb", "b", "hv2")})
	f := newTenantFilter("acme", snap)
	put := func(kind, name string, old, nw any) model.Change {
		return model.Change{Index: 11, Kind: kind, Op: model.OpPut, Name: name, Old: old, New: nw}
	}
	del := func(kind, name string, old any) model.Change {
		return model.Change{Index: 11, Kind: kind, Op: model.OpDelete, Name: name, Old: old}
	}
	show := func(evs []model.Change) string {
		var out []string
		for _, e := range evs {
			s := e.Kind + ":" + e.Op + ":" + e.Name
			if n, ok := e.New.(*model.NVE); ok && (n.OVSDB != "" || len(n.UnderlayIPs) != 0) {
				s += "(internals!)"
			}
			out = append(out, s)
		}
		return strings.Join(out, ",")
	}
	for _, tc := range []struct {
		ev   model.Change
		want string
	}{
		{put(model.ChangeVN, "b2", nil, vn("b2", "beta")), ""},
		{put(model.ChangeVN, "a2", nil, vn("a2", "acme")), "vn:put:a2"},
		{put(model.ChangePort, "pb2", nil, port("pb2", "b", "hv1")), ""},
		{put(model.ChangeNVE, "hv2", nve("hv2"), nve("hv2")), ""}, // hosts no port of acme
		{put(model.ChangeNVE, "hv1", nve("hv1"), nve("hv1")), "nve:put:hv1"},
		// The first acme port on hv2 brings hv2 (reduced) first.
		{put(model.ChangePort, "pa2", nil, port("pa2", "a2", "hv2")), "nve:put:hv2,port:put:pa2"},
		// Moving pa2 to hv1: hv2 has no acme port left and goes.
		{put(model.ChangePort, "pa2", port("pa2", "a2", "hv2"), port("pa2", "a2", "hv1")), "port:put:pa2,nve:delete:hv2"},
		{del(model.ChangePort, "pa2", port("pa2", "a2", "hv1")), "port:delete:pa2"},
		{del(model.ChangeVN, "a2", vn("a2", "acme")), "vn:delete:a2"},
		{put(model.ChangeNode, "n2", nil, nil), ""},
		// A VN or a port leaving or entering the scope: take a new snapshot.
		{put(model.ChangeVN, "b", vn("b", "beta"), vn("b", "acme")), "reset::"},
		{put(model.ChangePort, "pa", port("pa", "a", "hv1"), port("pa", "b", "hv1")), "reset::"},
	} {
		if got := show(f.pass(tc.ev)); got != tc.want {
			t.Errorf("%s %s %s: %q, want %q", tc.ev.Kind, tc.ev.Op, tc.ev.Name, got, tc.want)
		}
	}
}
