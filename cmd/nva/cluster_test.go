package main

// End-to-end tests of the nva binary: a real three-node cluster of nva
// processes started with the documented flags and driven only through the
// REST API (forwarded writes, leader kill, restart and catch-up, loss of
// quorum), graceful SIGTERM shutdown, and the embedded single-node default
// (`nva` with no flags).

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs nva processes; skipped with -short")
	}
	bin := buildNVA(t)
	t.Run("ThreeNodes", func(t *testing.T) { testThreeNodes(t, bin) })
	t.Run("SIGTERM", func(t *testing.T) { testGracefulShutdown(t, bin) })
	t.Run("EmbeddedDefault", func(t *testing.T) { testEmbeddedDefault(t, bin) })
	t.Run("TLS", func(t *testing.T) { testTLSCluster(t, bin) })
}

// node is one member of the test cluster.
type node struct {
	id                      string
	api, raft, openflow     string // host:port
	dataDir, logPath        string
	bootstrapped, joinedVia string // how it was first started
	p                       *proc
	tlsArgs                 []string // --tls-* flags of a TLS cluster (tls_cluster_test.go)
}

func (n *node) url() string {
	if n.tlsArgs != nil {
		return "https://" + n.api
	}
	return "http://" + n.api
}

// baseArgs are the documented per-node flags, without --bootstrap/--join.
// The OpenFlow address is advertised in the ovs-vsctl set-controller form
// (tcp:HOST:PORT), which the members record through the join API.
func (n *node) baseArgs() []string {
	return append([]string{"--node-id", n.id, "--data-dir", n.dataDir, "--api-addr", n.api,
		"--raft-addr", n.raft, "--openflow-addr", n.openflow, "--openflow-advertise", n.openflowTarget()}, n.tlsArgs...)
}

func (n *node) openflowTarget() string {
	if len(n.tlsArgs) > 0 {
		return "ssl:" + n.openflow // a node with a TLS identity speaks TLS to its switches
	}
	return "tcp:" + n.openflow
}

// ackedWrite is a write the API acknowledged with 201 and the object it
// returned.
type ackedWrite struct {
	coll, name string
	obj        map[string]any
}

type cluster struct {
	t     *testing.T
	bin   string
	dir   string
	c     *client
	nodes []*node
	acked []ackedWrite
}

func newCluster(t *testing.T, bin string, size int) *cluster {
	dir := t.TempDir()
	dumpLogsOnFailure(t, dir)
	tc := &cluster{t: t, bin: bin, dir: dir, c: newClient()}
	ports := freePorts(t, 3*size)
	for i := range size {
		id := fmt.Sprintf("n%d", i+1)
		tc.nodes = append(tc.nodes, &node{
			id:       id,
			api:      net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[3*i])),
			raft:     net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[3*i+1])),
			openflow: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[3*i+2])),
			dataDir:  filepath.Join(dir, id),
			logPath:  filepath.Join(dir, id+".log"),
		})
	}
	return tc
}

func (tc *cluster) start(n *node, args ...string) {
	tc.t.Helper()
	if n.p != nil && !n.p.exited() {
		tc.t.Fatalf("%s is already running", n.id)
	}
	n.p = startProc(tc.t, tc.bin, "", n.logPath, args...)
}

func (tc *cluster) kill(n *node) {
	tc.t.Helper()
	n.p.kill(tc.t)
	if code := n.p.cmd.ProcessState.ExitCode(); code != -1 {
		tc.t.Fatalf("%s exited with code %d before it was killed", n.id, code)
	}
}

func (tc *cluster) byID(id string) *node {
	for _, n := range tc.nodes {
		if n.id == id {
			return n
		}
	}
	return nil
}

// waitView polls /api/v1/cluster on every node in live until all of them
// report every node of the cluster as a voter with its addresses, agree on a
// leader among live, report the live members' states (leader/follower) and
// the down members as unreachable. It returns the leader.
func (tc *cluster) waitView(timeout time.Duration, live, down []*node) *node {
	tc.t.Helper()
	var leader *node
	what := fmt.Sprintf("cluster view with live %v and down %v", ids(live), ids(down))
	eventually(tc.t, timeout, what, func() error {
		leader = nil
		for _, n := range live {
			cv, err := tc.c.cluster(n.url())
			if err != nil {
				return fmt.Errorf("%s: %v", n.id, err)
			}
			l := tc.byID(cv.Leader)
			if l == nil || !slices.Contains(live, l) {
				return fmt.Errorf("%s reports leader %q (term %d)", n.id, cv.Leader, cv.Term)
			}
			if leader != nil && leader != l {
				return fmt.Errorf("%s reports leader %s, another node %s", n.id, l.id, leader.id)
			}
			leader = l
			if len(cv.Nodes) != len(tc.nodes) {
				return fmt.Errorf("%s reports %d nodes: %+v", n.id, len(cv.Nodes), cv.Nodes)
			}
			leaders := 0
			for _, m := range cv.Nodes {
				want := tc.byID(m.ID)
				if want == nil {
					return fmt.Errorf("%s reports unknown node %q", n.id, m.ID)
				}
				if !m.Voter || m.RaftAddr != want.raft || m.APIAddr != want.url() || m.OpenFlowAddr != want.openflowTarget() {
					return fmt.Errorf("%s reports %s as %+v; want a voter with raft %s, api %s and openflow %s", n.id, m.ID, m, want.raft, want.url(), want.openflowTarget())
				}
				wantState := "follower"
				switch {
				case slices.Contains(down, want):
					wantState = "unreachable"
				case want == l:
					wantState = "leader"
				}
				if m.State != wantState {
					return fmt.Errorf("%s reports %s in state %q, want %q", n.id, m.ID, m.State, wantState)
				}
				if m.Leader {
					leaders++
					if m.ID != l.id {
						return fmt.Errorf("%s flags %s as leader, but leader is %s", n.id, m.ID, l.id)
					}
				}
			}
			if leaders != 1 {
				return fmt.Errorf("%s flags %d nodes as leader", n.id, leaders)
			}
		}
		return nil
	})
	return leader
}

func ids(ns []*node) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.id)
	}
	return out
}

// create POSTs body to /api/v1/<coll> on via, requires 201 and records the
// acknowledged object.
func (tc *cluster) create(via *node, coll, body string) map[string]any {
	tc.t.Helper()
	r, err := tc.c.do("POST", via.url()+"/api/v1/"+coll, body)
	if err != nil {
		tc.t.Fatalf("POST /api/v1/%s on %s: %v", coll, via.id, err)
	}
	if r.status != http.StatusCreated {
		tc.t.Fatalf("POST /api/v1/%s %s on %s: %s", coll, body, via.id, r)
	}
	obj, err := r.object()
	if err != nil {
		tc.t.Fatal(err)
	}
	name, _ := obj["name"].(string)
	if name == "" {
		tc.t.Fatalf("created object has no name: %s", r.body)
	}
	if rev, _ := obj["revision"].(float64); rev <= 0 || r.header.Get("X-Revision") != strconv.FormatUint(uint64(rev), 10) {
		tc.t.Fatalf("created %s/%s: revision %v, X-Revision %q", coll, name, obj["revision"], r.header.Get("X-Revision"))
	}
	tc.acked = append(tc.acked, ackedWrite{coll: coll, name: name, obj: obj})
	return obj
}

// createRetrying POSTs body on via with the idempotency key reqID,
// retrying while the answer is 503 (no leader yet), and records the
// acknowledged object. It then replays the same request on replay: the
// answer must be the first result (201, same object), not a conflict.
func (tc *cluster) createRetrying(via, replay *node, coll, body, reqID string) {
	tc.t.Helper()
	var r response
	attempts := 0
	eventually(tc.t, 30*time.Second, "write with retries during failover", func() error {
		var err error
		attempts++
		r, err = tc.c.do("POST", via.url()+"/api/v1/"+coll, body, "X-Request-ID", reqID)
		if err != nil {
			return err
		}
		if r.status == http.StatusServiceUnavailable {
			if r.header.Get("Retry-After") == "" {
				tc.t.Errorf("503 without Retry-After: %s", r)
			}
			return fmt.Errorf("%s", r)
		}
		return nil
	})
	tc.t.Logf("write during failover through %s: %d attempt(s), %s", via.id, attempts, r)
	if r.status != http.StatusCreated || r.header.Get("X-Request-ID") != reqID {
		tc.t.Fatalf("write during failover through %s: %s (X-Request-ID %q)", via.id, r, r.header.Get("X-Request-ID"))
	}
	obj, err := r.object()
	if err != nil {
		tc.t.Fatal(err)
	}
	name, _ := obj["name"].(string)
	tc.acked = append(tc.acked, ackedWrite{coll: coll, name: name, obj: obj})

	again, err := tc.c.do("POST", replay.url()+"/api/v1/"+coll, body, "X-Request-ID", reqID)
	if err != nil {
		tc.t.Fatal(err)
	}
	if again.status != http.StatusCreated {
		tc.t.Fatalf("replay of request %s through %s: %s, want the first result (201)", reqID, replay.id, again)
	}
	aobj, err := again.object()
	if err != nil {
		tc.t.Fatal(err)
	}
	if !reflect.DeepEqual(stored(aobj), stored(obj)) {
		tc.t.Fatalf("replay of request %s answered %v, first answer %v", reqID, aobj, obj)
	}
}

// stored drops what is not stored state (the southbound's live status).
func stored(obj map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range obj {
		if k != "status" {
			out[k] = v
		}
	}
	return out
}

// verify checks that n serves every acknowledged write exactly as it was
// acknowledged, and no other object, with plain or consistent reads.
func (tc *cluster) verify(n *node, consistent bool) error {
	q := ""
	if consistent {
		q = "?consistent=true"
	}
	for _, coll := range []string{"vns", "nves", "ports"} {
		r, err := tc.c.do("GET", n.url()+"/api/v1/"+coll+q, "")
		if err != nil {
			return fmt.Errorf("%s: GET %s%s: %v", n.id, coll, q, err)
		}
		if r.status != http.StatusOK {
			return fmt.Errorf("%s: GET %s%s: %s", n.id, coll, q, r)
		}
		var list struct {
			Items []map[string]any `json:"items"`
		}
		if err := json.Unmarshal(r.body, &list); err != nil {
			return fmt.Errorf("%s: GET %s%s: %v: %s", n.id, coll, q, err, r.body)
		}
		var got, want []string
		for _, it := range list.Items {
			name, _ := it["name"].(string)
			got = append(got, name)
		}
		for _, w := range tc.acked {
			if w.coll == coll {
				want = append(want, w.name)
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			return fmt.Errorf("%s: GET %s%s lists %v, want %v", n.id, coll, q, got, want)
		}
	}
	for _, w := range tc.acked {
		path := "/api/v1/" + w.coll + "/" + w.name
		r, err := tc.c.do("GET", n.url()+path+q, "")
		if err != nil {
			return fmt.Errorf("%s: GET %s%s: %v", n.id, path, q, err)
		}
		if r.status != http.StatusOK {
			return fmt.Errorf("%s: GET %s%s: %s", n.id, path, q, r)
		}
		obj, err := r.object()
		if err != nil {
			return fmt.Errorf("%s: GET %s%s: %v", n.id, path, q, err)
		}
		if !reflect.DeepEqual(stored(obj), stored(w.obj)) {
			return fmt.Errorf("%s: GET %s%s = %v, acknowledged %v", n.id, path, q, stored(obj), stored(w.obj))
		}
	}
	return nil
}

func (tc *cluster) mustVerify(n *node, consistent bool) {
	tc.t.Helper()
	if err := tc.verify(n, consistent); err != nil {
		tc.t.Fatal(err)
	}
}

// others returns the nodes other than the given ones.
func (tc *cluster) others(not ...*node) []*node {
	var out []*node
	for _, n := range tc.nodes {
		if !slices.Contains(not, n) {
			out = append(out, n)
		}
	}
	return out
}

func testThreeNodes(t *testing.T, bin string) {
	sw := newStopwatch(t)
	tc := newCluster(t, bin, 3)
	n1, n2, n3 := tc.nodes[0], tc.nodes[1], tc.nodes[2]

	// Start the cluster exactly as README "Running a cluster" says.
	tc.start(n1, append(n1.baseArgs(), "--bootstrap")...)
	eventually(t, 20*time.Second, "n1 healthy", func() error {
		h, r, err := tc.c.health(n1.url())
		if err != nil {
			return err
		}
		if r.status != http.StatusOK || !h.IsLeader || h.NodeID != "n1" {
			return fmt.Errorf("health %s", r)
		}
		return nil
	})
	for _, n := range []*node{n2, n3} {
		tc.start(n, append(n.baseArgs(), "--join", n1.url())...)
	}
	leader := tc.waitView(30*time.Second, tc.nodes, nil)
	sw.lap("1. three nodes up, one leader")

	// 2. Writes through the leader and through both followers.
	fs := tc.others(leader)
	f1, f2 := fs[0], fs[1]
	if v := tc.create(leader, "vns", `{"name":"blue"}`); v["vni"].(float64) < 1 {
		t.Fatalf("no VNI allocated: %v", v)
	}
	tc.create(f1, "vns", `{"name":"red","vni":5001,"encap":"geneve","tenant":"acme"}`)
	tc.create(f2, "vns", `{"name":"green","service":"l2l3","mtu":1450}`)
	for i, via := range []*node{f1, f2, leader} {
		nve := tc.create(via, "nves", fmt.Sprintf(`{"name":"hv%d","underlay_ips":["198.18.0.%d"],"ovsdb":"unix:%s","datapath_type":"netdev"}`,
			i+1, i+1, filepath.Join(tc.dir, fmt.Sprintf("hv%d-absent.sock", i+1))))
		if d, _ := nve["datapath_id"].(string); d == "" {
			t.Fatalf("no datapath ID assigned: %v", nve)
		}
	}
	tc.create(f2, "ports", `{"name":"p1","vn":"blue","nve":"hv1","interface":"veth1","mac":"02:00:00:00:00:01","ips":["10.0.0.1"]}`)
	tc.create(f1, "ports", `{"name":"p2","vn":"blue","nve":"hv2","interface":"veth2","mac":"02:00:00:00:00:02","ips":["10.0.0.2","2001:db8::2"]}`)
	tc.create(leader, "ports", `{"name":"p3","vn":"red","nve":"hv3","interface":"veth3","mac":"02:00:00:00:00:01","ips":["10.0.0.1"],"vlan":100}`)
	// A domain error from the leader comes back through a follower intact,
	// and changes nothing.
	if r, err := tc.c.do("POST", f1.url()+"/api/v1/vns", `{"name":"dup","vni":5001}`); err != nil || r.status != http.StatusConflict || !strings.Contains(string(r.body), `"code":"conflict"`) {
		t.Fatalf("duplicate VNI through follower %s: %v %v", f1.id, r, err)
	}
	for _, n := range tc.nodes {
		tc.mustVerify(n, true)
	}
	sw.lap("2. writes through leader and followers")

	// 3. Kill the leader; the survivors elect a new one and serve every
	// acknowledged write.
	killed := leader
	tc.kill(killed)
	survivors := tc.others(killed)
	// A client writing during the election retries 503s with the same
	// X-Request-ID, as the API documents; the write lands exactly once.
	tc.createRetrying(survivors[0], survivors[1], "vns", `{"name":"during-failover"}`, "failover-1")
	leader = tc.waitView(30*time.Second, survivors, []*node{killed})
	sw.lap(fmt.Sprintf("3. %s SIGKILLed, %s elected", killed.id, leader.id))
	for _, n := range survivors {
		// A linearizable read implies this node has applied everything
		// acknowledged, so the plain read right after must see it too.
		tc.mustVerify(n, true)
		tc.mustVerify(n, false)
	}
	sw.lap("3. acknowledged writes readable on survivors")

	// 4. Writes through the new leader's follower and the new leader.
	follower := tc.others(killed, leader)[0]
	tc.create(follower, "vns", `{"name":"while-down"}`)
	tc.create(leader, "ports", `{"name":"p4","vn":"while-down","nve":"hv2","interface":"veth4","mac":"02:00:00:00:00:04"}`)
	for _, n := range survivors {
		tc.mustVerify(n, true)
	}
	sw.lap("4. writes under the new leader")

	// 5. Restart the killed node from its data dir with its flags minus
	// --bootstrap (a node first started with --join keeps it: on a
	// restart the daemon sees it is already a member and asks nothing).
	args := killed.baseArgs()
	if killed != n1 {
		args = append(args, "--join", n1.url())
	}
	tc.start(killed, args...)
	eventually(t, 30*time.Second, killed.id+" catches up (plain reads)", func() error { return tc.verify(killed, false) })
	leader = tc.waitView(30*time.Second, tc.nodes, nil)
	tc.mustVerify(killed, true)
	sw.lap(fmt.Sprintf("5. %s restarted and caught up", killed.id))

	// 6. Kill both followers: the leader is alone, without quorum. A write
	// on it is rejected with 503, Retry-After and the JSON error body.
	lone := leader
	gone := tc.others(lone)
	for _, n := range gone {
		tc.kill(n)
	}
	// A linearizable read cannot be served either; it runs alongside.
	readCh := make(chan timedAnswer, 1)
	go func() {
		start := time.Now()
		r, err := tc.c.do("GET", lone.url()+"/api/v1/vns/blue?consistent=true", "")
		readCh <- answerOf(r, err, time.Since(start))
	}()
	start := time.Now()
	r, err := tc.c.do("POST", lone.url()+"/api/v1/vns", `{"name":"doomed"}`, "X-Request-ID", "doomed-1")
	checkNoQuorum(t, "write without quorum", answerOf(r, err, time.Since(start)))
	read := <-readCh
	checkNoQuorum(t, "consistent read without quorum", read)
	// Reads are local: the lone node still serves what it has.
	tc.mustVerify(lone, false)
	eventually(t, 15*time.Second, lone.id+" health reports no leader", func() error {
		h, r, err := tc.c.health(lone.url())
		if err != nil {
			return err
		}
		if r.status != http.StatusServiceUnavailable || h.Status != "no_leader" || r.header.Get("Retry-After") == "" {
			return fmt.Errorf("health %s", r)
		}
		return nil
	})
	sw.lap("6. no quorum: write rejected with 503")

	// Quorum back: restart one killed node from its data dir alone (no
	// --join, no --bootstrap). The rejected write left nothing behind; a
	// new write succeeds.
	back, still := gone[0], gone[1]
	tc.start(back, back.baseArgs()...)
	tc.waitView(30*time.Second, []*node{lone, back}, []*node{still})
	sw.lap(fmt.Sprintf("6. %s restarted, quorum back", back.id))
	for _, n := range []*node{lone, back} {
		r, err := tc.c.do("GET", n.url()+"/api/v1/vns/doomed?consistent=true", "")
		if err != nil || r.status != http.StatusNotFound || !strings.Contains(string(r.body), `"code":"not_found"`) {
			t.Errorf("%s: the rejected write's VN: %v %v, want 404 not_found", n.id, r, err)
		}
	}
	tc.create(back, "vns", `{"name":"after-quorum"}`)
	tc.create(lone, "ports", `{"name":"p5","vn":"after-quorum","nve":"hv1","interface":"veth5","mac":"02:00:00:00:00:05"}`)
	for _, n := range []*node{lone, back} {
		tc.mustVerify(n, true)
		tc.mustVerify(n, false)
	}
	sw.lap("6. rejected write absent, new writes succeed")

	// The last node comes back too and catches up with everything.
	args = still.baseArgs()
	if still != n1 {
		args = append(args, "--join", n1.url())
	}
	tc.start(still, args...)
	eventually(t, 30*time.Second, still.id+" catches up (plain reads)", func() error { return tc.verify(still, false) })
	tc.waitView(30*time.Second, tc.nodes, nil)
	for _, n := range tc.nodes {
		tc.mustVerify(n, true)
	}
	sw.lap(fmt.Sprintf("all three up again, %s caught up", still.id))
}

// timedAnswer is an HTTP answer and how long it took.
type timedAnswer struct {
	r    response
	err  error
	took time.Duration
}

func answerOf(r response, err error, took time.Duration) timedAnswer {
	return timedAnswer{r, err, took}
}

// checkNoQuorum checks the API's answer to a request that needs a quorum
// when there is none: 503 within a bounded time, Retry-After, and the JSON
// error body with code no_leader.
func checkNoQuorum(t *testing.T, what string, a timedAnswer) {
	t.Helper()
	if a.err != nil {
		t.Fatalf("%s: %v", what, a.err)
	}
	r := a.r
	t.Logf("%s answered in %s: %s", what, a.took.Round(time.Millisecond), r)
	if r.status != http.StatusServiceUnavailable {
		t.Fatalf("%s: %s, want 503", what, r)
	}
	if a.took > 15*time.Second {
		t.Errorf("%s took %s to be rejected", what, a.took)
	}
	if ra := r.header.Get("Retry-After"); ra == "" {
		t.Errorf("%s: 503 without Retry-After; headers %v", what, r.header)
	} else if s, err := strconv.Atoi(ra); err != nil || s < 1 {
		t.Errorf("%s: Retry-After %q is not a positive number of seconds", what, ra)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: 503 Content-Type %q", what, ct)
	}
	var eb struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.body, &eb); err != nil || eb.Error.Code != "no_leader" || eb.Error.Message == "" {
		t.Errorf("%s: 503 body %s: want {\"error\":{\"code\":\"no_leader\",\"message\":...}} (%v)", what, r.body, err)
	}
}

// testGracefulShutdown starts one node with explicit flags, writes, sends
// SIGTERM and expects a clean exit (code 0) and a log of the shutdown.
func testGracefulShutdown(t *testing.T, bin string) {
	sw := newStopwatch(t)
	tc := newCluster(t, bin, 1)
	n := tc.nodes[0]
	tc.start(n, append(n.baseArgs(), "--bootstrap")...)
	eventually(t, 20*time.Second, "node healthy", func() error {
		h, r, err := tc.c.health(n.url())
		if err != nil {
			return err
		}
		if r.status != http.StatusOK || !h.IsLeader {
			return fmt.Errorf("health %s", r)
		}
		return nil
	})
	tc.create(n, "vns", `{"name":"blue"}`)
	sw.lap("single node up, VN written")

	if err := n.p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := n.p.waitExit(t, 20*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM (%v)", code, n.p.err)
	}
	sw.lap("SIGTERM: exited 0")
	logText, err := os.ReadFile(n.logPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"shutting down", "nva stopped"} {
		if !strings.Contains(string(logText), want) {
			t.Errorf("log lacks %q", want)
		}
	}
	// Its ports are free again: the same flags start it from its data dir.
	tc.start(n, n.baseArgs()...)
	eventually(t, 20*time.Second, "restarted node serves the VN", func() error { return tc.verify(n, false) })
	sw.lap("restarted from its data dir")
}

// testEmbeddedDefault runs `nva` with no flags in an empty directory: it
// must bootstrap a single node in ./nva-data, serve the API on
// 127.0.0.1:8080 and keep a VN across a restart (stopped with Ctrl-C, i.e.
// SIGINT, as the README says).
func testEmbeddedDefault(t *testing.T, bin string) {
	const api = "http://127.0.0.1:8080"
	// The default addresses are fixed, so two test runs on one machine
	// (two CI checkouts at once) take turns here instead of racing for them.
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "nva-embedded-default.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatalf("lock the default addresses: %v", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	for _, addr := range []string{"127.0.0.1:8080", "127.0.0.1:8300", "127.0.0.1:6653"} {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Skipf("the embedded default's address %s is in use on this machine: %v", addr, err)
		}
		l.Close()
	}
	sw := newStopwatch(t)
	dir := t.TempDir()
	logDir := t.TempDir()
	dumpLogsOnFailure(t, logDir)
	logPath := filepath.Join(logDir, "nva.log")
	c := newClient()

	waitHealthy := func() {
		t.Helper()
		eventually(t, 20*time.Second, "embedded nva healthy", func() error {
			h, r, err := c.health(api)
			if err != nil {
				return err
			}
			if r.status != http.StatusOK || !h.IsLeader || h.NodeID != "nva1" || h.Leader != "nva1" {
				return fmt.Errorf("health %s", r)
			}
			return nil
		})
	}
	p := startProc(t, bin, dir, logPath)
	waitHealthy()
	sw.lap("embedded default up")
	if _, err := os.Stat(filepath.Join(dir, "nva-data", "raft.db")); err != nil {
		t.Errorf("no Raft log in ./nva-data of the working directory: %v", err)
	}
	cv, err := c.cluster(api)
	if err != nil {
		t.Fatal(err)
	}
	if cv.Leader != "nva1" || len(cv.Nodes) != 1 || cv.Nodes[0].State != "leader" || !cv.Nodes[0].Voter {
		t.Errorf("cluster view %+v, want the single voter nva1 leading", cv)
	}
	r, err := c.do("POST", api+"/api/v1/vns", `{"name":"blue"}`)
	if err != nil || r.status != http.StatusCreated {
		t.Fatalf("POST blue: %v %v", r, err)
	}
	created, err := r.object()
	if err != nil {
		t.Fatal(err)
	}

	// README: "Stop nva (Ctrl-C) and start it again: the VN is still there."
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := p.waitExit(t, 20*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGINT (%v)", code, p.err)
	}
	sw.lap("VN written, stopped with SIGINT")

	startProc(t, bin, dir, logPath)
	waitHealthy()
	r, err = c.do("GET", api+"/api/v1/vns/blue", "")
	if err != nil || r.status != http.StatusOK {
		t.Fatalf("GET blue after restart: %v %v", r, err)
	}
	got, err := r.object()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, created) {
		t.Errorf("after restart blue = %v, created %v", got, created)
	}
	sw.lap("restarted, VN kept")
}
