package lab

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// The external (non-virtualized) network of an L3 gateway: a Linux bridge
// in a namespace of its own ("<prefix>ext", not the fabric: the underlay
// never reaches it), hosts on it (namespaces with a veth to the bridge)
// and gateway uplinks (veths from a hypervisor to the bridge, whose
// hypervisor side nva attaches to the NVE's bridge as the uplink). A host
// is registered as a tenant (HV 0: on no hypervisor), so Ping, Reachable
// and TenantPoint work from it and on it.

// ExternalNetNS is the namespace of the external network's bridge.
func (l *Lab) ExternalNetNS() string { return l.Prefix + "ext" }

// ensureExternalNet creates the external network's namespace and bridge
// once.
func (l *Lab) ensureExternalNet(ctx context.Context) error {
	ns := l.ExternalNetNS()
	nss, err := listNamespaces(ctx)
	if err != nil {
		return err
	}
	for _, n := range nss {
		if n == ns {
			return nil
		}
	}
	if err := addNamespace(ctx, ns); err != nil {
		return err
	}
	if _, err := ipCmd(ctx, ns, "link", "add", "br0", "type", "bridge", "stp_state", "0"); err != nil {
		return err
	}
	_, err = ipCmd(ctx, ns, "link", "set", "br0", "up")
	return err
}

// AddExternalHost creates a host on the external network: namespace
// "<prefix>x-<name>" with eth0 (mac, addr in CIDR form) on the external
// bridge, extra addresses on its loopback (destinations "beyond" it, as
// a router's), and IP forwarding off. It is registered as a tenant of no
// hypervisor.
func (l *Lab) AddExternalHost(ctx context.Context, name, mac, addr string, loopback ...string) (*Tenant, error) {
	if !tenantNameRE.MatchString(name) {
		return nil, fmt.Errorf("lab: external host name %q: want 1-10 of [a-z0-9]", name)
	}
	if _, err := net.ParseMAC(mac); err != nil {
		return nil, fmt.Errorf("lab: external host %s: %w", name, err)
	}
	p, err := netip.ParsePrefix(addr)
	if err != nil {
		return nil, fmt.Errorf("lab: external host %s: address %q: %w", name, addr, err)
	}
	if err := l.ensureExternalNet(ctx); err != nil {
		return nil, err
	}
	t := &Tenant{Name: name, NS: l.Prefix + "x-" + name, If: "x-" + name, MAC: strings.ToLower(mac), MTU: TenantMTU, IPs: []netip.Prefix{p}}
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
	ext := l.ExternalNetNS()
	steps := [][]string{
		{ext, "link", "add", t.If, "type", "veth", "peer", "name", "eth0", "netns", t.NS},
		{ext, "link", "set", t.If, "master", "br0", "up"},
		{t.NS, "link", "set", "eth0", "address", t.MAC},
		{t.NS, "addr", "add", p.String(), "dev", "eth0"},
		{t.NS, "link", "set", "eth0", "up"},
	}
	for _, a := range loopback {
		steps = append(steps, []string{t.NS, "addr", "add", a, "dev", "lo"})
	}
	for _, s := range steps {
		if _, err := ipCmd(ctx, s[0], s[1:]...); err != nil {
			return nil, fmt.Errorf("lab: external host %s: %w", name, err)
		}
	}
	if _, err := runIn(ctx, t.NS, nil, "ethtool", "-K", "eth0", "tx", "off"); err != nil {
		return nil, err
	}
	return t, nil
}

// AddUplink creates a gateway uplink: interface ifname in hypervisor hv
// (up, attached to no bridge: nva attaches it as the gateway's uplink),
// its peer on the external bridge.
func (l *Lab) AddUplink(ctx context.Context, hv int, ifname string) error {
	if len(ifname) > 12 {
		return fmt.Errorf("lab: uplink name %q longer than 12 characters", ifname)
	}
	if err := l.ensureExternalNet(ctx); err != nil {
		return err
	}
	h := l.HV(hv)
	peer := fmt.Sprintf("u%d-%s", hv, ifname)
	if len(peer) > 15 {
		peer = peer[:15]
	}
	steps := [][]string{
		{h.NS, "link", "add", ifname, "type", "veth", "peer", "name", peer, "netns", l.ExternalNetNS()},
		{l.ExternalNetNS(), "link", "set", peer, "master", "br0", "up"},
		{h.NS, "link", "set", ifname, "up"},
	}
	for _, s := range steps {
		if _, err := ipCmd(ctx, s[0], s[1:]...); err != nil {
			return fmt.Errorf("lab: uplink %s on hv%d: %w", ifname, hv, err)
		}
	}
	return nil
}

// L3GatewaySpec is an L3 gateway as the API takes it.
type L3GatewaySpec struct {
	Name        string       `json:"name"`
	Tenant      string       `json:"tenant"`
	L3Domain    string       `json:"l3_domain"`
	NVE         string       `json:"nve"`
	Uplink      string       `json:"uplink"`
	ExternalIP  string       `json:"external_ip"`
	NextHop     string       `json:"next_hop"`
	NextHopMAC  string       `json:"next_hop_mac"`
	FloatingIPs []FloatingIP `json:"floating_ips,omitempty"`
}

// FloatingIP maps an external address to a tenant address.
type FloatingIP struct {
	ExternalIP string `json:"external_ip"`
	InternalIP string `json:"internal_ip"`
}

// AddL3Gateway creates an L3 gateway through the API.
func (o *Overlay) AddL3Gateway(ctx context.Context, g L3GatewaySpec) error {
	return o.Post(ctx, "/api/v1/l3gateways", g)
}
