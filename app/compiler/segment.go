package compiler

import (
	"net"

	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/pipeline"
)

// L2 gateways to physical segments (RFC 8014 §5.3) and learned endpoints.
//
// A port of kind segment (model.PortKindSegment) is a VAP without a MAC:
// (interface, VLAN) on its NVE bound to its VN for a whole physical
// segment. Its frames are classified like any VAP's (in_port [+VLAN,
// popped]) but skip port security and the neighbor responder (they come
// from many hosts nva does not know) and go straight to l2_forward, as
// local traffic (they may enter tunnels). The VN's BUM group has a bucket
// for it like any local VAP (bum.go), and a VN with a segment port
// anywhere floods unknown unicast too (priority PrioUnknownFlood in
// l2_forward: from local VAPs to the VN's group of local VAPs and remote
// NVEs, from tunnels to the local VAPs only), since hosts behind a
// segment are known only once they have spoken.
//
// Learning: a frame from the segment whose source MAC is not learned
// there (priority PrioNormal) is also sent to the controller, tagged as it
// arrived, max_len LearnMaxLen bytes (the headers), before being
// forwarded: the controller reports its source MAC to the store (see
// ofctl's learner, which rate-limits and batches). A MAC learned there
// (priority PrioLearnedSrc: in_port, VLAN and eth_src) is forwarded
// without the copy. A frame from the segment whose source is the MAC of
// a port of the VN (priority PrioSpoofedSrc) is punted the same way but
// dropped: the known port wins, and the controller's report of the MAC
// is recorded as a conflict. Learned endpoints (model.LearnedEndpoint) are then
// forwarded like known ports' MACs on every NVE of the VN: to the segment
// VAP on the learning NVE, into the tunnel to the learning NVE elsewhere
// (only for frames from local VAPs: split horizon). A learned MAC that a
// port of the VN owns is skipped: the known port wins.
type segmentGateway struct{}

// Priorities of segment.go.
const (
	PrioSpoofedSrc   = 120 // classify: a known port's MAC from a segment (punted, dropped)
	PrioLearnedSrc   = 110 // classify: a learned source MAC from its segment
	PrioUnknownFlood = 10  // l2_forward: unknown unicast in a VN with segments
)

// LearnMaxLen is the bytes of a frame the learning punt sends to the
// controller: the Ethernet header with a VLAN tag and then some.
const LearnMaxLen = 64

func (segmentGateway) Name() string { return "L2 gateway segments" }
func (segmentGateway) Stages() []string {
	return []string{pipeline.Classify, pipeline.L2Forward}
}

func (segmentGateway) NVE(*nveCtx, *emitter) {}

// Port refuses, on each segment of the VN here, frames whose source is
// the port's MAC (priority PrioSpoofedSrc): a known port's MAC seen on a
// segment is a spoofer, a loop or a host nva's record does not match. The
// frame's headers go to the controller, which reports the MAC (the store
// records a conflict with the port), and the frame is dropped.
func (segmentGateway) Port(c *portCtx, out *emitter) {
	if len(c.part.segs) == 0 {
		return
	}
	mac, ok := c.part.port.MACAddr()
	if !ok {
		return
	}
	for _, v := range c.part.segs {
		out.flow(flow.Flow{Table: pipeline.Classify, Priority: PrioSpoofedSrc,
			Match:   flow.M(inPort(v.ofp), segmentVLAN(v), flow.Exact(flow.EthSrc, mac[:])),
			Actions: []flow.Action{flow.Output{Port: flow.PortController, MaxLen: LearnMaxLen}}})
	}
}

// segmentVLAN matches a segment VAP's VLAN (or untagged).
func segmentVLAN(v *vap) flow.MatchField {
	if v.vlan == 0 {
		return vlanNone()
	}
	return vlanTag(v.vlan)
}

// segmentVAPs are the VN's segment VAPs on this NVE (nil: none).
func segmentVAPs(st *vnView) []*vap {
	var out []*vap
	for i := range st.local {
		if st.local[i].segment {
			out = append(out, &st.local[i])
		}
	}
	return out
}

// segments hashes segment VAPs as a port's part reads them (nothing when
// there are none: parts of VNs without segments hash as before).
func (h *fnv64) segments(segs []*vap) {
	if len(segs) == 0 {
		return
	}
	h.byte(3)
	h.u64(uint64(len(segs)))
	for _, v := range segs {
		h.u64(uint64(v.ofp))
		h.u64(uint64(v.vlan))
	}
}

func (segmentGateway) VN(c *vnCtx, out *emitter) {
	vni := c.vni()
	for _, v := range c.local {
		if !v.segment {
			continue
		}
		var match flow.MatchField
		var pop []flow.Action
		if v.vlan == 0 {
			match = vlanNone()
		} else {
			match = vlanTag(v.vlan)
			pop = []flow.Action{flow.PopVLAN{}}
		}
		out.flow(flow.Flow{Table: pipeline.Classify, Priority: PrioNormal,
			Match:         flow.M(inPort(v.ofp), match),
			Actions:       append([]flow.Action{flow.Output{Port: flow.PortController, MaxLen: LearnMaxLen}}, pop...),
			WriteMetadata: metaContext(vni, false), MetadataMask: pipeline.MetaContext, Goto: pipeline.L2Forward})
		for _, d := range c.learned {
			if d.vap == nil || d.vap.port != v.port {
				continue
			}
			out.flow(flow.Flow{Table: pipeline.Classify, Priority: PrioLearnedSrc,
				Match:         flow.M(inPort(v.ofp), match, flow.Exact(flow.EthSrc, d.mac[:])),
				Actions:       pop,
				WriteMetadata: metaContext(vni, false), MetadataMask: pipeline.MetaContext, Goto: pipeline.L2Forward})
		}
	}
	for _, d := range c.learned {
		switch {
		case d.vap != nil:
			out.flow(flow.Flow{Table: pipeline.L2Forward, Priority: PrioNormal,
				Match: flow.M(metaVN(vni), flow.Exact(flow.EthDst, d.mac[:])), Actions: toVAP(*d.vap, d.vap.ofp)})
		case d.remote >= 0:
			out.flow(flow.Flow{Table: pipeline.L2Forward, Priority: PrioNormal,
				Match: flow.M(metaVNFrom(vni, false), flow.Exact(flow.EthDst, d.mac[:])), Actions: c.toRemote(d.remote)})
		}
	}
	if c.segments && c.vn.Bridged() {
		out.flow(flow.Flow{Table: pipeline.L2Forward, Priority: PrioUnknownFlood,
			Match: flow.M(metaVNFrom(vni, false)), Actions: []flow.Action{flow.Group{ID: FloodGroupID(vni, false)}}})
		if len(c.remotes) > 0 {
			out.flow(flow.Flow{Table: pipeline.L2Forward, Priority: PrioUnknownFlood,
				Match: flow.M(metaVNFrom(vni, true)), Actions: []flow.Action{flow.Group{ID: FloodGroupID(vni, true)}}})
		}
	}
}

// learnedDest is a learned endpoint of a VN as this NVE forwards to it:
// out of a local segment VAP (vap), or into the tunnel to remote NVE
// remote (an index into vnView.remotes; -1: none).
type learnedDest struct {
	ep     *model.LearnedEndpoint
	mac    [6]byte
	vap    *vap
	remote int
}

// resolveLearned fills st.learned with the VN's learned endpoints this NVE
// forwards to (by MAC): learned through a segment VAP attached here, or on
// a reachable remote NVE of the VN; a MAC a port of the VN owns, an
// invalid one, one learned behind a segment port that no longer is one
// of the VN on that NVE, or one learned here through a segment not
// attached here is skipped. It also sets st.segments.
func (v *nveView) resolveLearned(st *vnView) {
	s := v.in.Snapshot
	for _, p := range s.PortsIn(st.name) {
		if p.IsSegment() || isVTEPVAP(s, p) {
			st.segments = true
			break
		}
	}
	eps := s.LearnedIn(st.name)
	if len(eps) == 0 {
		return
	}
	if len(eps) > 0 {
		st.segments = true // learned endpoints exist only behind segments or VTEPs
	}
	for _, e := range eps {
		mac, ok := e.MACAddr()
		if !ok || s.PortByMAC(st.name, mac) != nil {
			continue
		}
		if e.Via != model.ViaVTEP {
			// Learned behind a segment port that is gone or moved: not
			// forwarded (the store ages it out).
			if p := s.Ports.Get(e.Via); p == nil || !p.IsSegment() || p.NVE != e.NVE || p.VN != st.name {
				continue
			}
		}
		d := learnedDest{ep: e, mac: mac, remote: -1}
		if e.NVE == v.in.NVE {
			for i := range st.local {
				if a := &st.local[i]; a.segment && a.port.Name == e.Via {
					d.vap = a
				}
			}
			if d.vap == nil {
				continue
			}
		} else {
			for i := range st.remotes {
				if st.remotes[i].nve.Name == e.NVE {
					d.remote = i
				}
			}
			if d.remote < 0 {
				continue
			}
		}
		st.learned = append(st.learned, d)
	}
}

// learned hashes the VN's learned endpoints as resolved (MAC, where) and
// whether it has segments.
func (h *fnv64) learned(st *vnView) {
	h.bool(st.segments)
	h.u64(uint64(len(st.learned)))
	for _, d := range st.learned {
		h.str(net.HardwareAddr(d.mac[:]).String())
		h.str(d.ep.NVE)
		h.str(d.ep.Via)
		h.u64(uint64(d.remote + 1))
		if d.vap != nil {
			h.u64(uint64(d.vap.ofp))
			h.u64(uint64(d.vap.vlan))
		}
	}
}

// Segment returns the segment port whose VAP is (OpenFlow port inPort,
// VLAN vlan; 0: untagged) as the last Compile attached it: the port a
// learning packet-in from classify came from.
func (c *Cache) Segment(inPort uint32, vlan int) (*model.Port, bool) {
	for _, a := range c.lastVAPs {
		if a.segment && a.ofp == inPort && a.vlan == vlan {
			return a.port, true
		}
	}
	return nil, false
}
