package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const (
	// schemaPath is the vswitch schema Debian's openvswitch-common ships.
	schemaPath = "/usr/share/openvswitch/vswitch.ovsschema"
	// namePrefix starts every namespace, link and state directory a lab makes.
	namePrefix = "nvl"
	// DefaultUnderlayMTU is the underlay MTU: 1500-byte tenant frames plus
	// the largest encapsulation overhead we use (GENEVE) fit in it.
	DefaultUnderlayMTU = 1600
	// TenantMTU is the tenant MTU the lab recommends with the default
	// underlay.
	TenantMTU = 1500
	// IntegrationBridge is the bridge nva manages on every hypervisor.
	IntegrationBridge = "br-int"
	// PhysBridge is the bridge that owns the underlay IP.
	PhysBridge = "br-phy"
)

// TunnelPorts maps an encapsulation (as nva's API names it) to the
// flow-based tunnel port nva's OVSDB manager creates and PrepareBridge
// mimics.
var TunnelPorts = map[string]string{
	"vxlan":  "nva-vxlan",
	"geneve": "nva-geneve",
	"gre":    "nva-gre",
}

// prefixRE matches the names of everything any lab creates.
var prefixRE = regexp.MustCompile(`^(nvl[0-9]{1,3}[0-9a-z]-)`)

// labSeq numbers the labs of this process.
var labSeq atomic.Int64

// Options configures a lab.
type Options struct {
	// Hypervisors is the number of hypervisor namespaces (at least 1).
	Hypervisors int
	// UnderlayMTU is the MTU of the underlay links and br-phy
	// (default DefaultUnderlayMTU).
	UnderlayMTU int
	// ControllerPort is the TCP port the controller (nva) listens on at
	// ControllerIP; 0 picks a free one.
	ControllerPort int
	// Logf receives progress messages; nil discards them.
	Logf func(format string, args ...any)
}

// Hypervisor is one hypervisor namespace with its own Open vSwitch.
type Hypervisor struct {
	Index      int        // 1-based
	Name       string     // "hv1"
	NS         string     // network namespace
	Dir        string     // OVS_RUNDIR, OVS_LOGDIR and conf.db
	UnderlayIP netip.Addr // on br-phy, 198.18.0.<Index>/24
	MgmtIP     netip.Addr // on the management veth, 198.19.<L>.<10+Index>/24
}

// Lab is a running lab. Its methods are safe for concurrent use.
type Lab struct {
	Prefix string // name prefix of everything this lab creates
	Dir    string // state directory (removed on Close)

	opts       Options
	logf       func(string, ...any)
	fabricNS   string
	mgmtBridge string
	ctrlIP     netip.Addr
	ctrlPort   int
	hvs        []*Hypervisor

	mu        sync.Mutex
	tenants   map[string]*Tenant
	procs     []*Proc
	bg        map[*bgCmd]struct{}
	artifacts []string
	hooks     []func(dir string)
	closed    bool
}

// New creates a lab for a test, or skips the test when the machine cannot
// run one (not root, Open vSwitch missing). The lab is removed when the test
// ends; if the test failed, flows, groups, OVS state and logs are dumped
// first and the directory is printed. With NVA_LAB_KEEP=1 a failed test's
// lab is left running for inspection (remove it with Sweep or by starting
// another lab after this process exits).
func New(t testing.TB, opts Options) *Lab {
	t.Helper()
	if reason := Requirements(); reason != "" {
		t.Skip("lab: " + reason)
	}
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	l, err := Create(ctx, opts)
	if err != nil {
		t.Fatalf("lab: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			dir, err := l.DumpArtifacts(t.Name())
			if err != nil {
				t.Logf("lab: dumping artifacts: %v", err)
			}
			t.Logf("lab: failure artifacts (flows, groups, OVS and nva logs) in %s", dir)
			if os.Getenv("NVA_LAB_KEEP") == "1" {
				t.Logf("lab: NVA_LAB_KEEP=1: leaving lab %s running (state in %s)", l.Prefix, l.Dir)
				l.logf = func(string, ...any) {}
				return
			}
		}
		// The test's logger is gone once cleanup returns.
		l.logf = func(string, ...any) {}
		if err := l.Close(); err != nil {
			t.Logf("lab: cleanup: %v", err)
		}
	})
	return l
}

// BaseDir is where labs keep their state directories.
func BaseDir() string { return filepath.Join(os.TempDir(), "nva-lab") }

// Create builds a lab. On error everything created so far is removed.
func Create(ctx context.Context, opts Options) (*Lab, error) {
	if opts.Hypervisors < 1 {
		return nil, errors.New("lab: Options.Hypervisors must be at least 1")
	}
	if opts.Hypervisors > 200 {
		return nil, errors.New("lab: at most 200 hypervisors")
	}
	if opts.UnderlayMTU == 0 {
		opts.UnderlayMTU = DefaultUnderlayMTU
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	if reason := Requirements(); reason != "" {
		return nil, errors.New("lab: " + reason)
	}
	base := BaseDir()
	if err := os.MkdirAll(base, 0o755); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	unlock, err := lockBase(base)
	if err != nil {
		return nil, err
	}
	defer unlock()

	if err := sweep(ctx, base, opts.Logf); err != nil {
		opts.Logf("lab: sweeping stale labs: %v", err)
	}

	l := &Lab{
		opts:    opts,
		logf:    opts.Logf,
		tenants: map[string]*Tenant{},
		bg:      map[*bgCmd]struct{}{},
	}
	if err := l.pickPrefix(ctx, base); err != nil {
		return nil, err
	}
	start := time.Now()
	if err := l.build(ctx); err != nil {
		_ = l.Close()
		return nil, fmt.Errorf("lab %s: %w", l.Prefix, err)
	}
	l.logf("lab %s: %d hypervisors up in %v (state %s, controller %s)",
		l.Prefix, len(l.hvs), time.Since(start).Round(time.Millisecond), l.Dir, l.ControllerAddr())
	return l, nil
}

// lockBase takes an exclusive lock on the base directory so that labs of
// concurrent processes pick distinct prefixes and subnets and do not sweep
// each other mid-creation.
func lockBase(base string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(base, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lab: lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lab: lock: %w", err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// pickPrefix chooses an unused prefix and management subnet and claims the
// state directory.
func (l *Lab) pickPrefix(ctx context.Context, base string) error {
	used, err := usedMgmtSubnets(ctx)
	if err != nil {
		return err
	}
	pid := os.Getpid()
	for try := 0; try < 36; try++ {
		n := int(labSeq.Add(1)-1) % 36
		p := fmt.Sprintf("%s%d%s-", namePrefix, pid%1000, strconv.FormatInt(int64(n), 36))
		dir := filepath.Join(base, p)
		if _, err := os.Stat(dir); err == nil {
			continue
		}
		if nss, _ := listNamespaces(ctx); hasPrefix(nss, p) {
			continue
		}
		// Management subnet 198.19.<L>.0/24, L in 1..250.
		var mgmt int
		for k := 0; k < 250; k++ {
			c := (pid+int(labSeq.Load())+k)%250 + 1
			if !used[c] {
				mgmt = c
				break
			}
		}
		if mgmt == 0 {
			return errors.New("lab: no free 198.19.x.0/24 management subnet in the root namespace")
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("lab: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, "owner"), []byte(selfID().String()+"\n"), 0o644); err != nil {
			return fmt.Errorf("lab: %w", err)
		}
		l.Prefix = p
		l.Dir = dir
		l.fabricNS = p + "fab"
		l.mgmtBridge = p + "mgmt"
		l.ctrlIP = netip.AddrFrom4([4]byte{198, 19, byte(mgmt), 1})
		return nil
	}
	return errors.New("lab: no free lab prefix")
}

func hasPrefix(names []string, p string) bool {
	for _, n := range names {
		if strings.HasPrefix(n, p) {
			return true
		}
	}
	return false
}

var mgmtAddrRE = regexp.MustCompile(`198\.19\.([0-9]{1,3})\.`)

// usedMgmtSubnets returns the third octets of 198.19.x.0/24 networks already
// addressed or routed in the root namespace.
func usedMgmtSubnets(ctx context.Context) (map[int]bool, error) {
	used := map[int]bool{}
	for _, args := range [][]string{{"-4", "-o", "addr", "show"}, {"-4", "route", "show", "table", "all"}} {
		out, err := ipCmd(ctx, "", args...)
		if err != nil {
			return nil, fmt.Errorf("lab: %w", err)
		}
		for _, m := range mgmtAddrRE.FindAllStringSubmatch(out, -1) {
			n, _ := strconv.Atoi(m[1])
			used[n] = true
		}
	}
	return used, nil
}

// build creates the fabric, the management bridge and the hypervisors.
func (l *Lab) build(ctx context.Context) error {
	mtu := strconv.Itoa(l.opts.UnderlayMTU)
	// Fabric: a namespace with a Linux bridge joining the underlay veths.
	if err := addNamespace(ctx, l.fabricNS); err != nil {
		return err
	}
	if _, err := ipCmd(ctx, l.fabricNS, "link", "add", "br0", "mtu", mtu, "type", "bridge", "stp_state", "0"); err != nil {
		return err
	}
	if _, err := ipCmd(ctx, l.fabricNS, "link", "set", "br0", "up"); err != nil {
		return err
	}
	// Management: a Linux bridge in the root namespace owning the
	// controller address; every hypervisor has a veth on it.
	if _, err := ipCmd(ctx, "", "link", "add", l.mgmtBridge, "type", "bridge", "stp_state", "0"); err != nil {
		return err
	}
	disableIPv6("", l.mgmtBridge)
	if _, err := ipCmd(ctx, "", "addr", "add", l.ctrlIP.String()+"/24", "dev", l.mgmtBridge); err != nil {
		return err
	}
	if _, err := ipCmd(ctx, "", "link", "set", l.mgmtBridge, "up"); err != nil {
		return err
	}
	l.ctrlPort = l.opts.ControllerPort
	if l.ctrlPort == 0 {
		ln, err := net.Listen("tcp", netip.AddrPortFrom(l.ctrlIP, 0).String())
		if err != nil {
			return fmt.Errorf("picking a controller port: %w", err)
		}
		l.ctrlPort = ln.Addr().(*net.TCPAddr).Port
		ln.Close()
	}

	for i := 1; i <= l.opts.Hypervisors; i++ {
		hv, err := l.buildHypervisor(ctx, i)
		if hv != nil {
			l.hvs = append(l.hvs, hv)
		}
		if err != nil {
			return fmt.Errorf("hv%d: %w", i, err)
		}
	}
	return nil
}

func (l *Lab) buildHypervisor(ctx context.Context, i int) (*Hypervisor, error) {
	mgmt := l.ctrlIP.As4()
	hv := &Hypervisor{
		Index:      i,
		Name:       fmt.Sprintf("hv%d", i),
		NS:         fmt.Sprintf("%shv%d", l.Prefix, i),
		Dir:        filepath.Join(l.Dir, fmt.Sprintf("hv%d", i)),
		UnderlayIP: netip.AddrFrom4([4]byte{198, 18, 0, byte(i)}),
		MgmtIP:     netip.AddrFrom4([4]byte{198, 19, mgmt[2], byte(10 + i)}),
	}
	mtu := strconv.Itoa(l.opts.UnderlayMTU)
	if err := os.MkdirAll(hv.Dir, 0o755); err != nil {
		return nil, err
	}
	if err := addNamespace(ctx, hv.NS); err != nil {
		return nil, err
	}
	if err := startOVS(ctx, hv); err != nil {
		return hv, err
	}
	// Underlay: eth1 in the hypervisor, "hv<i>" on the fabric bridge.
	fabIf := fmt.Sprintf("hv%d", i)
	steps := [][]string{
		{hv.NS, "link", "add", "eth1", "mtu", mtu, "type", "veth", "peer", "name", fabIf, "mtu", mtu, "netns", l.fabricNS},
		{l.fabricNS, "link", "set", fabIf, "master", "br0", "up"},
		{hv.NS, "link", "set", "eth1", "up"},
	}
	for _, s := range steps {
		if _, err := ipCmd(ctx, s[0], s[1:]...); err != nil {
			return hv, err
		}
	}
	if _, err := vsctl(ctx, hv, "add-br", PhysBridge,
		"--", "set", "bridge", PhysBridge, "datapath_type=netdev",
		"--", "add-port", PhysBridge, "eth1",
		"--", "set", "interface", PhysBridge, "mtu_request="+mtu); err != nil {
		return hv, err
	}
	if err := waitLink(ctx, hv.NS, PhysBridge); err != nil {
		return hv, err
	}
	steps = [][]string{
		{hv.NS, "addr", "add", hv.UnderlayIP.String() + "/24", "dev", PhysBridge},
		{hv.NS, "link", "set", PhysBridge, "up"},
		// Management veth to the root namespace.
		{"", "link", "add", l.mgmtLink(i), "type", "veth", "peer", "name", "mgmt0", "netns", hv.NS},
		{"", "link", "set", l.mgmtLink(i), "master", l.mgmtBridge, "up"},
		{hv.NS, "addr", "add", hv.MgmtIP.String() + "/24", "dev", "mgmt0"},
		{hv.NS, "link", "set", "mgmt0", "up"},
	}
	for _, s := range steps {
		if _, err := ipCmd(ctx, s[0], s[1:]...); err != nil {
			return hv, err
		}
		if s[0] == "" && s[1] == "link" && s[2] == "add" {
			disableIPv6("", l.mgmtLink(i))
		}
	}
	return hv, nil
}

func (l *Lab) mgmtLink(i int) string { return fmt.Sprintf("%sm%d", l.Prefix, i) }

// waitLink waits until a link appears in a namespace (OVS creates internal
// ports asynchronously).
func waitLink(ctx context.Context, ns, name string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := ipCmd(ctx, ns, "link", "show", name); err == nil {
			return nil
		} else if time.Now().After(deadline) {
			return fmt.Errorf("link %s did not appear in %s: %w", name, ns, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// addNamespace creates a namespace with loopback up and IPv6 off (so that
// no router solicitations or MLD reports pollute captures; a tenant with an
// IPv6 address turns it back on for its own interface).
func addNamespace(ctx context.Context, ns string) error {
	if _, err := run(ctx, nil, "ip", "netns", "add", ns); err != nil {
		return err
	}
	for _, k := range []string{"net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"} {
		if _, err := runIn(ctx, ns, nil, "sysctl", "-qw", k); err != nil {
			return err
		}
	}
	_, err := ipCmd(ctx, ns, "link", "set", "lo", "up")
	return err
}

// disableIPv6 turns IPv6 off on one root-namespace interface (best effort).
func disableIPv6(ns, ifname string) {
	if ns != "" {
		return
	}
	_ = os.WriteFile("/proc/sys/net/ipv6/conf/"+ifname+"/disable_ipv6", []byte("1"), 0o644)
}

// Hypervisors returns the lab's hypervisors in order.
func (l *Lab) Hypervisors() []*Hypervisor { return append([]*Hypervisor(nil), l.hvs...) }

// HV returns hypervisor i (1-based); it panics on a bad index, a test bug.
func (l *Lab) HV(i int) *Hypervisor {
	if i < 1 || i > len(l.hvs) {
		panic(fmt.Sprintf("lab: no hypervisor %d (have %d)", i, len(l.hvs)))
	}
	return l.hvs[i-1]
}

// OVSDBSocket is hypervisor i's OVSDB remote, as nva's NVE "ovsdb" field
// takes it: "unix:/…/db.sock".
func (l *Lab) OVSDBSocket(i int) string { return "unix:" + filepath.Join(l.HV(i).Dir, "db.sock") }

// UnderlayIP is hypervisor i's underlay address (on br-phy).
func (l *Lab) UnderlayIP(i int) string { return l.HV(i).UnderlayIP.String() }

// MgmtIP is hypervisor i's management address.
func (l *Lab) MgmtIP(i int) string { return l.HV(i).MgmtIP.String() }

// ControllerIP is the root-namespace address every hypervisor reaches the
// controller at.
func (l *Lab) ControllerIP() string { return l.ctrlIP.String() }

// ControllerPort is the TCP port the controller should listen on.
func (l *Lab) ControllerPort() int { return l.ctrlPort }

// ControllerAddr is "ip:port" for the controller to listen on (nva's
// --openflow-addr).
func (l *Lab) ControllerAddr() string {
	return netip.AddrPortFrom(l.ctrlIP, uint16(l.ctrlPort)).String()
}

// ControllerTarget is the OVS controller target "tcp:ip:port" (nva's
// --openflow-advertise, in the ovs-vsctl set-controller form).
func (l *Lab) ControllerTarget() string { return "tcp:" + l.ControllerAddr() }

// FabricNS is the fabric namespace; the fabric side of hypervisor i's
// underlay veth is "hv<i>" in it.
func (l *Lab) FabricNS() string { return l.fabricNS }

// Logf logs through the lab's logger.
func (l *Lab) Logf(format string, args ...any) { l.logf(format, args...) }

// AddArtifact registers a file (e.g. nva's log) to copy into the failure
// artifacts.
func (l *Lab) AddArtifact(path string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.artifacts = append(l.artifacts, path)
}

// OnDump registers a function that writes extra failure artifacts into dir
// (e.g. nva's view of the flows through its API).
func (l *Lab) OnDump(f func(dir string)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.hooks = append(l.hooks, f)
}

// Close stops every process the lab started and removes its namespaces,
// links and state directory. It is idempotent.
func (l *Lab) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	procs := l.procs
	var bgs []*bgCmd
	for b := range l.bg {
		bgs = append(bgs, b)
	}
	l.mu.Unlock()

	for _, b := range bgs {
		b.kill()
	}
	for _, p := range procs {
		_ = p.Stop(3 * time.Second)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := cleanPrefix(ctx, l.Prefix, l.Dir)
	l.logf("lab %s: removed", l.Prefix)
	return err
}
