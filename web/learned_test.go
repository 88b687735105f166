package web

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/web/wire"
)

// TestLearnedAPI: a segment port is created over the API; MACs the store
// learned behind it show in GET /vns/{vn}/learned, /learned and the
// topology; a report of a known port's MAC shows as a conflict.
func TestLearnedAPI(t *testing.T) {
	st := openStore(t, "n1")
	e := newEnvWith(t, st, st, func(o *Options) { o.Learned = st })
	e.seed()
	e.must(201, "POST", "/api/v1/ports", `{"name":"seg1","vn":"blue","nve":"hv2","interface":"eth1","vlan":100,"kind":"segment"}`)
	if r := e.do("POST", "/api/v1/ports", `{"name":"seg2","vn":"blue","nve":"hv2","interface":"eth2","kind":"segment","mac":"02:00:00:00:00:09"}`); r.status != 422 || r.err().Field != "mac" {
		t.Fatalf("segment port with a MAC: %d %+v", r.status, r.err())
	}
	at := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	if _, err := e.st.ReportLearned(context.Background(), model.LearnedReport{NVE: "hv2", At: at, MACs: []model.LearnedMAC{
		{VN: "blue", MAC: "02:00:00:00:0a:01", Via: "seg1"},
		{VN: "blue", MAC: "02:00:00:00:00:01", Via: "seg1"}, // p1's
	}}); err != nil {
		t.Fatal(err)
	}
	var vn wire.LearnedReport
	e.must(200, "GET", "/api/v1/vns/blue/learned", "").decode(t, &vn)
	if len(vn.Learned) != 1 || vn.Learned[0].MAC != "02:00:00:00:0a:01" || vn.Learned[0].NVE != "hv2" || vn.Learned[0].Via != "seg1" ||
		!vn.Learned[0].LastSeen.Equal(at) || len(vn.Conflicts) != 1 || vn.Conflicts[0].Port != "p1" || vn.ConflictsTotal != 1 {
		t.Fatalf("learned %+v", vn)
	}
	var all wire.LearnedReport
	e.must(200, "GET", "/api/v1/learned", "").decode(t, &all)
	if len(all.Learned) != 1 || all.ConflictsTotal != 1 {
		t.Fatalf("all learned %+v", all)
	}
	var topo wire.Topology
	e.must(200, "GET", "/api/v1/topology", "").decode(t, &topo)
	if len(topo.Learned) != 1 || topo.Learned[0].MAC != "02:00:00:00:0a:01" {
		t.Fatalf("topology learned %+v", topo.Learned)
	}
	e.must(404, "GET", "/api/v1/vns/nope/learned", "")
	m := string(e.must(200, "GET", "/metrics", "").body)
	if !strings.Contains(m, "nva_learned_endpoints 1\n") || !strings.Contains(m, "nva_learned_conflicts_total 1\n") {
		t.Fatal("metrics lack the learned endpoints and conflicts")
	}
}

// TestLearnedEventsScoped: a tenant's events stream carries learned
// endpoint changes of its own VNs only.
func TestLearnedEventsScoped(t *testing.T) {
	f := &tenantFilter{tenant: "acme", vns: map[string]bool{"blue": true}}
	mine := model.Change{Kind: model.ChangeLearned, Op: model.OpPut, Name: "blue/02:00:00:00:0a:01",
		New: &model.LearnedEndpoint{VN: "blue", MAC: "02:00:00:00:0a:01", NVE: "hv1", Via: "seg1"}}
	other := model.Change{Kind: model.ChangeLearned, Op: model.OpDelete, Name: "red/02:00:00:00:0a:02",
		Old: &model.LearnedEndpoint{VN: "red", MAC: "02:00:00:00:0a:02", NVE: "hv1", Via: "seg2"}}
	if got := f.pass(mine); len(got) != 1 {
		t.Fatalf("own VN's change: %+v", got)
	}
	if got := f.pass(other); len(got) != 0 {
		t.Fatalf("another VN's change passed: %+v", got)
	}
}
