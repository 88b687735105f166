package daemon

import (
	"errors"
	"strconv"
	"strings"
)

// formsMemoryLimit are --memory-limit's accepted forms.
const formsMemoryLimit = "a size in bytes with an optional unit (KiB, MiB, GiB, or KB, MB, GB; e.g. 512MiB, 1GiB), at least 64MiB; or 0 or off (no limit)"

// minMemoryLimit is the smallest --memory-limit: below it the runtime would
// collect continuously for any real domain.
const minMemoryLimit = 64 << 20

var memoryUnits = []struct {
	suffix string
	mult   int64
}{ // longest suffixes first
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1},
}

// parseMemorySize parses a size such as 512MiB; 0 and off are 0.
func parseMemorySize(v string) (int64, error) {
	v = strings.TrimSpace(v)
	if v == "off" || v == "0" {
		return 0, nil
	}
	mult := int64(1)
	num := v
	for _, u := range memoryUnits {
		if strings.HasSuffix(v, u.suffix) {
			mult, num = u.mult, strings.TrimSpace(strings.TrimSuffix(v, u.suffix))
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	switch {
	case err != nil || n < 0:
		return 0, errors.New("not a size, nor off")
	case n > (1<<62)/mult:
		return 0, errors.New("too large")
	case n*mult < minMemoryLimit:
		return 0, errors.New("must be at least 64MiB, or 0 or off")
	}
	return n * mult, nil
}

func checkMemoryLimit(v string) (string, error) {
	if _, err := parseMemorySize(v); err != nil {
		return v, err
	}
	return strings.TrimSpace(v), nil
}

// MemoryLimitBytes is the parsed --memory-limit: 0 when none is set. The
// command applies it to its process (runtime/debug.SetMemoryLimit), not
// Run: it is the process's setting, and tests run many daemons in one
// process. Call it on completed settings.
func (s Settings) MemoryLimitBytes() int64 {
	n, err := parseMemorySize(s.MemoryLimit)
	if err != nil || s.MemoryLimit == "" {
		return 0
	}
	return n
}
