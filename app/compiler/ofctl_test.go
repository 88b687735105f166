package compiler_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/compiler/scenario"
	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/pipeline"
)

// TestOvsOfctlAcceptsText feeds every compiled flow and group, rendered
// with each profile's table numbers, to `ovs-ofctl parse-flows` /
// `parse-group`, which apply the same syntax, prerequisite and
// action-consistency checks as add-flows on a real bridge.
func TestOvsOfctlAcceptsText(t *testing.T) {
	ofctl, err := exec.LookPath("ovs-ofctl")
	if err != nil {
		t.Skip("ovs-ofctl not installed")
	}
	dir := t.TempDir()
	for _, prof := range profiles {
		testOvsOfctlAcceptsText(t, ofctl, dir, prof)
	}
}

func testOvsOfctlAcceptsText(t *testing.T, ofctl, dir string, prof pipeline.Profile) {
	for name, d := range map[string]*scenario.Domain{
		"one": scenario.OneVNOneNVE(), "two": scenario.TwoVNsThreeNVEs(),
		"partial": scenario.PartialVN(), "ipv6": scenario.IPv6Ports(),
	} {
		for _, nve := range d.NVENames() {
			r, err := compiler.Compile(d.Input(nve), prof)
			if err != nil {
				t.Fatal(err)
			}
			txt, err := prof.Text(r.FlowList(), true)
			if err != nil {
				t.Fatal(err)
			}
			ff := filepath.Join(dir, prof.Name+"-"+name+"-"+nve+".flows")
			if err := os.WriteFile(ff, []byte(txt), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(ofctl, "-O", "OpenFlow13", "parse-flows", ff).CombinedOutput()
			if err != nil || strings.Contains(string(out), "WARN") {
				t.Errorf("%s/%s: ovs-ofctl parse-flows rejected the flows: %v\n%s\n--- input:\n%s", name, nve, err, out, txt)
			}
			if n := strings.Count(string(out), "OFPT_FLOW_MOD"); n != r.NumFlows() {
				t.Errorf("%s/%s: ovs-ofctl parsed %d flow mods, want %d", name, nve, n, r.NumFlows())
			}
			for _, g := range r.Groups {
				out, err = exec.Command(ofctl, "-O", "OpenFlow13", "parse-group", flow.FormatGroup(g)).CombinedOutput()
				if err != nil || strings.Contains(string(out), "WARN") || !strings.Contains(string(out), "OFPT_GROUP_MOD") {
					t.Errorf("%s/%s: ovs-ofctl parse-group rejected %s: %v\n%s", name, nve, flow.FormatGroup(g), err, out)
				}
			}
		}
	}
}
