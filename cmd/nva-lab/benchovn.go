package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nva-project/nva/integration/lab"
)

// bench-ovn runs nva's bench workload and the same workload on OVN (Debian's
// ovn-central and ovn-host, OVN 23.03) in the same kind of lab, one after
// the other in the same run, and prints both tables and their ratios:
// per-port attach latency (POST ?wait=realized vs ovn-nbctl --wait=hv
// lsp-add), flows per hypervisor, and tenant TCP throughput beside a plain
// actions=NORMAL bridge.

// ovnSizeResult is one row of OVN's latency table.
type ovnSizeResult struct {
	// ramp: M, the ramps run, each lsp-add's and lsp-del's latency
	// (--wait=hv, sorted), the failed commands, each pass's p50.
	ramp
	Flows []int // OpenFlow flows on br-int per hypervisor after M ports
	// SwitchCPUPerWrite is the hypervisors' ovs-vswitchd CPU time
	// together over the attach ramps divided by their writes, as in
	// nva's table (0 when unknown).
	SwitchCPUPerWrite time.Duration
}

func benchOVNCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench-ovn", flag.ContinueOnError)
	fs.SetOutput(stderr)
	nvaPath := fs.String("nva", "", "nva binary (default: build cmd/nva into a temporary directory)")
	sizesFlag := fs.String("sizes", "10,50,200", "comma-separated numbers of ports M to attach")
	iperfSecs := fs.Int("iperf-seconds", 5, "duration of each TCP throughput run")
	encap := fs.String("ovn-encap", "geneve", "OVN's encapsulation: geneve (OVN's default) or vxlan (nva's bench VN uses vxlan)")
	ovnOnly := fs.Bool("ovn-only", false, "run only OVN's side (to check an OVN setup; prints no ratios)")
	nvaPlugged := fs.Bool("nva-plugged", true, "plug nva's interfaces into br-int before each timed ramp too, as OVN's are (a write then does not include creating the OVS port): the like-for-like comparison; -nva-plugged=false has nva create each port (with -port-type veth)")
	minWrites := fs.Int("min-writes", defaultMinWrites, "repeat a size's ramp (attach M ports, detach them) on both systems until it has at least this many writes")
	passes := fs.Int("passes", defaultPasses, passesUsage+", on both systems")
	portType := fs.String("port-type", "internal", portTypeUsage+", on both systems (the tenants of the throughput runs stay veths); internal, the default, is a VM's tap and needs -nva-plugged")
	if err := fs.Parse(args); err != nil {
		return err
	}
	internal, err := parsePortType(*portType, *nvaPlugged || *ovnOnly, "-nva-plugged")
	if err != nil {
		return err
	}
	if *minWrites < 1 {
		return fmt.Errorf("-min-writes: %d is not a positive number of writes", *minWrites)
	}
	if err := checkPasses(*passes); err != nil {
		return err
	}
	sizes, err := parseSizes(*sizesFlag)
	if err != nil {
		return err
	}
	if *encap != "geneve" && *encap != "vxlan" {
		return fmt.Errorf("-ovn-encap: %q: want geneve or vxlan", *encap)
	}
	if reason := lab.Requirements(); reason != "" {
		return fmt.Errorf("cannot run a lab: %s", reason)
	}
	if reason := ovnRequirements(); reason != "" {
		return fmt.Errorf("cannot run OVN: %s (install with scripts/install-ovn.sh)", reason)
	}
	logger := log.New(stderr, "bench-ovn: ", log.Ltime|log.Lmicroseconds)
	bin, cleanBin, err := nvaBinary(ctx, *nvaPath, logger.Printf)
	if err != nil {
		return err
	}
	defer cleanBin()
	iperfDur := time.Duration(*iperfSecs) * time.Second

	// The two systems run one after the other, each on a lab of its own,
	// so they never share the CPUs.
	var nvaRows []sizeResult
	var nvaTCP lab.IperfResult
	if !*ovnOnly {
		if nvaRows, nvaTCP, err = benchNVA(ctx, bin, sizes, iperfDur, benchOptions{Plugged: *nvaPlugged, MinWrites: *minWrites, InternalPorts: internal, Passes: *passes}, logger); err != nil {
			return fmt.Errorf("nva: %w", err)
		}
	}
	ovnRows, ovnTCP, err := benchOVN(ctx, sizes, *minWrites, *passes, iperfDur, *encap, internal, logger)
	if err != nil {
		return fmt.Errorf("OVN: %w", err)
	}
	var baseTCP lab.IperfResult
	if iperfDur > 0 {
		if baseTCP, err = baseline(ctx, iperfDur, logger); err != nil {
			logger.Printf("baseline: %v", err)
		}
	}

	if !*ovnOnly {
		printNVATable(stdout, nvaRows, *nvaPlugged)
	}
	fmt.Fprintf(stdout, "\nOVN 23.03 on the same lab shape (3 hypervisors, userspace OVS, one ovn-controller per hypervisor, NB/SB ovsdb-server and ovn-northd\n"+
		"on the host, %s): every port is an \"ovn-nbctl --wait=hv lsp-add\" of a VIF already plugged into br-int (external_ids:iface-id),\n"+
		"timed from the command's start until it exits (every hypervisor has installed the change); ramps repeat as nva's do.\n", *encap)
	if internal {
		fmt.Fprintf(stdout, "(-port-type internal, the default: on both systems the plugged interfaces were OVS internal ports, tap devices as a VM's are, not veths)\n")
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nM\twrites\tp50 lsp-add --wait=hv\tp99\tmax\tfailed\tflows hv1/hv2/hv3\tp50 lsp-del --wait=hv\tOVS CPU per write")
	for _, r := range ovnRows {
		fmt.Fprintf(tw, "%d\t%d\t%v\t%v\t%v\t%d\t%s\t%v\t%v\n", r.M, len(r.Latencies),
			round(percentile(r.Latencies, 0.5)), round(percentile(r.Latencies, 0.99)), round(percentile(r.Latencies, 1)),
			r.Failed, joinInts(r.Flows), round(percentile(r.DetachLatencies, 0.5)), round(r.SwitchCPUPerWrite))
	}
	tw.Flush()
	for _, r := range ovnRows {
		if r.FirstErr != nil {
			fmt.Fprintf(stdout, "M=%d: first failed OVN command: %v\n", r.M, r.FirstErr)
		}
	}

	if *ovnOnly {
		fmt.Fprintf(stdout, "\nTCP through OVN (%s): %.0f Mbit/s; plain NORMAL bridge: %.0f Mbit/s\n", *encap, ovnTCP.BitsPerSecond/1e6, baseTCP.BitsPerSecond/1e6)
		return nil
	}
	fmt.Fprintf(stdout, "\nnva / OVN (below 1: nva is faster or smaller):\n")
	tw = tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "M\tp50 ratio\tp99 ratio\tmean flows per hypervisor nva / OVN\tOVS CPU per write nva / OVN")
	for i := range nvaRows {
		if i >= len(ovnRows) {
			break
		}
		n, o := nvaRows[i], ovnRows[i]
		fmt.Fprintf(tw, "%d\t%s\t%s\t%.0f / %.0f = %s\t%s\n", n.M,
			ratio(percentile(n.Latencies, 0.5).Seconds(), percentile(o.Latencies, 0.5).Seconds()),
			ratio(percentile(n.Latencies, 0.99).Seconds(), percentile(o.Latencies, 0.99).Seconds()),
			mean(n.Flows), mean(o.Flows), ratio(mean(n.Flows), mean(o.Flows)),
			ratio(n.SwitchCPUPerWrite.Seconds(), o.SwitchCPUPerWrite.Seconds()))
	}
	tw.Flush()
	if len(nvaRows) > 1 && len(ovnRows) > 1 {
		first, last := nvaRows[0], nvaRows[len(nvaRows)-1]
		ofirst, olast := ovnRows[0], ovnRows[len(ovnRows)-1]
		fmt.Fprintf(stdout, "flatness, p50 at M=%d / p50 at M=%d: nva %s; OVN %s\n", last.M, first.M,
			flatness(first.Latencies, last.Latencies, first.PassP50, last.PassP50),
			flatness(ofirst.Latencies, olast.Latencies, ofirst.PassP50, olast.PassP50))
	}

	if iperfDur == 0 {
		fmt.Fprintln(stdout, "\nNo TCP throughput runs (-iperf-seconds 0).")
		return nil
	}
	fmt.Fprintf(stdout, "\nTCP throughput, iperf3 %d s, tenant MTU 1500, hv1 -> hv2 (underlay MTU %d):\n", *iperfSecs, lab.DefaultUnderlayMTU)
	tw = tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  through nva's pipeline (vxlan)\t%.0f Mbit/s\t(%d retransmits)\n", nvaTCP.BitsPerSecond/1e6, nvaTCP.Retransmits)
	fmt.Fprintf(tw, "  through OVN (%s)\t%.0f Mbit/s\t(%d retransmits)\n", *encap, ovnTCP.BitsPerSecond/1e6, ovnTCP.Retransmits)
	fmt.Fprintf(tw, "  plain actions=NORMAL bridge (vxlan)\t%.0f Mbit/s\t(%d retransmits)\n", baseTCP.BitsPerSecond/1e6, baseTCP.Retransmits)
	if baseTCP.BitsPerSecond > 0 {
		fmt.Fprintf(tw, "  nva / NORMAL\t%.2f\t\n", nvaTCP.BitsPerSecond/baseTCP.BitsPerSecond)
		fmt.Fprintf(tw, "  OVN / NORMAL\t%.2f\t\n", ovnTCP.BitsPerSecond/baseTCP.BitsPerSecond)
	}
	if ovnTCP.BitsPerSecond > 0 {
		fmt.Fprintf(tw, "  nva / OVN\t%.2f\t\n", nvaTCP.BitsPerSecond/ovnTCP.BitsPerSecond)
	}
	tw.Flush()
	return nil
}

func ratio(a, b float64) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", a/b)
}

func mean(v []int) float64 {
	if len(v) == 0 {
		return 0
	}
	s := 0
	for _, x := range v {
		s += x
	}
	return float64(s) / float64(len(v))
}

// ovnRequirements names what is missing to run OVN ("" when nothing).
func ovnRequirements() string {
	for _, b := range []string{"ovn-northd", "ovn-controller", "ovn-nbctl", "ovn-sbctl", "ovsdb-server", "ovsdb-tool"} {
		if _, err := exec.LookPath(b); err != nil {
			return b + " not found"
		}
	}
	for _, f := range []string{ovnNBSchema, ovnSBSchema} {
		if _, err := os.Stat(f); err != nil {
			return f + " not found"
		}
	}
	return ""
}

const (
	ovnNBSchema = "/usr/share/ovn/ovn-nb.ovsschema"
	ovnSBSchema = "/usr/share/ovn/ovn-sb.ovsschema"
	ovnSBPort   = "6642"
)

// ovnLab is OVN running on a lab: the central databases and northd in the
// root namespace (the SB database listening on the lab's controller
// address, which every hypervisor reaches over its management veth), one
// ovn-controller per hypervisor.
type ovnLab struct {
	l   *lab.Lab
	dir string
}

func (o *ovnLab) nbDB() string { return "unix:" + filepath.Join(o.dir, "nb.sock") }
func (o *ovnLab) sbDB() string { return "unix:" + filepath.Join(o.dir, "sb.sock") }

// nbctl runs ovn-nbctl against the NB database.
func (o *ovnLab) nbctl(ctx context.Context, args ...string) (string, error) {
	return o.ctl(ctx, "ovn-nbctl", o.nbDB(), args...)
}

func (o *ovnLab) sbctl(ctx context.Context, args ...string) (string, error) {
	return o.ctl(ctx, "ovn-sbctl", o.sbDB(), args...)
}

func (o *ovnLab) ctl(ctx context.Context, bin, db string, args ...string) (string, error) {
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, bin, append([]string{"--db=" + db, "--timeout=110"}, args...)...)
	cmd.Env = append(os.Environ(), "OVS_RUNDIR="+o.dir, "OVN_RUNDIR="+o.dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", bin, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// startOVN starts OVN on l: NB and SB ovsdb-servers, ovn-northd, and an
// ovn-controller on every hypervisor with the given encapsulation, and
// waits until every chassis is registered.
func startOVN(ctx context.Context, l *lab.Lab, encap string, logf func(string, ...any)) (*ovnLab, error) {
	o := &ovnLab{l: l, dir: filepath.Join(l.Dir, "ovn")}
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return nil, err
	}
	// OVN's daemons put their control sockets in OVN_RUNDIR, ovsdb-server
	// in OVS_RUNDIR: both private to this lab.
	env := append(os.Environ(), "OVS_RUNDIR="+o.dir, "OVS_LOGDIR="+o.dir, "OVN_RUNDIR="+o.dir, "OVN_LOGDIR="+o.dir)
	for _, db := range []struct{ name, schema string }{{"nb", ovnNBSchema}, {"sb", ovnSBSchema}} {
		if out, err := exec.CommandContext(ctx, "ovsdb-tool", "create", filepath.Join(o.dir, db.name+".db"), db.schema).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("ovsdb-tool create %s: %w: %s", db.name, err, out)
		}
	}
	spawn := func(name string, args ...string) error {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Env = env
		_, err := l.Spawn(name, cmd)
		return err
	}
	if err := spawn("ovn-nb-ovsdb", "ovsdb-server", filepath.Join(o.dir, "nb.db"),
		"--remote=punix:"+filepath.Join(o.dir, "nb.sock"), "--unixctl="+filepath.Join(o.dir, "nb.ctl"),
		"--pidfile="+filepath.Join(o.dir, "nb.pid"), "--log-file="+filepath.Join(o.dir, "nb.log")); err != nil {
		return nil, err
	}
	if err := spawn("ovn-sb-ovsdb", "ovsdb-server", filepath.Join(o.dir, "sb.db"),
		"--remote=punix:"+filepath.Join(o.dir, "sb.sock"), "--remote=ptcp:"+ovnSBPort+":"+l.ControllerIP(),
		"--unixctl="+filepath.Join(o.dir, "sb.ctl"),
		"--pidfile="+filepath.Join(o.dir, "sb.pid"), "--log-file="+filepath.Join(o.dir, "sb.log")); err != nil {
		return nil, err
	}
	for _, sock := range []string{"nb.sock", "sb.sock"} {
		p := filepath.Join(o.dir, sock)
		if err := lab.WaitFor(ctx, 20*time.Second, 50*time.Millisecond, func() (bool, error) {
			_, err := os.Stat(p)
			return err == nil, nil
		}); err != nil {
			return nil, fmt.Errorf("OVN: %s did not appear: %w", p, err)
		}
	}
	if _, err := o.nbctl(ctx, "--no-wait", "init"); err != nil {
		return nil, err
	}
	if _, err := o.sbctl(ctx, "init"); err != nil {
		return nil, err
	}
	if err := spawn("ovn-northd", "ovn-northd", "--ovnnb-db="+o.nbDB(), "--ovnsb-db="+o.sbDB(),
		"--pidfile="+filepath.Join(o.dir, "northd.pid"), "--log-file="+filepath.Join(o.dir, "northd.log")); err != nil {
		return nil, err
	}
	sb := "tcp:" + l.ControllerIP() + ":" + ovnSBPort
	for _, hv := range l.Hypervisors() {
		if _, err := l.Vsctl(ctx, hv.Index, "set", "open_vswitch", ".",
			"external_ids:system-id="+hv.Name,
			"external_ids:ovn-remote="+sb,
			"external_ids:ovn-encap-type="+encap,
			"external_ids:ovn-encap-ip="+hv.UnderlayIP.String(),
			"external_ids:ovn-bridge-datapath-type=netdev"); err != nil {
			return nil, err
		}
		cmd := exec.Command("ip", "netns", "exec", hv.NS, "ovn-controller", "unix:"+filepath.Join(hv.Dir, "db.sock"),
			"--pidfile="+filepath.Join(hv.Dir, "ovn-controller.pid"), "--log-file="+filepath.Join(hv.Dir, "ovn-controller.log"))
		cmd.Env = append(os.Environ(), "OVS_RUNDIR="+hv.Dir, "OVS_LOGDIR="+hv.Dir, "OVN_RUNDIR="+hv.Dir, "OVN_LOGDIR="+hv.Dir)
		if _, err := l.Spawn("ovn-controller-"+hv.Name, cmd); err != nil {
			return nil, err
		}
	}
	// Every chassis registered and every br-int created.
	if err := lab.WaitFor(ctx, 60*time.Second, 200*time.Millisecond, func() (bool, error) {
		out, err := o.sbctl(ctx, "--bare", "--columns=name", "list", "chassis")
		if err != nil {
			return false, nil
		}
		return len(strings.Fields(out)) == len(l.Hypervisors()), nil
	}); err != nil {
		return nil, fmt.Errorf("OVN: not every chassis registered: %w\n%s", err, o.logTails())
	}
	for _, hv := range l.Hypervisors() {
		if err := lab.WaitFor(ctx, 30*time.Second, 100*time.Millisecond, func() (bool, error) {
			_, err := l.Vsctl(ctx, hv.Index, "br-exists", lab.IntegrationBridge)
			return err == nil, nil
		}); err != nil {
			return nil, fmt.Errorf("OVN: %s has no %s: %w", hv.Name, lab.IntegrationBridge, err)
		}
	}
	logf("OVN up: %d chassis, %s", len(l.Hypervisors()), encap)
	return o, nil
}

// logTails is the end of every OVN log, for errors.
func (o *ovnLab) logTails() string {
	var b strings.Builder
	logs := []string{filepath.Join(o.dir, "sb.log"), filepath.Join(o.dir, "northd.log")}
	for _, hv := range o.l.Hypervisors() {
		logs = append(logs, filepath.Join(hv.Dir, "ovn-controller.log"))
	}
	for _, p := range logs {
		data, _ := os.ReadFile(p)
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		fmt.Fprintf(&b, "--- %s:\n%s\n", p, strings.Join(lines[max(0, len(lines)-8):], "\n"))
	}
	return b.String()
}

// resolveUnderlay pings every other hypervisor's underlay address once from
// each hypervisor, so no timed operation waits for underlay ARP.
func resolveUnderlay(ctx context.Context, l *lab.Lab) {
	for _, a := range l.Hypervisors() {
		for _, b := range l.Hypervisors() {
			if a.Index != b.Index {
				_ = exec.CommandContext(ctx, "ip", "netns", "exec", a.NS, "ping", "-c", "1", "-W", "2", b.UnderlayIP.String()).Run()
			}
		}
	}
}

// plugVIF adds interface ifname on hypervisor hv to br-int as OVN's VIF for
// logical port lsp (what a hypervisor agent does before the CMS creates the
// logical port).
func plugVIF(ctx context.Context, l *lab.Lab, hv int, ifname, lsp string) error {
	return plugVIFType(ctx, l, hv, ifname, lsp, false)
}

// plugVIFType is plugVIF of an existing interface, or with internal of an
// OVS internal port it creates (plugInterface).
func plugVIFType(ctx context.Context, l *lab.Lab, hv int, ifname, lsp string, internal bool) error {
	set := []string{"--may-exist", "add-port", lab.IntegrationBridge, ifname,
		"--", "set", "interface", ifname, "external_ids:iface-id=" + lsp}
	if internal {
		set = append(set, "type=internal")
	}
	_, err := l.Vsctl(ctx, hv, set...)
	return err
}

// benchOVN runs the workload on OVN.
func benchOVN(ctx context.Context, sizes []int, minWrites, passes int, iperfDur time.Duration, encap string, internal bool, logger *log.Logger) ([]ovnSizeResult, lab.IperfResult, error) {
	var tcp lab.IperfResult
	l, err := lab.Create(ctx, lab.Options{Hypervisors: 3, Logf: logger.Printf})
	if err != nil {
		return nil, tcp, err
	}
	defer l.Close()
	o, err := startOVN(ctx, l, encap, logger.Printf)
	if err != nil {
		return nil, tcp, err
	}
	resolveUnderlay(ctx, l)
	if _, err := o.nbctl(ctx, "--wait=hv", "ls-add", "bench"); err != nil {
		return nil, tcp, err
	}
	for _, ts := range []struct{ name, ip, mac string }{
		{"x1", "192.0.2.1", "02:00:00:00:0b:01"},
		{"x2", "192.0.2.2", "02:00:00:00:0b:02"},
	} {
		hv := 1
		if ts.name == "x2" {
			hv = 2
		}
		t, err := l.AddTenant(ctx, hv, ts.name, ts.mac, []string{ts.ip + "/24"}, 0)
		if err != nil {
			return nil, tcp, err
		}
		if err := plugVIF(ctx, l, hv, t.If, ts.name); err != nil {
			return nil, tcp, err
		}
		if _, err := o.nbctl(ctx, "--wait=hv", "lsp-add", "bench", ts.name, "--", "lsp-set-addresses", ts.name, ts.mac+" "+ts.ip); err != nil {
			return nil, tcp, err
		}
	}
	rows := make([]ovnSizeResult, len(sizes))
	for range max(1, passes) {
		for i, m := range sizes {
			r, err := benchOVNSize(ctx, l, o, m, rounds(m, minWrites), internal, logger)
			if err != nil {
				return rows, tcp, err
			}
			rows[i] = mergeOVNSize(rows[i], r)
			if ctx.Err() != nil {
				return rows, tcp, ctx.Err()
			}
		}
	}
	// Throughput last, as on nva's side (none with iperfDur 0).
	if iperfDur == 0 {
		return rows, tcp, nil
	}
	if _, err := l.Reachable(ctx, "x1", "192.0.2.2", 30*time.Second); err != nil {
		logger.Printf("x1 cannot reach x2 through OVN (%v): no throughput figure", err)
	} else if tcp, err = l.Iperf(ctx, "x1", "x2", iperfDur); err != nil {
		logger.Printf("iperf3 through OVN: %v", err)
	}
	logger.Printf("TCP through OVN: %v", tcp)
	return rows, tcp, nil
}

// benchOVNSize attaches m logical ports one command at a time, each
// waiting for every hypervisor, then detaches them; the ramp runs n times
// over the same VIFs (flow counts after the last attach).
func benchOVNSize(ctx context.Context, l *lab.Lab, o *ovnLab, m, n int, internal bool, logger *log.Logger) (ovnSizeResult, error) {
	r := ovnSizeResult{ramp: ramp{M: m, Rounds: n}}
	hvs := len(l.Hypervisors())
	ifname := func(i int) string { return fmt.Sprintf("vm-p%d", i) }
	lsp := func(i int) string { return fmt.Sprintf("p%d", i) }
	hvOf := func(i int) int { return i%hvs + 1 }
	for i := 0; i < m; i++ {
		if !internal {
			if err := l.AddBareInterface(ctx, hvOf(i), ifname(i)); err != nil {
				return r, err
			}
		}
		if err := plugVIFType(ctx, l, hvOf(i), ifname(i), lsp(i), internal); err != nil {
			return r, err
		}
	}
	var elapsed, swCPU time.Duration
	swKnown := true
	for round := 0; round < n; round++ {
		sw0, swErr := switchesCPU(l)
		start := time.Now()
		for i := 0; i < m; i++ {
			mac := fmt.Sprintf("02:00:00:10:%02x:%02x", i/256, i%256)
			ip := fmt.Sprintf("203.0.113.%d", i+1)
			t0 := time.Now()
			_, err := o.nbctl(ctx, "--wait=hv", "lsp-add", "bench", lsp(i), "--", "lsp-set-addresses", lsp(i), mac+" "+ip)
			r.Latencies = append(r.Latencies, time.Since(t0))
			if err != nil {
				r.Failed++
				if r.FirstErr == nil {
					r.FirstErr = err
				}
				if ctx.Err() != nil {
					return r, ctx.Err()
				}
			}
		}
		elapsed += time.Since(start)
		if sw1, err := switchesCPU(l); err == nil && swErr == nil {
			swCPU += sw1 - sw0
		} else {
			swKnown = false
		}
		if round == n-1 {
			for _, hv := range l.Hypervisors() {
				f, err := l.DumpFlows(ctx, hv.Index, lab.IntegrationBridge)
				if err != nil {
					return r, err
				}
				r.Flows = append(r.Flows, len(f))
			}
		}
		for i := 0; i < m; i++ {
			t0 := time.Now()
			_, err := o.nbctl(ctx, "--wait=hv", "lsp-del", lsp(i))
			if err != nil && ctx.Err() != nil {
				return r, ctx.Err()
			}
			r.DetachLatencies = append(r.DetachLatencies, time.Since(t0))
		}
	}
	if swKnown && m*n > 0 {
		r.SwitchCPUPerWrite = swCPU / time.Duration(m*n)
	}
	sort.Slice(r.Latencies, func(i, j int) bool { return r.Latencies[i] < r.Latencies[j] })
	sort.Slice(r.DetachLatencies, func(i, j int) bool { return r.DetachLatencies[i] < r.DetachLatencies[j] })
	r.PassP50 = []time.Duration{percentile(r.Latencies, 0.5)}
	logger.Printf("OVN M=%d: %d rounds attached in %v (p50 %v, p99 %v, %d failed), flows %s", m, n, elapsed.Round(time.Millisecond),
		round(percentile(r.Latencies, 0.5)), round(percentile(r.Latencies, 0.99)), r.Failed, joinInts(r.Flows))
	var errs []error
	for i := 0; i < m; i++ {
		if _, err := l.Vsctl(ctx, hvOf(i), "--if-exists", "del-port", lab.IntegrationBridge, ifname(i)); err != nil {
			errs = append(errs, err)
		}
		if !internal { // (del-port removed an internal port)
			_ = l.DeleteInterface(ctx, hvOf(i), ifname(i))
		}
	}
	return r, errors.Join(errs...)
}
