package daemon

import (
	"strings"
	"testing"
	"time"
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
