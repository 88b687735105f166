package store

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nva-project/nva/app/model"
)

func post(t *testing.T, url, ctype string, body []byte, hdr ...string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ctype)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

func TestInternalHandler(t *testing.T) {
	s := openMem(t)
	srv := httptest.NewServer(s.InternalHandler())
	defer srv.Close()

	// A forwarded write is applied and answered with the FSM's result.
	code, raw := post(t, srv.URL+pathApply, "application/octet-stream", encode(t, &createVN{ReqID: "a", Obj: model.VN{Name: "blue"}}))
	var res result
	if err := json.Unmarshal(raw, &res); code != http.StatusOK || err != nil || res.VN == nil || res.VN.VNI != 1 || res.Index == 0 {
		t.Fatalf("apply: %d %s", code, raw)
	}
	// A domain rejection travels inside the result, with its kind and field.
	code, raw = post(t, srv.URL+pathApply, "application/octet-stream", encode(t, &createVN{ReqID: "b", Obj: model.VN{Name: "blue"}}))
	res = result{}
	if err := json.Unmarshal(raw, &res); code != http.StatusOK || err != nil || res.Err == nil || res.Err.Kind != model.KindConflict || res.Err.Field != "name" {
		t.Fatalf("conflicting apply: %d %s", code, raw)
	}
	// An unknown command without the ignore flag is refused before it
	// reaches the log; with the flag it is accepted and skipped.
	before := s.AppliedIndex()
	if code, raw = post(t, srv.URL+pathApply, "application/octet-stream", []byte{0x7f, 1, '{', '}'}); code != http.StatusBadRequest {
		t.Fatalf("unknown command: %d %s", code, raw)
	}
	if s.AppliedIndex() != before {
		t.Fatal("a refused command reached the log")
	}
	if code, raw = post(t, srv.URL+pathApply, "application/octet-stream", []byte{0xff, 1, '{', '}'}); code != http.StatusOK {
		t.Fatalf("ignorable command: %d %s", code, raw)
	}
	if len(s.Snapshot().VNs) != 1 {
		t.Fatal("the ignorable command changed the state")
	}

	resp, err := http.Get(srv.URL + pathReadIndex)
	if err != nil {
		t.Fatal(err)
	}
	var ri readIndexResponse
	_ = json.NewDecoder(resp.Body).Decode(&ri)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || ri.Index < res.Index {
		t.Fatalf("read index: %d %+v", resp.StatusCode, ri)
	}
	resp, err = http.Get(srv.URL + pathStatus)
	if err != nil {
		t.Fatal(err)
	}
	var st Status
	_ = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if st.ID != "n1" || st.State != "leader" || st.Leader != "n1" || st.AppliedIndex != s.AppliedIndex() {
		t.Fatalf("status %+v", st)
	}

	// Membership errors are domain errors with the matching status.
	if code, raw = post(t, srv.URL+pathJoin, "application/json", []byte(`{"id":`)); code != http.StatusBadRequest {
		t.Fatalf("bad join body: %d %s", code, raw)
	}
	if code, raw = post(t, srv.URL+pathRemove, "application/json", []byte(`{"id":"n9"}`)); code != http.StatusNotFound || !strings.Contains(string(raw), `"kind":"not_found"`) {
		t.Fatalf("remove unknown node: %d %s", code, raw)
	}
	if code, raw = post(t, srv.URL+pathRemove, "application/json", []byte(`{"id":"n1"}`)); code != http.StatusConflict {
		t.Fatalf("remove last voter: %d %s", code, raw)
	}
	if code, raw = post(t, srv.URL+pathJoin, "application/json", []byte(`{"id":"n1","raft_addr":"127.0.0.1:1"}`)); code != http.StatusConflict {
		t.Fatalf("join clashing with the leader: %d %s", code, raw)
	}
}

func TestInternalHandlerNotLeader(t *testing.T) {
	cfg := fastConfig(t, "lonely")
	cfg.InMemory = true
	cfg.ApplyTimeout = 200 * time.Millisecond
	s, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	srv := httptest.NewServer(s.InternalHandler())
	defer srv.Close()
	code, raw := post(t, srv.URL+pathApply, "application/octet-stream", encode(t, &createVN{ReqID: "a", Obj: model.VN{Name: "blue"}}), headerForwarded, "n2")
	var we wireError
	if err := json.Unmarshal(raw, &we); code != http.StatusServiceUnavailable || err != nil || !we.NoLeader {
		t.Fatalf("apply on a non-leader: %d %s", code, raw)
	}
	// The client side turns that into a retryable error, and a join
	// request gives up when its context ends.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err = requestJoin(ctx, http.DefaultClient, "", srv.URL, NodeInfo{ID: "n2", RaftAddr: "127.0.0.1:7002"})
	if err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("join through a leaderless node: %v", err)
	}
}

func TestMetrics(t *testing.T) {
	s := openMem(t)
	reg := prometheus.NewRegistry()
	if err := s.RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "own node metadata", func() bool { _, ok := s.fsm.node("n1"); return ok })
	before := gather(t, reg)["nva_store_apply_duration_seconds"]
	if _, err := s.CreateVN(context.Background(), "", model.VN{Name: "blue"}); err != nil {
		t.Fatal(err)
	}
	got := gather(t, reg)
	want := map[string]float64{
		"nva_raft_state":                   2,
		"nva_raft_is_leader":               1,
		"nva_raft_last_contact_seconds":    0,
		"nva_raft_applied_index":           float64(s.AppliedIndex()),
		"nva_store_apply_duration_seconds": before + 1,
		"nva_store_skipped_commands_total": 0,
		"nva_store_halted":                 0,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
	if got["nva_raft_term"] < 1 || got["nva_raft_commit_index"] < got["nva_raft_applied_index"] {
		t.Errorf("term/commit index: %v", got)
	}
}

// gather returns each metric's gauge value or histogram sample count.
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		m := mf.GetMetric()[0]
		switch {
		case m.GetGauge() != nil:
			got[mf.GetName()] = m.GetGauge().GetValue()
		case m.GetCounter() != nil:
			got[mf.GetName()] = m.GetCounter().GetValue()
		case m.GetHistogram() != nil:
			got[mf.GetName()] = float64(m.GetHistogram().GetSampleCount())
		}
	}
	return got
}
