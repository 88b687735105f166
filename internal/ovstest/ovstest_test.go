package ovstest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const testPrefix = "nvot"

func netnsExists(name string) bool {
	_, err := os.Stat(filepath.Join("/var/run/netns", name))
	return err == nil
}

func pidOf(t *testing.T, pidfile string) int {
	t.Helper()
	b, err := os.ReadFile(pidfile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// TestStartRunsOVSAndCleansUp starts an OVS in a subtest, uses every tool
// it wraps, and checks that the end of the subtest left no daemon,
// namespace or directory behind.
func TestStartRunsOVSAndCleansUp(t *testing.T) {
	Require(t)
	var dir, ns string
	var pids []int
	t.Run("run", func(t *testing.T) {
		o := Start(t, Options{Prefix: testPrefix})
		dir, ns = o.Dir(), o.Netns()
		if !strings.HasPrefix(ns, fmt.Sprintf("%s%d-", testPrefix, os.Getpid())) || !netnsExists(ns) {
			t.Fatalf("namespace %q: want %s<pid>-..., existing", ns, testPrefix)
		}
		if o.Endpoint() != "unix:"+o.Sock() || filepath.Dir(o.Sock()) != dir {
			t.Fatalf("endpoint %s, socket %s, dir %s", o.Endpoint(), o.Sock(), dir)
		}
		// Vsctl waits for ovs-vswitchd, so the bridge exists once it returns.
		o.Vsctl("add-br", "br0", "--", "set", "bridge", "br0", "datapath_type=netdev", "fail_mode=secure")
		o.Ofctl("add-flow", "br0", "cookie=0x77,priority=5,actions=drop")
		if out := o.Ofctl("dump-flows", "br0"); !strings.Contains(out, "cookie=0x77") {
			t.Fatalf("dump-flows lacks the flow:\n%s", out)
		}
		if out := o.Appctl("ofproto/list"); !strings.Contains(out, "br0") {
			t.Fatalf("ofproto/list = %q, want br0", out)
		}
		// The bridge's device lives in the private namespace.
		if out := o.Exec("ip", "link", "show", "br0"); !strings.Contains(out, "br0") {
			t.Fatalf("br0 not in the namespace: %s", out)
		}
		if _, err := o.TryVsctl("br-exists", "nosuch"); err == nil {
			t.Fatal("TryVsctl br-exists nosuch: no error")
		}
		for _, d := range []string{"ovsdb-server", "ovs-vswitchd"} {
			pids = append(pids, pidOf(t, filepath.Join(dir, d+".pid")))
		}
	})
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("daemon %d still alive after the test", pid)
		}
	}
	if netnsExists(ns) {
		t.Errorf("namespace %s left behind", ns)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("directory %s left behind (%v)", dir, err)
	}
}

// TestStopStartDB restarts ovsdb-server on the same database and socket.
func TestStopStartDB(t *testing.T) {
	o := Start(t, Options{Prefix: testPrefix, NoWait: true})
	o.Vsctl("add-br", "br0", "--", "set", "bridge", "br0", "datapath_type=netdev")
	old := pidOf(t, filepath.Join(o.Dir(), "ovsdb-server.pid"))
	o.StopDB()
	if alive(old) {
		t.Fatalf("ovsdb-server %d alive after StopDB", old)
	}
	if out, err := o.TryVsctl("list-br"); err == nil {
		t.Fatalf("ovs-vsctl works with the server stopped: %q", out)
	}
	o.StartDB()
	if got := o.Vsctl("list-br"); got != "br0" {
		t.Fatalf("bridges after restart = %q, want br0", got)
	}
	if pid := pidOf(t, filepath.Join(o.Dir(), "ovsdb-server.pid")); pid == old || !alive(pid) {
		t.Fatalf("ovsdb-server after restart: pid %d (old %d)", pid, old)
	}
}

// TestDBOnly runs ovsdb-server alone in the test's namespace, with an
// extra remote from DBArgs.
func TestDBOnly(t *testing.T) {
	extra := filepath.Join(t.TempDir(), "extra.sock")
	o := Start(t, Options{Prefix: testPrefix, DBOnly: true, DBArgs: []string{"--remote=punix:" + extra}})
	if o.Netns() != "" {
		t.Fatalf("DBOnly namespace = %q, want none", o.Netns())
	}
	if _, err := os.Stat(filepath.Join(o.Dir(), "ovs-vswitchd.pid")); !os.IsNotExist(err) {
		t.Fatalf("ovs-vswitchd started with DBOnly (%v)", err)
	}
	// Without ovs-vswitchd only --no-wait (implied) lets this return.
	o.Vsctl("add-br", "br0")
	out := o.Run("ovs-vsctl", "--db=unix:"+extra, "--no-wait", "list-br")
	if out != "br0" {
		t.Fatalf("list-br over the extra remote = %q", out)
	}
}

// TestSweepRemovesStaleNamespaces leaves a namespace and a directory as a
// killed test process would (its pid in the names, a process still running
// in the namespace) and checks that Netns sweeps both and spares a live
// process's.
func TestSweepRemovesStaleNamespaces(t *testing.T) {
	Require(t, "sleep")
	const prefix = "nvos"
	// A pid that is certainly gone: a child that has exited and been reaped.
	c := exec.Command("true")
	if err := c.Run(); err != nil {
		t.Fatal(err)
	}
	dead := c.Process.Pid
	if alive(dead) {
		t.Skipf("pid %d was reused already", dead)
	}
	stale := fmt.Sprintf("%s%d-abc", prefix, dead)
	oldStyle := fmt.Sprintf("%s%d", prefix, dead) // no suffix, as ofctl/conn named them
	live := fmt.Sprintf("%s%d-abc", prefix, os.Getppid())
	for _, n := range []string{stale, oldStyle, live} {
		if out, err := exec.Command("ip", "netns", "add", n).CombinedOutput(); err != nil {
			t.Fatalf("ip netns add %s: %v: %s", n, err, out)
		}
		t.Cleanup(func() { exec.Command("ip", "netns", "delete", n).Run() })
	}
	staleDir := filepath.Join(os.TempDir(), stale+"-123")
	if err := os.Mkdir(staleDir, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(staleDir) })
	sleeper := exec.Command("ip", "netns", "exec", stale, "sleep", "300")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sleeper.Wait() }()
	t.Cleanup(func() { sleeper.Process.Kill() })

	ns := Netns(t, prefix)
	if !netnsExists(ns) {
		t.Fatalf("Netns did not create %s", ns)
	}
	for _, n := range []string{stale, oldStyle} {
		if netnsExists(n) {
			t.Errorf("stale namespace %s not swept", n)
		}
	}
	if !netnsExists(live) {
		t.Errorf("namespace %s of a live process was swept", live)
	}
	if _, err := os.Stat(staleDir); !os.IsNotExist(err) {
		t.Errorf("stale directory %s not removed (%v)", staleDir, err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Error("the process in the stale namespace exited cleanly; want it killed")
		}
	case <-time.After(5 * time.Second):
		t.Error("the process in the stale namespace still runs after the sweep")
	}
}
