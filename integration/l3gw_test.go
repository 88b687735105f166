package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nva-project/nva/integration/lab"
)

// TestL3Gateway: two tenants' L3 domains with identical subnets reach a
// host outside the overlay through their L3 gateways, everything through
// the REST API. acme's gateway is on hv1 (uplink up-acme, 203.0.113.10),
// beta's on hv2 (up-beta, 203.0.113.11); both uplinks are on one external
// network (a Linux bridge outside the underlay) with host ext
// (203.0.113.1, the gateways' next hop, which also owns 192.0.2.80).
// Before the gateways exist nothing reaches ext. Then acme's aw (hv1,
// the gateway NVE) and ad (hv2: tunnelled to hv1) and beta's bw (hv1:
// tunnelled to hv2), with aw and bw both 10.10.1.10, ping 192.0.2.80:
// ext sees them from their gateway's external address (ad from its
// floating IP 203.0.113.20), never a tenant address, and the reply has
// crossed one routed hop (TTL 63). From outside, ad is reached at its
// floating IP; the gateways' SNAT addresses and the tenant subnets
// (routed by ext to acme's gateway) are not reachable.
//
// TTL 1: ext's ping to the floating IP expires at the gateway (before
// conntrack, in l3gw_in) and is answered with a time-exceeded from
// acme's external address 203.0.113.10; ad's ping to ext with TTL 1
// expires on its own NVE (hv2's l3_route) and is answered from its
// gateway 10.10.2.1; both count as ttl_expired drops of their NVE.
func TestL3Gateway(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	requireLab(t)
	l := lab.New(t, lab.Options{Hypervisors: 2})
	n, err := l.StartNVA(ctx, lab.NVAOptions{Bin: nvaBin, ExtraArgs: []string{"--counter-interval", "1s"}})
	if err != nil {
		t.Fatal(err)
	}
	ov, err := lab.NewOverlay(ctx, l, n, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ov.RealizeTimeout = realizeTimeout
	web := []lab.Subnet{{CIDR: "10.10.1.0/24", Gateway: "10.10.1.1"}}
	db := []lab.Subnet{{CIDR: "10.10.2.0/24", Gateway: "10.10.2.1"}}
	for _, v := range []lab.RoutedVNSpec{
		{VNSpec: lab.VNSpec{Name: "a-web", VNI: 2101, Encap: "vxlan"}, Tenant: "acme", L3Domain: "prod", Subnets: web},
		{VNSpec: lab.VNSpec{Name: "a-db", VNI: 2102, Encap: "vxlan"}, Tenant: "acme", L3Domain: "prod", Subnets: db},
		{VNSpec: lab.VNSpec{Name: "b-web", VNI: 2111, Encap: "vxlan"}, Tenant: "beta", L3Domain: "prod", Subnets: web},
	} {
		if err := ov.AddRoutedVN(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	for _, ts := range []struct {
		lab.TenantSpec
		gw string
	}{
		{lab.TenantSpec{Name: "aw", VN: "a-web", HV: 1, IP: "10.10.1.10", MAC: "02:00:00:00:0a:01"}, "10.10.1.1"},
		{lab.TenantSpec{Name: "ad", VN: "a-db", HV: 2, IP: "10.10.2.10", MAC: "02:00:00:00:0a:02"}, "10.10.2.1"},
		{lab.TenantSpec{Name: "bw", VN: "b-web", HV: 1, IP: "10.10.1.10", MAC: "02:00:00:00:0b:01"}, "10.10.1.1"},
	} {
		if err := ov.AddTenant(ctx, ts.TenantSpec); err != nil {
			t.Fatal(err)
		}
		if err := l.SetDefaultRoute(ctx, ts.Name, ts.gw); err != nil {
			t.Fatal(err)
		}
	}
	const far = "192.0.2.80"
	if _, err := l.AddExternalHost(ctx, "ext", "02:ee:00:00:00:01", "203.0.113.1/24", far+"/32"); err != nil {
		t.Fatal(err)
	}
	// ext routes the tenant subnets to acme's gateway: they must stay
	// unreachable all the same (only NAT'd addresses are served).
	if _, err := l.Exec(ctx, "ext", "ip", "route", "add", "10.10.0.0/16", "via", "203.0.113.10"); err != nil {
		t.Fatal(err)
	}
	for hv, up := range map[int]string{1: "up-acme", 2: "up-beta"} {
		if err := l.AddUplink(ctx, hv, up); err != nil {
			t.Fatal(err)
		}
	}
	// No gateway yet: the external network is unreachable.
	if r, err := l.Ping(ctx, "aw", far, 2); err != nil || r.Received != 0 {
		t.Fatalf("aw reached %s without a gateway: %v (%v)", far, r, err)
	}

	// A strict NVE cannot be a gateway: 422 naming nve.
	if err := ov.Post(ctx, "/api/v1/nves", map[string]any{"name": "tor9", "kind": "openflow", "underlay_ips": []string{"198.18.0.99"},
		"datapath_id": "00000000000000f9"}); err != nil {
		t.Fatal(err)
	}
	err = ov.AddL3Gateway(ctx, lab.L3GatewaySpec{Name: "bad", Tenant: "acme", L3Domain: "prod", NVE: "tor9", Uplink: "x",
		ExternalIP: "203.0.113.50/24", NextHop: "203.0.113.1", NextHopMAC: "02:ee:00:00:00:01"})
	if err == nil || !strings.Contains(err.Error(), "422") || !strings.Contains(err.Error(), "nve") {
		t.Fatalf("gateway on a strict NVE: %v, want 422 naming nve", err)
	}
	for _, g := range []lab.L3GatewaySpec{
		{Name: "acme-gw", Tenant: "acme", L3Domain: "prod", NVE: "hv1", Uplink: "up-acme", ExternalIP: "203.0.113.10/24",
			NextHop: "203.0.113.1", NextHopMAC: "02:ee:00:00:00:01",
			FloatingIPs: []lab.FloatingIP{{ExternalIP: "203.0.113.20", InternalIP: "10.10.2.10"}}},
		{Name: "beta-gw", Tenant: "beta", L3Domain: "prod", NVE: "hv2", Uplink: "up-beta", ExternalIP: "203.0.113.11/24",
			NextHop: "203.0.113.1", NextHopMAC: "02:ee:00:00:00:01"},
	} {
		if err := ov.AddL3Gateway(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	for _, from := range []string{"aw", "ad", "bw"} {
		if _, err := l.Reachable(ctx, from, far, realizeTimeout); err != nil {
			t.Fatalf("%s -> %s through its gateway: %v", from, far, err)
		}
		ttl, ok, err := l.PingTTL(ctx, from, far)
		if err != nil || !ok {
			t.Fatalf("%s -> %s: no reply (%v)", from, far, err)
		}
		if ttl != 63 {
			t.Errorf("%s -> %s: reply TTL %d, want 63 (routed once, by the gateway)", from, far, ttl)
		}
	}
	// What ext sees: each tenant from its gateway's address.
	capt, err := l.StartCapture(ctx, l.TenantPoint("ext"), "icmp[icmptype] == icmp-echo")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"aw": "203.0.113.10", "ad": "203.0.113.20", "bw": "203.0.113.11"}
	for _, from := range []string{"aw", "ad", "bw"} {
		if r, err := l.Ping(ctx, from, far, 2); err != nil || r.Received != 2 {
			t.Fatalf("%s -> %s: %v (%v)", from, far, r, err)
		}
	}
	lines, err := capt.Stop()
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(lines, "\n")
	for from, src := range want {
		if !strings.Contains(text, src+" > "+far) {
			t.Errorf("ext saw no echo request from %s (%s's gateway address):\n%s", src, from, text)
		}
	}
	if strings.Contains(text, "10.10.") {
		t.Errorf("a tenant address reached the external network:\n%s", text)
	}
	t.Logf("ext saw:\n%s", text)

	// From outside: the floating IP reaches ad; nothing else does.
	if _, err := l.Reachable(ctx, "ext", "203.0.113.20", realizeTimeout); err != nil {
		t.Fatalf("ext -> ad's floating IP: %v", err)
	}
	for _, to := range []string{"203.0.113.10", "203.0.113.11", "10.10.1.10", "10.10.2.10"} {
		if r, err := l.Ping(ctx, "ext", to, 2); err != nil || r.Received != 0 {
			t.Errorf("ext reached %s: %v (%v)", to, r, err)
		}
	}

	// TTL 1 through the gateway, both ways: answered, and counted.
	before1, before2 := ttlExpired(ctx, t, n, "hv1", 0), ttlExpired(ctx, t, n, "hv2", 0)
	for _, c := range []struct{ from, to, answer string }{
		{"ext", "203.0.113.20", "203.0.113.10"}, // expires at acme's gateway (hv1), from outside
		{"ad", far, "10.10.2.1"},                // expires on ad's NVE (hv2), before the tunnel to the gateway
	} {
		from, out, err := l.PingTimeExceeded(ctx, c.from, c.to, 1, 2)
		if err != nil || len(from) == 0 {
			t.Fatalf("%s -> %s with TTL 1: no time-exceeded (%v):\n%s", c.from, c.to, err, out)
		}
		for _, a := range from {
			if a != c.answer {
				t.Fatalf("%s -> %s with TTL 1: time-exceeded from %s, want %s:\n%s", c.from, c.to, a, c.answer, out)
			}
		}
		t.Logf("%s -> %s with TTL 1: time-exceeded from %v", c.from, c.to, from)
	}
	if got := ttlExpired(ctx, t, n, "hv1", before1+2); got < before1+2 {
		t.Errorf("hv1's (the gateway's) ttl_expired drops: %d -> %d, want +2", before1, got)
	}
	if got := ttlExpired(ctx, t, n, "hv2", before2+2); got < before2+2 {
		t.Errorf("hv2's ttl_expired drops: %d -> %d, want +2", before2, got)
	}
}

// TestL3GatewayStrict: a tenant on a strict OpenFlow 1.3 hypervisor (hv1,
// kind openflow behind the ofshim conformance proxy, one VXLAN tunnel
// port per remote) reaches the external host through the L3 gateway on
// hv2, an Open vSwitch NVE that hosts no VN of the domain: hv1 tunnels
// external traffic to hv2 with standard actions only, hv2 SNATs it; ext
// sees the gateway's address, the reply crosses one routed hop, and the
// shim refuses nothing nva sent. aw's ping with TTL 1 is tunnelled
// unchanged to the gateway, whose l3gw_out drops it and counts it as a
// ttl_expired drop of hv2 (unanswered: the answer would have to go back
// into the tunnel).
func TestL3GatewayStrict(t *testing.T) {
	requireLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	l, n, shim, ov := newStrictLab(t, ctx, 2, "00000000000e8a07", "--counter-interval", "1s")
	if err := ov.AddRoutedVN(ctx, lab.RoutedVNSpec{VNSpec: lab.VNSpec{Name: "web", VNI: 2201, Encap: "vxlan"}, Tenant: "acme", L3Domain: "prod",
		Subnets: []lab.Subnet{{CIDR: "10.20.1.0/24", Gateway: "10.20.1.1"}}}); err != nil {
		t.Fatal(err)
	}
	if err := ov.AddTenant(ctx, lab.TenantSpec{Name: "aw", VN: "web", HV: 1, IP: "10.20.1.10", MAC: "02:00:00:00:0c:01", AttachBridge: lab.IntegrationBridge}); err != nil {
		t.Fatal(err)
	}
	if err := l.SetDefaultRoute(ctx, "aw", "10.20.1.1"); err != nil {
		t.Fatal(err)
	}
	const far = "192.0.2.80"
	if _, err := l.AddExternalHost(ctx, "ext", "02:ee:00:00:00:01", "203.0.113.1/24", far+"/32"); err != nil {
		t.Fatal(err)
	}
	if err := l.AddUplink(ctx, 2, "up-acme"); err != nil {
		t.Fatal(err)
	}
	if err := ov.AddL3Gateway(ctx, lab.L3GatewaySpec{Name: "acme-gw", Tenant: "acme", L3Domain: "prod", NVE: "hv2", Uplink: "up-acme",
		ExternalIP: "203.0.113.10/24", NextHop: "203.0.113.1", NextHopMAC: "02:ee:00:00:00:01"}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Reachable(ctx, "aw", far, realizeTimeout); err != nil {
		t.Fatalf("aw (strict hv1) -> %s through the gateway on hv2: %v", far, err)
	}
	capt, err := l.StartCapture(ctx, l.TenantPoint("ext"), "icmp[icmptype] == icmp-echo")
	if err != nil {
		t.Fatal(err)
	}
	ttl, ok, err := l.PingTTL(ctx, "aw", far)
	if err != nil || !ok || ttl != 63 {
		t.Errorf("aw -> %s: reply TTL %d, ok %v (%v), want 63", far, ttl, ok, err)
	}
	lines, err := capt.Stop()
	if err != nil {
		t.Fatal(err)
	}
	if text := strings.Join(lines, "\n"); !strings.Contains(text, "203.0.113.10 > "+far) || strings.Contains(text, "10.20.") {
		t.Errorf("ext did not see aw as 203.0.113.10 only:\n%s", text)
	}
	before := ttlExpired(ctx, t, n, "hv2", 0)
	if got, err := l.PingHops(ctx, "aw", far, 1, 3); err != nil || got != 0 {
		t.Errorf("aw -> %s with TTL 1: %d replies (%v), want none", far, got, err)
	}
	if got := ttlExpired(ctx, t, n, "hv2", before+3); got < before+3 {
		t.Errorf("hv2's (the gateway's) ttl_expired drops: %d -> %d, want +3", before, got)
	} else {
		t.Logf("hv2's (the gateway's) ttl_expired drops: %d -> %d", before, got)
	}
	checkShimClean(t, shim)
}
