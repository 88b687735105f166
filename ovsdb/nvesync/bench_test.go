package nvesync

import (
	"context"
	"fmt"
	"log/slog"
	"syscall"
	"testing"
	"time"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/ovsdb"
)

// fleet is the issue-12 layout: n ovs NVEs with 20 ports each, one VN per
// NVE, VN j spanning NVEs j..j+9 (two ports on each), so every NVE hosts
// ten VNs.
func fleet(n int) (vns map[string]*model.VN, nves map[string]*model.NVE, ports map[string]*model.Port) {
	vns, nves, ports = map[string]*model.VN{}, map[string]*model.NVE{}, map[string]*model.Port{}
	span := min(10, n)
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("hv%04d", i)
		nves[name] = &model.NVE{Name: name, Kind: model.NVEOVS, UnderlayIPs: []string{fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)},
			OVSDB: "unix:/run/" + name + ".sock", Bridge: "br-int", DatapathID: fmt.Sprintf("%016x", i+1)}
		vn := fmt.Sprintf("vn%04d", i)
		vns[vn] = &model.VN{Name: vn, VNI: uint32(i + 1), Encap: model.EncapVXLAN}
		for k := 0; k < span; k++ {
			host := fmt.Sprintf("hv%04d", (i+k)%n)
			for j := 0; j < 20/span; j++ {
				p := fmt.Sprintf("%s-%s-%d", vn, host, j)
				ports[p] = &model.Port{Name: p, VN: vn, NVE: host, Interface: "t" + p}
			}
		}
	}
	return vns, nves, ports
}

// benchDB is an OVSDB that signals every Sync.
type benchDB struct{ synced chan string }

func (d *benchDB) Sync(_ context.Context, des ovsdb.Desired) {
	select {
	case d.synced <- des.NVE:
	default:
	}
}
func (d *benchDB) Remove(context.Context, string) error     { return nil }
func (d *benchDB) Status(string) (ovsdb.Status, bool)       { return ovsdb.Status{}, false }
func (d *benchDB) OFPorts(string) (map[string]uint32, bool) { return nil, false }
func (d *benchDB) Close()                                   {}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkStoreChange measures what the syncer spends on one store
// change (a port's interface renamed, as the store reports it: a watch
// event with the old and new port) on a fleet of n ovs NVEs, from the
// event to the Sync of the one NVE it changes. The snapshots are built
// (and indexed) before the clock starts: their cost is the store's, shared
// by every consumer. cpu-ns/op is the process's CPU time per change (every
// goroutine), beside the wall-clock ns/op.
func BenchmarkStoreChange(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("nves=%d", n), func(b *testing.B) {
			vns, nves, ports := fleet(n)
			const name = "vn0000-hv0000-0"
			alt := map[string]*model.Port{}
			for k, v := range ports {
				alt[k] = v
			}
			p := *ports[name]
			p.Interface = "renamed"
			alt[name] = &p
			snaps := [2]*model.Snapshot{model.NewSnapshot(1, vns, nves, ports), model.NewSnapshot(2, vns, nves, alt)}
			src := &fakeSrc{snap: snaps[0], events: make(chan model.Change, 16)}
			src.leader.Store(true)
			db := &benchDB{synced: make(chan string, 4096)}
			s := New(func() OVSDB { return db }, slog.New(slog.DiscardHandler))
			s.tick = time.Hour
			ctx, cancel := context.WithCancel(context.Background())
			defer func() { cancel(); s.Close() }()
			if err := s.Start(ctx, src); err != nil {
				b.Fatal(err)
			}
			for i := 0; i < n; i++ { // the initial sync of every NVE
				<-db.synced
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			for i := 0; i < b.N; i++ {
				cur, prev := snaps[(i+1)%2], snaps[i%2]
				src.mu.Lock()
				src.snap = cur
				src.mu.Unlock()
				src.events <- model.Change{Index: uint64(i + 3), Kind: model.ChangePort, Op: model.OpPut, Name: name, Old: prev.Ports.Get(name), New: cur.Ports.Get(name)}
				if got := <-db.synced; got != "hv0000" {
					b.Fatalf("synced %s, want hv0000", got)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}
