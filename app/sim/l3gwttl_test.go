package sim_test

import (
	"net/netip"
	"testing"

	"github.com/nva-project/nva/app/compiler/scenario"
	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/sim"
)

// TestGatewayTTLExpiry runs the gateway NVE of scenario.GatewaySNAT with
// expired packets: a tenant packet tunnelled to the gateway MAC with TTL
// 1 (or 0) does not leave the uplink, it is dropped by the l3gw_out TTL
// flow (not by dec_ttl: counted as ttl_expired); a packet from outside
// to the SNAT or a floating address with TTL 1 goes to the controller
// only (the time-exceeded answer), untranslated, before conntrack.
func TestGatewayTTLExpiry(t *testing.T) {
	d, sw := gatewaySwitch(t)
	tun, upA := scenario.TunnelOFPort("vxlan"), d.OFPort("gw", "up-acme")
	hv := flow.IP(netip.MustParseAddr("198.18.0.2"))
	for _, ttl := range []uint8{0, 1} {
		p := sim.IPv4(tun, "02:00:00:00:05:03", model.GatewayMACText, "10.1.0.20", "192.0.2.80").
			With(flow.TunID, flow.U64(500)).With(flow.TunIPv4Src, hv).WithTTL(ttl)
		res := sw.Run(p)
		if len(res.Outputs) != 0 || res.TTLDrops != 0 || len(res.Errors) != 0 {
			t.Errorf("outbound TTL %d: outputs %v, dec_ttl drops %d, errors %v\n%s", ttl, res.Ports(), res.TTLDrops, res.Errors, res.TraceText())
		}
		for _, dst := range []string{"203.0.113.10", "203.0.113.20"} {
			res := sw.Run(sim.IPv4(upA, "02:ee:00:00:00:01", "02:4e:56:47:f0:00", "192.0.2.80", dst).WithTTL(ttl))
			if len(res.Outputs) != 1 || !res.Outputs[0].PacketIn() || res.Outputs[0].Packet.Text(flow.IPv4Dst) != dst {
				t.Errorf("inbound TTL %d to %s: outputs %v, want only the controller with the untranslated packet\n%s", ttl, dst, res.Ports(), res.TraceText())
			}
		}
	}
	// TTL 2 still passes both ways (the TTL flows match only 0 and 1).
	p := sim.IPv4(tun, "02:00:00:00:05:03", model.GatewayMACText, "10.1.0.20", "192.0.2.80").
		With(flow.TunID, flow.U64(500)).With(flow.TunIPv4Src, hv).WithTTL(2)
	if res := sw.Run(p); len(res.Outputs) != 1 || res.Outputs[0].Port != upA || res.Outputs[0].Packet.Text(flow.IPTTL) != "1" {
		t.Errorf("outbound TTL 2: outputs %v\n%s", res.Ports(), res.TraceText())
	}
}
