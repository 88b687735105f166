package ofctl

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/pipeline"
	"github.com/nva-project/nva/ofctl/reconcile"
)

// flowEntriesTaken is how many flow entries were taken by their bytes and
// how many were decoded, so far.
func flowEntriesTaken(t *testing.T, sb *Southbound) (byBytes, decoded float64) {
	t.Helper()
	return counterValue(t, sb.m.flowEntries.WithLabelValues("bytes")), counterValue(t, sb.m.flowEntries.WithLabelValues("decoded"))
}

// tableImage is the bridge's flow table without counters, for comparing
// the table before and after.
func tableImage(br *fakeBridge) string {
	br.mu.Lock()
	defer br.mu.Unlock()
	out := map[string]string{}
	for k, f := range br.flows {
		out[fmt.Sprintf("%x", k)] = fmt.Sprintf("t%d p%d c%x %x %x", f.table, f.priority, f.cookie, f.match, f.instr)
	}
	return fmt.Sprint(out)
}

// reverseOXM re-encodes an ofp_match with its OXM fields in reverse order
// (what a switch that orders fields its own way, like Open vSwitch, may
// report): the same match, other bytes. ok is false with fewer than two
// fields.
func reverseOXM(t *testing.T, m []byte) ([]byte, bool) {
	t.Helper()
	n := int(binary.BigEndian.Uint16(m[2:4]))
	var fields [][]byte
	for i := 4; i < n; {
		l := 4 + int(m[i+3])
		fields = append(fields, m[i:i+l])
		i += l
	}
	if len(fields) < 2 {
		return m, false
	}
	out := append([]byte(nil), m[:4]...)
	for i := len(fields) - 1; i >= 0; i-- {
		out = append(out, fields[i]...)
	}
	if len(out) != n {
		t.Fatalf("match of %d bytes re-encoded to %d", n, len(out))
	}
	return append(out, m[n:]...), true // the padding
}

// restart connects br to a new southbound (a restarted nva) and waits
// until it realized rev.
func restart(t *testing.T, src Source, br *fakeBridge, rev uint64) *Southbound {
	t.Helper()
	br.disconnect()
	sb, _ := startLogged(t, src, Config{}, nil)
	br.connect(sb.cfg.ListenAddr)
	if lag, err := waitRealized(t, sb, rev, 5*time.Second); err != nil {
		t.Fatalf("revision %d not realized after the restart: %v %v", rev, lag, err)
	}
	return sb
}

// startOverlay starts a southbound on overlaySnap(10, true) with a fake
// bridge (ports v1, v2 and the VXLAN tunnel) connected, once it holds
// revision 10.
func startOverlay(t *testing.T) (*fakeStore, *Southbound, *fakeBridge) {
	t.Helper()
	src := newFakeStore(overlaySnap(10, true), true)
	sb, _ := startLogged(t, src, Config{}, nil)
	br := newFakeBridge(t, 1, map[uint32]string{1: "v1", 2: "v2", 100: "nva-vxlan"})
	br.connect(sb.cfg.ListenAddr)
	if lag, err := waitRealized(t, sb, 10, 5*time.Second); err != nil {
		t.Fatalf("initial state not realized: %v %v", lag, err)
	}
	return src, sb, br
}

// restartUnchanged restarts the southbound over br (restart) and fails t
// unless the warm restart left the switch's table as it was and sent no
// mod; what names the table in the failure.
func restartUnchanged(t *testing.T, src Source, br *fakeBridge, rev uint64, what string) *Southbound {
	t.Helper()
	mods, table := fmt.Sprint(br.modCount()), tableImage(br)
	sb := restart(t, src, br, rev)
	if got := fmt.Sprint(br.modCount()); got != mods {
		t.Fatalf("a warm restart over %s sent mods: %s, before %s", what, got, mods)
	}
	if got := tableImage(br); got != table {
		t.Fatal("the table changed")
	}
	return sb
}

// A warm restart (the switch keeps its table, nva restarts) over an
// unchanged table sends nothing and decodes nothing: every entry has the
// bytes nva encodes for a flow it wants there.
func TestWarmRestartDecodesNothing(t *testing.T) {
	src, sb, br := startOverlay(t)
	want := desiredCount(t, overlaySnap(10, true), map[string]uint32{"v1": 1, "v2": 2, "nva-vxlan": 100})
	if got := br.flowCount(); got != want || want == 0 {
		t.Fatalf("switch has %d flows, want %d", got, want)
	}
	sb = restartUnchanged(t, src, br, 10, "an unchanged table")
	byBytes, decoded := flowEntriesTaken(t, sb)
	if decoded != 0 || byBytes != float64(want) {
		t.Fatalf("warm restart: %v entries decoded, %v taken by their bytes; want 0 and %d", decoded, byBytes, want)
	}

	// The first audit after a write: the report changed (nva wrote), the
	// switch holds what nva installed, so nothing is decoded either.
	src.set(overlaySnap(11, false)) // p2 goes
	if lag, err := waitRealized(t, sb, 11, 5*time.Second); err != nil {
		t.Fatalf("revision 11 not realized: %v %v", lag, err)
	}
	after := desiredCount(t, overlaySnap(11, false), map[string]uint32{"v1": 1, "v2": 2, "nva-vxlan": 100})
	if br.flowCount() != after || after == want {
		t.Fatalf("switch has %d flows after the write, want %d (before %d)", br.flowCount(), after, want)
	}
	byBytes, _ = flowEntriesTaken(t, sb)
	sb.Audit()
	waitCond(t, 5*time.Second, "a clean audit", func() bool { return counterValue(t, sb.m.audits.WithLabelValues("clean")) == 1 })
	nowBytes, nowDecoded := flowEntriesTaken(t, sb)
	if nowDecoded != 0 || nowBytes-byBytes != float64(after) {
		t.Fatalf("first audit after a write: %v entries decoded, %v taken by their bytes; want 0 and %d", nowDecoded, nowBytes-byBytes, after)
	}
	// The next audit compares the report's hash only.
	sb.Audit()
	waitCond(t, 5*time.Second, "a second clean audit", func() bool { return counterValue(t, sb.m.audits.WithLabelValues("clean")) == 2 })
	if b, d := flowEntriesTaken(t, sb); b != nowBytes || d != 0 {
		t.Fatalf("an audit of an unchanged report checked %v entries by bytes and decoded %v", b-nowBytes, d)
	}
}

// Entries whose bytes differ from nva's but whose meaning is the same (OXM
// fields in another order, as Open vSwitch reports them) are decoded and
// found equal: a warm restart still sends nothing.
func TestWarmRestartReorderedFieldsDecodeEqual(t *testing.T) {
	src, sb, br := startOverlay(t)
	reordered := 0
	br.mu.Lock()
	for k, f := range br.flows {
		if m, ok := reverseOXM(t, f.match); ok {
			f.match = m
			br.flows[k] = f
			reordered++
		}
	}
	n := len(br.flows)
	br.mu.Unlock()
	if reordered == 0 {
		t.Fatal("no flow with two match fields to reorder")
	}
	sb = restartUnchanged(t, src, br, 10, "a table with reordered fields")
	byBytes, decoded := flowEntriesTaken(t, sb)
	if decoded != float64(reordered) || byBytes != float64(n-reordered) {
		t.Fatalf("%v entries decoded, %v taken by bytes; want %d and %d", decoded, byBytes, reordered, n-reordered)
	}
	// The audit that follows: clean, by the report's hash.
	sb.Audit()
	waitCond(t, 5*time.Second, "a clean audit", func() bool { return counterValue(t, sb.m.audits.WithLabelValues("clean")) == 1 })
	if r := counterValue(t, sb.m.repairs); r != 0 {
		t.Fatalf("%v repairs", r)
	}

}

// An entry decoded and found equal to a wanted flow is learned as an
// alias of it: the next check against the same compiled slices (e.g. the
// first audit after a write, for the slices the write left alone)
// recognises the switch's own encoding without decoding it.
func TestByteVerifyLearnsAliases(t *testing.T) {
	res, raw := fleetSwitch(t, fleetSnap(20), "hv0", nil)
	prof := pipeline.OVS()
	if len(res.Slices) < 2 {
		t.Fatalf("%d slices", len(res.Slices))
	}
	reordered := rawInstalled{groups: raw.groups}
	n := 0
	for _, e := range raw.flows {
		mlen := int(binary.BigEndian.Uint16(e[50:52]))
		padded := (mlen + 7) / 8 * 8
		m, ok := reverseOXM(t, e[48:48+padded])
		if ok {
			n++
		}
		reordered.flows = append(reordered.flows, append(append(append([]byte(nil), e[:48]...), m...), e[48+padded:]...))
	}
	if n == 0 {
		t.Fatal("nothing reordered")
	}
	s := New(Config{Logger: slog.New(slog.DiscardHandler)})
	check := func(want int) {
		t.Helper()
		v := s.verifyInstalled(reordered, s.entrySums(reordered), wantedResult(res), res.Groups, prof)
		if p := s.diffVerified(wantedResult(res), res.Groups, v); !p.Empty() {
			t.Fatalf("differs: %s", p)
		}
		if v.decoded != want || v.same != (want == 0) {
			t.Fatalf("%d entries decoded (same %v), want %d", v.decoded, v.same, want)
		}
	}
	check(n) // the first check decodes every reordered entry
	check(0) // the next one knows them
	// Slices compiled anew (other arrays) do not inherit the aliases.
	res2, _ := fleetSwitch(t, fleetSnap(20), "hv0", nil)
	res = res2
	check(n)
}

// Real drift is still found and repaired, on a warm restart and by an
// audit: a flow deleted and a flow whose instructions changed behind
// nva's back. Only the changed entry is decoded.
func TestByteVerifyFindsDrift(t *testing.T) {
	src, sb, br := startOverlay(t)
	table := tableImage(br)
	// tamper deletes one flow and drops the instructions of another (the
	// first two keys in order, so the test is deterministic).
	tamper := func() {
		br.mu.Lock()
		defer br.mu.Unlock()
		var keys []string
		for k, f := range br.flows {
			if len(f.instr) > 0 {
				keys = append(keys, k)
			}
		}
		if len(keys) < 2 {
			t.Fatalf("only %d flows with instructions", len(keys))
		}
		slices.Sort(keys)
		delete(br.flows, keys[0])
		f := br.flows[keys[1]]
		f.instr = nil
		br.flows[keys[1]] = f
	}

	tamper()
	before := br.modCount()
	sb = restart(t, src, br, 10)
	got := br.modCount()
	if got["flow add"]-before["flow add"] != 1 || got["flow modify"]-before["flow modify"] != 1 || got["flow delete"] != before["flow delete"] {
		t.Fatalf("warm restart over a drifted table: mods %v, before %v; want one add and one modify", got, before)
	}
	if tableImage(br) != table {
		t.Fatalf("the table was not repaired:\n%s\n%s", tableImage(br), table)
	}
	if _, decoded := flowEntriesTaken(t, sb); decoded != 1 {
		t.Fatalf("%v entries decoded, want 1 (the changed one)", decoded)
	}

	tamper()
	before = br.modCount()
	sb.Audit()
	waitCond(t, 5*time.Second, "the drift repaired", func() bool { return tableImage(br) == table })
	waitCond(t, 5*time.Second, "the drift counted", func() bool { return counterValue(t, sb.m.repairs) == 2 })
	got = br.modCount()
	if got["flow add"]-before["flow add"] != 1 || got["flow modify"]-before["flow modify"] != 1 || got["flow delete"] != before["flow delete"] {
		t.Fatalf("audit of a drifted table: mods %v, before %v; want one add and one modify", got, before)
	}
	if _, decoded := flowEntriesTaken(t, sb); decoded != 2 {
		t.Fatalf("%v entries decoded in all, want 2 (the changed one, twice)", decoded)
	}
}

// BenchmarkVerifyUnchanged measures the CPU part of a full read of an
// in-sync switch of the fleet layout (816 flows, 20 groups) once its
// report is read: before, every entry decoded and the whole table diffed
// against the desired state; after, entries recognised by their bytes
// (the index of the desired flows built on the way) and only groups
// diffed; and the fallback when the switch re-encodes every match
// (fields reordered): the index built for nothing, everything decoded and
// diffed.
func BenchmarkVerifyUnchanged(b *testing.B) {
	res, prof, raw := fleetReport(b)
	s := New(Config{Logger: slog.New(slog.DiscardHandler)})
	b.Logf("%d flows, %d groups", len(raw.flows), len(raw.groups))
	check := func(p reconcile.Plan) {
		if !p.Empty() {
			b.Fatalf("an in-sync switch differs: %s", p)
		}
	}
	before := func(raw rawInstalled) {
		_ = s.reportHash(raw)
		inst, groups := s.decodeInstalled(raw, prof)
		flows := make([]flow.Flow, 0, len(inst))
		for _, f := range inst {
			flows = append(flows, f.Flow)
		}
		check(s.diff.Diff(res.FlowList(), flows, res.Groups, groups))
	}
	after := func(raw rawInstalled) verified {
		_, sums := s.reportSums(raw, true)
		v := s.verifyInstalled(raw, sums, wantedResult(res), res.Groups, prof)
		check(s.diffVerified(wantedResult(res), res.Groups, v))
		return v
	}
	b.Run("before/decode-diff", func(b *testing.B) { reportCPU(b, func() { before(raw) }) })
	b.Run("after/bytes-fresh-pool", func(b *testing.B) {
		reportCPU(b, func() {
			s.sums = sumPool{} // every slice encoded: a restarted nva's first check
			if v := after(raw); !v.same {
				b.Fatal("not recognised")
			}
		})
	})
	b.Run("after/bytes-pooled", func(b *testing.B) {
		reportCPU(b, func() {
			if v := after(raw); !v.same {
				b.Fatal("not recognised")
			}
		})
	})
	reordered := rawInstalled{groups: raw.groups}
	for _, e := range raw.flows {
		mlen := int(binary.BigEndian.Uint16(e[50:52]))
		padded := (mlen + 7) / 8 * 8
		m, _ := reverseOXM(&testing.T{}, e[48:48+padded])
		r := append(append(append([]byte(nil), e[:48]...), m...), e[48+padded:]...)
		reordered.flows = append(reordered.flows, r)
	}
	b.Run("before/decode-diff-reordered", func(b *testing.B) { reportCPU(b, func() { before(reordered) }) })
	b.Run("after/fallback-reordered-fresh-pool", func(b *testing.B) {
		reportCPU(b, func() {
			s.sums = sumPool{} // encoded, decoded, aliases learned
			after(reordered)
		})
	})
	b.Run("after/fallback-reordered-aliases", func(b *testing.B) {
		after(reordered) // aliases learned
		reportCPU(b, func() {
			if v := after(reordered); !v.same {
				b.Fatal("aliases not used")
			}
		})
	})
}

// fleetReport is the report of an in-sync switch of the fleet layout
// (NVE hv0 of 20): its compile result, profile and flow and group
// entries as the fake bridge reports them.
func fleetReport(b *testing.B) (compiler.Result, pipeline.Profile, rawInstalled) {
	res, raw := fleetSwitch(b, fleetSnap(20), "hv0", nil)
	return res, pipeline.OVS(), raw
}

// fleetSwitch compiles NVE nve of the fleet layout snap (through cache,
// if any) and returns the result and what a switch holding it reports.
func fleetSwitch(b testing.TB, snap *model.Snapshot, nve string, cache *compiler.Cache) (compiler.Result, rawInstalled) {
	prof := pipeline.OVS()
	ofports := map[string]uint32{compiler.TunnelPortName(model.EncapVXLAN): 100}
	for j := range 20 {
		ofports[fmt.Sprintf("v%d", j+1)] = uint32(j + 1)
	}
	in := compiler.Input{Snapshot: snap, NVE: nve, OFPorts: ofports, Tunnels: map[model.Encap]uint32{model.EncapVXLAN: 100}}
	var res compiler.Result
	var err error
	if cache != nil {
		res, err = cache.Compile(in, prof)
	} else {
		res, err = compiler.Compile(in, prof)
	}
	if err != nil {
		b.Fatal(err)
	}
	return res, installedOnFakeBridge(b, res, prof)
}

// BenchmarkWarmRestartFleet measures the CPU part of a warm restart's
// full reads of 20 in-sync switches of the fleet layout (816 flows each),
// whose compiler caches share a PartPool as the southbound's do, per
// switch: before, everything decoded and diffed; after, from a fresh
// sumPool (a restarted nva), so each slice is encoded once and a part
// shared by several NVEs once for all of them.
func BenchmarkWarmRestartFleet(b *testing.B) {
	const switches = 20
	snap := fleetSnap(switches)
	prof := pipeline.OVS()
	pool := compiler.NewPartPool()
	results := make([]compiler.Result, switches)
	raws := make([]rawInstalled, switches)
	for i := range switches {
		results[i], raws[i] = fleetSwitch(b, snap, fmt.Sprintf("hv%d", i), compiler.NewSharedCache(pool))
	}
	s := New(Config{Logger: slog.New(slog.DiscardHandler)})
	b.Run("before/decode-diff", func(b *testing.B) {
		reportCPU(b, func() {
			for i, res := range results {
				_ = s.reportHash(raws[i])
				inst, groups := s.decodeInstalled(raws[i], prof)
				flows := make([]flow.Flow, 0, len(inst))
				for _, f := range inst {
					flows = append(flows, f.Flow)
				}
				if p := s.diff.Diff(res.FlowList(), flows, res.Groups, groups); !p.Empty() {
					b.Fatalf("in-sync switch differs: %s", p)
				}
			}
		})
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*switches), "ns/switch")
	})
	b.Run("after/bytes", func(b *testing.B) {
		reportCPU(b, func() {
			s.sums = sumPool{}
			for i, res := range results {
				_, sums := s.reportSums(raws[i], true)
				v := s.verifyInstalled(raws[i], sums, wantedResult(res), res.Groups, prof)
				if p := s.diffVerified(wantedResult(res), res.Groups, v); !p.Empty() || !v.same {
					b.Fatalf("in-sync switch differs: %s", p)
				}
			}
		})
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*switches), "ns/switch")
	})
}

// On real Open vSwitch, a warm restart over an unchanged table sends
// nothing, whether OVS reports nva's bytes or re-encodes them: every flow
// entry is either recognised by its bytes or decoded and found equal. (How
// many OVS echoes is logged: it decides what the byte check saves there.)
func TestRealOVSByteVerify(t *testing.T) {
	l := newLab(t)
	sb := l.startSouthbound()
	l.setup()
	l.realized()
	n := l.ovs.Ofctl("dump-flows", "br-int")
	if err := sb.Close(); err != nil {
		t.Fatal(err)
	}
	sb = l.startSouthbound()
	l.realized()
	st := sb.status("hv1")
	if st.FlowModsSent != 0 || st.GroupModsSent != 0 {
		t.Fatalf("warm restart sent %d flow mods and %d group mods for an unchanged store", st.FlowModsSent, st.GroupModsSent)
	}
	byBytes, decoded := flowEntriesTaken(t, sb)
	want := l.desired().NumFlows()
	if int(byBytes+decoded) != want {
		t.Fatalf("%v entries by bytes + %v decoded, want %d flows", byBytes, decoded, want)
	}
	t.Logf("Open vSwitch: %v of %d flow entries recognised by their bytes, %v decoded", byBytes, want, decoded)
	if byBytes < float64(want) {
		// Which ones OVS re-encodes: for the record.
		t.Logf("table:\n%s", n)
	}
}

// cpuTime is the process's CPU time so far (user and system, all threads:
// the GC's work counts too), less noisy than wall time on a shared
// machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU runs b's loop body f b.N times and reports the CPU time per
// operation (cpu-ns/op) besides the wall time.
func reportCPU(b *testing.B, f func()) {
	b.ReportAllocs()
	start := cpuTime()
	for range b.N {
		f()
	}
	b.ReportMetric(float64((cpuTime()-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
}
