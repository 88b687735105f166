package conn

import (
	"encoding/binary"
	"fmt"

	"antrea.io/libOpenflow/openflow13"
)

// Structural checks run before libOpenflow's decoders see wire data. Those
// decoders index without bounds checks (we recover from that) but also loop
// on lengths they compute themselves, which can fail to advance on hostile
// input; these walks guarantee every length they will meet is sane.

// checkMatch validates an ofp_match at the start of b and returns its padded
// length.
func checkMatch(b []byte) (int, error) {
	if len(b) < 4 {
		return 0, fmt.Errorf("%w: match truncated", ErrMalformed)
	}
	l := int(binary.BigEndian.Uint16(b[2:4]))
	padded := (l + 7) / 8 * 8
	if l < 4 || padded > len(b) {
		return 0, fmt.Errorf("%w: match length %d in %d bytes", ErrMalformed, l, len(b))
	}
	if binary.BigEndian.Uint16(b[0:2]) != 1 { // OFPMT_OXM
		return 0, fmt.Errorf("%w: match type %d", ErrMalformed, binary.BigEndian.Uint16(b[0:2]))
	}
	for off := 4; off < l; {
		if l-off < 4 {
			return 0, fmt.Errorf("%w: OXM header truncated", ErrMalformed)
		}
		hdr := binary.BigEndian.Uint32(b[off:])
		n := int(hdr & 0xff)
		if n == 0 || (hdr>>16 == 0xffff && n < 4) || off+4+n > l {
			return 0, fmt.Errorf("%w: OXM field %#x length %d", ErrMalformed, hdr, n)
		}
		off += 4 + n
	}
	return padded, nil
}

// checkActions validates a list of actions filling b.
func checkActions(b []byte) error {
	for off := 0; off < len(b); {
		if len(b)-off < 8 {
			return fmt.Errorf("%w: action truncated", ErrMalformed)
		}
		l := int(binary.BigEndian.Uint16(b[off+2:]))
		if l < 8 || l%8 != 0 || off+l > len(b) {
			return fmt.Errorf("%w: action type %d length %d", ErrMalformed, binary.BigEndian.Uint16(b[off:]), l)
		}
		off += l
	}
	return nil
}

// checkInstructions validates a list of instructions filling b.
func checkInstructions(b []byte) error {
	for off := 0; off < len(b); {
		if len(b)-off < 8 {
			return fmt.Errorf("%w: instruction truncated", ErrMalformed)
		}
		typ := binary.BigEndian.Uint16(b[off:])
		l := int(binary.BigEndian.Uint16(b[off+2:]))
		if l < 8 || l%8 != 0 || off+l > len(b) {
			return fmt.Errorf("%w: instruction type %d length %d", ErrMalformed, typ, l)
		}
		switch typ {
		case openflow13.InstrType_WRITE_ACTIONS, openflow13.InstrType_APPLY_ACTIONS, openflow13.InstrType_CLEAR_ACTIONS:
			if err := checkActions(b[off+8 : off+l]); err != nil {
				return err
			}
		case openflow13.InstrType_GOTO_TABLE, openflow13.InstrType_METER:
		case openflow13.InstrType_WRITE_METADATA:
			if l < 24 {
				return fmt.Errorf("%w: write-metadata instruction length %d", ErrMalformed, l)
			}
		default:
			return fmt.Errorf("%w: instruction type %d not decodable", ErrMalformed, typ)
		}
		off += l
	}
	return nil
}

// checkForLibOpenflow validates the messages whose libOpenflow decoders
// loop over wire data, before safeParse hands them over.
func checkForLibOpenflow(b []byte) error {
	switch b[1] {
	case openflow13.Type_Hello:
		// libOpenflow loops forever on an element type it does not know.
		for off := headerLen; off < len(b); {
			if len(b)-off < 4 {
				return fmt.Errorf("%w: hello element truncated", ErrMalformed)
			}
			l := int(binary.BigEndian.Uint16(b[off+2:]))
			if binary.BigEndian.Uint16(b[off:]) != 1 || l < 4 || off+l > len(b) {
				return fmt.Errorf("%w: hello element libOpenflow cannot decode", ErrMalformed)
			}
			off += (l + 7) / 8 * 8
		}
	case openflow13.Type_FlowRemoved:
		if len(b) < 56 {
			return fmt.Errorf("%w: flow removed of %d bytes", ErrMalformed, len(b))
		}
		_, err := checkMatch(b[48:])
		return err
	case openflow13.Type_PacketIn:
		if len(b) < 34 {
			return fmt.Errorf("%w: packet-in of %d bytes", ErrMalformed, len(b))
		}
		_, err := checkMatch(b[24:])
		return err
	case openflow13.Type_MultiPartReply:
		if len(b) < mpHeaderLen {
			return fmt.Errorf("%w: multipart reply of %d bytes", ErrMalformed, len(b))
		}
		body := b[mpHeaderLen:]
		switch binary.BigEndian.Uint16(b[8:10]) {
		case openflow13.MultipartType_Flow:
			entries, err := splitFlowStats(body)
			if err != nil {
				return err
			}
			for _, e := range entries {
				if err := checkFlowStatsEntry(e); err != nil {
					return err
				}
			}
			return nil
		case openflow13.MultipartType_Desc, openflow13.MultipartType_Aggregate,
			openflow13.MultipartType_Table, openflow13.MultipartType_Port, openflow13.MultipartType_Queue:
			return nil
		default:
			return fmt.Errorf("%w: libOpenflow cannot decode multipart type %d", ErrMalformed, binary.BigEndian.Uint16(b[8:10]))
		}
	case openflow13.Type_FlowMod:
		if len(b) < 56 {
			return fmt.Errorf("%w: flow mod of %d bytes", ErrMalformed, len(b))
		}
		ml, err := checkMatch(b[48:])
		if err != nil {
			return err
		}
		return checkInstructions(b[48+ml:])
	case openflow13.Type_MultiPartRequest:
		return fmt.Errorf("%w: a switch does not send multipart requests", ErrMalformed)
	}
	return nil
}
