package web

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/mux"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/store"
	"github.com/nva-project/nva/web/wire"
)

// authEnv is an API that requires tokens, over a real store holding two
// tenants' VNs: a-net (tenant acme, port a-p1 on hv1) and b-net (tenant
// beta, port b-p1 on hv2), and one token per role.
type authEnv struct {
	*testEnv
	bearer map[string]string // role name -> bearer token ("tenant": of acme)
}

var tableRoles = []string{"none", "bad", "admin", "operator", "reader", "tenant"}

func mustToken(t *testing.T, st *store.Store, role model.Role, tenant string) (model.Token, string) {
	t.Helper()
	tok, bearer, err := NewToken("test "+string(role), role, tenant, func() model.Token { return model.Token{Created: time.Unix(1e9, 0)} })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateToken(context.Background(), "", tok); err != nil {
		t.Fatal(err)
	}
	return tok, bearer
}

func newAuthEnv(t *testing.T, mod func(*Options)) *authEnv {
	t.Helper()
	st := openStore(t, "n1")
	e := &authEnv{testEnv: newEnvWith(t, st, st, func(o *Options) {
		o.Auth = AuthOptions{Enforce: true, Tokens: st}
		if mod != nil {
			mod(o)
		}
	}), bearer: map[string]string{}}
	ctx := context.Background()
	for _, vn := range []model.VN{{Name: "a-net", Tenant: "acme"}, {Name: "b-net", Tenant: "beta"}} {
		if _, err := st.CreateVN(ctx, "", vn); err != nil {
			t.Fatal(err)
		}
	}
	for i, n := range []string{"hv1", "hv2"} {
		if _, err := st.CreateNVE(ctx, "", model.NVE{Name: n, UnderlayIPs: []string{fmt.Sprintf("192.0.2.%d", i+1)}, OVSDB: "unix:/x"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []model.Port{
		{Name: "a-p1", VN: "a-net", NVE: "hv1", Interface: "tap-a1", MAC: "02:00:00:00:0a:01"},
		{Name: "b-p1", VN: "b-net", NVE: "hv2", Interface: "tap-b1", MAC: "02:00:00:00:0b:01"},
	} {
		if _, err := st.CreatePort(ctx, "", p); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range []model.Role{model.RoleAdmin, model.RoleOperator, model.RoleReader} {
		_, e.bearer[string(r)] = mustToken(t, st, r, "")
	}
	_, e.bearer["tenant"] = mustToken(t, st, model.RoleTenant, "acme")
	e.bearer["bad"] = model.FormatToken("0123456789abcdef", strings.Repeat("ab", 32))
	return e
}

// as sends a request as a role (its bearer token; "none": no token).
func (e *authEnv) as(role, method, path, body string, hdr ...string) resp {
	e.t.Helper()
	if b := e.bearer[role]; b != "" {
		hdr = append(hdr, "Authorization", "Bearer "+b)
	}
	if path == "/api/v1/events" {
		return e.stream(method, path, hdr...)
	}
	return e.do(method, path, body, hdr...)
}

// stream opens an events stream and returns its status without reading
// the (endless) body.
func (e *authEnv) stream(method, path string, hdr ...string) resp {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, e.ts.URL+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	var b []byte
	if res.StatusCode != http.StatusOK {
		b, _ = io.ReadAll(res.Body)
	}
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

// authCase is one route with one object, and the status each role gets.
// Roles missing from want are not tried (their request would change what
// the others see); none and bad are tried on every non-public route and
// get 401. {role} and {n} in path and body are the role's name and
// index, for names and addresses no other role uses.
type authCase struct {
	method, route, path, body string
	setup                     func(t *testing.T, st *store.Store, role string, n int)
	want                      wants
}

func all(code int) wants {
	return wants{"admin": code, "operator": code, "reader": code, "tenant": code}
}

func rw(read, write, tenant int) wants {
	return wants{"admin": write, "operator": write, "reader": read, "tenant": tenant}
}

// TestAuthorizationTable: every route × every role × an object in and
// out of the tenant's scope → the status. Every route of the router is
// in routeAccess and in the table.
func TestAuthorizationTable(t *testing.T) {
	e := newAuthEnv(t, nil)
	ctx := context.Background()
	mkVN := func(tenant string) func(*testing.T, *store.Store, string, int) {
		return func(t *testing.T, st *store.Store, role string, n int) {
			if _, err := st.CreateVN(ctx, "", model.VN{Name: tenant + "-" + role, Tenant: tenant}); err != nil {
				t.Fatal(err)
			}
		}
	}
	mkPort := func(t *testing.T, st *store.Store, role string, n int) {
		if _, err := st.CreatePort(ctx, "", model.Port{Name: "dp-" + role, VN: "a-net", NVE: "hv1",
			Interface: "tap-d" + role, MAC: fmt.Sprintf("02:00:00:00:0d:%02x", n)}); err != nil {
			t.Fatal(err)
		}
	}
	mkNVE := func(t *testing.T, st *store.Store, role string, n int) {
		if _, err := st.CreateNVE(ctx, "", model.NVE{Name: "dn-" + role, UnderlayIPs: []string{fmt.Sprintf("198.51.100.%d", n)}, OVSDB: "unix:/x"}); err != nil {
			t.Fatal(err)
		}
	}
	var tokenID string
	mkToken := func(t *testing.T, st *store.Store, role string, n int) {
		tok, _ := mustToken(t, st, model.RoleReader, "")
		tokenID = tok.ID
	}
	const (
		vns   = "/api/v1/vns"
		vn    = "/api/v1/vns/{name}"
		ports = "/api/v1/ports"
		port  = "/api/v1/ports/{name}"
		nves  = "/api/v1/nves"
		nve   = "/api/v1/nves/{name}"
	)
	portBody := func(vn string) string {
		return `{"name":"p-{role}","vn":"` + vn + `","nve":"hv1","interface":"tap-{role}","mac":"02:00:00:00:01:0{n}"}`
	}
	batchPort := `{"name":"bp-{role}","vn":"bv-{role}","nve":"hv1","interface":"tap-b{role}","mac":"02:00:00:00:02:0{n}"}`
	cases := []authCase{
		{"GET", "/api/v1/health", "/api/v1/health", "", nil, map[string]int{"none": 200, "bad": 200, "admin": 200, "operator": 200, "reader": 200, "tenant": 200}},
		{"GET", "/api/v1/session", "/api/v1/session", "", nil, all(200)},
		{"POST", "/api/v1/session", "/api/v1/session", `{"token":"{reader}"}`, nil, map[string]int{"none": 200, "bad": 200, "admin": 200, "operator": 200, "reader": 200, "tenant": 200}},
		{"DELETE", "/api/v1/session", "/api/v1/session", "", nil, map[string]int{"none": 204, "bad": 204, "admin": 204, "operator": 204, "reader": 204, "tenant": 204}},
		{"GET", "/api/v1/cluster", "/api/v1/cluster", "", nil, rw(200, 200, 403)},
		// An invalid body: an admin passes authorization and is refused
		// by validation (a real join would add an unreachable voter).
		{"POST", "/api/v1/cluster/join", "/api/v1/cluster/join", `{"id":"bad id!","raft_addr":"x"}`, nil, rw(403, 403, 403).with("admin", 422)},
		{"DELETE", "/api/v1/cluster/nodes/{id}", "/api/v1/cluster/nodes/ghost", "", nil, rw(403, 403, 403).with("admin", 404)},
		{"GET", "/api/v1/topology", "/api/v1/topology", "", nil, all(200)},
		{"GET", "/api/v1/events", "/api/v1/events", "", nil, all(200)},
		// No southbound in this server: 501 once authorized.
		{"GET", "/api/v1/switches/unclaimed", "/api/v1/switches/unclaimed", "", nil, rw(501, 501, 403)},
		{"GET", "/api/v1/access-links", "/api/v1/access-links", "", nil, all(200)},
		{"GET", "/api/v1/access-links/{tnve}", "/api/v1/access-links/hv1", "", nil, all(404)},
		{"GET", "/api/v1/nves/{name}/flows", "/api/v1/nves/hv1/flows", "", nil, rw(501, 501, 403)},
		{"POST", "/api/v1/batch", "/api/v1/batch", `{"items":[{"op":"create","kind":"vn","object":{"name":"bv-{role}"}},{"op":"create","kind":"port","object":` + batchPort + `}]}`, nil, rw(403, 200, 200)},
		{"POST", "/api/v1/batch", "/api/v1/batch", `{"items":[{"op":"delete","kind":"port","name":"b-p1"}]}`, nil, map[string]int{"reader": 403, "tenant": 404}},
		{"POST", "/api/v1/batch", "/api/v1/batch", `{"items":[{"op":"update","kind":"vn","object":{"name":"b-net","tenant":"beta","mtu":1400}}]}`, nil, map[string]int{"reader": 403, "tenant": 404}},
		{"POST", "/api/v1/batch", "/api/v1/batch", `{"items":[{"op":"create","kind":"port","object":` + portBody("b-net") + `}]}`, nil, map[string]int{"tenant": 422}},
		{"POST", "/api/v1/batch", "/api/v1/batch", `{"items":[{"op":"create","kind":"nve","object":{"name":"bn-{role}","underlay_ips":["203.0.113.{n}"],"ovsdb":"unix:/x"}}]}`, nil, rw(403, 403, 403).with("admin", 200)},
		// VNs: a-net is the tenant's, b-net another tenant's.
		{"GET", vns, vns, "", nil, all(200)},
		{"GET", vn, "/api/v1/vns/a-net", "", nil, all(200)},
		{"GET", vn, "/api/v1/vns/b-net", "", nil, rw(200, 200, 404)},
		{"GET", vn, "/api/v1/vns/nothing", "", nil, all(404)},
		{"POST", vns, vns, `{"name":"v-{role}"}`, nil, rw(403, 201, 201)},
		{"POST", vns, vns, `{"name":"x-{role}","tenant":"beta"}`, nil, rw(403, 201, 403)},
		{"PATCH", vn, "/api/v1/vns/a-net", `{"mtu":1400}`, nil, rw(403, 200, 200)},
		{"PATCH", vn, "/api/v1/vns/b-net", `{"mtu":1400}`, nil, rw(403, 200, 404)},
		{"PATCH", vn, "/api/v1/vns/a-net", `{"tenant":"beta"}`, nil, map[string]int{"reader": 403, "tenant": 403}},
		{"DELETE", vn, "/api/v1/vns/acme-{role}", "", mkVN("acme"), rw(403, 204, 204)},
		{"DELETE", vn, "/api/v1/vns/beta-{role}", "", mkVN("beta"), rw(403, 204, 404)},
		// Ports: a-p1 is in the tenant's VN, b-p1 in another's.
		{"GET", ports, ports, "", nil, all(200)},
		{"GET", port, "/api/v1/ports/a-p1", "", nil, all(200)},
		{"GET", port, "/api/v1/ports/b-p1", "", nil, rw(200, 200, 404)},
		{"POST", ports, ports, portBody("a-net"), nil, rw(403, 201, 201)},
		{"POST", ports, ports, portBody("b-net"), nil, map[string]int{"reader": 403, "tenant": 422}},
		{"PATCH", port, "/api/v1/ports/a-p1", `{"ips":["10.0.0.9"]}`, nil, rw(403, 200, 200)},
		{"PATCH", port, "/api/v1/ports/b-p1", `{"ips":["10.0.0.9"]}`, nil, rw(403, 200, 404)},
		{"PATCH", port, "/api/v1/ports/a-p1", `{"vn":"b-net"}`, nil, map[string]int{"reader": 403, "tenant": 422}},
		{"DELETE", port, "/api/v1/ports/dp-{role}", "", mkPort, rw(403, 204, 204)},
		{"DELETE", port, "/api/v1/ports/b-p1", "", nil, map[string]int{"reader": 403, "tenant": 404}},
		// Policy rules (policy.go): scoped like VNs.
		{"GET", "/api/v1/policies", "/api/v1/policies", "", nil, all(200)},
		{"GET", "/api/v1/policies/{name}", "/api/v1/policies/nothing", "", nil, all(404)},
		{"POST", "/api/v1/policies", "/api/v1/policies", `{"name":"pol-{role}","l3_domain":"prod","priority":{n}}`, nil, rw(403, 201, 201)},
		{"PATCH", "/api/v1/policies/{name}", "/api/v1/policies/nothing", `{"action":"deny"}`, nil, rw(403, 404, 404)},
		{"DELETE", "/api/v1/policies/{name}", "/api/v1/policies/nothing", "", nil, rw(403, 404, 404)},
		// NVEs: read by all but tenants, written by admins.
		{"GET", nves, nves, "", nil, rw(200, 200, 403)},
		{"GET", nve, "/api/v1/nves/hv1", "", nil, rw(200, 200, 403)},
		{"POST", nves, nves, `{"name":"n-{role}","underlay_ips":["192.0.2.{n}0"],"ovsdb":"unix:/x"}`, nil, rw(403, 403, 403).with("admin", 201)},
		{"PATCH", nve, "/api/v1/nves/hv1", `{"ovsdb":"unix:/y"}`, nil, rw(403, 403, 403).with("admin", 200)},
		{"DELETE", nve, "/api/v1/nves/dn-{role}", "", mkNVE, rw(403, 403, 403).with("admin", 204)},
		// Tokens: admins only.
		{"GET", "/api/v1/tokens", "/api/v1/tokens", "", nil, rw(403, 403, 403).with("admin", 200)},
		{"POST", "/api/v1/tokens", "/api/v1/tokens", `{"role":"tenant","tenant":"acme"}`, nil, rw(403, 403, 403).with("admin", 201)},
		{"DELETE", "/api/v1/tokens/{id}", "/api/v1/tokens/{token}", "", mkToken, rw(403, 403, 403).with("admin", 204)},
		{"GET", "/metrics", "/metrics", "", nil, rw(200, 200, 403)},
		// Backups: admins only (this server has no backup support: 501).
		{"GET", "/api/v1/snapshot", "/api/v1/snapshot", "", nil, rw(403, 403, 403).with("admin", 501)},
		// Traces: no tracer in this server: 501 once authorized and in scope.
		{"POST", "/api/v1/traces", "/api/v1/traces", `{"port":"a-p1"}`, nil, all(501)},
		{"POST", "/api/v1/traces", "/api/v1/traces", `{"port":"b-p1"}`, nil, rw(501, 501, 404)},
		// Counters: no southbound in this server: 501 once authorized and in scope.
		{"GET", "/api/v1/counters", "/api/v1/counters", "", nil, rw(501, 501, 403)},
		{"GET", "/api/v1/tunnels", "/api/v1/tunnels", "", nil, rw(501, 501, 403)},
		{"GET", "/api/v1/vns/{name}/counters", "/api/v1/vns/a-net/counters", "", nil, all(501)},
		{"GET", "/api/v1/vns/{name}/counters", "/api/v1/vns/b-net/counters", "", nil, rw(501, 501, 404)},
		{"GET", "/api/v1/ports/{name}/counters", "/api/v1/ports/a-p1/counters", "", nil, all(501)},
		{"GET", "/api/v1/ports/{name}/counters", "/api/v1/ports/b-p1/counters", "", nil, rw(501, 501, 404)},
		// Learned endpoints: no reporter in this server: 501 once authorized and in scope.
		{"GET", "/api/v1/learned", "/api/v1/learned", "", nil, all(501)},
		{"GET", "/api/v1/vns/{name}/learned", "/api/v1/vns/a-net/learned", "", nil, all(501)},
		{"GET", "/api/v1/vns/{name}/learned", "/api/v1/vns/b-net/learned", "", nil, rw(501, 501, 404)},
		// L3 gateways (l3gateway_test.go covers scoping): every role
		// reads; tenants may not write.
		{"GET", "/api/v1/l3gateways", "/api/v1/l3gateways", "", nil, all(200)},
		{"GET", "/api/v1/l3gateways/{name}", "/api/v1/l3gateways/nothing", "", nil, all(404)},
		{"POST", "/api/v1/l3gateways", "/api/v1/l3gateways", `{"name":"g-{role}","tenant":"t{n}","l3_domain":"prod","nve":"hv1","uplink":"up{n}","external_ip":"203.0.113.1{n}/24","next_hop":"203.0.113.1","next_hop_mac":"02:ee:00:00:00:01"}`, nil, rw(403, 201, 403)},
		{"PATCH", "/api/v1/l3gateways/{name}", "/api/v1/l3gateways/nothing", `{"uplink":"x"}`, nil, rw(403, 404, 404)},
		{"DELETE", "/api/v1/l3gateways/{name}", "/api/v1/l3gateways/nothing", "", nil, rw(403, 404, 403)},
	}
	covered := map[string]bool{}
	for _, c := range cases {
		key := c.method + " " + c.route
		covered[key] = true
		roles := slices.Clone(tableRoles)
		if routeAccessOf(c.method, c.route) != accessPublic {
			c.want["none"], c.want["bad"] = 401, 401
		}
		for n, role := range roles {
			want, ok := c.want[role]
			if !ok {
				continue
			}
			t.Run(fmt.Sprintf("%s_%s/%s", c.method, c.path, role), func(t *testing.T) {
				if c.setup != nil {
					c.setup(t, e.st, role, n+1)
				}
				fill := strings.NewReplacer("{role}", role, "{n}", fmt.Sprint(n+1), "{reader}", e.bearer["reader"], "{token}", tokenID)
				r := e.as(role, c.method, fill.Replace(c.path), fill.Replace(c.body))
				if r.status != want {
					t.Fatalf("%s %s as %s: %d, want %d: %s", c.method, fill.Replace(c.path), role, r.status, want, r.body)
				}
				switch want {
				case 401:
					if r.err().Code != wire.CodeUnauthorized || r.header.Get("WWW-Authenticate") == "" {
						t.Fatalf("401 body %s, WWW-Authenticate %q", r.body, r.header.Get("WWW-Authenticate"))
					}
				case 403:
					if r.err().Code != wire.CodeForbidden {
						t.Fatalf("403 body %s", r.body)
					}
				}
			})
		}
	}
	// Every route is in the access table and in the test table.
	err := e.srv.router.Walk(func(rt *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err := rt.GetPathTemplate()
		if err != nil || strings.HasPrefix(tpl, "/internal/") {
			return nil // the UI's matcher; the members' endpoints
		}
		methods, _ := rt.GetMethods()
		for _, m := range methods {
			key := m + " " + tpl
			if _, ok := routeAccess[key]; !ok {
				t.Errorf("route %s is not in routeAccess", key)
			}
			if !covered[key] {
				t.Errorf("route %s is not in the authorization table test", key)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if routeAccessOf("GET", "/api/v1/some-new-route") != accessAdmin {
		t.Fatal("a route missing from routeAccess is not admin-only")
	}
}

// wants is the status each role gets.
type wants map[string]int

func (m wants) with(role string, code int) wants {
	m[role] = code
	return m
}
