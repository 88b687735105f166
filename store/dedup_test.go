package store

import (
	"bytes"
	"fmt"
	"io"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/nva-project/nva/app/model"
)

// at applies a command as raft would, appended by the leader at t.
func (h *harness) at(t time.Time, c command) *result {
	h.t.Helper()
	h.idx++
	r, ok := h.f.Apply(&raft.Log{Index: h.idx, Type: raft.LogCommand, Data: encode(h.t, c), AppendedAt: t}).(*result)
	if !ok {
		h.t.Fatalf("%s: FSM did not return a result", c.cmdType())
	}
	return r
}

func remembered(f *fsm) []string {
	var ids []string
	for _, e := range f.dedup.entries() {
		ids = append(ids, e.ReqID)
	}
	return ids
}

// TestDedupDefaultOutlastsTenThousandWrites: the default window keeps a
// request ID past 10,000 later writes (the old fixed window, after which
// a retry was applied a second time) as long as they come within 24 h.
func TestDedupDefaultOutlastsTenThousandWrites(t *testing.T) {
	h := newHarness(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	first := h.at(t0, &createVN{ReqID: "the-first", Obj: model.VN{Name: "blue", VNI: 100}})
	for i := range 12_000 {
		// Deletes of missing VNs: cheap writes that are remembered too.
		h.at(t0.Add(time.Duration(i)*time.Second), &deleteVN{ReqID: fmt.Sprintf("w%d", i), Name: "nope"})
	}
	// Retried 12,000 writes and 3.3 h later: answered with its first result.
	if r := h.at(t0.Add(12_000*time.Second), &createVN{ReqID: "the-first", Obj: model.VN{Name: "blue", VNI: 100}}); r.Err != nil || r.Index != first.Index {
		t.Fatalf("retry: %+v, first %+v", r, first)
	}
}

// TestDedupWindowByLogTime: beyond the last Keep IDs, an ID is forgotten
// once it is older than Window in log time (the leader's append time, not
// this node's clock), and never more than Max are kept; replaying the
// same log and restoring a snapshot of it give the very same table.
func TestDedupWindowByLogTime(t *testing.T) {
	pol := DedupPolicy{Keep: 2, Window: time.Hour, Max: 5}
	h := &harness{t: t, f: newFSM(nil, pol)}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	del := func(id string) command { return &deleteVN{ReqID: id, Name: "nope"} }
	log := []struct {
		at  time.Time
		id  string
		ids []string // the table after it
	}{
		{t0, "a", []string{"a"}},
		{t0.Add(10 * time.Minute), "b", []string{"a", "b"}},
		{t0.Add(20 * time.Minute), "c", []string{"a", "b", "c"}},
		// Older than an hour, but among the last Keep: kept.
		{t0.Add(30 * time.Minute), "d", []string{"a", "b", "c", "d"}},
		{t0.Add(40 * time.Minute), "e", []string{"a", "b", "c", "d", "e"}},
		// Max: the oldest goes whatever its age.
		{t0.Add(50 * time.Minute), "f", []string{"b", "c", "d", "e", "f"}},
		// Now b (10 min) and c (20 min) are older than an hour.
		{t0.Add(81 * time.Minute), "g", []string{"d", "e", "f", "g"}},
		// A leader whose clock is behind does not turn the table's clock
		// back: h is remembered at +81 min.
		{t0.Add(5 * time.Minute), "h", []string{"d", "e", "f", "g", "h"}},
		// Far later: all but the last Keep go.
		{t0.Add(48 * time.Hour), "i", []string{"h", "i"}},
	}
	for _, l := range log {
		if l.id == "h" {
			// A retry of a kept ID is answered, not remembered twice.
			h.at(l.at, del("g"))
		}
		h.at(l.at, del(l.id))
		if l.id == "h" {
			if got, want := h.f.dedup.byID["h"].At, t0.Add(81*time.Minute).UnixNano(); got != want {
				t.Fatalf("h remembered at %d, want the latest log time %d", got, want)
			}
		}
		if got := remembered(h.f); !reflect.DeepEqual(got, l.ids) {
			t.Fatalf("after %s at +%s: table %v, want %v", l.id, l.at.Sub(t0), got, l.ids)
		}
	}
	if got, want := h.f.dedup.now, t0.Add(48*time.Hour).UnixNano(); got != want {
		t.Fatalf("table clock %d, want %d", got, want)
	}

	// A snapshot carries the times: the restored table is the same and
	// forgets the same IDs next.
	data := persist(t, h.f)
	g := newFSM(nil, pol)
	if err := g.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g.dedup.entries(), h.f.dedup.entries()) || g.dedup.now != h.f.dedup.now {
		t.Fatalf("restored table %v (clock %d), want %v (clock %d)", remembered(g), g.dedup.now, remembered(h.f), h.f.dedup.now)
	}
	next := t0.Add(50 * time.Hour)
	h.at(next, del("j"))
	g2 := &harness{t: t, f: g, idx: h.idx - 1}
	g2.at(next, del("j"))
	if !reflect.DeepEqual(remembered(g), remembered(h.f)) {
		t.Fatalf("restored then applied: %v, applied: %v", remembered(g), remembered(h.f))
	}
}

// TestRecorded: the table is readable by request ID: what a write
// stored.
func TestRecorded(t *testing.T) {
	st := openMem(t)
	ctx := t.Context()
	vn, err := st.CreateVN(ctx, "mk-blue", model.VN{Name: "blue"})
	if err != nil {
		t.Fatal(err)
	}
	rec, ok := st.Recorded("mk-blue")
	if !ok || rec.VN == nil || rec.VN.Name != "blue" || rec.Index != vn.Revision || rec.Err != nil {
		t.Fatalf("recorded create: %+v %v", rec, ok)
	}
	idx, err := st.DeleteVN(ctx, "rm-blue", "blue")
	if err != nil {
		t.Fatal(err)
	}
	if rec, ok := st.Recorded("rm-blue"); !ok || rec.Index != idx || rec.VN != nil || rec.Err != nil {
		t.Fatalf("recorded delete: %+v %v", rec, ok)
	}
	// A write the leader refuses before appending it is not in the log,
	// so not in the table.
	if _, err := st.DeleteVN(ctx, "rm-red", "red"); err == nil {
		t.Fatal("deleted a missing VN")
	}
	if _, ok := st.Recorded("never"); ok {
		t.Fatal("an unknown ID is recorded")
	}
	if _, ok := st.Recorded(""); ok {
		t.Fatal("the empty ID is recorded")
	}
}

// TestDedupMaxCountsBatchItems: Max bounds the results held, a batch
// counting one per item (it holds every item's object), whatever Keep
// says; the newest entry always stays.
func TestDedupMaxCountsBatchItems(t *testing.T) {
	h := &harness{t: t, f: newFSM(nil, DedupPolicy{Keep: 100, Window: time.Hour, Max: 5})}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h.at(t0, &deleteVN{ReqID: "d0", Name: "nope"})
	h.at(t0, &batchCmd{ReqID: "b1", Items: []batchItem{
		&createVN{Obj: model.VN{Name: "a"}}, &createVN{Obj: model.VN{Name: "b"}}, &createVN{Obj: model.VN{Name: "c"}},
	}})
	if got := remembered(h.f); !reflect.DeepEqual(got, []string{"d0", "b1"}) || h.f.dedup.weight != 4 {
		t.Fatalf("table %v weighing %d", got, h.f.dedup.weight)
	}
	h.at(t0, &deleteVN{ReqID: "d1", Name: "nope"})
	h.at(t0, &deleteVN{ReqID: "d2", Name: "nope"}) // 6 > 5: d0 goes
	if got := remembered(h.f); !reflect.DeepEqual(got, []string{"b1", "d1", "d2"}) || h.f.dedup.weight != 5 {
		t.Fatalf("table %v weighing %d", got, h.f.dedup.weight)
	}
	h.at(t0, &batchCmd{ReqID: "b2", Items: []batchItem{
		&deleteVN{Name: "a"}, &deleteVN{Name: "b"}, &deleteVN{Name: "c"}, &createVN{Obj: model.VN{Name: "d"}},
		&createVN{Obj: model.VN{Name: "e"}}, &createVN{Obj: model.VN{Name: "f"}},
	}})
	// b2 alone weighs 6 > 5: it stays, everything older goes.
	if got := remembered(h.f); !reflect.DeepEqual(got, []string{"b2"}) || h.f.dedup.weight != 6 {
		t.Fatalf("table %v weighing %d", got, h.f.dedup.weight)
	}
	// A restored table weighs the same.
	g := newFSM(nil, DedupPolicy{Keep: 100, Window: time.Hour, Max: 5})
	if err := g.Restore(io.NopCloser(bytes.NewReader(persist(t, h.f)))); err != nil {
		t.Fatal(err)
	}
	if g.dedup.weight != h.f.dedup.weight {
		t.Fatalf("restored weight %d, want %d", g.dedup.weight, h.f.dedup.weight)
	}
}
