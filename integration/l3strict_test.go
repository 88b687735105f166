package integration

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/nva-project/nva/integration/lab"
	"github.com/nva-project/nva/web/wire"
)

// TestL3Strict is TestL3's routing with one hypervisor on the strict
// OpenFlow 1.3 profile: hv1 plays a hardware switch (kind openflow,
// behind the ofshim conformance proxy: standard OpenFlow 1.3, 4 tables,
// one VXLAN tunnel port per remote, prepared by the test), hv2 is an
// Open vSwitch NVE. acme's VN web (tenant aw on hv1) and its l3 VN db
// (ad on hv2) share no hypervisor: each routes on its own side (hv1 with
// dec_nw_ttl and set_field only, its gateway's ARP answered by nva's
// controller), the reply shows one routed hop, and the shim refuses
// nothing nva sent.
//
// Inter-VN policy: nothing is routed before a rule allows it. With web
// -> db allowed, aw reaches ad: hv1 evaluates the rule statelessly (in
// its neighbor table), hv2 commits the routed arrival to conntrack and
// lets ad's reply back as established. ad starting a connection to aw is
// denied (by hv2's policy) until a db -> web rule exists.
//
// TTL 1 is not routed by the strict switch: its dec_nw_ttl sends the
// packet to nva as an invalid-TTL packet-in (nva turned those on with
// OFPT_SET_CONFIG through the shim), which answers with an ICMP
// time-exceeded from aw's gateway 10.20.1.1 and counts a ttl_expired
// drop of hv1 (GET /api/v1/counters), as the OVS profile does.
func TestL3Strict(t *testing.T) {
	requireLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	l, n, shim, ov := newStrictLab(t, ctx, 2, "00000000000e8a03", "--counter-interval", "1s")
	for _, v := range []lab.RoutedVNSpec{
		{VNSpec: lab.VNSpec{Name: "web", VNI: 2101, Encap: "vxlan"}, Tenant: "acme", L3Domain: "prod",
			Subnets: []lab.Subnet{{CIDR: "10.20.1.0/24", Gateway: "10.20.1.1"}}},
		{VNSpec: lab.VNSpec{Name: "db", VNI: 2102, Encap: "vxlan"}, Service: "l3", Tenant: "acme", L3Domain: "prod",
			Subnets: []lab.Subnet{{CIDR: "10.20.2.0/24", Gateway: "10.20.2.1"}}},
	} {
		if err := ov.AddRoutedVN(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	for _, ts := range []struct {
		lab.TenantSpec
		gw string
	}{
		{lab.TenantSpec{Name: "aw", VN: "web", HV: 1, IP: "10.20.1.10", MAC: "02:00:00:00:0c:01", AttachBridge: lab.IntegrationBridge}, "10.20.1.1"},
		{lab.TenantSpec{Name: "ad", VN: "db", HV: 2, IP: "10.20.2.10", MAC: "02:00:00:00:0c:02"}, "10.20.2.1"},
	} {
		if err := ov.AddTenant(ctx, ts.TenantSpec); err != nil {
			t.Fatal(err)
		}
		if err := l.SetDefaultRoute(ctx, ts.Name, ts.gw); err != nil {
			t.Fatal(err)
		}
	}
	if r, err := l.Ping(ctx, "aw", "10.20.2.10", 3); err != nil || r.Received != 0 {
		t.Fatalf("aw -> ad routed before any policy rule: %+v (%v)", r, err)
	}
	rule := func(name, src, dst string, prio int) {
		t.Helper()
		if err := ov.AddPolicy(ctx, map[string]any{"name": name, "tenant": "acme", "l3_domain": "prod", "priority": prio,
			"source": map[string]any{"vn": src}, "destination": map[string]any{"vn": dst}}); err != nil {
			t.Fatal(err)
		}
	}
	rule("web-to-db", "web", "db", 100)
	if _, err := l.Reachable(ctx, "aw", "10.20.2.10", realizeTimeout); err != nil {
		t.Fatalf("aw -> ad with web -> db allowed: %v", err)
	}
	if r, err := l.Ping(ctx, "ad", "10.20.1.10", 3); err != nil || r.Received != 0 {
		t.Fatalf("ad -> aw without a db -> web rule: %+v (%v)", r, err)
	}
	expiredBefore := ttlExpired(ctx, t, n, "hv1", 0)
	if n, err := l.PingHops(ctx, "aw", "10.20.2.10", 1, 3); err != nil || n != 0 {
		t.Fatalf("aw -> ad with TTL 1: %d replies (%v), want none", n, err)
	}
	if from, out, err := l.PingTimeExceeded(ctx, "aw", "10.20.2.10", 1, 2); err != nil || len(from) == 0 {
		t.Fatalf("aw -> ad with TTL 1 through the strict switch: no time-exceeded (%v):\n%s", err, out)
	} else {
		for _, a := range from {
			if a != "10.20.1.1" {
				t.Fatalf("aw -> ad with TTL 1: time-exceeded from %s, want the gateway 10.20.1.1:\n%s", a, out)
			}
		}
		t.Logf("aw -> ad with TTL 1 through the strict switch: time-exceeded from %v", from)
	}
	// 3 + 2 expired packets, each one invalid-TTL packet-in.
	if got := ttlExpired(ctx, t, n, "hv1", expiredBefore+5); got < expiredBefore+5 {
		t.Errorf("hv1's ttl_expired drops: %d -> %d, want +5", expiredBefore, got)
	} else {
		t.Logf("hv1's ttl_expired drops: %d -> %d", expiredBefore, got)
	}
	rule("db-to-web", "db", "web", 90)
	for _, c := range []struct{ from, to string }{{"aw", "10.20.2.10"}, {"ad", "10.20.1.10"}} {
		if _, err := l.Reachable(ctx, c.from, c.to, realizeTimeout); err != nil {
			t.Fatalf("%s -> %s: %v", c.from, c.to, err)
		}
		ttl, ok, err := l.PingTTL(ctx, c.from, c.to)
		if err != nil || !ok || ttl != 63 {
			t.Errorf("%s -> %s: reply TTL %d, ok %v (%v), want 63 (one routed hop)", c.from, c.to, ttl, ok, err)
		}
		t.Logf("%s -> %s: reply TTL %d", c.from, c.to, ttl)
	}
	checkShimClean(t, shim)
}

// ttlExpired returns NVE nve's ttl_expired drop packets from GET
// /api/v1/counters once they reach atLeast (from a poll round that ended
// after the call), or after 15 s the last value read.
func ttlExpired(ctx context.Context, t *testing.T, n *lab.NVA, nve string, atLeast uint64) uint64 {
	t.Helper()
	since := time.Now()
	var got uint64
	err := lab.WaitFor(ctx, 15*time.Second, 200*time.Millisecond, func() (bool, error) {
		var c wire.Counters
		if _, err := n.Client.Do(ctx, http.MethodGet, "/api/v1/counters", nil, &c); err != nil {
			return false, err
		}
		if c.PolledAt == nil || !c.PolledAt.After(since) {
			return false, nil
		}
		for _, x := range c.NVEs {
			if x.NVE == nve {
				got = x.DropReasons["ttl_expired"].Packets
				return got >= atLeast, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Logf("counters of %s: %v", nve, err)
	}
	return got
}
