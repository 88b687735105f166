package compiler_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/compiler/scenario"
	"github.com/nva-project/nva/app/model"
)

// TestCacheRoutesFollowOtherVNs: the routes of VN web on hv3, which hosts
// only web, are in web's shared part; a port added to (then changed in,
// then removed from) VN db on hv2 recompiles that part on hv3 and the
// memoized result equals a from-scratch compile, while an unrelated
// change (a port of a VN of another domain) recompiles nothing there.
func TestCacheRoutesFollowOtherVNs(t *testing.T) {
	for _, prof := range profiles {
		d := scenario.RoutedDomain().VN("other", 900, scenario.Routed("beta", "prod", "10.2.0.0/24", "10.2.0.1")).
			Port("o3", "other", "hv2", "tap-o3", "02:00:00:00:09:03", 0, "10.2.0.33")
		cache := compiler.NewCache()
		if _, err := cache.Compile(d.Input("hv3"), prof); err != nil {
			t.Fatal(err)
		}
		step := func(what string, wantRecompiled []string, wantRoute string, present bool) {
			t.Helper()
			in := d.Input("hv3")
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
			if has := strings.Contains(text(t, r), wantRoute); has != present {
				t.Errorf("%s/%s: route %q present %v, want %v:\n%s", prof.Name, what, wantRoute, has, present, text(t, r))
			}
		}
		route := "ip_dst=10.2.0.44,actions=dec_ttl"
		d.Port("d4", "db", "hv2", "tap-d4", "02:00:00:00:04:14", 0, "10.2.0.44")
		step("add d4", []string{"web"}, route, true)
		d.Update("d4", func(p *model.Port) { p.IPs = []string{"10.2.0.45"} })
		step("readdress d4", []string{"web"}, "ip_dst=10.2.0.45,actions=dec_ttl", true)
		d.Update("o3", func(p *model.Port) { p.IPs = []string{"10.2.0.34"} })
		step("other domain", nil, "10.2.0.34", false)
		d.Remove("d4")
		step("remove d4", []string{"web"}, "10.2.0.45", false)
	}
}
