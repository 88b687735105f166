package codec

import (
	"encoding/binary"
	"fmt"

	"antrea.io/libOpenflow/openflow13"

	"github.com/nva-project/nva/app/flow"
)

// rawValue is a util.Message carrying a field value (or mask) as the raw
// big-endian bytes the IR already holds, so every registry field encodes
// the same way whatever libOpenflow's per-field types look like.
type rawValue []byte

func (r *rawValue) Len() uint16 { return uint16(len(*r)) }

func (r *rawValue) MarshalBinary() ([]byte, error) { return append([]byte(nil), (*r)...), nil }

func (r *rawValue) UnmarshalBinary(b []byte) error {
	*r = append(rawValue(nil), b...)
	return nil
}

// legacyAliases maps the older NXM headers of fields nva knows under an OXM
// identity to their registry name, so a switch that answers with the
// Nicira header of a field still decodes to the same IR.
var legacyAliases = map[[2]uint16]string{
	{flow.ClassNXM0, 1}:  flow.EthDst,
	{flow.ClassNXM0, 2}:  flow.EthSrc,
	{flow.ClassNXM0, 3}:  flow.EthType,
	{flow.ClassNXM0, 6}:  flow.IPProto,
	{flow.ClassNXM0, 7}:  flow.IPv4Src,
	{flow.ClassNXM0, 8}:  flow.IPv4Dst,
	{flow.ClassNXM0, 15}: flow.ARPOp,
	{flow.ClassNXM0, 16}: flow.ARPSPA,
	{flow.ClassNXM0, 17}: flow.ARPTPA,
	{flow.ClassNXM1, 16}: flow.TunID,
	{flow.ClassNXM1, 17}: flow.ARPSHA,
	{flow.ClassNXM1, 18}: flow.ARPTHA,
	{flow.ClassNXM1, 19}: flow.IPv6Src,
	{flow.ClassNXM1, 20}: flow.IPv6Dst,
	{flow.ClassNXM1, 21}: flow.ICMPv6Type,
	{flow.ClassNXM1, 22}: flow.ICMPv6Code,
	{flow.ClassNXM1, 23}: flow.NDTarget,
	{flow.ClassNXM1, 24}: flow.NDSLL,
	{flow.ClassNXM1, 25}: flow.NDTLL,
}

// specFor finds the registry spec for an OXM/NXM (class, field) pair.
func specFor(class uint16, field uint8) (*flow.FieldSpec, error) {
	if s, ok := flow.SpecByOXM(class, field); ok && s.Class != flow.ClassExperimenter {
		return s, nil
	}
	if class == classEricsson {
		return specForExperimenter(flow.ExperimenterEricsson, field)
	}
	if name, ok := legacyAliases[[2]uint16{class, uint16(field)}]; ok {
		if s, ok := flow.Spec(name); ok {
			return s, nil
		}
	}
	return nil, fmt.Errorf("field class 0x%04x field %d is not in nva's field registry", class, field)
}

// classEricsson is the OXM class of the ERICOXM_OF_* fields (nd_reserved,
// nd_options_type). Open vSwitch encodes them as a plain OXM class 0x1000
// — not as an experimenter OXM (class 0xffff + experimenter ID), which it
// rejects with OFPBMC_BAD_FIELD (checked with ovs-ofctl ofp-print, OVS
// 3.1). The registry describes them by experimenter ID 0x00d0f0; both
// spellings map here.
const classEricsson uint16 = 0x1000

// wireClass is the OXM class a field is sent with, and the experimenter ID
// to put after the header when it is a true experimenter OXM.
func wireClass(s *flow.FieldSpec) (class uint16, exp uint32, hasExp bool) {
	if s.Class == flow.ClassExperimenter {
		if s.Experimenter == flow.ExperimenterEricsson {
			return classEricsson, 0, false
		}
		return s.Class, s.Experimenter, true
	}
	return s.Class, 0, false
}

// specForExperimenter finds the registry spec of an experimenter OXM.
func specForExperimenter(exp uint32, field uint8) (*flow.FieldSpec, error) {
	if s, ok := flow.SpecByOXM(flow.ClassExperimenter, field); ok && s.Experimenter == exp {
		return s, nil
	}
	return nil, fmt.Errorf("experimenter %#x field %d is not in nva's field registry", exp, field)
}

// spec looks a field up by name and applies the Nicira policy.
func (c *Codec) spec(name, use string) (*flow.FieldSpec, error) {
	s, ok := flow.Spec(name)
	if !ok {
		return nil, fmt.Errorf("%s: unknown field %q", use, name)
	}
	if s.Nicira && !c.opts.AllowNicira {
		return nil, fmt.Errorf("%s: field %q is a Nicira extension, not allowed by this profile", use, name)
	}
	return s, nil
}

// oxmField builds a libOpenflow match field for a registry field (value
// and mask as the IR holds them: bytes, or a packed match's strings; an
// empty mask means exact).
func oxmField[T []byte | string](s *flow.FieldSpec, value, mask T) (openflow13.MatchField, error) {
	if len(value) != s.Bytes {
		return openflow13.MatchField{}, fmt.Errorf("field %s: value is %d bytes, want %d", s.Name, len(value), s.Bytes)
	}
	// An experimenter OXM (class 0xffff) carries its 32-bit experimenter
	// ID between header and value, counted in the length. libOpenflow's
	// MatchField does not write that ID, so it travels as the first four
	// bytes of the value here.
	class, exp, hasExp := wireClass(s)
	var prefix []byte
	if hasExp {
		prefix = binary.BigEndian.AppendUint32(nil, exp)
	}
	v := rawValue(append(prefix, value...))
	mf := openflow13.MatchField{Class: class, Field: s.Field, Length: uint8(len(prefix) + s.Bytes), Value: &v}
	if len(mask) > 0 {
		if len(mask) != s.Bytes {
			return openflow13.MatchField{}, fmt.Errorf("field %s: mask is %d bytes, want %d", s.Name, len(mask), s.Bytes)
		}
		m := rawValue(append([]byte(nil), mask...))
		mf.HasMask = true
		mf.Mask = &m
		mf.Length = uint8(len(prefix) + 2*s.Bytes)
	}
	return mf, nil
}

// headerOnly builds a field header (no value), as reg_move references it.
func headerOnly(s *flow.FieldSpec) *openflow13.MatchField {
	class, _, _ := wireClass(s)
	return &openflow13.MatchField{Class: class, Field: s.Field, Length: uint8(s.Bytes)}
}

// encodeMatch converts a canonical IR match.
func (c *Codec) encodeMatch(m flow.Match) (openflow13.Match, error) {
	out := *openflow13.NewMatch()
	var seen uint64 // registry positions (fields outside it fail in spec)
	for f := range m.Raw() {
		s, err := c.spec(f.Name, "match")
		if err != nil {
			return out, err
		}
		if o := flow.FieldOrder(f.Name); o < 64 {
			if seen&(1<<o) != 0 {
				return out, fmt.Errorf("match: field %q appears twice", f.Name)
			}
			seen |= 1 << o
		}
		mf, err := oxmField(s, f.Value, f.Mask)
		if err != nil {
			return out, fmt.Errorf("match: %w", err)
		}
		out.AddField(mf)
	}
	return out, nil
}

// isCanonicalMatch reports whether canonicalMatch(m) equals m (so m can
// stand for it): no value bit outside its mask, no all-zero mask (fields
// are in registry order and all-ones masks dropped in every flow.Match).
func isCanonicalMatch(m flow.Match) bool { return m.IsNorm() }

// canonicalMatch returns the canonical form: value bits outside the mask
// cleared, all-zero masks (wildcards) dropped with their field, all-ones
// masks dropped, fields in registry order.
func canonicalMatch(m flow.Match) flow.Match { return m.Norm() }
