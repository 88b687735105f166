package lab

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// Split NVEs (RFC 8014 §4.2) in the lab: a tNVE hypervisor's uplink is a
// veth cabled straight into its nNVE hypervisor's namespace.

// AccessUplink is the uplink interface AddAccessLink creates in a tNVE.
const AccessUplink = "uplink0"

// AddAccessLink cables hypervisor tnve (the tNVE) to hypervisor nnve (the
// nNVE): a veth pair, AccessUplink in tnve's namespace and
// "acc<tnve>" in nnve's, both up with the underlay MTU (tenant frames
// plus two VLAN tags) and VLAN offloads off (the userspace datapath reads
// tags from the frames). It returns the two interface names; nva adds
// them to br-int once the tNVE's access_link names them.
func (l *Lab) AddAccessLink(ctx context.Context, tnve, nnve int) (uplink, nnvePort string, err error) {
	t, n := l.HV(tnve), l.HV(nnve)
	uplink, nnvePort = AccessUplink, fmt.Sprintf("acc%d", tnve)
	mtu := strconv.Itoa(l.opts.UnderlayMTU)
	for _, s := range [][]string{
		{t.NS, "link", "add", uplink, "mtu", mtu, "type", "veth", "peer", "name", nnvePort, "mtu", mtu, "netns", n.NS},
		{t.NS, "link", "set", uplink, "up"},
		{n.NS, "link", "set", nnvePort, "up"},
	} {
		if _, err := ipCmd(ctx, s[0], s[1:]...); err != nil {
			return "", "", err
		}
	}
	for _, e := range []struct{ ns, dev string }{{t.NS, uplink}, {n.NS, nnvePort}} {
		disableIPv6(e.ns, e.dev)
		// Best effort: not every kernel has every one of these features.
		for _, feat := range []string{"rxvlan", "txvlan", "rx-vlan-stag-hw-parse", "tx-vlan-stag-hw-insert"} {
			_, _ = runIn(ctx, e.ns, nil, "ethtool", "-K", e.dev, feat, "off")
		}
	}
	return uplink, nnvePort, nil
}

// SetVLANLimit sets how many VLAN headers hypervisor hv's Open vSwitch
// parses (other_config:vlan-limit; 2 for QinQ, 0 for no limit).
func (l *Lab) SetVLANLimit(ctx context.Context, hv, limit int) error {
	_, err := l.Vsctl(ctx, hv, "set", "Open_vSwitch", ".", "other_config:vlan-limit="+strconv.Itoa(limit))
	return err
}

// SendTagged sends count UDP datagrams (port 4242, payload marker) from
// tenant from to dstMAC/dstIP with an 802.1Q tag vid, using scapy in the
// tenant's namespace (the kernel here has no 802.1Q devices).
func (l *Lab) SendTagged(ctx context.Context, from, dstMAC, dstIP string, vid, count int, marker string) error {
	t := l.Tenant(from)
	if t == nil {
		return fmt.Errorf("lab: no tenant %s", from)
	}
	script := fmt.Sprintf(`
import logging
logging.getLogger("scapy").setLevel(logging.ERROR)
from scapy.all import Ether, Dot1Q, IP, UDP, Raw, sendp
f = Ether(src=%q, dst=%q)/Dot1Q(vlan=%d)/IP(src=%q, dst=%q)/UDP(sport=4242, dport=4242)/Raw(%q.encode())
sendp(f, iface="eth0", count=%d, inter=0.05, verbose=False)
`, t.MAC, strings.ToLower(dstMAC), vid, t.Addr(), dstIP, marker, count)
	// Debian's python3-scapy lives in the system Python.
	out, err := runIn(ctx, t.NS, nil, "/usr/bin/python3", "-c", script)
	if err != nil {
		return fmt.Errorf("lab: scapy in %s: %w: %s", from, err, out)
	}
	return nil
}
