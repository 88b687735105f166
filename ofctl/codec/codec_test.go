package codec

import (
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"

	"antrea.io/libOpenflow/openflow13"

	"github.com/nva-project/nva/app/flow"
)

var ovsCodec = New(Options{AllowNicira: true})

func allFlowCases() []flowCase { return append(matchCases(), actionCases()...) }

// withKey gives a case flow its table, priority and cookie.
func withKey(f flow.Flow, i int) flow.Flow {
	f.Table = "classify"
	f.Priority = uint16(100 + i)
	f.Cookie = 0x4e5641_0000000000 | uint64(i)
	return f
}

// marshal encodes a message to wire bytes, checking its length field.
func marshal(t *testing.T, m interface {
	MarshalBinary() ([]byte, error)
	Len() uint16
}) []byte {
	t.Helper()
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if int(binary.BigEndian.Uint16(b[2:])) != len(b) || int(m.Len()) != len(b) {
		t.Fatalf("length field %d, Len %d, marshalled %d bytes", binary.BigEndian.Uint16(b[2:]), m.Len(), len(b))
	}
	return b
}

// statsEntry wraps a FLOW_MOD's match and instructions in an ofp_flow_stats
// entry as a switch would report the flow.
func statsEntry(fmBytes []byte, dur uint32, packets uint64) []byte {
	e := make([]byte, 48, len(fmBytes))
	binary.BigEndian.PutUint16(e[0:], uint16(len(fmBytes)))
	e[2] = fmBytes[24]
	binary.BigEndian.PutUint32(e[4:], dur)
	copy(e[12:14], fmBytes[30:32])
	copy(e[24:32], fmBytes[8:16])
	binary.BigEndian.PutUint64(e[32:], packets)
	binary.BigEndian.PutUint64(e[40:], packets*100)
	return append(e, fmBytes[48:]...)
}

func TestFlowRoundTrip(t *testing.T) {
	for i, c := range allFlowCases() {
		t.Run(c.name, func(t *testing.T) {
			f := withKey(c.f, i)
			fm, err := ovsCodec.EncodeFlowMod(f, tables, FlowAdd)
			if err != nil {
				t.Fatal(err)
			}
			b := marshal(t, fm)
			got, cmd, err := DecodeFlowModBytes(b, tableNames)
			if err != nil {
				t.Fatal(err)
			}
			if cmd != FlowAdd {
				t.Fatalf("command %d", cmd)
			}
			fromStats, st, err := DecodeFlowStatsEntry(statsEntry(b, 7, 3), tableNames)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(fromStats, got) || st.DurationSec != 7 || st.Packets != 3 || st.Bytes != 300 {
				t.Fatalf("flow stats entry decodes differently: %#v %+v", fromStats, st)
			}
			if want := Canonical(f); !reflect.DeepEqual(got, want) {
				t.Fatalf("decode(encode(f)) differs\n got %#v\nwant %#v", got, want)
			}
			// Canonical IR is a fixed point.
			if again := Canonical(got); !reflect.DeepEqual(again, got) {
				t.Fatalf("Canonical(decoded) changed it: %#v", again)
			}
		})
	}
}

func TestGroupRoundTrip(t *testing.T) {
	for _, c := range groupCases() {
		t.Run(c.name, func(t *testing.T) {
			gm, err := ovsCodec.EncodeGroupMod(c.g, GroupAdd)
			if err != nil {
				t.Fatal(err)
			}
			b := marshal(t, gm)
			got, cmd, err := DecodeGroupModBytes(b)
			if err != nil || cmd != GroupAdd {
				t.Fatal(cmd, err)
			}
			// The same body as an ofp_group_desc entry.
			desc := append([]byte{0, 0, b[10], 0}, b[12:]...)
			binary.BigEndian.PutUint16(desc, uint16(len(desc)))
			fromDesc, err := DecodeGroupDescEntry(desc)
			if err != nil || !reflect.DeepEqual(fromDesc, got) {
				t.Fatalf("group desc decodes differently: %#v %v", fromDesc, err)
			}
			if want := CanonicalGroup(c.g); !reflect.DeepEqual(got, want) {
				t.Fatalf("group round trip differs\n got %#v\nwant %#v", got, want)
			}
		})
	}
}

func TestCanonicalMatch(t *testing.T) {
	// Built in a different order, with value bits outside the mask, an
	// all-ones mask and an all-zero (wildcard) mask.
	a := flow.M(
		flow.Masked(flow.Reg0, flow.U32(0xffff), flow.U32(0xff)),
		flow.Masked(flow.EthDst, mac("02:00:00:00:00:01"), mac("ff:ff:ff:ff:ff:ff")),
		flow.Masked(flow.Metadata, flow.U64(5), flow.U64(0)),
		flow.Exact(flow.InPort, flow.U32(1)),
	)
	want := flow.M(
		flow.Exact(flow.InPort, flow.U32(1)),
		flow.Exact(flow.EthDst, mac("02:00:00:00:00:01")),
		flow.Masked(flow.Reg0, flow.U32(0xff), flow.U32(0xff)),
	)
	got := Canonical(flow.Flow{Match: a}).Match
	if !got.Equal(want) {
		t.Fatalf("canonical match\n got %#v\nwant %#v", got, want)
	}
	// The input is not modified.
	if r, _ := a.Get(flow.Reg0); !reflect.DeepEqual(r.Value, flow.U32(0xffff)) {
		t.Fatal("Canonical modified its input")
	}
}

func TestCanonicalActionsAndGroups(t *testing.T) {
	f := Canonical(flow.Flow{
		Actions:       []flow.Action{flow.Output{Port: 3, MaxLen: 99}, &flow.Output{Port: flow.PortController, MaxLen: 64}, flow.PushVLAN{}},
		WriteMetadata: 0xff, MetadataMask: 0x0f,
	})
	want := []flow.Action{flow.Output{Port: 3}, flow.Output{Port: flow.PortController, MaxLen: 64}, flow.PushVLAN{EtherType: flow.EthTypeVLAN}}
	if !reflect.DeepEqual(f.Actions, want) || f.WriteMetadata != 0x0f {
		t.Fatalf("canonical flow: %#v", f)
	}
	if got := Canonical(flow.Flow{Actions: []flow.Action{}}); got.Actions != nil {
		t.Fatal("empty action list must canonicalize to nil")
	}
	g := CanonicalGroup(flow.GroupEntry{ID: 1, Type: flow.GroupAll, Buckets: []flow.Bucket{{Weight: 3, WatchPort: 0, WatchGroup: 0, Actions: []flow.Action{flow.Output{Port: 1}}}}})
	if b := g.Buckets[0]; b.Weight != 0 || b.WatchPort != flow.PortAny || b.WatchGroup != AnyGroup {
		t.Fatalf("canonical all-group bucket: %#v", b)
	}
	ff := CanonicalGroup(flow.GroupEntry{ID: 1, Type: flow.GroupFastFailover, Buckets: []flow.Bucket{{WatchPort: 4, WatchGroup: AnyGroup}}})
	if b := ff.Buckets[0]; b.WatchPort != 4 {
		t.Fatalf("fast-failover watch port lost: %#v", b)
	}
}

func TestStrictProfileRefusesNicira(t *testing.T) {
	strict := New(Options{})
	bad := []flow.Flow{
		{Table: "classify", Match: flow.M(flow.Exact(flow.Reg0, flow.U32(1)))},
		{Table: "classify", Match: flow.M(flow.Exact(flow.TunIPv4Dst, ip("198.18.0.1")))},
		{Table: "classify", Actions: []flow.Action{flow.SetField{Field: flow.TunIPv4Dst, Value: ip("198.18.0.1")}}},
		{Table: "classify", Actions: []flow.Action{flow.Move{Src: flow.EthSrc, Dst: flow.EthDst, Bits: 48}}},
	}
	for i, f := range bad {
		if _, err := strict.EncodeFlowMod(f, tables, FlowAdd); err == nil || !strings.Contains(err.Error(), "Nicira") {
			t.Errorf("flow %d: strict profile accepted a Nicira extension (err %v)", i, err)
		}
		if _, err := ovsCodec.EncodeFlowMod(f, tables, FlowAdd); err != nil {
			t.Errorf("flow %d: OVS profile refused it: %v", i, err)
		}
	}
	g := flow.GroupEntry{ID: 1, Buckets: []flow.Bucket{{Actions: []flow.Action{flow.SetField{Field: flow.TunIPv4Dst, Value: ip("198.18.0.1")}}}}}
	if _, err := strict.EncodeGroupMod(g, GroupAdd); err == nil {
		t.Error("strict profile accepted a Nicira set-field in a bucket")
	}
	// Standard OF1.3 shapes pass the strict profile.
	ok := flow.Flow{Table: "classify", Match: flow.M(flow.Exact(flow.InPort, flow.U32(1)), flow.Exact(flow.TunID, flow.U64(5))),
		Actions: []flow.Action{flow.SetField{Field: flow.TunID, Value: flow.U64(7)}, flow.PushVLAN{}, flow.Group{ID: 3}}, Goto: "l2"}
	if _, err := strict.EncodeFlowMod(ok, tables, FlowAdd); err != nil {
		t.Errorf("strict profile refused standard OF1.3: %v", err)
	}
}

func TestEncodeErrors(t *testing.T) {
	cases := map[string]flow.Flow{
		"unknown table":     {Table: "nope"},
		"unknown goto":      {Table: "classify", Goto: "nope"},
		"backwards goto":    {Table: "l2", Goto: "classify"},
		"unknown field":     {Table: "classify", Match: flow.M(flow.MatchField{Field: "sctp_dst", Value: flow.U16(1)})},
		"short value":       {Table: "classify", Match: flow.M(flow.Exact(flow.InPort, flow.U16(1)))},
		"short mask":        {Table: "classify", Match: flow.M(flow.Masked(flow.Reg0, flow.U32(1), flow.U16(1)))},
		"duplicate field":   {Table: "classify", Match: flow.M(flow.Exact(flow.InPort, flow.U32(1)), flow.Exact(flow.InPort, flow.U32(2)))},
		"move out of range": {Table: "classify", Actions: []flow.Action{flow.Move{Src: flow.Reg0, Dst: flow.Reg1, SrcOfs: 20, Bits: 16}}},
		"move zero bits":    {Table: "classify", Actions: []flow.Action{flow.Move{Src: flow.Reg0, Dst: flow.Reg1}}},
		"set short value":   {Table: "classify", Actions: []flow.Action{flow.SetField{Field: flow.EthDst, Value: []byte{1}}}},
		"nil action":        {Table: "classify", Actions: []flow.Action{nil}},
	}
	for name, f := range cases {
		if _, err := ovsCodec.EncodeFlowMod(f, tables, FlowAdd); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := ovsCodec.EncodeGroupMod(flow.GroupEntry{ID: 0xfffffffc}, GroupAdd); err == nil {
		t.Error("reserved group ID accepted")
	}
}

func TestDeleteStrictMatchesCookieExactly(t *testing.T) {
	f := withKey(flow.Flow{Match: flow.M(flow.Exact(flow.InPort, flow.U32(1))), Actions: []flow.Action{flow.Output{Port: 2}}}, 1)
	fm, err := ovsCodec.EncodeFlowMod(f, tables, FlowDeleteStrict)
	if err != nil {
		t.Fatal(err)
	}
	back := openflow13.NewFlowMod()
	if err := back.UnmarshalBinary(marshal(t, fm)); err != nil {
		t.Fatal(err)
	}
	if back.Command != FlowDeleteStrict || back.Cookie != f.Cookie || back.CookieMask != ^uint64(0) {
		t.Fatalf("delete-strict: command %d cookie %#x mask %#x", back.Command, back.Cookie, back.CookieMask)
	}
	if len(back.Instructions) != 0 {
		t.Fatalf("delete carries %d instructions", len(back.Instructions))
	}
	if back.OutPort != openflow13.P_ANY || back.OutGroup != openflow13.OFPG_ANY {
		t.Fatalf("delete out_port %#x out_group %#x, want ANY", back.OutPort, back.OutGroup)
	}
	mod, err := ovsCodec.EncodeFlowMod(f, tables, FlowModifyStrict)
	if err != nil {
		t.Fatal(err)
	}
	back = openflow13.NewFlowMod()
	if err := back.UnmarshalBinary(marshal(t, mod)); err != nil {
		t.Fatal(err)
	}
	if back.CookieMask != 0 || len(back.Instructions) != 1 {
		t.Fatalf("modify-strict: cookie mask %#x, %d instructions", back.CookieMask, len(back.Instructions))
	}
}

func TestUnnamedTables(t *testing.T) {
	f := flow.Flow{Table: UnnamedTable(200), Priority: 1, Cookie: 1}
	fm, err := ovsCodec.EncodeFlowMod(f, tables, FlowAdd)
	if err != nil {
		t.Fatal(err)
	}
	if fm.TableId != 200 {
		t.Fatalf("table %d", fm.TableId)
	}
	got, _, err := DecodeFlowModBytes(marshal(t, fm), tableNames)
	if err != nil || got.Table != "#200" {
		t.Fatalf("decoded table %q, err %v", got.Table, err)
	}
}

func TestDecodeRejectsUnrepresentable(t *testing.T) {
	fm := openflow13.NewFlowMod()
	fm.TableId = 30
	fm.Priority = 5
	fm.Cookie = 9
	fm.Match.AddField(*openflow13.NewInPortField(3))
	wa := openflow13.NewInstrWriteActions()
	_ = wa.AddAction(openflow13.NewActionOutput(2), false)
	fm.AddInstruction(wa)
	f, _, err := DecodeFlowStatsEntry(statsEntry(marshal(t, fm), 1, 1), tableNames)
	var pe *PartialError
	if !errors.As(err, &pe) {
		t.Fatalf("write-actions decoded without a PartialError: %v", err)
	}
	// The key survives so the reconciler can replace or delete the entry.
	if f.Table != "l2" || f.Priority != 5 || f.Cookie != 9 || !f.Match.Equal(flow.M(flow.Exact(flow.InPort, flow.U32(3)))) {
		t.Fatalf("partial flow lost its key: %#v", f)
	}
	// An unknown action inside apply-actions is partial too.
	fm.Instructions = nil
	aa := openflow13.NewInstrApplyActions()
	_ = aa.AddAction(openflow13.NewActionSetQueue(3), false)
	fm.AddInstruction(aa)
	if _, _, err := DecodeFlowStatsEntry(statsEntry(marshal(t, fm), 1, 1), tableNames); !errors.As(err, &pe) {
		t.Fatalf("set_queue decoded without a PartialError: %v", err)
	}
}

// A Nicira load of a whole field (how OVS may report a set-field) decodes
// to the same SetField; a partial load does not.
func TestDecodeRegLoad(t *testing.T) {
	s, _ := flow.Spec(flow.Reg2)
	for _, c := range []struct {
		ofsNbits uint16
		ok       bool
	}{{0<<6 | 31, true}, {4<<6 | 7, false}} {
		b, err := openflow13.NewNXActionRegLoad(c.ofsNbits, headerOnly(s), 0xabc).MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		b = append(b, make([]byte, 0)...)
		got, err := decodeActionList(b)
		if !c.ok {
			if err == nil {
				t.Fatal("partial load decoded as a whole-field set")
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if want := []flow.Action{flow.SetField{Field: flow.Reg2, Value: flow.U32(0xabc)}}; !reflect.DeepEqual(got, want) {
			t.Fatalf("got %#v want %#v", got, want)
		}
	}
}

// Malformed bytes are errors, never panics: every prefix and every
// single-byte corruption of real entries.
func TestDecodeMalformed(t *testing.T) {
	for i, c := range allFlowCases() {
		fm, err := ovsCodec.EncodeFlowMod(withKey(c.f, i), tables, FlowAdd)
		if err != nil {
			t.Fatal(err)
		}
		e := statsEntry(marshal(t, fm), 1, 1)
		for n := 0; n < len(e); n++ {
			cut := append([]byte(nil), e[:n]...)
			if n >= 2 {
				binary.BigEndian.PutUint16(cut, uint16(n))
			}
			_, _, _ = DecodeFlowStatsEntry(cut, tableNames)
			bad := append([]byte(nil), e...)
			bad[n] ^= 0xa5
			_, _, _ = DecodeFlowStatsEntry(bad, tableNames)
		}
	}
}

// Every field of app/flow's registry is exercised as a match field by the
// shape tables (so the round-trip and ofp-print tests cover it); a field
// added to the registry without a shape fails here.
func TestShapesCoverRegistry(t *testing.T) {
	matched, set := map[string]bool{}, map[string]bool{}
	for _, c := range allFlowCases() {
		for m := range c.f.Match.Fields() {
			matched[m.Field] = true
		}
		for _, a := range c.f.Actions {
			if s, ok := a.(flow.SetField); ok {
				set[s.Field] = true
			}
		}
	}
	for _, s := range flow.Specs() {
		if !matched[s.Name] {
			t.Errorf("registry field %s has no match shape", s.Name)
		}
		// nw_ttl is only matched (TTL changes are dec_ttl): OVS turns a
		// set_field of it into its own mod_nw_ttl action. ip_dscp is only
		// matched (live traces' mark).
		if !set[s.Name] && s.Name != flow.InPort && s.Name != flow.EthType && s.Name != flow.IPProto && s.Name != flow.IPTTL && s.Name != flow.IPDSCP && s.Name != flow.CTState {
			t.Errorf("registry field %s has no set_field shape", s.Name)
		}
	}
}
