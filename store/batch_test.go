package store

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/nva-project/nva/app/model"
)

func rawLog(idx uint64, data []byte) *raft.Log {
	return &raft.Log{Index: idx, Type: raft.LogCommand, Data: data}
}

func fieldsOf(e *model.Error) []string {
	var out []string
	for _, f := range e.Fields {
		out = append(out, f.Field)
	}
	return out
}

// drain returns the events waiting on ch.
func drain(ch <-chan Event) []Event {
	var out []Event
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return out
			}
			out = append(out, ev)
		default:
			return out
		}
	}
}

// TestBatchAppliesInOrder: items may refer to what earlier items create (a
// VN, an NVE, then their ports); every object gets the batch's index as its
// revision; allocations happen in item order; the result has one entry per
// item; watchers get one event per item, in order, all at that index.
func TestBatchAppliesInOrder(t *testing.T) {
	h := newHarness(t)
	seed(h)
	_, events := h.f.snapshotAndWatch(t.Context())
	b := &batchCmd{ReqID: "b1", Items: []batchItem{
		&createVN{Obj: model.VN{Name: "green"}}, // vni 2 (1 is blue's)
		&createVN{Obj: model.VN{Name: "gold"}},  // vni 3
		&createNVE{Obj: testNVE("hv2", "192.0.2.2")},
		&createPort{Obj: port("g1", "green", "hv2", "tap1", "02:00:00:00:01:01", 0, "10.1.0.1")},
		&createPort{Obj: port("g2", "gold", "hv2", "tap2", "02:00:00:00:01:02", 0, "10.1.0.1")},
		&updatePort{Obj: port("p1", "green", "hv2", "tap3", "02:00:00:00:00:01", 0)}, // moves p1 to green on hv2
		&deletePort{Name: "p2"},
		&updateVN{Obj: model.VN{Name: "red", VNI: 200}},
		&deleteVN{Name: "red"}, // its only port went two items earlier
	}}
	r := h.ok(b)
	if len(r.Items) != len(b.Items) {
		t.Fatalf("%d item results for %d items", len(r.Items), len(b.Items))
	}
	if v := r.Items[0].VN; v == nil || v.VNI != 2 || v.Revision != h.idx {
		t.Fatalf("items[0] = %+v, want green with vni 2 at %d", v, h.idx)
	}
	if v := r.Items[1].VN; v == nil || v.VNI != 3 {
		t.Fatalf("items[1] = %+v, want gold with vni 3", v)
	}
	if n := r.Items[2].NVE; n == nil || n.DatapathID != "00004e5600000002" || n.Revision != h.idx {
		t.Fatalf("items[2] = %+v", n)
	}
	if p := r.Items[5].Port; p == nil || p.VN != "green" || p.Revision != h.idx {
		t.Fatalf("items[5] = %+v", p)
	}
	if d := r.Items[6]; d.VN != nil || d.NVE != nil || d.Port != nil || d.Index != h.idx {
		t.Fatalf("a delete's result: %+v", d)
	}
	if _, ok := h.f.st.vns["red"]; ok {
		t.Fatal("red was not deleted")
	}
	if got := h.f.st.ports["g2"]; got == nil || got.NVE != "hv2" {
		t.Fatalf("g2 = %+v", got)
	}
	checkIndexes(t, h.f.st)

	evs := drain(events)
	want := []struct{ kind, op, name string }{
		{KindVN, OpPut, "green"}, {KindVN, OpPut, "gold"}, {KindNVE, OpPut, "hv2"},
		{KindPort, OpPut, "g1"}, {KindPort, OpPut, "g2"}, {KindPort, OpPut, "p1"},
		{KindPort, OpDelete, "p2"}, {KindVN, OpPut, "red"}, {KindVN, OpDelete, "red"},
	}
	if len(evs) != len(want) {
		t.Fatalf("%d events, want %d: %+v", len(evs), len(want), evs)
	}
	for i, w := range want {
		ev := evs[i]
		if ev.Index != h.idx || ev.Kind != w.kind || ev.Op != w.op || ev.Name != w.name {
			t.Fatalf("event %d = %+v, want %v at %d", i, ev, w, h.idx)
		}
	}
	// The move's event has the port as it was before the batch.
	if old, _ := evs[5].Old.(*model.Port); old == nil || old.VN != "blue" {
		t.Fatalf("p1's event Old = %+v", evs[5].Old)
	}
	if snap := h.f.snapshot(); snap.Revision != h.idx || snap.Ports.Get("g1") == nil {
		t.Fatalf("snapshot after the batch: revision %d", snap.Revision)
	}
}

// TestBatchAllOrNothing: a batch with conflicts in the middle is rejected
// whole, by the FSM and by the leader's early check alike (same error),
// with every failing item named by index and field; the state, its
// indexes, the watchers and the next allocations are as if it never ran.
func TestBatchAllOrNothing(t *testing.T) {
	h := newHarness(t)
	seed(h)
	h.ok(&createPort{Obj: port("p3", "blue", "hv1", "tap3", "02:00:00:00:00:03", 0, "10.0.0.3")})
	before := cloneState(h.f.st)
	_, events := h.f.snapshotAndWatch(t.Context())
	b := &batchCmd{ReqID: "b-bad", Items: []batchItem{
		&createVN{Obj: model.VN{Name: "green"}},                                                  // ok: vni 2
		&createNVE{Obj: testNVE("hv2", "192.0.2.2")},                                             // ok
		&createPort{Obj: port("g1", "green", "hv2", "tap1", "02:00:00:00:01:01", 0)},             // ok
		&updatePort{Obj: port("p1", "green", "hv2", "tap2", "02:00:00:00:00:01", 0, "10.9.0.1")}, // ok: a move
		&createPort{Obj: port("g2", "green", "hv2", "tap9", "02:00:00:00:01:01", 0)},             // 4: g1's MAC
		&deletePort{Name: "p3"},                                                      // ok
		&updateVN{Obj: model.VN{Name: "blue", VNI: 100}},                             // 6: red's VNI
		&deleteNVE{Name: "tor1"},                                                     // 7: p2 is on it
		&deleteVN{Name: "nope"},                                                      // 8: not found
		&createNVE{Obj: testNVE("hv3", "192.0.2.1")},                                 // 9: hv1's underlay
		&createPort{Obj: port("h1", "green", "hv3", "tap1", "02:00:00:00:02:01", 0)}, // 10: hv3 was rejected
		&updateVN{Obj: model.VN{Name: "green", MTU: 1400}},                           // ok, after 0
	}}
	early := leaderCheck(t, h.f, b)
	if !reflect.DeepEqual(before, h.f.st) {
		t.Fatal("the leader's check changed the state")
	}
	r := h.do(b)
	if r.Err == nil {
		t.Fatalf("accepted: %+v", r)
	}
	if !reflect.DeepEqual(early, r.Err) {
		t.Fatalf("the leader's early check said\n%v\nthe FSM\n%v", early, r.Err)
	}
	wantFields := []string{"items[4].mac", "items[6].vni", "items[7]", "items[8]", "items[9].underlay_ips[0]", "items[10].nve"}
	if got := fieldsOf(r.Err); !reflect.DeepEqual(got, wantFields) {
		t.Fatalf("fields %v, want %v (%v)", got, wantFields, r.Err)
	}
	if r.Err.Kind != model.KindConflict || r.Err.Field != "items[4].mac" {
		t.Fatalf("error kind %s field %q, want the first failure's: conflict, items[4].mac", r.Err.Kind, r.Err.Field)
	}
	if msg := r.Err.Fields[5].Message; !strings.Contains(msg, `items[9], create-nve "hv3", was rejected`) {
		t.Fatalf("the reference to a rejected item is not explained: %q", msg)
	}
	if !strings.Contains(r.Err.Message, "nothing applied") || !strings.Contains(r.Err.Message, `items[4] (create-port "g2")`) ||
		!strings.Contains(r.Err.Message, "and 1 more") {
		t.Fatalf("message %q", r.Err.Message)
	}
	if len(r.Items) != 0 {
		t.Fatalf("a rejected batch answered items: %+v", r.Items)
	}
	if !reflect.DeepEqual(before, h.f.st) {
		t.Fatal("a rejected batch changed the state")
	}
	checkIndexes(t, h.f.st)
	if evs := drain(events); len(evs) != 0 {
		t.Fatalf("a rejected batch produced events %+v", evs)
	}
	// Allocation continues as if the batch never ran.
	if v := h.ok(&createVN{Obj: model.VN{Name: "green"}}).VN; v.VNI != 2 {
		t.Fatalf("vni after a rejected batch: %d", v.VNI)
	}
}

// TestBatchRollbackRestoresEverything: each kind of change an item can
// make (create with allocations, update moving indexes, delete, and an
// object changed twice in one batch), then a failing last item: the state
// is exactly as before, indexes included.
func TestBatchRollbackRestoresEverything(t *testing.T) {
	h := newHarness(t)
	seed(h)
	before := cloneState(h.f.st)
	b := &batchCmd{Items: []batchItem{
		&createVN{Obj: model.VN{Name: "green"}},
		&createNVE{Obj: testNVE("hv2", "192.0.2.2")},
		&updateVN{Obj: model.VN{Name: "blue", VNI: 300}},
		&updateNVE{Obj: model.NVE{Name: "hv1", UnderlayIPs: []string{"192.0.2.3", "192.0.2.4"}, OVSDB: "unix:/x", DatapathID: "00000000000000aa"}},
		&updatePort{Obj: port("p1", "green", "hv2", "tap7", "02:00:00:00:00:07", 5, "10.7.0.1")},
		&updatePort{Obj: port("p1", "red", "tor1", "tap8", "02:00:00:00:00:08", 6, "10.8.0.1")},
		&deletePort{Name: "p2"},
		&deletePort{Name: "p1"},
		&deleteNVE{Name: "tor1"},
		&createNVE{Obj: ofNVE("tor1", "192.0.2.9", "00:00:00:00:00:00:00:98")},
		&deleteVN{Name: "red"},
		&createVN{Obj: model.VN{Name: "red", VNI: 100}},
		&createPort{Obj: port("p2", "red", "tor1", "eth1", "02:00:00:00:00:02", 10, "10.0.0.2")},
		&deleteVN{Name: "green"},
		&createVN{Obj: model.VN{Name: "blue"}}, // fails: exists
	}}
	r := h.do(b)
	if r.Err == nil || fieldsOf(r.Err)[0] != "items[14].name" || len(r.Err.Fields) != 1 {
		t.Fatalf("want one failure at items[14].name, got %v", r.Err)
	}
	if !reflect.DeepEqual(before, h.f.st) {
		t.Fatalf("rollback left\n%+v\nwant\n%+v", h.f.st, before)
	}
	checkIndexes(t, h.f.st)
	// The same batch without its failing item applies, and leaves
	// consistent indexes.
	b.Items = b.Items[:len(b.Items)-1]
	h.ok(b)
	checkIndexes(t, h.f.st)
	if p := h.f.st.ports["p2"]; p == nil || p.Revision != h.idx {
		t.Fatalf("p2 = %+v", p)
	}
}

// TestBatchRequestIDDedupe: a retried batch (same request ID, same bytes)
// is applied once and answered with its first result, items included; a
// retried rejected batch gets its rejection; the ID on another batch is
// refused.
func TestBatchRequestIDDedupe(t *testing.T) {
	h := newHarness(t)
	seed(h)
	_, events := h.f.snapshotAndWatch(t.Context())
	b := &batchCmd{ReqID: "batch-1", Items: []batchItem{
		&createVN{Obj: model.VN{Name: "green"}},
		&createPort{Obj: port("g1", "green", "hv1", "tap5", "02:00:00:00:01:01", 0)},
	}}
	first := h.ok(b)
	if n := len(drain(events)); n != 2 {
		t.Fatalf("%d events, want 2", n)
	}
	if early := leaderCheck(t, h.f, b); early != nil {
		t.Fatalf("the leader refuses a retry it should let the log answer: %v", early)
	}
	again := h.ok(b)
	if !reflect.DeepEqual(again, first) {
		t.Fatalf("retry answered %+v, want the first result %+v", again, first)
	}
	if evs := drain(events); len(evs) != 0 {
		t.Fatalf("a retried batch produced events %+v", evs)
	}
	if v := h.f.st.vns["green"]; v.Revision != first.Index {
		t.Fatalf("green is at %d, want %d", v.Revision, first.Index)
	}
	other := &batchCmd{ReqID: "batch-1", Items: []batchItem{&createVN{Obj: model.VN{Name: "gold"}}}}
	if r := h.do(other); r.Err == nil || !strings.Contains(r.Err.Message, "request ID") {
		t.Fatalf("reused ID: %+v", r)
	}
	bad := &batchCmd{ReqID: "batch-2", Items: []batchItem{&createPort{Obj: port("g2", "green", "hv9", "tap6", "02:00:00:00:01:02", 0)}}}
	r1 := h.do(bad)
	h.ok(&createNVE{Obj: testNVE("hv9", "192.0.2.99")})
	if r2 := h.do(bad); r1.Err == nil || !reflect.DeepEqual(r1, r2) {
		t.Fatalf("retry of a rejected batch: %+v then %+v", r1, r2)
	}
}

// TestBatchPrepare: the stateless rules of every item run before
// proposing, and every failure is reported, by item index and field; a
// malformed operation is named by its own fields (op, kind, object, name,
// if_revision), with the well-formed items' failures beside it.
func TestBatchPrepare(t *testing.T) {
	b := &batchCmd{Items: []batchItem{
		&createVN{Obj: model.VN{Name: "green"}},
		&createPort{Obj: port("g1", "green", "hv1", "tap1", "01:00:00:00:00:01", 5000)},
		&createVN{Obj: model.VN{Name: "red", VNI: model.MaxVNI + 1}},
		&deletePort{},
	}}
	err := b.prepare()
	e, ok := model.AsError(err)
	want := []string{"items[1].mac", "items[1].vlan", "items[2].vni", "items[3].name"}
	if !ok || e.Kind != model.KindInvalid || !reflect.DeepEqual(fieldsOf(e), want) || e.Field != want[0] {
		t.Fatalf("prepare: %v (fields %v), want invalid %v", err, fieldsOf(e), want)
	}
	if v := b.Items[0].(*createVN).Obj; v.Encap != model.EncapVXLAN {
		t.Fatalf("items were not defaulted: %+v", v)
	}
	for _, n := range []int{0, MaxBatchItems + 1} {
		items := make([]batchItem, n)
		for i := range items {
			items[i] = &deleteVN{Name: fmt.Sprintf("vn%d", i)}
		}
		if e, ok := model.AsError((&batchCmd{Items: items}).prepare()); !ok || e.Field != "items" {
			t.Fatalf("%d items: %v", n, e)
		}
	}

	vn := &model.VN{Name: "green"}
	_, err = newBatch("r", []BatchOp{
		{Op: BatchCreate, Kind: KindVN, VN: vn},
		{Op: "upsert", Kind: KindVN, VN: vn},
		{Op: BatchCreate, Kind: "vm", VN: vn},
		{Op: BatchCreate, Kind: KindPort},
		{Op: BatchUpdate, Kind: KindPort, VN: vn},
		{Op: BatchDelete, Kind: KindVN, VN: vn, ExpectRevision: 3},
		{Op: BatchUpdate, Kind: KindVN, Name: "blue", VN: vn},
		{Op: BatchCreate, Kind: KindPort, Port: &model.Port{Name: "p1", VN: "green", NVE: "hv1", Interface: "t1", MAC: "zz"}},
		{Op: BatchUpdate, Kind: KindVN, VN: vn, ExpectRevision: 7},
	})
	e, ok = model.AsError(err)
	want = []string{"items[1].op", "items[2].kind", "items[3].object", "items[4].object", "items[5].name", "items[5].object", "items[5].if_revision", "items[6].name", "items[7].mac"}
	if !ok || !reflect.DeepEqual(fieldsOf(e), want) {
		t.Fatalf("newBatch: %v\nfields %v\nwant   %v", err, fieldsOf(e), want)
	}
}

// TestBatchSnapshotReplaysEqual: a snapshot taken after batches (one
// applied, one rejected) restores the same state and request-ID table,
// streams the same bytes again, equals the state of replaying the log on
// a fresh FSM, and still answers a retried batch with its first result.
func TestBatchSnapshotReplaysEqual(t *testing.T) {
	h := newHarness(t)
	var logged [][]byte
	do := func(c command) *result {
		data := encode(t, c)
		logged = append(logged, data)
		r, _ := h.raw(data).(*result)
		return r
	}
	do(&createVN{ReqID: "vn", Obj: model.VN{Name: "blue"}})
	ok := &batchCmd{ReqID: "ok", Items: []batchItem{
		&createNVE{Obj: testNVE("hv1", "192.0.2.1")},
		&createVN{Obj: model.VN{Name: "green", MTU: 1400}},
		&createPort{Obj: port("p1", "blue", "hv1", "tap1", "02:00:00:00:00:01", 0, "10.0.0.1")},
		&createPort{Obj: port("p2", "green", "hv1", "tap2", "02:00:00:00:00:02", 0, "10.0.0.1")},
	}}
	first := do(ok)
	if first == nil || first.Err != nil {
		t.Fatalf("batch: %+v", first)
	}
	if r := do(&batchCmd{ReqID: "bad", Items: []batchItem{&deleteVN{Name: "blue"}}}); r.Err == nil {
		t.Fatal("deleting a VN with ports was accepted")
	}
	do(&updatePort{ReqID: "u", Obj: port("p1", "blue", "hv1", "tap1", "02:00:00:00:00:01", 0, "10.0.0.9")})

	data := persist(t, h.f)
	g := newFSM(nil, DedupPolicy{})
	if err := g.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g.st, h.f.st) {
		t.Fatal("restored state differs")
	}
	// Results compare by their log encoding (a restored port is parsed
	// lazily, the stored one when it was stored).
	if got, want := dedupJSON(t, g), dedupJSON(t, h.f); got != want {
		t.Fatalf("restored request-ID table differs:\n%s\nwant\n%s", got, want)
	}
	if again := persist(t, g); !bytes.Equal(again, data) {
		t.Fatalf("snapshot of the restored state differs:\n%s\n---\n%s", again, data)
	}
	replay := newFSM(nil, DedupPolicy{})
	for i, d := range logged {
		replay.Apply(rawLog(uint64(i+1), d))
	}
	if !bytes.Equal(persist(t, replay), data) {
		t.Fatal("replaying the log gives another snapshot")
	}
	h2 := &harness{t: t, f: g, idx: h.idx}
	if r := h2.do(ok); string(responseJSON(t, r)) != string(responseJSON(t, first)) {
		t.Fatalf("retry after restore: %+v, want %+v", r, first)
	}
}

func dedupJSON(t *testing.T, f *fsm) string {
	t.Helper()
	var b strings.Builder
	for _, e := range f.dedup.entries() {
		fmt.Fprintf(&b, "%s %s %s\n", e.ReqID, e.Hash, responseJSON(t, e.Result))
	}
	return b.String()
}

// TestBatchOfMaxItemsReachesWatchersWhole: a watcher that keeps up gets
// every event of the largest batch, no reset.
func TestBatchOfMaxItemsReachesWatchersWhole(t *testing.T) {
	h := newHarness(t)
	h.ok(&createVN{Obj: model.VN{Name: "blue"}})
	h.ok(&createNVE{Obj: testNVE("hv1", "192.0.2.1")})
	_, events := h.f.snapshotAndWatch(t.Context())
	items := make([]batchItem, MaxBatchItems)
	for i := range items {
		items[i] = &createPort{Obj: port(fmt.Sprintf("p%d", i), "blue", "hv1", fmt.Sprintf("t%d", i),
			fmt.Sprintf("02:00:00:00:%02x:%02x", byte(i>>8), byte(i)), 0)}
	}
	h.ok(&batchCmd{Items: items})
	evs := drain(events)
	if len(evs) != MaxBatchItems || evs[0].Kind == KindReset || evs[len(evs)-1].Name != fmt.Sprintf("p%d", MaxBatchItems-1) {
		t.Fatalf("%d events (first %+v), want %d port puts", len(evs), evs[0], MaxBatchItems)
	}
}

// TestStoreBatch drives Store.Batch through Raft on one node: a committed
// batch, its retry by request ID, an invalid one refused before
// proposing, one the leader refuses against its state without a log
// entry, and a result per item.
func TestStoreBatch(t *testing.T) {
	ctx := context.Background()
	s := openMem(t)
	waitFor(t, 5*time.Second, "the leader's state to be current", s.stateCurrent)
	ops := []BatchOp{
		{Op: BatchCreate, Kind: KindVN, VN: &model.VN{Name: "blue"}},
		{Op: BatchCreate, Kind: KindNVE, NVE: &model.NVE{Name: "hv1", UnderlayIPs: []string{"192.0.2.1"}, OVSDB: "unix:/run/db.sock"}},
		{Op: BatchCreate, Kind: KindPort, Port: &model.Port{Name: "p1", VN: "blue", NVE: "hv1", Interface: "tap1", MAC: "02-00-00-00-00-01"}},
		{Op: BatchUpdate, Kind: KindVN, VN: &model.VN{Name: "blue", MTU: 1400}},
	}
	res, err := s.Batch(ctx, "req-b", ops)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Items) != 4 || res.Items[2].Port == nil || res.Items[2].Port.MAC != "02:00:00:00:00:01" ||
		res.Items[3].VN.MTU != 1400 || res.Items[3].VN.VNI != 1 || res.Items[0].VN.Revision != res.Revision {
		t.Fatalf("result %+v", res)
	}
	if snap := s.Snapshot(); snap.Revision < res.Revision || snap.Ports.Get("p1") == nil {
		t.Fatal("the batch is not readable on the node that wrote it")
	}
	again, err := s.Batch(ctx, "req-b", ops)
	if err != nil || !reflect.DeepEqual(again, res) {
		t.Fatalf("retry: %+v, %v", again, err)
	}

	last := s.raft.LastIndex()
	_, err = s.Batch(ctx, "", []BatchOp{
		{Op: BatchCreate, Kind: KindPort, Port: &model.Port{Name: "p2", VN: "blue", NVE: "hv1", Interface: "tap2", MAC: "nope"}},
		{Op: BatchDelete, Kind: KindVN},
	})
	if e, ok := model.AsError(err); !ok || e.Kind != model.KindInvalid || !reflect.DeepEqual(fieldsOf(e), []string{"items[0].mac", "items[1].name"}) {
		t.Fatalf("invalid batch: %v", err)
	}
	_, err = s.Batch(ctx, "", []BatchOp{
		{Op: BatchCreate, Kind: KindVN, VN: &model.VN{Name: "red"}},
		{Op: BatchDelete, Kind: KindNVE, Name: "hv1"},
	})
	if e, ok := model.AsError(err); !ok || e.Kind != model.KindConflict || e.Field != "items[1]" || !reflect.DeepEqual(e.Blocking, []string{"p1"}) {
		t.Fatalf("conflicting batch: %v", err)
	}
	if got := s.raft.LastIndex(); got != last {
		t.Fatalf("rejected batches reached the log: last index %d, was %d", got, last)
	}
	if _, ok := s.Snapshot().VNs["red"]; ok {
		t.Fatal("a rejected batch created red")
	}
	if _, err := s.Batch(ctx, "", nil); !isKind(err, model.KindInvalid) {
		t.Fatalf("empty batch: %v", err)
	}
}

// TestBatchThroughFollower: a batch sent to a follower is forwarded to the
// leader; the per-item results, and a refusal with every failing item,
// cross the forwarding hop; both nodes apply it (through snapshots too:
// the test cluster compacts every 8 entries).
func TestBatchThroughFollower(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test skipped in -short mode")
	}
	ctx := context.Background()
	n1 := &testNode{t: t, id: "n1", dir: t.TempDir()}
	n2 := &testNode{t: t, id: "n2", dir: t.TempDir()}
	t.Cleanup(func() { n2.kill(); n1.kill() })
	n1.start(true)
	waitFor(t, 10*time.Second, "n1 leadership", func() bool { id, api := n1.s.Leader(); return id == "n1" && api == n1.url() })
	n2.start(false)
	if err := n1.s.Join(ctx, n2.s.Self()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "n2 to know the leader", func() bool { _, api := n2.s.Leader(); return api != "" })
	lead, follower := n1, n2
	if n2.s.IsLeader() {
		lead, follower = n2, n1
	}
	ops := []BatchOp{
		{Op: BatchCreate, Kind: KindVN, VN: &model.VN{Name: "blue"}},
		{Op: BatchCreate, Kind: KindNVE, NVE: &model.NVE{Name: "hv1", UnderlayIPs: []string{"192.0.2.1"}, OVSDB: "unix:/run/db.sock"}},
	}
	for i := range 20 {
		ops = append(ops, BatchOp{Op: BatchCreate, Kind: KindPort, Port: &model.Port{Name: fmt.Sprintf("p%d", i), VN: "blue", NVE: "hv1",
			Interface: fmt.Sprintf("tap%d", i), MAC: fmt.Sprintf("02:00:00:00:00:%02x", i+1)}})
	}
	res, err := follower.s.Batch(ctx, "via-follower", ops)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Items) != 22 || res.Items[21].Port == nil || res.Items[21].Port.Revision != res.Revision || res.Items[1].NVE.DatapathID == "" {
		t.Fatalf("forwarded result %+v", res)
	}
	if follower.s.Snapshot().Ports.Get("p19") == nil {
		t.Fatal("the follower does not read its own batch")
	}
	again, err := follower.s.Batch(ctx, "via-follower", ops)
	if err != nil || !reflect.DeepEqual(again.Revision, res.Revision) || len(again.Items) != 22 {
		t.Fatalf("retry through the follower: %+v %v", again, err)
	}
	_, err = follower.s.Batch(ctx, "", []BatchOp{
		{Op: BatchCreate, Kind: KindPort, Port: &model.Port{Name: "p99", VN: "blue", NVE: "hv1", Interface: "tap0", MAC: "02:00:00:00:00:99"}},
		{Op: BatchDelete, Kind: KindVN, Name: "blue"},
	})
	if e, ok := model.AsError(err); !ok || !reflect.DeepEqual(fieldsOf(e), []string{"items[0].interface", "items[1]"}) {
		t.Fatalf("refusal through the follower: %v", err)
	}
	waitFor(t, 10*time.Second, "the leader to have the batch", func() bool { return lead.s.Snapshot().Revision >= res.Revision })
	if !reflect.DeepEqual(lead.s.Snapshot().Ports.Map(), follower.s.Snapshot().Ports.Map()) || lead.s.Snapshot().Ports.Len() != 20 {
		t.Fatal("the nodes disagree")
	}
}
