package daemon

import (
	"strings"
	"testing"
	"time"
)

// --audit-interval: a duration of at least 1s, or 0 / off (audits off,
// which ofctl takes as a negative interval); DefaultAuditInterval when
// unset; anything else fails naming the flag.
func TestAuditIntervalSetting(t *testing.T) {
	for v, want := range map[string]time.Duration{"": time.Minute, "0": -1, "off": -1, "30s": 30 * time.Second, "5m": 5 * time.Minute} {
		s := DefaultSettings()
		s.DataDir = t.TempDir()
		s.AuditInterval = v
		if err := s.Complete(); err != nil {
			t.Fatalf("%q: %v", v, err)
		}
		if got := s.AuditPeriod(); got != want {
			t.Errorf("%q: %v, want %v", v, got, want)
		}
	}
	for _, v := range []string{"often", "-1s", "500ms", "Off"} {
		s := DefaultSettings()
		s.DataDir = t.TempDir()
		s.AuditInterval = v
		err := s.Complete()
		if err == nil || !strings.Contains(err.Error(), "audit-interval") {
			t.Errorf("%q: error %v, want one naming audit-interval", v, err)
		}
	}
}
