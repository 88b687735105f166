package neighbor

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
)

// Ethernet types and protocol numbers the package reads.
const (
	EthTypeARP   = 0x0806
	EthTypeIPv4  = 0x0800
	EthTypeIPv6  = 0x86dd
	EthTypeVLAN  = 0x8100 // 802.1Q
	EthTypeQinQ  = 0x88a8 // 802.1ad service tag
	protoICMPv6  = 58
	icmp6NS      = 135
	icmp6NA      = 136
	ndOptSLL     = 1
	ndOptTLL     = 2
	arpRequest   = 1
	arpReply     = 2
	ethHeaderLen = 14
	arpLen       = 28
	ipv6Len      = 40
	nsLen        = 24 // ICMPv6 header (4) + reserved (4) + target (16)
	minFrame     = 60 // Ethernet minimum without FCS
	maxTags      = 2
)

// NAFlagsSO is the flags word of nva's advertisements: Solicited and
// Override set, Router clear (the value app/compiler's NDReservedSO puts in
// the in-switch answer).
const NAFlagsSO uint32 = 0x60000000

// Errors returned by Parse (wrapped with detail; test with errors.Is).
var (
	// ErrMalformed: the frame claims to be ARP or ICMPv6 but is truncated
	// or structurally invalid (see the package doc for the ND validity
	// rules).
	ErrMalformed = errors.New("malformed neighbor-discovery frame")
	// ErrNotNeighbor: the frame is neither ARP nor ICMPv6 (an IPv4 packet,
	// an IPv6 packet of another protocol, another ethertype).
	ErrNotNeighbor = errors.New("frame is neither ARP nor ICMPv6")
)

// Proto says which protocol a Request came in.
type Proto uint8

// Protocols.
const (
	ARP Proto = 1 + iota
	ND
)

func (p Proto) String() string {
	switch p {
	case ARP:
		return "arp"
	case ND:
		return "nd"
	}
	return fmt.Sprintf("proto(%d)", uint8(p))
}

// VLANTag is one VLAN tag as it was on the wire.
type VLANTag struct {
	TPID uint16 // 0x8100 or 0x88a8
	TCI  uint16 // PCP (3 bits), DEI (1), VID (12)
}

// VID is the tag's VLAN ID.
func (t VLANTag) VID() uint16 { return t.TCI & 0x0fff }

// Request is a parsed ARP packet or ICMPv6 message.
type Request struct {
	Proto  Proto
	Tags   []VLANTag // outermost first; nil when untagged
	EthDst net.HardwareAddr
	EthSrc net.HardwareAddr
	// Op is the ARP opcode (1 request, 2 reply, ...) or the ICMPv6 type
	// (135 NS, 136 NA, ...).
	Op uint16
	// SenderMAC is the ARP sender hardware address, or the NS source
	// link-layer address option (nil when the NS has none).
	SenderMAC net.HardwareAddr
	// SenderIP is the ARP sender protocol address, or the IPv6 source.
	SenderIP netip.Addr
	// TargetIP is the ARP target protocol address, or the NS target
	// (invalid for ICMPv6 messages other than NS).
	TargetIP netip.Addr
	// IPDst is the IPv6 destination (ND only).
	IPDst netip.Addr
	// HopLimit is the IPv6 hop limit (ND only).
	HopLimit uint8
	// arpOK: hardware and protocol types are Ethernet and IPv4.
	arpOK bool
}

// Class says whether a request may be answered and, if not, why.
type Class uint8

// Classes, in the order the in-switch responder's priorities check them
// (own address, then probes and DAD, then the missing option).
const (
	// Answerable: a request nva answers when it knows the target.
	Answerable Class = iota
	// NotRequest: an ARP opcode other than request, ARP for other than
	// Ethernet/IPv4, or an ICMPv6 message other than NS.
	NotRequest
	// OwnAddress: a request for the requester's own address (gratuitous
	// ARP; an NS whose source is its target; with ClassFor, a target
	// whose MAC is the requester's).
	OwnAddress
	// Probe: an ARP probe (sender IP 0.0.0.0, RFC 5227).
	Probe
	// DAD: a duplicate address detection NS (source ::, RFC 4862).
	DAD
	// NoSourceLL: an NS without a source link-layer address option.
	NoSourceLL
)

func (c Class) String() string {
	switch c {
	case Answerable:
		return "answerable"
	case NotRequest:
		return "not-request"
	case OwnAddress:
		return "own-address"
	case Probe:
		return "probe"
	case DAD:
		return "dad"
	case NoSourceLL:
		return "no-source-ll"
	}
	return fmt.Sprintf("class(%d)", uint8(c))
}

// Parse decodes an Ethernet frame carrying ARP or ICMPv6. A frame of
// another protocol gives ErrNotNeighbor; a truncated or invalid one
// ErrMalformed. ICMPv6 messages other than NS parse (with Op set to their
// type) and classify as NotRequest. The returned Request does not alias
// frame.
func Parse(frame []byte) (*Request, error) {
	if len(frame) < ethHeaderLen {
		return nil, fmt.Errorf("%w: %d bytes is shorter than an Ethernet header", ErrMalformed, len(frame))
	}
	r := &Request{
		EthDst: cloneMAC(frame[0:6]),
		EthSrc: cloneMAC(frame[6:12]),
	}
	if r.EthSrc[0]&1 != 0 {
		return nil, fmt.Errorf("%w: Ethernet source %s is a group address", ErrMalformed, r.EthSrc)
	}
	off := 12
	etype := binary.BigEndian.Uint16(frame[off:])
	for etype == EthTypeVLAN || etype == EthTypeQinQ {
		if len(r.Tags) == maxTags {
			return nil, fmt.Errorf("%w: more than %d VLAN tags", ErrNotNeighbor, maxTags)
		}
		if len(frame) < off+6 {
			return nil, fmt.Errorf("%w: VLAN tag truncated", ErrMalformed)
		}
		r.Tags = append(r.Tags, VLANTag{TPID: etype, TCI: binary.BigEndian.Uint16(frame[off+2:])})
		off += 4
		etype = binary.BigEndian.Uint16(frame[off:])
	}
	payload := frame[off+2:]
	switch etype {
	case EthTypeARP:
		r.Proto = ARP
		if err := r.parseARP(payload); err != nil {
			return nil, err
		}
		return r, nil
	case EthTypeIPv6:
		r.Proto = ND
		if err := r.parseIPv6(payload); err != nil {
			return nil, err
		}
		return r, nil
	}
	return nil, fmt.Errorf("%w: ethertype %#04x", ErrNotNeighbor, etype)
}

func (r *Request) parseARP(b []byte) error {
	if len(b) < 8 {
		return fmt.Errorf("%w: ARP header truncated (%d bytes)", ErrMalformed, len(b))
	}
	r.Op = binary.BigEndian.Uint16(b[6:8])
	htype, ptype, hlen, plen := binary.BigEndian.Uint16(b[0:2]), binary.BigEndian.Uint16(b[2:4]), b[4], b[5]
	if htype != 1 || ptype != EthTypeIPv4 || hlen != 6 || plen != 4 {
		// Open vSwitch does not parse these as ARP (arp_op reads 0): the
		// in-switch responder forwards them; so does a NotRequest.
		return nil
	}
	if len(b) < arpLen {
		return fmt.Errorf("%w: Ethernet/IPv4 ARP of %d bytes, want %d", ErrMalformed, len(b), arpLen)
	}
	r.arpOK = true
	r.SenderMAC = cloneMAC(b[8:14])
	r.SenderIP = netip.AddrFrom4([4]byte(b[14:18]))
	r.TargetIP = netip.AddrFrom4([4]byte(b[24:28]))
	return nil
}

func (r *Request) parseIPv6(b []byte) error {
	if len(b) < ipv6Len {
		return fmt.Errorf("%w: IPv6 header truncated (%d bytes)", ErrMalformed, len(b))
	}
	if b[0]>>4 != 6 {
		return fmt.Errorf("%w: IP version %d in an IPv6 ethertype", ErrMalformed, b[0]>>4)
	}
	plen := int(binary.BigEndian.Uint16(b[4:6]))
	if b[6] != protoICMPv6 {
		return fmt.Errorf("%w: IPv6 next header %d", ErrNotNeighbor, b[6])
	}
	if ipv6Len+plen > len(b) {
		return fmt.Errorf("%w: IPv6 payload length %d in %d bytes", ErrMalformed, plen, len(b)-ipv6Len)
	}
	r.HopLimit = b[7]
	r.SenderIP = netip.AddrFrom16([16]byte(b[8:24]))
	r.IPDst = netip.AddrFrom16([16]byte(b[24:40]))
	icmp := b[ipv6Len : ipv6Len+plen] // Ethernet padding after the payload is ignored
	if len(icmp) < 4 {
		return fmt.Errorf("%w: ICMPv6 header truncated", ErrMalformed)
	}
	r.Op = uint16(icmp[0])
	if icmp[0] != icmp6NS {
		return nil // classified NotRequest
	}
	// RFC 4861 §7.1.1 validity checks.
	if r.HopLimit != 255 {
		return fmt.Errorf("%w: NS with hop limit %d (must be 255)", ErrMalformed, r.HopLimit)
	}
	if icmp[1] != 0 {
		return fmt.Errorf("%w: NS with ICMPv6 code %d", ErrMalformed, icmp[1])
	}
	if len(icmp) < nsLen {
		return fmt.Errorf("%w: NS of %d bytes, want at least %d", ErrMalformed, len(icmp), nsLen)
	}
	r.TargetIP = netip.AddrFrom16([16]byte(icmp[8:24]))
	if r.TargetIP.IsMulticast() {
		return fmt.Errorf("%w: NS for multicast target %s", ErrMalformed, r.TargetIP)
	}
	for opts := icmp[nsLen:]; len(opts) > 0; {
		if len(opts) < 2 || opts[1] == 0 || int(opts[1])*8 > len(opts) {
			return fmt.Errorf("%w: ND option truncated or of length 0", ErrMalformed)
		}
		n := int(opts[1]) * 8
		if opts[0] == ndOptSLL && r.SenderMAC == nil && n == 8 {
			r.SenderMAC = cloneMAC(opts[2:8])
		}
		opts = opts[n:]
	}
	if r.SenderIP.IsUnspecified() && r.SenderMAC != nil {
		// RFC 4861 §7.1.1: no source link-layer option from ::.
		return fmt.Errorf("%w: NS from :: with a source link-layer option", ErrMalformed)
	}
	return nil
}

// Class classifies the request on its own (without knowing the target's
// MAC; see ClassFor).
func (r *Request) Class() Class {
	switch r.Proto {
	case ARP:
		switch {
		case !r.arpOK || r.Op != arpRequest:
			return NotRequest
		case r.SenderIP == r.TargetIP && !r.SenderIP.IsUnspecified():
			return OwnAddress
		case r.SenderIP.IsUnspecified():
			return Probe
		}
		return Answerable
	case ND:
		switch {
		case r.Op != icmp6NS:
			return NotRequest
		case r.SenderIP == r.TargetIP:
			return OwnAddress
		case r.SenderIP.IsUnspecified():
			return DAD
		case r.SenderMAC == nil || isZero(r.SenderMAC):
			return NoSourceLL
		}
		return Answerable
	}
	return NotRequest
}

// ClassFor is Class once the target's MAC is known: a request whose
// target's MAC is the requester's own (its Ethernet source or sender
// hardware address) is OwnAddress, as the in-switch responder's
// per-port own-address rule makes it.
func (r *Request) ClassFor(target net.HardwareAddr) Class {
	c := r.Class()
	if c == Answerable && (bytes.Equal(target, r.EthSrc) || bytes.Equal(target, r.SenderMAC)) {
		return OwnAddress
	}
	return c
}

func isZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

func cloneMAC(b []byte) net.HardwareAddr { return append(net.HardwareAddr(nil), b...) }
