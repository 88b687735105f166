package ovsdb

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ovn-kubernetes/libovsdb/database/inmemory"
	"github.com/ovn-kubernetes/libovsdb/model"
	wire "github.com/ovn-kubernetes/libovsdb/ovsdb"
	"github.com/ovn-kubernetes/libovsdb/server"

	"github.com/nva-project/nva/ovsdb/rpc"
	"github.com/nva-project/nva/ovsdb/vswitch"
)

// The session benchmarks measure what one NVE's OVSDB session costs nva
// over its life: connect (get_schema, monitor), the first ensure (the plan
// of every row, the status), then idle. The server is libovsdb's in-memory
// server in a child process (this test binary, run with
// serverEnv set), so the heap measured is nva's alone. Its database holds
// an NVE's bridge as nva configures it (benchNVE: a controller, a
// flow-based tunnel port and 20 VAPs), every interface numbered and up as
// ovs-vswitchd would leave it, so a session finds nothing to change: the
// path of every NVE in a warm restart.

// serverEnv names the unix socket the child process serves on.
const serverEnv = "NVA_OVSDB_BENCH_SERVER"

func TestMain(m *testing.M) {
	if path := os.Getenv(serverEnv); path != "" {
		if err := runBenchServer(path); err != nil {
			fmt.Fprintln(os.Stderr, "bench server:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if os.Getenv("NVA_BENCH_HEAPPROFILE") != "" {
		runtime.MemProfileRate = 1 // every allocation: the profile is of a few MB
	}
	os.Exit(m.Run())
}

// benchNVE is the desired state of an NVE of the scale harness's layout
// (nva-lab scale): the bridge with one controller, a flow-based VXLAN
// port and 20 VAPs.
func benchNVE(name, endpoint string) Desired {
	vaps := make([]string, 20)
	for i := range vaps {
		vaps[i] = fmt.Sprintf("tvn%04d-%s-%d", i/2, "hv", i%2)
	}
	return Desired{
		NVE: name, Endpoint: endpoint, Bridge: "br-int", DatapathID: "00004e5600000001",
		Controllers: []string{"tcp:127.0.0.1:6653"},
		Tunnels:     []Tunnel{{Name: "nva-vxlan", Type: TunnelVXLAN, LocalIP: "192.0.2.1"}},
		Interfaces:  vaps,
	}
}

// runBenchServer serves the benchmark database on path until its stdin
// closes: it prints "ready" once the NVE's bridge is configured.
func runBenchServer(path string) error {
	full, err := vswitch.FullDatabaseModel()
	if err != nil {
		return err
	}
	dbm, errs := model.NewDatabaseModel(vswitch.Schema(), full)
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	srv, err := server.NewOvsdbServer(inmemory.NewDatabase(map[string]model.ClientDBModel{dbName: full}, nil), nil, dbm)
	if err != nil {
		return err
	}
	go func() { _ = srv.Serve("unix", path) }()
	defer srv.Close()
	for i := 0; !srv.Ready(); i++ {
		if i > 1000 {
			return errors.New("in-memory OVSDB server not ready")
		}
		time.Sleep(5 * time.Millisecond)
	}
	endpoint := "unix:" + path
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := dial(ctx, Desired{Endpoint: endpoint}, -1, shared{models: rpc.NewModels(mustDBModel())}, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer c.close()
	if err := c.transact(ctx, []wire.Operation{{Op: wire.OperationInsert, Table: vswitch.OpenvSwitchTable, Row: wire.Row{}}}); err != nil {
		return err
	}
	// nva's own ensure creates the bridge, then every interface is
	// numbered and brought up as ovs-vswitchd does.
	d := benchNVE("seed", endpoint)
	for {
		snap, err := c.snapshot()
		if err != nil {
			return err
		}
		p := planEnsure(snap, d)
		if p.empty() {
			break
		}
		if err := c.transact(ctx, p.ops); err != nil {
			return err
		}
		if err := waitKick(ctx, c); err != nil {
			return err
		}
	}
	snap, err := c.snapshot()
	if err != nil {
		return err
	}
	var ops []wire.Operation
	n := 0
	for u, i := range snap.ifaces {
		n++
		ofport := n
		if i.Name == d.Bridge {
			ofport = 65534
		}
		ops = append(ops, wire.Operation{Op: wire.OperationUpdate, Table: vswitch.InterfaceTable, Where: whereUUID(u),
			Row: wire.Row{"ofport": wire.OvsSet{GoSet: []any{ofport}}, "link_state": wire.OvsSet{GoSet: []any{"up"}}}})
	}
	if err := c.transact(ctx, ops); err != nil {
		return err
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}

func waitKick(ctx context.Context, c *conn) error {
	select {
	case <-c.kick:
		return nil
	case <-c.lost:
		return errNotConnected
	case <-ctx.Done():
		return ctx.Err()
	}
}

// benchServer starts the benchmark's server process and returns its
// endpoint; it ends with the test.
func benchServer(tb testing.TB) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "db.sock")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), serverEnv+"="+path)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		tb.Fatalf("bench server: %q, %v", line, err)
	}
	return "unix:" + path
}

// readyWaiter collects the NVEs whose status is ready with every VAP
// numbered.
type readyWaiter struct {
	mu    sync.Mutex
	ready map[string]bool
	ch    chan string
}

func newReadyWaiter() *readyWaiter {
	return &readyWaiter{ready: map[string]bool{}, ch: make(chan string, 4096)}
}

func (r *readyWaiter) observe(st Status) {
	if !st.Connected || !st.BridgeReady || len(st.OFPorts) != 22 || len(st.Links) != 22 {
		return
	}
	r.mu.Lock()
	first := !r.ready[st.NVE]
	r.ready[st.NVE] = true
	r.mu.Unlock()
	if first {
		r.ch <- st.NVE
	}
}

func (r *readyWaiter) wait(tb testing.TB, m *Manager, nve string) {
	tb.Helper()
	select {
	case <-r.ch:
	case <-time.After(30 * time.Second):
		st, _ := m.Status(nve)
		tb.Fatalf("%s not ready: %+v", nve, st)
	}
}

// heapNow is the live heap and the goroutine stacks after a GC.
func heapNow() (heap, stacks uint64) {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc, ms.StackInuse
}

// retainedSessions syncs n NVEs (each its own session, all to the
// server at endpoint) with one Manager, waits until every one is ready
// and returns the heap and stack bytes they retain once idle, per NVE.
// With NVA_BENCH_HEAPPROFILE set, it writes a heap profile (after a GC)
// there while the sessions are up.
func retainedSessions(tb testing.TB, endpoint string, n int) (heap, stack uint64) {
	tb.Helper()
	rw := newReadyWaiter()
	m := NewManager(slog.New(slog.DiscardHandler), rw.observe, WithBackoff(20*time.Millisecond, 200*time.Millisecond))
	defer m.Close()
	h0, s0 := heapNow()
	for i := range n {
		name := fmt.Sprintf("nve%04d", i)
		m.Sync(context.Background(), benchNVE(name, endpoint))
	}
	for i := range n {
		rw.wait(tb, m, fmt.Sprintf("nve%04d", i))
	}
	for i := range n {
		if st, _ := m.Stats(fmt.Sprintf("nve%04d", i)); st.Transactions != 0 || st.Connects != 1 || st.Ensures != 1 {
			tb.Fatalf("nve%04d: %+v (want one connect, one ensure and no transaction: the database is converged)", i, st)
		}
	}
	time.Sleep(100 * time.Millisecond) // the workers go idle after their last status
	h1, s1 := heapNow()
	if path := os.Getenv("NVA_BENCH_HEAPPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			tb.Fatal(err)
		}
		if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
			tb.Fatal(err)
		}
		f.Close()
	}
	if h1 < h0 {
		h1 = h0
	}
	if s1 < s0 {
		s1 = s0
	}
	return (h1 - h0) / uint64(n), (s1 - s0) / uint64(n)
}

// BenchmarkNVESessionRetained: the heap (and goroutine stacks) one NVE's
// idle OVSDB session retains in nva after connecting to a converged
// 20-VAP bridge and ensuring it, over 200 NVEs of one Manager.
func BenchmarkNVESessionRetained(b *testing.B) {
	endpoint := benchServer(b)
	var heap, stack uint64
	for b.Loop() {
		heap, stack = retainedSessions(b, endpoint, 200)
	}
	b.ReportMetric(float64(heap), "heap-B/NVE")
	b.ReportMetric(float64(stack), "stack-B/NVE")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkNVEConnect: one NVE's connect and first ensure, as in a warm
// restart: dial, get_schema, the monitor reply decoded into the cache,
// the plan of every row (nothing to change) and the status. cpu-ns/op is
// nva's CPU time per NVE (the server is another process); ns/op includes
// the server's time.
func BenchmarkNVEConnect(b *testing.B) {
	endpoint := benchServer(b)
	rw := newReadyWaiter()
	m := NewManager(slog.New(slog.DiscardHandler), rw.observe, WithBackoff(20*time.Millisecond, 200*time.Millisecond))
	defer m.Close()
	// The first session reads and decodes the schema, shared by the rest.
	m.Sync(context.Background(), benchNVE("warmup", endpoint))
	rw.wait(b, m, "warmup")
	b.ReportAllocs()
	cpu0 := cpuTime()
	i := 0
	for b.Loop() {
		name := fmt.Sprintf("nve%06d", i)
		i++
		m.Sync(context.Background(), benchNVE(name, endpoint))
		rw.wait(b, m, name)
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
}

// cpuTime is the process's CPU time so far (every goroutine).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cannedServer answers a session's get_schema and monitor requests with
// the replies of a real server captured before (and echo requests), on
// its end of a pipe, until the pipe closes.
func cannedServer(c net.Conn, schema, monitor []byte) {
	defer c.Close()
	f := rpc.NewFramer(c)
	for {
		msg, err := f.Next()
		if err != nil {
			return
		}
		var req struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
			Params json.RawMessage `json:"params"`
		}
		if json.Unmarshal(msg, &req) != nil {
			return
		}
		var result []byte
		switch req.Method {
		case "get_schema":
			result = schema
		case "monitor":
			result = monitor
		case "echo":
			result = req.Params
		default:
			return
		}
		out := make([]byte, 0, len(result)+64)
		out = append(out, `{"id":`...)
		out = append(out, req.ID...)
		out = append(out, `,"result":`...)
		out = append(out, result...)
		out = append(out, `,"error":null}`...)
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}

// capture reads the schema and the reply to nva's monitor from the
// benchmark server.
func capture(tb testing.TB, endpoint string) (schema, monitor json.RawMessage) {
	tb.Helper()
	ctx := context.Background()
	sess, err := rpc.Dial(ctx, endpoint, rpc.Config{ProbeInterval: -1})
	if err != nil {
		tb.Fatal(err)
	}
	defer sess.Close()
	if err := sess.Call(ctx, "get_schema", []any{dbName}, &schema); err != nil {
		tb.Fatal(err)
	}
	reqs := map[string]wire.MonitorRequest{}
	for _, t := range monitored() {
		reqs[t.Table] = wire.MonitorRequest{Columns: t.Columns, Select: wire.NewDefaultMonitorSelect()}
	}
	if err := sess.Call(ctx, "monitor", []any{dbName, "capture", reqs}, &monitor); err != nil {
		tb.Fatal(err)
	}
	return schema, monitor
}

// BenchmarkNVEFirstEnsure is nva's part of BenchmarkNVEConnect in one
// process, without sockets: a session over a pipe to a server answering
// with the captured schema and monitor reply, the reply decoded into
// the cache, then the first ensure's snapshot, plan (nothing to change)
// and status.
func BenchmarkNVEFirstEnsure(b *testing.B) {
	schema, monitor := capture(b, benchServer(b))
	sh := shared{models: rpc.NewModels(mustDBModel()), bufs: rpc.NewBuffers()}
	d := benchNVE("nve", "unix:/canned")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		a, z := net.Pipe()
		go cannedServer(z, schema, monitor)
		c, err := open(ctx, rpc.NewSession(a, rpc.Config{ProbeInterval: -1, Buffers: sh.bufs}), d.Endpoint, sh)
		if err != nil {
			b.Fatal(err)
		}
		snap, err := c.snapshot()
		if err != nil {
			b.Fatal(err)
		}
		if p := planEnsure(snap, d); !p.empty() {
			b.Fatalf("plan: %v", opSummary(p.ops))
		}
		if ofports, _, _, _ := statusOf(snap, d.Bridge); len(ofports) != 22 {
			b.Fatalf("ofports %v", ofports)
		}
		bfdStatusOf(snap, d.Bridge)
		c.close()
	}
}
