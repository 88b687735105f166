package compiler_test

import (
	"net/netip"
	"testing"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/compiler/scenario"
	"github.com/nva-project/nva/app/model"
)

// TestPathsPairUplinksByIndex: path i joins local address i mod n to
// remote address i mod m; names are unique, at most 15 characters.
func TestPathsPairUplinksByIndex(t *testing.T) {
	d := scenario.MultihomeFailover()
	snap := d.Snapshot()
	got := map[string][]string{}
	names := map[string]bool{}
	for _, p := range compiler.TunnelPaths(snap, "hv1") {
		got[p.Remote] = append(got[p.Remote], p.LocalIP.String()+">"+p.RemoteIP.String())
		if len(p.Port) > 15 || names[p.Port] {
			t.Errorf("path port name %q: too long or repeated", p.Port)
		}
		names[p.Port] = true
		if p.Mode != model.MultipathFailover {
			t.Errorf("path %+v: mode %q, want failover", p, p.Mode)
		}
	}
	want := map[string][]string{
		"hv2": {"198.18.0.1>198.18.0.2", "198.18.1.1>198.18.1.2"},
		"hv3": {"198.18.0.1>198.18.0.3", "198.18.1.1>198.18.0.3"}, // hv3 has one address
	}
	for r, w := range want {
		if len(got[r]) != len(w) || got[r][0] != w[0] || got[r][1] != w[1] {
			t.Errorf("paths to %s: %v, want %v", r, got[r], w)
		}
	}
	// hv3 (no mode of its own) pairs with hv1 in hv1's mode, and both
	// ends name the same address pairs.
	back := compiler.TunnelPaths(snap, "hv3")
	if len(back) != 4 || back[0].Mode != model.MultipathFailover {
		t.Fatalf("hv3's paths: %+v", back)
	}
	if n := compiler.PathPortName(model.EncapVXLAN, 1, netip.MustParseAddr("198.18.1.2")); n != "nmxc61201021" {
		t.Errorf("PathPortName = %q", n)
	}
}

// TestMultipathNeedsFlowTunnelProfile: a pair with a strict-profile NVE
// is not multipath; without multipath, no paths.
func TestMultipathNeedsFlowTunnelProfile(t *testing.T) {
	a := &model.NVE{Name: "a", Kind: model.NVEOVS, UnderlayIPs: []string{"198.18.0.1"}, Multipath: model.MultipathActiveActive}
	b := &model.NVE{Name: "b", Kind: model.NVEOVS, UnderlayIPs: []string{"198.18.0.2"}}
	if m, ok := compiler.MultipathMode(b, a); !ok || m != model.MultipathActiveActive {
		t.Errorf("b toward a: %q %v, want a's active-active", m, ok)
	}
	b.Profile = model.ProfileStrict
	if _, ok := compiler.MultipathMode(a, b); ok {
		t.Error("a pair with a strict-profile NVE is multipath")
	}
	a.Multipath = ""
	b.Profile = ""
	if p := compiler.PathsTo(a, b, model.EncapVXLAN); p != nil {
		t.Errorf("paths without multipath: %+v", p)
	}
}

// TestPathPortRenumberRecompiles: a path port's new OpenFlow number
// changes the VN's shared part and the remote ports' parts (cache
// fingerprints cover the paths and the group).
func TestPathPortRenumberRecompiles(t *testing.T) {
	d := scenario.MultihomeFailover()
	cache := compiler.NewCache()
	prof := profiles[0]
	if _, err := cache.Compile(d.Input("hv1"), prof); err != nil {
		t.Fatal(err)
	}
	p := compiler.TunnelPaths(d.Snapshot(), "hv1")[0]
	d.SetOFPort("hv1", p.Port, 2999)
	r, err := cache.Compile(d.Input("hv1"), prof)
	if err != nil {
		t.Fatal(err)
	}
	full, err := compiler.Compile(d.Input("hv1"), prof)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Groups) != len(full.Groups) {
		t.Fatalf("incremental %d groups, from scratch %d", len(r.Groups), len(full.Groups))
	}
	for i := range r.Groups {
		if r.Groups[i].String() != full.Groups[i].String() {
			t.Errorf("group %d: incremental %s, from scratch %s", i, r.Groups[i], full.Groups[i])
		}
	}
	found := false
	for _, g := range r.Groups {
		for _, b := range g.Buckets {
			found = found || b.WatchPort == 2999
		}
	}
	if !found {
		t.Error("the renumbered path port is in no group bucket")
	}
}
