package ofshim

import (
	"encoding/binary"
	"fmt"
)

// OpenFlow 1.3 wire constants the checks use (OpenFlow 1.3.5 §7). They are
// spelled out here rather than taken from libOpenflow so that the shim's
// verdicts do not depend on the codec nva itself uses.
const (
	ofVersion13 = 0x04
	headerLen   = 8

	typeError           = 1
	typeExperimenter    = 4
	typeFeaturesReply   = 6
	typePacketOut       = 13
	typeFlowMod         = 14
	typeGroupMod        = 15
	typeTableMod        = 17
	typeMultipartReq    = 18
	mpFlow              = 1
	mpAggregate         = 2
	mpExperimenter      = 0xffff
	tableAll            = 0xff
	flowModDelete       = 3
	flowModDeleteStrict = 4

	oxmClassBasic = 0x8000
	maxBasicField = 39 // OFPXMT_OFB_IPV6_EXTHDR, the last field OpenFlow 1.3 defines

	instGotoTable     = 1
	instWriteMetadata = 2
	instWriteActions  = 3
	instApplyActions  = 4
	instClearActions  = 5
	instMeter         = 6
	instExperimenter  = 0xffff

	actSetField     = 25
	actExperimenter = 0xffff

	onfExperimenterID    = 0x4f4e4600
	niciraExperimenterID = 0x00002320
)

// Error types and codes (OFPET_*, and the codes of each type) the shim
// answers with. OpenFlow 1.0 called the "experimenter" codes "vendor":
// OFPBRC_BAD_VENDOR and OFPBAC_BAD_VENDOR are the same numbers as 1.3's
// OFPBRC_BAD_EXPERIMENTER (3) and OFPBAC_BAD_EXPERIMENTER (2).
const (
	ErrTypeBadRequest     uint16 = 1
	ErrTypeBadAction      uint16 = 2
	ErrTypeBadInstruction uint16 = 3
	ErrTypeBadMatch       uint16 = 4
	ErrTypeFlowModFailed  uint16 = 5
	ErrTypeGroupModFailed uint16 = 6
	ErrTypeTableModFailed uint16 = 8

	CodeBadRequestLen          uint16 = 6 // OFPBRC_BAD_LEN
	CodeBadRequestExperimenter uint16 = 3 // OFPBRC_BAD_EXPERIMENTER (1.0: OFPBRC_BAD_VENDOR)
	CodeBadRequestTableID      uint16 = 9 // OFPBRC_BAD_TABLE_ID

	CodeBadActionType         uint16 = 0  // OFPBAC_BAD_TYPE
	CodeBadActionLen          uint16 = 1  // OFPBAC_BAD_LEN
	CodeBadActionExperimenter uint16 = 2  // OFPBAC_BAD_EXPERIMENTER (1.0: OFPBAC_BAD_VENDOR)
	CodeBadActionSetType      uint16 = 13 // OFPBAC_BAD_SET_TYPE

	CodeBadInstUnknown uint16 = 0 // OFPBIC_UNKNOWN_INST
	CodeBadInstUnsup   uint16 = 1 // OFPBIC_UNSUP_INST
	CodeBadInstTableID uint16 = 2 // OFPBIC_BAD_TABLE_ID
	CodeBadInstLen     uint16 = 7 // OFPBIC_BAD_LEN

	CodeBadMatchType  uint16 = 0 // OFPBMC_BAD_TYPE
	CodeBadMatchLen   uint16 = 1 // OFPBMC_BAD_LEN
	CodeBadMatchField uint16 = 6 // OFPBMC_BAD_FIELD

	CodeFlowModBadTableID uint16 = 2 // OFPFMFC_BAD_TABLE_ID
	CodeTableModBadTable  uint16 = 0 // OFPTMFC_BAD_TABLE
)

// Refusal reasons: the keys of Shim.Refused.
const (
	// An OFPT_EXPERIMENTER message: ONF bundles, Nicira messages, ...
	// (BAD_REQUEST / OFPBRC_BAD_EXPERIMENTER).
	ReasonExperimenterMessage = "experimenter-message"
	// A multipart request of type OFPMP_EXPERIMENTER (BAD_REQUEST /
	// OFPBRC_BAD_EXPERIMENTER).
	ReasonExperimenterMultipart = "experimenter-multipart"
	// A match (of a flow-mod or flow/aggregate stats request) with a field
	// outside OFPXMC_OPENFLOW_BASIC, or a basic field OpenFlow 1.3 does not
	// define (BAD_MATCH / OFPBMC_BAD_FIELD).
	ReasonMatchField = "match-field"
	// An experimenter action, Nicira's included (BAD_ACTION /
	// OFPBAC_BAD_EXPERIMENTER).
	ReasonExperimenterAction = "experimenter-action"
	// A set_field action whose OXM is not a standard field, e.g. Nicira's
	// tun_dst (BAD_ACTION / OFPBAC_BAD_SET_TYPE).
	ReasonSetFieldType = "set-field-type"
	// An action type OpenFlow 1.3 does not define (BAD_ACTION /
	// OFPBAC_BAD_TYPE).
	ReasonActionType = "action-type"
	// An experimenter instruction (BAD_INSTRUCTION / OFPBIC_UNSUP_INST).
	ReasonExperimenterInstruction = "experimenter-instruction"
	// An instruction type OpenFlow 1.3 does not define (BAD_INSTRUCTION /
	// OFPBIC_UNKNOWN_INST).
	ReasonInstructionType = "instruction-type"
	// A flow-mod, table-mod or flow/aggregate stats request for a table at
	// or beyond MaxTables (FLOW_MOD_FAILED / OFPFMFC_BAD_TABLE_ID,
	// TABLE_MOD_FAILED / OFPTMFC_BAD_TABLE, BAD_REQUEST /
	// OFPBRC_BAD_TABLE_ID).
	ReasonTableID = "table-id"
	// A goto_table at or beyond MaxTables (BAD_INSTRUCTION /
	// OFPBIC_BAD_TABLE_ID).
	ReasonGotoTable = "goto-table"
	// A structurally invalid message (a BAD_LEN code of the part at
	// fault).
	ReasonMalformed = "malformed"
)

// verdict is why a message is refused, and the error to answer with.
type verdict struct {
	reason  string
	errType uint16
	code    uint16
	detail  string
}

func refuse(reason string, typ, code uint16, format string, args ...any) *verdict {
	return &verdict{reason: reason, errType: typ, code: code, detail: fmt.Sprintf(format, args...)}
}

// check inspects one controller-to-switch message (version already known
// to be 1.3, length already framed) and returns nil if a strict OpenFlow
// 1.3 switch with maxTables tables would accept its form.
func check(b []byte, maxTables int) *verdict {
	switch b[1] {
	case typeExperimenter:
		if len(b) < 16 {
			return refuse(ReasonMalformed, ErrTypeBadRequest, CodeBadRequestLen, "experimenter message of %d bytes", len(b))
		}
		return refuse(ReasonExperimenterMessage, ErrTypeBadRequest, CodeBadRequestExperimenter, "%s",
			experimenterName(binary.BigEndian.Uint32(b[8:12]), binary.BigEndian.Uint32(b[12:16]), b))
	case typeFlowMod:
		return checkFlowMod(b, maxTables)
	case typeGroupMod:
		return checkGroupMod(b)
	case typePacketOut:
		if len(b) < 24 {
			return refuse(ReasonMalformed, ErrTypeBadRequest, CodeBadRequestLen, "packet-out of %d bytes", len(b))
		}
		alen := int(binary.BigEndian.Uint16(b[16:18]))
		if 24+alen > len(b) {
			return refuse(ReasonMalformed, ErrTypeBadRequest, CodeBadRequestLen, "packet-out actions_len %d in %d bytes", alen, len(b))
		}
		return checkActions(b[24:24+alen], "packet-out")
	case typeTableMod:
		if len(b) < 16 {
			return refuse(ReasonMalformed, ErrTypeBadRequest, CodeBadRequestLen, "table-mod of %d bytes", len(b))
		}
		if t := b[8]; t != tableAll && int(t) >= maxTables {
			return refuse(ReasonTableID, ErrTypeTableModFailed, CodeTableModBadTable, "table-mod for table %d (the profile has %d)", t, maxTables)
		}
	case typeMultipartReq:
		if len(b) < 16 {
			return refuse(ReasonMalformed, ErrTypeBadRequest, CodeBadRequestLen, "multipart request of %d bytes", len(b))
		}
		switch mp := binary.BigEndian.Uint16(b[8:10]); mp {
		case mpExperimenter:
			var exp uint32
			if len(b) >= 20 {
				exp = binary.BigEndian.Uint32(b[16:20])
			}
			return refuse(ReasonExperimenterMultipart, ErrTypeBadRequest, CodeBadRequestExperimenter, "experimenter multipart request, experimenter %#x", exp)
		case mpFlow, mpAggregate:
			body := b[16:]
			if len(body) < 40 {
				return refuse(ReasonMalformed, ErrTypeBadRequest, CodeBadRequestLen, "flow stats request body of %d bytes", len(body))
			}
			if t := body[0]; t != tableAll && int(t) >= maxTables {
				return refuse(ReasonTableID, ErrTypeBadRequest, CodeBadRequestTableID, "stats request for table %d (the profile has %d)", t, maxTables)
			}
			_, v := checkMatch(body[32:], "stats request")
			return v
		}
	}
	return nil
}

// experimenterName names the well-known experimenter messages nva's
// connection layer could send.
func experimenterName(exp, subtype uint32, b []byte) string {
	switch exp {
	case onfExperimenterID:
		switch subtype {
		case 2300:
			kind := "control"
			if len(b) >= 22 {
				kind = map[uint16]string{0: "open", 2: "close", 4: "commit", 6: "discard"}[binary.BigEndian.Uint16(b[20:22])]
			}
			return "ONF bundle control (" + kind + ")"
		case 2301:
			return "ONF bundle add"
		}
		return fmt.Sprintf("ONF experimenter message type %d", subtype)
	case niciraExperimenterID:
		return fmt.Sprintf("Nicira extension message subtype %d", subtype)
	}
	return fmt.Sprintf("experimenter %#x message type %d", exp, subtype)
}

func checkFlowMod(b []byte, maxTables int) *verdict {
	if len(b) < 56 {
		return refuse(ReasonMalformed, ErrTypeBadRequest, CodeBadRequestLen, "flow-mod of %d bytes", len(b))
	}
	table, cmd := b[24], b[25]
	del := cmd == flowModDelete || cmd == flowModDeleteStrict
	if int(table) >= maxTables && !(del && table == tableAll) {
		return refuse(ReasonTableID, ErrTypeFlowModFailed, CodeFlowModBadTableID, "flow-mod (command %d) for table %d (the profile has %d)", cmd, table, maxTables)
	}
	ml, v := checkMatch(b[48:], "flow-mod")
	if v != nil {
		return v
	}
	return checkInstructions(b[48+ml:], table, maxTables)
}

// checkMatch checks an ofp_match at the start of b and returns its padded
// length.
func checkMatch(b []byte, what string) (int, *verdict) {
	if len(b) < 4 {
		return 0, refuse(ReasonMalformed, ErrTypeBadMatch, CodeBadMatchLen, "%s match truncated", what)
	}
	if typ := binary.BigEndian.Uint16(b[0:2]); typ != 1 {
		return 0, refuse(ReasonMalformed, ErrTypeBadMatch, CodeBadMatchType, "%s match type %d, not OFPMT_OXM", what, typ)
	}
	l := int(binary.BigEndian.Uint16(b[2:4]))
	padded := (l + 7) / 8 * 8
	if l < 4 || padded > len(b) {
		return 0, refuse(ReasonMalformed, ErrTypeBadMatch, CodeBadMatchLen, "%s match length %d in %d bytes", what, l, len(b))
	}
	for off := 4; off < l; {
		if l-off < 4 {
			return 0, refuse(ReasonMalformed, ErrTypeBadMatch, CodeBadMatchLen, "%s OXM header truncated", what)
		}
		hdr := binary.BigEndian.Uint32(b[off:])
		class, field, n := uint16(hdr>>16), uint8(hdr>>9)&0x7f, int(hdr&0xff)
		if n == 0 || off+4+n > l {
			return 0, refuse(ReasonMalformed, ErrTypeBadMatch, CodeBadMatchLen, "%s OXM %#08x length %d", what, hdr, n)
		}
		if class != oxmClassBasic || field > maxBasicField {
			return 0, refuse(ReasonMatchField, ErrTypeBadMatch, CodeBadMatchField, "%s match field %s", what, oxmName(class, field, b[off+4:off+4+n]))
		}
		off += 4 + n
	}
	return padded, nil
}

// oxmName describes a non-standard OXM for the refusal log.
func oxmName(class uint16, field uint8, value []byte) string {
	switch class {
	case 0x0000:
		return fmt.Sprintf("NXM_OF field %d (Nicira class 0)", field)
	case 0x0001:
		return fmt.Sprintf("NXM_NX field %d (Nicira class 1)", field)
	case 0xffff:
		var exp uint32
		if len(value) >= 4 {
			exp = binary.BigEndian.Uint32(value)
		}
		return fmt.Sprintf("experimenter OXM field %d of experimenter %#x", field, exp)
	case oxmClassBasic:
		return fmt.Sprintf("OPENFLOW_BASIC field %d (not defined by OpenFlow 1.3)", field)
	}
	return fmt.Sprintf("class %#04x field %d", class, field)
}

func checkInstructions(b []byte, table uint8, maxTables int) *verdict {
	for off := 0; off < len(b); {
		if len(b)-off < 4 {
			return refuse(ReasonMalformed, ErrTypeBadInstruction, CodeBadInstLen, "instruction header truncated")
		}
		typ := binary.BigEndian.Uint16(b[off:])
		l := int(binary.BigEndian.Uint16(b[off+2:]))
		if l < 8 || l%8 != 0 || off+l > len(b) {
			return refuse(ReasonMalformed, ErrTypeBadInstruction, CodeBadInstLen, "instruction type %d length %d", typ, l)
		}
		in := b[off : off+l]
		switch typ {
		case instGotoTable:
			if t := in[4]; int(t) >= maxTables {
				return refuse(ReasonGotoTable, ErrTypeBadInstruction, CodeBadInstTableID, "goto_table:%d from table %d (the profile has %d)", t, table, maxTables)
			}
		case instWriteMetadata:
			if l != 24 {
				return refuse(ReasonMalformed, ErrTypeBadInstruction, CodeBadInstLen, "write_metadata of %d bytes", l)
			}
		case instWriteActions, instApplyActions, instClearActions:
			if v := checkActions(in[8:], "instruction"); v != nil {
				return v
			}
		case instMeter:
		case instExperimenter:
			var exp uint32
			if l >= 8 {
				exp = binary.BigEndian.Uint32(in[4:8])
			}
			return refuse(ReasonExperimenterInstruction, ErrTypeBadInstruction, CodeBadInstUnsup, "experimenter instruction of experimenter %#x", exp)
		default:
			return refuse(ReasonInstructionType, ErrTypeBadInstruction, CodeBadInstUnknown, "instruction type %d", typ)
		}
		off += l
	}
	return nil
}

// standardActions are the action types OpenFlow 1.3 defines besides
// set_field and experimenter.
var standardActions = map[uint16]bool{
	0:  true,           // output
	11: true, 12: true, // copy_ttl_out, copy_ttl_in
	15: true, 16: true, // set_mpls_ttl, dec_mpls_ttl
	17: true, 18: true, 19: true, 20: true, // push/pop vlan, push/pop mpls
	21: true, 22: true, 23: true, 24: true, // set_queue, group, set_nw_ttl, dec_nw_ttl
	26: true, 27: true, // push_pbb, pop_pbb
}

func checkActions(b []byte, where string) *verdict {
	for off := 0; off < len(b); {
		if len(b)-off < 8 {
			return refuse(ReasonMalformed, ErrTypeBadAction, CodeBadActionLen, "%s: action truncated", where)
		}
		typ := binary.BigEndian.Uint16(b[off:])
		l := int(binary.BigEndian.Uint16(b[off+2:]))
		if l < 8 || l%8 != 0 || off+l > len(b) {
			return refuse(ReasonMalformed, ErrTypeBadAction, CodeBadActionLen, "%s: action type %d length %d", where, typ, l)
		}
		a := b[off : off+l]
		switch {
		case typ == actExperimenter:
			exp := binary.BigEndian.Uint32(a[4:8])
			name := fmt.Sprintf("experimenter %#x action", exp)
			if exp == niciraExperimenterID && l >= 10 {
				name = fmt.Sprintf("Nicira extension action subtype %d", binary.BigEndian.Uint16(a[8:10]))
			}
			return refuse(ReasonExperimenterAction, ErrTypeBadAction, CodeBadActionExperimenter, "%s: %s", where, name)
		case typ == actSetField:
			hdr := binary.BigEndian.Uint32(a[4:8])
			class, field, n := uint16(hdr>>16), uint8(hdr>>9)&0x7f, int(hdr&0xff)
			if 8+n > l {
				return refuse(ReasonMalformed, ErrTypeBadAction, CodeBadActionLen, "%s: set_field OXM length %d in %d bytes", where, n, l)
			}
			if class != oxmClassBasic || field > maxBasicField {
				return refuse(ReasonSetFieldType, ErrTypeBadAction, CodeBadActionSetType, "%s: set_field of %s", where, oxmName(class, field, a[8:8+n]))
			}
		case !standardActions[typ]:
			return refuse(ReasonActionType, ErrTypeBadAction, CodeBadActionType, "%s: action type %d", where, typ)
		}
		off += l
	}
	return nil
}

func checkGroupMod(b []byte) *verdict {
	if len(b) < 16 {
		return refuse(ReasonMalformed, ErrTypeBadRequest, CodeBadRequestLen, "group-mod of %d bytes", len(b))
	}
	for off := 16; off < len(b); {
		if len(b)-off < 16 {
			return refuse(ReasonMalformed, ErrTypeBadRequest, CodeBadRequestLen, "group-mod bucket truncated")
		}
		l := int(binary.BigEndian.Uint16(b[off:]))
		if l < 16 || off+l > len(b) {
			return refuse(ReasonMalformed, ErrTypeBadRequest, CodeBadRequestLen, "group-mod bucket length %d", l)
		}
		if v := checkActions(b[off+16:off+l], "group bucket"); v != nil {
			return v
		}
		off += l
	}
	return nil
}

// errorMsg builds the OFPT_ERROR answering the refused message b: same
// xid, data = the first 64 bytes of b (OpenFlow 1.3 §7.4.4: "at least 64
// bytes of the failed request").
func errorMsg(b []byte, v *verdict) []byte {
	data := b
	if len(data) > 64 {
		data = data[:64]
	}
	e := make([]byte, 12, 12+len(data))
	e[0], e[1] = ofVersion13, typeError
	binary.BigEndian.PutUint16(e[2:4], uint16(12+len(data)))
	copy(e[4:8], b[4:8])
	binary.BigEndian.PutUint16(e[8:10], v.errType)
	binary.BigEndian.PutUint16(e[10:12], v.code)
	return append(e, data...)
}
