package web

import (
	"context"
	"strings"
	"testing"

	"github.com/nva-project/nva/app/model"
)

// TestPolicyAPI: CRUD of policy rules over REST, 4xx naming the field,
// tenant scoping (a tenant sees and writes only its own rules; its token
// fills the tenant on create).
func TestPolicyAPI(t *testing.T) {
	e := newAuthEnv(t, nil)
	ctx := context.Background()
	sn := func(c, g string) []model.Subnet { return []model.Subnet{{CIDR: c, Gateway: g}} }
	for _, vn := range []model.VN{
		{Name: "a-web", Tenant: "acme", Service: model.ServiceL3, L3Domain: "prod", Subnets: sn("10.1.0.0/24", "10.1.0.1")},
		{Name: "a-db", Tenant: "acme", Service: model.ServiceL3, L3Domain: "prod", Subnets: sn("10.2.0.0/24", "10.2.0.1")},
		{Name: "b-db", Tenant: "beta", Service: model.ServiceL3, L3Domain: "prod", Subnets: sn("10.2.0.0/24", "10.2.0.1")},
	} {
		if _, err := e.st.CreateVN(ctx, "", vn); err != nil {
			t.Fatal(err)
		}
	}
	// The tenant creates a rule without naming its tenant.
	r := e.as("tenant", "POST", "/api/v1/policies", `{"name":"web-db","l3_domain":"prod","priority":100,
		"source":{"vn":"a-web"},"destination":{"vn":"a-db"},"protocol":"tcp","ports":[{"from":5432,"to":5432}]}`)
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var got model.PolicyRule
	r.decode(t, &got)
	if got.Tenant != "acme" || got.Action != model.PolicyAllow || got.Revision == 0 {
		t.Fatalf("created %+v", got)
	}
	for _, c := range []struct {
		role, body, field string
		status            int
	}{
		{"tenant", `{"name":"x","l3_domain":"prod","priority":5,"destination":{"cidr":"10.2.0.0/33"}}`, "destination.cidr", 422},
		{"tenant", `{"name":"x","l3_domain":"prod","priority":5,"protocol":"icmp","ports":[{"from":1,"to":2}]}`, "ports", 422},
		{"tenant", `{"name":"x","l3_domain":"prod","priority":5,"protocol":"tcp","ports":[{"from":9,"to":2}]}`, "ports[0]", 422},
		{"tenant", `{"name":"x","l3_domain":"prod","priority":100}`, "priority", 409},
		{"tenant", `{"name":"x","l3_domain":"prod","priority":5,"destination":{"vn":"b-db"}}`, "destination.vn", 422},
		{"tenant", `{"name":"x","tenant":"beta","l3_domain":"prod","priority":5}`, "tenant", 403},
		{"admin", `{"name":"x","tenant":"beta","l3_domain":"prod","priority":5,"source":{"vn":"a-web"}}`, "source.vn", 422},
	} {
		r := e.as(c.role, "POST", "/api/v1/policies", c.body)
		if r.status != c.status || r.err().Field != c.field {
			t.Errorf("%s POST %s: %d %s, want %d on %s", c.role, c.body, r.status, r.body, c.status, c.field)
		}
	}
	// beta's rule, written by the admin, is invisible to acme's token.
	e.must(201, "POST", "/api/v1/policies", `{"name":"b-any","tenant":"beta","l3_domain":"prod","priority":100,"action":"deny"}`,
		"Authorization", "Bearer "+e.bearer["admin"])
	list := e.as("tenant", "GET", "/api/v1/policies", "")
	if got := strings.Join(names(t, list), ","); got != "web-db" {
		t.Errorf("tenant list %q, want web-db", got)
	}
	if got := strings.Join(names(t, e.as("reader", "GET", "/api/v1/policies?l3_domain=prod", "")), ","); got != "b-any,web-db" {
		t.Errorf("reader list %q", got)
	}
	if r := e.as("tenant", "DELETE", "/api/v1/policies/b-any", ""); r.status != 404 {
		t.Errorf("tenant deletes another tenant's rule: %d", r.status)
	}
	r = e.as("tenant", "PATCH", "/api/v1/policies/web-db", `{"action":"deny"}`, "Content-Type", "application/merge-patch+json")
	if r.status != 200 {
		t.Fatalf("patch: %d %s", r.status, r.body)
	}
	if p := e.st.Snapshot().Policies["web-db"]; p.Action != model.PolicyDeny {
		t.Fatalf("after patch %+v", p)
	}
	if r := e.as("tenant", "DELETE", "/api/v1/policies/web-db", ""); r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	if e.st.Snapshot().Policies["web-db"] != nil {
		t.Fatal("rule still stored")
	}
}
