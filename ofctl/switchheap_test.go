package ofctl

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/pipeline"
)

// switchHeap is what a connected, in-sync, idle switch of the fleet layout
// retains in the southbound's heap (bytes per switch, after a GC), split by
// owner: ofctl itself (connection, worker, records, table features, ...),
// the per-switch compiler cache (app/compiler, not ofctl's), and the
// goroutine stacks (nva's and the fake switch's: the fake runs one
// goroutine per switch).
type switchHeap struct {
	switches int
	ofctl    float64 // ofctl's own heap bytes per switch (beyond the compiler cache)
	cache    float64 // the compiler cache's heap bytes per switch
	// result is what the compile results ofctl keeps (the last compile,
	// published for the counters; the record of what the switch holds)
	// add to the cache: their own arrays (compiler.merge's), per switch.
	result float64
	stack  float64 // goroutine stack bytes per switch (nva's and the fake switch's)
	sites  []heapSite
}

// heapSite is one ofctl allocation site's retained bytes (all switches).
type heapSite struct {
	where string
	bytes int64
}

func (h switchHeap) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d switches: ofctl %.1f KB/switch, compile results kept %.1f KB/switch, compiler cache %.1f KB/switch, stacks %.1f KB/switch\n",
		h.switches, h.ofctl/1024, h.result/1024, h.cache/1024, h.stack/1024)
	for i, s := range h.sites {
		if i == 15 {
			break
		}
		fmt.Fprintf(&b, "  %8.1f KB/switch  %s\n", float64(s.bytes)/float64(h.switches)/1024, s.where)
	}
	return b.String()
}

// ovsLikeFeatures is an OFPMP_TABLE_FEATURES answer shaped like Open
// vSwitch's: 254 tables, each matching every field of the OVS profile and
// going to every later table.
func ovsLikeFeatures() [][]byte {
	prof := pipeline.OVS()
	seen := map[string]bool{}
	var specs []flow.FieldSpec
	for _, t := range prof.Tables {
		for _, f := range t.Match {
			if s, ok := flow.Spec(f); ok && !seen[f] {
				seen[f] = true
				specs = append(specs, *s)
			}
		}
	}
	out := make([][]byte, 0, 254)
	for id := range 254 {
		var next []uint8
		for n := id + 1; n < 254; n++ {
			next = append(next, uint8(n))
		}
		out = append(out, tableFeatureEntry(uint8(id), ^uint64(0), ^uint64(0), specs, next))
	}
	return out
}

// measureSwitchHeap connects n fake switches of the fleet layout (20
// ports, 700+ flows and 20 groups each, an OVS-like table-features answer)
// to a southbound, waits until every NVE is in sync, audits every switch
// twice (the first audit after a sync checks the report entry by entry,
// the second finds it unchanged), and attributes the heap retained then by
// allocation site (a heap profile of every allocation).
func measureSwitchHeap(tb testing.TB, n int) switchHeap {
	defer func(rate int) { runtime.MemProfileRate = rate }(runtime.MemProfileRate)
	runtime.MemProfileRate = 1

	src := newFakeStore(fleetSnap(n), true)
	sb := New(Config{ListenAddr: "unix:" + filepath.Join(tb.TempDir(), "of.sock"),
		Logger: slog.New(slog.DiscardHandler), AuditInterval: -1,
		// Every allocation is profiled: slow, on a loaded machine too.
		OpTimeout: 5 * time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := sb.Start(ctx, src); err != nil {
		tb.Fatal(err)
	}
	defer func() { _ = sb.Close() }()
	ports := map[uint32]string{100: "nva-vxlan"}
	for j := range 20 {
		ports[uint32(j+1)] = fmt.Sprintf("v%d", j+1)
	}
	features := ovsLikeFeatures()
	bridges := make([]*fakeBridge, n)
	for i := range bridges {
		bridges[i] = newFakeBridge(tb, uint64(i+1), ports)
		bridges[i].tableFeatures = features
	}
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for _, b := range bridges {
		b.connect(sb.cfg.ListenAddr)
	}
	deadline := time.Now().Add(10 * time.Minute)
	for i := 0; i < n; {
		st := sb.status(fmt.Sprintf("hv%d", i))
		if st.Sync == SyncInSync {
			i++
			continue
		}
		if time.Now().After(deadline) {
			tb.Fatalf("hv%d not in sync: %+v", i, st)
		}
		time.Sleep(10 * time.Millisecond)
	}
	busy := func() int {
		sb.mu.Lock()
		defer sb.mu.Unlock()
		busy := 0
		for _, w := range sb.switches {
			if w.audit || w.queued || w.running {
				busy++
			}
		}
		return busy
	}
	for range 2 {
		sb.Audit()
		waitCond(tb, 5*time.Minute, "the audit round", func() bool { return busy() == 0 })
	}
	for i := range n {
		if st := sb.status(fmt.Sprintf("hv%d", i)); st.Sync != SyncInSync {
			tb.Fatalf("hv%d: %s after the audits (%s)", i, st.Sync, st.LastError)
		}
	}
	if got := bridges[0].flowCount(); got < 700 {
		tb.Fatalf("switch 1 holds %d flows, want the fleet layout's 700+ (710)", got)
	}

	runtime.GC()
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	h := switchHeap{switches: n, stack: float64(int64(after.StackInuse)-int64(before.StackInuse)) / float64(n)}
	var ofctlBytes, cacheBytes, resultBytes int64
	sites := map[string]int64{}
	for _, r := range memRecords() {
		inuse := r.InUseBytes()
		if inuse <= 0 {
			continue
		}
		owner, site := classify(r.Stack())
		switch owner {
		case "ofctl":
			ofctlBytes += inuse
			sites[site] += inuse
		case "compiler":
			cacheBytes += inuse
		case "result":
			resultBytes += inuse
		}
	}
	h.ofctl = float64(ofctlBytes) / float64(n)
	h.cache = float64(cacheBytes) / float64(n)
	h.result = float64(resultBytes) / float64(n)
	for where, b := range sites {
		h.sites = append(h.sites, heapSite{where, b})
	}
	slices.SortFunc(h.sites, func(a, b heapSite) int { return int(b.bytes - a.bytes) })
	runtime.KeepAlive(bridges)
	runtime.KeepAlive(sb)
	return h
}

// memRecords returns the heap profile's records (as of the last GC).
func memRecords() []runtime.MemProfileRecord {
	var recs []runtime.MemProfileRecord
	n, _ := runtime.MemProfile(nil, true)
	for {
		recs = make([]runtime.MemProfileRecord, n+100)
		var ok bool
		n, ok = runtime.MemProfile(recs, true)
		if ok {
			return recs[:n]
		}
	}
}

// classify names the owner of an allocation by its stack: the test harness
// (the fake switches, the snapshot), the compiler cache, ofctl (with the
// innermost ofctl frame as the site), or other (runtime, net, ...).
func classify(stk []uintptr) (owner, site string) {
	frames := runtime.CallersFrames(stk)
	for {
		f, more := frames.Next()
		fn := f.Function
		switch {
		case strings.Contains(fn, "fakeBridge") || strings.Contains(fn, "measureSwitchHeap") ||
			strings.Contains(fn, "fleetSnap") || strings.Contains(fn, "ovsLikeFeatures"):
			return "harness", ""
		case fn == "github.com/nva-project/nva/app/compiler.merge":
			return "result", ""
		case strings.HasPrefix(fn, "github.com/nva-project/nva/app/compiler."):
			return "compiler", ""
		case strings.HasPrefix(fn, "github.com/nva-project/nva/ofctl") && site == "":
			site = fmt.Sprintf("%s:%d", strings.TrimPrefix(fn, "github.com/nva-project/nva/"), f.Line)
		}
		if !more {
			break
		}
	}
	if site != "" {
		return "ofctl", site
	}
	return "other", ""
}

// BenchmarkSwitchHeap reports what a connected, in-sync, idle switch of
// the fleet layout costs the southbound's heap: ofctl-B/switch (ofctl's
// own, beyond the compiler cache), result-B/switch (the arrays of the
// compile results ofctl keeps: the published compile, the record of the
// installed state), cache-B/switch (the per-switch compiler cache) and
// stack-B/switch (goroutine stacks, the fake switch's one included). Every
// allocation is profiled, so it takes minutes: run it alone, with
// -benchtime=1x; -v logs the largest ofctl sites.
func BenchmarkSwitchHeap(b *testing.B) {
	for _, n := range []int{50} {
		b.Run(fmt.Sprintf("switches=%d", n), func(b *testing.B) {
			var h switchHeap
			for range b.N {
				h = measureSwitchHeap(b, n)
			}
			b.Log(h)
			b.ReportMetric(h.ofctl, "ofctl-B/switch")
			b.ReportMetric(h.cache, "cache-B/switch")
			b.ReportMetric(h.result, "result-B/switch")
			b.ReportMetric(h.stack, "stack-B/switch")
		})
	}
}
