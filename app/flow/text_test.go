package flow

import (
	"net"
	"net/netip"
	"testing"
)

func TestFormatFlowNamesAndNumbers(t *testing.T) {
	mac, _ := net.ParseMAC("02:00:00:00:00:01")
	f := Flow{Table: "classify", Priority: 100,
		Match: M(Exact(VlanVID, U16(0x1000|10)), Exact(InPort, U32(5)),
			Masked(EthDst, MAC(net.HardwareAddr{1, 0, 0, 0, 0, 0}), MAC(net.HardwareAddr{1, 0, 0, 0, 0, 0}))),
		Actions: []Action{PopVLAN{}, SetField{Field: TunIPv4Dst, Value: IP(netip.MustParseAddr("198.18.0.2"))},
			Move{Src: EthSrc, Dst: EthDst, Bits: 48}, Move{Src: Reg0, Dst: Reg1, SrcOfs: 0, DstOfs: 16, Bits: 16},
			SetField{Field: EthSrc, Value: MAC(mac)}, PushVLAN{EtherType: EthTypeVLAN}, Group{ID: 7},
			Output{Port: PortInPort}, Output{Port: PortController}, Output{Port: 3}},
		WriteMetadata: 0x64, MetadataMask: 0xffffff, Goto: "port_security", Cookie: 0x4e56000000000001}
	want := "table=classify,priority=100,in_port=5,eth_dst=01:00:00:00:00:00/01:00:00:00:00:00,vlan_vid=0x100a," +
		"actions=pop_vlan,set_field:198.18.0.2->tun_dst,move:eth_src[]->eth_dst[],move:reg0[0..15]->reg1[16..31]," +
		"set_field:02:00:00:00:00:01->eth_src,push_vlan:0x8100,group:7,IN_PORT,CONTROLLER:65535,output:3," +
		"write_metadata:0x64/0xffffff,goto_table:port_security"
	if got := f.String(); got != want {
		t.Errorf("named:\n got %s\nwant %s", got, want)
	}
	num := func(n string) (uint8, bool) {
		return map[string]uint8{"classify": 0, "port_security": 10}[n], n == "classify" || n == "port_security"
	}
	got, err := FormatFlow(f, TextOptions{TableNumber: num, Cookie: true})
	if err != nil {
		t.Fatal(err)
	}
	want2 := "table=0,priority=100,cookie=0x4e56000000000001,in_port=5,"
	if got[:len(want2)] != want2 || got[len(got)-len("goto_table:10"):] != "goto_table:10" {
		t.Errorf("numbered: %s", got)
	}
	if _, err := FormatFlow(Flow{Table: "x"}, TextOptions{TableNumber: num}); err == nil {
		t.Error("unknown table accepted")
	}
	if got := (Flow{Table: "t", Priority: 0}).String(); got != "table=t,priority=0,actions=drop" {
		t.Errorf("drop flow: %s", got)
	}
}

func TestFormatMaskedDecimalAndIPv6(t *testing.T) {
	m := M(Masked(UDPSrc, U16(0x40), U16(0xffc0)), Masked(IPv6Src, IP(netip.MustParseAddr("fe80::")), IP(netip.MustParseAddr("ffc0::"))))
	if got := FormatMatch(m); got != "ipv6_src=fe80::/ffc0::,udp_src=0x40/0xffc0" {
		t.Errorf("got %s", got)
	}
}

func TestFormatGroup(t *testing.T) {
	g := GroupEntry{ID: 200, Type: GroupAll, Buckets: []Bucket{
		{Actions: []Action{Output{Port: 1}}},
		{Actions: []Action{SetField{Field: TunID, Value: U64(100)}, Output{Port: 100}}},
	}}
	if got := g.String(); got != "group_id=200,type=all,bucket=actions=output:1,bucket=actions=set_field:0x64->tun_id,output:100" {
		t.Errorf("got %s", got)
	}
	ff := GroupEntry{ID: 1, Type: GroupFastFailover, Buckets: []Bucket{{WatchPort: 4, WatchGroup: PortAny, Actions: []Action{Output{Port: 4}}}}}
	if got := ff.String(); got != "group_id=1,type=ff,bucket=watch_port:4,actions=output:4" {
		t.Errorf("got %s", got)
	}
	sel := GroupEntry{ID: 2, Type: GroupSelect, Buckets: []Bucket{{Weight: 3}}}
	if got := sel.String(); got != "group_id=2,type=select,bucket=weight:3,actions=drop" {
		t.Errorf("got %s", got)
	}
	if got := FormatGroups([]GroupEntry{sel, ff}); got != ff.String()+"\n"+sel.String()+"\n" {
		t.Errorf("groups not sorted by ID: %s", got)
	}
}

func TestSortFlows(t *testing.T) {
	fs := []Flow{
		{Table: "b", Priority: 1},
		{Table: "a", Priority: 1, Match: M(Exact(InPort, U32(2)))},
		{Table: "a", Priority: 9},
		{Table: "a", Priority: 1, Match: M(Exact(InPort, U32(1)))},
	}
	order := map[string]int{"b": 0, "a": 1}
	SortFlows(fs, func(n string) int { return order[n] })
	got := []string{}
	for _, f := range fs {
		got = append(got, f.String())
	}
	want := []string{"table=b,priority=1,actions=drop", "table=a,priority=9,actions=drop",
		"table=a,priority=1,in_port=1,actions=drop", "table=a,priority=1,in_port=2,actions=drop"}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("order %v, want %v", got, want)
		}
	}
}

func TestCookie(t *testing.T) {
	f := Flow{Table: "l2_forward", Priority: 100, Match: M(Exact(InPort, U32(1)))}
	f.SetCookie(7)
	if !IsNVACookie(f.Cookie) || CookieGeneration(f.Cookie) != 7 || CookieID(f.Cookie) != ID(f) {
		t.Fatalf("cookie %#x", f.Cookie)
	}
	if f.Cookie&CookieTagMask != NVACookie || f.Cookie>>48 != 0x4e56 {
		t.Errorf("tag bits wrong: %#x", f.Cookie)
	}
	if f.Cookie&GenerationMask != MakeCookie(7, 0) {
		t.Errorf("generation selection wrong: %#x", f.Cookie&GenerationMask)
	}
	// Same identity, other actions: same ID. Other match or priority: other ID.
	g := f
	g.Actions = []Action{Output{Port: 9}}
	if ID(g) != ID(f) {
		t.Error("actions changed the flow ID")
	}
	h := f
	h.Priority = 101
	k := f
	k.Match = M(Exact(InPort, U32(2)))
	if ID(h) == ID(f) || ID(k) == ID(f) {
		t.Error("different flows share an ID")
	}
	if IsNVACookie(0x1234000000000000) {
		t.Error("foreign cookie taken as nva's")
	}
}
