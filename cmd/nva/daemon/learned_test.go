package daemon

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/nva-project/nva/app/model"
)

func TestLearnedAgeSetting(t *testing.T) {
	for v, ok := range map[string]bool{"300s": true, "1s": true, "10m": true, "500ms": false, "x": false, "-5s": false} {
		if _, err := checkLearnedAge(v); (err == nil) != ok {
			t.Errorf("%q: err %v", v, err)
		}
	}
	if d := (Settings{}).LearnedMaxAge(); d != 300*time.Second {
		t.Fatalf("default %v", d)
	}
	if d := (Settings{LearnedAge: "6s"}).LearnedMaxAge(); d != 6*time.Second {
		t.Fatalf("6s: %v", d)
	}
}

type fakeExpirer struct {
	leader  bool
	snap    *model.Snapshot
	expired chan time.Time
}

func (f *fakeExpirer) IsLeader() bool            { return f.leader }
func (f *fakeExpirer) Snapshot() *model.Snapshot { return f.snap }
func (f *fakeExpirer) LearnedConflicts(string) ([]*model.LearnedConflict, uint64) {
	return nil, 0
}
func (f *fakeExpirer) ExpireLearned(_ context.Context, before time.Time) (uint64, error) {
	f.expired <- before
	return 1, nil
}

// TestExpireLearned: the leader expires what was last seen more than the
// age before its clock, with that time in the command.
func TestExpireLearned(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	snap := model.NewSnapshot(1, nil, nil, nil)
	snap.Learned = map[string]*model.LearnedEndpoint{"blue/02:00:00:00:0a:01": {VN: "blue", MAC: "02:00:00:00:0a:01",
		NVE: "hv1", Via: "seg1", FirstSeen: now.Add(-time.Hour), LastSeen: now.Add(-10 * time.Second)}}
	f := &fakeExpirer{leader: true, snap: snap, expired: make(chan time.Time, 1)}
	if learnedDue(f, now.Add(-20*time.Second)) || !learnedDue(f, now.Add(-5*time.Second)) {
		t.Fatal("learnedDue")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go expireLearned(ctx, f, 5*time.Second, func() time.Time { return now }, slog.New(slog.DiscardHandler))
	if before := <-f.expired; !before.Equal(now.Add(-5 * time.Second)) {
		t.Fatalf("expired before %v", before)
	}
}
