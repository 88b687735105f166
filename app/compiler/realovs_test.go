package compiler_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
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
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, ovs-vswitchd)")
	}
	for _, b := range []string{"ovsdb-server", "ovs-vswitchd", "ovs-vsctl", "ovs-ofctl", "ovs-appctl", "ovsdb-tool", "ip", "ping"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Skipf("%s not installed", b)
		}
	}
	schema := "/usr/share/openvswitch/vswitch.ovsschema"
	if _, err := os.Stat(schema); err != nil {
		t.Skipf("OVS schema missing: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	pfx := fmt.Sprintf("nvc%d", os.Getpid()%100000)
	hvNS, tenNS, ovsIf := pfx+"-hv", pfx+"-t1", pfx+"-t1"
	dir, err := os.MkdirTemp("", pfx+"-ovs")
	if err != nil {
		t.Fatal(err)
	}
	run := func(env []string, name string, args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	sh := func(name string, args ...string) string { t.Helper(); return run(nil, name, args...) }
	ovsEnv := []string{"OVS_RUNDIR=" + dir, "OVS_LOGDIR=" + dir}
	db := "unix:" + filepath.Join(dir, "db.sock")
	t.Cleanup(func() {
		for _, d := range []string{"ovs-vswitchd", "ovsdb-server"} {
			if b, err := os.ReadFile(filepath.Join(dir, d+".pid")); err == nil {
				exec.Command("kill", strings.TrimSpace(string(b))).Run()
			}
		}
		time.Sleep(200 * time.Millisecond)
		exec.Command("ip", "netns", "del", hvNS).Run()
		exec.Command("ip", "netns", "del", tenNS).Run()
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(dir, "ovs-vswitchd.log")); err == nil {
				t.Logf("ovs-vswitchd.log:\n%s", b)
			}
		}
		os.RemoveAll(dir)
	})

	sh("ip", "netns", "add", hvNS)
	sh("ip", "netns", "add", tenNS)
	sh("ip", "-n", hvNS, "link", "set", "lo", "up")
	sh("ovsdb-tool", "create", filepath.Join(dir, "conf.db"), schema)
	run(ovsEnv, "ip", "netns", "exec", hvNS, "ovsdb-server", filepath.Join(dir, "conf.db"), "--remote=p"+db,
		"--pidfile="+filepath.Join(dir, "ovsdb-server.pid"), "--log-file="+filepath.Join(dir, "ovsdb-server.log"), "--detach")
	sh("ovs-vsctl", "--db="+db, "--no-wait", "init")
	run(ovsEnv, "ip", "netns", "exec", hvNS, "ovs-vswitchd", db,
		"--pidfile="+filepath.Join(dir, "ovs-vswitchd.pid"), "--log-file="+filepath.Join(dir, "ovs-vswitchd.log"), "--detach")

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

	vsctl := func(args ...string) { t.Helper(); sh("ovs-vsctl", append([]string{"--db=" + db}, args...)...) }
	vsctl("add-br", "br-int", "--", "set", "bridge", "br-int", "datapath_type=netdev", "fail_mode=secure", "protocols=OpenFlow13")
	sh("ip", "link", "add", ovsIf, "type", "veth", "peer", "name", "eth0", "netns", tenNS)
	sh("ip", "link", "set", ovsIf, "netns", hvNS)
	sh("ip", "-n", hvNS, "link", "set", ovsIf, "up")
	vsctl("add-port", "br-int", ovsIf, "--", "set", "Interface", ovsIf, fmt.Sprintf("ofport_request=%d", d.OFPort("hv1", ovsIf)))
	vsctl("add-port", "br-int", compiler.TunnelPortName("vxlan"), "--", "set", "Interface", compiler.TunnelPortName("vxlan"),
		"type=vxlan", "options:remote_ip=flow", "options:key=flow", fmt.Sprintf("ofport_request=%d", scenario.TunnelOFPort("vxlan")))

	flows, err := prof.Text(r.Flows, true)
	if err != nil {
		t.Fatal(err)
	}
	ff, gf := filepath.Join(dir, "flows.txt"), filepath.Join(dir, "groups.txt")
	if err := os.WriteFile(ff, []byte(flows), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(gf, []byte(flow.FormatGroups(r.Groups)), 0o644); err != nil {
		t.Fatal(err)
	}
	mgmt := "unix:" + filepath.Join(dir, "br-int.mgmt")
	sh("ovs-ofctl", "-O", "OpenFlow13", "del-flows", mgmt)
	sh("ovs-ofctl", "-O", "OpenFlow13", "add-groups", mgmt, gf)
	sh("ovs-ofctl", "-O", "OpenFlow13", "add-flows", mgmt, ff)
	installed := sh("ovs-ofctl", "-O", "OpenFlow13", "dump-flows", mgmt)
	if n := strings.Count(installed, "cookie=0x4e56"); n != len(r.Flows) {
		t.Fatalf("installed %d nva flows, want %d:\n%s", n, len(r.Flows), installed)
	}

	ten := func(args ...string) string {
		t.Helper()
		return sh("ip", append([]string{"netns", "exec", tenNS}, args...)...)
	}
	ten("ip", "link", "set", "lo", "up")
	ten("ip", "link", "set", "eth0", "address", tenMAC)
	ten("ip", "link", "set", "eth0", "up")
	ten("ip", "addr", "add", "198.19.42.1/24", "dev", "eth0")
	ten("ip", "addr", "add", "2001:db8:42::1/64", "dev", "eth0", "nodad")

	// The pings themselves go into the tunnel (no hv2 here) and fail;
	// what matters is the neighbor entries the answers create.
	neigh := func(family, addr string) string {
		for i := 0; i < 20; i++ {
			exec.CommandContext(ctx, "ip", "netns", "exec", tenNS, "ping", family, "-c1", "-W1", addr).Run()
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
			remoteMAC, sh("ovs-ofctl", "-O", "OpenFlow13", "dump-flows", mgmt))
	}
	if got := neigh("-6", "2001:db8:42::2"); !strings.Contains(got, remoteMAC) {
		t.Errorf("NS for a known remote address: neighbor entry %q, want lladdr %s\n%s", got,
			remoteMAC, sh("ovs-ofctl", "-O", "OpenFlow13", "dump-flows", mgmt))
	}

	// The same packets through the simulator and ofproto/trace: both drop,
	// or both send something out.
	sw, err := sim.New(prof, r.Flows, r.Groups)
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
		tr := run(ovsEnv, "ovs-appctl", "ofproto/trace", "br-int", p.TraceFlow())
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
