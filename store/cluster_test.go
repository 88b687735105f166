package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nva-project/nva/app/model"
)

// testNode is one in-process cluster member: a store over a real TCP raft
// transport (which serves the member API on the cluster port) and a real
// HTTP listener for its API address, serving InternalHandler too (as a
// test fixture; the daemon never mounts it there).
type testNode struct {
	t        *testing.T
	id       string
	dir      string
	raftAddr string
	apiAddr  string // host:port of the HTTP listener, kept across restarts
	srv      *httptest.Server
	handler  atomic.Pointer[http.Handler]
	s        *Store
	faults   *Faults // optional: raft fault injection shared by the cluster
}

func (n *testNode) url() string { return "http://" + n.apiAddr }

func clusterConfig(t *testing.T, id string) Config {
	cfg := fastConfig(t, id)
	// Short, but not so short that a loaded 2-core CI machine flaps.
	cfg.ApplyTimeout = 4 * time.Second
	cfg.HeartbeatTimeout = 400 * time.Millisecond
	cfg.ElectionTimeout = 400 * time.Millisecond
	cfg.LeaderLeaseTimeout = 200 * time.Millisecond
	// Compact aggressively so a node that was down catches up through an
	// installed snapshot, not only the log.
	cfg.SnapshotThreshold = 8
	cfg.SnapshotInterval = 100 * time.Millisecond
	cfg.TrailingLogs = 4
	return cfg
}

// start (re)starts the node's HTTP listener and store from its data dir.
func (n *testNode) start(bootstrap bool) {
	n.t.Helper()
	addr := n.apiAddr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ { // the old socket may linger briefly
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		n.t.Fatalf("%s: listen %s: %v", n.id, addr, err)
	}
	n.apiAddr = ln.Addr().String()
	n.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := n.handler.Load(); h != nil {
			(*h).ServeHTTP(w, r)
			return
		}
		http.Error(w, "starting", http.StatusServiceUnavailable)
	}))
	n.srv.Listener.Close()
	n.srv.Listener = ln
	n.srv.Start()

	cfg := clusterConfig(n.t, n.id)
	cfg.DataDir, cfg.Bootstrap = n.dir, bootstrap
	cfg.RaftAddr = n.raftAddr
	if cfg.RaftAddr == "" {
		cfg.RaftAddr = "127.0.0.1:0"
	}
	cfg.APIAddr = n.url()
	cfg.OpenFlowAddr = "127.0.0.1:6653"
	cfg.Faults = n.faults
	s, err := Open(context.Background(), cfg)
	if err != nil {
		n.t.Fatalf("%s: open: %v", n.id, err)
	}
	n.s = s
	n.raftAddr = s.RaftAddr()
	h := s.InternalHandler()
	n.handler.Store(&h)
}

// kill stops the store and its HTTP listener.
func (n *testNode) kill() {
	n.t.Helper()
	if n.s == nil {
		return
	}
	n.handler.Store(nil)
	n.srv.CloseClientConnections()
	n.srv.Close()
	if err := n.s.Close(); err != nil {
		n.t.Errorf("%s: close: %v", n.id, err)
	}
	n.s = nil
}

func leaderOf(nodes []*testNode) *testNode {
	for _, n := range nodes {
		if n.s != nil && n.s.IsLeader() {
			return n
		}
	}
	return nil
}

func TestThreeNodeCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test skipped in -short mode")
	}
	ctx := context.Background()
	nodes := make([]*testNode, 3)
	for i := range nodes {
		nodes[i] = &testNode{t: t, id: fmt.Sprintf("n%d", i+1), dir: t.TempDir()}
	}
	t.Cleanup(func() {
		for _, n := range nodes {
			n.kill()
		}
	})
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]

	// n1 bootstraps and records its own metadata once it leads.
	n1.start(true)
	waitFor(t, 10*time.Second, "n1 leadership and metadata", func() bool {
		id, api := n1.s.Leader()
		return id == "n1" && api == n1.url()
	})
	// n2 joins through the leader's Store API; n3 through n2's member API
	// (a follower, which forwards to the leader). Each enters as a
	// non-voter and is promoted once caught up.
	n2.start(false)
	if err := n1.s.Join(ctx, n2.s.Self()); err != nil {
		t.Fatalf("join n2: %v", err)
	}
	n3.start(false)
	waitFor(t, 10*time.Second, "n2 to know the leader", func() bool { _, api := n2.s.Leader(); return api != "" })
	jctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	if err := n3.s.JoinVia(jctx, n2.raftAddr); err != nil {
		t.Fatalf("join n3 via n2: %v", err)
	}
	cancel()
	waitFor(t, 10*time.Second, "a 3-voter cluster with every node reachable", func() bool {
		info, err := n3.s.Cluster(ctx)
		if err != nil || info.Leader == "" || len(info.Nodes) != 3 {
			return false
		}
		for _, n := range info.Nodes {
			if !n.Voter || n.APIAddr == "" || (n.State != "leader" && n.State != "follower") {
				return false
			}
		}
		return true
	})
	// Every member's local metadata read lists all three with addresses.
	for _, n := range nodes {
		waitFor(t, 10*time.Second, n.id+" to apply all node metadata", func() bool {
			ms := n.s.Nodes()
			if len(ms) != 3 {
				return false
			}
			for i, m := range ms {
				if m.ID != nodes[i].id || m.APIAddr != nodes[i].url() || m.RaftAddr != nodes[i].raftAddr || m.OpenFlowAddr == "" {
					return false
				}
			}
			return true
		})
	}
	// Rejoining is idempotent.
	if err := n3.s.Join(ctx, n3.s.Self()); err != nil {
		t.Fatalf("rejoin n3: %v", err)
	}

	// Roles from here on: whoever leads now (leadership may have moved on a
	// loaded machine) and the two followers.
	var lead, fa, fb *testNode
	waitFor(t, 10*time.Second, "a leader", func() bool { lead = leaderOf(nodes); return lead != nil })
	for _, n := range nodes {
		if n == lead {
			continue
		}
		if fa == nil {
			fa = n
		} else {
			fb = n
		}
	}

	// A follower's watch sees the changes made through any node.
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	wsnap, events := fb.s.SnapshotAndWatch(wctx)

	// Writes through a follower are forwarded to the leader.
	var acked []string // VN names acknowledged to a client
	var lastRev uint64
	write := func(via *testNode, name string) {
		t.Helper()
		vn, err := via.s.CreateVN(ctx, "", model.VN{Name: name})
		if err != nil {
			t.Fatalf("create %s via %s: %v", name, via.id, err)
		}
		acked = append(acked, name)
		lastRev = vn.Revision
	}
	for i := range 5 {
		write(fa, fmt.Sprintf("vn-a%d", i))
	}
	// Read your writes: the follower's local view already has them.
	if fa.s.Snapshot().VNs["vn-a4"] == nil {
		t.Fatalf("%s's local snapshot misses the write it just forwarded", fa.id)
	}
	if _, err := fa.s.CreateNVE(ctx, "", testNVE("hv1", "192.0.2.1")); err != nil {
		t.Fatal(err)
	}
	p, err := fb.s.CreatePort(ctx, "", model.Port{Name: "vm1", VN: "vn-a0", NVE: "hv1", Interface: "tap1", MAC: "02:00:00:00:00:01", IPs: []string{"10.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	lastRev = p.Revision
	// Domain errors survive the forward with their kind, field and
	// blocking list.
	_, err = fa.s.CreateVN(ctx, "", model.VN{Name: "vn-a0"})
	if e, ok := model.AsError(err); !ok || e.Kind != model.KindConflict || e.Field != "name" {
		t.Fatalf("duplicate via follower: %v (%#v)", err, e)
	}
	_, err = fb.s.DeleteVN(ctx, "", "vn-a0")
	if e, ok := model.AsError(err); !ok || e.Kind != model.KindConflict || !reflect.DeepEqual(e.Blocking, []string{"vm1"}) {
		t.Fatalf("blocked delete via follower: %v (%#v)", err, e)
	}
	_, err = fa.s.CreatePort(ctx, "", model.Port{Name: "vm2", VN: "nope", NVE: "hv1", Interface: "tap2", MAC: "02:00:00:00:00:02"})
	if e, ok := model.AsError(err); !ok || e.Kind != model.KindReference || e.Field != "vn" {
		t.Fatalf("bad reference via follower: %v (%#v)", err, e)
	}
	// So does a conditional update's revision conflict.
	_, err = fa.s.UpdatePortIf(ctx, "", model.Port{Name: "vm1", VN: "vn-a0", NVE: "hv1", Interface: "tap1", MAC: "02:00:00:00:00:01", VLAN: 9}, p.Revision-1)
	if !IsRevisionConflict(err) {
		t.Fatalf("stale conditional update via follower: %v", err)
	}
	// A retried forwarded write with the same request ID is applied once.
	first, err := fb.s.CreateVN(ctx, "client-req-1", model.VN{Name: "vn-once"})
	if err != nil {
		t.Fatal(err)
	}
	again, err := fa.s.CreateVN(ctx, "client-req-1", model.VN{Name: "vn-once"})
	if err != nil || again.Revision != first.Revision {
		t.Fatalf("retry via another follower: %+v, %v (first at %d)", again, err, first.Revision)
	}
	acked = append(acked, "vn-once")

	// Concurrent writes through every node: all acknowledged, each with its
	// own allocated VNI.
	errs := make(chan error, 3*8)
	for _, n := range nodes {
		for i := range 8 {
			go func() {
				_, err := n.s.CreateVN(ctx, "", model.VN{Name: fmt.Sprintf("vn-c-%s-%d", n.id, i)})
				errs <- err
			}()
		}
	}
	for range 3 * 8 {
		if err := <-errs; err != nil {
			t.Fatalf("concurrent write: %v", err)
		}
	}
	for _, n := range nodes {
		for i := range 8 {
			acked = append(acked, fmt.Sprintf("vn-c-%s-%d", n.id, i))
		}
	}

	// The watch on fb delivered every VN write after its snapshot, in
	// index order.
	seen := map[string]bool{}
	var prev uint64 = wsnap.Revision
	for len(seen) < len(acked) {
		select {
		case ev := <-events:
			if ev.Index <= prev {
				t.Fatalf("watch event %d after %d", ev.Index, prev)
			}
			prev = ev.Index
			if ev.Kind == KindVN && ev.Op == OpPut {
				seen[ev.Name] = true
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("watch on %s saw %d of %d VN writes", fb.id, len(seen), len(acked))
		}
	}
	wcancel()

	// A consistent read on a follower sees every acknowledged write.
	snap, err := fb.s.ConsistentSnapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Revision < lastRev || snap.Ports.Get("vm1") == nil {
		t.Fatalf("consistent read on %s at %d misses writes up to %d", fb.id, snap.Revision, lastRev)
	}
	vnis := map[uint32]string{}
	for _, name := range acked {
		vn := snap.VNs[name]
		if vn == nil {
			t.Fatalf("consistent read on %s misses %s", fb.id, name)
		}
		if other, dup := vnis[vn.VNI]; dup {
			t.Fatalf("%s and %s share VNI %d", name, other, vn.VNI)
		}
		vnis[vn.VNI] = name
	}

	// Kill the leader: a new one is elected and every acknowledged write is
	// readable on every remaining node.
	lead.kill()
	waitFor(t, 10*time.Second, "a new leader", func() bool {
		l := leaderOf(nodes)
		return l != nil && l != lead
	})
	for i := range 20 { // enough to compact the log past what lead has
		write(fa, fmt.Sprintf("vn-b%d", i))
	}
	for _, n := range []*testNode{fa, fb} {
		snap, err := n.s.ConsistentSnapshot(ctx)
		if err != nil {
			t.Fatalf("%s: %v", n.id, err)
		}
		for _, name := range acked {
			if snap.VNs[name] == nil {
				t.Fatalf("%s lost acknowledged write %s", n.id, name)
			}
		}
	}

	// The killed node restarts from its data dir and catches up.
	lead.start(true) // bootstrap is a no-op on existing state
	want, err := fa.s.ConsistentSnapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	catchCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	if err := lead.s.WaitApplied(catchCtx, want.Revision); err != nil {
		t.Fatalf("%s did not catch up: %v", lead.id, err)
	}
	cancel()
	got := lead.s.Snapshot()
	if !reflect.DeepEqual(got.VNs, want.VNs) || !reflect.DeepEqual(got.NVEs, want.NVEs) || !reflect.DeepEqual(got.Ports.Map(), want.Ports.Map()) {
		t.Fatalf("%s state after catch-up differs from the leader's", lead.id)
	}
	// Its request-ID table, log-time clock included, is the one of a node
	// that applied the same log live: every node forgets the same IDs.
	sameDedup(t, lead, fa)
	write(lead, "vn-after-restart") // lead is a follower now, or leads again

	// Two nodes down: no quorum. Keep the current leader alive so that
	// the writes reach a node that was leader a moment ago.
	leader := leaderOf(nodes)
	if leader == nil {
		waitFor(t, 10*time.Second, "a leader", func() bool { return leaderOf(nodes) != nil })
		leader = leaderOf(nodes)
	}
	survivor := leader
	for _, n := range nodes {
		if n != survivor {
			n.kill()
		}
	}
	noQuorumWrite := func(name string) {
		t.Helper()
		start := time.Now()
		_, err := survivor.s.CreateVN(ctx, "", model.VN{Name: name})
		elapsed := time.Since(start)
		if !errors.Is(err, ErrNoLeader) {
			t.Fatalf("write without quorum: %v, want ErrNoLeader", err)
		}
		if limit := survivor.s.cfg.ApplyTimeout + time.Second; elapsed > limit {
			t.Fatalf("write without quorum took %s, more than %s", elapsed, limit)
		}
		if survivor.s.Snapshot().VNs[name] != nil {
			t.Fatal("a write rejected for lack of quorum was applied")
		}
	}
	// Right after the loss the survivor may still believe it leads; the
	// write fails with ErrNoLeader within the timeout. (If it had already
	// reached the log, its outcome is unknown, as in any Raft system: the
	// error says so, and a retry with the same request ID is safe.)
	noQuorumWrite("vn-at-the-loss")
	// Once the loss is known (the leader stepped down), a write changes
	// nothing at all, even after quorum returns.
	waitFor(t, 5*time.Second, "the survivor to step down", func() bool { return !survivor.s.IsLeader() })
	noQuorumWrite("vn-no-quorum")
	if _, err := survivor.s.ConsistentSnapshot(ctx); !errors.Is(err, ErrNoLeader) {
		t.Fatalf("consistent read without quorum: %v, want ErrNoLeader", err)
	}
	var other *testNode
	for _, n := range nodes {
		if n != survivor {
			other = n
			break
		}
	}
	other.start(false)
	waitFor(t, 15*time.Second, "a leader after quorum returns", func() bool { return leaderOf(nodes) != nil })
	snap, err = other.s.ConsistentSnapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if snap.VNs["vn-no-quorum"] != nil {
		t.Fatal("the write rejected without quorum appeared after quorum returned")
	}
	for _, name := range acked {
		if snap.VNs[name] == nil {
			t.Fatalf("acknowledged write %s missing after quorum returned", name)
		}
	}

	// Replace the dead member: it shows as unreachable, then is removed
	// through a follower (forwarded to the leader), and the two remaining
	// voters keep taking writes.
	var dead *testNode
	for _, n := range nodes {
		if n.s == nil {
			dead = n
		}
	}
	info, err := other.s.Cluster(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range info.Nodes {
		if n.ID == dead.id && n.State != "unreachable" {
			t.Fatalf("dead node %s has state %q", n.ID, n.State)
		}
	}
	var follower *testNode
	waitFor(t, 10*time.Second, "a leader and a follower", func() bool {
		l := leaderOf(nodes)
		follower = nil
		for _, n := range []*testNode{survivor, other} {
			if n != l {
				follower = n
			}
		}
		return l != nil && follower != nil
	})
	if err := follower.s.RemoveNode(ctx, dead.id); err != nil {
		t.Fatalf("remove %s via %s: %v", dead.id, follower.id, err)
	}
	info, err = follower.s.Cluster(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Nodes) != 2 {
		t.Fatalf("cluster after removal: %+v", info)
	}
	if _, ok := follower.s.fsm.node(dead.id); ok { // read-your-writes on the follower
		t.Fatal("removed node's metadata is still there")
	}
	if err := follower.s.RemoveNode(ctx, dead.id); !isKind(err, model.KindNotFound) {
		t.Fatalf("removing it again: %v", err)
	}
	write(follower, "vn-two-voters")
}

// sameDedup checks that two nodes at the same applied index hold the same
// request-ID table with the same log times (not zero: the leader's append
// times reached both).
func sameDedup(t *testing.T, a, b *testNode) {
	t.Helper()
	type row struct {
		id, hash string
		at       int64
	}
	read := func(n *testNode) (uint64, int64, []row) {
		n.s.fsm.mu.RLock()
		defer n.s.fsm.mu.RUnlock()
		var rows []row
		for _, e := range n.s.fsm.dedup.entries() {
			rows = append(rows, row{e.ReqID, e.Hash, e.At})
		}
		return n.s.fsm.applied, n.s.fsm.dedup.now, rows
	}
	ai, an, ar := read(a)
	bi, bn, br := read(b)
	if ai != bi {
		t.Fatalf("%s applied %d, %s %d", a.id, ai, b.id, bi)
	}
	if an == 0 || an != bn || len(ar) == 0 || !reflect.DeepEqual(ar, br) {
		t.Fatalf("request-ID tables differ: %s clock %d, %d entries; %s clock %d, %d entries", a.id, an, len(ar), b.id, bn, len(br))
	}
}
