package ovsdb

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A test lab is one network namespace running its own ovsdb-server and
// ovs-vswitchd (userspace datapath), as in ../shared/ovs-lab-notes.md. The
// OVSDB socket is a file, so the Manager in the test process reaches it
// without entering the namespace.

const (
	labPrefix    = "nvaovsdb-"
	systemSchema = "/usr/share/openvswitch/vswitch.ovsschema"
)

type ovsLab struct {
	t    *testing.T
	dir  string
	ns   string
	sock string // OVSDB unix socket path
}

func (l *ovsLab) endpoint() string { return "unix:" + l.sock }

// needOVS skips the test unless it runs as root with Open vSwitch installed.
func needOVS(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces and ovs-vswitchd)")
	}
	for _, bin := range []string{"ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl", "ip"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("Open vSwitch not installed: %s not found", bin)
		}
	}
	if _, err := os.Stat(systemSchema); err != nil {
		t.Skipf("Open vSwitch schema missing: %v", err)
	}
}

// newOVSLab starts ovsdb-server and ovs-vswitchd in a fresh namespace and
// registers their cleanup.
func newOVSLab(t *testing.T) *ovsLab {
	t.Helper()
	needOVS(t)
	sweepStaleLabs(t)
	dir, err := os.MkdirTemp("", "nvaovsdb")
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	l := &ovsLab{t: t, dir: dir, ns: fmt.Sprintf("%s%d-%s", labPrefix, os.Getpid(), hex.EncodeToString(b)), sock: filepath.Join(dir, "db.sock")}
	t.Cleanup(l.cleanup)
	l.must("ip", "netns", "add", l.ns)
	l.must("ip", "-n", l.ns, "link", "set", "lo", "up")
	l.must("ovsdb-tool", "create", filepath.Join(dir, "conf.db"), systemSchema)
	l.startDB()
	l.vsctl("init")
	l.inNS("ovs-vswitchd", "unix:"+l.sock, "--pidfile="+l.pidfile("ovs-vswitchd"),
		"--log-file="+filepath.Join(dir, "ovs-vswitchd.log"), "--detach")
	return l
}

func (l *ovsLab) pidfile(daemon string) string { return filepath.Join(l.dir, daemon+".pid") }

func (l *ovsLab) startDB() {
	l.t.Helper()
	l.inNS("ovsdb-server", filepath.Join(l.dir, "conf.db"), "--remote=punix:"+l.sock,
		"--pidfile="+l.pidfile("ovsdb-server"), "--log-file="+filepath.Join(l.dir, "ovsdb-server.log"), "--detach")
}

// stopDB kills ovsdb-server, as a crash would.
func (l *ovsLab) stopDB() {
	l.t.Helper()
	if err := stopByPidfile(l.pidfile("ovsdb-server"), syscall.SIGKILL); err != nil {
		l.t.Fatal(err)
	}
}

func (l *ovsLab) env() []string {
	return append(os.Environ(), "OVS_RUNDIR="+l.dir, "OVS_LOGDIR="+l.dir, "OVS_DBDIR="+l.dir)
}

func (l *ovsLab) inNS(args ...string) {
	l.t.Helper()
	l.must(append([]string{"ip", "netns", "exec", l.ns}, args...)...)
}

func (l *ovsLab) run(args ...string) (string, error) {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = l.env()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return strings.TrimSpace(string(out)), nil
}

func (l *ovsLab) must(args ...string) string {
	l.t.Helper()
	out, err := l.run(args...)
	if err != nil {
		l.t.Fatal(err)
	}
	return out
}

func (l *ovsLab) vsctlArgs(args ...string) []string {
	return append([]string{"ovs-vsctl", "--db=unix:" + l.sock, "--timeout=10", "--no-wait"}, args...)
}

// vsctl runs ovs-vsctl against the lab's database and fails the test on error.
func (l *ovsLab) vsctl(args ...string) string {
	l.t.Helper()
	return l.must(l.vsctlArgs(args...)...)
}

// tryVsctl runs ovs-vsctl and returns its error instead of failing.
func (l *ovsLab) tryVsctl(args ...string) (string, error) {
	return l.run(l.vsctlArgs(args...)...)
}

// addVeth creates a veth pair inside the namespace, both ends up.
func (l *ovsLab) addVeth(name, peer string) {
	l.t.Helper()
	l.must("ip", "-n", l.ns, "link", "add", name, "type", "veth", "peer", "name", peer)
	l.must("ip", "-n", l.ns, "link", "set", name, "up")
	l.must("ip", "-n", l.ns, "link", "set", peer, "up")
}

func (l *ovsLab) cleanup() {
	if l.t.Failed() {
		if out, err := l.tryVsctl("show"); err == nil {
			l.t.Logf("ovs-vsctl show:\n%s", out)
		}
		for _, f := range []string{"ovsdb-server.log", "ovs-vswitchd.log"} {
			if b, err := os.ReadFile(filepath.Join(l.dir, f)); err == nil {
				l.t.Logf("%s (tail):\n%s", f, tail(string(b), 40))
			}
		}
	}
	// SIGKILL: the lab is thrown away, so a graceful exit (which takes
	// ovs-vswitchd over a second) buys nothing.
	for _, d := range []string{"ovs-vswitchd", "ovsdb-server"} {
		if err := stopByPidfile(l.pidfile(d), syscall.SIGKILL); err != nil {
			l.t.Logf("stopping %s: %v", d, err)
		}
	}
	if _, err := l.run("ip", "netns", "del", l.ns); err != nil {
		l.t.Logf("deleting namespace: %v", err)
	}
	os.RemoveAll(l.dir)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// stopByPidfile signals the daemon named by pidfile and waits for it to exit.
// A missing pidfile or process is not an error.
func stopByPidfile(pidfile string, sig syscall.Signal) error {
	b, err := os.ReadFile(pidfile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return fmt.Errorf("bad pidfile %s: %q", pidfile, b)
	}
	return stopPid(pid, sig)
}

func stopPid(pid int, sig syscall.Signal) error {
	if err := syscall.Kill(pid, sig); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return nil
		}
		return fmt.Errorf("kill %d: %w", pid, err)
	}
	for i := 0; i < 100; i++ {
		if !alive(pid) {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	return fmt.Errorf("process %d did not exit after signal %v", pid, sig)
}

// alive reports whether pid is a live process; a zombie (exited, not yet
// reaped by its adoptive parent) counts as gone.
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	if i := strings.LastIndexByte(string(b), ')'); i >= 0 && i+2 < len(b) && b[i+2] == 'Z' {
		return false
	}
	return true
}

// sweepStaleLabs removes namespaces left by earlier test processes that died
// before cleaning up: their daemons are killed and the namespace deleted.
func sweepStaleLabs(t *testing.T) {
	entries, err := os.ReadDir("/var/run/netns")
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, labPrefix) {
			continue
		}
		pidStr, _, _ := strings.Cut(strings.TrimPrefix(name, labPrefix), "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil || pid == os.Getpid() || alive(pid) {
			continue // ours, or its test process is still running
		}
		out, _ := exec.Command("ip", "netns", "pids", name).Output()
		for _, f := range strings.Fields(string(out)) {
			if p, err := strconv.Atoi(f); err == nil {
				stopPid(p, syscall.SIGKILL)
			}
		}
		if err := exec.Command("ip", "netns", "del", name).Run(); err == nil {
			t.Logf("swept stale lab namespace %s", name)
		}
	}
}

// waitFor polls cond until it holds or timeout passes; cond's message says
// what is still missing.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, msg := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s: %s", timeout, what, msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
