package ofctl

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"antrea.io/libOpenflow/openflow13"

	"github.com/nva-project/nva/app/counters"
	"github.com/nva-project/nva/app/icmp"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/pipeline"
	"github.com/nva-project/nva/ofctl/conn"
)

// ICMP time-exceeded for routed packets, and the count of those that the
// switch cannot count itself.
//
// OVS profile: the l3_route stage sends a routed packet whose TTL or hop
// limit is 0 or 1 to the controller (its first compiler.TTLPuntMaxLen
// bytes, the VN in the packet-in's metadata) instead of routing it, and
// so does an L3 gateway's l3gw_in for IPv4 from its uplink to its
// external or floating addresses (before conntrack: the packet as its
// sender sent it); those flows' counters count them as ttl_expired drops.
//
// Strict OpenFlow 1.3 profile: there is no nw_ttl match, so the l3_route
// flows' dec_nw_ttl meets the expired packet itself. The leader turns on
// invalid-TTL packet-ins on each strict NVE's connection once it has
// reconciled it in the master role (ensureInvalidTTL: OFPT_SET_ASYNC
// adding OFPR_INVALID_TTL to the connection's master/equal packet-in
// mask, the rest of its async config and its switch config, miss_send_len
// included, left as they were; OpenFlow 1.3 has no OFPC_INVALID_TTL_TO_CONTROLLER flag any more,
// and Open vSwitch refuses it in a 1.3 OFPT_SET_CONFIG), and the switch
// sends each such packet (reason OFPR_INVALID_TTL, the route flow's
// cookie and table, the VN in metadata) instead of dropping it silently.
// The leader counts them per NVE as ttl_expired drops of the routing
// table's stages (addTTLDrops: the same Drops and DropReasons the flow
// counters feed, so GET /api/v1/counters, nva_drop_packets_total and
// nva_drop_reason_packets_total show them). That count is the leader's
// own, since it started leading (followers, in the slave role, get no
// packet-ins), and misses what the switch or nva's packet-in queue
// dropped under overload.
//
// Either way the leader (only the leader: onPacketIn) answers, at most
// Config.TimeExceededRate per second per switch (a token bucket of
// Config.TimeExceededBurst), so a TTL-1 flood is not answered at its
// rate (the packet-ins themselves are not limited, on either profile):
// an ICMPv4 Time Exceeded (type 11, code 0) or ICMPv6 Time Exceeded
// (type 3, code 0), built by app/icmp, as a packet-out on the in_port.
// A routed packet is answered from the gateway address of the ingress
// VN's subnet that holds the packet's source and the gateway MAC, to the
// packet's Ethernet and IP source (re-tagged with the VAP's VLAN, as
// neighbor answers are); a packet from a gateway's uplink from the
// gateway's external address and external MAC, back out of the uplink.
// Expired packets tunnelled to a gateway NVE (l3gw_out) are dropped and
// counted there by flows of their own, unanswered (the answer would have
// to go back into the tunnel).
//
// Results (nva_southbound_packet_ins_total{result}): time_exceeded (an
// answer was sent), time_exceeded_rate (over the switch's rate, dropped),
// time_exceeded_drop (not answered: a frame app/icmp does not answer or
// cannot read, no subnet of the VN holds the source, no gateway uplink
// is the in_port, or the packet-out failed).

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

// ttlLimiter is the per-switch token buckets of time-exceeded answers and
// the invalid-TTL packet-ins counted per NVE (the zero value is ready).
type ttlLimiter struct {
	mu      sync.Mutex
	buckets map[uint64]*tokenBucket              // by datapath ID
	expired map[string]map[string]counters.Count // by NVE, then stage: invalid-TTL packet-ins
	// profiles caches each NVE's profile for the packet-in and sync paths
	// (realizing one costs ~150 µs): valid while the store's NVE record
	// is the same (the snapshot replaces the pointer when it changes).
	profiles map[string]cachedProfile
}

type cachedProfile struct {
	n    *model.NVE
	prof pipeline.Profile
}

// profile is profileOf(snap, nve), cached per NVE record.
func (s *Southbound) profile(snap *model.Snapshot, nve string) (pipeline.Profile, error) {
	if snap == nil {
		return profileOf(snap, nve)
	}
	n := snap.NVEs[nve]
	l := &s.ttl
	l.mu.Lock()
	c, ok := l.profiles[nve]
	l.mu.Unlock()
	if ok && n != nil && c.n == n {
		return c.prof, nil
	}
	prof, err := profileOf(snap, nve)
	if err != nil {
		return prof, err
	}
	l.mu.Lock()
	if l.profiles == nil {
		l.profiles = map[string]cachedProfile{}
	}
	if len(l.profiles) > 4*len(snap.NVEs)+16 { // NVEs deleted: start afresh
		clear(l.profiles)
	}
	l.profiles[nve] = cachedProfile{n: n, prof: prof}
	l.mu.Unlock()
	return prof, nil
}

// ensureInvalidTTL turns on invalid-TTL packet-ins on w's connection when
// its NVE has the strict profile (no nw_ttl match: dec_nw_ttl meets the
// expired packets), once per connection, on the leader after its first
// successful reconciliation (so in the master role, and never on a switch
// whose tables do not fit; setInvalidTTL: the master/equal packet-in
// mask). A switch
// that refuses is logged and counted (errors{op="set_async"}), and not
// asked again on this connection: routing works, expired packets are
// then dropped by the switch uncounted.
func (s *Southbound) ensureInvalidTTL(ctx context.Context, w *worker, snap *model.Snapshot, nve string) {
	if w.invalidTTL {
		return
	}
	prof, err := s.profile(snap, nve)
	if err != nil || prof.Extensions {
		return
	}
	if _, ok := prof.Number(pipeline.L3Route); !ok {
		return
	}
	w.invalidTTL = true
	ctx, cancel := context.WithTimeout(ctx, s.cfg.OpTimeout)
	defer cancel()
	if err := setInvalidTTL(ctx, w.sw); err != nil {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			w.invalidTTL = false // shutting down: the next connection asks
			return
		}
		s.m.errors.WithLabelValues("set_async").Inc()
		s.log.Warn("switch does not send invalid-TTL packet-ins: expired routed packets are dropped uncounted and unanswered",
			"nve", nve, "dpid", model.FormatDatapathID(w.dpid), "error", err)
	}
}

// setInvalidTTL adds OFPR_INVALID_TTL to the packet-in reasons sw's
// connection receives in the master (and equal) role, keeping the rest of
// its asynchronous configuration: OFPT_GET_ASYNC_REQUEST, then
// OFPT_SET_ASYNC with the masks read plus that bit, then a read-back.
// (OpenFlow 1.3 removed 1.2's OFPC_INVALID_TTL_TO_CONTROLLER switch-config
// flag; Open vSwitch refuses it in a 1.3 OFPT_SET_CONFIG with
// OFPSCFC_BAD_FLAGS. The async config is per connection.)
func setInvalidTTL(ctx context.Context, sw *conn.Switch) error {
	get := func() ([]byte, error) {
		raw, err := sw.RequestRaw(ctx, rawMsg(asyncMsg(openflow13.Type_GetAsyncRequest, nil)))
		if err != nil {
			return nil, fmt.Errorf("get async: %w", err)
		}
		if len(raw) < asyncConfigLen {
			return nil, fmt.Errorf("get async: a reply of %d bytes", len(raw))
		}
		return raw[8:asyncConfigLen], nil
	}
	masks, err := get()
	if err != nil {
		return err
	}
	if binary.BigEndian.Uint32(masks[0:4])&invalidTTLBit != 0 {
		return nil
	}
	masks = append([]byte(nil), masks...)
	binary.BigEndian.PutUint32(masks[0:4], binary.BigEndian.Uint32(masks[0:4])|invalidTTLBit)
	if _, err := sw.Send(rawMsg(asyncMsg(openflow13.Type_SetAsync, masks))); err != nil {
		return fmt.Errorf("set async: %w", err)
	}
	if err := sw.Barrier(ctx); err != nil {
		return fmt.Errorf("set async: %w", err)
	}
	after, err := get()
	if err != nil {
		return err
	}
	if binary.BigEndian.Uint32(after[0:4])&invalidTTLBit == 0 {
		return fmt.Errorf("set async: the switch kept packet-in mask %#x without OFPR_INVALID_TTL", binary.BigEndian.Uint32(after[0:4]))
	}
	return nil
}

// asyncConfigLen is the length of OFPT_SET_ASYNC and OFPT_GET_ASYNC_REPLY
// (OpenFlow 1.3 §7.3.10): the header and three pairs of uint32 masks
// (packet-in, port-status, flow-removed; master/equal first, then slave).
const asyncConfigLen = 8 + 6*4

// invalidTTLBit is OFPR_INVALID_TTL in a packet-in mask.
const invalidTTLBit = 1 << openflow13.R_INVALID_TTL

// asyncMsg is an OpenFlow 1.3 message of type typ with body (the xid is
// the connection's to set).
func asyncMsg(typ uint8, body []byte) []byte {
	b := make([]byte, 8, 8+len(body))
	b[0], b[1] = openflow13.VERSION, typ
	b = append(b, body...)
	binary.BigEndian.PutUint16(b[2:4], uint16(len(b)))
	return b
}

// rawMsg is a message nva encodes itself (libOpenflow v0.15.0 has no
// asynchronous-config messages).
type rawMsg []byte

func (m rawMsg) MarshalBinary() ([]byte, error) { return append([]byte(nil), m...), nil }
func (m rawMsg) UnmarshalBinary([]byte) error   { return errors.New("rawMsg is not decoded") }
func (m rawMsg) Len() uint16                    { return uint16(len(m)) }

// countInvalidTTL counts an invalid-TTL packet-in as a ttl_expired drop
// of nve, in the stage(s) of the table it came from.
func (s *Southbound) countInvalidTTL(snap *model.Snapshot, nve string, pi conn.PacketIn) {
	stage := fmt.Sprintf("table %d", pi.TableID)
	if prof, err := s.profile(snap, nve); err == nil {
		for _, t := range prof.Tables {
			if t.Number == pi.TableID && len(t.Stages) > 0 {
				stage = strings.Join(t.Stages, "/")
			}
		}
	}
	l := &s.ttl
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.expired == nil {
		l.expired = map[string]map[string]counters.Count{}
	}
	m := l.expired[nve]
	if m == nil {
		m = map[string]counters.Count{}
		l.expired[nve] = m
	}
	c := m[stage]
	c.Packets++
	c.Bytes += uint64(pi.TotalLen)
	m[stage] = c
}

// addTTLDrops adds the invalid-TTL packet-ins counted for out.NVE to its
// drops (ttl_expired, and by stage).
func (s *Southbound) addTTLDrops(out *counters.NVE) {
	l := &s.ttl
	l.mu.Lock()
	defer l.mu.Unlock()
	for stage, c := range l.expired[out.NVE] {
		if out.Drops == nil {
			out.Drops = map[string]counters.Count{}
		}
		if out.DropReasons == nil {
			out.DropReasons = map[string]counters.Count{}
		}
		d, r := out.Drops[stage], out.DropReasons[counters.ReasonTTLExpired]
		d.Packets, d.Bytes = d.Packets+c.Packets, d.Bytes+c.Bytes
		r.Packets, r.Bytes = r.Packets+c.Packets, r.Bytes+c.Bytes
		out.Drops[stage], out.DropReasons[counters.ReasonTTLExpired] = d, r
	}
}

// isTTLPunt reports whether a packet-in is an expired packet: an
// invalid-TTL packet-in (the strict profile's dec_nw_ttl), or, on a
// profile that matches the TTL, one from the l3_route stage (only its TTL
// flows punt) or an L3 gateway's l3gw_in (only its TTL flows punt).
func (s *Southbound) isTTLPunt(snap *model.Snapshot, nve string, pi conn.PacketIn) bool {
	if pi.Reason == conn.ReasonInvalidTTL {
		return true
	}
	prof, err := s.profile(snap, nve)
	if err != nil || !prof.Extensions {
		return false
	}
	for _, st := range []string{pipeline.L3Route, pipeline.L3GatewayIn} {
		if no, ok := prof.Number(st); ok && pi.TableID == no {
			return true
		}
	}
	return false
}

// onTTLPacketIn counts (invalid-TTL packet-ins) and answers an expired
// packet from switch sw of NVE nve.
func (s *Southbound) onTTLPacketIn(snap *model.Snapshot, nve string, sw *conn.Switch, pi conn.PacketIn) {
	if pi.Reason == conn.ReasonInvalidTTL {
		s.countInvalidTTL(snap, nve, pi)
	}
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
	var err error
	var inPort uint32
	var actions []conn.Action
	var frame []byte
	if no, ok := s.gatewayTable(snap, nve); ok && pi.Reason != conn.ReasonInvalidTTL && pi.TableID == no {
		inPort, actions, frame, err = s.gatewayTimeExceeded(snap, nve, sw, pi)
	} else {
		inPort, actions, frame, err = s.timeExceeded(sw.DPID(), pi)
	}
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

// gatewayTable is the l3gw_in table of nve's profile.
func (s *Southbound) gatewayTable(snap *model.Snapshot, nve string) (uint8, bool) {
	prof, err := s.profile(snap, nve)
	if err != nil || !prof.Extensions {
		return 0, false
	}
	return prof.Number(pipeline.L3GatewayIn)
}

// gatewayTimeExceeded builds the answer to an expired packet from the
// uplink of an L3 gateway of nve: from the gateway's external address and
// MAC, back out of the uplink.
func (s *Southbound) gatewayTimeExceeded(snap *model.Snapshot, nve string, sw *conn.Switch, pi conn.PacketIn) (uint32, []conn.Action, []byte, error) {
	e, err := icmp.Parse(pi.Data)
	if err != nil {
		return 0, nil, nil, err
	}
	ports := s.portNumbers(sw, nve)
	for _, name := range slices.Sorted(maps.Keys(snap.L3Gateways)) {
		g := snap.L3Gateways[name]
		if g.NVE != nve || g.Uplink == "" || ports[g.Uplink] != pi.Match.InPort {
			continue
		}
		ext, _ := g.External()
		if !ext.IsValid() || !ext.Is4() || !e.Src.Unmap().Is4() {
			return 0, nil, nil, errors.New("gateway " + g.Name + " has no IPv4 external address for " + e.Src.String())
		}
		mac := g.ExternalMAC()
		frame, err := icmp.TimeExceeded(e, ext, net.HardwareAddr(mac[:]))
		if err != nil {
			return 0, nil, nil, err
		}
		return pi.Match.InPort, []conn.Action{conn.OutputAction(conn.PortInPort)}, frame, nil
	}
	return 0, nil, nil, fmt.Errorf("no L3 gateway of NVE %s has its uplink on port %d", nve, pi.Match.InPort)
}
