package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestUnderlayFilter(t *testing.T) {
	cases := []struct {
		encap string
		vni   uint32
		et    uint16
		bcast bool
		want  string
	}{
		// The lab notes' verified expression for encapsulated ARP.
		{"vxlan", 0, 0x0806, false, "udp dst port 4789 and udp[28:2] = 0x0806"},
		{"vxlan", 100, 0x0806, true, "udp dst port 4789 and udp[12:4] & 0xffffff00 = 0x6400 and udp[16:4] = 0xffffffff and udp[20:2] = 0xffff and udp[28:2] = 0x0806"},
		{"geneve", 7, 0, false, "udp dst port 6081 and udp[12:4] & 0xffffff00 = 0x700"},
		{"gre", 5, 0x0800, false, "ip proto 47 and ip[24:4] = 0x5 and ip[40:2] = 0x0800"},
		{"bogus", 0, 0, false, "false"},
	}
	if got, want := UnderlayARPFilter("vxlan", "192.0.2.13", "192.0.2.14"),
		"udp dst port 4789 and udp[28:2] = 0x0806 and (udp[54:4] = 0xc000020d or udp[54:4] = 0xc000020e)"; got != want {
		t.Errorf("UnderlayARPFilter = %q, want %q", got, want)
	}
	for _, c := range cases {
		if got := UnderlayFilter(c.encap, c.vni, c.et, c.bcast); got != c.want {
			t.Errorf("UnderlayFilter(%q,%d,%#x,%v) = %q, want %q", c.encap, c.vni, c.et, c.bcast, got, c.want)
		}
	}
}

func TestParsePing(t *testing.T) {
	out := "--- 192.0.2.2 ping statistics ---\n250 packets transmitted, 248 received, +2 duplicates, 0.8% packet loss, time 5000ms\n"
	r, err := parsePing(out)
	if err != nil {
		t.Fatal(err)
	}
	if r.Transmitted != 250 || r.Received != 248 || r.Duplicates != 2 || r.Lost() != 2 {
		t.Fatalf("parsed %+v", r)
	}
	if _, err := parsePing("ping: connect: Network is unreachable\n"); err == nil {
		t.Fatal("want an error for output without a summary")
	}
}

// installTunnelFlows programs hv's br-int by hand: frames from the local
// tenant port go into the tunnel with the VNI toward the peer's underlay IP,
// and frames from the tunnel with that VNI go to the tenant port.
func installTunnelFlows(ctx context.Context, t *testing.T, l *Lab, hv int, tenantPort int, encap string, vni uint32, recvVNI uint32, peerIP string) {
	t.Helper()
	tun, err := l.OFPort(ctx, hv, TunnelPorts[encap])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Ofctl(ctx, hv, "del-flows", IntegrationBridge); err != nil {
		t.Fatal(err)
	}
	flows := []string{
		fmt.Sprintf("table=0,priority=100,in_port=%d,actions=set_field:%d->tun_id,set_field:%s->tun_dst,output:%d", tenantPort, vni, peerIP, tun),
		fmt.Sprintf("table=0,priority=100,in_port=%d,tun_id=%d,actions=output:%d", tun, recvVNI, tenantPort),
	}
	for _, f := range flows {
		if _, err := l.Ofctl(ctx, hv, "add-flow", IntegrationBridge, f); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLabSmoke validates the harness on real Open vSwitch without nva:
// two hypervisors, br-int prepared by hand, a minimal hand-written flow set
// (no NORMAL action) that tunnels between one tenant on each, for every
// encapsulation; captures on the underlay; a wrong VNI isolates; iperf3
// across the tunnel; a continuous 50 pps ping; moving a tenant.
func TestLabSmoke(t *testing.T) {
	l := New(t, Options{Hypervisors: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	for i := 1; i <= 2; i++ {
		if err := l.PrepareBridge(ctx, i, BridgeOptions{DatapathID: fmt.Sprintf("00000000000000%02x", i)}); err != nil {
			t.Fatal(err)
		}
	}
	a, err := l.AddTenant(ctx, 1, "a", "02:00:00:00:01:01", []string{"192.0.2.1/24"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := l.AddTenant(ctx, 2, "b", "02:00:00:00:01:02", []string{"192.0.2.2/24"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	pa, err := l.AttachTenant(ctx, "a", IntegrationBridge)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := l.AttachTenant(ctx, "b", IntegrationBridge)
	if err != nil {
		t.Fatal(err)
	}
	if dpid, err := l.Vsctl(ctx, 2, "get", "bridge", IntegrationBridge, "datapath_id"); err != nil || !strings.Contains(dpid, "0000000000000002") {
		t.Fatalf("br-int datapath_id on hv2 = %q, %v; want 0000000000000002", dpid, err)
	}

	for _, encap := range []string{"vxlan", "geneve", "gre"} {
		t.Run(encap, func(t *testing.T) {
			const vni = 5001
			installTunnelFlows(ctx, t, l, 1, pa, encap, vni, vni, l.UnderlayIP(2))
			installTunnelFlows(ctx, t, l, 2, pb, encap, vni, vni, l.UnderlayIP(1))
			for _, n := range []string{"a", "b"} {
				if err := l.FlushNeighbors(ctx, n); err != nil {
					t.Fatal(err)
				}
			}
			arp, err := l.StartCapture(ctx, l.UnderlayPoint(1), UnderlayFilter(encap, vni, 0x0806, false))
			if err != nil {
				t.Fatal(err)
			}
			icmp, err := l.StartCapture(ctx, l.UnderlayPoint(2), UnderlayFilter(encap, vni, 0x0800, false))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := l.Reachable(ctx, "a", b.Addr(), 10*time.Second); err != nil {
				t.Fatal(err)
			}
			r, err := l.Ping(ctx, "a", b.Addr(), 3)
			if err != nil {
				t.Fatal(err)
			}
			if r.Received != 3 {
				t.Fatalf("a -> b over %s: %v", encap, r)
			}
			arps, err := arp.Stop()
			if err != nil {
				t.Fatal(err)
			}
			icmps, err := icmp.Stop()
			if err != nil {
				t.Fatal(err)
			}
			// a resolved b through the tunnel (nothing suppresses ARP
			// here), and at least 3 requests and 3 replies crossed.
			if len(arps) < 2 {
				t.Errorf("encapsulated ARP seen on hv1's underlay: %d packets, want request and reply:\n%s", len(arps), strings.Join(arps, "\n"))
			}
			if len(icmps) < 6 {
				t.Errorf("encapsulated IPv4 seen on hv2's underlay: %d packets, want >= 6:\n%s", len(icmps), strings.Join(icmps, "\n"))
			}

			// A receiver expecting another VNI isolates the tenants.
			installTunnelFlows(ctx, t, l, 2, pb, encap, vni, vni+1, l.UnderlayIP(1))
			if r, err := l.Ping(ctx, "a", b.Addr(), 2); err != nil || r.Received != 0 {
				t.Fatalf("a -> b with mismatched VNI: %v, %v; want no replies", r, err)
			}
		})
	}

	// Back to VXLAN for the TCP and stream checks.
	installTunnelFlows(ctx, t, l, 1, pa, "vxlan", 77, 77, l.UnderlayIP(2))
	installTunnelFlows(ctx, t, l, 2, pb, "vxlan", 77, 77, l.UnderlayIP(1))
	if _, err := l.Reachable(ctx, "a", b.Addr(), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	ir, err := l.Iperf(ctx, "a", "b", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if ir.Bytes < 1<<20 {
		t.Fatalf("iperf3 a -> b over VXLAN moved only %d bytes (%v)", ir.Bytes, ir)
	}
	t.Logf("iperf3 a -> b over hand-written VXLAN flows: %v", ir)

	ps, err := l.StartPingStream("a", b.Addr(), 20*time.Millisecond, 100)
	if err != nil {
		t.Fatal(err)
	}
	pr, err := ps.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if pr.Transmitted != 100 || pr.Lost() != 0 {
		t.Fatalf("50 pps stream a -> b: %v", pr)
	}

	// Move b next to a; bridge them locally on hv1.
	if err := l.MoveTenant(ctx, "b", 1); err != nil {
		t.Fatal(err)
	}
	if b.HV != 1 {
		t.Fatalf("b.HV = %d after move, want 1", b.HV)
	}
	pb1, err := l.AttachTenant(ctx, "b", IntegrationBridge)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Ofctl(ctx, 1, "del-flows", IntegrationBridge); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{
		fmt.Sprintf("priority=100,in_port=%d,actions=output:%d", pa, pb1),
		fmt.Sprintf("priority=100,in_port=%d,actions=output:%d", pb1, pa),
	} {
		if _, err := l.Ofctl(ctx, 1, "add-flow", IntegrationBridge, f); err != nil {
			t.Fatal(err)
		}
	}
	d, err := l.Reachable(ctx, "a", b.Addr(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("b reachable %v after moving to hv1", d)
	if n, err := l.Neighbor(ctx, "a", b.Addr()); err != nil || !strings.Contains(n, b.MAC) {
		t.Fatalf("a's neighbour entry for b = %q, %v; want MAC %s", n, err, b.MAC)
	}

	// The failure dump has what a debugger needs.
	dir, err := l.DumpArtifacts(t.Name())
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	dump, err := os.ReadFile(filepath.Join(dir, "hv1-ovs.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"nva-vxlan", "in_port", "ovs-vsctl", "198.18.0.1"} {
		if !strings.Contains(string(dump), want) {
			t.Errorf("hv1 dump lacks %q", want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "hv1-ovs-vswitchd.log")); err != nil {
		t.Errorf("hv1 vswitchd log not copied: %v", err)
	}
	_ = a
}

// TestSweepRemovesStaleLab fakes a lab left by a dead process and checks
// that the next Sweep removes its namespace, root link and state.
func TestSweepRemovesStaleLab(t *testing.T) {
	if reason := Requirements(); reason != "" {
		t.Skip("lab: " + reason)
	}
	ctx := context.Background()
	p := fmt.Sprintf("nvl%dz-", (os.Getpid()%1000+500)%1000)
	dir := filepath.Join(BaseDir(), p)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// A process id that cannot be alive (pid beyond pid_max).
	if err := os.WriteFile(filepath.Join(dir, "owner"), []byte("999999999 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ns := p + "hv1"
	if _, err := run(ctx, nil, "ip", "netns", "add", ns); err != nil {
		t.Fatal(err)
	}
	link := p + "m1"
	if _, err := ipCmd(ctx, "", "link", "add", link, "type", "bridge"); err != nil {
		_, _ = run(ctx, nil, "ip", "netns", "del", ns)
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cleanPrefix(context.Background(), p, dir) })

	if err := Sweep(ctx, t.Logf); err != nil {
		t.Fatal(err)
	}
	nss, _ := listNamespaces(ctx)
	links, _ := listLinks(ctx, "")
	if hasPrefix(nss, p) || hasPrefix(links, p) {
		t.Fatalf("after sweep: namespaces %v links %v still have prefix %s", nss, links, p)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("state dir %s still there (%v)", dir, err)
	}
}
