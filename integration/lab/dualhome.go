package lab

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// DualHomed is a tenant system attached to two hypervisors (RFC 8014
// §4.4): one namespace with eth0, a veth to hypervisor A ("vm-<name>"),
// and eth1, a veth to hypervisor B ("vm-<name>b"), both with the same MAC
// and addresses, as a bond's members would be. It is registered as a
// Tenant (on A), so Ping and Exec work from it; it sends through eth0
// until FailTo moves its traffic to eth1 (what a bond does when its
// active member's link fails).
type DualHomed struct {
	*Tenant
	HVB int    // the second hypervisor
	IfB string // hypervisor-B-side interface name, "vm-<name>b"
}

// AddDualHomedTenant creates dual-homed tenant system name on hypervisors
// a and b with mac and addresses in CIDR form. The hypervisor sides are up
// and attached to no bridge (nva's OVSDB manager attaches them for their
// ports). Reverse-path filtering is off in the tenant: a frame for it may
// arrive on either member.
func (l *Lab) AddDualHomedTenant(ctx context.Context, a, b int, name, mac string, ips []string) (*DualHomed, error) {
	t, err := l.AddTenant(ctx, a, name, mac, ips, 0)
	if err != nil {
		return nil, err
	}
	if _, err := net.ParseMAC(mac); err != nil {
		return nil, err
	}
	d := &DualHomed{Tenant: t, HVB: b, IfB: t.If + "b"}
	h := l.HV(b)
	mtu := strconv.Itoa(t.MTU)
	steps := [][]string{
		{h.NS, "link", "add", d.IfB, "mtu", mtu, "type", "veth", "peer", "name", "eth1", "mtu", mtu, "netns", t.NS},
		{t.NS, "link", "set", "eth1", "address", t.MAC},
	}
	for _, p := range t.IPs {
		a := []string{t.NS, "addr", "add", p.String(), "dev", "eth1"}
		if p.Addr().Is6() {
			a = append(a, "nodad")
		}
		steps = append(steps, a)
	}
	steps = append(steps, []string{t.NS, "link", "set", "eth1", "up"}, []string{h.NS, "link", "set", d.IfB, "up"})
	for _, s := range steps {
		if _, err := ipCmd(ctx, s[0], s[1:]...); err != nil {
			return nil, fmt.Errorf("lab: dual-homed tenant %s: %w", name, err)
		}
	}
	if _, err := runIn(ctx, t.NS, nil, "ethtool", "-K", "eth1", "tx", "off"); err != nil {
		return nil, err
	}
	for _, k := range []string{"all", "default", "eth0", "eth1"} {
		if _, err := runIn(ctx, t.NS, nil, "sysctl", "-qw", "net.ipv4.conf."+k+".rp_filter=0"); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// Point is a capture point on one of the tenant's members (eth0 or eth1).
func (d *DualHomed) Point(ifname string) CapturePoint { return CapturePoint{NS: d.NS, If: ifname} }

// FailTo makes the tenant send through member ifname only: the other
// member is set down in the tenant (its routes go with it), as a bond
// does when the active member's link fails.
func (l *Lab) FailTo(ctx context.Context, d *DualHomed, ifname string) error {
	other := map[string]string{"eth0": "eth1", "eth1": "eth0"}[ifname]
	if other == "" {
		return fmt.Errorf("lab: FailTo %q: want eth0 or eth1", ifname)
	}
	_, err := ipCmd(ctx, d.NS, "link", "set", other, "down")
	return err
}

// SetARPSolicit sets how many broadcast ARP requests a tenant sends per
// resolution (net.ipv4.neigh.eth0.mcast_solicit), so a test can count
// them.
func (l *Lab) SetARPSolicit(ctx context.Context, tenant string, n int) error {
	ns, err := l.tenantNS(tenant)
	if err != nil {
		return err
	}
	_, err = runIn(ctx, ns, nil, "sysctl", "-qw", "net.ipv4.neigh.eth0.mcast_solicit="+strconv.Itoa(n))
	return err
}

// CountLines counts captured packets whose summary line contains every
// one of substrings.
func CountLines(pkts []string, substrings ...string) int {
	n := 0
outer:
	for _, p := range pkts {
		for _, s := range substrings {
			if !strings.Contains(p, s) {
				continue outer
			}
		}
		n++
	}
	return n
}
