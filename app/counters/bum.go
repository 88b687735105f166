package counters

import (
	"sort"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/model"
)

// BUM is the live replication of a VN's broadcast, unknown-unicast and
// multicast frames on one NVE, from its flood groups' statistics
// (compiler.FloodGroupID): Frames entered the group of frames from local
// VAPs, FramesFromTunnels the group of frames from tunnels (delivered to
// local VAPs only); UnderlayCopies is the packets of the buckets that
// send into a tunnel (copies to other NVEs or replicators), LocalCopies
// those of the buckets that deliver to a local VAP (or a split NVE's
// access link), in both groups. CompiledCopies is the number of tunnel
// buckets in the group of frames from local VAPs: underlay copies per
// frame as compiled, to compare with UnderlayCopies / Frames.
// RelayedCopies are a replicator's copies of frames from tunnels into
// tunnels (its re-replication, done by flow actions rather than a group,
// so read from flow statistics: a relay flow's packets times its tunnel
// outputs); they are not in UnderlayCopies.
type BUM struct {
	VN                string `json:"vn"`
	Frames            uint64 `json:"frames"`
	FramesFromTunnels uint64 `json:"frames_from_tunnels"`
	UnderlayCopies    uint64 `json:"underlay_copies"`
	LocalCopies       uint64 `json:"local_copies"`
	CompiledCopies    int    `json:"compiled_copies"`
	RelayedCopies     uint64 `json:"relayed_copies"`
}

// GroupStat is one installed group's statistics: packets the group
// processed and, in bucket order, the packets each bucket was applied to.
type GroupStat struct {
	GroupID uint32
	Packets uint64
	Buckets []uint64
}

// floodGroup is what a compiled flood group's statistics count.
type floodGroup struct {
	vn         string
	fromTunnel bool
	tunnel     []bool // per bucket: sends into a tunnel
}

// BUMIndex maps an NVE's flood groups to their VNs.
type BUMIndex struct {
	nve    string
	groups map[uint32]floodGroup
	copies map[string]int // compiled tunnel buckets per VN (frames from local VAPs)
	relay  map[uint64]relayFlow
}

// relayFlow is a replicator's flow sending BUM frames from tunnels into
// copies tunnels.
type relayFlow struct {
	vn     string
	copies uint64
}

// NewBUMIndex indexes the flood groups of NVE nve's compiled result res.
func NewBUMIndex(snap *model.Snapshot, nve string, res compiler.Result) *BUMIndex {
	ix := &BUMIndex{nve: nve, groups: map[uint32]floodGroup{}, copies: map[string]int{}, relay: map[uint64]relayFlow{}}
	for _, sl := range res.Slices {
		if sl.VN == "" || sl.Key != sl.VN {
			continue // flood groups are in the VN's shared part
		}
		vn := snap.VNs[sl.VN]
		if vn == nil {
			continue
		}
		// A replicator's relay flows: BUM (a masked eth_dst) into tunnels.
		for i := range sl.Flows {
			f := &sl.Flows[i]
			if m, ok := f.Match.Get(flow.EthDst); !ok || m.Mask == nil {
				continue
			}
			if n := tunnelCopies(f.Actions); n > 0 {
				ix.relay[f.Cookie] = relayFlow{vn: sl.VN, copies: uint64(n)}
			}
		}
		for _, g := range sl.Groups {
			var fromTunnel bool
			switch g.ID {
			case compiler.FloodGroupID(vn.VNI, false):
			case compiler.FloodGroupID(vn.VNI, true):
				fromTunnel = true
			default:
				continue
			}
			fg := floodGroup{vn: sl.VN, fromTunnel: fromTunnel, tunnel: make([]bool, len(g.Buckets))}
			for i, b := range g.Buckets {
				fg.tunnel[i] = intoTunnel(b.Actions)
				if fg.tunnel[i] && !fromTunnel {
					ix.copies[sl.VN]++
				}
			}
			if _, ok := ix.copies[sl.VN]; !ok {
				ix.copies[sl.VN] = 0
			}
			ix.groups[g.ID] = fg
		}
	}
	return ix
}

// tunnelCopies is the number of copies actions send into tunnels (each
// sets the tunnel ID before its output).
func tunnelCopies(acts []flow.Action) int {
	n := 0
	for _, a := range acts {
		if sf, ok := a.(flow.SetField); ok && sf.Field == flow.TunID {
			n++
		}
	}
	return n
}

// intoTunnel reports whether a bucket's actions send into a tunnel: every
// copy toward a remote NVE sets the tunnel ID (flow-based tunnels also set
// the destination; per-remote tunnel ports and multipath groups only the
// ID), a delivery to a VAP or a split NVE's access link never does.
func intoTunnel(acts []flow.Action) bool {
	return tunnelCopies(acts) > 0
}

// Attribute sums the switch's group statistics and nva's flow statistics
// (for relay flows) into the NVE's BUM counters, one per VN with flood
// groups, sorted by VN. Statistics of groups or flows the index does not
// know (not BUM, or of an older compile) are skipped; so are buckets
// beyond the compiled ones (a group being replaced).
func (ix *BUMIndex) Attribute(stats []GroupStat, flows []Stat) []BUM {
	by := map[string]*BUM{}
	for vn, n := range ix.copies {
		by[vn] = &BUM{VN: vn, CompiledCopies: n}
	}
	for _, f := range flows {
		if r, ok := ix.relay[f.Cookie]; ok && by[r.vn] != nil {
			by[r.vn].RelayedCopies += f.Packets * r.copies
		}
	}
	for _, s := range stats {
		fg, ok := ix.groups[s.GroupID]
		if !ok {
			continue
		}
		b := by[fg.vn]
		if fg.fromTunnel {
			b.FramesFromTunnels += s.Packets
		} else {
			b.Frames += s.Packets
		}
		for i, p := range s.Buckets {
			if i >= len(fg.tunnel) {
				break
			}
			if fg.tunnel[i] {
				b.UnderlayCopies += p
			} else {
				b.LocalCopies += p
			}
		}
	}
	out := make([]BUM, 0, len(by))
	for _, b := range by {
		out = append(out, *b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].VN < out[j].VN })
	return out
}
