package ofctl

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/pipeline"
)

// fleetSnap is the issue-12 fleet layout for nves NVEs: 20 ports per NVE,
// one VN per NVE, each VN spanning 10 consecutive NVEs (so every NVE
// hosts ports of 10 VNs, 2 ports each).
func fleetSnap(nves int) *model.Snapshot {
	snap := &model.Snapshot{Revision: 1, VNs: map[string]*model.VN{}, NVEs: map[string]*model.NVE{}, Ports: map[string]*model.Port{}}
	for i := range nves {
		n := fmt.Sprintf("hv%d", i)
		snap.NVEs[n] = &model.NVE{Name: n, Kind: model.NVEOVS, UnderlayIPs: []string{fmt.Sprintf("10.%d.%d.1", i/250, i%250)},
			DatapathID: model.FormatDatapathID(uint64(i + 1)), Revision: 1}
		vn := fmt.Sprintf("vn%d", i)
		snap.VNs[vn] = &model.VN{Name: vn, VNI: uint32(1000 + i), Encap: model.EncapVXLAN, Service: model.ServiceL2,
			BUM: model.BUM{Mode: model.BUMReplicate}, Unknown: model.UnknownFlood, Revision: 1}
	}
	for i := range nves {
		for j := range 20 {
			vn := (i - j/2 + nves) % nves // ports 2k, 2k+1 in the VN of NVE i-k
			name := fmt.Sprintf("p%d-%d", i, j)
			snap.Ports[name] = &model.Port{Name: name, VN: fmt.Sprintf("vn%d", vn), NVE: fmt.Sprintf("hv%d", i),
				Interface: fmt.Sprintf("v%d", j+1), MAC: fmt.Sprintf("02:00:%02x:%02x:00:%02x", i>>8, i&0xff, j),
				IPs: []string{fmt.Sprintf("10.%d.%d.%d", 100+i/250, i%250, j+1)}, Revision: 1}
		}
	}
	return snap
}

// BenchmarkInstalledState measures what the per-switch record of the
// installed state costs beyond the compiler cache it is derived from: the
// heap bytes per installed flow (bytes/flow) after recording a synced
// switch's result, for switches that each have their own cache (as every
// worker does).
func BenchmarkInstalledState(b *testing.B) {
	const switches = 20
	snap := fleetSnap(switches)
	prof := pipeline.OVS()
	ofports := map[string]uint32{compiler.TunnelPortName(model.EncapVXLAN): 100}
	for j := range 20 {
		ofports[fmt.Sprintf("v%d", j+1)] = uint32(j + 1)
	}
	var perFlow float64
	for range b.N {
		workers := make([]*worker, switches)
		results := make([]compiler.Result, switches)
		flows := 0
		for i := range workers {
			w := &worker{}
			res, err := w.compilerCache().Compile(compiler.Input{Snapshot: snap, NVE: fmt.Sprintf("hv%d", i), OFPorts: ofports,
				Tunnels: map[model.Encap]uint32{model.EncapVXLAN: 100}}, prof)
			if err != nil {
				b.Fatal(err)
			}
			workers[i], results[i] = w, res
			flows += len(res.Flows)
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i, w := range workers {
			if !w.setSlices(results[i]) {
				b.Fatal("result without slices")
			}
			w.installed = nil
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perFlow = float64(after.HeapAlloc-before.HeapAlloc) / float64(flows)
		runtime.KeepAlive(workers)
		runtime.KeepAlive(results)
		if i := flows / switches; i < 100 {
			b.Fatalf("only %d flows per switch", i)
		}
	}
	b.ReportMetric(perFlow, "bytes/flow")
}
