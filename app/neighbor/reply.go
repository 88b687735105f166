package neighbor

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
)

// Reply builds the answer to r saying that r.TargetIP is at mac: an ARP
// reply or a solicited Neighbor Advertisement, as an Ethernet frame with
// r's VLAN tags (see the package doc for the exact layout). It refuses a
// request whose ClassFor(mac) is not Answerable, and a mac that is not a
// 6-byte unicast address.
func Reply(r *Request, mac net.HardwareAddr) ([]byte, error) {
	if len(mac) != 6 || mac[0]&1 != 0 || isZero(mac) {
		return nil, fmt.Errorf("neighbor reply: target MAC %s is not a unicast Ethernet address", mac)
	}
	if c := r.ClassFor(mac); c != Answerable {
		return nil, fmt.Errorf("neighbor reply: %s %s for %s is not answered (%s)", r.Proto, opName(r), r.TargetIP, c)
	}
	switch r.Proto {
	case ARP:
		return arpReplyFrame(r, mac), nil
	case ND:
		return naFrame(r, mac), nil
	}
	return nil, fmt.Errorf("neighbor reply: unknown protocol %v", r.Proto)
}

func opName(r *Request) string {
	if r.Proto == ARP {
		return fmt.Sprintf("opcode %d", r.Op)
	}
	return fmt.Sprintf("ICMPv6 type %d", r.Op)
}

// ethHeader writes dst, src, r's tags and etype.
func ethHeader(r *Request, dst, src net.HardwareAddr, etype uint16) []byte {
	b := make([]byte, 0, ethHeaderLen+4*len(r.Tags))
	b = append(b, dst...)
	b = append(b, src...)
	for _, t := range r.Tags {
		b = binary.BigEndian.AppendUint16(b, t.TPID)
		b = binary.BigEndian.AppendUint16(b, t.TCI)
	}
	return binary.BigEndian.AppendUint16(b, etype)
}

func arpReplyFrame(r *Request, mac net.HardwareAddr) []byte {
	b := ethHeader(r, r.EthSrc, mac, EthTypeARP)
	b = binary.BigEndian.AppendUint16(b, 1) // Ethernet
	b = binary.BigEndian.AppendUint16(b, EthTypeIPv4)
	b = append(b, 6, 4)
	b = binary.BigEndian.AppendUint16(b, arpReply)
	tpa := r.TargetIP.As4()
	spa := r.SenderIP.As4()
	b = append(b, mac...)         // sha: the target's MAC
	b = append(b, tpa[:]...)      // spa: the target's address
	b = append(b, r.SenderMAC...) // tha: the requester
	b = append(b, spa[:]...)      // tpa: the requester's address
	for len(b) < minFrame {
		b = append(b, 0)
	}
	return b
}

func naFrame(r *Request, mac net.HardwareAddr) []byte {
	const icmpLen = nsLen + 8 // one target link-layer address option
	b := ethHeader(r, r.EthSrc, mac, EthTypeIPv6)
	b = append(b, 0x60, 0, 0, 0) // version 6, traffic class 0, flow label 0
	b = binary.BigEndian.AppendUint16(b, icmpLen)
	b = append(b, protoICMPv6, 255)
	src, dst := r.TargetIP.As16(), r.SenderIP.As16()
	b = append(b, src[:]...)
	b = append(b, dst[:]...)
	icmp := len(b)
	b = append(b, icmp6NA, 0, 0, 0) // type, code, checksum (below)
	b = binary.BigEndian.AppendUint32(b, NAFlagsSO)
	b = append(b, src[:]...) // target address
	b = append(b, ndOptTLL, 1)
	b = append(b, mac...)
	binary.BigEndian.PutUint16(b[icmp+2:], ICMPv6Checksum(r.TargetIP, r.SenderIP, b[icmp:]))
	return b
}

// ICMPv6Checksum is the ICMPv6 checksum of msg (its checksum field taken
// as zero) from src to dst: the ones' complement of the ones' complement
// sum over the IPv6 pseudo-header (source, destination, upper-layer length,
// next header 58) and the message (RFC 8200 §8.1, RFC 4443 §2.3).
func ICMPv6Checksum(src, dst netip.Addr, msg []byte) uint16 {
	var sum uint32
	add := func(b []byte) {
		for len(b) >= 2 {
			sum += uint32(binary.BigEndian.Uint16(b))
			b = b[2:]
		}
		if len(b) == 1 {
			sum += uint32(b[0]) << 8
		}
	}
	s, d := src.As16(), dst.As16()
	add(s[:])
	add(d[:])
	var tail [8]byte
	binary.BigEndian.PutUint32(tail[0:4], uint32(len(msg)))
	tail[7] = protoICMPv6
	add(tail[:])
	if len(msg) >= 4 {
		add(msg[:2])
		add(msg[4:]) // skip the checksum field
	} else {
		add(msg)
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
