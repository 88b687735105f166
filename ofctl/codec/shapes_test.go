package codec

import (
	"net"
	"net/netip"

	"github.com/nva-project/nva/app/flow"
)

// Test pipeline: names <-> numbers.
var testTables = map[string]uint8{"classify": 0, "portsec": 10, "arp": 20, "l2": 30, "out": 40}

func tables(name string) (uint8, bool) { n, ok := testTables[name]; return n, ok }

func tableNames(n uint8) string {
	for k, v := range testTables {
		if v == n {
			return k
		}
	}
	return ""
}

func mac(s string) []byte {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return flow.MAC(m)
}

func ip(s string) []byte { return flow.IP(netip.MustParseAddr(s)) }

// flowCase is one flow shape with its independent ovs-ofctl spelling: the
// text ovs-ofctl itself encodes (parse-flow) must print exactly like our
// encoding of IR (ofp-print).
type flowCase struct {
	name string
	f    flow.Flow
	ovs  string // ovs-ofctl flow syntax, without table/priority/cookie
}

var (
	ethARP  = flow.Exact(flow.EthType, flow.U16(flow.EthTypeARP))
	ethIPv4 = flow.Exact(flow.EthType, flow.U16(flow.EthTypeIPv4))
	ethIPv6 = flow.Exact(flow.EthType, flow.U16(flow.EthTypeIPv6))
	icmp6   = flow.Exact(flow.IPProto, flow.U8(flow.ProtoICMPv6))
)

// matchCases: one flow per registry field (exact, and masked where OVS
// allows a mask), with the prerequisites the field needs.
func matchCases() []flowCase {
	out := []flowCase{
		{"in_port", flow.Flow{Match: flow.M(flow.Exact(flow.InPort, flow.U32(5)))}, "in_port=5"},
		{"metadata", flow.Flow{Match: flow.M(flow.Exact(flow.Metadata, flow.U64(0x1234)))}, "metadata=0x1234"},
		{"metadata/mask", flow.Flow{Match: flow.M(flow.Masked(flow.Metadata, flow.U64(0x34), flow.U64(0xff)))}, "metadata=0x34/0xff"},
		{"eth_dst", flow.Flow{Match: flow.M(flow.Exact(flow.EthDst, mac("02:00:00:00:00:01")))}, "dl_dst=02:00:00:00:00:01"},
		{"eth_dst/mcast", flow.Flow{Match: flow.M(flow.Masked(flow.EthDst, mac("01:00:00:00:00:00"), mac("01:00:00:00:00:00")))}, "dl_dst=01:00:00:00:00:00/01:00:00:00:00:00"},
		{"eth_src", flow.Flow{Match: flow.M(flow.Exact(flow.EthSrc, mac("02:00:00:00:00:02")))}, "dl_src=02:00:00:00:00:02"},
		{"eth_src/mask", flow.Flow{Match: flow.M(flow.Masked(flow.EthSrc, mac("02:00:00:00:00:00"), mac("ff:ff:ff:00:00:00")))}, "dl_src=02:00:00:00:00:00/ff:ff:ff:00:00:00"},
		{"eth_type", flow.Flow{Match: flow.M(ethARP)}, "dl_type=0x0806"},
		{"vlan_vid", flow.Flow{Match: flow.M(flow.Exact(flow.VlanVID, flow.U16(flow.VIDPresent|100)))}, "dl_vlan=100"},
		{"vlan_vid/none", flow.Flow{Match: flow.M(flow.Exact(flow.VlanVID, flow.U16(0)))}, "vlan_tci=0x0000/0x1fff"},
		{"vlan_vid/present", flow.Flow{Match: flow.M(flow.Masked(flow.VlanVID, flow.U16(flow.VIDPresent), flow.U16(flow.VIDPresent)))}, "vlan_tci=0x1000/0x1000"},
		{"ip_proto", flow.Flow{Match: flow.M(ethIPv6, icmp6)}, "dl_type=0x86dd,nw_proto=58"},
		{"ip_src", flow.Flow{Match: flow.M(ethIPv4, flow.Exact(flow.IPv4Src, ip("198.18.1.2")))}, "ip,nw_src=198.18.1.2"},
		{"ip_src/24", flow.Flow{Match: flow.M(ethIPv4, flow.Masked(flow.IPv4Src, ip("198.18.1.0"), ip("255.255.255.0")))}, "ip,nw_src=198.18.1.0/24"},
		{"ip_dst", flow.Flow{Match: flow.M(ethIPv4, flow.Exact(flow.IPv4Dst, ip("198.18.1.3")))}, "ip,nw_dst=198.18.1.3"},
		{"ip_dst/16", flow.Flow{Match: flow.M(ethIPv4, flow.Masked(flow.IPv4Dst, ip("198.18.0.0"), ip("255.255.0.0")))}, "ip,nw_dst=198.18.0.0/16"},
		{"arp_op", flow.Flow{Match: flow.M(ethARP, flow.Exact(flow.ARPOp, flow.U16(1)))}, "arp,arp_op=1"},
		{"arp_spa", flow.Flow{Match: flow.M(ethARP, flow.Exact(flow.ARPSPA, ip("198.18.1.2")))}, "arp,arp_spa=198.18.1.2"},
		{"arp_spa/mask", flow.Flow{Match: flow.M(ethARP, flow.Masked(flow.ARPSPA, ip("198.18.1.0"), ip("255.255.255.0")))}, "arp,arp_spa=198.18.1.0/24"},
		{"arp_tpa", flow.Flow{Match: flow.M(ethARP, flow.Exact(flow.ARPTPA, ip("198.18.1.3")))}, "arp,arp_tpa=198.18.1.3"},
		{"arp_sha", flow.Flow{Match: flow.M(ethARP, flow.Exact(flow.ARPSHA, mac("02:00:00:00:00:02")))}, "arp,arp_sha=02:00:00:00:00:02"},
		{"arp_tha", flow.Flow{Match: flow.M(ethARP, flow.Exact(flow.ARPTHA, mac("02:00:00:00:00:03")))}, "arp,arp_tha=02:00:00:00:00:03"},
		{"ipv6_src", flow.Flow{Match: flow.M(ethIPv6, flow.Exact(flow.IPv6Src, ip("2001:db8::2")))}, "ipv6,ipv6_src=2001:db8::2"},
		{"ipv6_src/64", flow.Flow{Match: flow.M(ethIPv6, flow.Masked(flow.IPv6Src, ip("2001:db8::"), ip("ffff:ffff:ffff:ffff::")))}, "ipv6,ipv6_src=2001:db8::/64"},
		{"ipv6_dst", flow.Flow{Match: flow.M(ethIPv6, flow.Exact(flow.IPv6Dst, ip("2001:db8::3")))}, "ipv6,ipv6_dst=2001:db8::3"},
		{"icmpv6_type", flow.Flow{Match: flow.M(ethIPv6, icmp6, flow.Exact(flow.ICMPv6Type, flow.U8(135)))}, "icmp6,icmp_type=135"},
		{"icmpv6_code", flow.Flow{Match: flow.M(ethIPv6, icmp6, flow.Exact(flow.ICMPv6Type, flow.U8(135)), flow.Exact(flow.ICMPv6Code, flow.U8(0)))}, "icmp6,icmp_type=135,icmp_code=0"},
		{"nd_target", flow.Flow{Match: flow.M(ethIPv6, icmp6, flow.Exact(flow.ICMPv6Type, flow.U8(135)), flow.Exact(flow.NDTarget, ip("2001:db8::3")))}, "icmp6,icmp_type=135,nd_target=2001:db8::3"},
		{"nd_sll", flow.Flow{Match: flow.M(ethIPv6, icmp6, flow.Exact(flow.ICMPv6Type, flow.U8(135)), flow.Exact(flow.NDSLL, mac("02:00:00:00:00:02")))}, "icmp6,icmp_type=135,nd_sll=02:00:00:00:00:02"},
		{"nd_tll", flow.Flow{Match: flow.M(ethIPv6, icmp6, flow.Exact(flow.ICMPv6Type, flow.U8(136)), flow.Exact(flow.NDTLL, mac("02:00:00:00:00:03")))}, "icmp6,icmp_type=136,nd_tll=02:00:00:00:00:03"},
		{"tun_id", flow.Flow{Match: flow.M(flow.Exact(flow.TunID, flow.U64(5001)))}, "tun_id=0x1389"},
		{"tun_id/mask", flow.Flow{Match: flow.M(flow.Masked(flow.TunID, flow.U64(0x1000), flow.U64(0xfff000)))}, "tun_id=0x1000/0xfff000"},
		{"tun_src", flow.Flow{Match: flow.M(flow.Exact(flow.TunIPv4Src, ip("198.18.0.2")))}, "tun_src=198.18.0.2"},
		{"tun_dst", flow.Flow{Match: flow.M(flow.Exact(flow.TunIPv4Dst, ip("198.18.0.1")))}, "tun_dst=198.18.0.1"},
		{"tun_dst/mask", flow.Flow{Match: flow.M(flow.Masked(flow.TunIPv4Dst, ip("198.18.0.0"), ip("255.255.255.0")))}, "tun_dst=198.18.0.0/24"},
		{"reg0", flow.Flow{Match: flow.M(flow.Exact(flow.Reg0, flow.U32(7)))}, "reg0=0x7"},
		{"reg1/mask", flow.Flow{Match: flow.M(flow.Masked(flow.Reg1, flow.U32(0x10000), flow.U32(0xffff0000)))}, "reg1=0x10000/0xffff0000"},
		{"reg2", flow.Flow{Match: flow.M(flow.Exact(flow.Reg2, flow.U32(0xffffffff)))}, "reg2=0xffffffff"},
		{"reg3", flow.Flow{Match: flow.M(flow.Exact(flow.Reg3, flow.U32(1)))}, "reg3=0x1"},
		{"udp_src/dst", flow.Flow{Match: flow.M(ethIPv4, flow.Exact(flow.IPProto, flow.U8(17)), flow.Exact(flow.UDPSrc, flow.U16(68)), flow.Exact(flow.UDPDst, flow.U16(67)))}, "udp,tp_src=68,tp_dst=67"},
		{"tcp_src/dst", flow.Flow{Match: flow.M(ethIPv4, flow.Exact(flow.IPProto, flow.U8(6)), flow.Exact(flow.TCPSrc, flow.U16(40000)), flow.Exact(flow.TCPDst, flow.U16(80)))}, "tcp,tp_src=40000,tp_dst=80"},
		{"tcp_dst/mask", flow.Flow{Match: flow.M(ethIPv4, flow.Exact(flow.IPProto, flow.U8(6)), flow.Masked(flow.TCPDst, flow.U16(0x1f40), flow.U16(0xfffc)))}, "tcp,tp_dst=0x1f40/0xfffc"},
		{"ct_state", flow.Flow{Match: flow.M(ethIPv4, flow.Masked(flow.CTState, flow.U32(0x22), flow.U32(0x22)))}, "ct_state=+est+trk,ip"},
		{"nd_reserved", flow.Flow{Match: flow.M(ethIPv6, icmp6, flow.Exact(flow.ICMPv6Type, flow.U8(136)), flow.Exact(flow.NDReserved, flow.U32(0x60000000)))}, "icmp6,icmp_type=136,nd_reserved=0x60000000"},
		{"nd_options_type", flow.Flow{Match: flow.M(ethIPv6, icmp6, flow.Exact(flow.ICMPv6Type, flow.U8(135)), flow.Exact(flow.NDOptionsType, flow.U8(1)))}, "icmp6,icmp_type=135,nd_options_type=1"},
		{"empty", flow.Flow{}, ""},
	}
	return out
}

// actionCases: every action type and every settable field.
func actionCases() []flowCase {
	return []flowCase{
		{"output", flow.Flow{Actions: []flow.Action{flow.Output{Port: 3}}}, "actions=output:3"},
		{"output/in_port", flow.Flow{Match: flow.M(flow.Exact(flow.InPort, flow.U32(2))), Actions: []flow.Action{flow.Output{Port: flow.PortInPort}}}, "in_port=2,actions=in_port"},
		{"output/controller", flow.Flow{Actions: []flow.Action{flow.Output{Port: flow.PortController, MaxLen: 128}}}, "actions=controller:128"},
		{"output/controller-nobuf", flow.Flow{Actions: []flow.Action{flow.Output{Port: flow.PortController, MaxLen: 0xffff}}}, "actions=controller:65535"},
		{"output/local", flow.Flow{Actions: []flow.Action{flow.Output{Port: flow.PortLocal}}}, "actions=LOCAL"},
		{"set eth_src+eth_dst", flow.Flow{Actions: []flow.Action{
			flow.SetField{Field: flow.EthSrc, Value: mac("02:00:00:00:00:0a")},
			flow.SetField{Field: flow.EthDst, Value: mac("02:00:00:00:00:0b")},
			flow.Output{Port: 1}}}, "actions=set_field:02:00:00:00:00:0a->eth_src,set_field:02:00:00:00:00:0b->eth_dst,output:1"},
		{"tunnel encap", flow.Flow{Actions: []flow.Action{
			flow.SetField{Field: flow.TunID, Value: flow.U64(5001)},
			flow.SetField{Field: flow.TunIPv4Dst, Value: ip("198.18.0.2")},
			flow.Output{Port: 100}}}, "actions=set_field:0x1389->tun_id,set_field:198.18.0.2->tun_dst,output:100"},
		{"set tun_src", flow.Flow{Actions: []flow.Action{flow.SetField{Field: flow.TunIPv4Src, Value: ip("198.18.0.1")}, flow.Output{Port: 100}}}, "actions=set_field:198.18.0.1->tun_src,output:100"},
		{"set regs", flow.Flow{Actions: []flow.Action{
			flow.SetField{Field: flow.Reg0, Value: flow.U32(1)},
			flow.SetField{Field: flow.Reg1, Value: flow.U32(0x20)},
			flow.SetField{Field: flow.Reg2, Value: flow.U32(0x300)},
			flow.SetField{Field: flow.Reg3, Value: flow.U32(0xffffffff)}},
			Goto: "l2"}, "actions=set_field:0x1->reg0,set_field:0x20->reg1,set_field:0x300->reg2,set_field:0xffffffff->reg3,goto_table:30"},
		{"set metadata", flow.Flow{Actions: []flow.Action{flow.SetField{Field: flow.Metadata, Value: flow.U64(0x99)}}, Goto: "portsec"}, "actions=set_field:0x99->metadata,goto_table:10"},
		{"arp responder", flow.Flow{
			Match: flow.M(ethARP, flow.Exact(flow.ARPOp, flow.U16(1)), flow.Exact(flow.ARPTPA, ip("198.18.1.3"))),
			Actions: []flow.Action{
				flow.Move{Src: flow.EthSrc, Dst: flow.EthDst, Bits: 48},
				flow.SetField{Field: flow.EthSrc, Value: mac("02:00:00:00:00:03")},
				flow.SetField{Field: flow.ARPOp, Value: flow.U16(2)},
				flow.Move{Src: flow.ARPSHA, Dst: flow.ARPTHA, Bits: 48},
				flow.SetField{Field: flow.ARPSHA, Value: mac("02:00:00:00:00:03")},
				flow.Move{Src: flow.ARPSPA, Dst: flow.ARPTPA, Bits: 32},
				flow.SetField{Field: flow.ARPSPA, Value: ip("198.18.1.3")},
				flow.Output{Port: flow.PortInPort}}},
			"arp,arp_op=1,arp_tpa=198.18.1.3,actions=move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],set_field:02:00:00:00:00:03->eth_src,set_field:2->arp_op,move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],set_field:02:00:00:00:00:03->arp_sha,move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],set_field:198.18.1.3->arp_spa,in_port"},
		{"set arp_tha/tpa", flow.Flow{Match: flow.M(ethARP), Actions: []flow.Action{
			flow.SetField{Field: flow.ARPTHA, Value: mac("02:00:00:00:00:04")},
			flow.SetField{Field: flow.ARPTPA, Value: ip("198.18.1.4")}}}, "arp,actions=set_field:02:00:00:00:00:04->arp_tha,set_field:198.18.1.4->arp_tpa"},
		{"move partial regs", flow.Flow{Actions: []flow.Action{
			flow.Move{Src: flow.Reg0, SrcOfs: 0, Dst: flow.Reg1, DstOfs: 16, Bits: 16},
			flow.Move{Src: flow.TunID, SrcOfs: 0, Dst: flow.Reg2, DstOfs: 0, Bits: 24},
			flow.Move{Src: flow.Reg3, Dst: flow.Metadata, DstOfs: 32, Bits: 32}}},
			"actions=move:NXM_NX_REG0[0..15]->NXM_NX_REG1[16..31],move:NXM_NX_TUN_ID[0..23]->NXM_NX_REG2[0..23],move:NXM_NX_REG3[]->OXM_OF_METADATA[32..63]"},
		{"ipv4 rewrite", flow.Flow{Match: flow.M(ethIPv4), Actions: []flow.Action{
			flow.SetField{Field: flow.IPv4Src, Value: ip("198.18.2.1")},
			flow.SetField{Field: flow.IPv4Dst, Value: ip("198.18.2.2")}}}, "ip,actions=set_field:198.18.2.1->ip_src,set_field:198.18.2.2->ip_dst"},
		{"nd advert", flow.Flow{
			Match: flow.M(ethIPv6, icmp6, flow.Exact(flow.ICMPv6Type, flow.U8(135)), flow.Exact(flow.NDTarget, ip("2001:db8::3"))),
			Actions: []flow.Action{
				flow.Move{Src: flow.IPv6Src, Dst: flow.IPv6Dst, Bits: 128},
				flow.SetField{Field: flow.IPv6Src, Value: ip("2001:db8::3")},
				flow.SetField{Field: flow.ICMPv6Type, Value: flow.U8(136)},
				flow.SetField{Field: flow.ICMPv6Code, Value: flow.U8(0)},
				flow.SetField{Field: flow.NDTarget, Value: ip("2001:db8::3")},
				flow.Output{Port: flow.PortInPort}}},
			"icmp6,icmp_type=135,nd_target=2001:db8::3,actions=move:NXM_NX_IPV6_SRC[]->NXM_NX_IPV6_DST[],set_field:2001:db8::3->ipv6_src,set_field:136->icmpv6_type,set_field:0->icmpv6_code,set_field:2001:db8::3->nd_target,in_port"},
		{"nd responder ericoxm", flow.Flow{
			Match: flow.M(ethIPv6, icmp6, flow.Exact(flow.ICMPv6Type, flow.U8(135)), flow.Exact(flow.NDOptionsType, flow.U8(1))),
			Actions: []flow.Action{
				flow.SetField{Field: flow.ICMPv6Type, Value: flow.U8(136)},
				flow.SetField{Field: flow.NDReserved, Value: flow.U32(0x60000000)},
				flow.SetField{Field: flow.NDOptionsType, Value: flow.U8(2)},
				flow.SetField{Field: flow.NDSLL, Value: mac("02:00:00:00:00:03")}}},
			"icmp6,icmp_type=135,nd_options_type=1,actions=set_field:136->icmpv6_type,set_field:0x60000000->nd_reserved,set_field:2->nd_options_type,set_field:02:00:00:00:00:03->nd_sll"},
		{"routed ipv4", flow.Flow{Match: flow.M(ethIPv4, flow.Exact(flow.IPv4Dst, ip("10.0.2.5"))), Actions: []flow.Action{
			flow.DecTTL{},
			flow.SetField{Field: flow.EthSrc, Value: mac("02:4e:56:41:00:01")},
			flow.SetField{Field: flow.EthDst, Value: mac("02:00:00:00:00:05")},
			flow.Output{Port: 4}}},
			"ip,nw_dst=10.0.2.5,actions=dec_ttl,set_field:02:4e:56:41:00:01->eth_src,set_field:02:00:00:00:00:05->eth_dst,output:4"},
		{"ttl expired", flow.Flow{Match: flow.M(ethIPv6, flow.Exact(flow.IPTTL, flow.U8(1)))}, "ipv6,nw_ttl=1,actions=drop"},
		// A live trace's shadow flow (ofctl/livetrace.go): the DSCP mark.
		{"live trace mark", flow.Flow{Match: flow.M(ethIPv4, flow.Exact(flow.IPDSCP, flow.U8(63))),
			Actions: []flow.Action{flow.Output{Port: flow.PortController, MaxLen: 0xffff}}}, "ip,nw_tos=252,actions=controller:65535"},
		{"set ipv6 dst", flow.Flow{Match: flow.M(ethIPv6), Actions: []flow.Action{flow.SetField{Field: flow.IPv6Dst, Value: ip("2001:db8::9")}}},
			"ipv6,actions=set_field:2001:db8::9->ipv6_dst"},
		{"set udp ports", flow.Flow{Match: flow.M(ethIPv4, flow.Exact(flow.IPProto, flow.U8(17))), Actions: []flow.Action{
			flow.SetField{Field: flow.UDPSrc, Value: flow.U16(1)}, flow.SetField{Field: flow.UDPDst, Value: flow.U16(2)}}},
			"udp,actions=set_field:1->udp_src,set_field:2->udp_dst"},
		{"set tcp ports", flow.Flow{Match: flow.M(ethIPv4, flow.Exact(flow.IPProto, flow.U8(6))), Actions: []flow.Action{
			flow.SetField{Field: flow.TCPSrc, Value: flow.U16(1)}, flow.SetField{Field: flow.TCPDst, Value: flow.U16(2)}}},
			"tcp,actions=set_field:1->tcp_src,set_field:2->tcp_dst"},
		// OVS checks set_field prerequisites against the match: nd_tll
		// can only be set on a flow matching neighbor advertisements.
		{"nd tll", flow.Flow{
			Match:   flow.M(ethIPv6, icmp6, flow.Exact(flow.ICMPv6Type, flow.U8(136))),
			Actions: []flow.Action{flow.SetField{Field: flow.NDTLL, Value: mac("02:00:00:00:00:03")}}},
			"icmp6,icmp_type=136,actions=set_field:02:00:00:00:00:03->nd_tll"},
		{"nd sll", flow.Flow{
			Match:   flow.M(ethIPv6, icmp6, flow.Exact(flow.ICMPv6Type, flow.U8(135))),
			Actions: []flow.Action{flow.SetField{Field: flow.NDSLL, Value: mac("02:00:00:00:00:05")}}},
			"icmp6,icmp_type=135,actions=set_field:02:00:00:00:00:05->nd_sll"},
		{"push vlan", flow.Flow{Actions: []flow.Action{
			flow.PushVLAN{EtherType: flow.EthTypeVLAN},
			flow.SetField{Field: flow.VlanVID, Value: flow.U16(flow.VIDPresent | 100)},
			flow.Output{Port: 4}}}, "actions=push_vlan:0x8100,set_field:4196->vlan_vid,output:4"},
		{"push qinq", flow.Flow{Actions: []flow.Action{flow.PushVLAN{EtherType: 0x88a8}, flow.Output{Port: 4}}}, "actions=push_vlan:0x88a8,output:4"},
		{"pop vlan", flow.Flow{Match: flow.M(flow.Exact(flow.VlanVID, flow.U16(flow.VIDPresent|100))), Actions: []flow.Action{flow.PopVLAN{}}, Goto: "l2"}, "dl_vlan=100,actions=pop_vlan,goto_table:30"},
		{"group", flow.Flow{Actions: []flow.Action{flow.Group{ID: 7}}}, "actions=group:7"},
		{"write metadata", flow.Flow{WriteMetadata: 0x1389, MetadataMask: 0xffffff, Goto: "portsec"}, "actions=write_metadata:0x1389/0xffffff,goto_table:10"},
		{"everything", flow.Flow{
			Match:         flow.M(flow.Exact(flow.InPort, flow.U32(1)), flow.Exact(flow.VlanVID, flow.U16(flow.VIDPresent|10))),
			Actions:       []flow.Action{flow.PopVLAN{}, flow.SetField{Field: flow.Reg0, Value: flow.U32(1)}},
			WriteMetadata: 0x64, MetadataMask: 0xffffffff, Goto: "out"},
			"in_port=1,dl_vlan=10,actions=pop_vlan,set_field:0x1->reg0,write_metadata:0x64/0xffffffff,goto_table:40"},
		{"drop", flow.Flow{Match: flow.M(flow.Exact(flow.InPort, flow.U32(9)))}, "in_port=9,actions=drop"},
	}
}

type groupCase struct {
	name string
	g    flow.GroupEntry
	ovs  string // ovs-ofctl group syntax
}

func groupCases() []groupCase {
	return []groupCase{
		{"all/bum", flow.GroupEntry{ID: 1001, Type: flow.GroupAll, Buckets: []flow.Bucket{
			{Actions: []flow.Action{flow.Output{Port: 1}}},
			{Actions: []flow.Action{flow.Output{Port: 2}}},
			{Actions: []flow.Action{flow.SetField{Field: flow.TunID, Value: flow.U64(5001)}, flow.SetField{Field: flow.TunIPv4Dst, Value: ip("198.18.0.2")}, flow.Output{Port: 100}}},
			{Actions: []flow.Action{flow.SetField{Field: flow.TunID, Value: flow.U64(5001)}, flow.SetField{Field: flow.TunIPv4Dst, Value: ip("198.18.0.3")}, flow.Output{Port: 100}}},
		}}, "group_id=1001,type=all,bucket=output:1,bucket=output:2,bucket=set_field:0x1389->tun_id,set_field:198.18.0.2->tun_dst,output:100,bucket=set_field:0x1389->tun_id,set_field:198.18.0.3->tun_dst,output:100"},
		{"all/empty", flow.GroupEntry{ID: 2, Type: flow.GroupAll}, "group_id=2,type=all"},
		{"all/vlan", flow.GroupEntry{ID: 3, Type: flow.GroupAll, Buckets: []flow.Bucket{
			{Actions: []flow.Action{flow.PushVLAN{EtherType: flow.EthTypeVLAN}, flow.SetField{Field: flow.VlanVID, Value: flow.U16(flow.VIDPresent | 20)}, flow.Output{Port: 3}}},
			{Actions: []flow.Action{flow.Output{Port: flow.PortInPort}}},
		}}, "group_id=3,type=all,bucket=push_vlan:0x8100,set_field:4116->vlan_vid,output:3,bucket=in_port"},
		{"select", flow.GroupEntry{ID: 4, Type: flow.GroupSelect, Buckets: []flow.Bucket{
			{Weight: 10, Actions: []flow.Action{flow.Output{Port: 1}}},
			{Weight: 20, Actions: []flow.Action{flow.Output{Port: 2}}},
		}}, "group_id=4,type=select,bucket=weight:10,output:1,bucket=weight:20,output:2"},
		{"indirect", flow.GroupEntry{ID: 5, Type: flow.GroupIndirect, Buckets: []flow.Bucket{
			{Actions: []flow.Action{flow.SetField{Field: flow.EthDst, Value: mac("02:00:00:00:00:09")}, flow.Group{ID: 4}}},
		}}, "group_id=5,type=indirect,bucket=set_field:02:00:00:00:00:09->eth_dst,group:4"},
		{"fast failover", flow.GroupEntry{ID: 6, Type: flow.GroupFastFailover, Buckets: []flow.Bucket{
			{WatchPort: 1, WatchGroup: AnyGroup, Actions: []flow.Action{flow.Output{Port: 1}}},
			{WatchPort: 2, WatchGroup: AnyGroup, Actions: []flow.Action{flow.Output{Port: 2}}},
		}}, "group_id=6,type=ff,bucket=watch_port:1,output:1,bucket=watch_port:2,output:2"},
	}
}
