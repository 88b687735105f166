package compiler_test

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/compiler/scenario"
	"github.com/nva-project/nva/app/pipeline"
)

// Scale of BenchmarkCompile: the domain nva must serve (1,000 NVEs,
// 1,000 VNs, 20,000 ports). Port i is in VN i%1000 on NVE
// (i%1000 + 37*(i/1000)) % 1000: every VN has 20 ports on 20 NVEs, every
// NVE hosts 20 VNs with one local port each and peers with the 19 other
// NVEs of each of them.
const (
	benchNVEs  = 1000
	benchVNs   = 1000
	benchPorts = 20000
)

func benchDomain() *scenario.Domain {
	d := scenario.New()
	for n := 0; n < benchNVEs; n++ {
		d.NVE(fmt.Sprintf("hv%04d", n), fmt.Sprintf("198.18.%d.%d", n/250, 1+n%250))
	}
	for v := 0; v < benchVNs; v++ {
		d.VN(fmt.Sprintf("vn%04d", v), uint32(1000+v))
	}
	for i := 0; i < benchPorts; i++ {
		v, k := i%benchVNs, i/benchVNs
		n := (v + 37*k) % benchNVEs
		d.Port(fmt.Sprintf("p%05d", i), fmt.Sprintf("vn%04d", v), fmt.Sprintf("hv%04d", n), fmt.Sprintf("tap%d", i),
			fmt.Sprintf("02:00:00:%02x:%02x:%02x", i>>16&0xff, i>>8&0xff, i&0xff), 0,
			fmt.Sprintf("10.%d.%d.%d", v/250, v%250, 1+k))
	}
	return d
}

// cpuTime is the process's user+system CPU time so far. Benchmarks report
// it per operation besides wall time: on a shared machine other processes
// inflate wall time, not this.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

// BenchmarkCompile measures, at 1,000 NVEs / 1,000 VNs / 20,000 ports:
//
//   - full_nve: a from-scratch compile of one NVE (20 VNs, ~400 remote
//     ports; Compile, i.e. a fresh Cache);
//   - port_change: the compile work one port change causes, per affected
//     NVE (every NVE hosting the port's VN): the domain alternates between
//     two snapshots that differ by one added port, and each iteration
//     recompiles one affected NVE for the other snapshot with that NVE's
//     Cache (the southbound's path: only the VN's slice is recompiled).
//
// Both run for the OVS and the strict OpenFlow 1.3 profile.
func BenchmarkCompile(b *testing.B) {
	d := benchDomain()
	const nve = "hv0000"
	before := d.Snapshot()
	// One more port in vn0000, on hv0000: every NVE hosting vn0000 is
	// affected (hv0000 locally, 19 others remotely).
	d.Port("extra", "vn0000", nve, "tap-extra", "02:00:00:ff:00:01", 0, "10.0.0.200")
	after := d.Snapshot()
	affected := after.NVEsHosting("vn0000")
	for _, prof := range []pipeline.Profile{pipeline.OVS(), pipeline.Strict()} {
		b.Run(prof.Name+"/full_nve", func(b *testing.B) {
			in := d.InputAt(before, nve)
			start := cpuTime()
			for i := 0; i < b.N; i++ {
				r, err := compiler.Compile(in, prof)
				if err != nil {
					b.Fatal(err)
				}
				if i == 0 {
					b.ReportMetric(float64(r.NumFlows()), "flows")
				}
			}
			reportCPU(b, start)
		})
		b.Run(prof.Name+"/port_change", func(b *testing.B) {
			ins := make([][2]compiler.Input, len(affected))
			caches := make([]*compiler.Cache, len(affected))
			for j, n := range affected {
				ins[j] = [2]compiler.Input{d.InputAt(before, n), d.InputAt(after, n)}
				caches[j] = compiler.NewCache()
				if _, err := caches[j].Compile(ins[j][0], prof); err != nil {
					b.Fatal(err)
				}
			}
			recompiled := 0
			b.ResetTimer()
			start := cpuTime()
			for i := 0; i < b.N; i++ {
				j := i % len(affected)
				in := ins[j][(i/len(affected)+1)%2]
				r, err := caches[j].Compile(in, prof)
				if err != nil {
					b.Fatal(err)
				}
				for k := range r.Slices {
					if r.Recompiled(k) {
						recompiled++
					}
				}
			}
			reportCPU(b, start)
			b.ReportMetric(float64(len(affected)), "affected_nves")
			b.ReportMetric(float64(recompiled)/float64(b.N), "slices/op")
		})
	}
}

// BenchmarkCompileOneVN measures the lab bench's shape: one VN with M
// ports spread over 3 NVEs (port i on NVE i%3), for M = 10, 50, 200 and
// 1,000. Each iteration is the compile work one port change causes on one
// affected NVE: the domain alternates between two snapshots that differ
// by one added port (on hv1), and each of the 3 NVEs recompiles in turn
// with its Cache. A one-port change should cost the same whatever M.
func BenchmarkCompileOneVN(b *testing.B) {
	for _, m := range []int{10, 50, 200, 1000} {
		d := scenario.New()
		nves := []string{"hv1", "hv2", "hv3"}
		for i, n := range nves {
			d.NVE(n, fmt.Sprintf("198.18.0.%d", 1+i))
		}
		d.VN("vn", 100)
		for i := 0; i < m; i++ {
			n := nves[i%3]
			d.Port(fmt.Sprintf("p%05d", i), "vn", n, fmt.Sprintf("tap%d", i),
				fmt.Sprintf("02:00:00:%02x:%02x:%02x", i>>16&0xff, i>>8&0xff, i&0xff), 0,
				fmt.Sprintf("10.%d.%d.%d", i/62500, i/250%250, 1+i%250))
		}
		before := d.Snapshot()
		d.Port("extra", "vn", "hv1", "tap-extra", "02:00:00:ff:00:01", 0, "10.255.0.1")
		after := d.Snapshot()
		for _, prof := range []pipeline.Profile{pipeline.OVS(), pipeline.Strict()} {
			b.Run(fmt.Sprintf("%s/M=%d", prof.Name, m), func(b *testing.B) {
				ins := make([][2]compiler.Input, len(nves))
				caches := make([]*compiler.Cache, len(nves))
				pool := compiler.NewPartPool() // as the southbound's NVEs share one
				for j, n := range nves {
					ins[j] = [2]compiler.Input{d.InputAt(before, n), d.InputAt(after, n)}
					caches[j] = compiler.NewSharedCache(pool)
					if _, err := caches[j].Compile(ins[j][0], prof); err != nil {
						b.Fatal(err)
					}
				}
				recompiled, flows := 0, 0
				b.ResetTimer()
				start := cpuTime()
				for i := 0; i < b.N; i++ {
					j := i % len(nves)
					r, err := caches[j].Compile(ins[j][(i/len(nves)+1)%2], prof)
					if err != nil {
						b.Fatal(err)
					}
					for i, s := range r.Slices {
						if r.Recompiled(i) {
							recompiled += len(s.Flows)
						}
					}
					flows += r.NumFlows()
				}
				reportCPU(b, start)
				b.ReportMetric(float64(flows)/float64(b.N), "flows")
				b.ReportMetric(float64(recompiled)/float64(b.N), "recompiled_flows/op")
			})
		}
	}
}
