package daemon

import (
	"strings"
	"testing"
)

// --memory-limit: sizes with binary or decimal units, 0/off for none;
// anything else fails naming the flag.
func TestMemoryLimitSetting(t *testing.T) {
	for v, want := range map[string]int64{
		"":          0,
		"off":       0,
		"0":         0,
		"512MiB":    512 << 20,
		"1GiB":      1 << 30,
		"800MB":     800e6,
		"67108864":  64 << 20,
		"65536KiB":  64 << 20,
		"2GB":       2e9,
		" 100 MiB ": 100 << 20,
	} {
		s := DefaultSettings()
		s.DataDir = t.TempDir()
		s.MemoryLimit = v
		if err := s.Complete(); err != nil {
			t.Errorf("%q: %v", v, err)
			continue
		}
		if got := s.MemoryLimitBytes(); got != want {
			t.Errorf("%q: %d bytes, want %d", v, got, want)
		}
	}
	for _, v := range []string{"lots", "-1MiB", "12MiB", "1.5GiB", "1TiB", "9999999999GiB"} {
		s := DefaultSettings()
		s.DataDir = t.TempDir()
		s.MemoryLimit = v
		err := s.Complete()
		if err == nil || !strings.Contains(err.Error(), "memory-limit") {
			t.Errorf("%q: error %v, want one naming memory-limit", v, err)
		}
	}
}
