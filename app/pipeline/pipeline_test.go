package pipeline_test

import (
	"strings"
	"testing"

	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/pipeline"
)

func TestOVSProfileIsValid(t *testing.T) {
	p := pipeline.OVS()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if n, ok := p.Number(pipeline.Classify); !ok || n != 0 {
		t.Errorf("classify must be table 0 (where packets enter), got %d %v", n, ok)
	}
	for i := 1; i < len(p.Tables); i++ {
		if p.Tables[i].Number <= p.Tables[i-1].Number {
			t.Errorf("tables not listed in packet order: %s(%d) after %s(%d)", p.Tables[i].Name, p.Tables[i].Number, p.Tables[i-1].Name, p.Tables[i-1].Number)
		}
	}
	if name, ok := p.NameOf(30); !ok || name != pipeline.L2Forward {
		t.Errorf("NameOf(30) = %q, %v", name, ok)
	}
	if _, err := pipeline.ForName("ovs"); err != nil {
		t.Error(err)
	}
	if _, err := pipeline.ForName("nope"); err == nil {
		t.Error("unknown profile accepted")
	}
}

// strict is a hardware-like profile: no extensions, two tables.
func strict() pipeline.Profile {
	return pipeline.Profile{
		Name: "strict",
		Tables: []pipeline.Table{
			{Name: "in", Number: 0, Stages: []string{pipeline.Classify},
				Contract: pipeline.Contract{Match: []string{flow.InPort, flow.VlanVID}, Goto: []string{"out"}, VLAN: true, WriteMetadata: true}},
			{Name: "out", Number: 1, Stages: []string{pipeline.L2Forward},
				Contract: pipeline.Contract{Match: []string{flow.Metadata, flow.EthDst}, Set: []string{flow.VlanVID}, Output: true, Group: true, VLAN: true}},
		},
		Groups: pipeline.GroupContract{Types: []flow.GroupType{flow.GroupAll}, Set: []string{flow.VlanVID}, VLAN: true},
	}
}

var (
	mac1 = []byte{2, 0, 0, 0, 0, 1}
	ok1  = flow.Flow{Table: pipeline.L2Forward, Priority: 100,
		Match:   flow.M(flow.Masked(flow.Metadata, flow.U64(5), flow.U64(0xffffff)), flow.Exact(flow.EthDst, mac1)),
		Actions: []flow.Action{flow.Output{Port: 1}}}
)

func TestCheckAcceptsValidFlows(t *testing.T) {
	g := flow.GroupEntry{ID: 10, Type: flow.GroupAll, Buckets: []flow.Bucket{{Actions: []flow.Action{
		flow.SetField{Field: flow.TunID, Value: flow.U64(5)}, flow.SetField{Field: flow.TunIPv4Dst, Value: flow.U32(0xc6120001)}, flow.Output{Port: 100}}}}}
	flows := []flow.Flow{ok1,
		{Table: pipeline.L2Forward, Priority: 50, Match: flow.M(flow.Masked(flow.Metadata, flow.U64(5), flow.U64(0xffffff))), Actions: []flow.Action{flow.Group{ID: 10}}},
		{Table: pipeline.Classify, Priority: 100, Match: flow.M(flow.Exact(flow.InPort, flow.U32(1)), flow.Exact(flow.VlanVID, flow.U16(0x1005))),
			Actions: []flow.Action{flow.PopVLAN{}}, WriteMetadata: 5, MetadataMask: 0xffffff, Goto: pipeline.PortSecurity},
		{Table: pipeline.Neighbor, Priority: 200, Match: flow.M(flow.Exact(flow.EthType, flow.U16(flow.EthTypeARP)), flow.Exact(flow.ARPOp, flow.U16(1))),
			Actions: []flow.Action{flow.Move{Src: flow.ARPSHA, Dst: flow.ARPTHA, Bits: 48}, flow.SetField{Field: flow.ARPOp, Value: flow.U16(2)}}, Goto: pipeline.Reply},
	}
	if err := pipeline.Check(pipeline.OVS(), flows, []flow.GroupEntry{g}); err != nil {
		t.Fatal(err)
	}
}

func TestCheckRejectsContractViolations(t *testing.T) {
	ovs := pipeline.OVS()
	arp := flow.Exact(flow.EthType, flow.U16(flow.EthTypeARP))
	cases := []struct {
		name   string
		prof   pipeline.Profile
		flows  []flow.Flow
		groups []flow.GroupEntry
		want   string
	}{
		{"unknown table", ovs, []flow.Flow{{Table: "policy", Priority: 1}}, nil, "not in profile"},
		{"forbidden match field", ovs, []flow.Flow{{Table: pipeline.L2Forward, Priority: 1,
			Match: flow.M(flow.Exact(flow.InPort, flow.U32(1)))}}, nil, "may not match in_port"},
		{"forbidden set field", ovs, []flow.Flow{{Table: pipeline.L2Forward, Priority: 1,
			Actions: []flow.Action{flow.SetField{Field: flow.EthSrc, Value: mac1}}}}, nil, "may not set eth_src"},
		{"forbidden move source", ovs, []flow.Flow{{Table: pipeline.Neighbor, Priority: 1, Match: flow.M(arp),
			Actions: []flow.Action{flow.Move{Src: flow.ARPTPA, Dst: flow.ARPSPA, Bits: 32}}}}, nil, "may not move from arp_tpa"},
		{"move out of range", ovs, []flow.Flow{{Table: pipeline.Neighbor, Priority: 1, Match: flow.M(arp),
			Actions: []flow.Action{flow.Move{Src: flow.ARPSPA, Dst: flow.ARPTPA, SrcOfs: 8, Bits: 32}}}}, nil, "out of range"},
		{"output not allowed", ovs, []flow.Flow{{Table: pipeline.PortSecurity, Priority: 1,
			Actions: []flow.Action{flow.Output{Port: 1}}}}, nil, "output not allowed"},
		{"group not allowed", ovs, []flow.Flow{{Table: pipeline.Reply, Priority: 1,
			Actions: []flow.Action{flow.Group{ID: 1}}}}, []flow.GroupEntry{{ID: 1}}, "group action not allowed"},
		{"missing group", ovs, []flow.Flow{{Table: pipeline.L2Forward, Priority: 1,
			Actions: []flow.Action{flow.Group{ID: 7}}}}, nil, "group 7 does not exist"},
		{"vlan push not allowed", ovs, []flow.Flow{{Table: pipeline.Neighbor, Priority: 1,
			Actions: []flow.Action{flow.PushVLAN{EtherType: flow.EthTypeVLAN}}}}, nil, "push_vlan not allowed"},
		{"write metadata not allowed", ovs, []flow.Flow{{Table: pipeline.L2Forward, Priority: 1,
			WriteMetadata: 1, MetadataMask: 1}}, nil, "may not write metadata"},
		{"goto not in contract", ovs, []flow.Flow{{Table: pipeline.Classify, Priority: 1, Goto: pipeline.Reply}}, nil, "may not go to reply"},
		{"goto backwards", ovs, []flow.Flow{{Table: pipeline.L2Forward, Priority: 1, Goto: pipeline.Classify}}, nil, "is not forward"},
		{"goto self", ovs, []flow.Flow{{Table: pipeline.L2Forward, Priority: 1, Goto: pipeline.L2Forward}}, nil, "is not forward"},
		{"goto unknown", ovs, []flow.Flow{{Table: pipeline.L2Forward, Priority: 1, Goto: "acl"}}, nil, "not in profile"},
		{"missing prerequisite", ovs, []flow.Flow{{Table: pipeline.Neighbor, Priority: 1,
			Match: flow.M(flow.Exact(flow.ARPTPA, flow.U32(1)))}}, nil, "needs eth_type=0x0806"},
		{"set prerequisite", ovs, []flow.Flow{{Table: pipeline.Neighbor, Priority: 1,
			Actions: []flow.Action{flow.SetField{Field: flow.ARPOp, Value: flow.U16(2)}}}}, nil, "needs eth_type=0x0806"},
		{"bad value width", ovs, []flow.Flow{{Table: pipeline.L2Forward, Priority: 1,
			Match: flow.M(flow.Exact(flow.EthDst, []byte{1, 2}))}}, nil, "must be 6 bytes"},
		{"value outside mask", ovs, []flow.Flow{{Table: pipeline.L2Forward, Priority: 1,
			Match: flow.M(flow.Masked(flow.Metadata, flow.U64(0x100), flow.U64(0xff)))}}, nil, "outside its mask"},
		{"duplicate flow", ovs, []flow.Flow{ok1, ok1}, nil, "duplicate"},
		{"nicira match in strict profile", strict(), []flow.Flow{{Table: "in", Priority: 1,
			Match: flow.M(flow.Exact(flow.Reg0, flow.U32(1))), Goto: "out"}}, nil, "extension field reg0"},
		{"nicira set in strict profile", strict(), []flow.Flow{{Table: "out", Priority: 1,
			Actions: []flow.Action{flow.SetField{Field: flow.TunIPv4Dst, Value: flow.U32(1)}}}}, nil, "extension field tun_dst"},
		{"move in strict profile", strict(), []flow.Flow{{Table: "out", Priority: 1,
			Actions: []flow.Action{flow.Move{Src: flow.EthSrc, Dst: flow.EthDst, Bits: 48}}}}, nil, "move is a Nicira extension"},
		{"bucket sets forbidden field", ovs, nil, []flow.GroupEntry{{ID: 1, Type: flow.GroupAll, Buckets: []flow.Bucket{{
			Actions: []flow.Action{flow.SetField{Field: flow.EthDst, Value: mac1}, flow.Output{Port: 1}}}}}}, "may not set eth_dst"},
		{"bucket nicira in strict profile", strict(), nil, []flow.GroupEntry{{ID: 1, Type: flow.GroupAll, Buckets: []flow.Bucket{{
			Actions: []flow.Action{flow.SetField{Field: flow.TunIPv4Dst, Value: flow.U32(1)}, flow.Output{Port: 1}}}}}}, "tun_dst"},
		{"group type not allowed", strict(), nil, []flow.GroupEntry{{ID: 1, Type: flow.GroupSelect}}, "group type 1 not allowed"},
		{"duplicate group", ovs, nil, []flow.GroupEntry{{ID: 1}, {ID: 1}}, "duplicate group ID"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := pipeline.Check(c.prof, c.flows, c.groups)
			if err == nil {
				t.Fatalf("accepted")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not mention %q", err, c.want)
			}
		})
	}
}

func TestValidateRejectsBadProfiles(t *testing.T) {
	p := strict()
	p.Tables[1].Goto = []string{"in"}
	if err := p.Validate(); err == nil || !strings.Contains(err.Error(), "not forward") {
		t.Errorf("backward goto in profile: %v", err)
	}
	p = strict()
	p.Tables[1].Number = 0
	if err := p.Validate(); err == nil || !strings.Contains(err.Error(), "share number") {
		t.Errorf("shared table number: %v", err)
	}
	p = strict()
	p.Tables[0].Match = append(p.Tables[0].Match, flow.TunIPv4Src)
	if err := p.Validate(); err == nil || !strings.Contains(err.Error(), "extension field") {
		t.Errorf("extension field in strict profile contract: %v", err)
	}
}

func TestProfileText(t *testing.T) {
	txt, err := pipeline.OVS().Text([]flow.Flow{{Table: pipeline.Neighbor, Priority: 5, Goto: pipeline.Reply}}, false)
	if err != nil {
		t.Fatal(err)
	}
	if txt != "table=20,priority=5,actions=goto_table:40\n" {
		t.Errorf("got %q", txt)
	}
	if _, err := pipeline.OVS().Text([]flow.Flow{{Table: "nope"}}, false); err == nil {
		t.Error("unknown table rendered")
	}
}

func TestDescribe(t *testing.T) {
	d := pipeline.OVS().Describe()
	for _, want := range []string{"table 0 classify:", "table 25 nd_advert:", "goto: port_security,l3_conntrack,l2_forward", "extensions=true",
		"stage nd_advert: miss drop, next reply", "stages left out: -"} {
		if !strings.Contains(d, want) {
			t.Errorf("Describe lacks %q:\n%s", want, d)
		}
	}
	d = pipeline.Strict().Describe()
	for _, want := range []string{"profile openflow13 (extensions=false", "table 3 l2_forward:", "stages left out: nd_advert,l3_conntrack,l3_policy,reply,l3gw_in,l3gw_out,l3gw_route,l3gw_egress",
		"goto: l2_forward\n", "match: in_port,vlan_vid,tun_id,eth_src,eth_dst\n"} {
		if !strings.Contains(d, want) {
			t.Errorf("strict Describe lacks %q:\n%s", want, d)
		}
	}
}
