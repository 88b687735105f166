package lab

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ClusterOptions configures a multi-node nva cluster in a lab.
type ClusterOptions struct {
	// Bin is the nva binary (see BuildNVA).
	Bin string
	// Size is the number of members (default 3).
	Size int
	// ExtraArgs are appended to every member's command line.
	ExtraArgs []string
	// LogLevel is nva's --log-level (default "debug").
	LogLevel string
}

// Member is one nva process of a Cluster: REST API and Raft on loopback,
// OpenFlow on its own port of the lab's ControllerIP (which every
// hypervisor reaches over its management veth), data under the lab
// directory. Its ID is n<i>, 1-based.
type Member struct {
	ID           string
	DataDir      string
	APIAddr      string // host:port
	Raft         string // host:port
	OpenFlowAddr string // ControllerIP:port, --openflow-addr
	Client       *Client

	l      *Lab
	c      *Cluster
	proc   *Proc
	paused bool
}

// Cluster is a Raft cluster of real nva processes: member 1 bootstraps it,
// the others join through member 1's API, as the README's "Running a
// cluster" says. Every switch of the lab reaches every member.
type Cluster struct {
	l       *Lab
	opts    ClusterOptions
	Members []*Member
}

// StartCluster starts the members one after the other and waits until
// every member reports a 3-voter view with one leader.
func (l *Lab) StartCluster(ctx context.Context, o ClusterOptions) (*Cluster, error) {
	if o.Bin == "" {
		return nil, errors.New("lab: ClusterOptions.Bin is required")
	}
	if o.Size == 0 {
		o.Size = 3
	}
	if o.LogLevel == "" {
		o.LogLevel = "debug"
	}
	c := &Cluster{l: l, opts: o}
	for i := 1; i <= o.Size; i++ {
		m := &Member{ID: fmt.Sprintf("n%d", i), DataDir: filepath.Join(l.Dir, fmt.Sprintf("nva-n%d-data", i)), l: l, c: c}
		if err := m.pickPorts(); err != nil {
			return nil, err
		}
		c.Members = append(c.Members, m)
	}
	l.OnDump(c.dump)
	for _, m := range c.Members {
		if err := m.Start(ctx); err != nil {
			return nil, err
		}
	}
	if _, err := c.WaitLeader(ctx, 60*time.Second, nil); err != nil {
		return nil, err
	}
	return c, nil
}

// pickPorts chooses the member's listen addresses. A member's addresses
// stay the same across restarts (the Raft address is its identity in the
// cluster), so they are taken below the kernel's ephemeral port range:
// a port picked there and released could be taken by any outgoing
// connection (the members' own Raft and HTTP dials) before nva binds it.
func (m *Member) pickPorts() error {
	var err error
	lo := loopback()
	if m.APIAddr, err = freeStablePort(lo); err != nil {
		return err
	}
	if m.Raft, err = freeStablePort(lo); err != nil {
		return err
	}
	if m.OpenFlowAddr, err = freeStablePort(m.l.ctrlIP); err != nil {
		return err
	}
	m.Client = NewClient("http://" + m.APIAddr)
	return nil
}

func loopback() netip.Addr { return netip.MustParseAddr("127.0.0.1") }

// freeStablePort returns ip:port for a port that is free now and outside
// the ephemeral range (between 20000 and its start), falling back to a
// kernel-chosen one.
func freeStablePort(ip netip.Addr) (string, error) {
	first := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				first = n
			}
		}
	}
	if first > 20000+100 {
		for range 50 {
			port := 20000 + rand.IntN(first-20000)
			ln, err := net.Listen("tcp", netip.AddrPortFrom(ip, uint16(port)).String())
			if err == nil {
				addr := ln.Addr().String()
				ln.Close()
				return addr, nil
			}
		}
	}
	ln, err := net.Listen("tcp", netip.AddrPortFrom(ip, 0).String())
	if err != nil {
		return "", fmt.Errorf("lab: picking a port on %s: %w", ip, err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// OpenFlowTarget is the member's controller target as OVS lists it
// ("tcp:ip:port", its --openflow-advertise).
func (m *Member) OpenFlowTarget() string { return "tcp:" + m.OpenFlowAddr }

// URL is the member's API base URL.
func (m *Member) URL() string { return "http://" + m.APIAddr }

// Start (re)starts the member with the same addresses and data directory
// and waits until its API answers. Member 1 bootstraps on its first
// start; the others join through member 1 (on a restart the daemon sees
// it is already a member and asks nothing).
func (m *Member) Start(ctx context.Context) error {
	first := m.proc == nil
	err := m.start(ctx)
	// On its first start a member is no one's peer yet: if another
	// process took one of its ports meanwhile, it may take others.
	for try := 0; first && err != nil && strings.Contains(err.Error(), "address already in use") && try < 3; try++ {
		m.l.logf("lab: %s: %v; picking other ports", m.ID, err)
		m.proc = nil
		if err = m.pickPorts(); err != nil {
			return err
		}
		err = m.start(ctx)
	}
	return err
}

func (m *Member) start(ctx context.Context) error {
	if m.proc != nil {
		select {
		case <-m.proc.Done():
		default:
			return fmt.Errorf("lab: %s already running", m.ID)
		}
	}
	args := []string{
		"--node-id", m.ID,
		"--data-dir", m.DataDir,
		"--api-addr", m.APIAddr,
		"--raft-addr", m.Raft,
		"--openflow-addr", m.OpenFlowAddr,
		"--openflow-advertise", m.OpenFlowTarget(),
		"--log-level", m.c.opts.LogLevel,
		// The OpenFlow listener is on the lab's controller address, which
		// the hypervisor namespaces reach: plain text, a lab.
		"--insecure-listen",
	}
	first := m.proc == nil
	if m == m.c.Members[0] {
		if first {
			args = append(args, "--bootstrap")
		}
	} else {
		args = append(args, "--join", m.c.Members[0].URL())
	}
	args = append(args, m.c.opts.ExtraArgs...)
	p, err := m.l.Spawn("nva-"+m.ID, exec.Command(m.c.opts.Bin, args...))
	if err != nil {
		return err
	}
	m.proc, m.paused = p, false
	err = WaitFor(ctx, 60*time.Second, 50*time.Millisecond, func() (bool, error) {
		select {
		case <-p.Done():
			return false, fmt.Errorf("%s exited: %v (log %s)", m.ID, p.Err(), p.Log)
		default:
		}
		_, err := m.Health(ctx)
		return err == nil, err
	})
	if err != nil {
		return fmt.Errorf("lab: %s did not become healthy: %w\n%s", m.ID, err, tail(p.Log, 30))
	}
	return nil
}

// Kill kills the member (SIGKILL), as a crash would, and waits until it
// has exited.
func (m *Member) Kill() {
	if m.proc == nil {
		return
	}
	m.proc.Kill()
	<-m.proc.Done()
	m.paused = false
}

// Pause stops the member with SIGSTOP: it holds its sockets and its state
// but does nothing, as a process stuck on a stalled disk or a VM paused by
// its hypervisor would.
func (m *Member) Pause() error {
	if m.proc == nil {
		return fmt.Errorf("lab: %s not running", m.ID)
	}
	if err := m.proc.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		return fmt.Errorf("lab: SIGSTOP %s: %w", m.ID, err)
	}
	m.paused = true
	return nil
}

// Resume continues a paused member (SIGCONT).
func (m *Member) Resume() error {
	if m.proc == nil || !m.paused {
		return nil
	}
	if err := m.proc.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		return fmt.Errorf("lab: SIGCONT %s: %w", m.ID, err)
	}
	m.paused = false
	return nil
}

// Running reports whether the member's process is alive and not paused.
func (m *Member) Running() bool {
	if m.proc == nil || m.paused {
		return false
	}
	select {
	case <-m.proc.Done():
		return false
	default:
		return true
	}
}

// Proc is the member's current process.
func (m *Member) Proc() *Proc { return m.proc }

// Health is the member's GET /api/v1/health answer (web/wire.Health).
type Health struct {
	Status       string `json:"status"`
	NodeID       string `json:"node_id"`
	Leader       string `json:"leader"`
	IsLeader     bool   `json:"is_leader"`
	Term         uint64 `json:"term"`
	AppliedIndex uint64 `json:"applied_index"`
}

// Health asks the member for its health, with a short timeout of its own
// (a paused member never answers).
func (m *Member) Health(ctx context.Context) (Health, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var h Health
	_, err := m.Client.Do(ctx, http.MethodGet, "/api/v1/health", nil, &h)
	return h, err
}

// NVA is a handle on member m for code that drives one nva (Overlay):
// its Client talks to m, which forwards writes to the leader.
func (c *Cluster) NVA(m *Member) *NVA {
	return &NVA{l: c.l, DataDir: m.DataDir, APIAddr: m.APIAddr, Raft: m.Raft, Client: m.Client, proc: m.proc}
}

// WaitLeader waits until every running member outside except answers
// health with status ok and names the same leader, which is one of them
// and reports is_leader; it returns that member and its term.
func (c *Cluster) WaitLeader(ctx context.Context, timeout time.Duration, except []*Member) (*Member, error) {
	var leader *Member
	err := WaitFor(ctx, timeout, 50*time.Millisecond, func() (bool, error) {
		leader = nil
		name := ""
		for _, m := range c.Members {
			if !m.Running() || contains(except, m) {
				continue
			}
			h, err := m.Health(ctx)
			if err != nil {
				return false, fmt.Errorf("%s: %w", m.ID, err)
			}
			if h.Status != "ok" || h.Leader == "" || (name != "" && h.Leader != name) {
				return false, fmt.Errorf("%s: status %q, leader %q", m.ID, h.Status, h.Leader)
			}
			name = h.Leader
			if h.IsLeader {
				leader = m
			}
		}
		return leader != nil && leader.ID == name, nil
	})
	if err != nil {
		return nil, fmt.Errorf("lab: no agreed leader among the running members: %w", err)
	}
	return leader, nil
}

// Others returns the members other than those in not.
func (c *Cluster) Others(not ...*Member) []*Member {
	var out []*Member
	for _, m := range c.Members {
		if !contains(not, m) {
			out = append(out, m)
		}
	}
	return out
}

func contains(ms []*Member, m *Member) bool {
	for _, x := range ms {
		if x == m {
			return true
		}
	}
	return false
}

// dump writes every running member's view into a failure-artifact
// directory.
func (c *Cluster) dump(dir string) {
	for _, m := range c.Members {
		if !m.Running() {
			continue
		}
		sub := filepath.Join(dir, m.ID)
		if err := os.MkdirAll(sub, 0o755); err == nil {
			c.NVA(m).dumpAPI(sub)
		}
	}
}
