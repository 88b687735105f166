package main

import (
	"context"
	"log"
	"time"

	"github.com/nva-project/nva/integration/lab"
)

// The demo's hardware VTEP: Open vSwitch's ovs-vtep emulator managed by
// nva over OVSDB (hardware_vtep), with two bare-metal hosts on its
// physical port p1: m1 on VLAN 100 in blue (it shares 192.0.2.23 with
// red's r3), m2 on VLAN 200 in red. nva knows their VAPs, not their MACs:
// it learns those from the VTEP.
var demoBareMetal = []struct {
	lab.TenantSpec
	Port string
	VLAN int
}{
	{lab.TenantSpec{Name: "m1", VN: "blue", IP: "192.0.2.23", MAC: "02:00:00:00:0b:01"}, "p1", 100},
	{lab.TenantSpec{Name: "m2", VN: "red", IP: "192.0.2.32", MAC: "02:00:00:00:0b:02"}, "p1", 200},
}

// demoVTEP adds the VTEP and its bare-metal hosts to the demo, waits (up
// to a minute) until each reaches a tenant of its VN, and returns their
// names for the reachability matrix. Without Debian's openvswitch-vtep it
// says so and adds nothing.
func demoVTEP(ctx context.Context, l *lab.Lab, ov *lab.Overlay, logger *log.Logger) ([]string, error) {
	if reason := lab.VTEPRequirements(); reason != "" {
		logger.Printf("no hardware VTEP in this demo: %s", reason)
		return nil, nil
	}
	v, err := l.AddVTEP(ctx, 1)
	if err != nil {
		return nil, err
	}
	if err := l.AddPhysicalPort(ctx, v, "p1"); err != nil {
		return nil, err
	}
	if err := ov.AddVTEPNVE(ctx, v); err != nil {
		return nil, err
	}
	logger.Printf("NVE %s: hardware VTEP (ovs-vtep emulator), tunnel IP %s, hardware_vtep OVSDB %s", v.Name, v.TunnelIP, v.Endpoint())
	var names []string
	for _, bm := range demoBareMetal {
		if err := ov.AddBareMetal(ctx, v, bm.TenantSpec, bm.Port, bm.VLAN); err != nil {
			return nil, err
		}
		logger.Printf("bare-metal host %s: VN %s behind %s port %s VLAN %d, %s %s (MAC learned, not configured)",
			bm.Name, bm.VN, v.Name, bm.Port, bm.VLAN, bm.IP, bm.MAC)
		names = append(names, bm.Name)
	}
	converge := time.Now().Add(time.Minute)
	for _, bm := range demoBareMetal {
		for _, ts := range demoTenants {
			if left := time.Until(converge); ts.VN == bm.VN && left > 0 {
				_, _ = ov.ExpectReach(ctx, bm.Name, ts.IP, left)
				break
			}
		}
	}
	return names, nil
}
