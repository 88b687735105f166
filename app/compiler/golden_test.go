package compiler_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/compiler/scenario"
	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/pipeline"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// render is the golden text of one NVE's result: flows with table names
// (sorted by table, priority and match text, for people), then groups,
// then warnings.
func render(t *testing.T, prof pipeline.Profile, nve string, r compiler.Result) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "## nve %s: %d flows, %d groups\n", nve, r.NumFlows(), len(r.Groups))
	flows := append([]flow.Flow(nil), r.FlowList()...)
	flow.SortFlows(flows, prof.Order)
	txt, err := flow.FormatFlows(flows, flow.TextOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b.WriteString(txt)
	b.WriteString(flow.FormatGroups(r.Groups))
	for _, w := range r.Warnings {
		b.WriteString("# warning: " + w + "\n")
	}
	return b.String()
}

// profiles are the profiles every scenario is compiled for; golden files
// live in testdata/<profile name>/.
var profiles = []pipeline.Profile{pipeline.OVS(), pipeline.Strict()}

func compileAll(t *testing.T, prof pipeline.Profile, d *scenario.Domain) (string, map[string]compiler.Result) {
	t.Helper()
	var b strings.Builder
	out := map[string]compiler.Result{}
	for _, nve := range d.NVENames() {
		r, err := compiler.Compile(d.Input(nve), prof)
		if err != nil {
			t.Fatalf("compile %s: %v", nve, err)
		}
		if err := pipeline.Check(prof, r.FlowList(), r.Groups); err != nil {
			t.Fatalf("compiled %s breaks the pipeline contract: %v", nve, err)
		}
		out[nve] = r
		b.WriteString(render(t, prof, nve, r))
	}
	return b.String(), out
}

func golden(t *testing.T, prof pipeline.Profile, name, got string) {
	t.Helper()
	dir := filepath.Join("testdata", prof.Name)
	path := filepath.Join(dir, name+".golden")
	if *update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./app/compiler -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from the compiled flows (run with -update to accept):\n%s", path, lineDiff(string(want), got))
	}
}

// lineDiff lists lines only in a ("-") or only in b ("+"), in order.
func lineDiff(a, b string) string {
	as, bs := strings.Split(a, "\n"), strings.Split(b, "\n")
	inA, inB := map[string]int{}, map[string]int{}
	for _, l := range as {
		inA[l]++
	}
	for _, l := range bs {
		inB[l]++
	}
	var out strings.Builder
	for _, l := range as {
		if inB[l] == 0 {
			out.WriteString("-" + l + "\n")
		}
	}
	for _, l := range bs {
		if inA[l] == 0 {
			out.WriteString("+" + l + "\n")
		}
	}
	return out.String()
}

// scenarios are the golden scenarios, by golden file name.
var scenarios = map[string]func() *scenario.Domain{
	"one_vn_one_nve":     scenario.OneVNOneNVE,
	"two_vns_three_nves": scenario.TwoVNsThreeNVEs,
	"partial_vn":         scenario.PartialVN,
	"ipv6_ports":         scenario.IPv6Ports,
	"l3_routed_domain":   scenario.RoutedDomain,
	"l3_two_tenants":     scenario.TwoTenants,
	"l3_only_vn":         scenario.L3OnlyVN,
	"split_nve":          scenario.SplitNVEs,
	"split_qinq":         scenario.SplitQinQ,
	"l3_policy":          scenario.PolicyDomain,
	// multipath.go
	"multihome_failover":      scenario.MultihomeFailover,
	"multihome_active_active": scenario.MultihomeActiveActive,
}

// TestGolden compiles every scenario for every profile and compares the
// flows (table names, not numbers) with testdata/<profile>/<scenario>.golden.
func TestGolden(t *testing.T) {
	for _, prof := range profiles {
		for name, d := range scenarios {
			t.Run(prof.Name+"/"+name, func(t *testing.T) {
				got, _ := compileAll(t, prof, d())
				golden(t, prof, name, got)
			})
		}
	}
}

// TestGoldenPortRemoval records what removing a port changes on every NVE:
// the golden file is the per-NVE line diff between before and after.
func TestGoldenPortRemoval(t *testing.T) {
	for _, prof := range profiles {
		t.Run(prof.Name, func(t *testing.T) {
			d := scenario.TwoVNsThreeNVEs()
			_, before := compileAll(t, prof, d)
			d.Remove("b3")
			_, after := compileAll(t, prof, d)
			var b strings.Builder
			b.WriteString("# remove port b3 (blue, hv3): per-NVE diff, - removed, + added\n")
			for _, nve := range d.NVENames() {
				fmt.Fprintf(&b, "## nve %s\n", nve)
				b.WriteString(lineDiff(render(t, prof, nve, before[nve]), render(t, prof, nve, after[nve])))
			}
			golden(t, prof, "port_removal", b.String())
		})
	}
}
