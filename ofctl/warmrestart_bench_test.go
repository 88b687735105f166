package ofctl

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/model"
)

// BenchmarkWarmRestartSouthbound is the southbound's part of a warm
// restart of the fleet layout (fleetSnap: 20 ports per NVE, one VN per
// NVE spanning 10): a new southbound, the whole store at hand, and 300
// fake switches that already hold their desired state reconnecting one
// after the other; an operation ends when every NVE is in sync again
// (with no mod sent), and the southbound is stopped. cpu-ns/op is the
// process's CPU, the fake switches' included (they answer the reads from
// their tables); allocations too.
func BenchmarkWarmRestartSouthbound(b *testing.B) {
	const n = 300
	snap := fleetSnap(n)
	for i := range n {
		for _, p := range snap.PortsOn(fmt.Sprintf("hv%d", i)) {
			p.Parse() // as the store does when it stores a port
		}
	}
	ports := map[uint32]string{100: compiler.TunnelPortName(model.EncapVXLAN)}
	for j := range 20 {
		ports[uint32(j+1)] = fmt.Sprintf("v%d", j+1)
	}
	bridges := make([]*fakeBridge, n)
	for i := range bridges {
		bridges[i] = newFakeBridge(b, uint64(i+1), ports)
	}
	dir := b.TempDir()
	round := 0
	// start runs a southbound until every switch is in sync; it returns
	// a stop function.
	start := func() func() {
		round++
		cfg := Config{ListenAddr: "unix:" + filepath.Join(dir, fmt.Sprintf("of%d.sock", round)),
			Logger: slog.New(slog.DiscardHandler), AuditInterval: -1}
		sb := New(cfg)
		ctx, cancel := context.WithCancel(context.Background())
		if err := sb.Start(ctx, newFakeStore(snap, true)); err != nil {
			b.Fatal(err)
		}
		for _, br := range bridges {
			br.connect(cfg.ListenAddr)
		}
		waitCond(b, 5*time.Minute, "every NVE in sync", func() bool {
			for i := range n {
				if sb.status(fmt.Sprintf("hv%d", i)).Sync != SyncInSync {
					return false
				}
			}
			return true
		})
		return func() {
			cancel()
			_ = sb.Close()
			for _, br := range bridges {
				br.disconnect()
			}
		}
	}
	mods := func() int {
		total := 0
		for _, br := range bridges {
			for _, c := range br.modCount() {
				total += c
			}
		}
		return total
	}
	start()() // a cold start installs the desired state
	installed := mods()
	if installed == 0 {
		b.Fatal("the cold start installed nothing")
	}
	b.ResetTimer()
	reportCPU(b, func() { start()() }) // (stopping it is in the figure too: little)
	b.StopTimer()
	if got := mods(); got != installed {
		b.Fatalf("warm restarts sent %d mods", got-installed)
	}
}
