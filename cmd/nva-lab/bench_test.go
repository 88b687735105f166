package main

import "testing"

// A size below -min-writes repeats its ramp until it has that many writes;
// a size at or above it runs once.
func TestRounds(t *testing.T) {
	for _, tc := range []struct{ m, min, want int }{
		{10, 100, 10}, {50, 100, 2}, {200, 100, 1}, {30, 100, 4}, {100, 100, 1}, {7, 1, 1},
	} {
		if got := rounds(tc.m, tc.min); got != tc.want {
			t.Errorf("rounds(%d, %d) = %d, want %d", tc.m, tc.min, got, tc.want)
		}
	}
}

// histQuantile reads the bucket holding a quantile from two scrapes of a
// histogram labelled by stage.
func TestHistQuantile(t *testing.T) {
	const name = "h"
	series := func(le string) string { return `h_bucket{stage="send",le="` + le + `"}` }
	before := map[string]float64{series("0.001"): 1, series("0.002"): 1, series("+Inf"): 1}
	after := map[string]float64{series("0.001"): 3, series("0.002"): 8, series("+Inf"): 11}
	// 10 observations between the scrapes: 2 ≤ 1 ms, 7 ≤ 2 ms, 10 in all.
	if got := histQuantile(before, after, name, "send", 0.5); got.Seconds() != 0.002 {
		t.Errorf("p50 bucket = %v, want 2ms", got)
	}
	if got := histQuantile(before, after, name, "send", 0.2); got.Seconds() != 0.001 {
		t.Errorf("p20 bucket = %v, want 1ms", got)
	}
	if got := histQuantile(before, after, name, "queue", 0.5); got != 0 {
		t.Errorf("a stage without observations: %v, want 0", got)
	}
}
