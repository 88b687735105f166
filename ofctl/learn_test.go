package ofctl

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/compiler/scenario"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/pipeline"
)

type fakeLearnSink struct {
	mu      sync.Mutex
	reports []model.LearnedReport
}

func (f *fakeLearnSink) ReportLearned(_ context.Context, r model.LearnedReport) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reports = append(f.reports, r)
	return uint64(len(f.reports)), nil
}

func TestLearnFrame(t *testing.T) {
	tagged := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0x0a, 0x50, 0x81, 0x00, 0x00, 0x64, 0x08, 0x06}
	src, vlan, ok := learnFrame(tagged)
	if !ok || src.String() != "02:00:00:00:0a:50" || vlan != 100 {
		t.Fatalf("tagged: %v %d %v", src, vlan, ok)
	}
	untagged := append(append([]byte{}, tagged[:12]...), 0x08, 0x06)
	if _, vlan, ok := learnFrame(untagged); !ok || vlan != 0 {
		t.Fatalf("untagged: %d %v", vlan, ok)
	}
	group := append([]byte{}, tagged...)
	group[6] = 0x01 // a group source MAC is never learned
	if _, _, ok := learnFrame(group); ok {
		t.Fatal("group source accepted")
	}
	if _, _, ok := learnFrame(tagged[:13]); ok {
		t.Fatal("short frame accepted")
	}
}

func TestTokenBucket(t *testing.T) {
	var b tokenBucket
	now := time.Unix(1000, 0)
	n := 0
	for range 10 {
		if b.take(now, 2, 3) {
			n++
		}
	}
	if n != 3 {
		t.Fatalf("burst let %d through, want 3", n)
	}
	if !b.take(now.Add(500*time.Millisecond), 2, 3) || b.take(now.Add(500*time.Millisecond), 2, 3) {
		t.Fatal("half a second at 2/s should allow exactly one")
	}
}

// TestLearnQueueAndFlush: MACs queued twice within learnSuppress are
// reported once; a flush sends one report per NVE, only on the leader.
func TestLearnQueueAndFlush(t *testing.T) {
	sink := &fakeLearnSink{}
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	s := New(Config{Learn: sink, Now: func() time.Time { return now }})
	m := model.LearnedMAC{VN: "blue", MAC: "02:00:00:00:0a:50", Via: "seg1"}
	if got := s.queueLearned("hv1", m, now); got != learnQueued {
		t.Fatalf("first: %s", got)
	}
	if got := s.queueLearned("hv1", m, now.Add(100*time.Millisecond)); got != learnSuppressed {
		t.Fatalf("repeat: %s", got)
	}
	s.queueLearned("hv2", model.LearnedMAC{VN: "blue", MAC: "02:00:00:00:0a:51", Via: "seg2"}, now)
	s.flushLearned(context.Background()) // not the leader: dropped
	if len(sink.reports) != 0 {
		t.Fatalf("a follower reported %+v", sink.reports)
	}
	s.queueLearned("hv1", m, now.Add(2*time.Second))
	s.mu.Lock()
	s.leader = true
	s.mu.Unlock()
	now = now.Add(2 * time.Second)
	s.flushLearned(context.Background())
	if len(sink.reports) != 1 || sink.reports[0].NVE != "hv1" || len(sink.reports[0].MACs) != 1 || !reflect.DeepEqual(sink.reports[0].MACs[0], m) ||
		!sink.reports[0].At.Equal(now) {
		t.Fatalf("reports %+v", sink.reports)
	}
}

// TestLearnedSourceFlows maps the learned-source flows of a compile to
// the MACs they forward.
func TestLearnedSourceFlows(t *testing.T) {
	d := scenario.Segment()
	snap := d.Snapshot()
	res, err := compiler.Compile(d.InputAt(snap, "hv1"), pipeline.OVS())
	if err != nil {
		t.Fatal(err)
	}
	got := learnedSourceFlows(snap, "hv1", res)
	if len(got) != 1 {
		t.Fatalf("learned-source flows %+v", got)
	}
	for cookie, m := range got {
		if cookie == 0 || !reflect.DeepEqual(m, model.LearnedMAC{VN: "blue", MAC: "02:00:00:00:0a:01", Via: "seg1"}) {
			t.Fatalf("%#x -> %+v", cookie, m)
		}
	}
	if got := learnedSourceFlows(snap, "hv2", res); len(got) != 0 {
		t.Fatalf("another NVE's MACs: %+v", got)
	}
}
