package store

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/nva-project/nva/app/model"
)

// fleetCommands are the commands that write the issue-12 fleet of n
// NVEs: n VNs and n NVEs one by one, then 20 ports per NVE (VN j spans
// NVEs j..j+9) in batches of 2,000, as an orchestrator would.
func fleetCommands(n int) []command {
	var out []command
	for i := 0; i < n; i++ {
		out = append(out, &createNVE{Obj: model.NVE{Name: fmt.Sprintf("hv%04d", i), UnderlayIPs: []string{fmt.Sprintf("10.0.%d.%d", i>>8, i&255)}, OVSDB: "unix:/run/db.sock"}},
			&createVN{Obj: model.VN{Name: fmt.Sprintf("vn%04d", i)}})
	}
	var ops []batchItem
	for i := 0; i < n; i++ {
		for k := 0; k < 10; k++ {
			for j := 0; j < 2; j++ {
				host := fmt.Sprintf("hv%04d", (i+k)%n)
				name := fmt.Sprintf("vn%04d-%s-%d", i, host, j)
				m := i*20 + k*2 + j
				ops = append(ops, &createPort{Obj: model.Port{Name: name, VN: fmt.Sprintf("vn%04d", i), NVE: host,
					Interface: "t" + name, MAC: fmt.Sprintf("02:00:00:%02x:%02x:%02x", byte(m>>16), byte(m>>8), byte(m))}})
			}
		}
		if len(ops) >= 2000 {
			out = append(out, &batchCmd{Items: ops})
			ops = nil
		}
	}
	if len(ops) > 0 {
		out = append(out, &batchCmd{Items: ops})
	}
	return out
}

// bigFSM is an FSM holding the issue-12 fleet at 1,000 NVEs: 1,000 VNs,
// 1,000 NVEs and 20,000 ports (20 per NVE; VN j spans NVEs j..j+9).
func bigFSM(b *testing.B) (f *fsm, idx uint64) {
	b.Helper()
	f = newFSM(nil, DedupPolicy{})
	apply := func(c command) {
		idx++
		data, err := encodeCommand(c)
		if err != nil {
			b.Fatal(err)
		}
		if r, ok := f.Apply(&raft.Log{Index: idx, Data: data}).(*result); !ok || r.Err != nil {
			b.Fatalf("apply: %+v", r)
		}
	}
	const n = 1000
	for _, c := range fleetCommands(n) {
		apply(c)
	}
	if got := f.snapshot().Ports.Len(); got != 20*n {
		b.Fatalf("%d ports", got)
	}
	return f, idx
}

// BenchmarkWrite20kPorts measures one port update on a store holding
// 20,000 ports, as a node pays for it: the FSM applies the command, then
// the consumers read the new snapshot and ask its index (the southbound,
// OVSDB sync and the events stream all do after every change).
func BenchmarkWrite20kPorts(b *testing.B) {
	f, idx := bigFSM(b)
	const name = "vn0000-hv0000-0"
	base := *f.snapshot().Ports.Get(name)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p := base
		p.Revision = 0
		p.Interface = fmt.Sprintf("if%d", i)
		idx++
		data, err := encodeCommand(&updatePort{Obj: p})
		if err != nil {
			b.Fatal(err)
		}
		if r, ok := f.Apply(&raft.Log{Index: idx, Data: data}).(*result); !ok || r.Err != nil {
			b.Fatalf("apply: %+v", r)
		}
		s := f.snapshot()
		if len(s.PortsOn("hv0000")) != 20 {
			b.Fatal("index")
		}
	}
}

// memSink is a raft.SnapshotSink in memory.
type memSink struct{ bytes.Buffer }

func (*memSink) ID() string    { return "bench" }
func (*memSink) Cancel() error { return nil }
func (*memSink) Close() error  { return nil }

// BenchmarkStartup compares the two ways a restarted node gets the
// 1,000-NVE fleet's state back: replaying its log (the commands as they
// were written: 2,000 creates and ten 2,000-port batches) or restoring a
// snapshot of it.
func BenchmarkStartup(b *testing.B) {
	var logs [][]byte
	f := newFSM(nil, DedupPolicy{})
	rec := func(c command) {
		data, err := encodeCommand(c)
		if err != nil {
			b.Fatal(err)
		}
		logs = append(logs, data)
		if r, ok := f.Apply(&raft.Log{Index: uint64(len(logs)), Data: data}).(*result); !ok || r.Err != nil {
			b.Fatalf("apply: %+v", r)
		}
	}
	const n = 1000
	for _, c := range fleetCommands(n) {
		rec(c)
	}
	snap, err := f.Snapshot()
	if err != nil {
		b.Fatal(err)
	}
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		b.Fatal(err)
	}
	image := sink.Bytes()
	b.Run("replay", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			g := newFSM(nil, DedupPolicy{})
			for k, data := range logs {
				if r, ok := g.Apply(&raft.Log{Index: uint64(k + 1), Data: data}).(*result); !ok || r.Err != nil {
					b.Fatalf("apply: %+v", r)
				}
			}
			if g.snapshot().Ports.Len() != 20*n {
				b.Fatal("ports")
			}
		}
	})
	b.Run("restore", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(image)))
		for i := 0; i < b.N; i++ {
			g := newFSM(nil, DedupPolicy{})
			if err := g.Restore(io.NopCloser(bytes.NewReader(image))); err != nil {
				b.Fatal(err)
			}
			if g.snapshot().Ports.Len() != 20*n {
				b.Fatal("ports")
			}
		}
	})
}
