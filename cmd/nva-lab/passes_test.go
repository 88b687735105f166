package main

import (
	"context"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

func ms(v ...float64) []time.Duration {
	out := make([]time.Duration, len(v))
	for i, x := range v {
		out[i] = time.Duration(x * float64(time.Millisecond))
	}
	return out
}

// Two passes of a size pool into one row: latencies merged in order,
// counts added, per-write CPU weighted by writes, the reconcile means
// taken over both passes' observations, each pass's p50 kept.
func TestMergeSize(t *testing.T) {
	a := sizeResult{ramp: ramp{M: 10, Rounds: 10, Latencies: ms(1, 2, 3), DetachLatencies: ms(4), Failed: 1, PassP50: ms(2)},
		Installed: ms(1), Flows: []int{1, 1, 1}, AfterAnswer: 2, MaxAfterAnswer: time.Millisecond,
		CPUPerWrite: time.Millisecond, SwitchCPUPerWrite: 2 * time.Millisecond,
		metrics: map[string]float64{
			"nva_southbound_reconcile_duration_seconds_count": 10, "nva_southbound_reconcile_duration_seconds_sum": 0.010,
		}}
	a.meansFromMetrics()
	b := sizeResult{ramp: ramp{M: 10, Rounds: 30, Latencies: ms(0.5, 2.5), DetachLatencies: ms(3), Failed: 2, PassP50: ms(1.5)},
		Installed: ms(2), Flows: []int{2, 2, 2}, AfterAnswer: 1, MaxAfterAnswer: 3 * time.Millisecond,
		CPUPerWrite: 3 * time.Millisecond, SwitchCPUPerWrite: 0,
		metrics: map[string]float64{
			"nva_southbound_reconcile_duration_seconds_count": 30, "nva_southbound_reconcile_duration_seconds_sum": 0.090,
		}}
	got := mergeSize(sizeResult{}, a)
	if got.Rounds != a.Rounds || !slices.Equal(got.Latencies, a.Latencies) {
		t.Fatalf("merging into nothing: %+v, want the pass itself", got)
	}
	got = mergeSize(got, b)
	if got.Rounds != 40 || got.writes() != 400 {
		t.Errorf("rounds %d writes %d, want 40 and 400", got.Rounds, got.writes())
	}
	if want := ms(0.5, 1, 2, 2.5, 3); !slices.Equal(got.Latencies, want) {
		t.Errorf("latencies %v, want %v", got.Latencies, want)
	}
	if !slices.Equal(got.DetachLatencies, ms(3, 4)) || !slices.Equal(got.Installed, ms(1, 2)) {
		t.Errorf("detach %v installed %v", got.DetachLatencies, got.Installed)
	}
	if !slices.Equal(got.Flows, b.Flows) || got.Failed != 3 || got.AfterAnswer != 3 || got.MaxAfterAnswer != 3*time.Millisecond {
		t.Errorf("flows %v failed %d after %d max %v", got.Flows, got.Failed, got.AfterAnswer, got.MaxAfterAnswer)
	}
	// (1 ms × 100 + 3 ms × 300) / 400 writes.
	if got.CPUPerWrite != 2500*time.Microsecond {
		t.Errorf("CPU per write %v, want 2.5ms", got.CPUPerWrite)
	}
	if got.SwitchCPUPerWrite != 0 {
		t.Errorf("switch CPU per write %v, want 0: one pass did not know it", got.SwitchCPUPerWrite)
	}
	// (10 ms + 90 ms) / 40 observations, not the mean of the two means.
	if d := got.MeanReconcile - 2500*time.Microsecond; d < -time.Microsecond || d > time.Microsecond {
		t.Errorf("mean reconcile %v, want 2.5ms", got.MeanReconcile)
	}
	if !slices.Equal(got.PassP50, ms(2, 1.5)) {
		t.Errorf("pass p50s %v", got.PassP50)
	}
	if a.MeanReconcile != time.Millisecond || len(a.PassP50) != 1 {
		t.Errorf("the first pass was changed: %+v", a)
	}
}

func TestMergeOVNSize(t *testing.T) {
	a := ovnSizeResult{ramp: ramp{M: 200, Rounds: 1, Latencies: ms(10, 20), PassP50: ms(15)}, SwitchCPUPerWrite: time.Millisecond, Flows: []int{9}}
	b := ovnSizeResult{ramp: ramp{M: 200, Rounds: 3, Latencies: ms(5), PassP50: ms(5), Failed: 1}, SwitchCPUPerWrite: 5 * time.Millisecond, Flows: []int{8}}
	got := mergeOVNSize(mergeOVNSize(ovnSizeResult{}, a), b)
	if got.Rounds != 4 || !slices.Equal(got.Latencies, ms(5, 10, 20)) || got.Failed != 1 || !slices.Equal(got.Flows, []int{8}) {
		t.Errorf("%+v", got)
	}
	if got.SwitchCPUPerWrite != 4*time.Millisecond || !slices.Equal(got.PassP50, ms(15, 5)) {
		t.Errorf("switch CPU %v, pass p50s %v", got.SwitchCPUPerWrite, got.PassP50)
	}
}

// Flatness over all passes, then each pass's own.
func TestFlatness(t *testing.T) {
	if got := flatness(ms(1, 2, 3), ms(2, 3, 4), ms(2), ms(3)); got != "1.50" {
		t.Errorf("one pass: %q", got)
	}
	if got := flatness(ms(1, 2, 3), ms(2, 3, 4), ms(2, 1), ms(2.4, 3)); got != "1.50 (passes 1.20, 3.00)" {
		t.Errorf("two passes: %q", got)
	}
	if got := flatness(nil, ms(1), nil, nil); got != "" {
		t.Errorf("no writes: %q", got)
	}
}

// A -passes value below one is refused, naming the flag, before any lab
// is made.
func TestPassesFlag(t *testing.T) {
	if err := bench(context.Background(), []string{"-passes", "0"}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "-passes") {
		t.Errorf("bench -passes 0: %v", err)
	}
	if err := benchOVNCmd(context.Background(), []string{"-passes", "-1"}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "-passes") {
		t.Errorf("bench-ovn -passes -1: %v", err)
	}
}
