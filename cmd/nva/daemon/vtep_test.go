package daemon

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/ovsdb/vtep"
)

type fakeLearnedStore struct {
	snap    *model.Snapshot
	reports []model.LearnedReport
}

func (f *fakeLearnedStore) Snapshot() *model.Snapshot { return f.snap }
func (f *fakeLearnedStore) ReportLearned(_ context.Context, r model.LearnedReport) (uint64, error) {
	f.reports = append(f.reports, r)
	return 1, nil
}

// TestVTEPLearnedReports: a VTEP's learned MACs are reported as seen now,
// and the ones the store has at that VTEP that it no longer lists are
// withdrawn; other NVEs' and segments' entries are left alone.
func TestVTEPLearnedReports(t *testing.T) {
	at := time.Date(2026, 11, 29, 13, 0, 0, 0, time.UTC)
	st := &fakeLearnedStore{snap: &model.Snapshot{Learned: map[string]*model.LearnedEndpoint{
		"blue/02:00:00:00:0b:09": {VN: "blue", MAC: "02:00:00:00:0b:09", NVE: "tor1", Via: model.ViaVTEP},
		"blue/02:00:00:00:0b:08": {VN: "blue", MAC: "02:00:00:00:0b:08", NVE: "tor2", Via: model.ViaVTEP},
		"blue/02:00:00:00:0c:01": {VN: "blue", MAC: "02:00:00:00:0c:01", NVE: "tor1", Via: "seg1"},
	}}}
	r := vtepLearned{st: st, now: func() time.Time { return at }}
	if err := r.VTEPLearned(context.Background(), "tor1", []vtep.Learned{{VN: "blue", MAC: "02:00:00:00:0b:01", IP: "10.0.0.5"}}); err != nil {
		t.Fatal(err)
	}
	want := []model.LearnedReport{{NVE: "tor1", At: at, MACs: []model.LearnedMAC{
		{VN: "blue", MAC: "02:00:00:00:0b:01", Via: model.ViaVTEP, IPs: []string{"10.0.0.5"}},
		{VN: "blue", MAC: "02:00:00:00:0b:09", Via: model.ViaVTEP, Gone: true},
	}}}
	if !reflect.DeepEqual(st.reports, want) {
		t.Fatalf("reports\n got %+v\nwant %+v", st.reports, want)
	}
	// Nothing learned and nothing to withdraw: no write.
	st.reports, st.snap = nil, &model.Snapshot{}
	if err := r.VTEPLearned(context.Background(), "tor1", nil); err != nil || len(st.reports) != 0 {
		t.Fatalf("empty report: %v, %d writes", err, len(st.reports))
	}
}
