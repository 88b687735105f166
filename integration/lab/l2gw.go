package lab

import (
	"context"
	"fmt"
	"strconv"
)

// L2 gateway segments: a physical segment behind a hypervisor is a
// standalone (NORMAL-switching, controller-less) userspace OVS bridge in
// the hypervisor's namespace, with hosts on VLAN access ports (tag) and a
// trunk veth to the integration bridge. The kernel here has no 802.1Q
// module, so the VLAN tags come from the helper bridge's access ports.

// AddSegmentBridge creates segment bridge bridge on hypervisor hv and the
// veth pair trunk / "x"+trunk: the peer is the bridge's trunk port, and
// trunk is left for nva to attach to br-int as a segment port's interface.
func (l *Lab) AddSegmentBridge(ctx context.Context, hv int, bridge, trunk string) error {
	if err := l.AddBareInterface(ctx, hv, trunk); err != nil {
		return err
	}
	if _, err := l.Vsctl(ctx, hv, "--may-exist", "add-br", bridge,
		"--", "set", "bridge", bridge, "datapath_type=netdev", "fail_mode=standalone",
		"--", "--may-exist", "add-port", bridge, "x"+trunk); err != nil {
		return fmt.Errorf("hv%d: segment bridge %s: %w", hv, bridge, err)
	}
	return nil
}

// AddSegmentHost creates host name (a tenant namespace with MAC mac and
// address ip in CIDR form) on hypervisor hv's segment bridge, on an
// access port of VLAN vlan.
func (l *Lab) AddSegmentHost(ctx context.Context, hv int, bridge, name, mac, ip string, vlan int) (*Tenant, error) {
	t, err := l.AddTenant(ctx, hv, name, mac, []string{ip}, 0)
	if err != nil {
		return nil, err
	}
	if _, err := l.Vsctl(ctx, hv, "--may-exist", "add-port", bridge, t.If, "tag="+strconv.Itoa(vlan)); err != nil {
		return nil, fmt.Errorf("hv%d: segment host %s: %w", hv, name, err)
	}
	return t, nil
}

// SilenceTenant takes a tenant's interface down: it sends nothing more
// (a host gone from its segment).
func (l *Lab) SilenceTenant(ctx context.Context, name string) error {
	ns, err := l.tenantNS(name)
	if err != nil {
		return err
	}
	_, err = ipCmd(ctx, ns, "link", "set", "eth0", "down")
	return err
}
