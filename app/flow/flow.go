package flow

import (
	"encoding/binary"
	"net"
	"net/netip"
)

// Value helpers: each returns the big-endian bytes of a field value.

// U8 encodes an 8-bit value.
func U8(v uint8) []byte { return []byte{v} }

// U16 encodes a 16-bit value.
func U16(v uint16) []byte { b := make([]byte, 2); binary.BigEndian.PutUint16(b, v); return b }

// U32 encodes a 32-bit value.
func U32(v uint32) []byte { b := make([]byte, 4); binary.BigEndian.PutUint32(b, v); return b }

// U64 encodes a 64-bit value.
func U64(v uint64) []byte { b := make([]byte, 8); binary.BigEndian.PutUint64(b, v); return b }

// MAC encodes an Ethernet address.
func MAC(m net.HardwareAddr) []byte { return append([]byte(nil), m...) }

// IP encodes an IPv4 (4 bytes) or IPv6 (16 bytes) address.
func IP(a netip.Addr) []byte { s := a.AsSlice(); return s }

// Special output ports (OpenFlow 1.3).
const (
	PortInPort     uint32 = 0xfffffff8
	PortController uint32 = 0xfffffffd
	PortLocal      uint32 = 0xfffffffe
	PortAny        uint32 = 0xffffffff
)

// Well-known values.
const (
	EthTypeIPv4 uint16 = 0x0800
	EthTypeARP  uint16 = 0x0806
	EthTypeIPv6 uint16 = 0x86dd
	EthTypeVLAN uint16 = 0x8100
	VIDPresent  uint16 = 0x1000 // OFPVID_PRESENT
	ProtoICMPv6 uint8  = 58
)

// Action is one OpenFlow action in an apply-actions list or a group bucket.
type Action interface{ isAction() }

// Output sends the packet to a port (or PortInPort, PortController...).
type Output struct {
	Port   uint32
	MaxLen uint16 // for PortController
}

// SetField sets a field to a value (OFPAT_SET_FIELD; Nicira fields are
// encoded with their NXM class and are OVS-only).
type SetField struct {
	Field string
	Value []byte
}

// Move copies Bits bits from Src[SrcOfs:] to Dst[DstOfs:] (Nicira
// NXAST_REG_MOVE; OVS only).
type Move struct {
	Src, Dst       string
	SrcOfs, DstOfs int
	Bits           int
}

// PushVLAN pushes an 802.1Q (or 802.1ad) header with the given TPID.
type PushVLAN struct{ EtherType uint16 }

// PopVLAN pops the outermost VLAN header.
type PopVLAN struct{}

// Group sends the packet to a group.
type Group struct{ ID uint32 }

// DecTTL decrements the IPv4 TTL or IPv6 hop limit (OFPAT_DEC_NW_TTL,
// standard OpenFlow 1.3; "dec_ttl" in ovs-ofctl). A packet whose TTL is 0
// or 1 is not decremented: the switch stops processing it (drops it, or
// sends it to a controller that asked for invalid-TTL packet-ins).
type DecTTL struct{}

func (Output) isAction()   {}
func (SetField) isAction() {}
func (Move) isAction()     {}
func (PushVLAN) isAction() {}
func (PopVLAN) isAction()  {}
func (Group) isAction()    {}
func (DecTTL) isAction()   {}

// Flow is one flow entry. Table is a pipeline table name; the pipeline maps
// it to a number for a given switch profile. Actions run as apply-actions,
// then metadata is written, then the packet goes to Goto (if set).
type Flow struct {
	Table    string
	Priority uint16
	Match    Match
	Actions  []Action
	// WriteMetadata, when MetadataMask is non-zero, writes metadata.
	WriteMetadata uint64
	MetadataMask  uint64
	Goto          string // next table name, or "" to end the pipeline
	Cookie        uint64
}

// GroupType is an OpenFlow group type.
type GroupType uint8

const (
	GroupAll          GroupType = 0
	GroupSelect       GroupType = 1
	GroupIndirect     GroupType = 2
	GroupFastFailover GroupType = 3
)

// Bucket is one group bucket.
type Bucket struct {
	Weight     uint16
	WatchPort  uint32 // PortAny when unused
	WatchGroup uint32
	Actions    []Action
}

// GroupEntry is one group table entry.
type GroupEntry struct {
	ID      uint32
	Type    GroupType
	Buckets []Bucket
}
