package compiler

import (
	"net/netip"

	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/pipeline"
)

// Match and action helpers the features share.

// metaVN matches the VN regardless of where the packet came from.
func metaVN(vni uint32) flow.MatchField {
	return flow.Masked(flow.Metadata, flow.U64(pipeline.MetaVN.Put(uint64(vni))), flow.U64(pipeline.MetaVN.Mask()))
}

// metaVNFrom matches the VN and whether the packet came from a tunnel.
func metaVNFrom(vni uint32, fromTunnel bool) flow.MatchField {
	return flow.Masked(flow.Metadata, flow.U64(metaContext(vni, fromTunnel)), flow.U64(pipeline.MetaContext))
}

// metaVNOwnSrc matches a frame of the VN from a local VAP that sent it
// with the port's own source MAC (classify sets pipeline.MetaOwnSrc).
func metaVNOwnSrc(vni uint32) flow.MatchField {
	return flow.Masked(flow.Metadata, flow.U64(pipeline.MetaVN.Put(uint64(vni))|pipeline.MetaOwnSrc.Put(1)),
		flow.U64(pipeline.MetaVN.Mask()|pipeline.MetaOwnSrc.Mask()))
}

// metaOwnSrc matches a frame of any VN from a local VAP that sent it with
// the port's own source MAC.
func metaOwnSrc() flow.MatchField {
	return flow.Masked(flow.Metadata, flow.U64(pipeline.MetaOwnSrc.Put(1)), flow.U64(pipeline.MetaOwnSrc.Mask()))
}

// metaContext is the metadata classify writes for a VN.
func metaContext(vni uint32, fromTunnel bool) uint64 {
	v := pipeline.MetaVN.Put(uint64(vni))
	if fromTunnel {
		v |= pipeline.MetaFromTunnel.Put(1)
	}
	return v
}

func vlanNone() flow.MatchField { return flow.Exact(flow.VlanVID, flow.U16(0)) }

func vlanTag(vid int) flow.MatchField {
	return flow.Exact(flow.VlanVID, flow.U16(flow.VIDPresent|uint16(vid)))
}

func inPort(p uint32) flow.MatchField { return flow.Exact(flow.InPort, flow.U32(p)) }

func ethType(t uint16) flow.MatchField { return flow.Exact(flow.EthType, flow.U16(t)) }

// toVAP returns the actions that deliver a packet to a VAP (out of port).
func toVAP(v vap, port uint32) []flow.Action {
	if v.vlan == 0 {
		return []flow.Action{flow.Output{Port: port}}
	}
	return []flow.Action{flow.PushVLAN{EtherType: flow.EthTypeVLAN},
		flow.SetField{Field: flow.VlanVID, Value: flow.U16(flow.VIDPresent | uint16(v.vlan))},
		flow.Output{Port: port}}
}

// toRemote returns the actions that send a packet of VN vni into the
// tunnel to remote NVE r: with flow-based tunnels the tunnel ID and
// destination are set per packet; otherwise r.port is r's own tunnel port
// and only the (standard) tunnel ID is set.
func toRemote(c *nveCtx, vni uint32, r remoteNVE) []flow.Action {
	if r.link != linkNone {
		return toLink(r) // split.go
	}
	if r.group != 0 { // a multipath remote: its path group (multipath.go)
		return []flow.Action{
			flow.SetField{Field: flow.TunID, Value: flow.U64(uint64(vni))},
			flow.Group{ID: r.group},
		}
	}
	if c.pool != nil {
		return c.pool.remoteActions(c.prof.FlowTunnels, vni, r)
	}
	return tunnelActions(c.prof.FlowTunnels, vni, r)
}

// tunnelActions are toRemote's actions toward a remote reached by a tunnel
// port (flow-based or per remote).
func tunnelActions(flowTunnels bool, vni uint32, r remoteNVE) []flow.Action {
	if flowTunnels {
		return []flow.Action{
			flow.SetField{Field: flow.TunID, Value: flow.U64(uint64(vni))},
			flow.SetField{Field: flow.TunIPv4Dst, Value: flow.IP(r.ips[0])},
			flow.Output{Port: r.port},
		}
	}
	return []flow.Action{
		flow.SetField{Field: flow.TunID, Value: flow.U64(uint64(vni))},
		flow.Output{Port: r.port},
	}
}

var (
	ipv4Zero  = netip.IPv4Unspecified()
	ipv4Bcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})
	ipv6Zero  = netip.IPv6Unspecified()
	linkLocal = netip.MustParsePrefix("fe80::/10")
	zeroMAC   = make([]byte, 6)
)

func prefixMask(p netip.Prefix) []byte {
	bits := p.Addr().BitLen()
	m := make([]byte, bits/8)
	for i := 0; i < p.Bits(); i++ {
		m[i/8] |= 0x80 >> (i % 8)
	}
	return m
}
