package sim_test

import (
	"testing"

	"github.com/nva-project/nva/app/compiler/scenario"
	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/pipeline"
	"github.com/nva-project/nva/app/sim"
)

const (
	w1MAC = "02:00:00:00:04:01"
	d1MAC = "02:00:00:00:04:11"
)

func proto(p sim.Packet, n uint8) sim.Packet { return p.With(flow.IPProto, flow.U8(n)) }

// TestPolicyIsolatedByDefault: without a rule, the VNs of one L3 domain
// do not reach each other, though routes exist; traffic within a VN
// (through the gateway, to its own subnet) is not subject to policy.
func TestPolicyIsolatedByDefault(t *testing.T) {
	forL3Profiles(t, func(t *testing.T, prof pipeline.Profile) {
		d := scenario.RoutedDomain()
		delete(d.Policies, "web-to-db")
		hv1 := load(t, prof, d, "hv1")
		w1 := hv1.port("tap-w1")
		for _, p := range []sim.Packet{
			sim.IPv4(w1, w1MAC, gwMAC, "10.1.0.11", "10.2.0.12"),
			sim.IPv4(w1, w1MAC, gwMAC, "10.1.0.11", "10.2.0.11"),
			sim.IPv6(w1, w1MAC, gwMAC, "2001:db8:1::11", "2001:db8:2::11"),
		} {
			if r := hv1.run(t, p); !r.Dropped() {
				t.Fatalf("routed to another VN without a rule:\n%s", r.TraceText())
			}
		}
		// Within web, through the gateway: routed (to w3 on hv3).
		r := hv1.run(t, sim.IPv4(w1, w1MAC, gwMAC, "10.1.0.11", "10.1.0.13"))
		wantPorts(t, r, hv1.tun("hv3", model.EncapVXLAN))
		wantField(t, r.Outputs[0], flow.IPTTL, "63")
	})
}

// TestPolicyDenyBeatsRoute: scenario.PolicyDomain's rules on hv1, both
// profiles: a deny of higher priority wins over an allow and over the
// route; allowed ports, ICMP and the IPv6 UDP rule route; an unlisted
// port is denied by default.
func TestPolicyDenyBeatsRoute(t *testing.T) {
	forL3Profiles(t, func(t *testing.T, prof pipeline.Profile) {
		d := scenario.PolicyDomain()
		hv1 := load(t, prof, d, "hv1")
		w1, d2 := hv1.port("tap-w1"), hv1.port("tap-d2")
		tcp := func(port uint16) sim.Packet { return sim.TCP4(w1, w1MAC, gwMAC, "10.1.0.11", "10.2.0.12", 40000, port) }
		for _, c := range []struct {
			name   string
			p      sim.Packet
			routed bool
		}{
			{"tcp 22 (denied above the allow)", tcp(22), false},
			{"tcp 80", tcp(80), true},
			{"tcp 8003", tcp(8003), true},
			{"tcp 8004", tcp(8004), false},
			{"tcp 443 (no rule)", tcp(443), false},
			{"icmp", proto(sim.IPv4(w1, w1MAC, gwMAC, "10.1.0.11", "10.2.0.12"), 1), true},
			{"udp 53 over IPv4 (the rule is IPv6)", sim.UDP4(w1, w1MAC, gwMAC, "10.1.0.11", "10.2.0.12", 5000, 53), false},
		} {
			r := hv1.run(t, c.p)
			if !c.routed {
				if !r.Dropped() {
					t.Errorf("%s: routed:\n%s", c.name, r.TraceText())
				}
				continue
			}
			wantPorts(t, r, d2)
			wantField(t, r.Outputs[0], flow.IPTTL, "63")
		}
		udp6 := proto(sim.IPv6(w1, w1MAC, gwMAC, "2001:db8:1::11", "2001:db8:2::11"), 17).
			With(flow.UDPSrc, flow.U16(5000)).With(flow.UDPDst, flow.U16(53))
		wantPorts(t, hv1.run(t, udp6), hv1.tun("hv2", model.EncapVXLAN))
		if r := hv1.run(t, udp6.With(flow.UDPDst, flow.U16(54))); !r.Dropped() {
			t.Errorf("udp 54 over IPv6 routed:\n%s", r.TraceText())
		}
	})
}

// TestPolicyReplyPasses: w1 (hv1) opens TCP 80 to d1 (hv2). On OVS hv1
// commits the connection, hv2 commits the routed arrival, and d1's reply
// is established on hv2: routed back without a db -> web rule, while d1
// opening a connection of its own to w1 is denied. On the strict profile
// rules are stateless: the reply is denied too (it would need a rule).
func TestPolicyReplyPasses(t *testing.T) {
	forL3Profiles(t, func(t *testing.T, prof pipeline.Profile) {
		d := scenario.PolicyDomain()
		hv1, hv2 := load(t, prof, d, "hv1"), load(t, prof, d, "hv2")
		req := sim.TCP4(hv1.port("tap-w1"), w1MAC, gwMAC, "10.1.0.11", "10.2.0.11", 40000, 80)
		r := hv1.run(t, req)
		wantPorts(t, r, hv1.tun("hv2", model.EncapVXLAN))
		r = hv2.run(t, hv2.fromTunnel(r.Outputs[0].Packet, "hv1", model.EncapVXLAN, 0x191))
		wantPorts(t, r, hv2.port("tap-d1"))

		reply := req.Reply(hv2.port("tap-d1"), d1MAC, gwMAC)
		fresh := sim.TCP4(hv2.port("tap-d1"), d1MAC, gwMAC, "10.2.0.11", "10.1.0.11", 40001, 80)
		if r := hv2.run(t, fresh); !r.Dropped() {
			t.Fatalf("d1 opened a connection to web without a rule:\n%s", r.TraceText())
		}
		r = hv2.run(t, reply)
		if !prof.Extensions {
			if !r.Dropped() {
				t.Fatalf("strict profile: the reply passed without a rule:\n%s", r.TraceText())
			}
			return
		}
		if hv1.sw.Committed() == 0 || hv2.sw.Committed() == 0 {
			t.Fatalf("connections committed: hv1 %d, hv2 %d", hv1.sw.Committed(), hv2.sw.Committed())
		}
		wantPorts(t, r, hv2.tun("hv1", model.EncapVXLAN))
		wantField(t, r.Outputs[0], flow.EthDst, w1MAC)
		wantField(t, r.Outputs[0], flow.IPTTL, "63")
		r = hv1.run(t, hv1.fromTunnel(r.Outputs[0].Packet, "hv2", model.EncapVXLAN, 0x190))
		wantPorts(t, r, hv1.port("tap-w1"))
	})
}
