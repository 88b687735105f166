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
	o := ovstest.Start(t, ovstest.Options{Prefix: "nvr"})
	d := scenario.RoutedDomain()
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
	flows, err := prof.Text(r.Flows, true)
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
	if n := strings.Count(o.Ofctl("dump-flows", "br-int"), "cookie=0x4e56"); n != len(r.Flows) {
		t.Fatalf("installed %d nva flows, want %d", n, len(r.Flows))
	}
	sw, err := sim.New(prof, r.Flows, r.Groups)
	if err != nil {
		t.Fatal(err)
	}
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
		res := sw.Run(p)
		if len(res.Errors) > 0 {
			t.Fatalf("%s: simulator errors:\n%s", name, res.TraceText())
		}
		tr := o.Appctl("ofproto/trace", "br-int", p.TraceFlow())
		got := sim.OFProtoTracePorts(tr, p.InPort)
		if want := res.Ports(); !slices.Equal(got, want) {
			t.Errorf("%s: OVS outputs to %v, simulator to %v\nsim:\n%sovs:\n%s", name, got, want, res.TraceText(), tr)
			continue
		}
		if len(res.Outputs) == 1 && p.Get(flow.IPTTL) != nil {
			want := "nw_ttl=" + res.Outputs[0].Packet.Text(flow.IPTTL)
			if !strings.Contains(tr, "Final flow:") || !strings.Contains(tr[strings.Index(tr, "Final flow:"):], want) {
				t.Errorf("%s: OVS's final flow lacks %s (the simulator's TTL):\n%s", name, want, tr)
			}
		}
	}
}
