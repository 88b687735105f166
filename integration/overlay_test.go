package integration

import (
	"context"
	"testing"
	"time"

	"github.com/nva-project/nva/integration/lab"
)

// The overlay every end-to-end test builds through nva's REST API: three
// hypervisors, two VXLAN VNs (blue, red) sharing the tenant subnet
// 192.0.2.0/24 with identical IPs, a GENEVE VN and a GRE VN that reuse the
// same addresses, eleven tenant systems (b1 and b4 also with IPv6). red is not on hv3, so its
// broadcast must never reach hv3.
var vnSpecs = []lab.VNSpec{
	{Name: "blue", VNI: 1001, Encap: "vxlan"},
	{Name: "red", VNI: 1002, Encap: "vxlan"},
	{Name: "green", VNI: 1003, Encap: "geneve"},
	{Name: "gold", VNI: 1004, Encap: "gre"},
}

var tenantSpecs = []lab.TenantSpec{
	{Name: "b1", VN: "blue", HV: 1, IP: "192.0.2.11", IP6: "2001:db8::11", MAC: "02:00:00:00:01:01"},
	{Name: "b2", VN: "blue", HV: 1, IP: "192.0.2.12", MAC: "02:00:00:00:01:02"},
	{Name: "b3", VN: "blue", HV: 2, IP: "192.0.2.13", MAC: "02:00:00:00:01:03"},
	{Name: "b4", VN: "blue", HV: 3, IP: "192.0.2.14", IP6: "2001:db8::14", MAC: "02:00:00:00:01:04"},
	{Name: "r1", VN: "red", HV: 1, IP: "192.0.2.11", MAC: "02:00:00:00:02:01"}, // same IP as b1
	{Name: "r2", VN: "red", HV: 2, IP: "192.0.2.12", MAC: "02:00:00:00:02:02"}, // same IP as b2
	{Name: "r3", VN: "red", HV: 2, IP: "192.0.2.23", MAC: "02:00:00:00:02:03"},
	{Name: "g1", VN: "green", HV: 1, IP: "192.0.2.11", MAC: "02:00:00:00:03:01"},
	{Name: "g2", VN: "green", HV: 3, IP: "192.0.2.12", MAC: "02:00:00:00:03:02"},
	{Name: "o1", VN: "gold", HV: 2, IP: "192.0.2.13", MAC: "02:00:00:00:04:01"},
	{Name: "o2", VN: "gold", HV: 3, IP: "192.0.2.14", MAC: "02:00:00:00:04:02"},
}

// overlay is a lab with nva running and the VNs, NVEs and ports above
// created through the API.
type overlay struct {
	*lab.Overlay
	t   *testing.T
	ctx context.Context
	l   *lab.Lab
	nva *lab.NVA
}

const realizeTimeout = 30 * time.Second

func newOverlay(t *testing.T, ctx context.Context) *overlay {
	t.Helper()
	requireLab(t)
	l := lab.New(t, lab.Options{Hypervisors: 3})
	n, err := l.StartNVA(ctx, lab.NVAOptions{Bin: nvaBin})
	if err != nil {
		t.Fatal(err)
	}
	ov, err := lab.NewOverlay(ctx, l, n, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ov.RealizeTimeout = realizeTimeout
	for _, v := range vnSpecs {
		if err := ov.AddVN(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	for _, ts := range tenantSpecs {
		if err := ov.AddTenant(ctx, ts); err != nil {
			t.Fatal(err)
		}
	}
	return &overlay{Overlay: ov, t: t, ctx: ctx, l: l, nva: n}
}

// tenant returns a tenant's current spec.
func (o *overlay) tenant(name string) lab.TenantSpec {
	ts, ok := o.TenantSpec(name)
	if !ok {
		o.t.Fatalf("no tenant %s", name)
	}
	return ts
}

// expectReach is ExpectReach in the overlay's context.
func (o *overlay) expectReach(from, ip string, timeout time.Duration) (time.Duration, error) {
	return o.ExpectReach(o.ctx, from, ip, timeout)
}

// waitConverged waits until every same-VN pair pings (the first replies
// may need nva to finish programming every NVE).
func (o *overlay) waitConverged() {
	o.t.Helper()
	for _, a := range tenantSpecs {
		for _, b := range tenantSpecs {
			if a.Name == b.Name || a.VN != b.VN {
				continue
			}
			d, err := o.expectReach(a.Name, b.IP, realizeTimeout)
			if err != nil {
				o.t.Fatalf("overlay did not converge: %v", err)
			}
			if d > time.Second {
				o.t.Logf("%s -> %s (%s) first answered after %v", a.Name, b.Name, b.IP, d.Round(time.Millisecond))
			}
		}
	}
}

// nvaFlows returns nva's flows (by cookie) on hypervisor hv's br-int.
func (o *overlay) nvaFlows(hv int) []string {
	o.t.Helper()
	f, err := o.l.DumpFlows(o.ctx, hv, lab.IntegrationBridge, nvaCookieMatch)
	if err != nil {
		o.t.Fatal(err)
	}
	return f
}
