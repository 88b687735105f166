package flow

// Format says how a field's value is written in text.
type Format int

const (
	FormatDec  Format = iota // decimal
	FormatHex                // 0x-prefixed hex
	FormatMAC                // aa:bb:cc:dd:ee:ff
	FormatIPv4               // dotted quad
	FormatIPv6               // RFC 5952
)

// OXM classes used by nva.
const (
	ClassNXM0       uint16 = 0x0000 // Nicira NXM_OF_* (OVS)
	ClassNXM1       uint16 = 0x0001 // Nicira NXM_NX_* (OVS only)
	ClassOpenFlow13 uint16 = 0x8000 // OFPXMC_OPENFLOW_BASIC
	// ClassExperimenter is OFPXMC_EXPERIMENTER: the OXM header is followed by
	// a 32-bit experimenter ID (FieldSpec.Experimenter), then the value.
	ClassExperimenter uint16 = 0xffff
)

// ExperimenterEricsson is the experimenter ID of the ERICOXM_OF_* fields
// (nd_reserved, nd_options_type) that Open vSwitch 2.11+ understands.
const ExperimenterEricsson uint32 = 0x00d0f0

// FieldSpec describes one match/set field: its name (the one ovs-ofctl
// accepts), width, OXM identity and text format.
type FieldSpec struct {
	Name   string
	Bits   int // significant bits
	Bytes  int // width of the value on the wire
	Class  uint16
	Field  uint8
	Format Format
	// Nicira is true for fields only Open vSwitch understands (NXM class);
	// a strict OF1.3 profile may not use them.
	Nicira bool
	// Experimenter is the experimenter ID when Class is ClassExperimenter.
	Experimenter uint32
}

// Field names. Every field nva uses is declared here and nowhere else.
const (
	InPort     = "in_port"
	Metadata   = "metadata"
	EthDst     = "eth_dst"
	EthSrc     = "eth_src"
	EthType    = "eth_type"
	VlanVID    = "vlan_vid"
	IPProto    = "ip_proto"
	IPv4Src    = "ip_src"
	IPv4Dst    = "ip_dst"
	ARPOp      = "arp_op"
	ARPSPA     = "arp_spa"
	ARPTPA     = "arp_tpa"
	ARPSHA     = "arp_sha"
	ARPTHA     = "arp_tha"
	IPv6Src    = "ipv6_src"
	IPv6Dst    = "ipv6_dst"
	ICMPv6Type = "icmpv6_type"
	ICMPv6Code = "icmpv6_code"
	NDTarget   = "nd_target"
	NDSLL      = "nd_sll"
	NDTLL      = "nd_tll"
	TunID      = "tun_id"
	TunIPv4Dst = "tun_dst"
	TunIPv4Src = "tun_src"
	Reg0       = "reg0"
	Reg1       = "reg1"
	Reg2       = "reg2"
	Reg3       = "reg3"
	UDPSrc     = "udp_src"
	UDPDst     = "udp_dst"
	// NDReserved is the 32-bit reserved word of an ND message, whose top bits
	// are the neighbor advertisement's R, S, O flags (ERICOXM, OVS 2.11+).
	NDReserved = "nd_reserved"
	// NDOptionsType is the type of the ND message's link-layer address
	// option: 1 source, 2 target (ERICOXM, OVS 2.11+).
	NDOptionsType = "nd_options_type"
	// IPTTL is the IPv4 TTL or IPv6 hop limit (NXM_NX_IP_TTL; OVS only).
	IPTTL = "nw_ttl"
	// TCPDst is the TCP destination port; CTState the connection
	// tracking state bits (NXM_NX_CT_STATE; OVS only, see CTNew...).
	TCPSrc  = "tcp_src"
	TCPDst  = "tcp_dst"
	CTState = "ct_state"
	// IPDSCP is the IPv4/IPv6 DSCP (6 bits; OXM IP_DSCP). nva matches it
	// only in live traces' temporary flows (app/trace TraceDSCP).
	IPDSCP = "ip_dscp"
)

// Connection tracking state bits of CTState.
const (
	CTNew         uint32 = 0x01
	CTEstablished uint32 = 0x02
	CTRelated     uint32 = 0x04
	CTReply       uint32 = 0x08
	CTInvalid     uint32 = 0x10
	CTTracked     uint32 = 0x20
)

var fieldSpecs = []FieldSpec{
	{Name: InPort, Bits: 32, Bytes: 4, Class: ClassOpenFlow13, Field: 0, Format: FormatDec},
	{Name: Metadata, Bits: 64, Bytes: 8, Class: ClassOpenFlow13, Field: 2, Format: FormatHex},
	{Name: EthDst, Bits: 48, Bytes: 6, Class: ClassOpenFlow13, Field: 3, Format: FormatMAC},
	{Name: EthSrc, Bits: 48, Bytes: 6, Class: ClassOpenFlow13, Field: 4, Format: FormatMAC},
	{Name: EthType, Bits: 16, Bytes: 2, Class: ClassOpenFlow13, Field: 5, Format: FormatHex},
	// vlan_vid carries OFPVID_PRESENT (0x1000) in its value, as in OF1.3.
	{Name: VlanVID, Bits: 13, Bytes: 2, Class: ClassOpenFlow13, Field: 6, Format: FormatHex},
	{Name: IPProto, Bits: 8, Bytes: 1, Class: ClassOpenFlow13, Field: 10, Format: FormatDec},
	{Name: IPv4Src, Bits: 32, Bytes: 4, Class: ClassOpenFlow13, Field: 11, Format: FormatIPv4},
	{Name: IPv4Dst, Bits: 32, Bytes: 4, Class: ClassOpenFlow13, Field: 12, Format: FormatIPv4},
	{Name: ARPOp, Bits: 16, Bytes: 2, Class: ClassOpenFlow13, Field: 21, Format: FormatDec},
	{Name: ARPSPA, Bits: 32, Bytes: 4, Class: ClassOpenFlow13, Field: 22, Format: FormatIPv4},
	{Name: ARPTPA, Bits: 32, Bytes: 4, Class: ClassOpenFlow13, Field: 23, Format: FormatIPv4},
	{Name: ARPSHA, Bits: 48, Bytes: 6, Class: ClassOpenFlow13, Field: 24, Format: FormatMAC},
	{Name: ARPTHA, Bits: 48, Bytes: 6, Class: ClassOpenFlow13, Field: 25, Format: FormatMAC},
	{Name: IPv6Src, Bits: 128, Bytes: 16, Class: ClassOpenFlow13, Field: 26, Format: FormatIPv6},
	{Name: IPv6Dst, Bits: 128, Bytes: 16, Class: ClassOpenFlow13, Field: 27, Format: FormatIPv6},
	{Name: ICMPv6Type, Bits: 8, Bytes: 1, Class: ClassOpenFlow13, Field: 29, Format: FormatDec},
	{Name: ICMPv6Code, Bits: 8, Bytes: 1, Class: ClassOpenFlow13, Field: 30, Format: FormatDec},
	{Name: NDTarget, Bits: 128, Bytes: 16, Class: ClassOpenFlow13, Field: 31, Format: FormatIPv6},
	{Name: NDSLL, Bits: 48, Bytes: 6, Class: ClassOpenFlow13, Field: 32, Format: FormatMAC},
	{Name: NDTLL, Bits: 48, Bytes: 6, Class: ClassOpenFlow13, Field: 33, Format: FormatMAC},
	{Name: TunID, Bits: 64, Bytes: 8, Class: ClassOpenFlow13, Field: 38, Format: FormatHex},
	{Name: TunIPv4Src, Bits: 32, Bytes: 4, Class: ClassNXM1, Field: 31, Format: FormatIPv4, Nicira: true},
	{Name: TunIPv4Dst, Bits: 32, Bytes: 4, Class: ClassNXM1, Field: 32, Format: FormatIPv4, Nicira: true},
	{Name: Reg0, Bits: 32, Bytes: 4, Class: ClassNXM1, Field: 0, Format: FormatHex, Nicira: true},
	{Name: Reg1, Bits: 32, Bytes: 4, Class: ClassNXM1, Field: 1, Format: FormatHex, Nicira: true},
	{Name: Reg2, Bits: 32, Bytes: 4, Class: ClassNXM1, Field: 2, Format: FormatHex, Nicira: true},
	{Name: Reg3, Bits: 32, Bytes: 4, Class: ClassNXM1, Field: 3, Format: FormatHex, Nicira: true},
	// Added after the first registry; appended so existing orders stay put.
	{Name: UDPSrc, Bits: 16, Bytes: 2, Class: ClassOpenFlow13, Field: 15, Format: FormatDec},
	{Name: UDPDst, Bits: 16, Bytes: 2, Class: ClassOpenFlow13, Field: 16, Format: FormatDec},
	{Name: NDReserved, Bits: 32, Bytes: 4, Class: ClassExperimenter, Field: 1, Format: FormatHex, Nicira: true, Experimenter: ExperimenterEricsson},
	{Name: NDOptionsType, Bits: 8, Bytes: 1, Class: ClassExperimenter, Field: 2, Format: FormatDec, Nicira: true, Experimenter: ExperimenterEricsson},
	{Name: IPTTL, Bits: 8, Bytes: 1, Class: ClassNXM1, Field: 29, Format: FormatDec, Nicira: true},
	{Name: TCPSrc, Bits: 16, Bytes: 2, Class: ClassOpenFlow13, Field: 13, Format: FormatDec},
	{Name: TCPDst, Bits: 16, Bytes: 2, Class: ClassOpenFlow13, Field: 14, Format: FormatDec},
	{Name: CTState, Bits: 32, Bytes: 4, Class: ClassNXM1, Field: 105, Format: FormatHex, Nicira: true},
	{Name: IPDSCP, Bits: 6, Bytes: 1, Class: ClassOpenFlow13, Field: 8, Format: FormatDec},
}

var (
	specByName  = map[string]*FieldSpec{}
	specByOXM   = map[[2]uint16]*FieldSpec{}
	fieldOrders = map[string]int{}
)

func init() {
	for i := range fieldSpecs {
		f := &fieldSpecs[i]
		specByName[f.Name] = f
		specByOXM[[2]uint16{f.Class, uint16(f.Field)}] = f
		fieldOrders[f.Name] = i
	}
}

// Spec returns the spec of a named field.
func Spec(name string) (*FieldSpec, bool) {
	f, ok := specByName[name]
	return f, ok
}

// SpecByOXM returns the spec of the field with the given OXM class and field.
func SpecByOXM(class uint16, field uint8) (*FieldSpec, bool) {
	f, ok := specByOXM[[2]uint16{class, uint16(field)}]
	return f, ok
}

// Specs returns every known field, in canonical order.
func Specs() []FieldSpec { return append([]FieldSpec(nil), fieldSpecs...) }

// FieldOrder is the canonical position of a field (matches sort by it).
func FieldOrder(name string) int {
	if o, ok := fieldOrders[name]; ok {
		return o
	}
	return len(fieldSpecs)
}
