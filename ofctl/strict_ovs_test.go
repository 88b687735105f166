package ofctl

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/internal/ofshim"
	"github.com/nva-project/nva/internal/ovstest"
)

// TestRealOVSStrictThroughShim runs the strict OpenFlow 1.3 profile on a
// real ovs-vswitchd seen through internal/ofshim (which refuses anything a
// strict switch would, and reports 4 tables): a kind openflow NVE with a
// VAP and a per-remote VXLAN tunnel port named by the convention. The
// southbound realizes the NVE with zero refused messages (plain messages,
// no bundles, no Nicira encodings), the table check passes against OVS's
// OFPMP_TABLE_FEATURES answer, the status maps the remote to its tunnel
// port, and the namespace's kernel gets its ARP request and neighbor
// solicitation for a known remote tenant answered by nva (packet-in,
// packet-out); a controller restart rewrites nothing; the tunnel port
// going away is noticed.
func TestRealOVSStrictThroughShim(t *testing.T) {
	ovstest.Require(t, "ping")
	l := newLab(t)
	sb := l.startSouthbound()
	reg := prometheus.NewRegistry()
	if err := sb.RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	shim, err := ofshim.Start(l.ctx, ofshim.Options{Listen: "unix:" + filepath.Join(l.ovs.Dir(), "shim.sock"), Upstream: l.addr, Log: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = shim.Close() })

	remote := netip.MustParseAddr("198.18.0.2")
	tun := compiler.RemoteTunnelPortName(model.EncapVXLAN, remote)
	vap := l.iface(1)
	bridge(l.ovs, "br-int", l.dpid, shim.Target())
	l.ovs.Vsctl("add-port", "br-int", vap, "--", "set", "interface", vap, "type=internal", "ofport_request=1",
		"--", "add-port", "br-int", tun, "--", "set", "interface", tun, "type=vxlan",
		"options:remote_ip="+remote.String(), "options:local_ip=198.18.0.1", "options:key=flow", "ofport_request=100")
	l.ovs.Exec("ip", "link", "set", vap, "address", "02:00:00:00:01:01", "up")
	l.ovs.Exec("ip", "addr", "add", "198.51.100.11/24", "dev", vap)
	l.ovs.Exec("ip", "addr", "add", "2001:db8:51::11/64", "dev", vap, "nodad")

	must(t, func() error { _, err := l.st.CreateVN(l.ctx, "", model.VN{Name: "blue", VNI: 5001}); return err })
	must(t, func() error {
		_, err := l.st.CreateNVE(l.ctx, "", model.NVE{Name: "hv1", Kind: model.NVEOpenFlow, UnderlayIPs: []string{"198.18.0.1"},
			DatapathID: model.FormatDatapathID(l.dpid)})
		return err
	})
	must(t, func() error {
		_, err := l.st.CreateNVE(l.ctx, "", model.NVE{Name: "hv2", UnderlayIPs: []string{remote.String()}, OVSDB: "unix:/nonexistent/db.sock",
			DatapathType: "netdev", DatapathID: "00000000000a0002"})
		return err
	})
	for _, p := range []model.Port{
		{Name: "p1", VN: "blue", NVE: "hv1", Interface: vap, MAC: "02:00:00:00:01:01", IPs: []string{"198.51.100.11", "2001:db8:51::11"}},
		{Name: "p3", VN: "blue", NVE: "hv2", Interface: "eth0", MAC: "02:00:00:00:02:01", IPs: []string{"198.51.100.21", "2001:db8:51::21"}},
	} {
		must(t, func() error { _, err := l.st.CreatePort(l.ctx, "", p); return err })
	}
	l.realized()

	st := sb.status("hv1")
	if st.Sync != SyncInSync || st.Profile == nil || st.Profile.Name != model.ProfileStrict || st.Profile.TableCheck != "ok" || len(st.Warnings) != 0 {
		t.Fatalf("status %+v, profile %+v", st, st.Profile)
	}
	if len(st.TunnelPorts) != 1 || st.TunnelPorts[0].Port != tun || st.TunnelPorts[0].OFPort != 100 || st.TunnelPorts[0].Remote != "hv2" {
		t.Fatalf("tunnel ports %+v", st.TunnelPorts)
	}
	if got := shim.Refused(); len(got) != 0 {
		t.Fatalf("the strict shim refused %v: %v", got, shim.Refusals())
	}
	flows := l.ovs.Ofctl("dump-flows", "br-int")
	if strings.Contains(flows, "tun_dst") || strings.Contains(flows, "move:") || strings.Contains(flows, "reg") {
		t.Fatalf("extension actions or fields installed:\n%s", flows)
	}

	// The kernel resolves the remote tenant's addresses (ARP, then ND):
	// nva answers.
	for _, tc := range []struct{ ping, addr string }{{"-4", "198.51.100.21"}, {"-6", "2001:db8:51::21"}} {
		deadline := time.Now().Add(20 * time.Second)
		for {
			_, _ = l.ovs.Try("ip", "netns", "exec", l.ovs.Netns(), "ping", tc.ping, "-c", "1", "-W", "1", tc.addr)
			neigh := l.ovs.Exec("ip", "neigh", "show", tc.addr, "dev", vap)
			if strings.Contains(neigh, "lladdr 02:00:00:00:02:01") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("kernel did not learn %s (%q); packet-ins %v, shim refusals %v", tc.addr, neigh,
					counterValue(t, sb.m.packetIns), shim.Refusals())
			}
		}
	}
	if n := metricValue(t, reg, "nva_neighbor_answers_total", "", ""); n < 2 {
		t.Fatalf("answers %v", n)
	}
	if got := shim.Refused(); len(got) != 0 {
		t.Fatalf("the strict shim refused %v: %v", got, shim.Refusals())
	}

	// A controller restart changes nothing on the strict switch.
	before := l.flowAges()
	if err := sb.Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1200 * time.Millisecond)
	sb = l.startSouthbound()
	l.realized()
	if st := sb.status("hv1"); st.FlowModsSent != 0 || st.GroupModsSent != 0 || st.Sync != SyncInSync {
		t.Fatalf("restart: %d flow mods, %d group mods, sync %s", st.FlowModsSent, st.GroupModsSent, st.Sync)
	}
	after := l.flowAges()
	if len(after) != len(before) || len(before) == 0 {
		t.Fatalf("%d flows before restart, %d after", len(before), len(after))
	}
	for k, b := range before {
		if a, ok := after[k]; !ok || a[0] < b[0]+1 {
			t.Fatalf("flow %s re-created by the restart (%v -> %v)", k, b, a)
		}
	}
	if got := shim.Refused(); len(got) != 0 {
		t.Fatalf("the strict shim refused %v: %v", got, shim.Refusals())
	}

	// The tunnel port going away is noticed (port-status): the remote is
	// reported unreachable and the NVE keeps waiting for it.
	l.ovs.Vsctl("del-port", "br-int", tun)
	waitFor(t, 10*time.Second, "the missing tunnel port reported", func() bool {
		st := sb.status("hv1")
		return len(st.TunnelPorts) == 1 && st.TunnelPorts[0].OFPort == 0 && len(st.Awaiting) == 1
	})
	if st := sb.status("hv1"); !strings.Contains(fmt.Sprint(st.Warnings), "tunnel port ("+tun+") to NVE hv2") {
		t.Fatalf("warnings %q", st.Warnings)
	}
}
