package daemon

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/trace"
)

func TestCounterIntervalSetting(t *testing.T) {
	for v, want := range map[string]time.Duration{"": 10 * time.Second, "0": 0, "30s": 30 * time.Second, "2m": 2 * time.Minute} {
		s := DefaultSettings()
		s.DataDir = t.TempDir()
		s.CounterInterval = v
		if err := s.Complete(); err != nil {
			t.Fatalf("%q: %v", v, err)
		}
		if got := s.CounterPollInterval(); got != want {
			t.Errorf("%q: %v, want %v", v, got, want)
		}
	}
	for _, v := range []string{"fast", "-1s", "100ms"} {
		s := DefaultSettings()
		s.DataDir = t.TempDir()
		s.CounterInterval = v
		err := s.Complete()
		if err == nil || !strings.Contains(err.Error(), "counter-interval") {
			t.Errorf("%q: error %v, want one naming counter-interval", v, err)
		}
	}
}

func TestTracerBoundsConcurrency(t *testing.T) {
	tr := newTracer()
	for range maxConcurrentTraces {
		tr.slots <- struct{}{} // every slot taken
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := tr.Trace(ctx, model.NewSnapshot(1, nil, nil, nil), trace.Request{Port: "p"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("with every slot taken: %v, want the context's error", err)
	}
	<-tr.slots
	_, err := tr.Trace(context.Background(), model.NewSnapshot(1, nil, nil, nil), trace.Request{Port: "p"})
	var ie *trace.InputError
	if !errors.As(err, &ie) || ie.Field != "port" {
		t.Fatalf("with a free slot: %v, want the trace's own answer (no such port)", err)
	}
}
