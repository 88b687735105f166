package lab

import (
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Multihomed hypervisors: a second underlay plane. Plane 0 is the lab's
// fabric bridge (br0, 198.18.0.0/24, each hypervisor's eth1 on br-phy);
// plane 1 is a second Linux bridge (br1) in the fabric namespace,
// 198.18.1.0/24, each hypervisor's eth2 on its own OVS bridge br-phy1
// that owns 198.18.1.<i>. Open vSwitch's tunnel routing picks the bridge
// by the kernel routes of the hypervisor namespace, so a path from
// 198.18.1.1 to 198.18.1.2 leaves through eth2.

// PhysBridge1 is the bridge owning a hypervisor's plane-1 underlay address.
const PhysBridge1 = "br-phy1"

// SecondUplinkIP is hypervisor i's plane-1 underlay address.
func SecondUplinkIP(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 18, 1, byte(i)}) }

// fabricPort is the fabric-side name of hypervisor i's uplink on a plane.
func fabricPort(i, plane int) string {
	if plane == 0 {
		return fmt.Sprintf("hv%d", i)
	}
	return fmt.Sprintf("hv%db", i)
}

// AddSecondUplink gives hypervisor i a second underlay link on plane 1
// (creating plane 1's fabric bridge on first use) and returns its address.
func (l *Lab) AddSecondUplink(ctx context.Context, i int) (netip.Addr, error) {
	hv := l.HV(i)
	mtu := strconv.Itoa(l.opts.UnderlayMTU)
	if _, err := ipCmd(ctx, l.fabricNS, "link", "show", "br1"); err != nil {
		for _, s := range [][]string{
			{"link", "add", "br1", "mtu", mtu, "type", "bridge", "stp_state", "0"},
			{"link", "set", "br1", "up"},
		} {
			if _, err := ipCmd(ctx, l.fabricNS, s...); err != nil {
				return netip.Addr{}, err
			}
		}
	}
	fab := fabricPort(i, 1)
	for _, s := range [][]string{
		{hv.NS, "link", "add", "eth2", "mtu", mtu, "type", "veth", "peer", "name", fab, "mtu", mtu, "netns", l.fabricNS},
		{l.fabricNS, "link", "set", fab, "master", "br1", "up"},
		{hv.NS, "link", "set", "eth2", "up"},
	} {
		if _, err := ipCmd(ctx, s[0], s[1:]...); err != nil {
			return netip.Addr{}, err
		}
	}
	if _, err := vsctl(ctx, hv, "add-br", PhysBridge1,
		"--", "set", "bridge", PhysBridge1, "datapath_type=netdev",
		"--", "add-port", PhysBridge1, "eth2",
		"--", "set", "interface", PhysBridge1, "mtu_request="+mtu); err != nil {
		return netip.Addr{}, err
	}
	if err := waitLink(ctx, hv.NS, PhysBridge1); err != nil {
		return netip.Addr{}, err
	}
	ip := SecondUplinkIP(i)
	for _, s := range [][]string{
		{"addr", "add", ip.String() + "/24", "dev", PhysBridge1},
		{"link", "set", PhysBridge1, "up"},
	} {
		if _, err := ipCmd(ctx, hv.NS, s...); err != nil {
			return netip.Addr{}, err
		}
	}
	return ip, nil
}

// SetUplink cuts (up false) or restores hypervisor i's underlay link on
// plane 0 or 1, at the fabric side (the hypervisor sees its carrier go,
// as when a cable or a ToR port fails).
func (l *Lab) SetUplink(ctx context.Context, i, plane int, up bool) error {
	state := "down"
	if up {
		state = "up"
	}
	_, err := ipCmd(ctx, l.fabricNS, "link", "set", fabricPort(i, plane), state)
	return err
}

// LinkCarrier reports whether a tenant's eth0 has carrier (its peer, the
// VAP on the hypervisor, is up), from `ip -o link show` in its namespace.
func (l *Lab) LinkCarrier(ctx context.Context, tenant string) (bool, string, error) {
	ns, err := l.tenantNS(tenant)
	if err != nil {
		return false, "", err
	}
	out, err := ipCmd(ctx, ns, "-o", "link", "show", "eth0")
	if err != nil {
		return false, out, err
	}
	return !strings.Contains(out, "NO-CARRIER") && !strings.Contains(out, "state LOWERLAYERDOWN"), strings.TrimSpace(out), nil
}

// TimedPing is a continuous ping whose replies carry timestamps (ping -D),
// to measure the longest interruption.
type TimedPing struct {
	b        *bgCmd
	interval time.Duration
}

// StartTimedPing pings toIP from a tenant every interval, count times.
func (l *Lab) StartTimedPing(from, toIP string, interval time.Duration, count int) (*TimedPing, error) {
	ns, err := l.tenantNS(from)
	if err != nil {
		return nil, err
	}
	b, err := l.startBG(ns, "ping", "-n", "-D", "-c", strconv.Itoa(count),
		"-i", strconv.FormatFloat(interval.Seconds(), 'f', 3, 64), "-W", "1", toIP)
	if err != nil {
		return nil, err
	}
	return &TimedPing{b: b, interval: interval}, nil
}

// TimedPingResult is what a TimedPing saw.
type TimedPingResult struct {
	PingResult
	// Replies are the replies' arrival times, in order.
	Replies []time.Time
	// MaxGap is the longest time between two consecutive replies.
	MaxGap time.Duration
}

// Interruption is the longest time without replies beyond the ping
// interval itself.
func (r TimedPingResult) Interruption(interval time.Duration) time.Duration {
	return max(0, r.MaxGap-interval)
}

var timedReplyRE = regexp.MustCompile(`^\[(\d+)\.(\d+)\] \d+ bytes from`)

// Wait waits for the ping to finish.
func (p *TimedPing) Wait(ctx context.Context) (TimedPingResult, error) {
	if err := p.b.wait(ctx); err != nil && ctx.Err() != nil {
		return TimedPingResult{}, err
	}
	return parseTimedPing(p.b.stdout.String())
}

// Stop interrupts the ping.
func (p *TimedPing) Stop() (TimedPingResult, error) {
	p.b.signal(syscall.SIGINT)
	<-p.b.done
	return parseTimedPing(p.b.stdout.String())
}

func parseTimedPing(out string) (TimedPingResult, error) {
	pr, err := parsePing(out)
	r := TimedPingResult{PingResult: pr}
	for _, line := range strings.Split(out, "\n") {
		m := timedReplyRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		sec, _ := strconv.ParseInt(m[1], 10, 64)
		frac := (m[2] + "000000000")[:9]
		ns, _ := strconv.ParseInt(frac, 10, 64)
		t := time.Unix(sec, ns)
		if n := len(r.Replies); n > 0 {
			r.MaxGap = max(r.MaxGap, t.Sub(r.Replies[n-1]))
		}
		r.Replies = append(r.Replies, t)
	}
	return r, err
}
