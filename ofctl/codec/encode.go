package codec

import (
	"encoding/binary"
	"fmt"

	"antrea.io/libOpenflow/openflow13"

	"github.com/nva-project/nva/app/flow"
)

// The direct encoder: AppendFlowMod and AppendGroupMod write the wire
// bytes of a FLOW_MOD or GROUP_MOD straight into a caller's buffer, with
// no libOpenflow structures in between (nva sends thousands of them per
// switch sync, and building and marshalling libOpenflow's message tree
// cost more than everything else the sync does). They produce exactly the
// bytes EncodeFlowMod and EncodeGroupMod marshal to (xid 0), and fail with
// the same errors: those stay the reference (the tests compare both on
// every compiled flow and on random ones) and the encoder of everything
// else.

// maxMessage is the largest OpenFlow message (its length is 16 bits).
const maxMessage = 0xffff

// appendU16, appendU32 and appendU64 append big-endian integers.
func appendU16(b []byte, v uint16) []byte { return binary.BigEndian.AppendUint16(b, v) }
func appendU32(b []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(b, v) }
func appendU64(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }

// appendZeros appends n zero bytes.
func appendZeros(b []byte, n int) []byte {
	for ; n > 0; n-- {
		b = append(b, 0)
	}
	return b
}

// pad8 appends zeros until the bytes since start are a multiple of 8.
func pad8(b []byte, start int) []byte { return appendZeros(b, (8-(len(b)-start)%8)%8) }

// putLen16 writes the length of b[start:] at b[at:at+2].
func putLen16(b []byte, at, start int) { binary.BigEndian.PutUint16(b[at:], uint16(len(b)-start)) }

// matchFields is the match as the wire carries it: its fields in
// canonical form (values under their masks, no wildcards, registry
// order). A canonical match, as the compiler's and decoded ones are, is
// used as is.
func matchFields(m flow.Match) flow.Match {
	if isCanonicalMatch(m) {
		return m
	}
	return canonicalMatch(m)
}

// AppendFlowMod appends to buf the FLOW_MOD that EncodeFlowMod(f, tables,
// cmd) marshals to, with xid 0, and returns the extended buffer. On an
// error (the same EncodeFlowMod returns) buf is returned unchanged in
// length.
func (c *Codec) AppendFlowMod(buf []byte, f flow.Flow, tables func(string) (uint8, bool), cmd uint8) ([]byte, error) {
	start := len(buf)
	t, err := tableNumber(f.Table, tables)
	if err != nil {
		return buf, fmt.Errorf("flow %s: %w", describe(f), err)
	}
	b := buf
	// ofp_header, then cookie, cookie mask (both filled in below once
	// the command is known to be valid), table, command, timeouts,
	// priority, buffer, out port, out group, flags, pad.
	b = append(b, ofpVersion, openflow13.Type_FlowMod, 0, 0, 0, 0, 0, 0)
	b = appendZeros(b, 16)
	b = append(b, t, cmd, 0, 0, 0, 0)
	b = appendU16(b, f.Priority)
	b = appendU32(b, 0xffffffff)          // OFP_NO_BUFFER
	b = appendU32(b, openflow13.P_ANY)    // out port
	b = appendU32(b, openflow13.OFPG_ANY) // out group
	b = append(b, 0, 0, 0, 0)             // flags, pad
	if b, err = c.appendMatch(b, matchFields(f.Match)); err != nil {
		return buf[:start], fmt.Errorf("flow %s: %w", describe(f), err)
	}
	cookies := b[start+8 : start+24]
	switch cmd {
	case FlowAdd:
		binary.BigEndian.PutUint64(cookies, f.Cookie)
	case FlowModify, FlowModifyStrict:
		// Cookie mask 0: modify regardless of the installed cookie.
	case FlowDelete, FlowDeleteStrict:
		binary.BigEndian.PutUint64(cookies, f.Cookie)
		binary.BigEndian.PutUint64(cookies[8:], ^uint64(0))
		return finishMessage(b, buf, start, func() string { return "flow " + describe(f) })
	default:
		return buf[:start], fmt.Errorf("flow %s: unknown flow-mod command %d", describe(f), cmd)
	}
	if len(f.Actions) > 0 {
		at := len(b)
		b = append(b, 0, openflow13.InstrType_APPLY_ACTIONS, 0, 0, 0, 0, 0, 0)
		for i, a := range f.Actions {
			if ct, ok := a.(flow.CT); ok {
				b, err = c.appendCT(b, ct, tables)
			} else {
				b, err = c.appendAction(b, a)
			}
			if err != nil {
				return buf[:start], fmt.Errorf("flow %s: action %d: %w", describe(f), i, err)
			}
		}
		putLen16(b, at+2, at)
	}
	if f.MetadataMask != 0 {
		b = append(b, 0, openflow13.InstrType_WRITE_METADATA, 0, 24, 0, 0, 0, 0)
		b = appendU64(b, f.WriteMetadata&f.MetadataMask)
		b = appendU64(b, f.MetadataMask)
	}
	if f.Goto != "" {
		g, err := tableNumber(f.Goto, tables)
		if err != nil {
			return buf[:start], fmt.Errorf("flow %s: goto: %w", describe(f), err)
		}
		if g <= t {
			return buf[:start], fmt.Errorf("flow %s: goto table %d is not after table %d", describe(f), g, t)
		}
		b = append(b, 0, openflow13.InstrType_GOTO_TABLE, 0, 8, g, 0, 0, 0)
	}
	return finishMessage(b, buf, start, func() string { return "flow " + describe(f) })
}

// ofpVersion is OpenFlow 1.3's wire version.
const ofpVersion = openflow13.VERSION

// finishMessage writes the length of the message at b[start:] into its
// header, or fails (returning buf) when it is too long for one.
func finishMessage(b, buf []byte, start int, what func() string) ([]byte, error) {
	if n := len(b) - start; n > maxMessage {
		return buf[:start], fmt.Errorf("%s: message of %d bytes is longer than an OpenFlow message can be (%d)", what(), n, maxMessage)
	}
	putLen16(b, start+2, start)
	return b, nil
}

// appendMatch appends an OXM ofp_match of canonical fields, padded to 8
// bytes (its length field counts no padding).
func (c *Codec) appendMatch(b []byte, m flow.Match) ([]byte, error) {
	at := len(b)
	b = append(b, 0, openflow13.MatchType_OXM, 0, 0)
	var seen uint64 // registry positions, as encodeMatch checks them
	for f := range m.Raw() {
		s, err := c.spec(f.Name, "match")
		if err != nil {
			return b, err
		}
		if o := flow.FieldOrder(f.Name); o < 64 {
			if seen&(1<<o) != 0 {
				return b, fmt.Errorf("match: field %q appears twice", f.Name)
			}
			seen |= 1 << o
		}
		if b, err = appendOXM(b, s, f.Value, f.Mask); err != nil {
			return b, fmt.Errorf("match: %w", err)
		}
	}
	putLen16(b, at+2, at)
	return pad8(b, at), nil
}

// appendOXM appends one OXM TLV (oxmField's encoding): header, the
// experimenter ID of a true experimenter field, value, mask.
// An empty mask is none (exact): a match's fields carry masks as strings,
// actions' values as bytes.
func appendOXM[V string | []byte](b []byte, s *flow.FieldSpec, value, mask V) ([]byte, error) {
	if len(value) != s.Bytes {
		return b, fmt.Errorf("field %s: value is %d bytes, want %d", s.Name, len(value), s.Bytes)
	}
	if len(mask) != 0 && len(mask) != s.Bytes {
		return b, fmt.Errorf("field %s: mask is %d bytes, want %d", s.Name, len(mask), s.Bytes)
	}
	class, exp, hasExp := wireClass(s)
	n := s.Bytes
	if hasExp {
		n += 4
	}
	fld := s.Field << 1
	if len(mask) != 0 {
		fld |= 1
		n += s.Bytes
	}
	b = appendU16(b, class)
	b = append(b, fld, uint8(n))
	if hasExp {
		b = appendU32(b, exp)
	}
	b = append(b, value...)
	b = append(b, mask...)
	return b, nil
}

// appendAction appends one action (encodeAction's encoding).
func (c *Codec) appendAction(b []byte, a flow.Action) ([]byte, error) {
	switch a := a.(type) {
	case flow.Output:
		var maxLen uint16
		if a.Port == flow.PortController {
			maxLen = a.MaxLen
		}
		b = append(b, 0, openflow13.ActionType_Output, 0, 16)
		b = appendU32(b, a.Port)
		b = appendU16(b, maxLen)
		return appendZeros(b, 6), nil
	case *flow.Output:
		return c.appendAction(b, *a)
	case flow.SetField:
		s, err := c.spec(a.Field, "set_field")
		if err != nil {
			return b, err
		}
		at := len(b)
		b = append(b, 0, openflow13.ActionType_SetField, 0, 0)
		if b, err = appendOXM(b, s, a.Value, []byte(nil)); err != nil {
			return b[:at], fmt.Errorf("set_field: %w", err)
		}
		b = pad8(b, at)
		putLen16(b, at+2, at)
		return b, nil
	case *flow.SetField:
		return c.appendAction(b, *a)
	case flow.Move:
		if !c.opts.AllowNicira {
			return b, fmt.Errorf("move %s->%s: reg_move is a Nicira extension, not allowed by this profile", a.Src, a.Dst)
		}
		src, err := c.spec(a.Src, "move source")
		if err != nil {
			return b, err
		}
		dst, err := c.spec(a.Dst, "move destination")
		if err != nil {
			return b, err
		}
		if _, _, x := wireClass(src); x {
			return b, fmt.Errorf("move %s->%s: reg_move of experimenter fields is not supported", a.Src, a.Dst)
		}
		if _, _, x := wireClass(dst); x {
			return b, fmt.Errorf("move %s->%s: reg_move of experimenter fields is not supported", a.Src, a.Dst)
		}
		if a.Bits <= 0 || a.SrcOfs < 0 || a.DstOfs < 0 ||
			a.SrcOfs+a.Bits > src.Bits || a.DstOfs+a.Bits > dst.Bits {
			return b, fmt.Errorf("move %s[%d..+%d]->%s[%d..]: bit range outside the fields (%d and %d bits)",
				a.Src, a.SrcOfs, a.Bits, a.Dst, a.DstOfs, src.Bits, dst.Bits)
		}
		b = append(b, 0xff, 0xff, 0, 24)
		b = appendU32(b, openflow13.NxExperimenterID)
		b = appendU16(b, openflow13.NXAST_REG_MOVE)
		b = appendU16(b, uint16(a.Bits))
		b = appendU16(b, uint16(a.SrcOfs))
		b = appendU16(b, uint16(a.DstOfs))
		b = appendU32(b, fieldHeader(src))
		return appendU32(b, fieldHeader(dst)), nil
	case *flow.Move:
		return c.appendAction(b, *a)
	case flow.PushVLAN:
		et := a.EtherType
		if et == 0 {
			et = flow.EthTypeVLAN
		}
		b = append(b, 0, openflow13.ActionType_PushVlan, 0, 8)
		b = appendU16(b, et)
		return append(b, 0, 0), nil
	case *flow.PushVLAN:
		return c.appendAction(b, *a)
	case flow.PopVLAN, *flow.PopVLAN:
		return append(b, 0, openflow13.ActionType_PopVlan, 0, 8, 0, 0, 0, 0), nil
	case flow.DecTTL, *flow.DecTTL:
		return append(b, 0, openflow13.ActionType_DecNwTtl, 0, 8, 0, 0, 0, 0), nil
	case flow.Group:
		b = append(b, 0, openflow13.ActionType_Group, 0, 8)
		return appendU32(b, a.ID), nil
	case *flow.Group:
		return c.appendAction(b, *a)
	case nil:
		return b, fmt.Errorf("nil action")
	default:
		return b, fmt.Errorf("action type %T has no OpenFlow 1.3 encoding", a)
	}
}

// fieldHeader is the 32-bit OXM header of a field without value (as
// reg_move names it): class, field, no mask, the value's length.
func fieldHeader(s *flow.FieldSpec) uint32 {
	class, _, _ := wireClass(s)
	return uint32(class)<<16 | uint32(s.Field)<<9 | uint32(uint8(s.Bytes))
}

// appendCT appends an NXAST_CT action (encodeCT's encoding) with, for
// NAT, one nested NXAST_NAT.
func (c *Codec) appendCT(b []byte, a flow.CT, tables func(string) (uint8, bool)) ([]byte, error) {
	if !c.opts.AllowNicira {
		return b, fmt.Errorf("ct: conntrack is a Nicira extension, not allowed by this profile")
	}
	table := uint8(ctRecircNone)
	if a.Table != "" {
		t, err := tableNumber(a.Table, tables)
		if err != nil {
			return b, fmt.Errorf("ct table: %w", err)
		}
		table = t
	}
	var flags uint16
	if a.Commit {
		flags = ctFlagCommit
	}
	at := len(b)
	b = append(b, 0xff, 0xff, 0, 0)
	b = appendU32(b, openflow13.NxExperimenterID)
	b = appendU16(b, nxastCT)
	b = appendU16(b, flags)
	b = appendU32(b, 0) // zone from an immediate, not a field
	b = appendU16(b, a.Zone)
	b = append(b, table, 0, 0, 0, 0, 0) // table, pad, alg
	if a.NAT != flow.NATNone {
		var natFlags, present uint16
		var addr []byte
		switch a.NAT {
		case flow.NATSrc, flow.NATDst:
			if !a.NATAddr.IsValid() {
				return b[:at], fmt.Errorf("ct nat: no address")
			}
			natFlags = natFlagSrc
			if a.NAT == flow.NATDst {
				natFlags = natFlagDst
			}
			if a.NATAddr.Is4() {
				v4 := a.NATAddr.As4()
				addr, present = v4[:], natRangeV4Min
			} else {
				v6 := a.NATAddr.As16()
				addr, present = v6[:], natRangeV6Min
			}
		}
		nat := len(b)
		b = append(b, 0xff, 0xff, 0, 0)
		b = appendU32(b, openflow13.NxExperimenterID)
		b = appendU16(b, nxastNAT)
		b = append(b, 0, 0) // pad
		b = appendU16(b, natFlags)
		b = appendU16(b, present)
		b = append(b, addr...)
		b = pad8(b, nat)
		putLen16(b, nat+2, nat)
	}
	putLen16(b, at+2, at)
	return b, nil
}

// AppendGroupMod appends to buf the GROUP_MOD that EncodeGroupMod(g, cmd)
// marshals to, with xid 0, and returns the extended buffer. On an error
// (the same EncodeGroupMod returns) buf is returned unchanged in length.
func (c *Codec) AppendGroupMod(buf []byte, g flow.GroupEntry, cmd uint16) ([]byte, error) {
	start := len(buf)
	if g.ID > openflow13.OFPG_MAX {
		return buf, fmt.Errorf("group %d: ID above OFPG_MAX", g.ID)
	}
	switch cmd {
	case GroupDelete, GroupAdd, GroupModify:
	default:
		return buf, fmt.Errorf("group %d: unknown group-mod command %d", g.ID, cmd)
	}
	if cmd != GroupDelete && g.Type > flow.GroupFastFailover {
		return buf, fmt.Errorf("group %d: unknown group type %d", g.ID, g.Type)
	}
	b := append(buf, ofpVersion, openflow13.Type_GroupMod, 0, 0, 0, 0, 0, 0)
	b = appendU16(b, cmd)
	b = append(b, uint8(g.Type), 0)
	b = appendU32(b, g.ID)
	if cmd == GroupDelete {
		return finishMessage(b, buf, start, func() string { return fmt.Sprintf("group %d", g.ID) })
	}
	for i, bk := range g.Buckets {
		// CanonicalGroup's rules for weight and watch.
		weight, watchPort, watchGroup := bk.Weight, bk.WatchPort, bk.WatchGroup
		if g.Type != flow.GroupSelect {
			weight = 0
		}
		if g.Type != flow.GroupFastFailover && g.Type != flow.GroupSelect {
			watchPort, watchGroup = flow.PortAny, AnyGroup
		}
		if g.Type == flow.GroupSelect {
			if watchPort == 0 {
				watchPort = flow.PortAny
			}
			if watchGroup == 0 {
				watchGroup = AnyGroup
			}
		}
		at := len(b)
		b = append(b, 0, 0)
		b = appendU16(b, weight)
		b = appendU32(b, watchPort)
		b = appendU32(b, watchGroup)
		b = append(b, 0, 0, 0, 0)
		for j, a := range bk.Actions {
			var err error
			if b, err = c.appendAction(b, a); err != nil {
				return buf[:start], fmt.Errorf("group %d bucket %d: action %d: %w", g.ID, i, j, err)
			}
		}
		b = pad8(b, at)
		putLen16(b, at, at)
	}
	return finishMessage(b, buf, start, func() string { return fmt.Sprintf("group %d", g.ID) })
}
