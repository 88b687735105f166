package compiler_test

import (
	"strings"
	"testing"

	"github.com/nva-project/nva/app/compiler/scenario"
)

// TestGoldenL3Gateway pins the L3 gateway with SNAT (and a floating IP)
// on both profiles: testdata/<profile>/l3_gateway_snat.golden.
func TestGoldenL3Gateway(t *testing.T) {
	for _, prof := range profiles {
		t.Run(prof.Name, func(t *testing.T) {
			got, res := compileAll(t, prof, scenario.GatewaySNAT())
			golden(t, prof, "l3_gateway_snat", got)
			if prof.Name != "ovs" {
				return
			}
			// What the golden file must show, checked here too so that an
			// -update cannot silently accept a gateway that stopped NATing.
			gw, err := prof.Text(res["gw"].FlowList(), false)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{
				"ct(commit,zone=61440,table=53,nat(src=203.0.113.10))",
				"ct(commit,zone=61441,table=53,nat(src=198.51.100.10))",
				"ct(commit,zone=61440,table=53,nat(src=203.0.113.20))",
				"ct(zone=61440,table=52,nat)",
				"ct(commit,zone=61440,table=52,nat(dst=10.1.0.10))",
			} {
				if !strings.Contains(gw, want) {
					t.Errorf("gateway NVE lacks %q:\n%s", want, gw)
				}
			}
			hv1, err := prof.Text(res["hv1"].FlowList(), false)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(hv1, "set_field:198.18.0.9->tun_dst") {
				t.Errorf("hv1 does not tunnel external traffic to the gateway NVE:\n%s", hv1)
			}
		})
	}
}
