package compiler_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/compiler/scenario"
)

// TestGoldenSegment: the L2 gateway scenario's flows on both profiles
// (testdata/<profile>/segment.golden).
func TestGoldenSegment(t *testing.T) {
	for _, prof := range profiles {
		t.Run(prof.Name, func(t *testing.T) {
			got, _ := compileAll(t, prof, scenario.Segment())
			golden(t, prof, "segment", got)
		})
	}
}

// TestLearnedEndpointForwarding: a learned MAC goes to the segment VAP on
// the learning NVE and into the tunnel to it elsewhere; a known port's
// MAC reported as learned changes nothing; forgetting it removes both.
func TestLearnedEndpointForwarding(t *testing.T) {
	for _, prof := range profiles {
		t.Run(prof.Name, func(t *testing.T) {
			d := scenario.Segment()
			text := func(nve string) string {
				r, err := compiler.Compile(d.Input(nve), prof)
				if err != nil {
					t.Fatal(err)
				}
				s, err := prof.Text(r.FlowList(), false)
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			hv1, hv2 := text("hv1"), text("hv2")
			seg := d.OFPort("hv1", "eth1")
			if !strings.Contains(hv1, "eth_dst=02:00:00:00:0a:01") || !strings.Contains(hv2, "eth_dst=02:00:00:00:0a:01") {
				t.Fatalf("learned MAC not forwarded:\nhv1:\n%s\nhv2:\n%s", hv1, hv2)
			}
			if strings.Count(hv2, "eth_dst=02:00:00:00:01:02") != 1 {
				t.Fatalf("vm2's MAC has %d flows on hv2, want its own port's one:\n%s", strings.Count(hv2, "eth_dst=02:00:00:00:01:02"), hv2)
			}
			if !strings.Contains(hv1, "eth_src=02:00:00:00:0a:01") {
				t.Fatalf("no learned-source flow on hv1:\n%s", hv1)
			}
			// vm2's MAC from the segment is punted and dropped, never forwarded.
			for _, l := range strings.Split(hv1, "\n") {
				if strings.Contains(l, "eth_src=02:00:00:00:01:02") && (!strings.Contains(l, "priority=120") || !strings.HasSuffix(l, "actions=CONTROLLER:64")) {
					t.Fatalf("vm2's MAC from the segment is not refused: %s", l)
				}
			}
			if !strings.Contains(hv1, fmt.Sprintf("eth_dst=02:00:00:00:0a:01,actions=push_vlan:0x8100,set_field:0x1064->vlan_vid,output:%d", seg)) {
				t.Fatalf("learned MAC not delivered to the segment VAP (port %d, VLAN 100) on hv1:\n%s", seg, hv1)
			}
			// The segment port gone: its learned MAC is forwarded nowhere.
			d2 := scenario.Segment().Remove("seg1")
			for _, nve := range []string{"hv1", "hv2"} {
				r, err := compiler.Compile(d2.Input(nve), prof)
				if err != nil {
					t.Fatal(err)
				}
				if s, _ := prof.Text(r.FlowList(), false); strings.Contains(s, "02:00:00:00:0a:01") {
					t.Fatalf("%s forwards to a MAC learned behind a deleted segment:\n%s", nve, s)
				}
			}
			d.Forget("blue", "02:00:00:00:0a:01")
			if hv1, hv2 := text("hv1"), text("hv2"); strings.Contains(hv1, "02:00:00:00:0a:01") || strings.Contains(hv2, "02:00:00:00:0a:01") {
				t.Fatalf("forgotten MAC still programmed:\nhv1:\n%s\nhv2:\n%s", hv1, hv2)
			}
		})
	}
}
