package codec

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/nva-project/nva/app/flow"
)

// TestCTRoundTrip: the ct action as the L3 gateway uses it (commit, zone,
// table, SNAT/DNAT to one IPv4 address, bare nat, no table) decodes back
// to the IR it was encoded from, table named, so reconciliation sees the
// installed flow as the desired one; the strict profile refuses it.
func TestCTRoundTrip(t *testing.T) {
	ip := flow.Exact(flow.EthType, flow.U16(flow.EthTypeIPv4))
	a := netip.MustParseAddr("203.0.113.10")
	for i, ct := range []flow.CT{
		{Commit: true, Zone: 0xf000, Table: "out", NAT: flow.NATSrc, NATAddr: a},
		{Commit: true, Zone: 0xf001, Table: "l2", NAT: flow.NATDst, NATAddr: netip.MustParseAddr("10.1.0.10")},
		{Zone: 0xf000, Table: "out", NAT: flow.NATReverse},
		{Commit: true, Zone: 7},
		{Zone: 1, NAT: flow.NATSrc, NATAddr: netip.MustParseAddr("2001:db8::1")},
	} {
		f := withKey(flow.Flow{Match: flow.M(ip), Actions: []flow.Action{flow.SetField{Field: flow.Reg0, Value: flow.U32(0xf000)}, ct}}, i)
		fm, err := ovsCodec.EncodeFlowMod(f, tables, FlowAdd)
		if err != nil {
			t.Fatalf("%s: %v", flow.FormatCT(ct, nil), err)
		}
		got, _, err := DecodeFlowModBytes(marshal(t, fm), tableNames)
		if err != nil {
			t.Fatalf("%s: %v", flow.FormatCT(ct, nil), err)
		}
		if want := Canonical(f); !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: decode(encode(f)) differs\n got %#v\nwant %#v", flow.FormatCT(ct, nil), got, want)
		}
	}
	f := withKey(flow.Flow{Match: flow.M(ip), Actions: []flow.Action{flow.CT{Zone: 1}}}, 0)
	if _, err := New(Options{}).EncodeFlowMod(f, tables, FlowAdd); err == nil {
		t.Fatal("the strict codec encoded a ct action")
	}
}
