package main

import (
	"context"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/nva-project/nva/integration/lab"
)

// The demo's L3 part: tenant "demo"'s L3 domain prod with two routed VNs
// on different hypervisors (a routed pair), and an L3 gateway on hv3 to
// an external network with host "inet" (203.0.113.1, the gateway's next
// hop, which also owns 198.51.100.80), and a floating IP for rd1.
var demoRoutedVNs = []lab.RoutedVNSpec{
	{VNSpec: lab.VNSpec{Name: "r-web", VNI: 1101, Encap: "vxlan"}, Tenant: "demo", L3Domain: "prod",
		Subnets: []lab.Subnet{{CIDR: "10.20.1.0/24", Gateway: "10.20.1.1"}}},
	{VNSpec: lab.VNSpec{Name: "r-db", VNI: 1102, Encap: "vxlan"}, Tenant: "demo", L3Domain: "prod",
		Subnets: []lab.Subnet{{CIDR: "10.20.2.0/24", Gateway: "10.20.2.1"}}},
}

var demoRoutedTenants = []struct {
	lab.TenantSpec
	gw string
}{
	{lab.TenantSpec{Name: "rw1", VN: "r-web", HV: 1, IP: "10.20.1.11", MAC: "02:00:00:00:11:01"}, "10.20.1.1"},
	{lab.TenantSpec{Name: "rd1", VN: "r-db", HV: 2, IP: "10.20.2.11", MAC: "02:00:00:00:11:02"}, "10.20.2.1"},
}

const (
	demoInetFar      = "198.51.100.80"
	demoGatewayExt   = "203.0.113.10"
	demoFloatingIP   = "203.0.113.20"
	demoInetNextHop  = "203.0.113.1"
	demoInetMAC      = "02:ee:00:00:00:01"
	demoGatewayNVE   = "hv3"
	demoGatewayIndex = 3
)

// demoL3 builds the L3 part through the API and returns its reachability
// table (row reaches column's address) and the unexpected outcomes.
func demoL3(ctx context.Context, l *lab.Lab, ov *lab.Overlay, logger *log.Logger) (string, []string, error) {
	for _, v := range demoRoutedVNs {
		if err := ov.AddRoutedVN(ctx, v); err != nil {
			return "", nil, err
		}
		logger.Printf("routed VN %s: VNI %d, %s, tenant %s, L3 domain %s", v.Name, v.VNI, v.Subnets[0].CIDR, v.Tenant, v.L3Domain)
	}
	// The VNs of a domain are isolated until a policy rule allows
	// traffic between them: r-web may open connections to r-db (and,
	// on Open vSwitch, r-db's replies pass without a rule of their own).
	if err := ov.AddPolicy(ctx, map[string]any{"name": "web-to-db", "tenant": "demo", "l3_domain": "prod", "priority": 100,
		"action": "allow", "source": map[string]any{"vn": "r-web"}, "destination": map[string]any{"vn": "r-db"}}); err != nil {
		return "", nil, err
	}
	logger.Printf("policy web-to-db: r-web may reach r-db")
	for _, ts := range demoRoutedTenants {
		if err := ov.AddTenant(ctx, ts.TenantSpec); err != nil {
			return "", nil, err
		}
		if err := l.SetDefaultRoute(ctx, ts.Name, ts.gw); err != nil {
			return "", nil, err
		}
		logger.Printf("tenant %s: routed VN %s on hv%d, %s (default route via %s)", ts.Name, ts.VN, ts.HV, ts.IP, ts.gw)
	}
	if _, err := l.AddExternalHost(ctx, "inet", demoInetMAC, demoInetNextHop+"/24", demoInetFar+"/32"); err != nil {
		return "", nil, err
	}
	if err := l.AddUplink(ctx, demoGatewayIndex, "up-inet"); err != nil {
		return "", nil, err
	}
	if err := ov.AddL3Gateway(ctx, lab.L3GatewaySpec{Name: "demo-gw", Tenant: "demo", L3Domain: "prod", NVE: demoGatewayNVE,
		Uplink: "up-inet", ExternalIP: demoGatewayExt + "/24", NextHop: demoInetNextHop, NextHopMAC: demoInetMAC,
		FloatingIPs: []lab.FloatingIP{{ExternalIP: demoFloatingIP, InternalIP: "10.20.2.11"}}}); err != nil {
		return "", nil, err
	}
	logger.Printf("L3 gateway demo-gw on %s: uplink up-inet, external %s, next hop %s (inet), floating IP %s -> rd1",
		demoGatewayNVE, demoGatewayExt, demoInetNextHop, demoFloatingIP)

	type target struct{ name, ip string }
	cols := []target{{"rw1", "10.20.1.11"}, {"rd1", "10.20.2.11"}, {"inet", demoInetFar}, {"rd1-fip", demoFloatingIP}}
	rows := []string{"rw1", "rd1", "inet"}
	want := func(from string, to target) bool {
		switch {
		case from == "inet":
			return to.name == "rd1-fip" // from outside: only the floating IP
		case to.name == "rd1-fip":
			return false // tenants do not hairpin through the gateway
		case from == "rd1" && to.name == "rw1":
			return false // policy web-to-db: r-db may answer r-web but not open connections to it
		default:
			return true // the routed pair, and the external host through the gateway
		}
	}
	// Let it converge: every wanted pair gets up to 30 s in all.
	converge := time.Now().Add(30 * time.Second)
	for _, r := range rows {
		for _, c := range cols {
			if left := time.Until(converge); r != c.name && want(r, c) && left > 0 {
				_, _ = l.Reachable(ctx, r, c.ip, left)
			}
		}
	}
	var b strings.Builder
	var problems []string
	fmt.Fprintf(&b, "%-10s", "")
	for _, c := range cols {
		fmt.Fprintf(&b, " %-22s", c.name+" "+c.ip)
	}
	b.WriteString("\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "%-10s", r)
		for _, c := range cols {
			if r == c.name {
				fmt.Fprintf(&b, " %-22s", "-")
				continue
			}
			res, err := l.Ping(ctx, r, c.ip, 2)
			got := err == nil && res.Received > 0
			cell := map[bool]string{true: "yes", false: "no"}[got]
			if got != want(r, c) {
				cell += " !"
				problems = append(problems, fmt.Sprintf("  %s -> %s (%s): reached %v, want %v", r, c.name, c.ip, got, want(r, c)))
			}
			fmt.Fprintf(&b, " %-22s", cell)
		}
		b.WriteString("\n")
	}
	return b.String(), problems, nil
}
