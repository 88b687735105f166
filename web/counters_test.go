package web

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nva-project/nva/app/counters"
	"github.com/nva-project/nva/web/wire"
)

// demandCounters is a CounterReporter that records the demand signals.
type demandCounters struct {
	fakeCounters
	mu     sync.Mutex
	fresh  int // demands waiting for fresh counters
	asides int // demands that do not wait
}

func (d *demandCounters) WantCounters(_ context.Context, fresh bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if fresh {
		d.fresh++
	} else {
		d.asides++
	}
}

func (d *demandCounters) counts() (int, int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.fresh, d.asides
}

func (d *demandCounters) TrafficCounters() ([]counters.NVE, time.Time, bool) {
	return d.fakeCounters.TrafficCounters()
}

// Reads of the counters API ask for fresh counters; a /metrics scrape
// wants them without waiting, unless its name[] filter leaves the
// counter metrics out.
func TestCountersDemand(t *testing.T) {
	dc := &demandCounters{fakeCounters: fakeCounters{[]counters.NVE{{NVE: "hv1", VNs: map[string]counters.VN{}}}}}
	e := newEnv(t, func(o *Options) { o.Counters = dc })
	e.seed()
	var all wire.Counters
	e.must(200, "GET", "/api/v1/counters", "").decode(t, &all)
	if f, a := dc.counts(); f != 1 || a != 0 {
		t.Fatalf("after a counters read: %d fresh and %d other demands, want 1 and 0", f, a)
	}
	e.must(200, "GET", "/api/v1/vns/blue/counters", "")
	if f, _ := dc.counts(); f != 2 {
		t.Fatalf("after a VN counters read: %d fresh demands, want 2", f)
	}
	body := string(e.must(200, "GET", "/metrics", "").body)
	if f, a := dc.counts(); f != 2 || a != 1 || !strings.Contains(body, "go_goroutines ") {
		t.Fatalf("after a full scrape: %d fresh and %d other demands, want 2 and 1", f, a)
	}
	body = string(e.must(200, "GET", "/metrics?name%5B%5D=go_goroutines", "").body)
	if f, a := dc.counts(); f != 2 || a != 1 {
		t.Fatalf("after a scrape of go_goroutines: %d fresh and %d other demands, want 2 and 1", f, a)
	}
	if !strings.Contains(body, "go_goroutines ") || strings.Contains(body, "go_threads") || strings.Contains(body, "nva_") {
		t.Fatalf("a scrape of go_goroutines only:\n%s", body)
	}
	e.must(200, "GET", "/metrics?name%5B%5D=nva_vn_packets_total", "")
	if _, a := dc.counts(); a != 2 {
		t.Fatalf("after a scrape of a counter metric: %d demands, want 2", a)
	}
}

// An events stream that carries counters events keeps wanting them.
func TestEventsCountersDemand(t *testing.T) {
	dc := &demandCounters{fakeCounters: fakeCounters{[]counters.NVE{{NVE: "hv1", VNs: map[string]counters.VN{}}}}}
	e := newEnv(t, func(o *Options) { o.Counters = dc; o.Events.CountersCheck = 10 * time.Millisecond })
	e.seed()
	s := e.openEvents()
	if ev := s.next(); ev.typ != "snapshot" {
		t.Fatalf("want snapshot, got %+v", ev)
	}
	if ev := s.next(); ev.typ != "counters" {
		t.Fatalf("want counters, got %+v", ev)
	}
	if f, a := dc.counts(); f != 0 || a < 1 {
		t.Fatalf("an events stream: %d fresh and %d other demands, want 0 and at least 1", f, a)
	}
}
