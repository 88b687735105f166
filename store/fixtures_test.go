package store

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/nva-project/nva/app/model"
)

// The v1 fixtures under testdata/fixtures/v1 are a Raft log, a snapshot
// stream and the state they lead to, written once by the store's first log
// format (commit 82e0cbe, "store: commit v1 log and snapshot fixtures
// written by the current format", whose TestGenFixtures made them). They
// are frozen bytes: every later version of the store must replay them to
// the same state; they are never regenerated.
const fixtureDir = "testdata/fixtures/v1"

// fixtureEntry is one line of log.jsonl: a command at its raft index, as
// the log stored it, and what applying it returned (null: skipped).
type fixtureEntry struct {
	Index  uint64          `json:"index"`
	Note   string          `json:"note"`
	Data   string          `json:"data"` // base64 of the log entry's bytes
	Result json.RawMessage `json:"result"`
}

// fixtureState is the canonical form of an FSM's state in state.json:
// every object and node in name order, and the request-ID table oldest
// first, in the log's own types (the keys state.json was written with).
type fixtureState struct {
	Revision uint64        `json:"revision"`
	VNs      []*logVN      `json:"vns"`
	NVEs     []*logNVE     `json:"nves"`
	Ports    []*logPort    `json:"ports"`
	Nodes    []*logNode    `json:"nodes"`
	Requests []*logRequest `json:"requests"`
}

func canonicalState(f *fsm) fixtureState {
	out := fixtureState{Revision: f.applied, VNs: []*logVN{}, NVEs: []*logNVE{}, Ports: []*logPort{}, Nodes: []*logNode{}}
	for _, v := range f.st.vns {
		out.VNs = append(out.VNs, toLogVN(v))
	}
	for _, n := range f.st.nves {
		out.NVEs = append(out.NVEs, toLogNVE(n))
	}
	for _, p := range f.st.ports {
		out.Ports = append(out.Ports, toLogPort(p))
	}
	for _, n := range f.st.nodes {
		out.Nodes = append(out.Nodes, toLogNode(n))
	}
	sort.Slice(out.VNs, func(i, j int) bool { return out.VNs[i].Name < out.VNs[j].Name })
	sort.Slice(out.NVEs, func(i, j int) bool { return out.NVEs[i].Name < out.NVEs[j].Name })
	sort.Slice(out.Ports, func(i, j int) bool { return out.Ports[i].Name < out.Ports[j].Name })
	sort.Slice(out.Nodes, func(i, j int) bool { return out.Nodes[i].ID < out.Nodes[j].ID })
	for _, e := range f.dedup.entries() {
		out.Requests = append(out.Requests, &logRequest{ReqID: e.ReqID, Hash: e.Hash, Result: toLogResult(e.Result)})
	}
	return out
}

// responseJSON renders what Apply returned for one entry (a *result
// encodes with the log's types).
func responseJSON(t *testing.T, r any) json.RawMessage {
	t.Helper()
	if r == nil {
		return json.RawMessage("null")
	}
	js, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func readFixtureLog(t *testing.T) []fixtureEntry {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(fixtureDir, "log.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var out []fixtureEntry
	dec := json.NewDecoder(bytes.NewReader(raw))
	for dec.More() {
		var e fixtureEntry
		if err := dec.Decode(&e); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	if len(out) == 0 {
		t.Fatal("empty fixture log")
	}
	return out
}

// sameJSON compares two JSON documents by value.
func sameJSON(t *testing.T, what string, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("%s: fixture: %v", what, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("%s differs from the fixture:\n got %s\nwant %s", what, got, want)
	}
}

func stateJSON(t *testing.T, f *fsm) []byte {
	t.Helper()
	js, err := json.Marshal(canonicalState(f))
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// TestReplayV1Fixtures: the frozen v1 log replays, entry by entry, to the
// same responses and the same state, and the frozen v1 snapshot restores to
// that state.
func TestReplayV1Fixtures(t *testing.T) {
	wantState, err := os.ReadFile(filepath.Join(fixtureDir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	wantSnap, err := os.ReadFile(filepath.Join(fixtureDir, "snapshot.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	entries := readFixtureLog(t)

	replayed := newFSM(nil, DedupPolicy{})
	for _, e := range entries {
		data, err := base64.StdEncoding.DecodeString(e.Data)
		if err != nil {
			t.Fatalf("index %d: %v", e.Index, err)
		}
		r := replayed.Apply(&raft.Log{Index: e.Index, Type: raft.LogCommand, Data: data})
		if err, ok := r.(error); ok {
			t.Fatalf("index %d (%s): %v", e.Index, e.Note, err)
		}
		sameJSON(t, "response at index "+e.Note, responseJSON(t, r), e.Result)
	}
	if last := entries[len(entries)-1].Index; replayed.appliedIndex() != last {
		t.Fatalf("applied index %d after the log, want %d", replayed.appliedIndex(), last)
	}
	sameJSON(t, "state after replaying the log", stateJSON(t, replayed), wantState)
	checkIndexes(t, replayed.st)

	restored := newFSM(nil, DedupPolicy{})
	if err := restored.Restore(io.NopCloser(bytes.NewReader(wantSnap))); err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "state restored from the snapshot", stateJSON(t, restored), wantState)
	checkIndexes(t, restored.st)
	if !reflect.DeepEqual(restored.st, replayed.st) {
		t.Fatal("the restored and the replayed state differ")
	}

	// While snapshot format 1 is the one written, the replayed state
	// snapshots to the very same bytes.
	if got := persist(t, replayed); snapshotFormat == 1 && !bytes.Equal(got, wantSnap) {
		t.Fatalf("snapshot of the replayed state differs from the fixture:\n%s\n---\n%s", got, wantSnap)
	}

	// The request-ID table came through both ways: a retry of an applied
	// request answers with its first result and changes nothing.
	for _, f := range []*fsm{replayed, restored} {
		h := &harness{t: t, f: f, idx: f.appliedIndex()}
		r := h.do(&createVN{ReqID: "r-vn-blue2", Obj: model.VN{Name: "blue2"}})
		if r.Err != nil || r.Index != 27 {
			t.Fatalf("retry of index 27: %+v", r)
		}
	}
}
