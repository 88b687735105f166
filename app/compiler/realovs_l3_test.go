package compiler_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/compiler/scenario"
	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/pipeline"
	"github.com/nva-project/nva/app/sim"
	"github.com/nva-project/nva/internal/ovstest"
)

// TestRealOVSRoutesLikeSimulator installs hv1's compiled flows of the
// routed scenario (scenario.RoutedDomain, OVS profile) in a real
// ovs-vswitchd and checks that ofproto/trace agrees with the simulator on
// routed packets: where they go, and the TTL they leave with. Needs root
// and Open vSwitch; skipped otherwise.
func TestRealOVSRoutesLikeSimulator(t *testing.T) {
	ovstest.Require(t)
	d := scenario.RoutedDomain()
	o, sw := installHV1(t, d, "nvr")
	w1, gw := d.OFPort("hv1", "tap-w1"), model.GatewayMACText
	const mac = "02:00:00:00:04:01"
	for name, p := range map[string]sim.Packet{
		"routed to local VLAN port": sim.IPv4(w1, mac, gw, "10.1.0.11", "10.2.0.12"),
		"routed into a tunnel":      sim.IPv4(w1, mac, gw, "10.1.0.11", "10.2.0.11"),
		"routed IPv6":               sim.IPv6(w1, mac, gw, "2001:db8:1::11", "2001:db8:2::11"),
		"TTL 1":                     sim.IPv4(w1, mac, gw, "10.1.0.11", "10.2.0.12").WithTTL(1),
		"hop limit 1":               sim.IPv6(w1, mac, gw, "2001:db8:1::11", "2001:db8:2::11").WithTTL(1),
		"unknown destination":       sim.IPv4(w1, mac, gw, "10.1.0.11", "10.2.0.99"),
		"ARP for the gateway":       sim.ARPRequest(w1, mac, "10.1.0.11", "10.1.0.1"),
	} {
		traceAgrees(t, o, sw, name, p)
	}
}

// traceAgrees runs p through the simulator and ofproto/trace (extra:
// trace options, like --ct-next) and compares the output ports and, for
// one output, the TTL.
func traceAgrees(t *testing.T, o *ovstest.OVS, sw *sim.Switch, name string, p sim.Packet, extra ...string) {
	t.Helper()
	res := sw.Run(p)
	if len(res.Errors) > 0 {
		t.Fatalf("%s: simulator errors:\n%s", name, res.TraceText())
	}
	args := append([]string{"ofproto/trace", "br-int", p.TraceFlow()}, extra...)
	tr := o.Appctl(args...)
	got := sim.OFProtoTracePorts(tr, p.InPort)
	if want := res.Ports(); !slices.Equal(got, want) {
		t.Errorf("%s: OVS outputs to %v, simulator to %v\nsim:\n%sovs:\n%s", name, got, want, res.TraceText(), tr)
		return
	}
	if len(res.Outputs) == 1 && p.Get(flow.IPTTL) != nil {
		want := "nw_ttl=" + res.Outputs[0].Packet.Text(flow.IPTTL)
		if !strings.Contains(tr, "Final flow:") || !strings.Contains(tr[strings.Index(tr, "Final flow:"):], want) {
			t.Errorf("%s: OVS's final flow lacks %s (the simulator's TTL):\n%s", name, want, tr)
		}
	}
}

// installHV1 installs hv1's compiled flows of d (OVS profile) in a real
// ovs-vswitchd with hv1's ports, and loads them in the simulator.
func installHV1(t *testing.T, d *scenario.Domain, prefix string) (*ovstest.OVS, *sim.Switch) {
	t.Helper()
	o := ovstest.Start(t, ovstest.Options{Prefix: prefix})
	prof := pipeline.OVS()
	r, err := compiler.Compile(d.Input("hv1"), prof)
	if err != nil {
		t.Fatal(err)
	}
	o.Vsctl("add-br", "br-int", "--", "set", "bridge", "br-int", "datapath_type=netdev", "fail_mode=secure", "protocols=OpenFlow13")
	for _, ifc := range []string{"tap-w1", "tap-d2"} {
		o.Run("ip", "-n", o.Netns(), "link", "add", ifc, "type", "veth", "peer", "name", "x"+ifc)
		o.Run("ip", "-n", o.Netns(), "link", "set", ifc, "up")
		o.Vsctl("add-port", "br-int", ifc, "--", "set", "Interface", ifc, fmt.Sprintf("ofport_request=%d", d.OFPort("hv1", ifc)))
	}
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
	if n := strings.Count(o.Ofctl("dump-flows", "br-int"), "cookie=0x4e56"); n != r.NumFlows() {
		t.Fatalf("installed %d nva flows, want %d", n, r.NumFlows())
	}
	sw, err := sim.New(prof, r.FlowList(), r.Groups)
	if err != nil {
		t.Fatal(err)
	}
	return o, sw
}

// TestRealOVSPolicyLikeSimulator: scenario.PolicyDomain's hv1 in a real
// ovs-vswitchd: ofproto/trace agrees with the simulator on allowed,
// denied and default-denied routed packets (a new connection: OVS's trace
// takes ct_state trk|new after ct) and on the reply of an allowed
// connection (traced with --ct-next trk,est,rpl; in the simulator the
// request committed it first).
func TestRealOVSPolicyLikeSimulator(t *testing.T) {
	ovstest.Require(t)
	d := scenario.PolicyDomain()
	o, sw := installHV1(t, d, "nvp")
	w1, d2, gw := d.OFPort("hv1", "tap-w1"), d.OFPort("hv1", "tap-d2"), model.GatewayMACText
	const w1MAC, d2MAC = "02:00:00:00:04:01", "02:00:00:00:04:12"
	tcp := func(port uint16) sim.Packet { return sim.TCP4(w1, w1MAC, gw, "10.1.0.11", "10.2.0.12", 40000, port) }
	for _, c := range []struct {
		name string
		p    sim.Packet
	}{
		{"allowed tcp 80", tcp(80)},
		{"denied tcp 22", tcp(22)},
		{"no rule: tcp 443", tcp(443)},
		{"allowed into a tunnel", sim.TCP4(w1, w1MAC, gw, "10.1.0.11", "10.2.0.11", 40000, 8001)},
	} {
		traceAgrees(t, o, sw, c.name, c.p)
	}
	// d2 (VLAN 30 on hv1) answers w1's allowed connection.
	reply := tcp(80).Reply(d2, d2MAC, gw).Tagged(30)
	traceAgrees(t, o, sw, "reply of an allowed connection", reply, "--ct-next", "trk,est,rpl")
	if r := sw.Run(reply); len(r.Outputs) != 1 || r.Outputs[0].Port != w1 {
		t.Errorf("the reply did not reach w1:\n%s", r.TraceText())
	}
}
