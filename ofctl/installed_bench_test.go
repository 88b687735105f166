package ofctl

import (
	"fmt"
	"log/slog"
	"runtime"
	"testing"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/pipeline"
	"github.com/nva-project/nva/ofctl/codec"
	"github.com/nva-project/nva/ofctl/reconcile"
)

// fleetSnap is the issue-12 fleet layout for nves NVEs: 20 ports per NVE,
// one VN per NVE, each VN spanning 10 consecutive NVEs (so every NVE
// hosts ports of 10 VNs, 2 ports each).
func fleetSnap(nves int) *model.Snapshot {
	snap := &model.Snapshot{Revision: 1, VNs: map[string]*model.VN{}, NVEs: map[string]*model.NVE{}}
	for i := range nves {
		n := fmt.Sprintf("hv%d", i)
		snap.NVEs[n] = &model.NVE{Name: n, Kind: model.NVEOVS, UnderlayIPs: []string{fmt.Sprintf("10.%d.%d.1", i/250, i%250)},
			DatapathID: model.FormatDatapathID(uint64(i + 1)), Revision: 1}
		vn := fmt.Sprintf("vn%d", i)
		snap.VNs[vn] = &model.VN{Name: vn, VNI: uint32(1000 + i), Encap: model.EncapVXLAN, Service: model.ServiceL2,
			BUM: model.BUM{Mode: model.BUMReplicate}, Unknown: model.UnknownFlood, Revision: 1}
	}
	ports := map[string]*model.Port{}
	for i := range nves {
		for j := range 20 {
			vn := (i - j/2 + nves) % nves // ports 2k, 2k+1 in the VN of NVE i-k
			name := fmt.Sprintf("p%d-%d", i, j)
			ports[name] = &model.Port{Name: name, VN: fmt.Sprintf("vn%d", vn), NVE: fmt.Sprintf("hv%d", i),
				Interface: fmt.Sprintf("v%d", j+1), MAC: fmt.Sprintf("02:00:%02x:%02x:00:%02x", i>>8, i&0xff, j),
				IPs: []string{fmt.Sprintf("10.%d.%d.%d", 100+i/250, i%250, j+1)}, Revision: 1}
		}
	}
	snap.Ports = model.TableOf(ports)
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
	var perFlow, cachePerFlow float64
	for range b.N {
		workers := make([]*worker, switches)
		results := make([]compiler.Result, switches)
		flows := 0
		var c0, c1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&c0)
		for i := range workers {
			w := &worker{}
			res, err := w.compilerCache().Compile(compiler.Input{Snapshot: snap, NVE: fmt.Sprintf("hv%d", i), OFPorts: ofports,
				Tunnels: map[model.Encap]uint32{model.EncapVXLAN: 100}}, prof)
			if err != nil {
				b.Fatal(err)
			}
			workers[i], results[i] = w, res
			flows += res.NumFlows()
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		c1 = before
		// The caches and their results (Result.Flows, a shallow copy, is
		// counted here too): what every switch costs before any record.
		cachePerFlow = float64(c1.HeapAlloc-c0.HeapAlloc) / float64(flows)
		for i, w := range workers {
			if !w.setSlices(results[i]) {
				b.Fatal("result without slices")
			}
			w.installed = nil
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perFlow = (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / float64(flows)
		runtime.KeepAlive(workers)
		runtime.KeepAlive(results)
		if i := flows / switches; i < 100 {
			b.Fatalf("only %d flows per switch", i)
		}
	}
	b.ReportMetric(perFlow, "bytes/flow")
	b.ReportMetric(cachePerFlow, "cache-bytes/flow")
}

// BenchmarkAudit measures one audit of an in-sync switch of the fleet
// layout (816 flows, 20 groups) once its flows and groups are read: the
// way an audit worked before (compile the NVE, from scratch or through
// the warm per-switch cache, then diff the desired state against the
// switch's report) and now: a report that hashes as the last one found
// equal to the record is clean (the common case: nothing decoded), a
// changed one is decoded and diffed against what nva last installed (the
// record of cached slices; no compile).
func BenchmarkAudit(b *testing.B) {
	snap := fleetSnap(20)
	prof := pipeline.OVS()
	ofports := map[string]uint32{compiler.TunnelPortName(model.EncapVXLAN): 100}
	for j := range 20 {
		ofports[fmt.Sprintf("v%d", j+1)] = uint32(j + 1)
	}
	in := compiler.Input{Snapshot: snap, NVE: "hv0", OFPorts: ofports, Tunnels: map[model.Encap]uint32{model.EncapVXLAN: 100}}
	w := &worker{}
	res, err := w.compilerCache().Compile(in, prof)
	if err != nil {
		b.Fatal(err)
	}
	if !w.setSlices(res) {
		b.Fatal("result without slices")
	}
	raw := installedOnFakeBridge(b, res, prof)
	s := New(Config{Logger: slog.New(slog.DiscardHandler)})
	b.Logf("%d flows, %d groups", len(raw.flows), len(raw.groups))
	read := func() ([]flow.Flow, []flow.GroupEntry) {
		inst, groups := s.decodeInstalled(raw, prof)
		flows := make([]flow.Flow, len(inst))
		for i, f := range inst {
			flows[i] = f.Flow
		}
		return flows, groups
	}
	check := func(p reconcile.Plan) {
		if !p.Empty() {
			b.Fatalf("an in-sync switch differs: %s", p)
		}
	}
	b.Run("before/compile-from-scratch", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			res, err := compiler.Compile(in, prof)
			if err != nil {
				b.Fatal(err)
			}
			flows, groups := read()
			check(s.diff.Diff(res.FlowList(), flows, res.Groups, groups))
		}
	})
	b.Run("before/warm-cache-compile", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			res, err := w.compilerCache().Compile(in, prof)
			if err != nil {
				b.Fatal(err)
			}
			flows, groups := read()
			check(s.diff.Diff(res.FlowList(), flows, res.Groups, groups))
		}
	})
	clean := s.reportHash(raw)
	b.Run("after/report-unchanged", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if s.reportHash(raw) != clean {
				b.Fatal("the same report hashes differently")
			}
		}
	})
	b.Run("after/report-changed-record-diff", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			flows, groups := read()
			check(s.diff.Diff(w.installedFlows(), flows, res.Groups, groups))
		}
	})
}

// installedOnFakeBridge is what a switch holding exactly res reports: the
// fake bridge, fed res's encoded group and flow mods, read back.
func installedOnFakeBridge(b testing.TB, res compiler.Result, prof pipeline.Profile) rawInstalled {
	b.Helper()
	br := newFakeBridge(b, 1, nil)
	c := codec.New(codec.Options{AllowNicira: prof.Extensions})
	for _, g := range res.Groups {
		m, err := c.EncodeGroupMod(g, codec.GroupAdd)
		if err != nil {
			b.Fatal(err)
		}
		raw, _ := m.MarshalBinary()
		br.groupMod(raw)
	}
	for _, f := range res.FlowList() {
		m, err := c.EncodeFlowMod(f, prof.Number, codec.FlowAdd)
		if err != nil {
			b.Fatal(err)
		}
		raw, _ := m.MarshalBinary()
		br.flowMod(raw)
	}
	raw := rawInstalled{flows: br.statsEntries()}
	for _, e := range br.groups {
		raw.groups = append(raw.groups, e)
	}
	return raw
}
