package ofctl

import (
	"reflect"
	"testing"

	"github.com/nva-project/nva/app/model"
)

// TestAffectedNVEsPolicy: a policy rule added, changed or deleted affects
// every NVE hosting a VN of its L3 domain, and no other.
func TestAffectedNVEsPolicy(t *testing.T) {
	base := snap(10, []string{"hv1", "hv2", "hv3"}, nil,
		[3]string{"w1", "web", "hv1"}, [3]string{"d2", "db", "hv2"}, [3]string{"o3", "other", "hv3"})
	sn := []model.Subnet{{CIDR: "10.0.0.0/24", Gateway: "10.0.0.1"}}
	base.VNs["web"] = &model.VN{Name: "web", Service: model.ServiceL2L3, Tenant: "acme", L3Domain: "prod", Subnets: sn}
	base.VNs["db"] = &model.VN{Name: "db", Service: model.ServiceL3, Tenant: "acme", L3Domain: "prod", Subnets: sn}
	base.VNs["other"] = &model.VN{Name: "other", Service: model.ServiceL3, Tenant: "beta", L3Domain: "prod", Subnets: sn}
	rule := &model.PolicyRule{Name: "r", Tenant: "acme", L3Domain: "prod", Priority: 1}
	n := next(base)
	n.Policies = map[string]*model.PolicyRule{"r": rule}
	if got, want := names(affectedNVEs(base, n)), []string{"hv1", "hv2"}; !reflect.DeepEqual(got, want) {
		t.Errorf("rule added: affected %v, want %v", got, want)
	}
	m := next(n)
	m.Policies = map[string]*model.PolicyRule{"r": rule}
	if got := names(affectedNVEs(n, m)); len(got) != 0 {
		t.Errorf("nothing changed: affected %v", got)
	}
	o := next(m)
	if got, want := names(affectedNVEs(m, o)), []string{"hv1", "hv2"}; !reflect.DeepEqual(got, want) {
		t.Errorf("rule deleted: affected %v, want %v", got, want)
	}
}
