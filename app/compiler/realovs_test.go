package compiler_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/compiler/scenario"
	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/pipeline"
	"github.com/nva-project/nva/app/sim"
	"github.com/nva-project/nva/internal/ovstest"
)

// TestRealOVSAnswersARPAndND installs one NVE's compiled flows in a real
// ovs-vswitchd (userspace datapath, in its own network namespace) and
// checks, from a tenant namespace's kernel, that the ARP reply and the
// IPv6 neighbor advertisement OVS builds are accepted: the kernel learns
// the remote port's MAC for both addresses. The kernel drops ICMPv6 with a
// bad checksum and NAs without a valid target link-layer option, so this
// verifies the NA end to end. Needs root and Open vSwitch; skipped
// otherwise.
func TestRealOVSAnswersARPAndND(t *testing.T) {
	ovstest.Require(t, "ping")
	o := ovstest.Start(t, ovstest.Options{Prefix: "nvc"})
	tenNS := ovstest.Netns(t, "nvc")
	const ovsIf = "nvc-t1"
	ten := func(args ...string) string {
		t.Helper()
		return o.Run("ip", append([]string{"netns", "exec", tenNS}, args...)...)
	}

	// Domain: VN lab with the tenant's port on hv1 and a port on hv2 whose
	// addresses the tenant resolves.
	const tenMAC, remoteMAC = "02:00:00:00:0a:01", "02:00:00:00:0a:02"
	d := scenario.New().VN("lab", 4242).NVE("hv1", "198.18.0.1").NVE("hv2", "198.18.0.2").
		Port("t1", "lab", "hv1", ovsIf, tenMAC, 0, "198.19.42.1", "2001:db8:42::1").
		Port("r2", "lab", "hv2", "tap-r2", remoteMAC, 0, "198.19.42.2", "2001:db8:42::2")
	prof := pipeline.OVS()
	r, err := compiler.Compile(d.Input("hv1"), prof)
	if err != nil {
		t.Fatal(err)
	}

	o.Vsctl("add-br", "br-int", "--", "set", "bridge", "br-int", "datapath_type=netdev", "fail_mode=secure", "protocols=OpenFlow13")
	o.Run("ip", "-n", o.Netns(), "link", "add", ovsIf, "type", "veth", "peer", "name", "eth0", "netns", tenNS)
	o.Run("ip", "-n", o.Netns(), "link", "set", ovsIf, "up")
	o.Vsctl("add-port", "br-int", ovsIf, "--", "set", "Interface", ovsIf, fmt.Sprintf("ofport_request=%d", d.OFPort("hv1", ovsIf)))
	o.Vsctl("add-port", "br-int", compiler.TunnelPortName("vxlan"), "--", "set", "Interface", compiler.TunnelPortName("vxlan"),
		"type=vxlan", "options:remote_ip=flow", "options:key=flow", fmt.Sprintf("ofport_request=%d", scenario.TunnelOFPort("vxlan")))

	flows, err := prof.Text(r.FlowList(), true)
	if err != nil {
		t.Fatal(err)
	}
	ff, gf := filepath.Join(o.Dir(), "flows.txt"), filepath.Join(o.Dir(), "groups.txt")
	if err := os.WriteFile(ff, []byte(flows), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(gf, []byte(flow.FormatGroups(r.Groups)), 0o644); err != nil {
		t.Fatal(err)
	}
	o.Ofctl("del-flows", "br-int")
	o.Ofctl("add-groups", "br-int", gf)
	o.Ofctl("add-flows", "br-int", ff)
	installed := o.Ofctl("dump-flows", "br-int")
	if n := strings.Count(installed, "cookie=0x4e56"); n != r.NumFlows() {
		t.Fatalf("installed %d nva flows, want %d:\n%s", n, r.NumFlows(), installed)
	}

	ten("ip", "link", "set", "eth0", "address", tenMAC)
	ten("ip", "link", "set", "eth0", "up")
	ten("ip", "addr", "add", "198.19.42.1/24", "dev", "eth0")
	ten("ip", "addr", "add", "2001:db8:42::1/64", "dev", "eth0", "nodad")

	// The pings themselves go into the tunnel (no hv2 here) and fail;
	// what matters is the neighbor entries the answers create.
	neigh := func(family, addr string) string {
		for i := 0; i < 20; i++ {
			o.Try("ip", "netns", "exec", tenNS, "ping", family, "-c1", "-W1", addr)
			out := ten("ip", family, "neigh", "show", addr)
			if strings.Contains(out, "lladdr") {
				return out
			}
			time.Sleep(200 * time.Millisecond)
		}
		return ""
	}
	if got := neigh("-4", "198.19.42.2"); !strings.Contains(got, remoteMAC) {
		t.Errorf("ARP for a known remote address: neighbor entry %q, want lladdr %s\n%s", got,
			remoteMAC, o.Ofctl("dump-flows", "br-int"))
	}
	if got := neigh("-6", "2001:db8:42::2"); !strings.Contains(got, remoteMAC) {
		t.Errorf("NS for a known remote address: neighbor entry %q, want lladdr %s\n%s", got,
			remoteMAC, o.Ofctl("dump-flows", "br-int"))
	}

	// The same packets through the simulator and ofproto/trace: both drop,
	// or both send something out.
	sw, err := sim.New(prof, r.FlowList(), r.Groups)
	if err != nil {
		t.Fatal(err)
	}
	in := d.OFPort("hv1", ovsIf)
	for name, p := range map[string]sim.Packet{
		"known ARP":        sim.ARPRequest(in, tenMAC, "198.19.42.1", "198.19.42.2"),
		"spoofed ARP":      sim.ARPRequest(in, tenMAC, "198.19.42.9", "198.19.42.2"),
		"spoofed MAC":      sim.IPv4(in, "02:00:00:00:0a:09", remoteMAC, "198.19.42.1", "198.19.42.2"),
		"tagged on access": sim.IPv4(in, tenMAC, remoteMAC, "198.19.42.1", "198.19.42.2").Tagged(3),
		"known NS":         sim.NeighborSolicitation(in, tenMAC, "2001:db8:42::1", "2001:db8:42::2"),
		"own NA":           neighborAdvert(in, tenMAC, "2001:db8:42::1", "2001:db8:42::1", tenMAC),
		"spoofed NA":       neighborAdvert(in, tenMAC, "2001:db8:42::1", "2001:db8:42::2", tenMAC),
		"unknown unicast":  sim.IPv4(in, tenMAC, "02:00:00:00:0a:77", "198.19.42.1", "198.19.42.7"),
		"foreign tunnel":   sim.IPv4(0, remoteMAC, tenMAC, "198.19.42.2", "198.19.42.1").FromTunnel(scenario.TunnelOFPort("vxlan"), 4242, "198.18.0.9"),
		"tunnel to local":  sim.IPv4(0, remoteMAC, tenMAC, "198.19.42.2", "198.19.42.1").FromTunnel(scenario.TunnelOFPort("vxlan"), 4242, "198.18.0.2"),
		"tunnel wrong VNI": sim.IPv4(0, remoteMAC, tenMAC, "198.19.42.2", "198.19.42.1").FromTunnel(scenario.TunnelOFPort("vxlan"), 4243, "198.18.0.2"),
	} {
		res := sw.Run(p)
		tr := o.Appctl("ofproto/trace", "br-int", p.TraceFlow())
		got := sim.OFProtoTracePorts(tr, p.InPort)
		if want := res.Ports(); !slices.Equal(got, want) {
			t.Errorf("%s: OVS outputs to %v, simulator to %v\nsim:\n%sovs:\n%s", name, got, want, res.TraceText(), tr)
		}
	}
}

// neighborAdvert builds an unsolicited NA to all nodes.
func neighborAdvert(in uint32, mac, src, target, tll string) sim.Packet {
	p := sim.IPv6(in, mac, "33:33:00:00:00:01", src, "ff02::1")
	nd := sim.NeighborSolicitation(in, mac, src, target) // for the ND fields
	for _, f := range []string{flow.NDTarget, flow.ICMPv6Code, flow.NDReserved} {
		p = p.With(f, nd.Get(f))
	}
	p = p.With(flow.IPProto, flow.U8(flow.ProtoICMPv6)).With(flow.ICMPv6Type, flow.U8(136)).
		With(flow.NDSLL, make([]byte, 6)).With(flow.NDTLL, sim.Eth(0, tll, tll, 0).Get(flow.EthSrc)).
		With(flow.NDOptionsType, flow.U8(2))
	return p
}
