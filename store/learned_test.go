package store

import (
	"bytes"
	"io"
	"reflect"
	"testing"
	"time"

	"github.com/nva-project/nva/app/model"
)

var t0 = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

// seedSegment: seed plus a segment port seg1 of blue on hv1 (VLAN 100)
// and a second NVE hv2.
func seedSegment(h *harness) {
	seed(h)
	h.ok(&createNVE{Obj: testNVE("hv2", "192.0.2.2")})
	h.ok(&createPort{Obj: model.Port{Name: "seg1", VN: "blue", NVE: "hv1", Interface: "eth9", VLAN: 100, Kind: model.PortKindSegment}})
}

func report(nve string, at time.Time, macs ...model.LearnedMAC) *reportLearned {
	c := &reportLearned{Report: model.LearnedReport{NVE: nve, At: at, MACs: macs}}
	if err := c.prepare(); err != nil {
		panic(err)
	}
	return c
}

func seen(vn, mac, via string) model.LearnedMAC { return model.LearnedMAC{VN: vn, MAC: mac, Via: via} }

// drainLearned returns the events queued on ch.
func drainLearned(ch <-chan Event) []Event {
	var out []Event
	for {
		select {
		case ev := <-ch:
			out = append(out, ev)
		default:
			return out
		}
	}
}

func TestSegmentPortsHaveNoMAC(t *testing.T) {
	h := newHarness(t)
	seedSegment(h)
	// A second segment port of the same VN: no MAC clash between them.
	h.ok(&createPort{Obj: model.Port{Name: "seg2", VN: "blue", NVE: "hv2", Interface: "eth9", VLAN: 100, Kind: model.PortKindSegment}})
	checkIndexes(t, h.f.st)
	bad := model.Port{Name: "seg3", VN: "blue", NVE: "hv2", Interface: "eth8", MAC: "02:00:00:00:00:09", Kind: model.PortKindSegment}
	if err := (&createPort{Obj: bad}).prepare(); err == nil {
		t.Fatal("a segment port with a MAC was accepted")
	}
}

func TestReportLearnedBatchRefreshMoveExpire(t *testing.T) {
	h := newHarness(t)
	seedSegment(h)
	h.ok(&createPort{Obj: model.Port{Name: "seg2", VN: "blue", NVE: "hv2", Interface: "eth9", VLAN: 100, Kind: model.PortKindSegment}})
	_, events := h.f.snapshotAndWatch(t.Context())

	// A batch: two new MACs, one in a VN that does not exist, one behind
	// a segment port of another NVE, one through a port that is not a
	// segment: only the first two are learned.
	h.ok(report("hv1", t0, seen("blue", "02:00:00:00:10:01", "seg1"), seen("blue", "02:00:00:00:10:02", "seg1"),
		seen("nope", "02:00:00:00:10:03", "seg1"), seen("blue", "02:00:00:00:10:04", "seg2"), seen("blue", "02:00:00:00:10:05", "p1")))
	got := h.f.st.learned.byKey
	if len(got) != 2 || got["blue/02:00:00:00:10:01"] == nil || got["blue/02:00:00:00:10:02"] == nil {
		t.Fatalf("learned %v", got)
	}
	if evs := drainLearned(events); len(evs) != 2 || evs[0].Kind != model.ChangeLearned || evs[0].Op != OpPut || evs[0].Name != "blue/02:00:00:00:10:01" {
		t.Fatalf("events %+v", evs)
	}
	first := got["blue/02:00:00:00:10:01"]

	// A refresh: LastSeen moves, FirstSeen and Revision stay, no event.
	h.ok(report("hv1", t0.Add(time.Minute), seen("blue", "02:00:00:00:10:01", "seg1")))
	e := h.f.st.learned.byKey["blue/02:00:00:00:10:01"]
	if !e.LastSeen.Equal(t0.Add(time.Minute)) || !e.FirstSeen.Equal(t0) || e.Revision != first.Revision {
		t.Fatalf("refreshed %+v (first %+v)", e, first)
	}
	if evs := drainLearned(events); len(evs) != 0 {
		t.Fatalf("a refresh published %+v", evs)
	}
	// An older report does not move LastSeen back.
	h.ok(report("hv1", t0, seen("blue", "02:00:00:00:10:01", "seg1")))
	if e := h.f.st.learned.byKey["blue/02:00:00:00:10:01"]; !e.LastSeen.Equal(t0.Add(time.Minute)) {
		t.Fatalf("LastSeen went back: %+v", e)
	}

	// A move: the MAC shows up behind seg2 on hv2.
	h.ok(report("hv2", t0.Add(2*time.Minute), seen("blue", "02:00:00:00:10:02", "seg2")))
	if e := h.f.st.learned.byKey["blue/02:00:00:00:10:02"]; e.NVE != "hv2" || e.Via != "seg2" || !e.FirstSeen.Equal(t0.Add(2*time.Minute)) {
		t.Fatalf("moved %+v", e)
	}
	if evs := drainLearned(events); len(evs) != 1 || evs[0].Old == nil || evs[0].New == nil {
		t.Fatalf("move events %+v", evs)
	}

	// Gone from the wrong place changes nothing; from the right one forgets.
	h.ok(report("hv1", t0.Add(3*time.Minute), model.LearnedMAC{VN: "blue", MAC: "02:00:00:00:10:02", Via: "seg1", Gone: true}))
	if h.f.st.learned.byKey["blue/02:00:00:00:10:02"] == nil {
		t.Fatal("a withdrawal from another segment forgot the MAC")
	}
	h.ok(report("hv2", t0.Add(3*time.Minute), model.LearnedMAC{VN: "blue", MAC: "02:00:00:00:10:02", Via: "seg2", Gone: true}))
	if h.f.st.learned.byKey["blue/02:00:00:00:10:02"] != nil {
		t.Fatal("withdrawn MAC still learned")
	}
	drainLearned(events)

	// Expiry by the time in the command: 10:01 was last seen at t0+1m.
	h.ok(&expireLearned{Before: t0.Add(time.Minute)})
	if len(h.f.st.learned.byKey) != 1 {
		t.Fatalf("expired too early: %v", h.f.st.learned.byKey)
	}
	h.ok(&expireLearned{Before: t0.Add(time.Minute + time.Microsecond)})
	if len(h.f.st.learned.byKey) != 0 {
		t.Fatalf("not expired: %v", h.f.st.learned.byKey)
	}
	if evs := drainLearned(events); len(evs) != 1 || evs[0].Op != OpDelete || evs[0].Name != "blue/02:00:00:00:10:01" {
		t.Fatalf("expiry events %+v", evs)
	}
}

func TestReportLearnedConflictWithKnownPort(t *testing.T) {
	h := newHarness(t)
	seedSegment(h)
	// p1 (blue, 02:..:01) is known: a report of its MAC is a conflict,
	// counted, and not learned.
	h.ok(report("hv1", t0, seen("blue", "02:00:00:00:00:01", "seg1")))
	h.ok(report("hv1", t0.Add(time.Second), seen("blue", "02:00:00:00:00:01", "seg1")))
	if len(h.f.st.learned.byKey) != 0 {
		t.Fatalf("a known port's MAC was learned: %v", h.f.st.learned.byKey)
	}
	c := h.f.st.learned.conflicts["blue/02:00:00:00:00:01"]
	if c == nil || c.Port != "p1" || c.Count != 2 || !c.FirstSeen.Equal(t0) || !c.LastSeen.Equal(t0.Add(time.Second)) || h.f.st.learned.conflictsTotal != 2 {
		t.Fatalf("conflict %+v total %d", c, h.f.st.learned.conflictsTotal)
	}
	// A MAC learned first and then given to a port: the next report
	// drops the learned entry (the known port wins).
	h.ok(report("hv1", t0, seen("blue", "02:00:00:00:10:09", "seg1")))
	h.ok(&createPort{Obj: port("p9", "blue", "hv2", "tap9", "02:00:00:00:10:09", 0)})
	h.ok(report("hv1", t0.Add(time.Second), seen("blue", "02:00:00:00:10:09", "seg1")))
	if h.f.st.learned.byKey["blue/02:00:00:00:10:09"] != nil || h.f.st.learned.conflicts["blue/02:00:00:00:10:09"] == nil {
		t.Fatalf("learned %v conflicts %v", h.f.st.learned.byKey, h.f.st.learned.conflicts)
	}
	// Conflicts age out like endpoints.
	h.ok(&expireLearned{Before: t0.Add(time.Hour)})
	if len(h.f.st.learned.conflicts) != 0 || h.f.st.learned.conflictsTotal != 3 {
		t.Fatalf("conflicts %v total %d", h.f.st.learned.conflicts, h.f.st.learned.conflictsTotal)
	}
	// A report from an NVE that does not exist is rejected whole.
	if r := h.do(report("ghost", t0, seen("blue", "02:00:00:00:10:07", "seg1"))); r.Err == nil || r.Err.Kind != model.KindReference {
		t.Fatalf("ghost report: %+v", r.Err)
	}
}

func TestLearnedSnapshotAndRestore(t *testing.T) {
	h := newHarness(t)
	seedSegment(h)
	h.ok(report("hv1", t0, seen("blue", "02:00:00:00:10:01", "seg1"), seen("blue", "02:00:00:00:00:01", "seg1")))
	h.ok(report("hv1", t0.Add(time.Second), seen("blue", "02:00:00:00:10:01", "seg1")))
	snap := h.f.snapshot()
	if e := snap.LearnedIn("blue"); len(e) != 1 || !e[0].LastSeen.Equal(t0.Add(time.Second)) {
		t.Fatalf("snapshot learned %+v", e)
	}
	if vns := model.LearnedChangedVNs(nil, snap); len(vns) != 1 || vns[0] != "blue" {
		t.Fatalf("changed VNs %v", vns)
	}
	data := persist(t, h.f)
	g := newFSM(nil, DedupPolicy{})
	if err := g.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(persist(t, g), data) {
		t.Fatal("restored learned state persists differently")
	}
	r := g.snapshot()
	if e := r.LearnedIn("blue"); len(e) != 1 || !reflect.DeepEqual(e[0], snap.LearnedIn("blue")[0]) {
		t.Fatalf("restored %+v", e)
	}
	if len(model.LearnedChangedVNs(snap, r)) != 0 {
		t.Fatal("a restore changed where MACs are")
	}
}
