package ofctl

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"

	"github.com/nva-project/nva/app/icmp"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/pipeline"
	"github.com/nva-project/nva/ofctl/conn"
)

// ICMP time-exceeded for routed packets (the OVS profile). The l3_route
// stage sends a routed packet whose TTL or hop limit is 0 or 1 to the
// controller (its first compiler.TTLPuntMaxLen bytes, the VN in the
// packet-in's metadata) instead of routing it; the switch counts it as a
// ttl_expired drop. The leader (only the leader: onPacketIn) answers it,
// at most Config.TimeExceededRate per second per switch (a token bucket of
// Config.TimeExceededBurst), so a TTL-1 flood cannot load the controller:
// an ICMPv4 Time Exceeded (type 11, code 0) or ICMPv6 Time Exceeded
// (type 3, code 0), built by app/icmp, from the gateway address of the
// ingress VN's subnet that holds the packet's source and the gateway MAC,
// to the packet's Ethernet and IP source, as a packet-out on the in_port
// (re-tagged with the VAP's VLAN, as neighbor answers are). The strict
// profile has no TTL match: there dec_ttl drops such packets silently.
//
// Results (nva_southbound_packet_ins_total{result}): time_exceeded (an
// answer was sent), time_exceeded_rate (over the switch's rate, dropped),
// time_exceeded_drop (not answered: a frame app/icmp does not answer or
// cannot read, no subnet of the VN holds the source, or the packet-out
// failed).

// Time-exceeded defaults (Config.TimeExceededRate, TimeExceededBurst).
const (
	DefaultTimeExceededRate  = 100.0
	DefaultTimeExceededBurst = 100
)

// Results of a time-exceeded packet-in.
const (
	packetInTimeExceeded     = "time_exceeded"
	packetInTimeExceededRate = "time_exceeded_rate"
	packetInTimeExceededDrop = "time_exceeded_drop"
)

// ttlLimiter is the per-switch token buckets of time-exceeded answers
// (the zero value is ready).
type ttlLimiter struct {
	mu      sync.Mutex
	buckets map[uint64]*tokenBucket // by datapath ID
}

// isTTLPunt reports whether a packet-in came from the l3_route stage of
// nve's profile, on a profile that matches the TTL there (only the TTL
// flows punt from it).
func (s *Southbound) isTTLPunt(snap *model.Snapshot, nve string, pi conn.PacketIn) bool {
	prof, err := profileOf(snap, nve)
	if err != nil || !prof.Extensions {
		return false
	}
	no, ok := prof.Number(pipeline.L3Route)
	return ok && pi.TableID == no
}

// onTTLPacketIn answers an expired routed packet from switch sw.
func (s *Southbound) onTTLPacketIn(sw *conn.Switch, pi conn.PacketIn) {
	rate, burst := s.cfg.TimeExceededRate, s.cfg.TimeExceededBurst
	if rate <= 0 {
		rate = DefaultTimeExceededRate
	}
	if burst <= 0 {
		burst = DefaultTimeExceededBurst
	}
	l := &s.ttl
	l.mu.Lock()
	if l.buckets == nil {
		l.buckets = map[uint64]*tokenBucket{}
	}
	b := l.buckets[sw.DPID()]
	if b == nil {
		b = &tokenBucket{}
		l.buckets[sw.DPID()] = b
	}
	ok := b.take(s.cfg.Now(), rate, burst)
	l.mu.Unlock()
	if !ok {
		s.m.packetIns.WithLabelValues(packetInTimeExceededRate).Inc()
		return
	}
	inPort, actions, frame, err := s.timeExceeded(sw.DPID(), pi)
	if err == nil {
		err = sw.PacketOut(context.Background(), inPort, actions, frame)
	}
	if err != nil {
		s.m.packetIns.WithLabelValues(packetInTimeExceededDrop).Inc()
		s.log.Debug("routed packet with an expired TTL not answered", "dpid", sw.DPID(), "in_port", pi.Match.InPort, "err", err)
		return
	}
	s.m.packetIns.WithLabelValues(packetInTimeExceeded).Inc()
}

// timeExceeded builds the answer to an expired routed packet: the
// packet-out's in_port, actions and frame.
func (s *Southbound) timeExceeded(dpid uint64, pi conn.PacketIn) (uint32, []conn.Action, []byte, error) {
	e, err := icmp.Parse(pi.Data)
	if err != nil {
		return 0, nil, nil, err
	}
	_, vn, port, ok := s.vapOf(dpid, pi)
	if !ok {
		return 0, nil, nil, errors.New("no VN of this NVE in the packet-in's metadata")
	}
	gw, ok := gatewayFor(vn, e.Src)
	if !ok {
		return 0, nil, nil, errors.New("no subnet of VN " + vn.Name + " holds " + e.Src.String())
	}
	frame, err := icmp.TimeExceeded(e, gw, net.HardwareAddr(model.GatewayMAC[:]))
	if err != nil {
		return 0, nil, nil, err
	}
	out := []conn.Action{conn.OutputAction(conn.PortInPort)}
	if len(e.Tags) == 0 && port != nil && port.VLAN != 0 {
		out = []conn.Action{conn.PushVLANAction(0x8100), conn.SetVLANVIDAction(uint16(port.VLAN)), out[0]}
	}
	return pi.Match.InPort, out, frame, nil
}

// gatewayFor is the gateway address of vn's subnet that holds src.
func gatewayFor(vn *model.VN, src netip.Addr) (netip.Addr, bool) {
	src = src.Unmap()
	for _, sn := range vn.Subnets {
		p, err1 := netip.ParsePrefix(sn.CIDR)
		g, err2 := netip.ParseAddr(sn.Gateway)
		if err1 == nil && err2 == nil && p.Contains(src) && g.Unmap().Is4() == src.Is4() {
			return g.Unmap(), true
		}
	}
	return netip.Addr{}, false
}
