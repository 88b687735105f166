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

// BenchmarkSendAllRawBarrier is BenchmarkSendAllBarrier with the 100
// flow-mods already in wire form, back to back in one buffer (as the
// southbound's encodePlan hands them over), sent by SendAllRaw.
func BenchmarkSendAllRawBarrier(b *testing.B) { benchSendMode(b, "raw") }

func benchSendBarrier(b *testing.B, all bool) {
	if all {
		benchSendMode(b, "all")
	} else {
		benchSendMode(b, "one")
	}
}

// benchSendMode: "one" (Send each), "all" (SendAll) or "raw" (SendAllRaw).
func benchSendMode(b *testing.B, mode string) {
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
	var buf []byte
	raw := make([][]byte, len(msgs))
	for range raw {
		m, err := fm.MarshalBinary()
		if err != nil {
			b.Fatal(err)
		}
		buf = append(buf, m...)
	}
	for j := range raw {
		n := len(buf) / len(raw)
		raw[j] = buf[j*n : (j+1)*n]
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		switch mode {
		case "all":
			if err := sw.SendAll(msgs); err != nil {
				b.Fatal(err)
			}
		case "raw":
			if err := sw.SendAllRaw(raw); err != nil {
				b.Fatal(err)
			}
		default:
			for range 100 {
				if _, err := sw.Send(fm); err != nil {
					b.Fatal(err)
				}
			}
		}
		if err := sw.Barrier(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	sw.Close()
}
