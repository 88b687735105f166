// Package ovstest is test support, imported only by _test.go files: it
// starts one real Open vSwitch (ovsdb-server and ovs-vswitchd, userspace
// datapath) for a test, in a private network namespace and run directory,
// and tears it down when the test ends, as ../shared/ovs-lab-notes.md
// describes.
//
// Each OVS gets its own network namespace because the userspace datapath
// creates a tap device named "ovs-netdev": two netdev ovs-vswitchd in one
// namespace (say, two packages' tests run in parallel by go test ./...)
// collide. The OVSDB socket, the bridges' management sockets and unix
// controller sockets are files in the run directory (Dir), so the test
// process reaches them from its own namespace.
//
// Namespaces are named Prefix, the test process's pid, "-", and a random
// suffix. Start first deletes namespaces of its Prefix whose process is
// gone (and kills what still runs in them), so a test killed half-way
// leaves nothing behind for long. Every caller picks its own Prefix.
package ovstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Schema is the vswitch schema Debian's openvswitch-common installs.
const Schema = "/usr/share/openvswitch/vswitch.ovsschema"

// cmdTimeout bounds every command the package runs.
const cmdTimeout = 30 * time.Second

// Require skips the test unless it runs as root with Open vSwitch, ip,
// /dev/net/tun and any extra binaries the test names.
func Require(t testing.TB, extraBinaries ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, ovs-vswitchd)")
	}
	bins := []string{"ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl", "ovs-ofctl", "ovs-appctl", "ip"}
	for _, b := range append(bins, extraBinaries...) {
		if _, err := exec.LookPath(b); err != nil {
			t.Skipf("%s not installed", b)
		}
	}
	if _, err := os.Stat(Schema); err != nil {
		t.Skipf("Open vSwitch schema missing: %v", err)
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skip("no /dev/net/tun for the userspace datapath")
	}
}

// Options says what Start runs.
type Options struct {
	// Prefix starts the names of the namespace and run directory, and
	// selects which stale namespaces Start sweeps. Required; unique to
	// the caller.
	Prefix string
	// NoWait makes Vsctl pass --no-wait: it returns once the database has
	// the change, without waiting for ovs-vswitchd to apply it.
	NoWait bool
	// DBOnly runs ovsdb-server alone, in the test's own network namespace
	// (no private namespace, no ovs-vswitchd), for a server that must be
	// reachable on 127.0.0.1 such as an SSL remote. Implies NoWait.
	DBOnly bool
	// DBArgs are extra ovsdb-server arguments (remotes, SSL files).
	DBArgs []string
}

// OVS is one running Open vSwitch. Its methods fail the test on error,
// except the Try ones.
type OVS struct {
	t     testing.TB
	opts  Options
	dir   string
	netns string
}

// Start runs ovsdb-server (with a fresh database) and ovs-vswitchd, both
// detached with pidfiles in Dir, in a new network namespace, and registers
// their cleanup with t.Cleanup: on failure it logs ovs-vsctl show, the
// flows and groups of every bridge and the tails of the OVS logs; then it
// kills the daemons and everything left in the namespace, deletes the
// namespace and removes Dir. Start skips the test as Require does.
func Start(t testing.TB, opts Options) *OVS {
	t.Helper()
	Require(t)
	if opts.Prefix == "" {
		t.Fatal("ovstest: Options.Prefix is required")
	}
	if opts.DBOnly {
		opts.NoWait = true
	}
	sweep(t, opts.Prefix)
	name := uniqueName(t, opts.Prefix)
	// A short directory in /tmp keeps socket paths under the unix limit.
	dir, err := os.MkdirTemp("", name+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	o := &OVS{t: t, opts: opts, dir: dir}
	if !opts.DBOnly {
		o.netns = newNetns(t, name)
	}
	t.Cleanup(o.stop)
	o.Run("ovsdb-tool", "create", o.DB(), Schema)
	o.StartDB()
	o.Vsctl("--no-wait", "init")
	if !opts.DBOnly {
		o.Exec("ovs-vswitchd", o.Endpoint(), "--pidfile="+o.pidfile("ovs-vswitchd"),
			"--log-file="+filepath.Join(dir, "ovs-vswitchd.log"), "--detach")
	}
	return o
}

// Netns creates a network namespace named like Start's (Prefix, pid,
// random suffix) with its loopback up, for the test's other hosts (say, a
// tenant system), and deletes it, killing what runs in it, when the test
// ends. Stale namespaces of the prefix are swept first.
func Netns(t testing.TB, prefix string) string {
	t.Helper()
	Require(t)
	sweep(t, prefix)
	return newNetns(t, uniqueName(t, prefix))
}

func uniqueName(t testing.TB, prefix string) string {
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%s%d-%s", prefix, os.Getpid(), hex.EncodeToString(b))
}

func newNetns(t testing.TB, name string) string {
	t.Helper()
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() { deleteNetns(t, name) })
	if out, err := exec.Command("ip", "-n", name, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("ip -n %s link set lo up: %v: %s", name, err, out)
	}
	return name
}

// Dir is the run, log and database directory (OVS_RUNDIR): bridges'
// management sockets live here, and so may unix controller sockets.
func (o *OVS) Dir() string { return o.dir }

// DB is the path of the database file.
func (o *OVS) DB() string { return filepath.Join(o.dir, "conf.db") }

// Sock is the path of ovsdb-server's unix socket.
func (o *OVS) Sock() string { return filepath.Join(o.dir, "db.sock") }

// Endpoint is the OVSDB endpoint of Sock: "unix:" + Sock().
func (o *OVS) Endpoint() string { return "unix:" + o.Sock() }

// Netns is the name of the daemons' network namespace ("" with DBOnly).
func (o *OVS) Netns() string { return o.netns }

// Try runs a command with OVS_RUNDIR, OVS_LOGDIR and OVS_DBDIR set to Dir,
// so the OVS tools find this OVS's daemons and bridges. It returns the
// combined output with surrounding white space trimmed; the error names the
// command and includes the output.
func (o *OVS) Try(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "OVS_RUNDIR="+o.dir, "OVS_LOGDIR="+o.dir, "OVS_DBDIR="+o.dir)
	b, err := cmd.CombinedOutput()
	out := strings.TrimSpace(string(b))
	if err != nil {
		return out, fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return out, nil
}

// Run is Try that fails the test on error.
func (o *OVS) Run(name string, args ...string) string {
	o.t.Helper()
	out, err := o.Try(name, args...)
	if err != nil {
		o.t.Fatal(err)
	}
	return out
}

// Exec runs a command inside the namespace, as Run does.
func (o *OVS) Exec(name string, args ...string) string {
	o.t.Helper()
	return o.Run("ip", o.inNetns(name, args...)...)
}

func (o *OVS) inNetns(name string, args ...string) []string {
	if o.netns == "" {
		o.t.Fatalf("ovstest: no network namespace to run %s in (DBOnly)", name)
	}
	return append([]string{"netns", "exec", o.netns, name}, args...)
}

func (o *OVS) vsctlArgs(args []string) []string {
	pre := []string{"--db=" + o.Endpoint(), "--timeout=20"}
	if o.opts.NoWait {
		pre = append(pre, "--no-wait")
	}
	return append(pre, args...)
}

// Vsctl runs ovs-vsctl against this OVS's database.
func (o *OVS) Vsctl(args ...string) string {
	o.t.Helper()
	return o.Run("ovs-vsctl", o.vsctlArgs(args)...)
}

// TryVsctl is Vsctl returning its error instead of failing the test.
func (o *OVS) TryVsctl(args ...string) (string, error) {
	return o.Try("ovs-vsctl", o.vsctlArgs(args)...)
}

// Ofctl runs ovs-ofctl -O OpenFlow13; a bridge name reaches the bridge
// through its management socket in Dir.
func (o *OVS) Ofctl(args ...string) string {
	o.t.Helper()
	return o.Run("ovs-ofctl", append([]string{"-O", "OpenFlow13"}, args...)...)
}

// Appctl runs ovs-appctl; without -t it talks to ovs-vswitchd.
func (o *OVS) Appctl(args ...string) string {
	o.t.Helper()
	return o.Run("ovs-appctl", args...)
}

// StartDB starts ovsdb-server on DB, as Start does; after StopDB it
// restarts the server on the same file and socket.
func (o *OVS) StartDB() {
	o.t.Helper()
	args := append([]string{o.DB(), "--remote=punix:" + o.Sock(), "--pidfile=" + o.pidfile("ovsdb-server"),
		"--log-file=" + filepath.Join(o.dir, "ovsdb-server.log"), "--detach"}, o.opts.DBArgs...)
	if o.opts.DBOnly {
		o.Run("ovsdb-server", args...)
		return
	}
	o.Exec("ovsdb-server", args...)
}

// StopDB kills ovsdb-server with SIGKILL, as a crash would, and waits
// until it is gone.
func (o *OVS) StopDB() {
	o.t.Helper()
	if err := killPidfile(o.pidfile("ovsdb-server")); err != nil {
		o.t.Fatal(err)
	}
}

func (o *OVS) pidfile(daemon string) string { return filepath.Join(o.dir, daemon+".pid") }

// stop dumps state on failure and kills the daemons. SIGKILL: the OVS is
// thrown away, so a graceful exit (over a second for ovs-vswitchd) buys
// nothing.
func (o *OVS) stop() {
	if o.t.Failed() {
		o.dump()
	}
	for _, d := range []string{"ovs-vswitchd", "ovsdb-server"} {
		if err := killPidfile(o.pidfile(d)); err != nil {
			o.t.Logf("ovstest: stopping %s: %v", d, err)
		}
	}
}

// dump logs what a failed test's reader wants to see of the switch.
func (o *OVS) dump() {
	if out, err := o.TryVsctl("show"); err == nil {
		o.t.Logf("ovs-vsctl show:\n%s", out)
	} else {
		o.t.Logf("ovstest: %v", err)
	}
	if !o.opts.DBOnly {
		brs, _ := o.TryVsctl("list-br")
		for _, br := range strings.Fields(brs) {
			for _, what := range []string{"dump-flows", "dump-groups"} {
				out, err := o.Try("ovs-ofctl", "-O", "OpenFlow13", what, br)
				if err != nil {
					out = err.Error()
				}
				o.t.Logf("ovs-ofctl %s %s:\n%s", what, br, out)
			}
		}
	}
	for _, f := range []string{"ovsdb-server.log", "ovs-vswitchd.log"} {
		if b, err := os.ReadFile(filepath.Join(o.dir, f)); err == nil {
			o.t.Logf("%s (last %d lines):\n%s", f, logTail, tail(string(b), logTail))
		}
	}
}

const logTail = 200

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// deleteNetns kills every process left in the namespace and deletes it.
func deleteNetns(t testing.TB, name string) {
	killNetns(name)
	if out, err := exec.Command("ip", "netns", "delete", name).CombinedOutput(); err != nil {
		t.Logf("ovstest: ip netns delete %s: %v: %s", name, err, out)
	}
}

func killNetns(name string) {
	out, _ := exec.Command("ip", "netns", "pids", name).Output()
	for _, f := range strings.Fields(string(out)) {
		var pid int
		if _, err := fmt.Sscan(f, &pid); err == nil && pid > 1 {
			_ = killPid(pid)
		}
	}
}
