package sim_test

import (
	"encoding/binary"
	"fmt"

	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/sim"
)

// Wire frames of the simulator's ARP and neighbor-discovery packets, so
// that a packet-in can be handed to app/neighbor (which works on frames)
// and its answer brought back into the simulator. Untagged only: the
// pipeline pops a VAP's tag before the neighbor stage.

// frameOf encodes an ARP packet or an ICMPv6 neighbor solicitation.
func frameOf(p sim.Packet) ([]byte, error) {
	b := append(append([]byte(nil), p.Get(flow.EthDst)...), p.Get(flow.EthSrc)...)
	if v := p.Get(flow.VlanVID); v[0]&0x10 != 0 {
		return nil, fmt.Errorf("tagged packet")
	}
	switch binary.BigEndian.Uint16(p.Get(flow.EthType)) {
	case flow.EthTypeARP:
		b = binary.BigEndian.AppendUint16(b, flow.EthTypeARP)
		b = append(b, 0, 1, 8, 0, 6, 4) // Ethernet, IPv4
		b = append(b, p.Get(flow.ARPOp)...)
		for _, f := range []string{flow.ARPSHA, flow.ARPSPA, flow.ARPTHA, flow.ARPTPA} {
			b = append(b, p.Get(f)...)
		}
		for len(b) < 60 {
			b = append(b, 0)
		}
		return b, nil
	case flow.EthTypeIPv6:
		if p.Get(flow.ICMPv6Type)[0] != 135 {
			return nil, fmt.Errorf("ICMPv6 type %d", p.Get(flow.ICMPv6Type)[0])
		}
		icmp := []byte{135, p.Get(flow.ICMPv6Code)[0], 0, 0, 0, 0, 0, 0}
		icmp = append(icmp, p.Get(flow.NDTarget)...)
		if sll := p.Get(flow.NDSLL); sll != nil && string(sll) != string(make([]byte, 6)) {
			icmp = append(append(icmp, 1, 1), sll...)
		}
		b = binary.BigEndian.AppendUint16(b, flow.EthTypeIPv6)
		b = append(b, 0x60, 0, 0, 0)
		b = binary.BigEndian.AppendUint16(b, uint16(len(icmp)))
		b = append(b, flow.ProtoICMPv6, 255)
		b = append(append(b, p.Get(flow.IPv6Src)...), p.Get(flow.IPv6Dst)...)
		return append(b, icmp...), nil
	}
	return nil, fmt.Errorf("not ARP or IPv6")
}

// packetOf decodes an untagged ARP packet or neighbor advertisement sent
// out of port out.
func packetOf(out uint32, b []byte) (sim.Packet, error) {
	if len(b) < 14 {
		return sim.Packet{}, fmt.Errorf("short frame")
	}
	p := sim.Eth(out, "00:00:00:00:00:00", "00:00:00:00:00:00", binary.BigEndian.Uint16(b[12:14]))
	p.Fields[flow.EthDst], p.Fields[flow.EthSrc] = b[0:6], b[6:12]
	body := b[14:]
	switch binary.BigEndian.Uint16(b[12:14]) {
	case flow.EthTypeARP:
		if len(body) < 28 {
			return sim.Packet{}, fmt.Errorf("short ARP")
		}
		p.Fields[flow.ARPOp] = body[6:8]
		p.Fields[flow.ARPSHA], p.Fields[flow.ARPSPA] = body[8:14], body[14:18]
		p.Fields[flow.ARPTHA], p.Fields[flow.ARPTPA] = body[18:24], body[24:28]
		return p, nil
	case flow.EthTypeIPv6:
		if len(body) < 40+24 || body[6] != flow.ProtoICMPv6 || body[40] != 136 {
			return sim.Packet{}, fmt.Errorf("not a neighbor advertisement")
		}
		icmp := body[40:]
		p.Fields[flow.IPProto] = flow.U8(flow.ProtoICMPv6)
		p.Fields[flow.IPv6Src], p.Fields[flow.IPv6Dst] = body[8:24], body[24:40]
		p.Fields[flow.ICMPv6Type], p.Fields[flow.ICMPv6Code] = icmp[0:1], icmp[1:2]
		p.Fields[flow.NDReserved], p.Fields[flow.NDTarget] = icmp[4:8], icmp[8:24]
		p.Fields[flow.NDSLL], p.Fields[flow.NDTLL] = make([]byte, 6), make([]byte, 6)
		p.Fields[flow.NDOptionsType] = flow.U8(0)
		if opts := icmp[24:]; len(opts) >= 8 && opts[0] == 2 && opts[1] == 1 {
			p.Fields[flow.NDOptionsType], p.Fields[flow.NDTLL] = opts[0:1], opts[2:8]
		}
		return p, nil
	}
	return sim.Packet{}, fmt.Errorf("not ARP or IPv6")
}
