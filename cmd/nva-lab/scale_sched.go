package main

import (
	"fmt"
	"math"
	"runtime/metrics"
	"strings"
	"time"
)

// schedMetric is the Go runtime's histogram of how long runnable
// goroutines of this process waited before running: the harness's own
// delay in sending a request or noticing an answer, which every time it
// measures includes.
const schedMetric = "/sched/latencies:seconds"

// schedSample reads the histogram (nil when the runtime does not have it).
func schedSample() *metrics.Float64Histogram {
	s := []metrics.Sample{{Name: schedMetric}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindFloat64Histogram {
		return nil
	}
	return s[0].Value.Float64Histogram()
}

// schedQuantile is quantile q of the waits between two samples (an upper
// bound: the end of its bucket, 0 for the runtime's lowest bucket; -1
// when unknown or nothing ran).
func schedQuantile(a, b *metrics.Float64Histogram, q float64) time.Duration {
	if a == nil || b == nil || len(a.Counts) != len(b.Counts) {
		return -1
	}
	var total uint64
	d := make([]uint64, len(b.Counts))
	for i := range d {
		d[i] = b.Counts[i] - a.Counts[i]
		total += d[i]
	}
	if total == 0 {
		return -1
	}
	need := uint64(math.Ceil(q * float64(total)))
	var seen uint64
	for i, c := range d {
		seen += c
		if seen >= need && c > 0 {
			hi := b.Buckets[i+1] // Buckets has one more entry than Counts
			if math.IsInf(hi, 1) {
				hi = b.Buckets[i]
			}
			return time.Duration(hi * float64(time.Second))
		}
	}
	return -1
}

// schedText is the harness's scheduling delays per phase, for the line
// under a size's table.
func schedText(res *scaleResult) string {
	var parts []string
	for _, p := range res.Phases {
		if p.SchedP99 < 0 {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %s/%s", p.Name, roundDur(p.SchedP99), roundDur(p.SchedMax)))
	}
	return strings.Join(parts, ", ")
}
