package sim_test

import (
	"testing"

	"github.com/nva-project/nva/app/compiler/scenario"
	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/pipeline"
	"github.com/nva-project/nva/app/sim"
)

// The L3 scenarios run on the two real profiles (the merged test profile
// realizes no l3_route stage).
func forL3Profiles(t *testing.T, test func(t *testing.T, prof pipeline.Profile)) {
	for _, prof := range []pipeline.Profile{pipeline.OVS(), pipeline.Strict()} {
		t.Run(prof.Name, func(t *testing.T) { test(t, prof) })
	}
}

const gwMAC = model.GatewayMACText

// TestGatewayAnswered: every NVE hosting a routed VN answers ARP and ND
// for the VN's gateway addresses with the one gateway MAC.
func TestGatewayAnswered(t *testing.T) {
	forL3Profiles(t, func(t *testing.T, prof pipeline.Profile) {
		d := scenario.RoutedDomain()
		for _, nve := range []string{"hv1", "hv3"} {
			n := load(t, prof, d, nve)
			iface, mac, ip := "tap-w1", "02:00:00:00:04:01", "10.1.0.11"
			if nve == "hv3" {
				iface, mac, ip = "tap-w3", "02:00:00:00:04:03", "10.1.0.13"
			}
			o := n.answer(t, sim.ARPRequest(n.port(iface), mac, ip, "10.1.0.1"))
			wantField(t, o, flow.ARPSHA, gwMAC)
			wantField(t, o, flow.ARPSPA, "10.1.0.1")
			wantField(t, o, flow.EthDst, mac)
		}
		hv1 := load(t, prof, d, "hv1")
		o := hv1.answer(t, sim.NeighborSolicitation(hv1.port("tap-w1"), "02:00:00:00:04:01", "2001:db8:1::11", "2001:db8:1::1"))
		if prof.NDInSwitch {
			wantField(t, o, flow.NDTLL, gwMAC)
		}
		wantField(t, o, flow.EthSrc, gwMAC)
	})
}

// TestRoutedPacket: a packet w1 (web, hv1) sends to the gateway MAC for
// d1 (db, hv2) is routed on hv1: TTL-1, source MAC the gateway's,
// destination MAC d1's, tunnelled to hv2 with db's VNI; hv2 bridges it
// to d1. To d2 (db, on hv1, VLAN 30) it is delivered locally, tagged.
// IPv6 too (hop limit).
func TestRoutedPacket(t *testing.T) {
	forL3Profiles(t, func(t *testing.T, prof pipeline.Profile) {
		d := scenario.RoutedDomain()
		hv1, hv2 := load(t, prof, d, "hv1"), load(t, prof, d, "hv2")
		w1 := hv1.port("tap-w1")

		r := hv1.run(t, sim.IPv4(w1, "02:00:00:00:04:01", gwMAC, "10.1.0.11", "10.2.0.11"))
		wantPorts(t, r, hv1.tun("hv2", model.EncapVXLAN))
		o := r.Outputs[0]
		hv1.wantTunnel(t, o, "hv2", model.EncapVXLAN, "0x191")
		wantField(t, o, flow.IPTTL, "63")
		wantField(t, o, flow.EthSrc, gwMAC)
		wantField(t, o, flow.EthDst, "02:00:00:00:04:11")

		// hv2 only bridges it, in db, to d1: the TTL stays 63.
		in := hv2.fromTunnel(o.Packet, "hv1", model.EncapVXLAN, 0x191)
		r = hv2.run(t, in)
		wantPorts(t, r, hv2.port("tap-d1"))
		wantField(t, r.Outputs[0], flow.IPTTL, "63")
		wantField(t, r.Outputs[0], flow.EthSrc, gwMAC)

		// Locally routed to d2, tagged with its VLAN.
		r = hv1.run(t, sim.IPv4(w1, "02:00:00:00:04:01", gwMAC, "10.1.0.11", "10.2.0.12"))
		wantPorts(t, r, hv1.port("tap-d2"))
		wantField(t, r.Outputs[0], flow.VlanVID, "0x101e")
		wantField(t, r.Outputs[0], flow.IPTTL, "63")
		wantField(t, r.Outputs[0], flow.EthDst, "02:00:00:00:04:12")

		// IPv6: the hop limit is decremented.
		r = hv1.run(t, sim.IPv6(w1, "02:00:00:00:04:01", gwMAC, "2001:db8:1::11", "2001:db8:2::11"))
		wantPorts(t, r, hv1.tun("hv2", model.EncapVXLAN))
		wantField(t, r.Outputs[0], flow.IPTTL, "63")
		wantField(t, r.Outputs[0], flow.EthDst, "02:00:00:00:04:11")
	})
}

// TestRoutedFromNonHostingNVE: hv3 hosts only web, hv2 only db; w3's
// packet to d1 is routed on hv3 and accepted by hv2 (which hosts no
// web port) into db. On the strict profile they have per-remote tunnel
// ports to each other although they share no VN (model.Snapshot
// RoutePeers).
func TestRoutedFromNonHostingNVE(t *testing.T) {
	forL3Profiles(t, func(t *testing.T, prof pipeline.Profile) {
		d := scenario.RoutedDomain()
		hv3, hv2 := load(t, prof, d, "hv3"), load(t, prof, d, "hv2")
		r := hv3.run(t, sim.IPv4(hv3.port("tap-w3"), "02:00:00:00:04:03", gwMAC, "10.1.0.13", "10.2.0.11"))
		wantPorts(t, r, hv3.tun("hv2", model.EncapVXLAN))
		r = hv2.run(t, hv2.fromTunnel(r.Outputs[0].Packet, "hv3", model.EncapVXLAN, 0x191))
		wantPorts(t, r, hv2.port("tap-d1"))
	})
}

// TestTTLExpiredNotForwarded: TTL 1 (and 0) is not routed; on OVS a flow
// of its own sends it only to the controller (which answers ICMP
// time-exceeded; counted as a drop), on the strict profile the route
// flow's dec_ttl meets it (TTLDrops: a real switch sends it to the
// controller as an invalid-TTL packet-in, which the southbound asks for;
// the simulator models no switch config).
func TestTTLExpiredNotForwarded(t *testing.T) {
	forL3Profiles(t, func(t *testing.T, prof pipeline.Profile) {
		d := scenario.RoutedDomain()
		hv1 := load(t, prof, d, "hv1")
		notForwarded := func(r sim.Result) bool {
			if prof.Extensions { // OVS: exactly one packet-in, nothing else
				return len(r.Outputs) == 1 && r.Outputs[0].PacketIn()
			}
			return r.Dropped() && r.TTLDrops == 1
		}
		for _, ttl := range []uint8{1, 0} {
			r := hv1.run(t, sim.IPv4(hv1.port("tap-w1"), "02:00:00:00:04:01", gwMAC, "10.1.0.11", "10.2.0.12").WithTTL(ttl))
			if !notForwarded(r) {
				t.Fatalf("TTL %d forwarded:\n%s", ttl, r.TraceText())
			}
			r = hv1.run(t, sim.IPv6(hv1.port("tap-w1"), "02:00:00:00:04:01", gwMAC, "2001:db8:1::11", "2001:db8:2::11").WithTTL(ttl))
			if !notForwarded(r) {
				t.Fatalf("hop limit %d forwarded:\n%s", ttl, r.TraceText())
			}
		}
		// TTL 2 still goes through, with 1 left.
		r := hv1.run(t, sim.IPv4(hv1.port("tap-w1"), "02:00:00:00:04:01", gwMAC, "10.1.0.11", "10.2.0.12").WithTTL(2))
		wantPorts(t, r, hv1.port("tap-d2"))
		wantField(t, r.Outputs[0], flow.IPTTL, "1")
	})
}

// TestNoRouteBetweenDomains: two tenants with identical subnets and
// addresses: each tenant's packet reaches its own db port only, and an
// address of the other tenant's domain is never routed to.
func TestNoRouteBetweenDomains(t *testing.T) {
	forL3Profiles(t, func(t *testing.T, prof pipeline.Profile) {
		d := scenario.TwoTenants()
		hv1 := load(t, prof, d, "hv1")
		for _, c := range []struct{ iface, mac, vni string }{
			{"tap-aw", "02:00:00:00:05:01", "0x1f5"},
			{"tap-bw", "02:00:00:00:06:01", "0x259"},
		} {
			r := hv1.run(t, sim.IPv4(hv1.port(c.iface), c.mac, gwMAC, "10.1.0.10", "10.2.0.10"))
			wantPorts(t, r, hv1.tun("hv2", model.EncapVXLAN))
			wantField(t, r.Outputs[0], flow.TunID, c.vni)
		}
		// A domain's addresses are not routed from a VN outside it: a
		// VN of no domain routes only within itself.
		d2 := scenario.New().
			VN("x", 800, scenario.Routed("acme", "", "10.8.0.0/24", "10.8.0.1")).
			VN("y", 801, scenario.Routed("acme", "prod", "10.9.0.0/24", "10.9.0.1")).
			NVE("hv1", "198.18.0.1").
			Port("px", "x", "hv1", "tap-x", "02:00:00:00:08:01", 0, "10.8.0.10").
			Port("py", "y", "hv1", "tap-y", "02:00:00:00:08:02", 0, "10.9.0.10")
		n := load(t, prof, d2, "hv1")
		if r := n.run(t, sim.IPv4(n.port("tap-x"), "02:00:00:00:08:01", gwMAC, "10.8.0.10", "10.9.0.10")); !r.Dropped() {
			t.Fatalf("routed out of a VN without a domain:\n%s", r.TraceText())
		}
		if r := n.run(t, sim.IPv4(n.port("tap-y"), "02:00:00:00:08:02", gwMAC, "10.9.0.10", "10.8.0.10")); !r.Dropped() {
			t.Fatalf("routed into a VN outside the domain:\n%s", r.TraceText())
		}
	})
}

// TestL3OnlyVNNoFlooding: an l3 VN floods nothing: broadcast and ARP for
// unknown targets drop, known targets and the gateway are answered, and
// unicast IP between its ports is delivered.
func TestL3OnlyVNNoFlooding(t *testing.T) {
	forL3Profiles(t, func(t *testing.T, prof pipeline.Profile) {
		d := scenario.L3OnlyVN()
		hv1 := load(t, prof, d, "hv1")
		f1 := hv1.port("tap-f1")
		if r := hv1.run(t, sim.ARPRequest(f1, "02:00:00:00:07:01", "10.7.0.11", "10.7.0.99")); !r.Dropped() {
			t.Fatalf("ARP for an unknown target flooded in an l3 VN:\n%s", r.TraceText())
		}
		if r := hv1.run(t, sim.UDP4(f1, "02:00:00:00:07:01", sim.Broadcast, "10.7.0.11", "10.7.0.255", 1, 2)); !r.Dropped() {
			t.Fatalf("broadcast flooded in an l3 VN:\n%s", r.TraceText())
		}
		o := hv1.answer(t, sim.ARPRequest(f1, "02:00:00:00:07:01", "10.7.0.11", "10.7.0.12"))
		wantField(t, o, flow.ARPSHA, "02:00:00:00:07:02")
		o = hv1.answer(t, sim.ARPRequest(f1, "02:00:00:00:07:01", "10.7.0.11", "10.7.0.1"))
		wantField(t, o, flow.ARPSHA, gwMAC)
		r := hv1.run(t, sim.IPv4(f1, "02:00:00:00:07:01", "02:00:00:00:07:03", "10.7.0.11", "10.7.0.13"))
		wantPorts(t, r, hv1.port("tap-f3"))
		wantField(t, r.Outputs[0], flow.IPTTL, "64") // bridged, not routed
	})
}
