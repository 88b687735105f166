package store

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/nva-project/nva/app/model"
)

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("NVA_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func fastConfig(t *testing.T, id string) Config {
	return Config{
		NodeID:             id,
		Logger:             testLogger(t).With("test", t.Name()),
		ApplyTimeout:       3 * time.Second,
		HeartbeatTimeout:   100 * time.Millisecond,
		ElectionTimeout:    100 * time.Millisecond,
		LeaderLeaseTimeout: 100 * time.Millisecond,
		CommitTimeout:      5 * time.Millisecond,
	}
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func openMem(t *testing.T) *Store {
	t.Helper()
	cfg := fastConfig(t, "n1")
	cfg.InMemory, cfg.Bootstrap = true, true
	s, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	waitFor(t, 5*time.Second, "leadership", s.IsLeader)
	return s
}

func testNVE(name, ip string) model.NVE {
	return model.NVE{Name: name, UnderlayIPs: []string{ip}, OVSDB: "unix:/run/openvswitch/db.sock"}
}

func TestSingleNodeCRUD(t *testing.T) {
	ctx := context.Background()
	s := openMem(t)
	vn, err := s.CreateVN(ctx, "", model.VN{Name: "blue"})
	if err != nil {
		t.Fatal(err)
	}
	if vn.VNI != 1 || vn.Encap != model.EncapVXLAN || vn.Revision == 0 {
		t.Fatalf("created VN = %+v, want VNI 1, vxlan, a revision", vn)
	}
	nve, err := s.CreateNVE(ctx, "", testNVE("hv1", "192.0.2.1"))
	if err != nil {
		t.Fatal(err)
	}
	if nve.DatapathID != "00004e5600000001" {
		t.Fatalf("datapath id = %q", nve.DatapathID)
	}
	p, err := s.CreatePort(ctx, "", model.Port{Name: "vm1", VN: "blue", NVE: "hv1", Interface: "tap1", MAC: "02:00:00:00:00:01", IPs: []string{"10.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteVN(ctx, "", "blue"); err == nil {
		t.Fatal("deleting a VN with ports succeeded")
	} else if e, ok := model.AsError(err); !ok || e.Kind != model.KindConflict || !reflect.DeepEqual(e.Blocking, []string{"vm1"}) {
		t.Fatalf("delete VN with ports: %v (%#v)", err, e)
	}
	snap := s.Snapshot()
	if snap.Revision != s.AppliedIndex() || snap.Ports.Get("vm1") == nil || snap.Ports.Get("vm1").Revision != p.Revision {
		t.Fatalf("snapshot %+v does not hold the port", snap)
	}
	cs, err := s.ConsistentSnapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cs.Revision < p.Revision {
		t.Fatalf("consistent snapshot at %d, before the write at %d", cs.Revision, p.Revision)
	}
	if _, err := s.DeletePort(ctx, "", "vm1"); err != nil {
		t.Fatal(err)
	}
	idx, err := s.DeleteVN(ctx, "", "blue")
	if err != nil {
		t.Fatal(err)
	}
	if idx <= p.Revision {
		t.Fatalf("delete index %d not after %d", idx, p.Revision)
	}
	if _, ok := s.Snapshot().VNs["blue"]; ok {
		t.Fatal("VN still present after delete")
	}
	if _, err := s.UpdateVN(ctx, "", model.VN{Name: "nope"}); !isKind(err, model.KindNotFound) {
		t.Fatalf("update of missing VN: %v", err)
	}
	var ne *model.Error
	if _, err := s.CreateVN(ctx, "", model.VN{Name: "bad name!"}); !errors.As(err, &ne) || ne.Kind != model.KindInvalid || ne.Field != "name" {
		t.Fatalf("invalid name: %v", err)
	}
}

func isKind(err error, k model.ErrorKind) bool {
	e, ok := model.AsError(err)
	return ok && e.Kind == k
}

func TestNoLeaderTimesOut(t *testing.T) {
	cfg := fastConfig(t, "lonely")
	cfg.InMemory = true // never bootstrapped, never joined: no leader
	cfg.ApplyTimeout = 300 * time.Millisecond
	s, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.CreateVN(context.Background(), "", model.VN{Name: "blue"}); !errors.Is(err, ErrNoLeader) {
		t.Fatalf("write without a leader: %v, want ErrNoLeader", err)
	}
	if _, err := s.ConsistentSnapshot(context.Background()); !errors.Is(err, ErrNoLeader) {
		t.Fatalf("consistent read without a leader: %v, want ErrNoLeader", err)
	}
	// The caller's own cancellation is reported as such, not as no leader.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.CreateVN(ctx, "", model.VN{Name: "blue"}); !errors.Is(err, context.Canceled) || errors.Is(err, ErrNoLeader) {
		t.Fatalf("canceled write: %v", err)
	}
	// Stateless validation fails fast, without needing a leader.
	if _, err := s.CreateVN(context.Background(), "", model.VN{Name: ""}); !isKind(err, model.KindInvalid) {
		t.Fatalf("invalid write: %v", err)
	}
}

func TestStoreWatch(t *testing.T) {
	ctx := context.Background()
	s := openMem(t)
	if _, err := s.CreateVN(ctx, "", model.VN{Name: "blue"}); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	snap, events := s.SnapshotAndWatch(wctx)
	if snap.VNs["blue"] == nil {
		t.Fatalf("watch snapshot misses blue: %+v", snap)
	}
	red, err := s.CreateVN(ctx, "", model.VN{Name: "red"})
	if err != nil {
		t.Fatal(err)
	}
	var ev Event
	for ev = range events {
		if ev.Kind == KindVN {
			break
		}
	}
	if ev.Index <= snap.Revision || ev.Index != red.Revision || ev.New.(*model.VN).Name != "red" {
		t.Fatalf("event %+v after snapshot %d, want red at %d", ev, snap.Revision, red.Revision)
	}
	cancel()
	for range events { // drains, then sees the close
	}
	_, events2 := s.SnapshotAndWatch(ctx)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for range events2 {
	}
}

func TestDiskRestartRecoversState(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	open := func() *Store {
		cfg := fastConfig(t, "n1")
		cfg.DataDir, cfg.RaftAddr, cfg.Bootstrap = dir, "127.0.0.1:0", true
		cfg.APIAddr = "http://127.0.0.1:1"
		s, err := Open(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "leadership", s.IsLeader)
		return s
	}
	s := open()
	if _, err := s.CreateVN(ctx, "", model.VN{Name: "blue", VNI: 42}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateNVE(ctx, "", testNVE("hv1", "192.0.2.1")); err != nil {
		t.Fatal(err)
	}
	// Part of the state goes into a snapshot, the rest stays in the log.
	if err := s.raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreatePort(ctx, "retry-me", model.Port{Name: "vm1", VN: "blue", NVE: "hv1", Interface: "tap1", MAC: "02:00:00:00:00:01"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "own node metadata", func() bool { _, ok := s.fsm.node("n1"); return ok })
	want := s.Snapshot()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open() // Bootstrap again is a no-op on existing state
	defer s.Close()
	if err := s.WaitApplied(ctx, want.Revision); err != nil {
		t.Fatal(err)
	}
	got := s.Snapshot()
	if !reflect.DeepEqual(got.VNs, want.VNs) || !reflect.DeepEqual(got.NVEs, want.NVEs) || !reflect.DeepEqual(got.Ports.Map(), want.Ports.Map()) {
		t.Fatalf("recovered state differs:\n got %+v\nwant %+v", got, want)
	}
	if _, ok := s.fsm.node("n1"); !ok {
		t.Fatal("node metadata not recovered")
	}
	// The request-ID table was recovered too.
	p, err := s.CreatePort(ctx, "retry-me", model.Port{Name: "vm1", VN: "blue", NVE: "hv1", Interface: "tap1", MAC: "02:00:00:00:00:01"})
	if err != nil || p.Revision != want.Ports.Get("vm1").Revision {
		t.Fatalf("retried write after restart: %+v, %v", p, err)
	}
	if _, err := s.CreateVN(ctx, "", model.VN{Name: "red"}); err != nil {
		t.Fatalf("write after restart: %v", err)
	}
	info, err := s.Cluster(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Leader != "n1" || len(info.Nodes) != 1 || info.Nodes[0].State != "leader" || !info.Nodes[0].Voter || info.Nodes[0].APIAddr != "http://127.0.0.1:1" {
		t.Fatalf("cluster %+v", info)
	}
}

func TestOpenRejectsBadConfig(t *testing.T) {
	ctx := context.Background()
	for name, cfg := range map[string]Config{
		"no node id":            {InMemory: true},
		"no data dir":           {NodeID: "n1"},
		"bad raft address":      {NodeID: "n1", DataDir: t.TempDir(), RaftAddr: "not-an-address"},
		"unspecified host":      {NodeID: "n1", InMemory: true, RaftAddr: "0.0.0.0:0"},
		"data dir under a file": {NodeID: "n1", DataDir: "/dev/null/x", RaftAddr: "127.0.0.1:0"},
	} {
		t.Run(name, func(t *testing.T) {
			s, err := Open(ctx, cfg)
			if err == nil {
				s.Close()
				t.Fatal("Open accepted the config")
			}
		})
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Open(canceled, Config{NodeID: "n1", InMemory: true}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Open with a canceled context: %v", err)
	}
}

func TestConditionalUpdates(t *testing.T) {
	ctx := context.Background()
	s := openMem(t)
	vn, err := s.CreateVN(ctx, "", model.VN{Name: "blue"})
	if err != nil {
		t.Fatal(err)
	}
	nve, err := s.CreateNVE(ctx, "", testNVE("hv1", "192.0.2.1"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.CreatePort(ctx, "", model.Port{Name: "vm1", VN: "blue", NVE: "hv1", Interface: "tap1", MAC: "02:00:00:00:00:01"})
	if err != nil {
		t.Fatal(err)
	}

	// At the revision read: applied.
	v2, err := s.UpdateVNIf(ctx, "", model.VN{Name: "blue", MTU: 1400}, vn.Revision)
	if err != nil || v2.MTU != 1400 || v2.Revision <= vn.Revision {
		t.Fatalf("UpdateVNIf at the current revision: %+v, %v", v2, err)
	}
	// At the old revision again: the object changed, so a conflict on
	// "revision" and nothing changes.
	if _, err := s.UpdateVNIf(ctx, "", model.VN{Name: "blue", Tenant: "acme"}, vn.Revision); !IsRevisionConflict(err) {
		t.Fatalf("UpdateVNIf at a stale revision: %v", err)
	} else if e, _ := model.AsError(err); e.Kind != model.KindConflict || e.Field != "revision" {
		t.Fatalf("stale update error %#v", e)
	}
	if got := s.Snapshot().VNs["blue"]; got.Tenant != "" || got.Revision != v2.Revision {
		t.Fatalf("a rejected update changed blue: %+v", got)
	}
	// UpdateVN stays unconditional.
	if _, err := s.UpdateVN(ctx, "", model.VN{Name: "blue", Tenant: "acme"}); err != nil {
		t.Fatal(err)
	}

	if _, err := s.UpdateNVEIf(ctx, "", testNVE("hv1", "192.0.2.11"), nve.Revision+1000); !IsRevisionConflict(err) {
		t.Fatalf("UpdateNVEIf at a wrong revision: %v", err)
	}
	if n, err := s.UpdateNVEIf(ctx, "", testNVE("hv1", "192.0.2.11"), nve.Revision); err != nil || n.UnderlayIPs[0] != "192.0.2.11" {
		t.Fatalf("UpdateNVEIf: %+v, %v", n, err)
	}
	moved := *p
	moved.VLAN = 7
	if _, err := s.UpdatePortIf(ctx, "", moved, p.Revision-1); !IsRevisionConflict(err) {
		t.Fatalf("UpdatePortIf at a stale revision: %v", err)
	}
	if s.Snapshot().Ports.Get("vm1").VLAN != 0 {
		t.Fatal("a rejected port update changed vm1")
	}
	if got, err := s.UpdatePortIf(ctx, "", moved, p.Revision); err != nil || got.VLAN != 7 {
		t.Fatalf("UpdatePortIf: %+v, %v", got, err)
	}
	// Other errors are not revision conflicts.
	if _, err := s.UpdatePortIf(ctx, "", model.Port{Name: "vm9", VN: "blue", NVE: "hv1", Interface: "tap9", MAC: "02:00:00:00:00:09"}, 1); IsRevisionConflict(err) || !isKind(err, model.KindNotFound) {
		t.Fatalf("UpdatePortIf of a missing port: %v", err)
	}
	if IsRevisionConflict(nil) || IsRevisionConflict(errors.New("revision")) {
		t.Fatal("IsRevisionConflict accepts a non-conflict")
	}
}

// TestLeaderRejectsEarly: once the leader's state holds every
// acknowledged write, a command its state already refuses is answered
// without a log entry; a retry of an applied request still goes through
// the log and gets its first result.
func TestLeaderRejectsEarly(t *testing.T) {
	ctx := context.Background()
	s := openMem(t)
	waitFor(t, 5*time.Second, "the leader's state to be current", s.stateCurrent)
	first, err := s.CreateVN(ctx, "req-blue", model.VN{Name: "blue"})
	if err != nil {
		t.Fatal(err)
	}
	last := s.raft.LastIndex()
	if _, err := s.CreateVN(ctx, "", model.VN{Name: "blue"}); !isKind(err, model.KindConflict) {
		t.Fatalf("duplicate: %v", err)
	}
	if _, err := s.UpdateVNIf(ctx, "", model.VN{Name: "blue", MTU: 1400}, first.Revision+1); !IsRevisionConflict(err) {
		t.Fatalf("stale update: %v", err)
	}
	if _, err := s.DeletePort(ctx, "", "nope"); !isKind(err, model.KindNotFound) {
		t.Fatalf("delete of a missing port: %v", err)
	}
	if got := s.raft.LastIndex(); got != last {
		t.Fatalf("rejected writes reached the log: last index %d, was %d", got, last)
	}
	again, err := s.CreateVN(ctx, "req-blue", model.VN{Name: "blue"})
	if err != nil || again.Revision != first.Revision {
		t.Fatalf("retry: %+v, %v (first at %d)", again, err, first.Revision)
	}
}

// TestBusyLeaderTimesOut: a write this node, the leader all along, could
// not commit in time is a timeout (the cluster is busy), not "no leader".
func TestBusyLeaderTimesOut(t *testing.T) {
	cfg := fastConfig(t, "n1")
	cfg.InMemory, cfg.Bootstrap = true, true
	s, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	waitFor(t, 5*time.Second, "leadership", s.IsLeader)
	// Far too little time to commit anything: as if the cluster were busy.
	// (The caller's deadline, not a changed Config.ApplyTimeout: the
	// leader loop reads the config concurrently.)
	ctx, cancel := context.WithTimeout(context.Background(), time.Microsecond)
	defer cancel()
	_, err = s.CreateVN(ctx, "", model.VN{Name: "blue"})
	if !IsTimeout(err) || IsNoLeader(err) || !s.IsLeader() {
		t.Fatalf("busy leader's write: %v (timeout %v, no leader %v, leader %v)", err, IsTimeout(err), IsNoLeader(err), s.IsLeader())
	}
}

// TestSingleVoterElectsItselfAtOnce: a node that is the only voter of its
// configuration does not wait a heartbeat timeout before its election, on
// bootstrap and on a restart. The timeouts are an hour here, so raft's own
// timers would not elect it during the test; the heartbeat timeout is
// back to its configured value afterwards.
func TestSingleVoterElectsItselfAtOnce(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	open := func() *Store {
		cfg := fastConfig(t, "n1")
		cfg.DataDir, cfg.RaftAddr, cfg.Bootstrap = dir, "127.0.0.1:0", true
		cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = time.Hour, time.Hour, 500*time.Millisecond
		s, err := Open(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "leadership", s.IsLeader)
		if got := s.raft.ReloadableConfig().HeartbeatTimeout; got != time.Hour {
			t.Fatalf("heartbeat timeout %s after the election, want the configured 1h", got)
		}
		return s
	}
	s := open()
	if _, err := s.CreateVN(ctx, "", model.VN{Name: "blue", VNI: 42}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open() // a restart of the single-node cluster
	defer s.Close()
	if err := s.WaitApplied(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Snapshot().VNs["blue"]; !ok {
		t.Fatal("VN blue not recovered")
	}
}
