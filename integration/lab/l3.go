package lab

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
)

// Subnet is one subnet of a routed VN with its gateway address.
type Subnet struct {
	CIDR    string `json:"cidr"`
	Gateway string `json:"gateway"`
}

// RoutedVNSpec is an l3 or l2l3 VN of a tenant's L3 domain.
type RoutedVNSpec struct {
	VNSpec
	Service  string // l3 or l2l3 (l2l3 if empty)
	Tenant   string
	L3Domain string
	Subnets  []Subnet
}

// AddRoutedVN creates a routed VN through the API.
func (o *Overlay) AddRoutedVN(ctx context.Context, v RoutedVNSpec) error {
	svc := v.Service
	if svc == "" {
		svc = "l2l3"
	}
	if err := o.Post(ctx, "/api/v1/vns", map[string]any{"name": v.Name, "vni": v.VNI, "encap": v.Encap,
		"service": svc, "tenant": v.Tenant, "l3_domain": v.L3Domain, "subnets": v.Subnets}); err != nil {
		return err
	}
	o.mu.Lock()
	o.vns[v.Name] = v.VNSpec
	o.mu.Unlock()
	return nil
}

// SetDefaultRoute makes gw (an address on the tenant's subnet: its VN's
// distributed gateway) the tenant system's default route.
func (l *Lab) SetDefaultRoute(ctx context.Context, tenant, gw string) error {
	if _, err := l.Exec(ctx, tenant, "ip", "route", "replace", "default", "via", gw); err != nil {
		return fmt.Errorf("lab: tenant %s: default route via %s: %w", tenant, gw, err)
	}
	return nil
}

var replyTTL = regexp.MustCompile(`\bttl=(\d+)`)

// PingTTL sends one echo request (1 s timeout) from a tenant and returns
// the TTL of the reply as the tenant received it; ok is false when no
// reply came back.
func (l *Lab) PingTTL(ctx context.Context, from, toIP string) (ttl int, ok bool, err error) {
	ns, err := l.tenantNS(from)
	if err != nil {
		return 0, false, err
	}
	out, _ := runIn(ctx, ns, nil, "ping", "-n", "-c", "1", "-W", "1", toIP)
	m := replyTTL.FindStringSubmatch(out)
	if m == nil {
		return 0, false, nil
	}
	n, err := strconv.Atoi(m[1])
	return n, err == nil, err
}

// AddPolicy creates an inter-VN policy rule through the API (the body of
// POST /api/v1/policies) and waits for its realization.
func (o *Overlay) AddPolicy(ctx context.Context, rule map[string]any) error {
	return o.Post(ctx, "/api/v1/policies", rule)
}

// PingHops sends count echo requests from a tenant with IP TTL ttl
// (ping -t) and returns how many replies came back.
func (l *Lab) PingHops(ctx context.Context, from, toIP string, ttl, count int) (int, error) {
	ns, err := l.tenantNS(from)
	if err != nil {
		return 0, err
	}
	out, _ := runIn(ctx, ns, nil, "ping", "-n", "-q", "-t", strconv.Itoa(ttl), "-c", strconv.Itoa(count), "-i", "0.2", "-W", "1", toIP)
	r, err := parsePing(out)
	return r.Received, err
}
