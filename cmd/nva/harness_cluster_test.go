package main

// Helpers for the end-to-end tests in cluster_test.go: building the nva
// binary, running it as a child process with its log in a file, free ports,
// a small REST client and bounded polling.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildNVA builds this package's binary into a temporary directory and
// returns its path.
func buildNVA(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, serr := os.Stat(goBin); serr != nil {
			t.Skipf("no go tool to build the nva binary: %v", err)
		}
	}
	out := filepath.Join(t.TempDir(), "nva")
	cmd := exec.Command(goBin, "build", "-o", out, ".")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build -o %s .: %v\n%s", out, err, b)
	}
	return out
}

// childEnv is the test's environment without NVA_* variables, so that a
// developer's or CI's settings cannot change what the flags say.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NVA_") {
			env = append(env, kv)
		}
	}
	return env
}

// proc is one running nva process.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // cmd.Wait's result, valid after done
}

// startProc starts bin with args in dir (the test's working directory if
// empty), appending its stdout and stderr to logPath. The process is
// SIGKILLed at the end of the test if it is still running.
func startProc(t *testing.T, bin, dir, logPath string, args ...string) *proc {
	t.Helper()
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(lf, "=== %s: nva %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = childEnv()
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		lf.Close()
		t.Fatalf("starting nva %s: %v", strings.Join(args, " "), err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		lf.Close()
		close(p.done)
	}()
	t.Cleanup(func() { p.kill(t) })
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill SIGKILLs the process and waits for it to exit.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	if p.exited() {
		return
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("SIGKILL pid %d: %v", p.cmd.Process.Pid, err)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Errorf("pid %d did not exit within 10s of SIGKILL", p.cmd.Process.Pid)
	}
}

// waitExit waits up to d for the process to exit and returns its exit code.
func (p *proc) waitExit(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		t.Fatalf("pid %d did not exit within %s", p.cmd.Process.Pid, d)
	}
	return p.cmd.ProcessState.ExitCode()
}

// dumpLogsOnFailure prints the tail of every log file in dir if the test
// failed. Register it before starting processes so that it runs after they
// have been killed.
func dumpLogsOnFailure(t *testing.T, dir string) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		files, _ := filepath.Glob(filepath.Join(dir, "*.log"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Logf("reading %s: %v", f, err)
				continue
			}
			lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
			const keep = 150
			skipped := 0
			if len(lines) > keep {
				skipped, lines = len(lines)-keep, lines[len(lines)-keep:]
			}
			t.Logf("----- %s (last %d lines, %d skipped) -----\n%s", filepath.Base(f), len(lines), skipped, strings.Join(lines, "\n"))
		}
	})
}

// freePorts returns n distinct free TCP ports on 127.0.0.1. The listeners
// are held until all ports are chosen, so no port is returned twice.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	// Ports below the ephemeral range: a kernel-chosen port is free when
	// picked but may be taken by any outgoing connection (another test
	// run's) before the node binds it; these ones only by another
	// listener.
	first := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil {
				first = v
			}
		}
	}
	for range n {
		var l net.Listener
		for try := 0; l == nil && try < 50 && first > 20100; try++ {
			l, _ = net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(20000+rand.IntN(first-20000))))
		}
		if l == nil {
			var err error
			if l, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
				t.Fatal(err)
			}
		}
		lns = append(lns, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// client is a small REST client for the nva API. Keep-alives are off so
// that a killed node never leaves a stale pooled connection behind.
type client struct {
	hc *http.Client
}

func newClient() *client {
	return &client{hc: &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{DisableKeepAlives: true},
	}}
}

// response is one HTTP answer, fully read.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) String() string {
	return fmt.Sprintf("%d %s", r.status, bytes.TrimSpace(r.body))
}

// object decodes the body as a JSON object.
func (r response) object() (map[string]any, error) {
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		return nil, fmt.Errorf("decoding %q: %w", r.body, err)
	}
	return m, nil
}

// do sends one request; body is JSON (or empty) and hdr extra headers as
// name/value pairs.
func (c *client) do(method, url, body string, hdr ...string) (response, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return response{}, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return response{}, fmt.Errorf("%s %s: reading body: %w", method, url, err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}, nil
}

// clusterView is GET /api/v1/cluster (wire.ClusterView, decoded
// independently so the test checks the wire format).
type clusterView struct {
	Leader string `json:"leader"`
	Term   uint64 `json:"term"`
	Nodes  []struct {
		ID           string `json:"id"`
		APIAddr      string `json:"api_addr"`
		RaftAddr     string `json:"raft_addr"`
		OpenFlowAddr string `json:"openflow_addr"`
		State        string `json:"state"`
		Voter        bool   `json:"voter"`
		Leader       bool   `json:"leader"`
	} `json:"nodes"`
}

func (c *client) cluster(base string) (clusterView, error) {
	var cv clusterView
	r, err := c.do("GET", base+"/api/v1/cluster", "")
	if err != nil {
		return cv, err
	}
	if r.status != http.StatusOK {
		return cv, fmt.Errorf("GET /api/v1/cluster: %s", r)
	}
	if err := json.Unmarshal(r.body, &cv); err != nil {
		return cv, fmt.Errorf("GET /api/v1/cluster: %w: %s", err, r.body)
	}
	return cv, nil
}

// health is GET /api/v1/health.
type health struct {
	Status       string `json:"status"`
	NodeID       string `json:"node_id"`
	Leader       string `json:"leader"`
	IsLeader     bool   `json:"is_leader"`
	AppliedIndex uint64 `json:"applied_index"`
}

func (c *client) health(base string) (health, response, error) {
	var h health
	r, err := c.do("GET", base+"/api/v1/health", "")
	if err != nil {
		return h, r, err
	}
	if err := json.Unmarshal(r.body, &h); err != nil {
		return h, r, fmt.Errorf("GET /api/v1/health: %w: %s", err, r.body)
	}
	return h, r, nil
}

// eventually calls cond every 100ms until it returns nil or timeout has
// passed, then fails the test with cond's last error.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stopwatch logs how long each phase of a test took.
type stopwatch struct {
	mu    sync.Mutex
	t     *testing.T
	start time.Time
	last  time.Time
}

func newStopwatch(t *testing.T) *stopwatch {
	now := time.Now()
	return &stopwatch{t: t, start: now, last: now}
}

func (s *stopwatch) lap(phase string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	s.t.Logf("%-50s %6.2fs (total %6.2fs)", phase, now.Sub(s.last).Seconds(), now.Sub(s.start).Seconds())
	s.last = now
}
