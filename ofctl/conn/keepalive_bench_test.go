//go:build unix

package conn

import (
	"log/slog"
	"syscall"
	"testing"
	"time"

	"antrea.io/libOpenflow/openflow13"
)

// BenchmarkEchoRoundTrip measures one echo request from a switch answered
// by nva (the switch's inactivity probe, the most frequent message on an
// idle connection), over loopback TCP: per op, the reader reads the
// request and the reply is written. cpu-ns/op is the CPU time of the
// whole process (nva's side and the fake switch) per round trip, which,
// unlike ns/op, a loaded machine does not inflate.
func BenchmarkEchoRoundTrip(b *testing.B) {
	h := newHarness(b, Options{Logger: slog.New(slog.DiscardHandler)})
	f, _ := h.connect(1)
	req := header(openflow13.Type_EchoRequest, headerLen, 0x42)
	b.ReportAllocs()
	start := cpuTime(b)
	b.ResetTimer()
	for range b.N {
		if _, err := f.c.Write(req); err != nil {
			b.Fatal(err)
		}
		for {
			r, err := readFrame(f.c, 0)
			if err != nil {
				b.Fatal(err)
			}
			if r[1] == openflow13.Type_EchoReply {
				break
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N), "cpu-ns/op")
}

// cpuTime is the CPU time (user and system) the process used so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
