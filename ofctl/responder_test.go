package ofctl

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	nd "github.com/nva-project/nva/app/neighbor"

	"github.com/nva-project/nva/app/flow"
)

// arpRequest is a broadcast ARP request from mac/ip for target, padded to
// the Ethernet minimum.
func arpRequest(mac string, ip, target string) []byte {
	m, _ := net.ParseMAC(mac)
	f := make([]byte, 0, 60)
	f = append(f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	f = append(f, m...)
	f = binary.BigEndian.AppendUint16(f, 0x0806)
	f = binary.BigEndian.AppendUint16(f, 1)      // Ethernet
	f = binary.BigEndian.AppendUint16(f, 0x0800) // IPv4
	f = append(f, 6, 4)
	f = binary.BigEndian.AppendUint16(f, 1) // request
	f = append(f, m...)
	a := netip.MustParseAddr(ip).As4()
	f = append(f, a[:]...)
	f = append(f, 0, 0, 0, 0, 0, 0)
	b := netip.MustParseAddr(target).As4()
	f = append(f, b[:]...)
	for len(f) < 60 {
		f = append(f, 0)
	}
	return f
}

// metricValue is the value of a counter of reg with the given name and,
// if label is not empty, the label value label=value.
func metricValue(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label == "" {
				return m.GetCounter().GetValue()
			}
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// Raw OpenFlow 1.3 actions as the packet-out carries them.
func outputInPort() []byte {
	a := make([]byte, 16)
	binary.BigEndian.PutUint16(a[2:4], 16)
	binary.BigEndian.PutUint32(a[4:8], 0xfffffff8)
	return a
}

// TestNeighborResponder: on the leader, a punted ARP request for an
// address known in the packet-in's VN gets exactly one packet-out (the
// reply, out of the in_port; re-tagged for a tagged VAP whose tag the
// pipeline popped); an unknown target gets none and is counted as a drop;
// packet-ins from foreign flows and, on a follower, every packet-in are
// ignored.
func TestNeighborResponder(t *testing.T) {
	snap := overlaySnap(10, true)
	p2 := *snap.Ports.Get("p2")
	p2.VLAN = 10
	snap.Ports = snap.Ports.With("p2", &p2)
	br := newFakeBridge(t, 1, map[uint32]string{1: "v1", 2: "v2", 100: "nva-vxlan"})
	st := newFakeStore(snap, true)
	sb := startFake(t, st, Config{})
	reg := prometheus.NewRegistry()
	if err := sb.RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	br.connect(sb.cfg.ListenAddr)
	if _, err := waitRealized(t, sb, 10, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	waitCond(t, 5*time.Second, "leadership", func() bool { sb.mu.Lock(); defer sb.mu.Unlock(); return sb.leader })
	cookie := flow.MakeCookie(0, 42)
	const vni = 5001

	// Known target: p3 (on hv2), asked by p1.
	br.sendPacketIn(cookie, 2, 1, vni, arpRequest("02:00:00:00:01:01", "198.51.100.11", "198.51.100.21"))
	waitCond(t, 5*time.Second, "the answer", func() bool { return len(br.packetOutsReceived()) == 1 })
	po := br.packetOutsReceived()[0]
	if po.inPort != 1 || string(po.actions) != string(outputInPort()) {
		t.Fatalf("packet-out in_port %d actions % x", po.inPort, po.actions)
	}
	reply, err := nd.Parse(po.data)
	if err != nil {
		t.Fatal(err)
	}
	if reply.Op != 2 || reply.SenderMAC.String() != "02:00:00:00:02:01" || reply.SenderIP != netip.MustParseAddr("198.51.100.21") ||
		reply.EthDst.String() != "02:00:00:00:01:01" {
		t.Fatalf("reply %+v", reply)
	}
	if got := metricValue(t, reg, "nva_neighbor_answers_total", "", ""); got != 1 {
		t.Fatalf("answers %v", got)
	}

	// Unknown target: no answer, a drop.
	br.sendPacketIn(cookie, 2, 1, vni, arpRequest("02:00:00:00:01:01", "198.51.100.11", "198.51.100.99"))
	waitCond(t, 5*time.Second, "the drop", func() bool {
		return metricValue(t, reg, "nva_neighbor_drops_total", "reason", "unknown_target") == 1
	})
	// A VN this NVE does not host (VNI 5002 exists nowhere): no answer either.
	br.sendPacketIn(cookie, 2, 1, 5002, arpRequest("02:00:00:00:01:01", "198.51.100.11", "198.51.100.21"))
	waitCond(t, 5*time.Second, "the second drop", func() bool {
		return metricValue(t, reg, "nva_neighbor_drops_total", "reason", "unknown_target") == 2
	})

	// A tagged VAP: the untagged request gets a re-tagged answer.
	br.sendPacketIn(cookie, 2, 2, vni, arpRequest("02:00:00:00:01:02", "198.51.100.12", "198.51.100.11"))
	waitCond(t, 5*time.Second, "the tagged answer", func() bool { return len(br.packetOutsReceived()) == 2 })
	po = br.packetOutsReceived()[1]
	if po.inPort != 2 || len(po.actions) != 8+16+16 ||
		binary.BigEndian.Uint16(po.actions[0:2]) != 17 || binary.BigEndian.Uint16(po.actions[4:6]) != 0x8100 || // push_vlan
		binary.BigEndian.Uint16(po.actions[8:10]) != 25 || // set_field
		string(po.actions[24:]) != string(outputInPort()) {
		t.Fatalf("tagged answer: in_port %d actions % x", po.inPort, po.actions)
	}
	if reply, err := nd.Parse(po.data); err != nil || reply.SenderMAC.String() != "02:00:00:00:01:01" {
		t.Fatalf("tagged reply %+v, %v", reply, err)
	}

	// Not nva's flow: ignored.
	br.sendPacketIn(0xffffffffffffffff, 0, 1, 0, arpRequest("02:00:00:00:01:01", "198.51.100.11", "198.51.100.21"))
	waitCond(t, 5*time.Second, "the foreign packet-in", func() bool {
		return metricValue(t, reg, "nva_southbound_packet_ins_total", "result", packetInForeign) == 1
	})

	// A follower never answers.
	st.mu.Lock()
	st.leader = false
	st.mu.Unlock()
	waitCond(t, 5*time.Second, "followership", func() bool { sb.mu.Lock(); defer sb.mu.Unlock(); return !sb.leader })
	br.sendPacketIn(cookie, 2, 1, vni, arpRequest("02:00:00:00:01:01", "198.51.100.11", "198.51.100.21"))
	waitCond(t, 5*time.Second, "the ignored packet-in", func() bool {
		return metricValue(t, reg, "nva_southbound_packet_ins_total", "result", packetInNotLeader) == 1
	})
	if n := len(br.packetOutsReceived()); n != 2 {
		t.Fatalf("%d packet-outs, want 2", n)
	}
	if got := metricValue(t, reg, "nva_neighbor_answers_total", "", ""); got != 2 {
		t.Fatalf("answers %v", got)
	}
}
