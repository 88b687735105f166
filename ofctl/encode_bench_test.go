package ofctl

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"antrea.io/libOpenflow/util"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/pipeline"
	"github.com/nva-project/nva/ofctl/codec"
	"github.com/nva-project/nva/ofctl/reconcile"
)

// fullTablePlan is the plan of an initial sync (or cold restart) of one
// switch of the fleet layout: every flow and group added.
func fullTablePlan(tb testing.TB) reconcile.Plan {
	tb.Helper()
	ofports := map[string]uint32{compiler.TunnelPortName(model.EncapVXLAN): 100}
	for j := range 20 {
		ofports[fmt.Sprintf("v%d", j+1)] = uint32(j + 1)
	}
	in := compiler.Input{Snapshot: fleetSnap(20), NVE: "hv0", OFPorts: ofports, Tunnels: map[model.Encap]uint32{model.EncapVXLAN: 100}}
	res, err := compiler.Compile(in, pipeline.OVS())
	if err != nil {
		tb.Fatal(err)
	}
	return reconcile.Diff(res.FlowList(), nil, res.Groups, nil)
}

// encodePlanLibOpenflow is how encodePlan and the connection encoded a
// plan before the direct encoder: libOpenflow messages, each marshalled,
// checked and copied by conn.SendAll. It stays here as the benchmark's
// reference.
func encodePlanLibOpenflow(p reconcile.Plan, prof pipeline.Profile) ([][]byte, error) {
	msgs, err := libOpenflowMessages(p, prof)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(msgs))
	for i, m := range msgs { // conn.encode
		b, err := m.MarshalBinary()
		if err != nil {
			return nil, err
		}
		out[i] = append([]byte(nil), b...)
	}
	return out, nil
}

// libOpenflowMessages is the old encodePlan: libOpenflow messages.
func libOpenflowMessages(p reconcile.Plan, prof pipeline.Profile) ([]util.Message, error) {
	c := codec.New(codec.Options{AllowNicira: prof.Extensions})
	msgs := make([]util.Message, 0, p.Len())
	for _, st := range p.Steps() {
		var m util.Message
		var err error
		switch st.Kind {
		case reconcile.AddGroup:
			m, err = c.EncodeGroupMod(st.Group, codec.GroupAdd)
		case reconcile.ModifyGroup:
			m, err = c.EncodeGroupMod(st.Group, codec.GroupModify)
		case reconcile.DeleteGroup:
			m, err = c.EncodeGroupMod(st.Group, codec.GroupDelete)
		case reconcile.AddFlow, reconcile.ReplaceFlow:
			m, err = c.EncodeFlowMod(st.Flow, prof.Number, codec.FlowAdd)
		case reconcile.ModifyFlow:
			m, err = c.EncodeFlowMod(st.Flow, prof.Number, codec.FlowModifyStrict)
		case reconcile.DeleteFlow:
			m, err = c.EncodeFlowMod(st.Flow, prof.Number, codec.FlowDeleteStrict)
		}
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, m)
	}
	return msgs, nil
}

// TestEncodePlanMatchesLibOpenflow: a full table's plan, and one of
// modifies and deletes, encode to the same messages both ways.
func TestEncodePlanMatchesLibOpenflow(t *testing.T) {
	p := fullTablePlan(t)
	mixed := reconcile.Plan{FlowDeletes: p.FlowAdds[:10], GroupDeletes: p.GroupAdds[:2]}
	for _, g := range p.GroupAdds[2:4] {
		mixed.GroupModifies = append(mixed.GroupModifies, reconcile.GroupModify{New: g})
	}
	for i, f := range p.FlowAdds[10:20] {
		mixed.FlowModifies = append(mixed.FlowModifies, reconcile.FlowModify{New: f, CookieChanged: i%2 == 0})
	}
	s := New(Config{})
	for name, plan := range map[string]reconcile.Plan{"full": p, "mixed": mixed} {
		{
			prof := pipeline.OVS()
			want, err := encodePlanLibOpenflow(plan, prof)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.encodePlan(plan, prof)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) || len(got) != plan.Len() {
				t.Fatalf("%s: %d messages, want %d", name, len(got), len(want))
			}
			for i := range got {
				clear(want[i][4:8])
				if string(got[i]) != string(want[i]) {
					t.Fatalf("%s: message %d\n got %x\nwant %x", name, i, got[i], want[i])
				}
			}
		}
	}
}

// BenchmarkEncodePlan: encoding the plan of one switch's initial sync
// (fleet layout: 816 flow adds, 20 group adds) to wire bytes, through
// libOpenflow as before and with the direct encoder.
func BenchmarkEncodePlan(b *testing.B) {
	p := fullTablePlan(b)
	prof := pipeline.OVS()
	s := New(Config{})
	b.Logf("%d flows, %d groups", len(p.FlowAdds), len(p.GroupAdds))
	b.Run("libopenflow", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := encodePlanLibOpenflow(p, prof); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := s.encodePlan(p, prof); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSendFullTable: the southbound applying the plan of one
// switch's initial sync (fleet layout: every flow and group added) to a
// connected switch (the fake bridge, over a unix socket, which applies
// every mod): encode, send, barrier. Before: libOpenflow messages sent by
// SendAll (which marshals them); now: encodePlan and send (the direct
// encoder, SendAllRaw). The fake bridge's own work is in both.
func BenchmarkSendFullTable(b *testing.B) {
	snap := fleetSnap(20)
	prof := pipeline.OVS()
	ports := map[uint32]string{100: compiler.TunnelPortName(model.EncapVXLAN)}
	for j := range 20 {
		ports[uint32(j+1)] = fmt.Sprintf("v%d", j+1)
	}
	br := newFakeBridge(b, 1, ports)
	sb := New(Config{ListenAddr: "unix:" + filepath.Join(b.TempDir(), "of.sock"), Logger: slog.New(slog.DiscardHandler),
		AuditInterval: -1, RetryInterval: 50 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := sb.Start(ctx, newFakeStore(snap, true)); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = sb.Close() }()
	br.connect(sb.cfg.ListenAddr)
	waitCond(b, 10*time.Second, "hv0 connected", func() bool { return sb.status("hv0").Connected })
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if _, err := sb.WaitRealized(wctx, snap.Revision); err != nil {
		b.Fatal(err)
	}
	sb.mu.Lock()
	w := sb.switches[1]
	sb.mu.Unlock()
	p := fullTablePlan(b)
	if br.flowCount() != len(p.FlowAdds) {
		b.Fatalf("the switch holds %d flows, the plan adds %d", br.flowCount(), len(p.FlowAdds))
	}
	b.Run("libopenflow", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			msgs, err := libOpenflowMessages(p, prof)
			if err != nil {
				b.Fatal(err)
			}
			if err := w.sw.SendAll(msgs); err != nil {
				b.Fatal(err)
			}
			if err := w.sw.Barrier(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			msgs, err := sb.encodePlan(p, prof)
			if err != nil {
				b.Fatal(err)
			}
			if err := sb.send(ctx, w, p, msgs, prof); err != nil {
				b.Fatal(err)
			}
		}
	})
	if br.flowCount() != len(p.FlowAdds) {
		b.Fatalf("the switch holds %d flows after the benchmark, want %d", br.flowCount(), len(p.FlowAdds))
	}
}
