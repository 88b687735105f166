// Package icmp owns the ICMP errors nva's distributed anycast gateway
// sends for routed packets: it parses the frame of a routed packet whose
// TTL or hop limit expired (Ethernet, up to two VLAN tags, IPv4 or IPv6)
// and builds the ICMPv4 Time Exceeded (type 11, code 0; RFC 792) or
// ICMPv6 Time Exceeded (type 3, code 0; RFC 4443) that the gateway sends
// back to the packet's source. It does no I/O and imports only the
// standard library and app/neighbor (the ICMPv6 checksum); ofctl runs it
// on the l3_route stage's packet-ins (ofctl/ttlexceeded.go).
//
// What is answered follows RFC 1812 §4.3.2.7 and RFC 4443 §2.4(e): no
// error about an ICMP error (ICMPv4 types 3, 4, 5, 11, 12; ICMPv6 types
// below 128), about a fragment other than the first, or to a source that
// is not a unicast address (unspecified, multicast, broadcast, loopback);
// Parse returns ErrNotAnswered for those and ErrMalformed for frames it
// cannot read.
//
// The answer goes from the gateway MAC and gateway address to the
// packet's Ethernet source and IP source, keeps the packet's VLAN tags,
// and quotes the original IP header and the first 8 bytes of its payload
// (IPv4, RFC 792), or as much of the original packet as the frame holds,
// up to the IPv6 minimum MTU (IPv6, RFC 4443 §2.4(c)), with TTL / hop
// limit HopLimit and the checksums (IPv4 header, ICMPv4, ICMPv6 over the
// IPv6 pseudo-header) filled in.
package icmp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"

	nd "github.com/nva-project/nva/app/neighbor"
)

// Errors of Parse.
var (
	ErrMalformed   = errors.New("malformed frame")
	ErrNotAnswered = errors.New("no ICMP error is sent for this packet")
)

// HopLimit is the TTL / hop limit of the answers.
const HopLimit = 64

const (
	ethTypeVLAN  = 0x8100
	ethTypeQinQ  = 0x88a8
	ethTypeIPv4  = 0x0800
	ethTypeIPv6  = 0x86dd
	protoICMP    = 1
	protoICMPv6  = 58
	ipv6HdrLen   = 40
	ipv6MinMTU   = 1280
	icmpHdrLen   = 8
	typeTimeEx4  = 11
	typeTimeEx6  = 3
	ethHeaderLen = 14
)

// Expired is a routed packet whose TTL expired, as Parse read it.
type Expired struct {
	EthSrc net.HardwareAddr
	Tags   []byte     // the VLAN tags as they were in the frame (TPID+TCI each), empty when untagged
	Src    netip.Addr // the IP source: where the answer goes
	Dst    netip.Addr
	packet []byte // the IP packet (header onwards) as far as the frame holds it
	hdrLen int    // IPv4 header length
}

// Parse reads the frame of an expired routed packet.
func Parse(frame []byte) (*Expired, error) {
	if len(frame) < ethHeaderLen {
		return nil, fmt.Errorf("%w: %d bytes", ErrMalformed, len(frame))
	}
	e := &Expired{EthSrc: append(net.HardwareAddr(nil), frame[6:12]...)}
	off := 12
	et := binary.BigEndian.Uint16(frame[off:])
	for (et == ethTypeVLAN || et == ethTypeQinQ) && len(e.Tags) < 8 {
		if len(frame) < off+6 {
			return nil, fmt.Errorf("%w: truncated VLAN tag", ErrMalformed)
		}
		e.Tags = append(e.Tags, frame[off:off+4]...)
		off += 4
		et = binary.BigEndian.Uint16(frame[off:])
	}
	if e.EthSrc[0]&1 != 0 {
		return nil, fmt.Errorf("%w: group source MAC", ErrNotAnswered)
	}
	ip := frame[off+2:]
	var err error
	switch et {
	case ethTypeIPv4:
		err = e.parse4(ip)
	case ethTypeIPv6:
		err = e.parse6(ip)
	default:
		return nil, fmt.Errorf("%w: ethertype %#04x", ErrMalformed, et)
	}
	if err != nil {
		return nil, err
	}
	return e, nil
}

func (e *Expired) parse4(b []byte) error {
	if len(b) < 20 || b[0]>>4 != 4 || int(b[0]&0x0f)*4 < 20 || len(b) < int(b[0]&0x0f)*4 {
		return fmt.Errorf("%w: IPv4 header", ErrMalformed)
	}
	e.hdrLen = int(b[0]&0x0f) * 4
	e.Src, _ = netip.AddrFromSlice(b[12:16])
	e.Dst, _ = netip.AddrFromSlice(b[16:20])
	if !unicast(e.Src) || e.Src == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return fmt.Errorf("%w: source %s", ErrNotAnswered, e.Src)
	}
	if binary.BigEndian.Uint16(b[6:8])&0x1fff != 0 {
		return fmt.Errorf("%w: not the first fragment", ErrNotAnswered)
	}
	if b[9] == protoICMP && len(b) > e.hdrLen {
		switch b[e.hdrLen] {
		case 3, 4, 5, 11, 12:
			return fmt.Errorf("%w: an ICMP error (type %d)", ErrNotAnswered, b[e.hdrLen])
		}
	}
	// Quote the header and 8 bytes of payload (RFC 792), as far as present.
	e.packet = b[:min(len(b), e.hdrLen+8)]
	return nil
}

func (e *Expired) parse6(b []byte) error {
	if len(b) < ipv6HdrLen || b[0]>>4 != 6 {
		return fmt.Errorf("%w: IPv6 header", ErrMalformed)
	}
	e.Src, _ = netip.AddrFromSlice(b[8:24])
	e.Dst, _ = netip.AddrFromSlice(b[24:40])
	if !unicast(e.Src) {
		return fmt.Errorf("%w: source %s", ErrNotAnswered, e.Src)
	}
	// Walk the extension headers nva knows to the upper layer.
	next, off := b[6], ipv6HdrLen
walk:
	for {
		switch next {
		case 0, 43, 60: // hop-by-hop, routing, destination options
			if len(b) < off+8 {
				return fmt.Errorf("%w: truncated extension header", ErrMalformed)
			}
			next, off = b[off], off+8+int(b[off+1])*8
			continue
		case 44: // fragment
			if len(b) < off+8 {
				return fmt.Errorf("%w: truncated fragment header", ErrMalformed)
			}
			if binary.BigEndian.Uint16(b[off+2:off+4])&0xfff8 != 0 {
				return fmt.Errorf("%w: not the first fragment", ErrNotAnswered)
			}
			next, off = b[off], off+8
			continue
		case protoICMPv6:
			if len(b) > off && b[off] < 128 {
				return fmt.Errorf("%w: an ICMPv6 error (type %d)", ErrNotAnswered, b[off])
			}
		}
		break walk
	}
	e.packet = b[:min(len(b), ipv6MinMTU-ipv6HdrLen-icmpHdrLen)]
	return nil
}

func unicast(a netip.Addr) bool {
	return a.IsValid() && !a.IsUnspecified() && !a.IsMulticast() && !a.IsLoopback()
}

// TimeExceeded builds the answer to e from the gateway address gw (of e's
// family) and the gateway MAC mac.
func TimeExceeded(e *Expired, gw netip.Addr, mac net.HardwareAddr) ([]byte, error) {
	gw = gw.Unmap()
	if gw.Is4() != e.Src.Is4() || !gw.IsValid() {
		return nil, fmt.Errorf("gateway %s for a packet from %s: address families differ", gw, e.Src)
	}
	f := make([]byte, 0, ethHeaderLen+len(e.Tags)+ipv6HdrLen+icmpHdrLen+len(e.packet))
	f = append(f, e.EthSrc...)
	f = append(f, mac...)
	f = append(f, e.Tags...)
	msg := make([]byte, icmpHdrLen, icmpHdrLen+len(e.packet))
	msg = append(msg, e.packet...)
	if gw.Is4() {
		msg[0] = typeTimeEx4
		binary.BigEndian.PutUint16(msg[2:4], checksum(msg))
		f = binary.BigEndian.AppendUint16(f, ethTypeIPv4)
		h := make([]byte, 20)
		h[0] = 0x45
		h[1] = 0xc0 // internetwork control, as routers send ICMP errors
		binary.BigEndian.PutUint16(h[2:4], uint16(20+len(msg)))
		h[8], h[9] = HopLimit, protoICMP
		s, d := gw.As4(), e.Src.As4()
		copy(h[12:16], s[:])
		copy(h[16:20], d[:])
		binary.BigEndian.PutUint16(h[10:12], checksum(h))
		f = append(f, h...)
		return append(f, msg...), nil
	}
	msg[0] = typeTimeEx6
	binary.BigEndian.PutUint16(msg[2:4], nd.ICMPv6Checksum(gw, e.Src, msg))
	f = binary.BigEndian.AppendUint16(f, ethTypeIPv6)
	h := make([]byte, ipv6HdrLen)
	h[0] = 0x60
	binary.BigEndian.PutUint16(h[4:6], uint16(len(msg)))
	h[6], h[7] = protoICMPv6, HopLimit
	s, d := gw.As16(), e.Src.As16()
	copy(h[8:24], s[:])
	copy(h[24:40], d[:])
	f = append(f, h...)
	return append(f, msg...), nil
}

// checksum is the Internet checksum (RFC 1071) of b.
func checksum(b []byte) uint16 {
	var sum uint32
	for len(b) >= 2 {
		sum += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
