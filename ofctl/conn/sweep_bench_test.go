package conn

import (
	"testing"
	"time"
)

// BenchmarkSweepIdle1000 measures one keepalive tick over 1,000
// connections none of which is due (each heard from a second ago): the
// whole per-tick cost of the keepalive of 1,000 idle switches, which the
// per-switch keepalives paid as 1,000 timer wakeups.
func BenchmarkSweepIdle1000(b *testing.B) {
	opts := Options{}
	t0 := time.Unix(1_000_000, 0)
	w := newSweeper(opts, func() time.Time { return t0 })
	for range 1000 {
		s := newSwitch(discardConn{}, Options{Logger: testLogger(b)})
		s.lastRecv.Store(t0.UnixNano())
		w.add(s)
	}
	now := t0.Add(time.Second)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if p, c := w.sweep(now); p != 0 || c != 0 {
			b.Fatalf("%d probed, %d closed", p, c)
		}
	}
}
