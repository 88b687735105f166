package codec

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/compiler/scenario"
	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/pipeline"
)

// Every flow and group the compiler emits for the golden scenarios: our
// encoding (printed by `ovs-ofctl ofp-parse`) must print exactly like OVS's
// own encoding of the same flow written in ovs-ofctl syntax by app/flow's
// text renderer (`ovs-ofctl parse-flows`), and decode back to the IR.
func TestCompilerShapesAgainstOVS(t *testing.T) {
	bin := needOVSOfctl(t)
	prof := pipeline.OVS()
	c := New(Options{AllowNicira: prof.Extensions})
	scenarios := map[string]*scenario.Domain{
		"one_vn_one_nve": scenario.OneVNOneNVE(), "two_vns_three_nves": scenario.TwoVNsThreeNVEs(),
		"partial_vn": scenario.PartialVN(), "ipv6_ports": scenario.IPv6Ports(),
	}
	dir := t.TempDir()
	var total int
	for name, d := range scenarios {
		for _, nve := range d.NVENames() {
			res, err := compiler.Compile(d.Input(nve), prof)
			if err != nil {
				t.Fatalf("%s/%s: %v", name, nve, err)
			}
			var bin1 []byte
			for _, f := range res.FlowList() {
				fm, err := c.EncodeFlowMod(f, prof.Number, FlowAdd)
				if err != nil {
					t.Fatalf("%s/%s: %v", name, nve, err)
				}
				b := marshal(t, fm)
				got, _, err := DecodeFlowModBytes(b, func(n uint8) string { s, _ := prof.NameOf(n); return s })
				if err != nil {
					t.Fatalf("%s/%s: decode: %v", name, nve, err)
				}
				if want := Canonical(f); flowString(t, got) != flowString(t, want) {
					t.Fatalf("%s/%s: round trip\n got %s\nwant %s", name, nve, flowString(t, got), flowString(t, want))
				}
				bin1 = append(bin1, b...)
			}
			text, err := prof.Text(res.FlowList(), true)
			if err != nil {
				t.Fatal(err)
			}
			binFile, textFile := filepath.Join(dir, name+nve+".bin"), filepath.Join(dir, name+nve+".txt")
			if err := os.WriteFile(binFile, bin1, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(textFile, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			ours := messages(ofctl(t, bin, "ofp-parse", binFile))
			theirs := messages(ofctl(t, bin, "-O", "OpenFlow13", "parse-flows", textFile))
			if len(ours) != res.NumFlows() || len(theirs) != res.NumFlows() {
				t.Fatalf("%s/%s: %d flows, ofp-parse printed %d, parse-flows %d", name, nve, res.NumFlows(), len(ours), len(theirs))
			}
			for i := range ours {
				if ours[i] != theirs[i] {
					t.Fatalf("%s/%s flow %d:\n ours: %s\n ovs:  %s", name, nve, i, ours[i], theirs[i])
				}
			}
			total += len(ours)
			for _, g := range res.Groups {
				gm, err := c.EncodeGroupMod(g, GroupAdd)
				if err != nil {
					t.Fatal(err)
				}
				b := marshal(t, gm)
				got := fromMessage(ofctl(t, bin, "ofp-print", hex.EncodeToString(b)))
				want := fromMessage(ofctl(t, bin, "-O", "OpenFlow13", "parse-group", flow.FormatGroup(g)))
				if got != want {
					t.Fatalf("%s/%s group %d:\n ours: %s\n ovs:  %s", name, nve, g.ID, got, want)
				}
			}
		}
	}
	if total == 0 {
		t.Fatal("the scenarios compiled to no flows")
	}
	t.Logf("%d compiled flows checked against ovs-ofctl", total)
}

// messages splits ovs-ofctl output into one normalized line per message.
func messages(out string) []string {
	var msgs []string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "OFPT_") {
			msgs = append(msgs, fromMessage(line))
		} else if len(msgs) > 0 && strings.HasPrefix(line, " ") {
			msgs[len(msgs)-1] += "\n" + strings.TrimSpace(line)
		}
	}
	return msgs
}

func flowString(t *testing.T, f flow.Flow) string {
	t.Helper()
	s, err := flow.FormatFlow(f, flow.TextOptions{Cookie: true})
	if err != nil {
		t.Fatal(err)
	}
	return s
}
