package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Passes: bench and bench-ovn run their sizes in turn -passes times on
// one lab (M = 10, 50, 200, then 10, 50, 200 again, ...) and give each
// size's figures over all its passes. A size's writes are then spread
// over the whole run instead of one stretch of it, so a slow minute of a
// shared machine (another process, a noisy neighbour of the VM) falls on
// every size rather than on one, and the ratio of two sizes' p50s
// (flatness) measures the sizes, not the minutes they ran in. Each
// pass's own p50 is kept (PassP50) and printed, so the spread between
// passes stays visible.

// ramp is what both systems' rows of a size have: the writes of its
// ramps, over all passes.
type ramp struct {
	M               int
	Rounds          int             // times the ramp ran (attach M ports, detach them), over all passes
	Latencies       []time.Duration // per attach write, sorted
	DetachLatencies []time.Duration // per detach, sorted
	Failed          int             // writes that returned an error
	FirstErr        error
	PassP50         []time.Duration // the p50 of each pass's writes
}

// writes is how many attach writes r rests on.
func (r ramp) writes() int { return r.M * r.Rounds }

// merge adds pass b of a size to a's earlier passes: counts add up,
// latencies pool, each pass's p50 is kept.
func (a ramp) merge(b ramp) ramp {
	out := a
	out.Rounds += b.Rounds
	out.Latencies = mergeSorted(a.Latencies, b.Latencies)
	out.DetachLatencies = mergeSorted(a.DetachLatencies, b.DetachLatencies)
	out.Failed += b.Failed
	if out.FirstErr == nil {
		out.FirstErr = b.FirstErr
	}
	out.PassP50 = append(slices.Clone(a.PassP50), b.PassP50...)
	return out
}

// mergeSize adds pass b of a size to the figures a of its earlier passes
// (a zero a: b is the first pass): the ramp's figures merge; flow and
// group counts and the load are b's (the latest), per-write CPU is the
// mean over both weighted by their writes, and the means of nva's
// histograms are taken again over both passes' observations.
func mergeSize(a, b sizeResult) sizeResult {
	if a.Rounds == 0 {
		return b
	}
	out := a
	out.ramp = a.ramp.merge(b.ramp)
	out.Installed = mergeSorted(a.Installed, b.Installed)
	out.Flows, out.Groups, out.Load = b.Flows, b.Groups, b.Load
	out.NotInstalled += b.NotInstalled
	out.AfterAnswer += b.AfterAnswer
	out.MaxAfterAnswer = max(a.MaxAfterAnswer, b.MaxAfterAnswer)
	out.TotalAttachElapsed += b.TotalAttachElapsed
	out.CPUPerWrite = weightedMean(a.CPUPerWrite, a.writes(), b.CPUPerWrite, b.writes())
	out.SwitchCPUPerWrite = weightedMean(a.SwitchCPUPerWrite, a.writes(), b.SwitchCPUPerWrite, b.writes())
	out.metrics = map[string]float64{}
	for _, m := range []map[string]float64{a.metrics, b.metrics} {
		for k, v := range m {
			out.metrics[k] += v
		}
	}
	out.meansFromMetrics()
	return out
}

// meansFromMetrics sets the means of nva's reconcile histograms from the
// metric deltas r rests on.
func (r *sizeResult) meansFromMetrics() {
	none := map[string]float64{}
	r.MeanReconcile = meanOf(none, r.metrics, "nva_southbound_reconcile_duration_seconds")
	r.MeanPlan = meanOf(none, r.metrics, "nva_southbound_plan_duration_seconds")
}

// mergeOVNSize is mergeSize for OVN's rows.
func mergeOVNSize(a, b ovnSizeResult) ovnSizeResult {
	if a.Rounds == 0 {
		return b
	}
	out := a
	out.ramp = a.ramp.merge(b.ramp)
	out.Flows = b.Flows
	out.SwitchCPUPerWrite = weightedMean(a.SwitchCPUPerWrite, a.writes(), b.SwitchCPUPerWrite, b.writes())
	return out
}

// mergeSorted merges two sorted slices into a new sorted one.
func mergeSorted(a, b []time.Duration) []time.Duration {
	out := make([]time.Duration, 0, len(a)+len(b))
	out = append(append(out, a...), b...)
	slices.Sort(out)
	return out
}

// weightedMean is the mean of two per-write figures weighted by their
// writes; 0 (unknown) when either is unknown.
func weightedMean(a time.Duration, na int, b time.Duration, nb int) time.Duration {
	if a == 0 || b == 0 || na+nb == 0 {
		return 0
	}
	return time.Duration((int64(a)*int64(na) + int64(b)*int64(nb)) / int64(na+nb))
}

// flatness is the ratio of the p50s of the last size to the first over
// all passes, and then of each pass, as "1.23 (passes 1.20, 1.31, 1.18)";
// "" with fewer than two sizes.
func flatness(first, last []time.Duration, firstPasses, lastPasses []time.Duration) string {
	if len(first) == 0 || len(last) == 0 {
		return ""
	}
	s := ratio(percentile(last, 0.5).Seconds(), percentile(first, 0.5).Seconds())
	if len(firstPasses) < 2 || len(firstPasses) != len(lastPasses) {
		return s
	}
	per := make([]string, len(firstPasses))
	for i := range firstPasses {
		per[i] = ratio(lastPasses[i].Seconds(), firstPasses[i].Seconds())
	}
	return fmt.Sprintf("%s (passes %s)", s, strings.Join(per, ", "))
}

// checkPasses checks a -passes value.
func checkPasses(n int) error {
	if n < 1 {
		return fmt.Errorf("-passes: %d is not a positive number of passes", n)
	}
	return nil
}

// defaultPasses is the default -passes.
const defaultPasses = 3

// passesUsage is the -passes flag's usage (bench and bench-ovn).
const passesUsage = "run the sizes in turn this many times (10, 50, 200, 10, 50, 200, ...) and give each size's figures over all its passes, so a slow stretch of the machine does not fall on one size alone; -min-writes applies to each pass"
