package ofctl

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nva-project/nva/app/compiler/scenario"
	"github.com/nva-project/nva/app/counters"
	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/icmp"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/pipeline"
	"github.com/nva-project/nva/ofctl/conn"
)

// expiredFrame is a routed ICMP echo request (IPv4 or IPv6 by the
// addresses' family) from mac/src to the gateway MAC, TTL 1.
func expiredFrame(mac, src, dst string) []byte {
	m, _ := net.ParseMAC(mac)
	f := append(append([]byte{}, model.GatewayMAC[:]...), m...)
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	payload := []byte{8, 0, 0, 0, 0, 7, 0, 1, 'p', 'i', 'n', 'g'}
	if s.Is4() {
		f = binary.BigEndian.AppendUint16(f, 0x0800)
		h := make([]byte, 20)
		h[0], h[8], h[9] = 0x45, 1, 1
		binary.BigEndian.PutUint16(h[2:4], uint16(20+len(payload)))
		a, b := s.As4(), d.As4()
		copy(h[12:], a[:])
		copy(h[16:], b[:])
		return append(append(f, h...), payload...)
	}
	payload[0] = 128
	f = binary.BigEndian.AppendUint16(f, 0x86dd)
	h := make([]byte, 40)
	h[0], h[6], h[7] = 0x60, 58, 1
	binary.BigEndian.PutUint16(h[4:6], uint16(len(payload)))
	a, b := s.As16(), d.As16()
	copy(h[8:], a[:])
	copy(h[24:], b[:])
	return append(append(f, h...), payload...)
}

// TestTimeExceededResponder: on the leader, a packet-in from the OVS
// profile's l3_route stage (a routed packet whose TTL expired) gets one
// ICMP time-exceeded packet-out on its in_port, from the gateway of the
// ingress VN's subnet holding the source (IPv4 and IPv6; re-tagged for a
// tagged VAP); a source in no subnet is not answered; past the switch's
// burst the packet-ins are dropped and counted.
func TestTimeExceededResponder(t *testing.T) {
	snap := overlaySnap(10, true)
	blue := *snap.VNs["blue"]
	blue.Service = model.ServiceL2L3
	blue.Subnets = []model.Subnet{{CIDR: "198.51.100.0/24", Gateway: "198.51.100.1"}, {CIDR: "2001:db8:5::/64", Gateway: "2001:db8:5::1"}}
	snap.VNs["blue"] = &blue
	p2 := *snap.Ports.Get("p2")
	p2.VLAN = 10
	snap.Ports = snap.Ports.With("p2", &p2)
	br := newFakeBridge(t, 1, map[uint32]string{1: "v1", 2: "v2", 100: "nva-vxlan"})
	st := newFakeStore(snap, true)
	// Burst 4, and a rate that refills nothing within the test.
	sb := startFake(t, st, Config{TimeExceededRate: 1e-9, TimeExceededBurst: 4})
	reg := prometheus.NewRegistry()
	if err := sb.RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	br.connect(sb.cfg.ListenAddr)
	if _, err := waitRealized(t, sb, 10, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	waitCond(t, 5*time.Second, "leadership", func() bool { sb.mu.Lock(); defer sb.mu.Unlock(); return sb.leader })
	table, ok := pipeline.OVS().Number(pipeline.L3Route)
	if !ok {
		t.Fatal("the OVS profile has no l3_route table")
	}
	cookie := flow.MakeCookie(0, 42)
	const vni = 5001
	results := func(r string) float64 { return metricValue(t, reg, "nva_southbound_packet_ins_total", "result", r) }

	check := func(n int, src, gw string, inPort uint32, tagged bool) {
		t.Helper()
		waitCond(t, 5*time.Second, "answer "+src, func() bool { return len(br.packetOutsReceived()) == n })
		po := br.packetOutsReceived()[n-1]
		if po.inPort != inPort {
			t.Fatalf("%s: packet-out in_port %d", src, po.inPort)
		}
		if !tagged && string(po.actions) != string(outputInPort()) {
			t.Fatalf("%s: actions % x", src, po.actions)
		}
		if tagged && (len(po.actions) != 8+16+16 || binary.BigEndian.Uint16(po.actions[0:2]) != 17 ||
			binary.BigEndian.Uint16(po.actions[8:10]) != 25 || string(po.actions[24:]) != string(outputInPort())) {
			t.Fatalf("%s: tagged actions % x", src, po.actions)
		}
		if string(po.data[6:12]) != string(model.GatewayMAC[:]) {
			t.Fatalf("%s: eth_src % x", src, po.data[6:12])
		}
		// The answer parses as an IP packet from the gateway to src
		// (app/icmp's own tests check checksums and quote).
		ip := po.data[14:]
		var from, to netip.Addr
		var typ uint8
		if binary.BigEndian.Uint16(po.data[12:14]) == 0x0800 {
			from, to, typ = netip.AddrFrom4([4]byte(ip[12:16])), netip.AddrFrom4([4]byte(ip[16:20])), ip[20]
		} else {
			from, to, typ = netip.AddrFrom16([16]byte(ip[8:24])), netip.AddrFrom16([16]byte(ip[24:40])), ip[40]
		}
		want := uint8(11)
		if to.Is6() {
			want = 3
		}
		if from != netip.MustParseAddr(gw) || to != netip.MustParseAddr(src) || typ != want {
			t.Fatalf("answer from %s to %s type %d; want from %s to %s type %d", from, to, typ, gw, src, want)
		}
	}

	br.sendPacketIn(cookie, table, 1, vni, expiredFrame("02:00:00:00:01:01", "198.51.100.11", "203.0.113.5"))
	check(1, "198.51.100.11", "198.51.100.1", 1, false)
	br.sendPacketIn(cookie, table, 1, vni, expiredFrame("02:00:00:00:01:01", "2001:db8:5::11", "2001:db8:6::5"))
	check(2, "2001:db8:5::11", "2001:db8:5::1", 1, false)
	br.sendPacketIn(cookie, table, 2, vni, expiredFrame("02:00:00:00:01:02", "198.51.100.12", "203.0.113.5"))
	check(3, "198.51.100.12", "198.51.100.1", 2, true)
	if got := results(packetInTimeExceeded); got != 3 {
		t.Fatalf("time_exceeded %v, want 3", got)
	}

	// A source in no subnet of the VN: not answered.
	br.sendPacketIn(cookie, table, 1, vni, expiredFrame("02:00:00:00:01:01", "192.0.2.9", "203.0.113.5"))
	waitCond(t, 5*time.Second, "the unanswerable packet-in", func() bool { return results(packetInTimeExceededDrop) == 1 })

	// The burst (4) is spent: the next ones are over the rate.
	for i := 0; i < 3; i++ {
		br.sendPacketIn(cookie, table, 1, vni, expiredFrame("02:00:00:00:01:01", "198.51.100.11", "203.0.113.5"))
	}
	waitCond(t, 5*time.Second, "rate-limited packet-ins", func() bool { return results(packetInTimeExceededRate) == 3 })
	if n := len(br.packetOutsReceived()); n != 3 {
		t.Fatalf("%d packet-outs, want 3", n)
	}
	if _, err := icmp.Parse(br.packetOutsReceived()[0].data); err == nil {
		t.Fatal("the answer (an ICMP error) would itself be answered")
	}
}

// TestInvalidTTLStrict: on a strict NVE the leader turns on invalid-TTL
// packet-ins (OFPT_SET_ASYNC: OFPR_INVALID_TTL added to the master
// packet-in mask, the other masks kept), answers an OFPR_INVALID_TTL packet-in
// from the routing table like the OVS profile's TTL punt, and counts it
// as a ttl_expired drop of that table's stages in the NVE's traffic
// counters; an OVS NVE's connection is left alone.
func TestInvalidTTLStrict(t *testing.T) {
	snap := overlaySnap(10, true)
	hv1 := *snap.NVEs["hv1"]
	hv1.Profile = model.ProfileStrict
	snap.NVEs["hv1"] = &hv1
	blue := *snap.VNs["blue"]
	blue.Service = model.ServiceL2L3
	blue.Subnets = []model.Subnet{{CIDR: "198.51.100.0/24", Gateway: "198.51.100.1"}, {CIDR: "2001:db8:5::/64", Gateway: "2001:db8:5::1"}}
	snap.VNs["blue"] = &blue
	br := newFakeBridge(t, 1, map[uint32]string{1: "v1", 2: "v2"})
	st := newFakeStore(snap, true)
	sb := startFake(t, st, Config{})
	reg := prometheus.NewRegistry()
	if err := sb.RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	br.connect(sb.cfg.ListenAddr)
	waitCond(t, 5*time.Second, "the set-async", func() bool { br.mu.Lock(); defer br.mu.Unlock(); return br.setAsyncs == 1 })
	br.mu.Lock()
	async := br.async
	br.mu.Unlock()
	// OFPR_INVALID_TTL added to the master packet-in mask, the rest kept.
	if want := [6]uint32{0x7, 0, 0x7, 0x7, 0xf, 0}; async != want {
		t.Fatalf("async config %#x, want %#x", async, want)
	}
	waitCond(t, 5*time.Second, "compiled", func() bool {
		sb.mu.Lock()
		w := sb.switches[1]
		sb.mu.Unlock()
		return w != nil && w.lastCompile("hv1") != nil
	})
	prof := pipeline.Strict()
	table, ok := prof.Number(pipeline.L3Route)
	if !ok {
		t.Fatal("the strict profile has no l3_route table")
	}
	results := func(r string) float64 { return metricValue(t, reg, "nva_southbound_packet_ins_total", "result", r) }
	frame := expiredFrame("02:00:00:00:01:01", "198.51.100.11", "203.0.113.5")
	br.sendPacketInReason(conn.ReasonInvalidTTL, flow.MakeCookie(0, 42), table, 1, 5001, frame)
	waitCond(t, 5*time.Second, "the answer", func() bool { return len(br.packetOutsReceived()) == 1 })
	po := br.packetOutsReceived()[0]
	ip := po.data[14:]
	if po.inPort != 1 || string(po.actions) != string(outputInPort()) || string(po.data[6:12]) != string(model.GatewayMAC[:]) ||
		netip.AddrFrom4([4]byte(ip[12:16])) != netip.MustParseAddr("198.51.100.1") || ip[20] != 11 {
		t.Fatalf("answer in_port %d actions % x frame % x", po.inPort, po.actions, po.data)
	}
	// IPv6 (hop limit): an ICMPv6 time-exceeded from the IPv6 gateway.
	frame6 := expiredFrame("02:00:00:00:01:01", "2001:db8:5::11", "2001:db8:6::5")
	br.sendPacketInReason(conn.ReasonInvalidTTL, flow.MakeCookie(0, 42), table, 1, 5001, frame6)
	waitCond(t, 5*time.Second, "the IPv6 answer", func() bool { return len(br.packetOutsReceived()) == 2 })
	po = br.packetOutsReceived()[1]
	ip = po.data[14:]
	if po.inPort != 1 || binary.BigEndian.Uint16(po.data[12:14]) != 0x86dd ||
		netip.AddrFrom16([16]byte(ip[8:24])) != netip.MustParseAddr("2001:db8:5::1") || ip[40] != 3 {
		t.Fatalf("IPv6 answer in_port %d frame % x", po.inPort, po.data)
	}
	if got := results(packetInTimeExceeded); got != 2 {
		t.Fatalf("time_exceeded %v, want 2", got)
	}
	// One that cannot be answered (no subnet holds its source) is still
	// counted as a drop.
	br.sendPacketInReason(conn.ReasonInvalidTTL, flow.MakeCookie(0, 42), table, 1, 5001, expiredFrame("02:00:00:00:01:01", "192.0.2.9", "203.0.113.5"))
	waitCond(t, 5*time.Second, "the unanswerable packet-in", func() bool { return results(packetInTimeExceededDrop) == 1 })

	sb.PollCounters(context.Background())
	got, _, _ := sb.TrafficCounters()
	if len(got) != 1 {
		t.Fatalf("counters %+v", got)
	}
	var stage string
	for _, tb := range prof.Tables {
		if tb.Number == table {
			stage = strings.Join(tb.Stages, "/")
		}
	}
	want := counters.Count{Packets: 3, Bytes: 2*uint64(len(frame)) + uint64(len(frame6))}
	if r := got[0].DropReasons[counters.ReasonTTLExpired]; r != want {
		t.Errorf("ttl_expired drops %+v, want %+v (all %+v)", r, want, got[0].DropReasons)
	}
	if d := got[0].Drops[stage]; d != want {
		t.Errorf("drops of %s %+v, want %+v (all %+v)", stage, d, want, got[0].Drops)
	}
}

// TestInvalidTTLNotOnOVS: an OVS NVE's connection keeps its async config (its
// TTL flows punt; dec_ttl never meets an expired packet it should count):
// no OFPT_SET_ASYNC.
func TestInvalidTTLNotOnOVS(t *testing.T) {
	br := newFakeBridge(t, 1, map[uint32]string{1: "v1", 2: "v2", 100: "nva-vxlan"})
	sb := startFake(t, newFakeStore(overlaySnap(10, true), true), Config{})
	br.connect(sb.cfg.ListenAddr)
	if _, err := waitRealized(t, sb, 10, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	br.mu.Lock()
	defer br.mu.Unlock()
	if br.setAsyncs != 0 {
		t.Fatalf("%d set-asyncs on an OVS NVE", br.setAsyncs)
	}
}

// TestGatewayTimeExceeded: a packet-in from an L3 gateway's l3gw_in (its
// TTL flows: IPv4 from the uplink to the gateway's addresses with TTL 0
// or 1) is answered out of the uplink with an ICMP time-exceeded from
// the gateway's external address and external MAC to the sender; one on
// a port that is no gateway's uplink is not answered.
func TestGatewayTimeExceeded(t *testing.T) {
	snap := scenario.GatewaySNAT().Snapshot()
	gw := snap.NVEs["gw"]
	dpid, err := model.ParseDatapathID(gw.DatapathID)
	if err != nil {
		t.Fatal(err)
	}
	acme := snap.L3Gateways["acme-gw"]
	br := newFakeBridge(t, dpid, map[uint32]string{1: "up-acme", 2: "up-beta", 100: "nva-vxlan"})
	sb := startFake(t, newFakeStore(snap, true), Config{})
	reg := prometheus.NewRegistry()
	if err := sb.RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	br.connect(sb.cfg.ListenAddr)
	waitCond(t, 5*time.Second, "gw connected and leading", func() bool {
		sb.mu.Lock()
		defer sb.mu.Unlock()
		return sb.leader && sb.switches[dpid] != nil && sb.switches[dpid].nve == "gw"
	})
	table, ok := pipeline.OVS().Number(pipeline.L3GatewayIn)
	if !ok {
		t.Fatal("the OVS profile has no l3gw_in table")
	}
	results := func(r string) float64 { return metricValue(t, reg, "nva_southbound_packet_ins_total", "result", r) }
	frame := expiredFrame("02:ee:00:00:00:01", "192.0.2.80", "203.0.113.20")
	br.sendPacketIn(flow.MakeCookie(0, 7), table, 1, 0, frame)
	waitCond(t, 5*time.Second, "the answer", func() bool { return len(br.packetOutsReceived()) == 1 })
	po := br.packetOutsReceived()[0]
	mac := acme.ExternalMAC()
	ip := po.data[14:]
	if po.inPort != 1 || string(po.actions) != string(outputInPort()) || string(po.data[6:12]) != string(mac[:]) ||
		net.HardwareAddr(po.data[0:6]).String() != "02:ee:00:00:00:01" ||
		netip.AddrFrom4([4]byte(ip[12:16])) != netip.MustParseAddr("203.0.113.10") ||
		netip.AddrFrom4([4]byte(ip[16:20])) != netip.MustParseAddr("192.0.2.80") || ip[20] != 11 {
		t.Fatalf("answer in_port %d actions % x frame % x", po.inPort, po.actions, po.data)
	}
	if got := results(packetInTimeExceeded); got != 1 {
		t.Fatalf("time_exceeded %v, want 1", got)
	}
	// The tunnel port is no gateway's uplink.
	br.sendPacketIn(flow.MakeCookie(0, 7), table, 100, 0, frame)
	waitCond(t, 5*time.Second, "the unanswered packet-in", func() bool { return results(packetInTimeExceededDrop) == 1 })
	if n := len(br.packetOutsReceived()); n != 1 {
		t.Fatalf("%d packet-outs, want 1", n)
	}
}
