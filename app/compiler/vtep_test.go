package compiler_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/compiler/scenario"
	"github.com/nva-project/nva/app/model"
)

// vtepScenario: VN blue with a VM on hv1, and a hardware VTEP tor1
// (tunnel IP 198.18.0.9) with a MAC-less VAP (p1, VLAN 100) in blue, behind
// which the VTEP learned 02:00:00:00:0b:01.
func vtepScenario() *scenario.Domain {
	d := scenario.New().VN("blue", 100).NVE("hv1", "198.18.0.1").NVE("tor1", "198.18.0.9")
	tor := d.NVEs["tor1"]
	tor.Kind, tor.Bridge, tor.DatapathType, tor.DatapathID = model.NVEVTEP, "", "", ""
	if err := tor.Validate(); err != nil {
		panic(err)
	}
	return d.Port("vm1", "blue", "hv1", "tap-vm1", "02:00:00:00:01:01", 0, "10.0.0.1").
		Port("bm", "blue", "tor1", "p1", "", 100)
}

// TestVTEPIsARemote: an OVS NVE treats a VTEP as a remote NVE of the VNs
// it has VAPs in: blue's BUM replication includes it, unknown unicast
// floods (its hosts are learned), and a MAC learned at the VTEP goes into
// the tunnel to the VTEP's tunnel IP; the VTEP's MAC-less VAP adds no
// MAC flow and no warning.
func TestVTEPIsARemote(t *testing.T) {
	for _, prof := range profiles {
		t.Run(prof.Name, func(t *testing.T) {
			d := vtepScenario()
			compile := func() (string, []string) {
				r, err := compiler.Compile(d.Input("hv1"), prof)
				if err != nil {
					t.Fatal(err)
				}
				s, err := prof.Text(r.FlowList(), false)
				if err != nil {
					t.Fatal(err)
				}
				var groups []string
				for _, g := range r.Groups {
					groups = append(groups, g.String())
				}
				return s + "\n" + strings.Join(groups, "\n"), r.Warnings
			}
			text, warnings := compile()
			if len(warnings) != 0 {
				t.Errorf("warnings: %q", warnings)
			}
			toVTEP := "198.18.0.9->tun_dst"
			if !prof.FlowTunnels {
				toVTEP = "output:" + strconv.Itoa(int(d.RemoteTunnelOFPort("tor1", model.EncapVXLAN)))
			}
			if !strings.Contains(text, toVTEP) {
				t.Fatalf("no tunnel to the VTEP (%s) on hv1:\n%s", toVTEP, text)
			}
			if !strings.Contains(text, "priority=10,") {
				t.Fatalf("no unknown-unicast flood in a VN with a VTEP VAP:\n%s", text)
			}
			if strings.Contains(text, "02:00:00:00:0b:01") {
				t.Fatalf("bare-metal MAC forwarded before it is learned:\n%s", text)
			}
			d.Learn("blue", "02:00:00:00:0b:01", "tor1", model.ViaVTEP)
			text, _ = compile()
			var learned []string
			for _, l := range strings.Split(text, "\n") {
				if strings.Contains(l, "eth_dst=02:00:00:00:0b:01") {
					learned = append(learned, l)
				}
			}
			if len(learned) == 0 || !strings.Contains(strings.Join(learned, "\n"), toVTEP) {
				t.Fatalf("learned MAC not forwarded to the VTEP (%s):\n%s", toVTEP, strings.Join(learned, "\n"))
			}
		})
	}
}
