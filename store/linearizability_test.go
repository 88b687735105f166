package store

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/nva-project/nva/app/model"
)

// TestLinearizability runs a randomized history of VN creates, updates,
// deletes and consistent reads from several concurrent clients against a
// 3-node cluster while a nemesis kills the leader (an abrupt Close, then a
// restart from its data dir) and pauses it (raft connections cut with
// Faults, then healed), and checks the history with porcupine against a
// per-VN key-value model. An operation whose outcome the client never
// learned (a timeout, the node closing under it) may or may not have been
// applied: it is recorded with an infinite return time, so the checker may
// place it anywhere after its call, including never.
//
// The short run (~20 s, in `make test`) only kills and pauses the leader.
// NVA_TORTURE=<duration> (make torture) runs it that long and adds network
// partitions: the leader isolated, a follower isolated (the majority keeps
// going), and single links cut (each side still sees the third member).
// NVA_LIN_SEED fixes the seed of the clients' and the nemesis' choices;
// on failure porcupine's visualization of the history is written to
// NVA_LIN_ARTIFACTS (a directory) or a new temporary directory.
//
// Pass/fail does not depend on timing: any schedule must be linearizable,
// and the checker has no deadline.
func TestLinearizability(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test skipped in -short mode")
	}
	duration, torture := 20*time.Second, false
	if v := os.Getenv("NVA_TORTURE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("NVA_TORTURE=%q: want a positive duration such as 5m", v)
		}
		duration, torture = d, true
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("NVA_LIN_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("NVA_LIN_SEED=%q: %v", v, err)
		}
		seed = s
	}
	t.Logf("seed %d (NVA_LIN_SEED=%d reproduces the choices), duration %s, partitions %v", seed, seed, duration, torture)

	c := newLinCluster(t)
	h := &linHistory{start: time.Now()}
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	const clients = 4
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.client(ctx, i, rand.New(rand.NewPCG(seed, uint64(i)+1)), h)
		}()
	}
	stats := c.nemesis(duration, torture, rand.New(rand.NewPCG(seed, 0)))
	stop()
	wg.Wait()

	// Everything healed and every node up: one last consistent read of
	// every key pins the final state, so a write acknowledged and later
	// lost cannot hide behind the end of the history.
	c.healAll()
	var final *model.Snapshot
	waitFor(t, 30*time.Second, "a consistent read after healing", func() bool {
		n := c.nodes[0]
		call := h.now()
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		snap, err := c.store(n).ConsistentSnapshot(cctx)
		if err != nil {
			return false
		}
		h.addRead(clients, call, h.now(), snap)
		final = snap
		return true
	})

	ops := h.operations()
	counts := map[string]int{}
	for _, op := range ops {
		in, out := op.Input.(linInput), op.Output.(linOutput)
		switch {
		case out.Unknown:
			counts[in.Op+" unknown"]++
		case out.OK:
			counts[in.Op+" ok"]++
		default:
			counts[in.Op+" refused"]++
		}
	}
	t.Logf("nemesis: %s", stats)
	t.Logf("history: %d operations (%s); final state has %d of %d keys", len(ops), fmtCounts(counts), countKeys(final), linKeys)
	if counts["create ok"] == 0 || counts["update ok"] == 0 || counts["delete ok"] == 0 || counts["read ok"] == 0 {
		t.Fatalf("the history lacks a kind of successful operation (%s): the workload did not exercise the store", fmtCounts(counts))
	}
	res, info := porcupine.CheckOperationsVerbose(linModel, ops, 0)
	if res != porcupine.Ok {
		// Kept after the test (not t.TempDir): open it in a browser.
		path := "(none: " + os.TempDir() + " not writable)"
		if dir := os.Getenv("NVA_LIN_ARTIFACTS"); dir != "" {
			path = filepath.Join(dir, "linearizability.html")
		} else if dir, err := os.MkdirTemp("", "nva-linearizability-"); err == nil {
			path = filepath.Join(dir, "linearizability.html")
		}
		if f, err := os.Create(path); err == nil {
			if err := porcupine.Visualize(linModel, info, f); err != nil {
				t.Logf("visualization: %v", err)
			}
			f.Close()
		}
		t.Fatalf("history is not linearizable (%s, seed %d); porcupine's visualization: %s", res, seed, path)
	}
}

// linKeys is the number of VN names the clients work on: few enough that
// operations on one name overlap often.
const linKeys = 6

func linKey(i int) string { return fmt.Sprintf("lin-%d", i) }

// linInput is one operation on one VN name. Value is the tenant a create
// or update writes: unique per operation, so a read tells which write it
// sees.
type linInput struct {
	Op    string // create, update, delete, read
	Key   string
	Value string
}

// linOutput is what the client learned. Unknown: the operation may or may
// not have taken effect. OK false is a definite refusal: conflict (create
// of an existing name) or not found (update or delete of an absent one).
// A read reports Present, the tenant and the revision it saw.
type linOutput struct {
	Unknown bool
	OK      bool
	Present bool
	Value   string
	Rev     uint64
}

// linState is one VN name's state in the model; Rev 0 means the revision
// is not known (the write that made the state had an unknown outcome).
type linState struct {
	Present bool
	Value   string
	Rev     uint64
}

var linModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		by := map[string][]porcupine.Operation{}
		for _, op := range history {
			k := op.Input.(linInput).Key
			by[k] = append(by[k], op)
		}
		keys := make([]string, 0, len(by))
		for k := range by {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, by[k])
		}
		return out
	},
	Init: func() any { return linState{} },
	Step: func(state, input, output any) (bool, any) {
		st, in, out := state.(linState), input.(linInput), output.(linOutput)
		switch in.Op {
		case "create":
			switch {
			case out.Unknown:
				if !st.Present {
					return true, linState{Present: true, Value: in.Value}
				}
				return true, st
			case out.OK:
				return !st.Present, linState{Present: true, Value: in.Value, Rev: out.Rev}
			default:
				return st.Present, st
			}
		case "update":
			switch {
			case out.Unknown:
				if st.Present {
					return true, linState{Present: true, Value: in.Value}
				}
				return true, st
			case out.OK:
				return st.Present, linState{Present: true, Value: in.Value, Rev: out.Rev}
			default:
				return !st.Present, st
			}
		case "delete":
			switch {
			case out.Unknown:
				return true, linState{}
			case out.OK:
				return st.Present, linState{}
			default:
				return !st.Present, st
			}
		case "read":
			if out.Present != st.Present {
				return false, st
			}
			if !st.Present {
				return true, st
			}
			if out.Value != st.Value || (st.Rev != 0 && st.Rev != out.Rev) {
				return false, st
			}
			// A read learns the revision a write of unknown outcome got.
			return true, linState{Present: true, Value: st.Value, Rev: out.Rev}
		}
		panic("unknown operation " + in.Op)
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(linInput), output.(linOutput)
		var res string
		switch {
		case out.Unknown:
			res = "unknown"
		case in.Op == "read" && out.Present:
			res = fmt.Sprintf("%s@%d", out.Value, out.Rev)
		case in.Op == "read":
			res = "absent"
		case out.OK:
			res = fmt.Sprintf("ok@%d", out.Rev)
		default:
			res = "refused"
		}
		if in.Op == "create" || in.Op == "update" {
			return fmt.Sprintf("%s(%s, %s) -> %s", in.Op, in.Key, in.Value, res)
		}
		return fmt.Sprintf("%s(%s) -> %s", in.Op, in.Key, res)
	},
	DescribeState: func(state any) string {
		st := state.(linState)
		if !st.Present {
			return "absent"
		}
		return fmt.Sprintf("%s@%d", st.Value, st.Rev)
	},
}

// linHistory records operations with call and return times relative to
// start (monotonic).
type linHistory struct {
	start time.Time
	mu    sync.Mutex
	ops   []porcupine.Operation
}

func (h *linHistory) now() int64 { return int64(time.Since(h.start)) }

func (h *linHistory) add(client int, in linInput, call int64, out linOutput, ret int64) {
	if out.Unknown {
		ret = math.MaxInt64 // may take effect at any time after the call
	}
	h.mu.Lock()
	h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret})
	h.mu.Unlock()
}

// addRead records a consistent snapshot as one read per key (reads of
// different keys are independent, and porcupine checks each key alone).
func (h *linHistory) addRead(client int, call, ret int64, snap *model.Snapshot) {
	for i := range linKeys {
		k := linKey(i)
		out := linOutput{OK: true}
		if vn := snap.VNs[k]; vn != nil {
			out.Present, out.Value, out.Rev = true, vn.Tenant, vn.Revision
		}
		h.add(client, linInput{Op: "read", Key: k}, call, out, ret)
	}
}

func (h *linHistory) operations() []porcupine.Operation {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]porcupine.Operation(nil), h.ops...)
}

// linCluster is three testNodes sharing one Faults, with the lock that
// lets clients pick up a node's current store while the nemesis restarts
// it.
type linCluster struct {
	t      *testing.T
	faults *Faults
	mu     sync.RWMutex // guards every node's s across kill/start
	nodes  []*testNode
}

func newLinCluster(t *testing.T) *linCluster {
	c := &linCluster{t: t, faults: &Faults{}}
	for i := range 3 {
		c.nodes = append(c.nodes, &testNode{t: t, id: fmt.Sprintf("n%d", i+1), dir: t.TempDir(), faults: c.faults})
	}
	t.Cleanup(func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, n := range c.nodes {
			n.kill()
		}
	})
	ctx := context.Background()
	n1 := c.nodes[0]
	n1.start(true)
	waitFor(t, 10*time.Second, "n1 leadership and metadata", func() bool {
		id, api := n1.s.Leader()
		return id == "n1" && api == n1.url()
	})
	for _, n := range c.nodes[1:] {
		n.start(false)
		if err := n1.s.Join(ctx, n.s.Self()); err != nil {
			t.Fatalf("join %s: %v", n.id, err)
		}
	}
	waitFor(t, 15*time.Second, "a 3-voter cluster with every node reachable", func() bool {
		info, err := n1.s.Cluster(ctx)
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
	return c
}

// store is n's current store (nil while it is down).
func (c *linCluster) store(n *testNode) *Store {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return n.s
}

func (c *linCluster) leader() *testNode {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return leaderOf(c.nodes)
}

func (c *linCluster) raftAddrs() []string {
	var out []string
	for _, n := range c.nodes {
		out = append(out, n.raftAddr)
	}
	return out
}

func (c *linCluster) healAll() {
	c.faults.Heal()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.nodes {
		if n.s == nil {
			n.start(false)
		}
	}
}

// client issues random operations through random nodes until ctx ends.
// Each operation gets one request ID and up to two attempts (through two
// nodes): a retry with the same ID applies at most once.
func (c *linCluster) client(ctx context.Context, id int, rng *rand.Rand, h *linHistory) {
	for seq := 0; ctx.Err() == nil; seq++ {
		key := linKey(rng.IntN(linKeys))
		reqID := fmt.Sprintf("lin-c%d-%d", id, seq)
		value := fmt.Sprintf("c%d-%d", id, seq)
		var in linInput
		switch r := rng.IntN(10); {
		case r < 2:
			in = linInput{Op: "create", Key: key, Value: value}
		case r < 5:
			in = linInput{Op: "update", Key: key, Value: value}
		case r < 6:
			in = linInput{Op: "delete", Key: key}
		default:
			in = linInput{Op: "read", Key: key}
		}
		call := h.now()
		var out linOutput
		var snap *model.Snapshot
		for attempt := 0; attempt < 2; attempt++ {
			s := c.store(c.nodes[rng.IntN(len(c.nodes))])
			if s == nil {
				out = linOutput{Unknown: true}
				continue
			}
			// Not ctx: an operation in flight when the workload ends
			// finishes on its own terms.
			octx, cancel := context.WithTimeout(context.Background(), 6*time.Second)
			out, snap = c.do(octx, s, reqID, in)
			cancel()
			if !out.Unknown {
				break
			}
		}
		ret := h.now()
		if in.Op == "read" {
			if snap != nil { // a failed read tells nothing: not recorded
				h.addRead(id, call, ret, snap)
			}
		} else {
			h.add(id, in, call, out, ret)
		}
		time.Sleep(time.Duration(rng.IntN(8)) * time.Millisecond)
	}
}

// do runs one operation on s.
func (c *linCluster) do(ctx context.Context, s *Store, reqID string, in linInput) (linOutput, *model.Snapshot) {
	var rev uint64
	var err error
	switch in.Op {
	case "create":
		var vn *model.VN
		if vn, err = s.CreateVN(ctx, reqID, model.VN{Name: in.Key, Tenant: in.Value}); err == nil {
			rev = vn.Revision
		}
	case "update":
		var vn *model.VN
		if vn, err = s.UpdateVN(ctx, reqID, model.VN{Name: in.Key, Tenant: in.Value}); err == nil {
			rev = vn.Revision
		}
	case "delete":
		rev, err = s.DeleteVN(ctx, reqID, in.Key)
	case "read":
		snap, err := s.ConsistentSnapshot(ctx)
		if err != nil {
			return linOutput{Unknown: true}, nil
		}
		return linOutput{OK: true}, snap
	}
	if err == nil {
		return linOutput{OK: true, Rev: rev}, nil
	}
	if e, ok := model.AsError(err); ok {
		switch {
		case in.Op == "create" && e.Kind == model.KindConflict && e.Field == "name":
			return linOutput{}, nil
		case in.Op != "create" && e.Kind == model.KindNotFound:
			return linOutput{}, nil
		}
		// Any other domain error is a bug in the workload or the store:
		// the inputs are always valid.
		c.t.Errorf("%s %s: unexpected domain error: %v", in.Op, in.Key, err)
	}
	return linOutput{Unknown: true}, nil
}

// nemesisStats counts what the nemesis did.
type nemesisStats map[string]int

func (s nemesisStats) String() string { return fmtCounts(s) }

// nemesis injects faults until d has passed, from the test goroutine (node
// restarts may fail the test). Every fault lasts a random 0.5-2 s, with
// 1-2.5 s of calm between faults so that the cluster elects and clients
// get work done.
func (c *linCluster) nemesis(d time.Duration, partitions bool, rng *rand.Rand) nemesisStats {
	stats := nemesisStats{}
	end := time.Now().Add(d)
	pause := func(lo, hi time.Duration) time.Duration {
		return lo + time.Duration(rng.Int64N(int64(hi-lo)))
	}
	for time.Now().Before(end) {
		time.Sleep(pause(time.Second, 2500*time.Millisecond))
		lead := c.leader()
		actions := []string{"kill leader", "pause leader"}
		if partitions {
			actions = append(actions, "isolate leader", "isolate follower", "cut link", "cut leader link")
		}
		action := actions[rng.IntN(len(actions))]
		if lead == nil && action != "cut link" && action != "isolate follower" {
			stats["no leader to fault"]++
			continue
		}
		hold := pause(500*time.Millisecond, 2*time.Second)
		addrs := c.raftAddrs()
		switch action {
		case "kill leader":
			c.mu.Lock()
			lead.kill()
			c.mu.Unlock()
			time.Sleep(hold)
			c.mu.Lock()
			lead.start(false)
			c.mu.Unlock()
		case "pause leader", "isolate leader":
			// A pause and an isolation look the same from the other
			// members; the difference is only in how long it lasts.
			if action == "pause leader" {
				hold = pause(300*time.Millisecond, time.Second)
			}
			c.faults.Isolate(lead.raftAddr, addrs...)
			time.Sleep(hold)
			c.faults.Heal()
		case "isolate follower":
			f := c.nodes[rng.IntN(len(c.nodes))]
			if f == lead {
				f = c.nodes[(indexOf(c.nodes, f)+1)%len(c.nodes)]
			}
			c.faults.Isolate(f.raftAddr, addrs...)
			time.Sleep(hold)
			c.faults.Heal()
		case "cut link":
			i := rng.IntN(len(addrs))
			c.faults.Cut(addrs[i], addrs[(i+1)%len(addrs)])
			time.Sleep(hold)
			c.faults.Heal()
		case "cut leader link":
			i := indexOf(c.nodes, lead)
			c.faults.Cut(addrs[i], addrs[(i+1+rng.IntN(2))%len(addrs)])
			time.Sleep(hold)
			c.faults.Heal()
		}
		stats[action]++
	}
	return stats
}

func indexOf(nodes []*testNode, n *testNode) int {
	for i, m := range nodes {
		if m == n {
			return i
		}
	}
	return -1
}

func countKeys(s *model.Snapshot) int {
	n := 0
	for i := range linKeys {
		if s != nil && s.VNs[linKey(i)] != nil {
			n++
		}
	}
	return n
}

func fmtCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// TestLinModel checks the model on hand-made histories, so that the
// randomized test's verdict means something: a stale read, a lost
// acknowledged write and a read of a revision other than the write's are
// refused; a write of unknown outcome may have happened or not.
func TestLinModel(t *testing.T) {
	op := func(in linInput, call int64, out linOutput, ret int64) porcupine.Operation {
		if out.Unknown {
			ret = math.MaxInt64
		}
		return porcupine.Operation{Input: in, Call: call, Output: out, Return: ret}
	}
	create := func(v string, call, ret int64, out linOutput) porcupine.Operation {
		return op(linInput{Op: "create", Key: "k", Value: v}, call, out, ret)
	}
	update := func(v string, call, ret int64, out linOutput) porcupine.Operation {
		return op(linInput{Op: "update", Key: "k", Value: v}, call, out, ret)
	}
	read := func(call, ret int64, out linOutput) porcupine.Operation {
		out.OK = true
		return op(linInput{Op: "read", Key: "k"}, call, out, ret)
	}
	ok := func(rev uint64) linOutput { return linOutput{OK: true, Rev: rev} }
	saw := func(v string, rev uint64) linOutput { return linOutput{Present: true, Value: v, Rev: rev} }
	for _, tc := range []struct {
		name string
		ops  []porcupine.Operation
		want bool
	}{
		{"sequential", []porcupine.Operation{create("a", 0, 1, ok(5)), update("b", 2, 3, ok(6)), read(4, 5, saw("b", 6))}, true},
		{"stale read", []porcupine.Operation{create("a", 0, 1, ok(5)), update("b", 2, 3, ok(6)), read(4, 5, saw("a", 5))}, false},
		{"lost write", []porcupine.Operation{create("a", 0, 1, ok(5)), read(2, 3, linOutput{})}, false},
		{"wrong revision", []porcupine.Operation{create("a", 0, 1, ok(5)), read(2, 3, saw("a", 7))}, false},
		{"concurrent read either way", []porcupine.Operation{create("a", 0, 1, ok(5)), update("b", 2, 5, ok(6)), read(3, 4, saw("a", 5))}, true},
		{"refused create of absent", []porcupine.Operation{create("a", 0, 1, linOutput{})}, false},
		{"unknown applied", []porcupine.Operation{create("a", 0, 1, linOutput{Unknown: true}), read(2, 3, saw("a", 9)), read(4, 5, saw("a", 9))}, true},
		{"unknown not applied", []porcupine.Operation{create("a", 0, 1, linOutput{Unknown: true}), read(2, 3, linOutput{})}, true},
		{"unknown revision learned once", []porcupine.Operation{create("a", 0, 1, linOutput{Unknown: true}), read(2, 3, saw("a", 9)), read(4, 5, saw("a", 10))}, false},
	} {
		if got := porcupine.CheckOperations(linModel, tc.ops); got != tc.want {
			t.Errorf("%s: linearizable = %v, want %v", tc.name, got, tc.want)
		}
	}
}
