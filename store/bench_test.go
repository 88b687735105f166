package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/nva-project/nva/app/model"
)

// BenchmarkFSMApplyPort measures one port create through decode, checks and
// indexing, on a state that already holds b.N ports.
func BenchmarkFSMApplyPort(b *testing.B) {
	f := newFSM(nil, DedupPolicy{})
	var idx uint64
	apply := func(c command) {
		idx++
		data, _ := encodeCommand(c)
		if r, ok := f.Apply(&raft.Log{Index: idx, Data: data}).(*result); !ok || r.Err != nil {
			b.Fatalf("apply: %+v", r)
		}
	}
	apply(&createVN{ReqID: "vn", Obj: model.VN{Name: "blue"}})
	apply(&createNVE{ReqID: "nve", Obj: model.NVE{Name: "hv1", UnderlayIPs: []string{"192.0.2.1"}, OVSDB: "unix:/run/db.sock"}})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		apply(&createPort{ReqID: fmt.Sprintf("p%d", i), Obj: model.Port{
			Name: fmt.Sprintf("p%d", i), VN: "blue", NVE: "hv1", Interface: fmt.Sprintf("t%d", i),
			MAC: fmt.Sprintf("02:00:%02x:%02x:%02x:%02x", byte(i>>24), byte(i>>16), byte(i>>8), byte(i)),
		}})
	}
}

// BenchmarkSingleNodeWrite measures an acknowledged write through raft on
// an in-memory single-node store.
func BenchmarkSingleNodeWrite(b *testing.B) {
	benchmarkWrites(b, Config{NodeID: "n1", InMemory: true, Bootstrap: true})
}

// BenchmarkSingleNodeWriteDisk is BenchmarkSingleNodeWrite on raft-boltdb
// in a data directory: what an acknowledged write costs with the log's
// fsyncs (the commit part of a write's latency).
func BenchmarkSingleNodeWriteDisk(b *testing.B) {
	benchmarkWrites(b, Config{NodeID: "n1", DataDir: b.TempDir(), Bootstrap: true, RaftAddr: "127.0.0.1:0"})
}

// benchmarkWrites creates one VN per iteration on a single-node store
// opened with cfg, once it leads.
func benchmarkWrites(b *testing.B, cfg Config) {
	s, err := Open(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for !s.IsLeader() {
		time.Sleep(10 * time.Millisecond)
	}
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.CreateVN(ctx, "", model.VN{Name: fmt.Sprintf("vn%d", i)}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyLeaderSoleVoter compares the write gate of OVSDB
// transactions on a single-voter store (VerifyLeader, answered without
// Raft's leader loop) with the Raft verification it replaces, both while
// writes keep the leader loop busy with the log's fsyncs, as during a
// burst of attaches.
func BenchmarkVerifyLeaderSoleVoter(b *testing.B) {
	s, err := Open(context.Background(), Config{NodeID: "n1", DataDir: b.TempDir(), Bootstrap: true, RaftAddr: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for !s.IsLeader() {
		time.Sleep(10 * time.Millisecond)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { // the writes
		defer close(done)
		for i := 0; ctx.Err() == nil; i++ {
			_, _ = s.CreateVN(ctx, "", model.VN{Name: fmt.Sprintf("vn%d", i)})
		}
	}()
	b.Run("store", func(b *testing.B) {
		for range b.N {
			if err := s.VerifyLeader(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("raft", func(b *testing.B) {
		for range b.N {
			if err := waitFuture(ctx, s.raft.VerifyLeader()); err != nil {
				b.Fatal(err)
			}
		}
	})
	cancel()
	<-done
}
