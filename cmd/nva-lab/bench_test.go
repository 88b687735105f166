package main

import (
	"context"
	"io"
	"strings"
	"testing"
)

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

// TestBenchPortTypeFlag: a -port-type bench (bench-ovn) cannot use is
// refused, naming the flag, before any lab is made.
func TestBenchPortTypeFlag(t *testing.T) {
	for _, args := range [][]string{
		{"-port-type", "tap", "-plugged"},
		{"-port-type", "internal"}, // internal ports need -plugged
	} {
		err := bench(context.Background(), args, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "-port-type") {
			t.Errorf("bench %v: %v, want an error naming -port-type", args, err)
		}
	}
	for _, args := range [][]string{
		{"-port-type", "tap"},
		{"-nva-plugged=false"},                           // the default internal ports need nva's plugged
		{"-port-type", "internal", "-nva-plugged=false"}, // nva's side needs -nva-plugged
	} {
		err := benchOVNCmd(context.Background(), args, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "-port-type") {
			t.Errorf("bench-ovn %v: %v, want an error naming -port-type", args, err)
		}
	}
}
