package model

import (
	"strings"
	"testing"
)

func validRule() PolicyRule {
	return PolicyRule{Name: "web", Tenant: "t1", L3Domain: "prod", Priority: 100, Action: PolicyAllow,
		Source: PolicyEndpoint{VN: "front"}, Dest: PolicyEndpoint{CIDR: "10.0.2.7/24"},
		Protocol: ProtoTCP, Ports: []PortRange{{80, 80}, {8000, 8080}}}
}

func TestPolicyRuleValidate(t *testing.T) {
	r := validRule()
	r.Defaults()
	if err := r.Validate(); err != nil {
		t.Fatalf("valid rule: %v", err)
	}
	if r.Dest.CIDR != "10.0.2.0/24" {
		t.Errorf("cidr not canonicalized: %q", r.Dest.CIDR)
	}
	d := PolicyRule{Name: "d", L3Domain: "x", Priority: 1}
	d.Defaults()
	if d.Action != PolicyAllow || d.Protocol != ProtoAny || d.Validate() != nil {
		t.Errorf("defaults: %+v", d)
	}
	cases := map[string]struct {
		edit  func(*PolicyRule)
		field string
	}{
		"bad cidr":         {func(r *PolicyRule) { r.Dest.CIDR = "10.0.2.0/33" }, "destination.cidr"},
		"both vn and cidr": {func(r *PolicyRule) { r.Source.CIDR = "10.0.0.0/8" }, "source"},
		"no domain":        {func(r *PolicyRule) { r.L3Domain = "" }, "l3_domain"},
		"priority 0":       {func(r *PolicyRule) { r.Priority = 0 }, "priority"},
		"priority big":     {func(r *PolicyRule) { r.Priority = 70000 }, "priority"},
		"action":           {func(r *PolicyRule) { r.Action = "reject" }, "action"},
		"protocol":         {func(r *PolicyRule) { r.Protocol = "sctp" }, "protocol"},
		"ports with icmp":  {func(r *PolicyRule) { r.Protocol = ProtoICMP }, "ports"},
		"port 0":           {func(r *PolicyRule) { r.Ports = []PortRange{{0, 5}} }, "ports[0].from"},
		"lo above hi":      {func(r *PolicyRule) { r.Ports = []PortRange{{80, 80}, {90, 85}} }, "ports[1]"},
		"icmp with v6":     {func(r *PolicyRule) { r.Ports = nil; r.Protocol = ProtoICMP; r.Dest.CIDR = "2001:db8::/64" }, "protocol"},
		"mixed families":   {func(r *PolicyRule) { r.Source = PolicyEndpoint{CIDR: "2001:db8::/64"} }, "destination.cidr"},
		"bad vn":           {func(r *PolicyRule) { r.Source.VN = "-x" }, "source.vn"},
	}
	for name, c := range cases {
		r := validRule()
		c.edit(&r)
		r.Defaults()
		err := r.Validate()
		e, ok := AsError(err)
		if !ok || e.Kind != KindInvalid || e.Field != c.field {
			t.Errorf("%s: got %v, want an invalid error on field %s", name, err, c.field)
		}
	}
}

func TestCheckPolicyRule(t *testing.T) {
	vns := map[string]*VN{
		"front": {Name: "front", Tenant: "t1", Service: ServiceL3, L3Domain: "prod"},
		"back":  {Name: "back", Tenant: "t1", Service: ServiceL3, L3Domain: "prod"},
		"other": {Name: "other", Tenant: "t1", Service: ServiceL3, L3Domain: "dev"},
		"t2vn":  {Name: "t2vn", Tenant: "t2", Service: ServiceL3, L3Domain: "prod"},
	}
	r := validRule()
	r.Dest = PolicyEndpoint{VN: "back"}
	rules := map[string]*PolicyRule{"web": &r}
	if e := CheckPolicyRule(&r, vns, rules); e != nil {
		t.Fatalf("valid: %v", e)
	}
	for name, c := range map[string]struct {
		edit  func(*PolicyRule)
		field string
		kind  ErrorKind
	}{
		"missing vn":    {func(r *PolicyRule) { r.Dest.VN = "nope" }, "destination.vn", KindReference},
		"other tenant":  {func(r *PolicyRule) { r.Source.VN = "t2vn" }, "source.vn", KindReference},
		"other domain":  {func(r *PolicyRule) { r.Dest.VN = "other" }, "destination.vn", KindConflict},
		"same priority": {func(r *PolicyRule) { r.Name = "web2" }, "priority", KindConflict},
	} {
		x := r
		c.edit(&x)
		e := CheckPolicyRule(&x, vns, rules)
		if e == nil || e.Field != c.field || e.Kind != c.kind {
			t.Errorf("%s: got %v, want %s on %s", name, e, c.kind, c.field)
		}
	}
	// Same priority in another domain is fine.
	x := r
	x.Name, x.L3Domain, x.Source, x.Dest = "dev1", "dev", PolicyEndpoint{}, PolicyEndpoint{VN: "other"}
	if e := CheckPolicyRule(&x, vns, rules); e != nil {
		t.Errorf("other domain, same priority: %v", e)
	}
}

func TestDomainRulesOrder(t *testing.T) {
	s := NewSnapshot(1, nil, nil, nil)
	s.Policies = map[string]*PolicyRule{
		"a": {Name: "a", Tenant: "t", L3Domain: "d", Priority: 10},
		"b": {Name: "b", Tenant: "t", L3Domain: "d", Priority: 300},
		"c": {Name: "c", Tenant: "t", L3Domain: "e", Priority: 500},
		"d": {Name: "d", Tenant: "t", L3Domain: "d", Priority: 20},
	}
	var names []string
	for _, r := range s.DomainRules("t/d") {
		names = append(names, r.Name)
	}
	if got := strings.Join(names, ","); got != "b,d,a" {
		t.Errorf("order %s, want b,d,a", got)
	}
}

func TestChangedPolicyDomains(t *testing.T) {
	a := &PolicyRule{Name: "a", Tenant: "t", L3Domain: "d1", Priority: 1}
	b := &PolicyRule{Name: "b", Tenant: "t", L3Domain: "d2", Priority: 1}
	b2 := &PolicyRule{Name: "b", Tenant: "t", L3Domain: "d3", Priority: 1}
	c := &PolicyRule{Name: "c", Tenant: "u", L3Domain: "d1", Priority: 1}
	old := NewSnapshot(1, nil, nil, nil)
	old.Policies = map[string]*PolicyRule{"a": a, "b": b, "c": c}
	cur := NewSnapshot(2, nil, nil, nil)
	cur.Policies = map[string]*PolicyRule{"a": a, "b": b2} // b moved d2 -> d3, c deleted
	if got := strings.Join(ChangedPolicyDomains(old, cur), ","); got != "t/d2,t/d3,u/d1" {
		t.Errorf("changed domains %q", got)
	}
	if got := ChangedPolicyDomains(cur, cur); len(got) != 0 {
		t.Errorf("no change: %v", got)
	}
}
