package conn

import (
	"context"
	"log/slog"
	"testing"

	"antrea.io/libOpenflow/openflow13"
	"antrea.io/libOpenflow/util"
)

// BenchmarkSendBarrier measures Send of 100 flow-mods followed by a
// Barrier against a fake switch on loopback TCP that answers barriers.
func BenchmarkSendBarrier(b *testing.B) { benchSendBarrier(b, false) }

// BenchmarkSendAllBarrier is BenchmarkSendBarrier with the 100 flow-mods
// sent by one SendAll (one write instead of 100).
func BenchmarkSendAllBarrier(b *testing.B) { benchSendBarrier(b, true) }

func benchSendBarrier(b *testing.B, all bool) {
	h := newHarness(b, Options{Logger: slog.New(slog.DiscardHandler)})
	f, sw := h.connect(1)
	go func() {
		for {
			m, err := readFrame(f.c, 0)
			if err != nil {
				return
			}
			switch m[1] {
			case openflow13.Type_BarrierRequest:
				m[1] = openflow13.Type_BarrierReply
				if _, err := f.c.Write(m); err != nil {
					return
				}
			case openflow13.Type_EchoRequest:
				m[1] = openflow13.Type_EchoReply
				_, _ = f.c.Write(m)
			}
		}
	}()
	fm := outputFlow(0x1, 5, openflow13.P_LOCAL)
	msgs := make([]util.Message, 100)
	for j := range msgs {
		msgs[j] = fm
	}
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if all {
			if err := sw.SendAll(msgs); err != nil {
				b.Fatal(err)
			}
		}
		for j := 0; j < 100 && !all; j++ {
			if _, err := sw.Send(fm); err != nil {
				b.Fatal(err)
			}
		}
		if err := sw.Barrier(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	sw.Close()
}
