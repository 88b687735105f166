package lab

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// Tenant is a tenant system: a namespace whose "eth0" is a veth to a
// hypervisor, where the peer is "vm-<name>" outside any bridge.
type Tenant struct {
	Name string
	NS   string
	HV   int    // hypervisor index the veth currently goes to
	If   string // hypervisor-side interface name, "vm-<name>"
	MAC  string
	IPs  []netip.Prefix
	MTU  int
}

// Addr is the tenant's first IP address.
func (t *Tenant) Addr() string {
	if len(t.IPs) == 0 {
		return ""
	}
	return t.IPs[0].Addr().String()
}

// IPStrings returns the tenant's addresses without prefix lengths, as
// nva's port "ips" field takes them.
func (t *Tenant) IPStrings() []string {
	var s []string
	for _, p := range t.IPs {
		s = append(s, p.Addr().String())
	}
	return s
}

var tenantNameRE = regexp.MustCompile(`^[a-z0-9]{1,10}$`)

// AddTenant creates tenant system name on hypervisor hv with the given MAC,
// addresses in CIDR form ("192.0.2.10/24", "2001:db8::10/64") and MTU (0 =
// TenantMTU). The hypervisor side, "vm-<name>", is up but attached to no
// bridge. Transmit checksum offload is off in the tenant (the userspace
// datapath would otherwise deliver bad TCP checksums).
func (l *Lab) AddTenant(ctx context.Context, hv int, name, mac string, ips []string, mtu int) (*Tenant, error) {
	if !tenantNameRE.MatchString(name) {
		return nil, fmt.Errorf("lab: tenant name %q: want 1-10 of [a-z0-9]", name)
	}
	if _, err := net.ParseMAC(mac); err != nil {
		return nil, fmt.Errorf("lab: tenant %s: %w", name, err)
	}
	if mtu == 0 {
		mtu = TenantMTU
	}
	t := &Tenant{Name: name, NS: l.Prefix + "t-" + name, If: "vm-" + name, MAC: strings.ToLower(mac), MTU: mtu}
	for _, s := range ips {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("lab: tenant %s: address %q: %w", name, s, err)
		}
		t.IPs = append(t.IPs, p)
	}
	l.HV(hv) // index check
	l.mu.Lock()
	if _, dup := l.tenants[name]; dup {
		l.mu.Unlock()
		return nil, fmt.Errorf("lab: tenant %s exists", name)
	}
	l.tenants[name] = t
	l.mu.Unlock()

	if err := addNamespace(ctx, t.NS); err != nil {
		return nil, err
	}
	for _, p := range t.IPs {
		if p.Addr().Is6() {
			if _, err := runIn(ctx, t.NS, nil, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=0"); err != nil {
				return nil, err
			}
			break
		}
	}
	if err := l.plugTenant(ctx, t, hv); err != nil {
		return nil, fmt.Errorf("lab: tenant %s: %w", name, err)
	}
	return t, nil
}

// plugTenant creates the veth pair between tenant t and hypervisor hv and
// configures the tenant side.
func (l *Lab) plugTenant(ctx context.Context, t *Tenant, hv int) error {
	h := l.HV(hv)
	mtu := strconv.Itoa(t.MTU)
	steps := [][]string{
		{h.NS, "link", "add", t.If, "mtu", mtu, "type", "veth", "peer", "name", "eth0", "mtu", mtu, "netns", t.NS},
		{t.NS, "link", "set", "eth0", "address", t.MAC},
	}
	for _, p := range t.IPs {
		a := []string{t.NS, "addr", "add", p.String(), "dev", "eth0"}
		if p.Addr().Is6() {
			a = append(a, "nodad")
		}
		steps = append(steps, a)
	}
	steps = append(steps,
		[]string{t.NS, "link", "set", "eth0", "up"},
		[]string{h.NS, "link", "set", t.If, "up"},
	)
	for _, s := range steps {
		if _, err := ipCmd(ctx, s[0], s[1:]...); err != nil {
			return err
		}
	}
	if _, err := runIn(ctx, t.NS, nil, "ethtool", "-K", "eth0", "tx", "off"); err != nil {
		return err
	}
	l.mu.Lock()
	t.HV = hv
	l.mu.Unlock()
	return nil
}

// Tenant returns a tenant by name, or nil.
func (l *Lab) Tenant(name string) *Tenant {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.tenants[name]
}

// Tenants returns every tenant.
func (l *Lab) Tenants() []*Tenant {
	l.mu.Lock()
	defer l.mu.Unlock()
	var ts []*Tenant
	for _, t := range l.tenants {
		ts = append(ts, t)
	}
	return ts
}

// AttachTenant adds the tenant's hypervisor-side interface to a bridge on
// its hypervisor (what nva's OVSDB manager does for a port) and returns its
// OpenFlow port number. For tests without the OVSDB manager.
func (l *Lab) AttachTenant(ctx context.Context, name, bridge string) (int, error) {
	t := l.Tenant(name)
	if t == nil {
		return 0, fmt.Errorf("lab: no tenant %s", name)
	}
	if _, err := l.Vsctl(ctx, t.HV, "--may-exist", "add-port", bridge, t.If); err != nil {
		return 0, err
	}
	return l.OFPort(ctx, t.HV, t.If)
}

// MoveTenant moves a tenant system to hypervisor hv, as a VM migration
// would: its veth pair is deleted (the old hypervisor's interface goes
// away; any OVS port for it stays behind until someone removes it) and
// recreated to hv with the same interface name, MAC, addresses and MTU.
func (l *Lab) MoveTenant(ctx context.Context, name string, hv int) error {
	t := l.Tenant(name)
	if t == nil {
		return fmt.Errorf("lab: no tenant %s", name)
	}
	old := l.HV(t.HV)
	if _, err := ipCmd(ctx, old.NS, "link", "del", t.If); err != nil {
		return fmt.Errorf("lab: moving %s: %w", name, err)
	}
	if err := l.plugTenant(ctx, t, hv); err != nil {
		return fmt.Errorf("lab: moving %s to hv%d: %w", name, hv, err)
	}
	return nil
}

// Exec runs a short command inside a tenant's namespace.
func (l *Lab) Exec(ctx context.Context, tenant string, name string, args ...string) (string, error) {
	t := l.Tenant(tenant)
	if t == nil {
		return "", fmt.Errorf("lab: no tenant %s", tenant)
	}
	return runIn(ctx, t.NS, nil, name, args...)
}

// FlushNeighbors empties a tenant's ARP/ND cache.
func (l *Lab) FlushNeighbors(ctx context.Context, tenant string) error {
	_, err := l.Exec(ctx, tenant, "ip", "neigh", "flush", "all")
	return err
}

// Neighbor returns the tenant's neighbour entry for ip ("" when none), as
// "ip neigh show" prints it.
func (l *Lab) Neighbor(ctx context.Context, tenant, ip string) (string, error) {
	out, err := l.Exec(ctx, tenant, "ip", "neigh", "show", ip)
	return strings.TrimSpace(out), err
}

// AddBareInterface creates a veth pair inside hypervisor hv, ifname and
// its peer "x"+ifname, both up and in no namespace of their own: an
// interface nva can attach as a port when no traffic is needed (benchmarks
// with many ports). ifname is at most 14 characters.
func (l *Lab) AddBareInterface(ctx context.Context, hv int, ifname string) error {
	if len(ifname) > 14 {
		return fmt.Errorf("lab: interface name %q longer than 14 characters", ifname)
	}
	ns := l.HV(hv).NS
	for _, s := range [][]string{
		{"link", "add", ifname, "type", "veth", "peer", "name", "x" + ifname},
		{"link", "set", ifname, "up"},
		{"link", "set", "x" + ifname, "up"},
	} {
		if _, err := ipCmd(ctx, ns, s...); err != nil {
			return err
		}
	}
	return nil
}

// DeleteInterface deletes an interface (and its veth peer) in hypervisor
// hv.
func (l *Lab) DeleteInterface(ctx context.Context, hv int, ifname string) error {
	_, err := ipCmd(ctx, l.HV(hv).NS, "link", "del", ifname)
	return err
}
