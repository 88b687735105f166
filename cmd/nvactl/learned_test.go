package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/store"
	"github.com/nva-project/nva/web"
)

// TestLearnedCommand: a segment port made with --kind segment, then the
// MACs the store learned behind it and a conflict, as nvactl learned
// shows them.
func TestLearnedCommand(t *testing.T) {
	var st learnedStore
	ts, s := server(t, func(o *web.Options) { o.Learned = &st })
	st.s = s
	c := cli{t, map[string]string{"NVA_SERVER": ts.URL}}
	c.ok("vn", "create", "blue", "--vni", "100")
	c.ok("nve", "create", "hv1", "--underlay-ip", "192.0.2.1", "--ovsdb", "unix:/run/openvswitch/db.sock")
	c.ok("port", "create", "p1", "--vn", "blue", "--nve", "hv1", "--interface", "veth1", "--mac", "02:00:00:00:00:01", "--ip", "10.0.0.1")
	out := c.ok("port", "create", "seg1", "--vn", "blue", "--nve", "hv1", "--interface", "eth2", "--vlan", "100", "--kind", "segment")
	if r := row(t, out, "seg1"); r[4] != "(segment)" || r[6] != "100" {
		t.Fatalf("segment port row %v", r)
	}
	if _, err := s.ReportLearned(context.Background(), model.LearnedReport{NVE: "hv1", At: time.Now(), MACs: []model.LearnedMAC{
		{VN: "blue", MAC: "02:00:00:00:0a:50", Via: "seg1"}, {VN: "blue", MAC: "02:00:00:00:00:01", Via: "seg1"}}}); err != nil {
		t.Fatal(err)
	}
	out = c.ok("learned", "--vn", "blue")
	if r := row(t, out, "blue"); r[1] != "02:00:00:00:0a:50" || r[2] != "hv1" || r[3] != "seg1" {
		t.Fatalf("learned row %v in:\n%s", r, out)
	}
	if !strings.Contains(out, "1 refused reports") || !strings.Contains(out, "02:00:00:00:00:01  p1") {
		t.Fatalf("conflict not shown:\n%s", out)
	}
	if out := c.ok("-o", "json", "learned"); !strings.Contains(out, `"conflicts_total": 1`) {
		t.Fatalf("json:\n%s", out)
	}
}

// learnedStore is the store as web.LearnedReporter, set once server has
// opened it (the options are built before).
type learnedStore struct{ s *store.Store }

func (l *learnedStore) LearnedConflicts(vn string) ([]*model.LearnedConflict, uint64) {
	return l.s.LearnedConflicts(vn)
}
