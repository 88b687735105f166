package compiler_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/compiler/scenario"
	"github.com/nva-project/nva/app/model"
)

// TestCachePolicyFollowsRules: a rule added, changed or deleted in VN
// web's L3 domain recompiles the shared parts of the domain's VNs on hv1
// (and only those), and the memoized result equals a from-scratch
// compile; a rule of another tenant's domain recompiles nothing.
func TestCachePolicyFollowsRules(t *testing.T) {
	for _, prof := range profiles {
		d := scenario.RoutedDomain()
		delete(d.Policies, "web-to-db")
		cache := compiler.NewCache()
		if _, err := cache.Compile(d.Input("hv1"), prof); err != nil {
			t.Fatal(err)
		}
		step := func(what string, wantRecompiled []string, wantInFlows string, present bool) {
			t.Helper()
			in := d.Input("hv1")
			r, err := cache.Compile(in, prof)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for i, s := range r.Slices {
				if r.Recompiled(i) {
					got = append(got, s.Key)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, wantRecompiled) {
				t.Errorf("%s/%s: recompiled %q, want %q", prof.Name, what, got, wantRecompiled)
			}
			fresh, err := compiler.Compile(in, prof)
			if err != nil {
				t.Fatal(err)
			}
			if text(t, r) != text(t, fresh) {
				t.Fatalf("%s/%s: memoized result differs:\n%s", prof.Name, what, lineDiff(text(t, fresh), text(t, r)))
			}
			if has := strings.Contains(text(t, r), wantInFlows); has != present {
				t.Errorf("%s/%s: %q present %v, want %v:\n%s", prof.Name, what, wantInFlows, has, present, text(t, r))
			}
		}
		rule := scenario.Allow("acme", "prod", "ssh", 10, "web", "db")
		rule.Protocol, rule.Ports = model.ProtoTCP, []model.PortRange{{From: 22, To: 22}}
		d.Rule(rule)
		step("add", []string{"db", "web"}, "tcp_dst=22", true)
		rule.Ports = []model.PortRange{{From: 2222, To: 2222}}
		d.Rule(rule)
		step("change", []string{"db", "web"}, "tcp_dst=2222", true)
		d.Rule(scenario.Allow("beta", "prod", "other", 10, "x", "y"))
		step("other tenant", nil, "tcp_dst=2222", true)
		delete(d.Policies, "ssh")
		step("delete", []string{"db", "web"}, "tcp_dst=", false)
	}
}
