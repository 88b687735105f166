package web

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/web/wire"
)

// scaleSnapshot is the scale case: nves NVEs with perNVE ports
// each; every NVE has one port in VN "all" (so that VN alone spans
// nves*(nves-1)/2 pairs) and the rest spread over 100 VNs.
func scaleSnapshot(nves, perNVE int) *model.Snapshot {
	vns := map[string]*model.VN{"all": {Name: "all", VNI: 1}}
	for i := range 100 {
		n := fmt.Sprintf("vn%03d", i)
		vns[n] = &model.VN{Name: n, VNI: uint32(100 + i)}
	}
	nv := map[string]*model.NVE{}
	ports := map[string]*model.Port{}
	for i := range nves {
		name := fmt.Sprintf("hv%04d", i)
		nv[name] = &model.NVE{Name: name, Kind: model.NVEOVS, UnderlayIPs: []string{fmt.Sprintf("10.%d.%d.1", i>>8, i&255)}}
		for j := range perNVE {
			vn := "all"
			if j > 0 {
				vn = fmt.Sprintf("vn%03d", (i*perNVE+j)%100)
			}
			p := fmt.Sprintf("p%04d-%02d", i, j)
			ports[p] = &model.Port{Name: p, VN: vn, NVE: name, Interface: "vm-" + p}
		}
	}
	return model.NewSnapshot(1, vns, nv, ports)
}

// TestAggregatedTopologyAtScale: at 1,000 NVEs and 20,000 ports, with one
// VN on every NVE (499,500 pairs), the aggregated form has no per-pair
// data: it is no bigger than the objects it lists plus their VN lists.
func TestAggregatedTopologyAtScale(t *testing.T) {
	if testing.Short() {
		t.Skip("scale")
	}
	snap := scaleSnapshot(1000, 20)
	agg := BuildAggregatedTopology(snap, nil)
	if agg.Tunnels != nil {
		t.Fatal("aggregated topology has tunnels")
	}
	b, err := json.Marshal(agg)
	if err != nil {
		t.Fatal(err)
	}
	objects, _ := json.Marshal(wire.Topology{NVEs: agg.NVEs, VNs: agg.VNs, Ports: agg.Ports})
	if len(b) > len(objects)+64*len(agg.VNs) {
		t.Errorf("aggregated topology is %d bytes, the objects %d", len(b), len(objects))
	}
	for _, s := range agg.VNSpans {
		if s.VN == "all" && (s.NVEs != 1000 || s.Pairs != 499500 || s.Ports != 1000) {
			t.Errorf("span of all: %+v", s)
		}
	}
	t.Logf("1,000 NVEs, 20,000 ports, 499,500 pairs: aggregated topology %d kB", len(b)/1024)
}

func benchTopology(b *testing.B, aggregate bool) {
	snap := scaleSnapshot(1000, 20)
	b.ReportAllocs()
	var size int
	for b.Loop() {
		t := buildTopology(snap, nil, aggregate)
		out, err := json.Marshal(t)
		if err != nil {
			b.Fatal(err)
		}
		size = len(out)
	}
	b.ReportMetric(float64(size), "json-bytes")
}

// BenchmarkTopologyFull: GET /api/v1/topology at 1,000 NVEs, 20,000 ports
// and ~500k NVE pairs.
func BenchmarkTopologyFull(b *testing.B) { benchTopology(b, false) }

// BenchmarkTopologyAggregated: the same with ?tunnels=none (the events
// stream's snapshot).
func BenchmarkTopologyAggregated(b *testing.B) { benchTopology(b, true) }

type staticStatus map[string]*model.NVEStatus

func (s staticStatus) NVEStatus(n string) *model.NVEStatus { return s[n] }

// BenchmarkEventsStatusDiff: one status batch of a stream at 1,000 NVEs
// when nothing changed (what a spurious notification or the periodic
// re-read costs).
func BenchmarkEventsStatusDiff(b *testing.B) {
	rep := staticStatus{}
	for i := range 1000 {
		rep[fmt.Sprintf("hv%04d", i)] = &model.NVEStatus{Summary: "ok: in sync (revision 42)",
			OVSDB:    &model.OVSDBStatus{Connected: true, BridgeReady: true, Ports: map[string]model.PortStatus{"vm-a": {OFPort: 3, LinkUp: true}}},
			OpenFlow: &model.OpenFlowStatus{Connected: true, Sync: model.SyncInSync, RealizedRevision: 42}}
	}
	snap := scaleSnapshot(1000, 1)
	ss := newStreamStatus(rep)
	ss.seed(BuildAggregatedTopology(snap, rep))
	b.ReportAllocs()
	for b.Loop() {
		if n := ss.diff(nil); n != 0 {
			b.Fatalf("%d status events for unchanged statuses", n)
		}
	}
}
