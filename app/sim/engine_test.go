package sim

import (
	"strings"
	"testing"

	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/pipeline"
)

func TestMoveBits(t *testing.T) {
	got := moveBits([]byte{0xab, 0xcd}, []byte{0, 0, 0, 0}, 4, 16, 8) // 0xbc into bits 16..23
	if want := []byte{0, 0xbc, 0, 0}; string(got) != string(want) {
		t.Errorf("got %x want %x", got, want)
	}
	full := moveBits([]byte{1, 2, 3, 4, 5, 6}, make([]byte, 6), 0, 0, 48)
	if string(full) != string([]byte{1, 2, 3, 4, 5, 6}) {
		t.Errorf("full move: %x", full)
	}
}

func TestEngine(t *testing.T) {
	prof := pipeline.OVS()
	meta := flow.Masked(flow.Metadata, flow.U64(5), flow.U64(0xffffff))
	flows := []flow.Flow{
		{Table: pipeline.Classify, Priority: 10, Match: flow.M(flow.Exact(flow.InPort, flow.U32(1))),
			WriteMetadata: 5, MetadataMask: 0xffffff, Goto: pipeline.L2Forward},
		{Table: pipeline.Classify, Priority: 10, Match: flow.M(flow.Exact(flow.InPort, flow.U32(2))), Goto: pipeline.L2Forward},
		{Table: pipeline.Classify, Priority: 10, Match: flow.M(flow.Exact(flow.VlanVID, flow.U16(0x1002))), Goto: pipeline.L2Forward},
		{Table: pipeline.L2Forward, Priority: 5, Match: flow.M(meta), Actions: []flow.Action{flow.Group{ID: 1}}},
	}
	groups := []flow.GroupEntry{{ID: 1, Type: flow.GroupAll, Buckets: []flow.Bucket{
		{Actions: []flow.Action{flow.PushVLAN{EtherType: flow.EthTypeVLAN}, flow.SetField{Field: flow.VlanVID, Value: flow.U16(0x1007)}, flow.Output{Port: 3}}},
		{Actions: []flow.Action{flow.Output{Port: 1}}}, // the ingress port: suppressed
		{Actions: []flow.Action{flow.Output{Port: flow.PortInPort}}},
		{Actions: []flow.Action{flow.Output{Port: 4}}}, // must not see bucket 0's tag
	}}}
	sw, err := New(prof, flows, groups)
	if err != nil {
		t.Fatal(err)
	}
	p := Eth(1, "02:00:00:00:00:01", Broadcast, flow.EthTypeIPv4)
	r := sw.Run(p)
	if len(r.Errors) != 0 {
		t.Fatalf("errors: %v", r.Errors)
	}
	if got := r.Ports(); len(got) != 3 || got[0] != 1 || got[1] != 3 || got[2] != 4 {
		t.Fatalf("ports %v\n%s", got, r.TraceText())
	}
	for _, o := range r.Outputs {
		switch o.Port {
		case 3:
			if o.Packet.Text(flow.VlanVID) != "0x1007" {
				t.Errorf("bucket 0 tag: %s", o.Packet.Text(flow.VlanVID))
			}
		case 1:
			if !o.ToInPort {
				t.Error("IN_PORT output not flagged")
			}
		case 4:
			if o.Packet.Text(flow.VlanVID) != "0x0" {
				t.Errorf("bucket 3 saw bucket 0's changes or lost the tag: %s", o.Packet.Text(flow.VlanVID))
			}
		}
		if o.Packet.Text(flow.Metadata) != "0x5" {
			t.Errorf("metadata not written: %s", o.Packet.Text(flow.Metadata))
		}
	}
	// Ambiguity: in_port=2 and vlan_vid=0x1002 both match at priority 10.
	r = sw.Run(Eth(2, "02:00:00:00:00:01", Broadcast, flow.EthTypeIPv4).Tagged(2))
	if len(r.Errors) == 0 || !strings.Contains(r.Errors[0], "ambiguous") {
		t.Errorf("ambiguous match not reported: %v", r.Errors)
	}
	// Table miss drops.
	r = sw.Run(Eth(9, "02:00:00:00:00:01", Broadcast, flow.EthTypeIPv4).Tagged(1))
	if !r.Dropped() || !strings.Contains(r.TraceText(), "table miss") {
		t.Errorf("table miss: %s", r.TraceText())
	}
	// Pushing a second tag (QinQ) keeps the first beneath the new one.
	r = sw.Run(Eth(1, "02:00:00:00:00:01", Broadcast, flow.EthTypeIPv4).Tagged(1))
	if len(r.Errors) != 0 {
		t.Errorf("QinQ push: %v", r.Errors)
	}
	for _, o := range r.Outputs {
		if o.Port == 3 && (o.Packet.Text(flow.VlanVID) != "0x1007" || len(o.Packet.Inner) != 1 || o.Packet.Inner[0].VID != 0x1001) {
			t.Errorf("QinQ push: outer %s inner %v", o.Packet.Text(flow.VlanVID), o.Packet.Inner)
		}
	}
	if _, err := New(prof, []flow.Flow{{Table: "nope"}}, nil); err == nil {
		t.Error("unknown table loaded")
	}
}
