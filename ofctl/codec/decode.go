package codec

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/nva-project/nva/app/flow"
)

// Decoding works on raw wire bytes rather than libOpenflow's parsed
// structs: libOpenflow v0.15.0 decodes every MAC-valued field (eth_src,
// eth_dst, arp_sha/tha, nd_sll/tll) to zeros and mis-sizes pop_vlan, which
// would make nva see drift that isn't there. Every read is bounds-checked;
// malformed input is an error, never a panic.

// ErrMalformed is wrapped by every error about bytes that are not valid
// OpenFlow 1.3.
var ErrMalformed = errors.New("malformed openflow structure")

// OpenFlow 1.3 wire constants used by the decoder.
const (
	ofptFlowMod        = 14
	ofptGroupMod       = 15
	oxmClassExperiment = 0xffff
	instrGoto          = 1
	instrWriteMetadata = 2
	instrApplyActions  = 4
	actOutput          = 0
	actPushVLAN        = 17
	actPopVLAN         = 18
	actGroup           = 22
	actDecNwTTL        = 24
	actSetField        = 25
	actExperimenter    = 0xffff
	nxVendor           = 0x00002320
	nxastRegMove       = 6
	nxastRegLoad       = 7
	nxastRegLoad2      = 33
	ofpVersion13       = 4
)

// FlowStats are the counters of one installed flow entry.
type FlowStats struct {
	DurationSec  uint32
	DurationNSec uint32
	IdleTimeout  uint16
	HardTimeout  uint16
	Flags        uint16
	Packets      uint64
	Bytes        uint64
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// DecodeFlowStatsEntry decodes one ofp_flow_stats entry (as returned by
// conn.Switch.FlowStatsRaw) to canonical IR and its counters. tableNames
// maps table numbers to pipeline names (UnnamedTable for the rest).
//
// When the match decodes but the instructions or actions are not
// representable in nva's IR, it returns the flow's key (table, priority,
// match, cookie) with a *PartialError, so a caller can still replace or
// delete the entry.
func DecodeFlowStatsEntry(b []byte, tableNames func(uint8) string) (flow.Flow, FlowStats, error) {
	var st FlowStats
	if len(b) < 56 {
		return flow.Flow{}, st, malformed("flow stats entry of %d bytes", len(b))
	}
	l := int(binary.BigEndian.Uint16(b[0:]))
	if l < 56 || l > len(b) {
		return flow.Flow{}, st, malformed("flow stats entry length %d (have %d bytes)", l, len(b))
	}
	b = b[:l]
	st = FlowStats{
		DurationSec:  binary.BigEndian.Uint32(b[4:]),
		DurationNSec: binary.BigEndian.Uint32(b[8:]),
		IdleTimeout:  binary.BigEndian.Uint16(b[14:]),
		HardTimeout:  binary.BigEndian.Uint16(b[16:]),
		Flags:        binary.BigEndian.Uint16(b[18:]),
		Packets:      binary.BigEndian.Uint64(b[32:]),
		Bytes:        binary.BigEndian.Uint64(b[40:]),
	}
	f, err := decodeFlowBody(b[2], binary.BigEndian.Uint16(b[12:]), binary.BigEndian.Uint64(b[24:]), b[48:], tableNames)
	return f, st, err
}

// DecodeFlowModBytes decodes a marshalled FLOW_MOD (header included) to
// canonical IR: for tests, message capture and logs.
func DecodeFlowModBytes(b []byte, tableNames func(uint8) string) (flow.Flow, uint8, error) {
	if len(b) < 56 || b[0] != ofpVersion13 || b[1] != ofptFlowMod {
		return flow.Flow{}, 0, malformed("not an OpenFlow 1.3 FLOW_MOD")
	}
	l := int(binary.BigEndian.Uint16(b[2:]))
	if l < 56 || l > len(b) {
		return flow.Flow{}, 0, malformed("flow mod length %d (have %d bytes)", l, len(b))
	}
	b = b[:l]
	cmd := b[25]
	f, err := decodeFlowBody(b[24], binary.BigEndian.Uint16(b[30:]), binary.BigEndian.Uint64(b[8:]), b[48:], tableNames)
	return f, cmd, err
}

// decodeFlowBody decodes match + instructions.
func decodeFlowBody(table uint8, prio uint16, cookie uint64, rest []byte, tableNames func(uint8) string) (flow.Flow, error) {
	f := flow.Flow{Table: tableName(table, tableNames), Priority: prio, Cookie: cookie}
	m, n, err := decodeMatchBytes(rest)
	if err != nil {
		return f, fmt.Errorf("flow in table %d priority %d: %w", table, prio, err)
	}
	f.Match = m
	rest = rest[n:]
	for len(rest) > 0 {
		if len(rest) < 4 {
			return f, malformed("instruction truncated")
		}
		typ := binary.BigEndian.Uint16(rest[0:])
		il := int(binary.BigEndian.Uint16(rest[2:]))
		if il < 8 || il%8 != 0 || il > len(rest) {
			return f, malformed("instruction type %d length %d", typ, il)
		}
		ins := rest[:il]
		rest = rest[il:]
		switch typ {
		case instrGoto:
			f.Goto = tableName(ins[4], tableNames)
		case instrWriteMetadata:
			if il < 24 {
				return f, malformed("write-metadata instruction of %d bytes", il)
			}
			f.MetadataMask = binary.BigEndian.Uint64(ins[16:])
			f.WriteMetadata = binary.BigEndian.Uint64(ins[8:]) & f.MetadataMask
		case instrApplyActions:
			acts, err := decodeActionList(ins[8:])
			if err != nil {
				if errors.Is(err, ErrMalformed) {
					return f, err
				}
				return f, &PartialError{Flow: describe(f), Err: err}
			}
			nameCTTables(acts, tableNames) // ct.go
			f.Actions = append(f.Actions, acts...)
		default:
			return f, &PartialError{Flow: describe(f), Err: fmt.Errorf("instruction type %d is not representable", typ)}
		}
	}
	return Canonical(f), nil
}

// decodeMatchBytes decodes an ofp_match (OXM) and returns how many bytes it
// occupies (padding included).
func decodeMatchBytes(b []byte) (flow.Match, int, error) {
	if len(b) < 4 {
		return flow.Match{}, 0, malformed("match truncated")
	}
	if t := binary.BigEndian.Uint16(b[0:]); t != 1 {
		return flow.Match{}, 0, malformed("match type %d, want OXM (1)", t)
	}
	ml := int(binary.BigEndian.Uint16(b[2:]))
	padded := (ml + 7) / 8 * 8
	if ml < 4 || padded > len(b) {
		return flow.Match{}, 0, malformed("match length %d (have %d bytes)", ml, len(b))
	}
	// The fields point into b: MNorm copies them into the packed match.
	var buf [12]flow.MatchField
	fs := buf[:0]
	var seen uint64
	for p := 4; p < ml; {
		s, v, mask, n, err := decodeOXM(b[p:ml])
		if err != nil {
			return flow.Match{}, 0, fmt.Errorf("match: %w", err)
		}
		if o := flow.FieldOrder(s.Name); o < 64 {
			if seen&(1<<o) != 0 {
				return flow.Match{}, 0, malformed("match: field %s appears twice", s.Name)
			}
			seen |= 1 << o
		}
		fs = append(fs, flow.MatchField{Field: s.Name, Value: v, Mask: mask})
		p += n
	}
	return flow.MNorm(fs...), padded, nil
}

// decodeOXM decodes one OXM TLV (header, value, optional mask).
func decodeOXM(b []byte) (s *flow.FieldSpec, value, mask []byte, n int, err error) {
	if len(b) < 4 {
		return nil, nil, nil, 0, malformed("OXM header truncated")
	}
	class := binary.BigEndian.Uint16(b[0:])
	field := b[2] >> 1
	hasMask := b[2]&1 == 1
	l := int(b[3])
	if 4+l > len(b) {
		return nil, nil, nil, 0, malformed("OXM class %#x field %d length %d overruns", class, field, l)
	}
	body := b[4 : 4+l]
	if class == oxmClassExperiment {
		if l < 4 {
			return nil, nil, nil, 0, malformed("experimenter OXM field %d length %d", field, l)
		}
		s, err = specForExperimenter(binary.BigEndian.Uint32(body), field)
		body = body[4:]
	} else {
		s, err = specFor(class, field)
	}
	if err != nil {
		return nil, nil, nil, 0, err
	}
	want := s.Bytes
	if hasMask {
		want *= 2
	}
	if len(body) != want {
		return nil, nil, nil, 0, malformed("OXM %s length %d, want %d", s.Name, l, want)
	}
	value = append([]byte(nil), body[:s.Bytes]...)
	if hasMask {
		mask = append([]byte(nil), body[s.Bytes:]...)
	}
	return s, value, mask, 4 + l, nil
}

// decodeOXMHeader decodes a 4-byte field reference (as in reg_move).
func decodeOXMHeader(b []byte) (*flow.FieldSpec, error) {
	class := binary.BigEndian.Uint16(b[0:])
	if class == oxmClassExperiment {
		return nil, fmt.Errorf("experimenter OXM reference (field %d) is not supported in moves", b[2]>>1)
	}
	return specFor(class, b[2]>>1)
}

// decodeActionList decodes a list of actions. Errors wrapping ErrMalformed
// are about bytes; others are about valid actions the IR can't represent.
func decodeActionList(b []byte) ([]flow.Action, error) {
	var out []flow.Action
	for i := 0; len(b) > 0; i++ {
		if len(b) < 8 {
			return nil, malformed("action %d truncated", i)
		}
		typ := binary.BigEndian.Uint16(b[0:])
		al := int(binary.BigEndian.Uint16(b[2:]))
		if al < 8 || al%8 != 0 || al > len(b) {
			return nil, malformed("action %d type %d length %d", i, typ, al)
		}
		a, err := decodeOneAction(typ, b[:al])
		if err != nil {
			return nil, fmt.Errorf("action %d: %w", i, err)
		}
		out = append(out, a)
		b = b[al:]
	}
	return out, nil
}

func decodeOneAction(typ uint16, a []byte) (flow.Action, error) {
	switch typ {
	case actOutput:
		if len(a) < 16 {
			return nil, malformed("output action of %d bytes", len(a))
		}
		o := flow.Output{Port: binary.BigEndian.Uint32(a[4:])}
		if o.Port == flow.PortController {
			o.MaxLen = binary.BigEndian.Uint16(a[8:])
		}
		return o, nil
	case actGroup:
		return flow.Group{ID: binary.BigEndian.Uint32(a[4:])}, nil
	case actPushVLAN:
		return flow.PushVLAN{EtherType: binary.BigEndian.Uint16(a[4:])}, nil
	case actPopVLAN:
		return flow.PopVLAN{}, nil
	case actDecNwTTL:
		return flow.DecTTL{}, nil
	case actSetField:
		s, v, mask, _, err := decodeOXM(a[4:])
		if err != nil {
			return nil, fmt.Errorf("set_field: %w", err)
		}
		if mask != nil && !allOnes(mask) {
			return nil, fmt.Errorf("set_field %s: masked set-field is not representable", s.Name)
		}
		return flow.SetField{Field: s.Name, Value: v}, nil
	case actExperimenter:
		if len(a) < 16 {
			return nil, malformed("experimenter action of %d bytes", len(a))
		}
		if v := binary.BigEndian.Uint32(a[4:]); v != nxVendor {
			return nil, fmt.Errorf("experimenter action of vendor %#x is not representable", v)
		}
		return decodeNXAction(binary.BigEndian.Uint16(a[8:]), a)
	default:
		return nil, fmt.Errorf("action type %d is not representable", typ)
	}
}

func decodeNXAction(sub uint16, a []byte) (flow.Action, error) {
	switch sub {
	case nxastRegMove:
		if len(a) < 24 {
			return nil, malformed("reg_move of %d bytes", len(a))
		}
		src, err := decodeOXMHeader(a[16:])
		if err != nil {
			return nil, fmt.Errorf("move source: %w", err)
		}
		dst, err := decodeOXMHeader(a[20:])
		if err != nil {
			return nil, fmt.Errorf("move destination: %w", err)
		}
		return flow.Move{Src: src.Name, Dst: dst.Name,
			Bits:   int(binary.BigEndian.Uint16(a[10:])),
			SrcOfs: int(binary.BigEndian.Uint16(a[12:])),
			DstOfs: int(binary.BigEndian.Uint16(a[14:]))}, nil
	case nxastRegLoad:
		// OVS may report a whole-field set as a Nicira load.
		if len(a) < 24 {
			return nil, malformed("reg_load of %d bytes", len(a))
		}
		ofsNbits := binary.BigEndian.Uint16(a[10:])
		dst, err := decodeOXMHeader(a[12:])
		if err != nil {
			return nil, fmt.Errorf("load: %w", err)
		}
		ofs, nbits := int(ofsNbits>>6), int(ofsNbits&0x3f)+1
		if ofs != 0 || nbits != dst.Bits || dst.Bytes > 8 {
			return nil, fmt.Errorf("load into %s[%d..%d]: partial load is not representable", dst.Name, ofs, ofs+nbits-1)
		}
		val := binary.BigEndian.Uint64(a[16:])
		v := make([]byte, dst.Bytes)
		for i := 0; i < dst.Bytes; i++ {
			v[dst.Bytes-1-i] = byte(val >> (8 * i))
		}
		return flow.SetField{Field: dst.Name, Value: v}, nil
	case nxastRegLoad2:
		s, v, mask, _, err := decodeOXM(a[10:])
		if err != nil {
			return nil, fmt.Errorf("load: %w", err)
		}
		if mask != nil && !allOnes(mask) {
			return nil, fmt.Errorf("load into %s: masked load is not representable", s.Name)
		}
		return flow.SetField{Field: s.Name, Value: v}, nil
	case nxastCT:
		return decodeCT(a) // ct.go
	default:
		return nil, fmt.Errorf("Nicira action subtype %d is not representable", sub)
	}
}

// DecodeGroupDescEntry decodes one ofp_group_desc entry (conn.GroupDesc.Raw)
// to canonical IR.
func DecodeGroupDescEntry(b []byte) (flow.GroupEntry, error) {
	if len(b) < 8 {
		return flow.GroupEntry{}, malformed("group desc entry of %d bytes", len(b))
	}
	l := int(binary.BigEndian.Uint16(b[0:]))
	if l < 8 || l > len(b) {
		return flow.GroupEntry{}, malformed("group desc length %d (have %d bytes)", l, len(b))
	}
	return decodeGroupBody(b[2], binary.BigEndian.Uint32(b[4:]), b[8:l])
}

// DecodeGroupModBytes decodes a marshalled GROUP_MOD (header included):
// for tests, message capture and logs.
func DecodeGroupModBytes(b []byte) (flow.GroupEntry, uint16, error) {
	if len(b) < 16 || b[0] != ofpVersion13 || b[1] != ofptGroupMod {
		return flow.GroupEntry{}, 0, malformed("not an OpenFlow 1.3 GROUP_MOD")
	}
	l := int(binary.BigEndian.Uint16(b[2:]))
	if l < 16 || l > len(b) {
		return flow.GroupEntry{}, 0, malformed("group mod length %d (have %d bytes)", l, len(b))
	}
	g, err := decodeGroupBody(b[10], binary.BigEndian.Uint32(b[12:]), b[16:l])
	return g, binary.BigEndian.Uint16(b[8:]), err
}

func decodeGroupBody(typ uint8, id uint32, b []byte) (flow.GroupEntry, error) {
	g := flow.GroupEntry{ID: id, Type: flow.GroupType(typ)}
	if g.Type > flow.GroupFastFailover {
		return g, fmt.Errorf("group %d: group type %d is not representable", id, typ)
	}
	for i := 0; len(b) > 0; i++ {
		if len(b) < 16 {
			return g, malformed("group %d bucket %d truncated", id, i)
		}
		bl := int(binary.BigEndian.Uint16(b[0:]))
		if bl < 16 || bl%8 != 0 || bl > len(b) {
			return g, malformed("group %d bucket %d length %d", id, i, bl)
		}
		acts, err := decodeActionList(b[16:bl])
		if err != nil {
			if errors.Is(err, ErrMalformed) {
				return g, fmt.Errorf("group %d bucket %d: %w", id, i, err)
			}
			return g, &PartialError{Flow: fmt.Sprintf("group %d bucket %d", id, i), Err: err}
		}
		g.Buckets = append(g.Buckets, flow.Bucket{
			Weight:     binary.BigEndian.Uint16(b[2:]),
			WatchPort:  binary.BigEndian.Uint32(b[4:]),
			WatchGroup: binary.BigEndian.Uint32(b[8:]),
			Actions:    acts,
		})
		b = b[bl:]
	}
	return CanonicalGroup(g), nil
}
