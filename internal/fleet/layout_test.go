package fleet

import (
	"encoding/json"
	"testing"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/web/wire"
)

// TestLayout: the layout at 100 NVEs: every NVE is in Span VNs
// with the same number of ports in each, every VN spans Span NVEs, names,
// MACs and interfaces are unique, IPs unique inside a VN, and the batches
// hold everything once, VNs and NVEs before the ports that use them.
func TestLayout(t *testing.T) {
	l := Layout{NVEs: 100, PortsPerNVE: 20, Span: 10, Kind: model.NVEOVS, SparePorts: 1}
	if err := l.Check(); err != nil {
		t.Fatal(err)
	}
	names, macs, ifs := map[string]bool{}, map[string]bool{}, map[string]bool{}
	ips := map[string]bool{}
	vnNVEs := map[string]map[string]bool{}
	for j := 0; j < l.NVEs; j++ {
		perVN := map[string]int{}
		for p := 0; p < l.PortsPerNVE; p++ {
			pt := l.Port(j, p)
			if names[pt.Name] || macs[pt.MAC] || ifs[pt.NVE+"/"+pt.Interface] || ips[pt.VN+"/"+pt.IPs[0]] {
				t.Fatalf("port %+v repeats a name, MAC, interface or IP", pt)
			}
			names[pt.Name], macs[pt.MAC], ifs[pt.NVE+"/"+pt.Interface], ips[pt.VN+"/"+pt.IPs[0]] = true, true, true, true
			perVN[pt.VN]++
			if vnNVEs[pt.VN] == nil {
				vnNVEs[pt.VN] = map[string]bool{}
			}
			vnNVEs[pt.VN][pt.NVE] = true
			if err := pt.Validate(); err != nil {
				t.Fatalf("port %+v: %v", pt, err)
			}
		}
		if len(perVN) != l.Span {
			t.Fatalf("NVE %d is in %d VNs, want %d", j, len(perVN), l.Span)
		}
		for vn, n := range perVN {
			if n != l.PortsPerNVE/l.Span {
				t.Fatalf("NVE %d has %d ports in %s, want %d", j, n, vn, l.PortsPerNVE/l.Span)
			}
		}
		if r := l.Remotes(j); len(r) != 2*(l.Span-1) {
			t.Fatalf("NVE %d shares VNs with %d NVEs, want %d", j, len(r), 2*(l.Span-1))
		}
	}
	for vn, nves := range vnNVEs {
		if len(nves) != l.Span {
			t.Fatalf("%s spans %d NVEs, want %d", vn, len(nves), l.Span)
		}
	}
	batches, err := l.BatchItems(func(j int) string { return "unix:/x" }, 1000)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	total := 0
	for _, b := range batches {
		if len(b) > 1000 {
			t.Fatalf("batch of %d items, want at most 1000", len(b))
		}
		for _, it := range b {
			total++
			if it.Op != wire.OpCreate {
				t.Fatalf("item %+v is not a create", it)
			}
			if it.Kind == wire.KindPort {
				var p model.Port
				if err := json.Unmarshal(it.Object, &p); err != nil {
					t.Fatal(err)
				}
				if !seen["vn/"+p.VN] || !seen["nve/"+p.NVE] {
					t.Fatalf("port %s comes before its VN or NVE", p.Name)
				}
			}
			seen[it.Kind+"/"+it.Name] = true
		}
	}
	if want := 2*l.NVEs + l.NVEs*l.PortsPerNVE; total != want || len(seen) != want {
		t.Fatalf("%d items (%d distinct), want %d", total, len(seen), want)
	}
}
