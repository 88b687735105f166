package ofctl

import (
	"github.com/nva-project/nva/app/pipeline"
	"net"

	nd "github.com/nva-project/nva/app/neighbor"

	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/ofctl/conn"
	"github.com/nva-project/nva/ofctl/neighbor"
)

// The controller-side ARP/ND responder. A profile that cannot answer ARP
// requests or neighbor solicitations in the switch (the strict OpenFlow
// 1.3 profile: no move action, no ND extension fields) has the compiler
// send those for addresses known in the VN to the controller, with the VN
// in the packet-in's metadata; unknown targets never reach nva (the VN's
// flood/drop policy applies in the switch). Every packet-in is delivered
// here (conn.Options.OnPacketIn, on the switch's own goroutine), and only
// the leader answers: it is the node that holds the master role, and a
// node that is not (yet) the leader ignores packet-ins, so a switch that
// still sends them to an equal-role follower never gets two answers.
//
// The answer (ofctl/neighbor: app/neighbor builds it, a token bucket per
// switch limits the rate) goes back as a packet-out to the request's
// in_port. Metrics: nva_neighbor_answers_total,
// nva_neighbor_drops_total{reason} and
// nva_southbound_packet_ins_total{result}.

// Results of a packet-in (the result label of
// nva_southbound_packet_ins_total).
const (
	packetInNeighbor   = "neighbor"    // handed to the responder
	packetInForeign    = "foreign"     // not from one of nva's flows (cookie)
	packetInNotLeader  = "not_leader"  // this node does not write to switches
	packetInUnclaimed  = "unclaimed"   // no NVE claims the switch
	packetInUnexpected = "unexpected"  // from nva's flows, but not a punt nva answers
	packetInTrace      = "trace"       // a live trace's packet (livetrace.go)
	packetInTraceOther = "trace_other" // from a live trace's flows, not its packet
	packetInLearn      = "learn"       // a segment's new source MAC (learn.go)
)

// newResponder builds the southbound's neighbor responder.
func (s *Southbound) newResponder() *neighbor.Responder {
	r, err := neighbor.New(neighbor.Options{
		Lookup:        s.neighborLookup,
		Actions:       s.neighborActions,
		RatePerSwitch: s.cfg.NeighborRate,
		Burst:         s.cfg.NeighborBurst,
		Now:           s.cfg.Now,
		Logger:        s.log,
	})
	if err != nil {
		// Only negative rates fail, and New rejects them first.
		panic(err)
	}
	return r
}

// onPacketIn dispatches a packet-in from a switch.
func (s *Southbound) onPacketIn(sw *conn.Switch, pi conn.PacketIn) {
	if isLiveCookie(pi.Cookie) {
		s.liveObserve(sw, pi)
		return
	}
	if !flow.IsNVACookie(pi.Cookie) {
		s.m.packetIns.WithLabelValues(packetInForeign).Inc()
		return
	}
	s.mu.Lock()
	leader := s.leader
	w := s.switches[sw.DPID()]
	claimed := w != nil && w.sw == sw && w.nve != ""
	s.mu.Unlock()
	switch {
	case !claimed:
		s.m.packetIns.WithLabelValues(packetInUnclaimed).Inc()
		return
	case !leader:
		s.m.packetIns.WithLabelValues(packetInNotLeader).Inc()
		return
	}
	s.mu.Lock()
	snap, nve := s.snap, w.nve
	s.mu.Unlock()
	if s.isLearnPunt(snap, nve, pi) { // learn.go: a segment's new source MAC
		s.m.packetIns.WithLabelValues(packetInLearn).Inc()
		if s.cfg.Learn != nil {
			s.onLearnPacketIn(snap, nve, sw, pi)
		}
		return
	}
	if s.isTTLPunt(snap, nve, pi) { // ttlexceeded.go: a routed packet's TTL expired
		s.onTTLPacketIn(snap, nve, sw, pi)
		return
	}
	switch {
	case !pi.Match.HasMetadata:
		// nva's punts always carry the VN in metadata.
		s.m.packetIns.WithLabelValues(packetInUnexpected).Inc()
		return
	}
	s.m.packetIns.WithLabelValues(packetInNeighbor).Inc()
	s.neigh.Handle(sw, pi)
}

// vapOf finds the VN and the local port a packet-in came from: the VN by
// the VNI in its metadata (which must be a VN the switch's NVE hosts), the
// port by that VN and the in_port's interface. port is nil when no port of
// the VN on the NVE has that interface.
func (s *Southbound) vapOf(dpid uint64, pi conn.PacketIn) (snap *model.Snapshot, vn *model.VN, port *model.Port, ok bool) {
	s.mu.Lock()
	snap = s.snap
	w := s.switches[dpid]
	s.mu.Unlock()
	if snap == nil || w == nil || !pi.Match.HasMetadata {
		return nil, nil, nil, false
	}
	nve := claimant(snap, dpid)
	vn = snap.VNByVNI(pipeline.VNIFromMetadata(pi.Match.Metadata))
	if nve == "" || vn == nil || len(snap.PortsAt(nve, vn.Name)) == 0 {
		return nil, nil, nil, false
	}
	var iface string
	for name, no := range s.portNumbers(w.sw, nve) {
		if no == pi.Match.InPort {
			iface = name
			break
		}
	}
	for _, p := range snap.PortsAt(nve, vn.Name) {
		if iface != "" && p.Interface == iface {
			port = p
			break
		}
	}
	return snap, vn, port, true
}

// neighborLookup is the responder's Lookup: the MAC of the port of the
// packet-in's VN that owns the target address.
func (s *Southbound) neighborLookup(dpid uint64, pi conn.PacketIn, req *nd.Request) (net.HardwareAddr, bool) {
	snap, vn, _, ok := s.vapOf(dpid, pi)
	if !ok {
		return nil, false
	}
	p := snap.PortByIP(vn.Name, req.TargetIP)
	if p == nil {
		if vn.Routed() && vn.IsGateway(req.TargetIP) { // the VN's distributed gateway
			return net.HardwareAddr(model.GatewayMAC[:]), true
		}
		return nil, false
	}
	mac := p.HardwareAddr()
	return mac, mac != nil
}

// neighborActions sends the answer back out of the in_port, re-tagged with
// the VAP's VLAN when the pipeline popped it before punting (the request
// arrived untagged from a tagged VAP).
func (s *Southbound) neighborActions(dpid uint64, pi conn.PacketIn, req *nd.Request) (uint32, []conn.Action) {
	out := []conn.Action{conn.OutputAction(conn.PortInPort)}
	if len(req.Tags) > 0 {
		return pi.Match.InPort, out
	}
	if _, _, p, ok := s.vapOf(dpid, pi); ok && p != nil && p.VLAN != 0 {
		out = []conn.Action{conn.PushVLANAction(nd.EthTypeVLAN), conn.SetVLANVIDAction(uint16(p.VLAN)), out[0]}
	}
	return pi.Match.InPort, out
}
