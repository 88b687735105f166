package compiler_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/compiler/scenario"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/pipeline"
)

// benchShape is the real-OVS lab bench's domain (cmd/nva-lab bench): 3
// NVEs, one VXLAN VN without subnets, two tenants (x1 on hv1, x2 on hv2)
// and m ports, port i on NVE i%3+1, each with one MAC and one IPv4 address.
func benchShape(m int) *scenario.Domain {
	d := scenario.New()
	for i := 1; i <= 3; i++ {
		d.NVE(fmt.Sprintf("hv%d", i), fmt.Sprintf("198.18.0.%d", i))
	}
	d.VN("bench", 2001, scenario.Encap(model.EncapVXLAN))
	d.Port("x1", "bench", "hv1", "vm-x1", "02:00:00:00:0b:01", 0, "192.0.2.1")
	d.Port("x2", "bench", "hv2", "vm-x2", "02:00:00:00:0b:02", 0, "192.0.2.2")
	for i := 0; i < m; i++ {
		d.Port(fmt.Sprintf("p%d", i), "bench", fmt.Sprintf("hv%d", i%3+1), fmt.Sprintf("vm-p%d", i),
			fmt.Sprintf("02:00:00:10:%02x:%02x", i/256, i%256), 0, fmt.Sprintf("203.0.113.%d", i+1))
	}
	return d
}

// ovnFlowsAtM200 is OVN 23.03's flows per hypervisor for the bench at
// M = 200, as measured by make bench-ovn (README, "Scale and
// performance").
const ovnFlowsAtM200 = 1072

// TestBenchShapeFlows counts the OVS profile's flows per stage and NVE for
// the bench's domain at M = 10, 50 and 200 (go test -v prints them) and
// holds nva under OVN's flows per hypervisor at M = 200.
func TestBenchShapeFlows(t *testing.T) {
	prof := pipeline.OVS()
	for _, m := range []int{10, 50, 200} {
		d := benchShape(m)
		for _, nve := range []string{"hv1", "hv2", "hv3"} {
			r, err := compiler.Compile(d.Input(nve), prof)
			if err != nil {
				t.Fatal(err)
			}
			perStage := map[string]int{}
			for _, f := range r.FlowList() {
				perStage[f.Table]++
			}
			var stages []string
			for s, n := range perStage {
				stages = append(stages, fmt.Sprintf("%s=%d", s, n))
			}
			sort.Strings(stages)
			t.Logf("M=%d %s: %d flows, %d groups: %s", m, nve, r.NumFlows(), len(r.Groups), strings.Join(stages, " "))
			if m == 200 && r.NumFlows() > ovnFlowsAtM200 {
				t.Errorf("M=200 %s: %d flows, more than OVN's %d", nve, r.NumFlows(), ovnFlowsAtM200)
			}
		}
	}
}
