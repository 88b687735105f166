package sim

import (
	"slices"
	"testing"
)

// A trace as OVS 3.1 prints it for a broadcast flooded to an ingress port
// (skipped), a VLAN port and a tunnel without an underlay route.
const sampleTrace = `Flow: arp,in_port=1,vlan_tci=0x0000,dl_src=02:00:00:00:0a:01,dl_dst=ff:ff:ff:ff:ff:ff

bridge("br-int")
----------------
 0. in_port=1,vlan_tci=0x0000/0x1fff, priority 100, cookie 0x4e5600002ca95673
    write_metadata:0x1092/0x1ffffff
    goto_table:10
30. metadata=0x1092/0x1ffffff,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00, priority 50, cookie 0x4e560000f6e1ad89
    group:8484
    bucket 0
            output:1
             >> skipping output to input port
    bucket 1
            push_vlan:0x8100
            set_field:4106->vlan_vid
            output:2
    bucket 2
            set_field:0x1092->tun_id
            set_field:198.18.0.2->tun_dst
            output:100
             -> output to native tunnel
             >> native tunnel routing failed

Final flow: unchanged
Datapath actions: push_vlan(vid=10,pcp=0),2
`

func TestOFProtoTracePorts(t *testing.T) {
	if got := OFProtoTracePorts(sampleTrace, 1); !slices.Equal(got, []uint32{2, 100}) {
		t.Errorf("got %v", got)
	}
	reply := "40. in_port=1,metadata=0x1092/0xffffff, priority 100\n    IN_PORT\n"
	if got := OFProtoTracePorts(reply, 7); !slices.Equal(got, []uint32{7}) {
		t.Errorf("IN_PORT: got %v", got)
	}
	if got := OFProtoTracePorts("Datapath actions: drop\n", 1); len(got) != 0 {
		t.Errorf("drop: got %v", got)
	}
}
