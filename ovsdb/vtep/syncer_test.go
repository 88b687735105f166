package vtep

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/store"
)

// TestSyncerFollowsTheStore: with the real store as the source, a vtep NVE
// and its VAP put blue on the VTEP with the hypervisor's port as a remote
// MAC; a port added elsewhere joins the replication list; a learned MAC at
// another NVE becomes a remote MAC; deleting the VTEP's port and NVE takes
// nva's rows off the database.
func TestSyncerFollowsTheStore(t *testing.T) {
	db := startDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := store.Open(ctx, store.Config{NodeID: "n1", InMemory: true, Bootstrap: true, RaftAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	waitFor(t, "leadership", st.IsLeader)
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.CreateVN(ctx, "", model.VN{Name: "blue", VNI: 5001}))
	must(st.CreateNVE(ctx, "", model.NVE{Name: "hv1", UnderlayIPs: []string{"198.18.0.1"}, OVSDB: "unix:/run/hv1.sock"}))
	must(st.CreateNVE(ctx, "", model.NVE{Name: "tor1", Kind: model.NVEVTEP, UnderlayIPs: []string{"198.18.0.9"}, OVSDB: db.endpoint}))
	must(st.CreatePort(ctx, "", model.Port{Name: "vm1", VN: "blue", NVE: "hv1", Interface: "tap1", MAC: "02:00:00:00:00:01", IPs: []string{"10.0.0.1"}}))
	must(st.CreatePort(ctx, "", model.Port{Name: "bm1", VN: "blue", NVE: "tor1", Interface: "p1", VLAN: 100}))

	s := NewSyncer(func() *Manager {
		return NewManager(nil, nil, nil, WithBackoff(10*time.Millisecond, 100*time.Millisecond))
	}, nil, nil)
	s.tick = 50 * time.Millisecond
	if err := s.Start(ctx, st); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = s.Close() }()
	waitFor(t, "blue on the VTEP", func() bool {
		r := db.read()
		return r.bindings["p1"] == "[100=blue]" && slices.Contains(r.ucast, "blue 02:00:00:00:00:01 10.0.0.1 -> 198.18.0.1") &&
			slices.Equal(r.mcast, []string{"blue unknown-dst -> [198.18.0.1]"})
	})
	waitFor(t, "the status", func() bool { o, v := s.Status("tor1"); return o != nil && o.Connected && v != nil && v.InSync })

	must(st.CreateNVE(ctx, "", model.NVE{Name: "hv2", UnderlayIPs: []string{"198.18.0.2"}, OVSDB: "unix:/run/hv2.sock"}))
	must(st.CreatePort(ctx, "", model.Port{Name: "vm2", VN: "blue", NVE: "hv2", Interface: "tap2", MAC: "02:00:00:00:00:02"}))
	must(st.ReportLearned(ctx, model.LearnedReport{NVE: "hv2", At: time.Date(2026, 11, 29, 13, 0, 0, 0, time.UTC),
		MACs: []model.LearnedMAC{{VN: "blue", MAC: "02:00:00:00:0c:01", Via: model.ViaVTEP}}}))
	waitFor(t, "hv2 and the learned MAC on the VTEP", func() bool {
		r := db.read()
		return slices.Equal(r.mcast, []string{"blue unknown-dst -> [198.18.0.1 198.18.0.2]"}) &&
			slices.Contains(r.ucast, "blue 02:00:00:00:00:02  -> 198.18.0.2") &&
			slices.Contains(r.ucast, "blue 02:00:00:00:0c:01  -> 198.18.0.2")
	})

	must(st.DeletePort(ctx, "", "bm1"))
	must(st.DeleteNVE(ctx, "", "tor1"))
	waitFor(t, "nva's rows removed", func() bool {
		r := db.read()
		return r.ls["blue"] == "" && r.bindings["p1"] == "[]" && len(r.mcast) == 0 && len(r.ucast) == 1 // theirs
	})
}
