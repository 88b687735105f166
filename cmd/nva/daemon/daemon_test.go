package daemon

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/store"
	"github.com/nva-project/nva/web/wire"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func testConfig(t *testing.T, id, dir, raftAddr string) Config {
	t.Helper()
	s := DefaultSettings()
	s.NodeID, s.DataDir, s.APIAddr, s.RaftAddr, s.OpenFlowAddr = id, dir, "127.0.0.1:0", raftAddr, "127.0.0.1:6653"
	var logger *slog.Logger
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	} else {
		logger = slog.New(slog.DiscardHandler)
	}
	return Config{Settings: s, Logger: logger}
}

func call(t *testing.T, method, url, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

// TestRestartKeepsState is the embedded default's promise: a VN created
// over HTTP survives stopping and restarting nva on the same data dir.
func TestRestartKeepsState(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nva-data")
	cfg := testConfig(t, "nva1", dir, freeAddr(t))
	ctx := context.Background()

	d, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	code, body := call(t, "POST", d.APIURL()+"/api/v1/vns", `{"name":"blue","vni":100}`)
	if code != 201 {
		d.Close()
		t.Fatalf("create VN: %d %s", code, body)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if code, _ := callNoFail(d.APIURL() + "/api/v1/vns"); code != 0 {
		t.Errorf("API still answering after Close (%d)", code)
	}

	// No --bootstrap needed on restart: the data dir has state.
	d2, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	code, body = call(t, "GET", d2.APIURL()+"/api/v1/vns/blue?consistent=true", "")
	if code != 200 {
		t.Fatalf("after restart GET blue: %d %s", code, body)
	}
	var vn model.VN
	json.Unmarshal(body, &vn)
	if vn.VNI != 100 {
		t.Errorf("after restart: %+v", vn)
	}
	// And the node still accepts writes as the leader of its cluster.
	if code, body := call(t, "POST", d2.APIURL()+"/api/v1/vns", `{"name":"red"}`); code != 201 {
		t.Errorf("write after restart: %d %s", code, body)
	}
	var h wire.Health
	_, body = call(t, "GET", d2.APIURL()+"/api/v1/health", "")
	json.Unmarshal(body, &h)
	if h.NodeID != "nva1" || h.Leader != "nva1" {
		t.Errorf("health after restart: %s", body)
	}
}

func callNoFail(url string) (int, error) {
	c := &http.Client{Timeout: time.Second}
	res, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	res.Body.Close()
	return res.StatusCode, nil
}

// fakeComponent stands in for the southbound: it records its lifecycle and
// reports status and realization.
type fakeComponent struct {
	mu      sync.Mutex
	started bool
	ctxDone bool
	closed  bool
	ctx     context.Context
	st      *store.Store
	waited  []uint64
}

func (f *fakeComponent) start(ctx context.Context, st *store.Store) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.started, f.ctx, f.st = true, ctx, st
	return nil
}

func (f *fakeComponent) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed, f.ctxDone = true, f.ctx.Err() != nil
	return nil
}

func (f *fakeComponent) NVEStatus(nve string) *model.NVEStatus {
	return &model.NVEStatus{OpenFlow: &model.OpenFlowStatus{Remote: "fake-" + nve}}
}

// southbound wires the fake into the daemon as the real one is wired.
func (f *fakeComponent) southbound(st *store.Store, _ Settings, _ *slog.Logger) (*Southbound, error) {
	return &Southbound{
		Start:    func(ctx context.Context) error { return f.start(ctx, st) },
		Close:    f.Close,
		Realizer: f,
		Status:   f,
	}, nil
}

func (f *fakeComponent) WaitRealizedFor(ctx context.Context, index uint64, _ []string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.waited = append(f.waited, index)
	return nil, nil
}

func TestSouthboundComponents(t *testing.T) {
	fc := &fakeComponent{}
	cfg := testConfig(t, "n1", t.TempDir(), freeAddr(t))
	cfg.Southbound = fc.southbound
	d, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !fc.started || fc.st != d.Store() {
		t.Fatal("component not started with the daemon's store")
	}
	code, body := call(t, "POST", d.APIURL()+"/api/v1/nves?wait=realized", `{"name":"hv1","underlay_ips":["192.0.2.1"],"ovsdb":"unix:/run/ovs.sock"}`)
	if code != 201 {
		t.Fatalf("create NVE: %d %s", code, body)
	}
	var n struct {
		model.NVE
		Status struct{ OpenFlow struct{ Remote string } }
	}
	json.Unmarshal(body, &n)
	if n.Status.OpenFlow.Remote != "fake-hv1" {
		t.Errorf("NVE status from component = %s", body)
	}
	fc.mu.Lock()
	waited := append([]uint64(nil), fc.waited...)
	fc.mu.Unlock()
	if len(waited) != 1 || waited[0] != n.Revision {
		t.Errorf("WaitRealized calls %v, want [%d]", waited, n.Revision)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if !fc.closed || !fc.ctxDone {
		t.Errorf("component closed=%v ctxDone=%v, want both", fc.closed, fc.ctxDone)
	}
}

// TestJoin starts two daemons over real TCP; the second joins the first
// with --join, and a write through the follower reaches both.
func TestJoin(t *testing.T) {
	if testing.Short() {
		t.Skip("two-node cluster")
	}
	ctx := context.Background()
	c1 := testConfig(t, "n1", t.TempDir(), freeAddr(t))
	c1.Bootstrap = true
	d1, err := Start(ctx, c1)
	if err != nil {
		t.Fatal(err)
	}
	defer d1.Close()
	c2 := testConfig(t, "n2", t.TempDir(), freeAddr(t))
	c2.Join = d1.APIURL()
	d2, err := Start(ctx, c2)
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	select {
	case <-d2.Joined():
	case <-time.After(20 * time.Second):
		t.Fatal("n2 did not join within 20s")
	}
	code, body := call(t, "POST", d2.APIURL()+"/api/v1/vns", `{"name":"blue"}`)
	if code != 201 {
		t.Fatalf("write through follower: %d %s", code, body)
	}
	code, body = call(t, "GET", d1.APIURL()+"/api/v1/vns/blue", "")
	if code != 200 {
		t.Fatalf("read on leader: %d %s", code, body)
	}
	var cv wire.ClusterView
	_, body = call(t, "GET", d2.APIURL()+"/api/v1/cluster", "")
	json.Unmarshal(body, &cv)
	if cv.Leader != "n1" || len(cv.Nodes) != 2 || cv.Nodes[1].ID != "n2" || cv.Nodes[1].APIAddr != d2.APIURL() ||
		cv.Nodes[1].OpenFlowAddr != "127.0.0.1:6653" {
		t.Errorf("cluster seen from n2: %s", body)
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	cfg := testConfig(t, "n1", t.TempDir(), freeAddr(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()
	time.Sleep(200 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestStartFailsOnBusyPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cfg := testConfig(t, "n1", t.TempDir(), freeAddr(t))
	cfg.APIAddr = l.Addr().String()
	if _, err := Start(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "listener") {
		t.Errorf("Start on a busy port: %v", err)
	}
}

// TestNoAutoBootstrapWithState: a node whose data dir holds a Raft log but
// no cluster (it was started with --join and never added) must not found a
// cluster of its own when restarted without --join.
func TestNoAutoBootstrapWithState(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, "n2", dir, freeAddr(t))
	cfg.Join = "http://127.0.0.1:1" // nothing there: never joined
	cfg.ApplyTimeout = 300 * time.Millisecond
	d, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	if ok, _ := hasState(dir); !ok {
		t.Fatal("no raft state written")
	}
	cfg.Join = ""
	d, err = Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	time.Sleep(1500 * time.Millisecond) // several election timeouts
	if d.Store().IsLeader() {
		t.Error("restarted unjoined node bootstrapped a cluster of its own")
	}
	code, body := call(t, "GET", d.APIURL()+"/api/v1/health", "")
	if code != 503 {
		t.Errorf("health: %d %s, want 503 (no leader)", code, body)
	}
	// A fresh, empty data dir with files of other programs still bootstraps.
	other := t.TempDir()
	os.WriteFile(filepath.Join(other, "README"), []byte("x"), 0o600)
	if ok, _ := hasState(other); ok {
		t.Error("unrelated files counted as raft state")
	}
}

// TestDebugAddr: --debug-addr serves net/http/pprof on its own listener
// (never on the REST API), and Close closes it; it is off by default.
func TestDebugAddr(t *testing.T) {
	cfg := testConfig(t, "n1", t.TempDir(), freeAddr(t))
	cfg.InMemory = true
	d, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if a := d.DebugAddr(); a != "" {
		t.Errorf("debug server on %s by default", a)
	}
	// The REST listener's catch-all is the web UI (index.html for any
	// page path), never the profiler.
	if _, body := call(t, "GET", d.APIURL()+"/debug/pprof/goroutine?debug=1", ""); strings.Contains(string(body), "goroutine profile") {
		t.Errorf("REST API serves pprof: %.200s", body)
	}
	d.Close()

	cfg.DebugAddr = "127.0.0.1:0"
	d, err = Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	base := "http://" + d.DebugAddr()
	if !strings.HasPrefix(d.DebugAddr(), "127.0.0.1:") {
		t.Fatalf("DebugAddr = %q", d.DebugAddr())
	}
	code, body := call(t, "GET", base+"/debug/pprof/", "")
	if code != http.StatusOK || !strings.Contains(string(body), "goroutine") {
		t.Fatalf("GET /debug/pprof/: %d %.200s", code, body)
	}
	code, body = call(t, "GET", base+"/debug/pprof/goroutine?debug=1", "")
	if code != http.StatusOK || !strings.Contains(string(body), "goroutine profile") {
		t.Errorf("goroutine profile: %d %.200s", code, body)
	}
	if code, _ := call(t, "GET", base+"/api/v1/health", ""); code == http.StatusOK {
		t.Error("debug listener serves the REST API")
	}
	// The REST listener's catch-all is the web UI (index.html for any
	// page path), never the profiler.
	if _, body := call(t, "GET", d.APIURL()+"/debug/pprof/goroutine?debug=1", ""); strings.Contains(string(body), "goroutine profile") {
		t.Errorf("REST API serves pprof: %.200s", body)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if code, err := callNoFail(base + "/debug/pprof/"); err == nil {
		t.Errorf("debug server still answering after Close (%d)", code)
	}
}

// TestDebugAddrBusy: a busy --debug-addr fails the start, naming the flag,
// before the store is opened.
func TestDebugAddrBusy(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cfg := testConfig(t, "n1", t.TempDir(), freeAddr(t))
	cfg.DebugAddr = l.Addr().String()
	_, err = Start(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "--debug-addr") {
		t.Errorf("Start with a busy debug address: %v", err)
	}
	if ok, _ := hasState(cfg.DataDir); ok {
		t.Error("store opened although the debug listener failed")
	}
}
