package compiler_test

import (
	"fmt"
	"net/netip"
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

// TestRealOVSGatewaySNAT installs the gateway NVE's compiled flows of
// scenario.GatewaySNAT (OVS profile) in a real ovs-vswitchd and traces
// with ofproto/trace: an outbound packet tunnelled to the gateway MAC is
// committed with SNAT to its domain's external address in its domain's
// zone and, resumed after conntrack, leaves that domain's uplink with the
// next hop's MAC and TTL-1; a floating IP's tenant gets its own address;
// the gateway answers ARP for its external address on the uplink; other
// addresses from the uplink go nowhere. Needs root and Open vSwitch.
func TestRealOVSGatewaySNAT(t *testing.T) {
	ovstest.Require(t)
	o := ovstest.Start(t, ovstest.Options{Prefix: "nvg"})
	d := scenario.GatewaySNAT()
	prof := pipeline.OVS()
	r, err := compiler.Compile(d.Input("gw"), prof)
	if err != nil {
		t.Fatal(err)
	}
	o.Vsctl("add-br", "br-int", "--", "set", "bridge", "br-int", "datapath_type=netdev", "fail_mode=secure", "protocols=OpenFlow13")
	for _, ifc := range []string{"up-acme", "up-beta"} {
		o.Run("ip", "-n", o.Netns(), "link", "add", ifc, "type", "veth", "peer", "name", "x"+ifc)
		o.Run("ip", "-n", o.Netns(), "link", "set", ifc, "up")
		o.Vsctl("add-port", "br-int", ifc, "--", "set", "Interface", ifc, fmt.Sprintf("ofport_request=%d", d.OFPort("gw", ifc)))
	}
	o.Vsctl("add-port", "br-int", compiler.TunnelPortName("vxlan"), "--", "set", "Interface", compiler.TunnelPortName("vxlan"),
		"type=vxlan", "options:remote_ip=flow", "options:key=flow", fmt.Sprintf("ofport_request=%d", scenario.TunnelOFPort("vxlan")))
	flows, err := prof.Text(r.FlowList(), true)
	if err != nil {
		t.Fatal(err)
	}
	ff := filepath.Join(o.Dir(), "flows.txt")
	if err := os.WriteFile(ff, []byte(flows), 0o644); err != nil {
		t.Fatal(err)
	}
	o.Ofctl("del-flows", "br-int")
	o.Ofctl("add-flows", "br-int", ff)
	if n := strings.Count(o.Ofctl("dump-flows", "br-int"), "cookie=0x4e56"); n != r.NumFlows() {
		t.Fatalf("installed %d nva flows, want %d", n, r.NumFlows())
	}
	sw, err := sim.New(prof, r.FlowList(), r.Groups)
	if err != nil {
		t.Fatal(err)
	}
	upA, upB, tun := d.OFPort("gw", "up-acme"), d.OFPort("gw", "up-beta"), scenario.TunnelOFPort("vxlan")
	fromHV := func(vni uint64, hv, srcMAC, src, dst string) sim.Packet {
		return sim.IPv4(tun, srcMAC, model.GatewayMACText, src, dst).
			With(flow.TunID, flow.U64(vni)).With(flow.TunIPv4Src, flow.IP(mustAddr(hv))).With(flow.TunIPv4Dst, flow.IP(mustAddr("198.18.0.9")))
	}
	for _, c := range []struct {
		name   string
		p      sim.Packet
		ports  []uint32
		having []string
	}{
		{"acme outbound SNAT", fromHV(500, "198.18.0.2", "02:00:00:00:05:03", "10.1.0.20", "192.0.2.80"), []uint32{upA},
			[]string{"ct(commit,zone=61440,nat(src=203.0.113.10))", "nw_ttl=63", "dl_dst=02:ee:00:00:00:01"}},
		{"beta outbound SNAT, same tenant address", fromHV(600, "198.18.0.2", "02:00:00:00:06:03", "10.1.0.20", "192.0.2.80"), []uint32{upB},
			[]string{"ct(commit,zone=61441,nat(src=198.51.100.10))", "dl_dst=02:ee:00:00:00:02"}},
		{"floating IP's tenant", fromHV(500, "198.18.0.1", "02:00:00:00:05:01", "10.1.0.10", "192.0.2.80"), []uint32{upA},
			[]string{"ct(commit,zone=61440,nat(src=203.0.113.20))"}},
		{"ARP for the external address", sim.ARPRequest(upA, "02:ee:00:00:00:01", "203.0.113.1", "203.0.113.10"), []uint32{upA}, nil},
		{"inbound to the external address", sim.IPv4(upA, "02:ee:00:00:00:01", "02:4e:56:47:f0:00", "192.0.2.80", "203.0.113.10"), nil,
			[]string{"ct(zone=61440,nat)"}},
		{"inbound to another address", sim.IPv4(upA, "02:ee:00:00:00:01", "02:4e:56:47:f0:00", "192.0.2.80", "203.0.113.99"), nil, nil},
	} {
		tr := o.Appctl("ofproto/trace", "br-int", c.p.TraceFlow())
		if got := sim.OFProtoTracePorts(tr, c.p.InPort); !slices.Equal(got, c.ports) {
			t.Errorf("%s: OVS outputs to %v, want %v\n%s", c.name, got, c.ports, tr)
			continue
		}
		// The simulator agrees on where it goes.
		res := sw.Run(c.p)
		if len(res.Errors) > 0 || !slices.Equal(res.Ports(), c.ports) {
			t.Errorf("%s: simulator outputs to %v (errors %v), OVS to %v\n%s", c.name, res.Ports(), res.Errors, c.ports, res.TraceText())
		}
		for _, want := range c.having {
			if !strings.Contains(tr, want) {
				t.Errorf("%s: trace lacks %q:\n%s", c.name, want, tr)
			}
		}
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
