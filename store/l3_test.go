package store

import (
	"context"
	"testing"

	"github.com/nva-project/nva/app/model"
)

// TestL3DomainAdmit: overlapping subnets are a conflict within one L3
// domain and valid across domains (or tenants); a port's IPs must fall in
// its VN's subnets; a subnet change that would strand a port is refused.
func TestL3DomainAdmit(t *testing.T) {
	ctx := context.Background()
	s := openMem(t)
	sn := func(c, g string) []model.Subnet { return []model.Subnet{{CIDR: c, Gateway: g}} }
	mustVN := func(v model.VN) {
		t.Helper()
		if _, err := s.CreateVN(ctx, "", v); err != nil {
			t.Fatalf("create %s: %v", v.Name, err)
		}
	}
	mustVN(model.VN{Name: "a1", Service: model.ServiceL3, Tenant: "acme", L3Domain: "prod", Subnets: sn("10.0.1.0/24", "10.0.1.1")})
	mustVN(model.VN{Name: "a2", Service: model.ServiceL2L3, Tenant: "acme", L3Domain: "prod", Subnets: sn("10.0.2.0/24", "10.0.2.1")})
	// Same subnet, other domain of the same tenant, and another tenant's
	// domain of the same name: both valid.
	mustVN(model.VN{Name: "a3", Service: model.ServiceL3, Tenant: "acme", L3Domain: "test", Subnets: sn("10.0.1.0/24", "10.0.1.1")})
	mustVN(model.VN{Name: "b1", Service: model.ServiceL3, Tenant: "beta", L3Domain: "prod", Subnets: sn("10.0.1.0/24", "10.0.1.1")})
	_, err := s.CreateVN(ctx, "", model.VN{Name: "a4", Service: model.ServiceL3, Tenant: "acme", L3Domain: "prod", Subnets: sn("10.0.0.0/16", "10.0.0.1")})
	if e, ok := model.AsError(err); !ok || e.Kind != model.KindConflict || e.Field != "subnets[0].cidr" {
		t.Fatalf("overlap within a domain: %v", err)
	}
	if _, err := s.CreateNVE(ctx, "", model.NVE{Name: "hv1", UnderlayIPs: []string{"198.18.0.1"}, OVSDB: "unix:/x"}); err != nil {
		t.Fatal(err)
	}
	_, err = s.CreatePort(ctx, "", model.Port{Name: "p", VN: "a1", NVE: "hv1", Interface: "t1", MAC: "02:00:00:00:00:01", IPs: []string{"10.0.2.5"}})
	if e, ok := model.AsError(err); !ok || e.Kind != model.KindInvalid || e.Field != "ips[0]" {
		t.Fatalf("port outside its subnets: %v", err)
	}
	if _, err := s.CreatePort(ctx, "", model.Port{Name: "p", VN: "a1", NVE: "hv1", Interface: "t1", MAC: "02:00:00:00:00:01", IPs: []string{"10.0.1.5"}}); err != nil {
		t.Fatal(err)
	}
	_, err = s.UpdateVN(ctx, "", model.VN{Name: "a1", Service: model.ServiceL3, Tenant: "acme", L3Domain: "prod", Subnets: sn("10.0.3.0/24", "10.0.3.1")})
	if e, ok := model.AsError(err); !ok || e.Kind != model.KindConflict || e.Field != "subnets" {
		t.Fatalf("subnet change stranding a port: %v", err)
	}
}
