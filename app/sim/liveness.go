package sim

import (
	"fmt"
	"hash/fnv"
	"slices"

	"github.com/nva-project/nva/app/flow"
)

// Port liveness and group bucket selection, the way Open vSwitch does it:
// a bucket is live when its watch port (if any) is live; a fast_failover
// group runs its first live bucket, a select group one live bucket chosen
// by a hash of the packet's flow fields (deterministic here: FNV-1a over
// the L2-L4 fields present, in a fixed order), an all group every bucket.
// Ports are live unless SetPortLive says otherwise (a tunnel port whose
// BFD session is down is not live on Open vSwitch).

// SetPortLive marks a port live or not.
func (s *Switch) SetPortLive(port uint32, live bool) {
	if s.down == nil {
		s.down = map[uint32]bool{}
	}
	if live {
		delete(s.down, port)
	} else {
		s.down[port] = true
	}
}

func (s *Switch) bucketLive(b flow.Bucket) bool {
	if b.WatchPort == 0 || b.WatchPort == flow.PortAny {
		return true
	}
	return !s.down[b.WatchPort]
}

// hashFields are the fields a select group hashes, in order.
var hashFields = []string{flow.EthSrc, flow.EthDst, flow.EthType, flow.IPv4Src, flow.IPv4Dst,
	flow.IPv6Src, flow.IPv6Dst, flow.IPProto, flow.TCPSrc, flow.TCPDst, flow.UDPSrc, flow.UDPDst}

// FlowHash is the hash a select group chooses its bucket by.
func FlowHash(p Packet) uint32 {
	h := fnv.New32a()
	for _, f := range hashFields {
		if v, ok := p.Fields[f]; ok {
			h.Write([]byte(f))
			h.Write(v)
		}
	}
	return h.Sum32()
}

// buckets returns the buckets a group runs for packet p.
func (s *Switch) buckets(g flow.GroupEntry, p Packet) []flow.Bucket {
	switch g.Type {
	case flow.GroupFastFailover:
		for _, b := range g.Buckets {
			if s.bucketLive(b) {
				return []flow.Bucket{b}
			}
		}
		return nil
	case flow.GroupSelect:
		var live []flow.Bucket
		for _, b := range g.Buckets {
			if s.bucketLive(b) && b.Weight > 0 {
				live = append(live, b)
			}
		}
		if len(live) == 0 {
			return nil
		}
		return live[int(FlowHash(p)%uint32(len(live))):][:1]
	case flow.GroupIndirect:
		return g.Buckets[:min(1, len(g.Buckets))]
	}
	return g.Buckets
}

// chosen describes, for the trace, the i-th bucket buckets returned.
func (s *Switch) chosen(g flow.GroupEntry, i int) string {
	var down []uint32
	for _, b := range g.Buckets {
		if !s.bucketLive(b) {
			down = append(down, b.WatchPort)
		}
	}
	slices.Sort(down)
	return fmt.Sprintf("%s group: bucket chosen (%d of %d live; watch ports down: %v)", map[flow.GroupType]string{
		flow.GroupSelect: "select", flow.GroupFastFailover: "fast_failover", flow.GroupIndirect: "indirect"}[g.Type],
		len(g.Buckets)-len(down), len(g.Buckets), down)
}

// SetPortAdminDown takes a port administratively down (OFPPC_PORT_DOWN,
// as nva's VAP error signalling does) or back up: the switch sends
// nothing out of a down port, and a port that is down is not live either.
func (s *Switch) SetPortAdminDown(port uint32, down bool) {
	if s.adminDown == nil {
		s.adminDown = map[uint32]bool{}
	}
	if down {
		s.adminDown[port] = true
	} else {
		delete(s.adminDown, port)
	}
	s.SetPortLive(port, !down)
}
