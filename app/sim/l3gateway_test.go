package sim_test

import (
	"net/netip"
	"testing"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/compiler/scenario"
	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/pipeline"
	"github.com/nva-project/nva/app/sim"
)

// TestGatewaySNATAndFloatingIP runs the gateway NVE of
// scenario.GatewaySNAT in the simulator: a tenant packet tunnelled to the
// gateway MAC leaves acme's uplink SNAT'd to acme's external address,
// routed once (TTL-1, the next hop's MAC); beta's identical tenant address
// leaves beta's uplink as beta's address; a packet to acme's floating IP
// from outside is DNAT'd and tunnelled to the tenant's NVE with its VN's
// VNI and its MAC; a packet to the SNAT address that belongs to no
// connection goes nowhere.
func TestGatewaySNATAndFloatingIP(t *testing.T) {
	d, sw := gatewaySwitch(t)
	tun, upA, upB := scenario.TunnelOFPort("vxlan"), d.OFPort("gw", "up-acme"), d.OFPort("gw", "up-beta")
	ip := func(s string) []byte { return flow.IP(netip.MustParseAddr(s)) }
	fromHV := func(vni uint64, hv, mac, src string) sim.Packet {
		return sim.IPv4(tun, mac, model.GatewayMACText, src, "192.0.2.80").
			With(flow.TunID, flow.U64(vni)).With(flow.TunIPv4Src, ip(hv))
	}
	one := func(name string, p sim.Packet) sim.Output {
		t.Helper()
		res := sw.Run(p)
		if len(res.Errors) > 0 || len(res.Outputs) != 1 {
			t.Fatalf("%s: %d outputs, errors %v\n%s", name, len(res.Outputs), res.Errors, res.TraceText())
		}
		return res.Outputs[0]
	}
	for _, c := range []struct {
		name     string
		p        sim.Packet
		port     uint32
		src, mac string
	}{
		{"acme", fromHV(500, "198.18.0.2", "02:00:00:00:05:03", "10.1.0.20"), upA, "203.0.113.10", "02:ee:00:00:00:01"},
		{"beta", fromHV(600, "198.18.0.2", "02:00:00:00:06:03", "10.1.0.20"), upB, "198.51.100.10", "02:ee:00:00:00:02"},
		{"floating", fromHV(500, "198.18.0.1", "02:00:00:00:05:01", "10.1.0.10"), upA, "203.0.113.20", "02:ee:00:00:00:01"},
	} {
		o := one(c.name, c.p)
		if o.Port != c.port || o.Packet.Text(flow.IPv4Src) != c.src || o.Packet.Text(flow.EthDst) != c.mac || o.Packet.Text(flow.IPTTL) != "63" {
			t.Errorf("%s: out port %d src %s eth_dst %s ttl %s, want port %d src %s eth_dst %s ttl 63", c.name, o.Port,
				o.Packet.Text(flow.IPv4Src), o.Packet.Text(flow.EthDst), o.Packet.Text(flow.IPTTL), c.port, c.src, c.mac)
		}
	}
	in := one("inbound floating", sim.IPv4(upA, "02:ee:00:00:00:01", "02:4e:56:47:f0:00", "192.0.2.80", "203.0.113.20"))
	if in.Port != tun || in.Packet.Text(flow.IPv4Dst) != "10.1.0.10" || in.Packet.Text(flow.TunIPv4Dst) != "198.18.0.1" ||
		in.Packet.Text(flow.TunID) != "0x1f4" || in.Packet.Text(flow.EthDst) != "02:00:00:00:05:01" {
		t.Errorf("inbound to the floating IP: %+v\n%s", in, in.Packet)
	}
	if res := sw.Run(sim.IPv4(upA, "02:ee:00:00:00:01", "02:4e:56:47:f0:00", "192.0.2.80", "203.0.113.10")); len(res.Outputs) != 0 {
		t.Errorf("a packet of no connection to the SNAT address went to %v\n%s", res.Ports(), res.TraceText())
	}
}

// gatewaySwitch is the gateway NVE "gw" of scenario.GatewaySNAT compiled
// for the OVS profile and loaded into the simulator.
func gatewaySwitch(t *testing.T) (*scenario.Domain, *sim.Switch) {
	t.Helper()
	d := scenario.GatewaySNAT()
	prof := pipeline.OVS()
	r, err := compiler.Compile(d.Input("gw"), prof)
	if err != nil {
		t.Fatal(err)
	}
	sw, err := sim.New(prof, r.FlowList(), r.Groups)
	if err != nil {
		t.Fatal(err)
	}
	return d, sw
}
