package ofshim

import (
	"encoding/binary"
	"net"
	"testing"

	"antrea.io/libOpenflow/openflow13"
	"antrea.io/libOpenflow/util"
)

// Test messages are encoded with libOpenflow where its encoder is right
// (flow-mods, group-mods, standard and Nicira actions and fields, bundle
// control) and by hand where it is not or has no type (experimenter
// instructions, experimenter OXMs, undefined action and instruction types,
// packet-out: libOpenflow v0.15.0's PacketOut cannot be decoded back, so
// its bytes are spelled out here).

func marshal(t *testing.T, m util.Message) []byte {
	t.Helper()
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatalf("marshal %T: %v", m, err)
	}
	binary.BigEndian.PutUint32(b[4:8], 0x1234)
	return b
}

func stdFlow(table, gotoTable uint8, acts ...openflow13.Action) *openflow13.FlowMod {
	fm := openflow13.NewFlowMod()
	fm.TableId, fm.Priority, fm.Cookie = table, 100, 0x77
	fm.Match.AddField(*openflow13.NewInPortField(5))
	fm.Match.AddField(*openflow13.NewEthTypeField(0x0800))
	fm.Match.AddField(*openflow13.NewIpv4DstField(net.IPv4(192, 0, 2, 1), nil))
	fm.Match.AddField(*openflow13.NewTunnelIdField(4242))
	fm.Match.AddField(*openflow13.NewMetadataField(0x01001092, nil))
	if len(acts) == 0 {
		acts = []openflow13.Action{openflow13.NewActionOutput(6)}
	}
	ia := openflow13.NewInstrApplyActions()
	for _, a := range acts {
		ia.AddAction(a, false)
	}
	fm.AddInstruction(ia)
	fm.AddInstruction(openflow13.NewInstrWriteMetadata(1, 0xff))
	if gotoTable != 0 {
		fm.AddInstruction(openflow13.NewInstrGotoTable(gotoTable))
	}
	return fm
}

// withInstruction appends a raw instruction to an encoded flow-mod.
func withInstruction(b []byte, inst []byte) []byte {
	b = append(append([]byte(nil), b...), inst...)
	binary.BigEndian.PutUint16(b[2:4], uint16(len(b)))
	return b
}

// withMatchField rebuilds a flow-mod's match with one extra raw OXM.
func flowWithRawOXM(t *testing.T, oxm []byte) []byte {
	fm := openflow13.NewFlowMod()
	fm.Match.AddField(*openflow13.NewInPortField(5))
	b := marshal(t, fm)
	// Empty-instruction flow-mod: header 48 + match (4 + 8 in_port, padded to 16).
	match := append(append([]byte(nil), b[48:48+12]...), oxm...)
	binary.BigEndian.PutUint16(match[2:4], uint16(len(match)))
	for len(match)%8 != 0 {
		match = append(match, 0)
	}
	out := append(append([]byte(nil), b[:48]...), match...)
	binary.BigEndian.PutUint16(out[2:4], uint16(len(out)))
	return out
}

func rawMsg(typ uint8, body ...byte) []byte {
	b := append([]byte{ofVersion13, typ, 0, 0, 0, 0, 0x12, 0x34}, body...)
	binary.BigEndian.PutUint16(b[2:4], uint16(len(b)))
	return b
}

// packetOut encodes an OFPT_PACKET_OUT with the given raw actions.
func packetOut(actions ...[]byte) []byte {
	var acts []byte
	for _, a := range actions {
		acts = append(acts, a...)
	}
	body := []byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint16(body[8:10], uint16(len(acts)))
	body = append(body, acts...)
	return rawMsg(typePacketOut, append(body, []byte("frame")...)...)
}

func rawOutput(port uint32) []byte {
	b := []byte{0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[4:8], port)
	return b
}

func groupMod(t *testing.T, acts ...openflow13.Action) []byte {
	gm := openflow13.NewGroupMod()
	gm.GroupId, gm.Type = 7, openflow13.OFPGT_ALL
	bk := openflow13.NewBucket()
	for _, a := range acts {
		bk.AddAction(a)
	}
	gm.AddBucket(*bk)
	return marshal(t, gm)
}

func flowStatsRequest(table uint8, oxm []byte) []byte {
	body := make([]byte, 32)
	body[0] = table
	binary.BigEndian.PutUint32(body[4:8], 0xffffffff)
	binary.BigEndian.PutUint32(body[8:12], 0xffffffff)
	match := []byte{0, 1, 0, byte(4 + len(oxm))}
	match = append(match, oxm...)
	for len(match)%8 != 0 {
		match = append(match, 0)
	}
	mp := []byte{0, mpFlow, 0, 0, 0, 0, 0, 0}
	return rawMsg(typeMultipartReq, append(append(mp, body...), match...)...)
}

func TestCheck(t *testing.T) {
	tunDst := openflow13.NewTunnelIpv4DstField(net.IPv4(198, 18, 0, 2), nil) // Nicira NXM_NX_TUN_IPV4_DST
	nxReg := openflow13.NewRegMatchField(0, 7, nil)
	regMove := openflow13.NewNXActionRegMove(32, 0, 0, openflow13.NewRegMatchField(0, 0, nil), openflow13.NewRegMatchField(1, 0, nil))
	std := marshal(t, stdFlow(1, 3))
	bundleOpen := marshal(t, openflow13.NewBundleControl(&openflow13.BundleControl{BundleID: 1, Type: openflow13.OFPBCT_OPEN_REQUEST, Flags: 3}))
	nxtMsg := rawMsg(typeExperimenter, 0, 0, 0x23, 0x20, 0, 0, 0, 16, 0, 0, 0, 1) // NXT_SET_PACKET_IN_FORMAT nxt_packet_in2
	expOXM := []byte{0xff, 0xff, 2 << 1, 8, 0x00, 0x00, 0x23, 0x20, 0, 0, 0, 1}
	expInst := []byte{0xff, 0xff, 0, 16, 0, 0, 0x23, 0x20, 0, 0, 0, 0, 0, 0, 0, 0}
	popVLAN := []byte{0, 18, 0, 8, 0, 0, 0, 0}
	nxSetTunDst := []byte{0, 25, 0, 16, 0x00, 0x01, 32 << 1, 4, 198, 18, 0, 2, 0, 0, 0, 0} // set_field NXM tun_dst
	bigTable := marshal(t, stdFlow(4, 0))
	del := openflow13.NewFlowMod()
	del.Command, del.TableId = openflow13.FC_DELETE, openflow13.OFPTT_ALL
	addAll := openflow13.NewFlowMod()
	addAll.TableId = openflow13.OFPTT_ALL
	delStrict9 := openflow13.NewFlowMod()
	delStrict9.Command, delStrict9.TableId = openflow13.FC_DELETE_STRICT, 9

	for _, tc := range []struct {
		name      string
		msg       []byte
		reason    string // "" = accepted
		typ, code uint16
		maxTables int
	}{
		{name: "standard flow-mod", msg: std},
		{name: "flow-mod in the last table", msg: marshal(t, stdFlow(3, 0))},
		{name: "flow-mod setting a standard field", msg: marshal(t, stdFlow(0, 1, openflow13.NewActionSetField(*openflow13.NewEthDstField(net.HardwareAddr{2, 0, 0, 0, 0, 1}, nil)),
			openflow13.NewActionSetField(*openflow13.NewTunnelIdField(9)), openflow13.NewActionPushVlan(0x8100), openflow13.NewActionGroup(3), openflow13.NewActionOutput(1)))},
		{name: "delete in all tables", msg: marshal(t, del)},
		{name: "barrier", msg: rawMsg(20)},
		{name: "echo", msg: rawMsg(2, 'h', 'i')},
		{name: "role request", msg: rawMsg(24, make([]byte, 16)...)},
		{name: "port-desc request", msg: rawMsg(typeMultipartReq, 0, 13, 0, 0, 0, 0, 0, 0)},
		{name: "flow stats all tables", msg: flowStatsRequest(0xff, nil)},
		{name: "flow stats in_port", msg: flowStatsRequest(2, []byte{0x80, 0, 0, 4, 0, 0, 0, 5})},
		{name: "standard group-mod", msg: groupMod(t, openflow13.NewActionOutput(3), openflow13.NewActionPushVlan(0x8100))},
		{name: "standard packet-out", msg: packetOut(popVLAN, rawOutput(0xfffffff8))},
		{name: "table-mod table 3", msg: rawMsg(typeTableMod, 3, 0, 0, 0, 0, 0, 0, 0)},

		{"ONF bundle open", bundleOpen, ReasonExperimenterMessage, ErrTypeBadRequest, CodeBadRequestExperimenter, 0},
		{"Nicira message", nxtMsg, ReasonExperimenterMessage, ErrTypeBadRequest, CodeBadRequestExperimenter, 0},
		{"experimenter multipart", rawMsg(typeMultipartReq, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0x23, 0x20, 0, 0, 0, 0), ReasonExperimenterMultipart, ErrTypeBadRequest, CodeBadRequestExperimenter, 0},
		{"NXM tun_dst match", flowWithRawOXM(t, []byte{0x00, 0x01, 32 << 1, 4, 198, 18, 0, 2}), ReasonMatchField, ErrTypeBadMatch, CodeBadMatchField, 0},
		{"NXM reg0 match (libOpenflow)", func() []byte {
			fm := stdFlow(0, 0)
			fm.Match.AddField(*nxReg)
			return marshal(t, fm)
		}(), ReasonMatchField, ErrTypeBadMatch, CodeBadMatchField, 0},
		{"experimenter OXM match", flowWithRawOXM(t, expOXM), ReasonMatchField, ErrTypeBadMatch, CodeBadMatchField, 0},
		{"basic field 41 (OpenFlow 1.4 pbb_uca)", flowWithRawOXM(t, []byte{0x80, 0, 41 << 1, 1, 1, 0, 0, 0}), ReasonMatchField, ErrTypeBadMatch, CodeBadMatchField, 0},
		{"Nicira reg_move", marshal(t, stdFlow(0, 0, regMove)), ReasonExperimenterAction, ErrTypeBadAction, CodeBadActionExperimenter, 0},
		{"Nicira resubmit in write-actions", func() []byte {
			fm := stdFlow(0, 0)
			wa := openflow13.NewInstrWriteActions()
			wa.AddAction(openflow13.NewNXActionResubmitTableAction(0xfff8, 2), false)
			fm.AddInstruction(wa)
			return marshal(t, fm)
		}(), ReasonExperimenterAction, ErrTypeBadAction, CodeBadActionExperimenter, 0},
		{"set_field tun_dst (libOpenflow)", marshal(t, stdFlow(0, 0, openflow13.NewActionSetField(*tunDst), openflow13.NewActionOutput(2))), ReasonSetFieldType, ErrTypeBadAction, CodeBadActionSetType, 0},
		{"set_field tun_dst (raw)", withInstruction(marshal(t, stdFlow(0, 0)), append([]byte{0, 4, 0, 24, 0, 0, 0, 0}, nxSetTunDst...)), ReasonSetFieldType, ErrTypeBadAction, CodeBadActionSetType, 0},
		{"OpenFlow 1.1 set_vlan_vid action type", withInstruction(std, []byte{0, 4, 0, 16, 0, 0, 0, 0, 0, 1, 0, 8, 0, 100, 0, 0}), ReasonActionType, ErrTypeBadAction, CodeBadActionType, 0},
		{"experimenter instruction", withInstruction(std, expInst), ReasonExperimenterInstruction, ErrTypeBadInstruction, CodeBadInstUnsup, 0},
		{"undefined instruction type 7", withInstruction(std, []byte{0, 7, 0, 8, 0, 0, 0, 0}), ReasonInstructionType, ErrTypeBadInstruction, CodeBadInstUnknown, 0},
		{"flow-mod in table 4 of 4", bigTable, ReasonTableID, ErrTypeFlowModFailed, CodeFlowModBadTableID, 0},
		{"flow-mod in table 4 of 8", bigTable, "", 0, 0, 8},
		{"add to OFPTT_ALL", marshal(t, addAll), ReasonTableID, ErrTypeFlowModFailed, CodeFlowModBadTableID, 0},
		{"strict delete in table 9", marshal(t, delStrict9), ReasonTableID, ErrTypeFlowModFailed, CodeFlowModBadTableID, 0},
		{"goto table 4 of 4", marshal(t, stdFlow(1, 4)), ReasonGotoTable, ErrTypeBadInstruction, CodeBadInstTableID, 0},
		{"goto table 2 of 2", marshal(t, stdFlow(1, 2)), ReasonGotoTable, ErrTypeBadInstruction, CodeBadInstTableID, 2},
		{"table-mod table 5", rawMsg(typeTableMod, 5, 0, 0, 0, 0, 0, 0, 0), ReasonTableID, ErrTypeTableModFailed, CodeTableModBadTable, 0},
		{"flow stats table 7", flowStatsRequest(7, nil), ReasonTableID, ErrTypeBadRequest, CodeBadRequestTableID, 0},
		{"flow stats NXM match", flowStatsRequest(0xff, []byte{0x00, 0x01, 0, 4, 0, 0, 0, 1}), ReasonMatchField, ErrTypeBadMatch, CodeBadMatchField, 0},
		{"group-mod with reg_move", groupMod(t, openflow13.NewActionOutput(3), regMove), ReasonExperimenterAction, ErrTypeBadAction, CodeBadActionExperimenter, 0},
		{"group-mod with set_field tun_dst", groupMod(t, openflow13.NewActionSetField(*tunDst)), ReasonSetFieldType, ErrTypeBadAction, CodeBadActionSetType, 0},
		{"packet-out with Nicira action", packetOut(rawOutput(1), []byte{0xff, 0xff, 0, 16, 0, 0, 0x23, 0x20, 0, 1, 0, 0, 0, 0, 0, 0}), ReasonExperimenterAction, ErrTypeBadAction, CodeBadActionExperimenter, 0},

		{"short flow-mod", std[:40], ReasonMalformed, ErrTypeBadRequest, CodeBadRequestLen, 0},
		{"match longer than message", func() []byte {
			b := append([]byte(nil), std...)
			binary.BigEndian.PutUint16(b[50:52], 400)
			return b
		}(), ReasonMalformed, ErrTypeBadMatch, CodeBadMatchLen, 0},
		{"action of length 4 (pop_vlan as 4 bytes)", withInstruction(std, []byte{0, 4, 0, 12, 0, 0, 0, 0, 0, 18, 0, 4}), ReasonMalformed, ErrTypeBadInstruction, CodeBadInstLen, 0},
		{"action length not a multiple of 8", withInstruction(std, []byte{0, 4, 0, 16, 0, 0, 0, 0, 0, 18, 0, 12, 0, 0, 0, 0}), ReasonMalformed, ErrTypeBadAction, CodeBadActionLen, 0},
		{"packet-out actions_len beyond message", func() []byte {
			b := packetOut(rawOutput(1))
			binary.BigEndian.PutUint16(b[16:18], 500)
			return b
		}(), ReasonMalformed, ErrTypeBadRequest, CodeBadRequestLen, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The checks read messages as framed: the length field is
			// the message's length.
			if int(binary.BigEndian.Uint16(tc.msg[2:4])) != len(tc.msg) {
				binary.BigEndian.PutUint16(tc.msg[2:4], uint16(len(tc.msg)))
			}
			max := tc.maxTables
			if max == 0 {
				max = 4
			}
			v := check(tc.msg, max)
			if tc.reason == "" {
				if v != nil {
					t.Fatalf("refused: %+v", v)
				}
				return
			}
			if v == nil {
				t.Fatalf("accepted, want %s", tc.reason)
			}
			if v.reason != tc.reason || v.errType != tc.typ || v.code != tc.code {
				t.Fatalf("verdict %s type %d code %d (%s), want %s type %d code %d", v.reason, v.errType, v.code, v.detail, tc.reason, tc.typ, tc.code)
			}
			t.Logf("%s", v.detail)
		})
	}
}

// The error answers with the refused message's xid and its first 64
// bytes, as OpenFlow 1.3 §7.4.4 asks.
func TestErrorMsg(t *testing.T) {
	msg := marshal(t, stdFlow(1, 9))
	binary.BigEndian.PutUint32(msg[4:8], 0xdeadbeef)
	v := check(msg, 4)
	e := errorMsg(msg, v)
	if len(e) != 12+64 || e[0] != 4 || e[1] != typeError || int(binary.BigEndian.Uint16(e[2:4])) != len(e) ||
		binary.BigEndian.Uint32(e[4:8]) != 0xdeadbeef || binary.BigEndian.Uint16(e[8:10]) != ErrTypeBadInstruction ||
		binary.BigEndian.Uint16(e[10:12]) != CodeBadInstTableID || string(e[12:]) != string(msg[:64]) {
		t.Fatalf("error message %x", e)
	}
	// libOpenflow decodes it as the same error.
	m, err := openflow13.Parse(e)
	if err != nil {
		t.Fatal(err)
	}
	em, ok := m.(*openflow13.ErrorMsg)
	if !ok || em.Type != openflow13.ET_BAD_INSTRUCTION || em.Code != openflow13.BIC_BAD_TABLE_ID {
		t.Fatalf("libOpenflow reads %#v", m)
	}
	// A short message is echoed whole.
	short := rawMsg(typeExperimenter, 0, 0, 0x23, 0x20, 0, 0, 0, 1)
	if e := errorMsg(short, check(short, 4)); len(e) != 12+len(short) {
		t.Fatalf("error for a short message: %x", e)
	}
}

// The error codes are OpenFlow 1.3's numbers (cross-checked with
// libOpenflow's constants).
func TestCodesMatchOpenFlow13(t *testing.T) {
	for _, c := range []struct {
		name      string
		ours, lib int
	}{
		{"OFPET_BAD_REQUEST", int(ErrTypeBadRequest), openflow13.ET_BAD_REQUEST},
		{"OFPET_BAD_ACTION", int(ErrTypeBadAction), openflow13.ET_BAD_ACTION},
		{"OFPET_BAD_INSTRUCTION", int(ErrTypeBadInstruction), openflow13.ET_BAD_INSTRUCTION},
		{"OFPET_BAD_MATCH", int(ErrTypeBadMatch), openflow13.PET_BAD_MATCH},
		{"OFPET_FLOW_MOD_FAILED", int(ErrTypeFlowModFailed), openflow13.ET_FLOW_MOD_FAILED},
		{"OFPET_GROUP_MOD_FAILED", int(ErrTypeGroupModFailed), openflow13.ET_GROUP_MOD_FAILED},
		{"OFPET_TABLE_MOD_FAILED", int(ErrTypeTableModFailed), openflow13.ET_TABLE_MOD_FAILED},
		{"OFPBRC_BAD_EXPERIMENTER", int(CodeBadRequestExperimenter), openflow13.BRC_BAD_EXPERIMENTER},
		{"OFPBRC_BAD_LEN", int(CodeBadRequestLen), openflow13.BRC_BAD_LEN},
		{"OFPBRC_BAD_TABLE_ID", int(CodeBadRequestTableID), openflow13.BRC_BAD_TABLE_ID},
		{"OFPBAC_BAD_TYPE", int(CodeBadActionType), openflow13.BAC_BAD_TYPE},
		{"OFPBAC_BAD_LEN", int(CodeBadActionLen), openflow13.BAC_BAD_LEN},
		{"OFPBAC_BAD_EXPERIMENTER", int(CodeBadActionExperimenter), openflow13.BAC_BAD_EXPERIMENTER},
		{"OFPBAC_BAD_SET_TYPE", int(CodeBadActionSetType), openflow13.BAC_BAD_SET_TYPE},
		{"OFPBIC_UNKNOWN_INST", int(CodeBadInstUnknown), openflow13.BIC_UNKNOWN_INST},
		{"OFPBIC_UNSUP_INST", int(CodeBadInstUnsup), openflow13.BIC_UNSUP_INST},
		{"OFPBIC_BAD_TABLE_ID", int(CodeBadInstTableID), openflow13.BIC_BAD_TABLE_ID},
		{"OFPBIC_BAD_LEN", int(CodeBadInstLen), openflow13.BIC_BAD_LEN},
		{"OFPBMC_BAD_TYPE", int(CodeBadMatchType), openflow13.BMC_BAD_TYPE},
		{"OFPBMC_BAD_LEN", int(CodeBadMatchLen), openflow13.BMC_BAD_LEN},
		{"OFPBMC_BAD_FIELD", int(CodeBadMatchField), openflow13.BMC_BAD_FIELD},
		{"OFPFMFC_BAD_TABLE_ID", int(CodeFlowModBadTableID), openflow13.FMFC_BAD_TABLE_ID},
	} {
		if c.ours != c.lib {
			t.Errorf("%s = %d, libOpenflow says %d", c.name, c.ours, c.lib)
		}
	}
}

func FuzzCheck(f *testing.F) {
	f.Add(rawMsg(typeFlowMod, make([]byte, 48)...))
	f.Add(packetOut(rawOutput(1)))
	f.Add(rawMsg(typeGroupMod, 0, 0, 0, 0, 0, 0, 0, 1, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
	f.Add(flowStatsRequest(0xff, []byte{0x80, 0, 0, 4, 0, 0, 0, 5}))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < headerLen || len(b) > 65535 {
			return
		}
		b[0] = ofVersion13
		binary.BigEndian.PutUint16(b[2:4], uint16(len(b)))
		if v := check(b, 4); v != nil {
			_ = errorMsg(b, v)
		}
	})
}
