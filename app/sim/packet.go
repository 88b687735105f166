package sim

import (
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/nva-project/nva/app/flow"
)

// Packet is a packet as the pipeline sees it: its ingress port and the
// values of the fields it has (big-endian, flow.FieldSpec.Bytes long). A
// field the packet does not have (arp_tpa of an IPv4 packet) is absent and
// never matches. vlan_vid is always present: 0 when untagged, 0x1000|VID
// when tagged (OpenFlow 1.3's OFPVID_PRESENT form). metadata, tun_id,
// tun_src, tun_dst and the registers start at zero.
type Packet struct {
	InPort uint32
	Fields map[string][]byte
	// OuterTPID is the TPID of the outer tag (0: 0x8100) when vlan_vid
	// says the packet is tagged; Inner holds the tags beneath it (QinQ),
	// outermost first. push_vlan on a tagged packet moves the outer tag
	// into Inner; pop_vlan brings the first of Inner out.
	OuterTPID uint16
	Inner     []VLANTag
}

// VLANTag is one VLAN header beneath the outer one.
type VLANTag struct {
	TPID uint16
	VID  uint16 // with flow.VIDPresent
}

// TPID returns the outer tag's TPID (0 when untagged).
func (p Packet) TPID() uint16 {
	if be64(p.Fields[flow.VlanVID])&uint64(flow.VIDPresent) == 0 {
		return 0
	}
	if p.OuterTPID == 0 {
		return flow.EthTypeVLAN
	}
	return p.OuterTPID
}

// NewPacket returns a packet arriving on inPort with only the
// always-present fields set.
func NewPacket(inPort uint32) Packet {
	p := Packet{InPort: inPort, Fields: map[string][]byte{}}
	p.Fields[flow.InPort] = flow.U32(inPort)
	p.Fields[flow.VlanVID] = flow.U16(0)
	p.Fields[flow.Metadata] = flow.U64(0)
	p.Fields[flow.TunID] = flow.U64(0)
	p.Fields[flow.TunIPv4Src] = flow.U32(0)
	p.Fields[flow.TunIPv4Dst] = flow.U32(0)
	for _, r := range []string{flow.Reg0, flow.Reg1, flow.Reg2, flow.Reg3} {
		p.Fields[r] = flow.U32(0)
	}
	return p
}

// Clone returns a deep copy.
func (p Packet) Clone() Packet {
	c := Packet{InPort: p.InPort, Fields: make(map[string][]byte, len(p.Fields)), OuterTPID: p.OuterTPID, Inner: append([]VLANTag(nil), p.Inner...)}
	for k, v := range p.Fields {
		c.Fields[k] = append([]byte(nil), v...)
	}
	return c
}

// With returns a copy of p with field set to value.
func (p Packet) With(field string, value []byte) Packet {
	c := p.Clone()
	c.Fields[field] = append([]byte(nil), value...)
	return c
}

// Get returns a field's value (nil if absent).
func (p Packet) Get(field string) []byte { return p.Fields[field] }

// Text returns a field's value in ovs-ofctl text form ("" if absent).
func (p Packet) Text(field string) string {
	v, ok := p.Fields[field]
	if !ok {
		return ""
	}
	return flow.FormatValue(field, v)
}

// String lists the packet's fields in canonical order.
func (p Packet) String() string {
	names := make([]string, 0, len(p.Fields))
	for k := range p.Fields {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool { return flow.FieldOrder(names[i]) < flow.FieldOrder(names[j]) })
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + "=" + flow.FormatValue(n, p.Fields[n])
	}
	return strings.Join(parts, ",")
}

func mac(s string) []byte {
	m, err := net.ParseMAC(s)
	if err != nil || len(m) != 6 {
		panic("sim: bad MAC " + s)
	}
	return flow.MAC(m)
}

func ip(s string) []byte { return flow.IP(netip.MustParseAddr(s)) }

// Broadcast is the Ethernet broadcast address.
const Broadcast = "ff:ff:ff:ff:ff:ff"

// Eth builds an Ethernet frame of the given type.
func Eth(inPort uint32, src, dst string, ethType uint16) Packet {
	p := NewPacket(inPort)
	p.Fields[flow.EthSrc] = mac(src)
	p.Fields[flow.EthDst] = mac(dst)
	p.Fields[flow.EthType] = flow.U16(ethType)
	return p
}

// ARPRequest builds a broadcast ARP request from sha/spa for tpa.
func ARPRequest(inPort uint32, sha, spa, tpa string) Packet {
	p := Eth(inPort, sha, Broadcast, flow.EthTypeARP)
	p.Fields[flow.ARPOp] = flow.U16(1)
	p.Fields[flow.ARPSHA] = mac(sha)
	p.Fields[flow.ARPSPA] = ip(spa)
	p.Fields[flow.ARPTHA] = mac("00:00:00:00:00:00")
	p.Fields[flow.ARPTPA] = ip(tpa)
	return p
}

// IPv4 builds an IPv4 packet (protocol 6, TCP) between two hosts.
func IPv4(inPort uint32, srcMAC, dstMAC, src, dst string) Packet {
	p := Eth(inPort, srcMAC, dstMAC, flow.EthTypeIPv4)
	p.Fields[flow.IPProto] = flow.U8(6)
	p.Fields[flow.IPv4Src] = ip(src)
	p.Fields[flow.IPv4Dst] = ip(dst)
	p.Fields[flow.IPTTL] = flow.U8(64)
	return p
}

// UDP4 builds an IPv4 UDP packet.
func UDP4(inPort uint32, srcMAC, dstMAC, src, dst string, sport, dport uint16) Packet {
	p := IPv4(inPort, srcMAC, dstMAC, src, dst)
	p.Fields[flow.IPProto] = flow.U8(17)
	p.Fields[flow.UDPSrc] = flow.U16(sport)
	p.Fields[flow.UDPDst] = flow.U16(dport)
	return p
}

// IPv6 builds an IPv6 packet (next header 6, TCP) between two hosts.
func IPv6(inPort uint32, srcMAC, dstMAC, src, dst string) Packet {
	p := Eth(inPort, srcMAC, dstMAC, flow.EthTypeIPv6)
	p.Fields[flow.IPProto] = flow.U8(6)
	p.Fields[flow.IPv6Src] = ip(src)
	p.Fields[flow.IPv6Dst] = ip(dst)
	p.Fields[flow.IPTTL] = flow.U8(64)
	return p
}

// WithTTL returns p with its IPv4 TTL or IPv6 hop limit set to ttl.
func (p Packet) WithTTL(ttl uint8) Packet { return p.With(flow.IPTTL, flow.U8(ttl)) }

// SolicitedNode returns the solicited-node multicast address of a and its
// Ethernet multicast address.
func SolicitedNode(a string) (string, string) {
	t := netip.MustParseAddr(a).As16()
	sn := netip.AddrFrom16([16]byte{0xff, 0x02, 10: 0, 11: 1, 12: 0xff, 13: t[13], 14: t[14], 15: t[15]})
	m := net.HardwareAddr{0x33, 0x33, 0xff, t[13], t[14], t[15]}
	return sn.String(), m.String()
}

// NeighborSolicitation builds a multicast NS from srcMAC/src for target,
// with a source link-layer address option (srcMAC) unless src is ::.
func NeighborSolicitation(inPort uint32, srcMAC, src, target string) Packet {
	sn, snMAC := SolicitedNode(target)
	p := IPv6(inPort, srcMAC, snMAC, src, sn)
	p.Fields[flow.IPProto] = flow.U8(flow.ProtoICMPv6)
	p.Fields[flow.ICMPv6Type] = flow.U8(135)
	p.Fields[flow.ICMPv6Code] = flow.U8(0)
	p.Fields[flow.NDTarget] = ip(target)
	p.Fields[flow.NDReserved] = flow.U32(0)
	// As in OVS's flow key, an ND packet has both link-layer address
	// fields; the one its message type does not carry is zero.
	p.Fields[flow.NDTLL] = mac("00:00:00:00:00:00")
	if netip.MustParseAddr(src).IsUnspecified() {
		p.Fields[flow.NDSLL] = mac("00:00:00:00:00:00")
		p.Fields[flow.NDOptionsType] = flow.U8(0)
	} else {
		p.Fields[flow.NDSLL] = mac(srcMAC)
		p.Fields[flow.NDOptionsType] = flow.U8(1)
	}
	return p
}

// Tagged returns p with an 802.1Q tag carrying vid.
func (p Packet) Tagged(vid int) Packet {
	return p.With(flow.VlanVID, flow.U16(flow.VIDPresent|uint16(vid)))
}

// FromTunnel returns p as decapsulated by a flow-based tunnel port: it
// arrives on tunnelPort with tun_id=vni from underlay source tunSrc.
func (p Packet) FromTunnel(tunnelPort uint32, vni uint64, tunSrc string) Packet {
	c := p.With(flow.TunID, flow.U64(vni)).With(flow.TunIPv4Src, ip(tunSrc)).With(flow.InPort, flow.U32(tunnelPort))
	c.InPort = tunnelPort
	return c
}

// TraceFlow renders the packet as the flow argument of
// `ovs-appctl ofproto/trace BRIDGE FLOW`, so that the same packet can be
// traced through a real switch: in_port, the Ethernet, VLAN (as dl_vlan),
// ARP, IP, ICMPv6/ND and tunnel fields it has. Pipeline state (metadata,
// registers), unset tunnel fields and absent (zero) ND link-layer
// options are left out.
func (p Packet) TraceFlow() string {
	skip := map[string]bool{flow.Metadata: true, flow.Reg0: true, flow.Reg1: true, flow.Reg2: true, flow.Reg3: true,
		flow.VlanVID: true, flow.InPort: true, flow.NDReserved: true, flow.NDOptionsType: true}
	names := make([]string, 0, len(p.Fields))
	for k := range p.Fields {
		if !skip[k] {
			names = append(names, k)
		}
	}
	sort.Slice(names, func(i, j int) bool { return flow.FieldOrder(names[i]) < flow.FieldOrder(names[j]) })
	parts := []string{"in_port=" + flow.FormatValue(flow.InPort, flow.U32(p.InPort))}
	if v := p.Fields[flow.VlanVID]; len(v) == 2 && v[0]&0x10 != 0 {
		parts = append(parts, "dl_vlan="+strconv.Itoa(int(v[0]&0x0f)<<8|int(v[1])))
	}
	for _, n := range names {
		v := p.Fields[n]
		if (n == flow.TunID || n == flow.TunIPv4Src || n == flow.TunIPv4Dst || n == flow.NDSLL || n == flow.NDTLL) && allZero(v) {
			continue
		}
		parts = append(parts, n+"="+flow.FormatValue(n, v))
	}
	return strings.Join(parts, ",")
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}
