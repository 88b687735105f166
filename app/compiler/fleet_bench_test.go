package compiler_test

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"testing"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/compiler/scenario"
	"github.com/nva-project/nva/app/pipeline"
)

// The fleet layout of nva-lab scale (internal/fleet): fleetPorts ports per
// NVE, one VN per NVE, each VN spanning fleetSpan consecutive NVEs; NVE
// j's port p is in VN (j - p%span) and is the (p/span*span + p%span)-th
// port of that VN.
const (
	fleetNVEs  = 300
	fleetPorts = 20
	fleetSpan  = 10
)

func fleetDomain(nves int) *scenario.Domain {
	d := scenario.New()
	for j := 0; j < nves; j++ {
		n := j + 1
		d.NVE(fmt.Sprintf("nve%04d", j), fmt.Sprintf("198.%d.%d.%d", 18+n>>16, byte(n>>8), byte(n)))
	}
	for v := 0; v < nves; v++ {
		d.VN(fmt.Sprintf("vn%04d", v), uint32(10000+v))
	}
	for j := 0; j < nves; j++ {
		for p := 0; p < fleetPorts; p++ {
			r, q := p%fleetSpan, p/fleetSpan
			vn, idx := (j-r+nves)%nves, q*fleetSpan+r
			d.Port(fmt.Sprintf("p%04d-%02d", j, p), fmt.Sprintf("vn%04d", vn), fmt.Sprintf("nve%04d", j),
				fmt.Sprintf("t%04dp%02d", j, p), fmt.Sprintf("02:f1:%02x:%02x:00:%02x", j>>8, j&0xff, p), 0,
				fmt.Sprintf("10.%d.%d.%d", vn>>8, vn&0xff, idx+1))
		}
	}
	return d
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkFleet measures the compiler at the fleet layout (300 NVEs, 20
// ports each, one VN per NVE spanning 10 NVEs), as the southbound uses
// it: one Cache per NVE, all sharing one PartPool, each NVE's last Result
// kept.
//
//   - retained: every NVE compiled into its own Cache; the heap the caches
//     and results retain after a GC, per flow (B/flow) and per NVE;
//     retained_unshared: the same without a PartPool (NewCache);
//   - compile: a from-scratch compile of the whole fleet as the southbound
//     does it after a restart (a new Cache per NVE, one new PartPool), per
//     NVE: CPU time (the process's, GC included), wall time, allocations;
//   - restart: a warm restart's compile (a new Cache per NVE, one new
//     PartPool, every Result kept as the southbound keeps them), per NVE:
//     CPU time (GC included), wall time, allocations and bytes allocated,
//     and the bytes the caches and results retain after a GC (retained);
//     NVA_FLEET_RESTART_NVES sets the number of NVEs compiled (of the
//     fleet's; all by default), NVA_FLEET_HEAPPROFILE writes a heap
//     profile of the last iteration with every allocation sampled;
//   - attach: the compile work of one port attach (a new port on nve0000 in
//     vn0000), per affected NVE: each iteration recompiles one of the 10
//     NVEs of vn0000 for the other of two snapshots that differ by that
//     port, with its Cache.
func BenchmarkFleet(b *testing.B) {
	for _, prof := range []pipeline.Profile{pipeline.OVS(), pipeline.Strict()} {
		b.Run(prof.Name+"/retained", func(b *testing.B) { fleetRetained(b, prof, compiler.NewPartPool()) })
		b.Run(prof.Name+"/retained_unshared", func(b *testing.B) { fleetRetained(b, prof, nil) })
		b.Run(prof.Name+"/compile", func(b *testing.B) { fleetCompile(b, prof) })
		b.Run(prof.Name+"/attach", func(b *testing.B) { fleetAttach(b, prof) })
		b.Run(prof.Name+"/restart", func(b *testing.B) { fleetRestart(b, prof) })
	}
}

// fleetInputs is every NVE of the fleet domain and its compile input, over
// one shared snapshot.
func fleetInputs() ([]string, []compiler.Input) {
	d := fleetDomain(fleetNVEs)
	snap := d.Snapshot()
	names := d.NVENames()
	ins := make([]compiler.Input, len(names))
	for i, n := range names {
		ins[i] = d.InputAt(snap, n)
	}
	return names, ins
}

func fleetRetained(b *testing.B, prof pipeline.Profile, pool *compiler.PartPool) {
	names, ins := fleetInputs()
	b.ResetTimer()
	for it := 0; it < b.N; it++ {
		caches := make([]*compiler.Cache, len(names))
		results := make([]compiler.Result, len(names))
		before := heapInUse()
		flows, groups := 0, 0
		for i := range names {
			caches[i] = compiler.NewSharedCache(pool)
			r, err := caches[i].Compile(ins[i], prof)
			if err != nil {
				b.Fatal(err)
			}
			results[i] = r
			flows += r.NumFlows()
			groups += len(r.Groups)
		}
		after := heapInUse()
		if f := os.Getenv("NVA_FLEET_HEAPPROFILE"); f != "" {
			writeHeapProfile(b, f)
		}
		runtime.KeepAlive(caches)
		runtime.KeepAlive(results)
		retained := float64(after) - float64(before)
		b.ReportMetric(retained/float64(flows), "B/flow")
		b.ReportMetric(retained/float64(len(names))/1e6, "MB/nve")
		b.ReportMetric(float64(flows+groups)/float64(len(names)), "flows+groups/nve")
	}
}

func fleetCompile(b *testing.B, prof pipeline.Profile) {
	names, ins := fleetInputs()
	results := make([]compiler.Result, len(names)) // kept, as the southbound keeps them
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuTime()
	for it := 0; it < b.N; it++ {
		pool := compiler.NewPartPool()
		for i := range names {
			r, err := compiler.NewSharedCache(pool).Compile(ins[i], prof)
			if err != nil {
				b.Fatal(err)
			}
			results[i] = r
		}
	}
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N*len(names)), "cpu-ns/nve")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(names)), "ns/nve")
	runtime.KeepAlive(results)
}

func fleetAttach(b *testing.B, prof pipeline.Profile) {
	d := fleetDomain(fleetNVEs)
	before := d.Snapshot()
	d.Port("a0000-00", "vn0000", "nve0000", "a0000p00", "02:f2:00:00:00:00", 0, "10.0.0.100")
	after := d.Snapshot()
	affected := after.NVEsHosting("vn0000")
	ins := make([][2]compiler.Input, len(affected))
	caches := make([]*compiler.Cache, len(affected))
	pool := compiler.NewPartPool()
	for j, n := range affected {
		ins[j] = [2]compiler.Input{d.InputAt(before, n), d.InputAt(after, n)}
		caches[j] = compiler.NewSharedCache(pool)
		if _, err := caches[j].Compile(ins[j][0], prof); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuTime()
	for i := 0; i < b.N; i++ {
		j := i % len(affected)
		if _, err := caches[j].Compile(ins[j][(i/len(affected)+1)%2], prof); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, start)
	b.ReportMetric(float64(len(affected)), "affected_nves")
}

func fleetRestart(b *testing.B, prof pipeline.Profile) {
	names, ins := fleetInputs()
	if v := os.Getenv("NVA_FLEET_RESTART_NVES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > len(names) {
			b.Fatalf("NVA_FLEET_RESTART_NVES=%q: want 1..%d", v, len(names))
		}
		names, ins = names[:n], ins[:n]
	}
	heapFile := os.Getenv("NVA_FLEET_HEAPPROFILE")
	if heapFile != "" {
		defer func(r int) { runtime.MemProfileRate = r }(runtime.MemProfileRate)
		runtime.MemProfileRate = 1
	}
	var retained, cpu, allocs, bytes float64
	b.ResetTimer()
	for it := 0; it < b.N; it++ {
		b.StopTimer()
		results := make([]compiler.Result, len(names))
		caches := make([]*compiler.Cache, len(names))
		before := heapInUse()
		var ms0, ms1 runtime.MemStats
		runtime.ReadMemStats(&ms0)
		start := cpuTime()
		b.StartTimer()
		pool := compiler.NewPartPool()
		for i := range names {
			caches[i] = compiler.NewSharedCache(pool)
			r, err := caches[i].Compile(ins[i], prof)
			if err != nil {
				b.Fatal(err)
			}
			results[i] = r
		}
		b.StopTimer()
		cpu += float64(cpuTime() - start)
		runtime.ReadMemStats(&ms1)
		allocs += float64(ms1.Mallocs - ms0.Mallocs)
		bytes += float64(ms1.TotalAlloc - ms0.TotalAlloc)
		retained += float64(heapInUse()) - float64(before)
		if heapFile != "" && it == b.N-1 {
			writeHeapProfile(b, heapFile)
		}
		runtime.KeepAlive(caches)
		runtime.KeepAlive(results)
		runtime.KeepAlive(pool)
		b.StartTimer()
	}
	n := float64(b.N * len(names))
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/nve")
	b.ReportMetric(cpu/n, "cpu-ns/nve")
	b.ReportMetric(allocs/n, "allocs/nve")
	b.ReportMetric(bytes/n, "B-alloc/nve")
	b.ReportMetric(retained/n, "retained-B/nve")
}

// writeHeapProfile writes a heap profile to path.
func writeHeapProfile(b *testing.B, path string) {
	w, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	if err := pprof.WriteHeapProfile(w); err != nil {
		b.Fatal(err)
	}
}
