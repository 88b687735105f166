package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/integration/lab"
	"github.com/nva-project/nva/internal/fleet"
)

var nvaCookieMatch = fmt.Sprintf("cookie=%#x/%#x", flow.NVACookie, flow.CookieTagMask)

// sizeResult is one row of the latency table.
type sizeResult struct {
	// ramp: M, the ramps run, each write's and each detach's latency
	// (per port write and DELETE, sorted), the failed writes (e.g. 504
	// not realized), each pass's p50.
	ramp
	Flows, Groups      []int           // per hypervisor, after attaching M ports
	Installed          []time.Duration // per port: write until its flows are on its NVE, sorted
	NotInstalled       int             // ports whose flows did not appear within the timeout
	AfterAnswer        int             // ports whose flow event was read after their write's realized answer
	MaxAfterAnswer     time.Duration   // the largest such gap
	TotalAttachElapsed time.Duration
	// From nva's metrics over the attach phases (0 when nva exports none):
	// the mean time of one NVE reconciliation (compile, diff, send,
	// barrier: includes the switch's work) and of nva's own part of it
	// (compile and diff).
	MeanReconcile, MeanPlan time.Duration
	// CPUPerWrite is nva's CPU time (user + system, /proc) over the
	// attach ramps divided by their writes: unlike the latencies, other processes on
	// the machine do not inflate it (0 when unknown). Load is the
	// machine's 1-minute load average at the end of the last ramp.
	CPUPerWrite time.Duration
	// SwitchCPUPerWrite is the same for the hypervisors' ovs-vswitchd
	// together: what the switches spend on a write (0 when unknown).
	SwitchCPUPerWrite time.Duration
	Load              string
	// metrics are nva's metric deltas summed over the attach phases.
	metrics map[string]float64
}

// switchesCPU is the CPU time (user + system) of the lab's ovs-vswitchd
// processes together, by their pidfiles.
func switchesCPU(l *lab.Lab) (time.Duration, error) {
	var total time.Duration
	for _, hv := range l.Hypervisors() {
		b, err := os.ReadFile(filepath.Join(hv.Dir, "ovs-vswitchd.pid"))
		if err != nil {
			return 0, err
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			return 0, fmt.Errorf("%s: %w", hv.Dir, err)
		}
		st, err := fleet.ReadProc(pid)
		if err != nil {
			return 0, err
		}
		total += st.CPU
	}
	return total, nil
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted))+0.5) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(sorted) {
		i = len(sorted) - 1
	}
	return sorted[i]
}

func bench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	nvaPath := fs.String("nva", "", "nva binary (default: build cmd/nva into a temporary directory)")
	sizesFlag := fs.String("sizes", "10,50,200", "comma-separated numbers of ports M to attach")
	iperfSecs := fs.Int("iperf-seconds", 5, "duration of each TCP throughput run (0: no throughput runs)")
	profileDir := fs.String("cpuprofile", "", "directory for CPU profiles of nva during each size's attach ramp (nva-M<M>-p<pass>-<k>.pprof, 2 s each; merge them with go tool pprof)")
	plugged := fs.Bool("plugged", false, "plug the M interfaces into br-int before the timed ramp (as bench-ovn's OVN side does), so a write does not include creating the OVS port")
	minWrites := fs.Int("min-writes", defaultMinWrites, "repeat a size's ramp (attach M ports, detach them) until it has at least this many writes, so a small M's percentiles rest on as many samples as a large one's")
	portType := fs.String("port-type", "veth", portTypeUsage+"; internal needs -plugged, and applies to -idle-ports too")
	passes := fs.Int("passes", defaultPasses, passesUsage)
	idlePorts := fs.Int("idle-ports", 0, "plug this many more interfaces into the br-ints (spread over the hypervisors) for the whole run, never attached to nva: a small M then runs on bridges with as many ports as a large M's, which tells the switches' cost of their ports from the VN's size")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *minWrites < 1 {
		return fmt.Errorf("-min-writes: %d is not a positive number of writes", *minWrites)
	}
	if err := checkPasses(*passes); err != nil {
		return err
	}
	if *idlePorts < 0 {
		return fmt.Errorf("-idle-ports: %d is negative", *idlePorts)
	}
	internal, err := parsePortType(*portType, *plugged, "-plugged")
	if err != nil {
		return err
	}
	sizes, err := parseSizes(*sizesFlag)
	if err != nil {
		return err
	}
	if reason := lab.Requirements(); reason != "" {
		return fmt.Errorf("cannot run a lab: %s", reason)
	}
	logger := log.New(stderr, "bench: ", log.Ltime|log.Lmicroseconds)
	bin, cleanBin, err := nvaBinary(ctx, *nvaPath, logger.Printf)
	if err != nil {
		return err
	}
	defer cleanBin()
	iperfDur := time.Duration(*iperfSecs) * time.Second
	rows, nvaTCP, err := benchNVA(ctx, bin, sizes, iperfDur, benchOptions{ProfileDir: *profileDir, Plugged: *plugged, MinWrites: *minWrites, IdlePorts: *idlePorts, InternalPorts: internal, Passes: *passes}, logger)
	if err != nil {
		return err
	}
	if *idlePorts > 0 {
		fmt.Fprintf(stdout, "\n(-idle-ports %d: that many more interfaces were on the br-ints, never attached)", *idlePorts)
	}
	if internal {
		fmt.Fprintf(stdout, "\n(-port-type internal: the plugged interfaces were OVS internal ports, not veths)")
	}
	printNVATable(stdout, rows, *plugged)
	if len(rows) > 1 {
		first, last := rows[0], rows[len(rows)-1]
		fmt.Fprintf(stdout, "flatness, p50 at M=%d / p50 at M=%d: %s\n", last.M, first.M, flatness(first.Latencies, last.Latencies, first.PassP50, last.PassP50))
	}
	if iperfDur == 0 {
		return nil
	}
	baseTCP, err := baseline(ctx, iperfDur, logger)
	if err != nil {
		logger.Printf("baseline: %v", err)
	}
	fmt.Fprintf(stdout, "\nTCP throughput, iperf3 %d s, tenant MTU 1500, hv1 -> hv2 over VXLAN (underlay MTU %d):\n", *iperfSecs, lab.DefaultUnderlayMTU)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  through nva's pipeline\t%.0f Mbit/s\t(%d retransmits)\n", nvaTCP.BitsPerSecond/1e6, nvaTCP.Retransmits)
	fmt.Fprintf(tw, "  plain actions=NORMAL bridge\t%.0f Mbit/s\t(%d retransmits)\n", baseTCP.BitsPerSecond/1e6, baseTCP.Retransmits)
	if baseTCP.BitsPerSecond > 0 {
		fmt.Fprintf(tw, "  ratio nva / NORMAL\t%.2f\t\n", nvaTCP.BitsPerSecond/baseTCP.BitsPerSecond)
	}
	tw.Flush()
	return nil
}

// parseSizes parses the -sizes flag.
func parseSizes(v string) ([]int, error) {
	var sizes []int
	for _, s := range strings.Split(v, ",") {
		m, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || m < 1 || m > 250 {
			return nil, fmt.Errorf("-sizes: %q is not a number of ports between 1 and 250", s)
		}
		sizes = append(sizes, m)
	}
	return sizes, nil
}

// benchOptions are the variants of nva's side of the bench.
type benchOptions struct {
	// ProfileDir, if not empty, receives CPU profiles of nva over each
	// attach ramp.
	ProfileDir string
	// Plugged plugs each size's interfaces into br-int (ovs-vsctl
	// add-port, not nva-owned) before its timed ramp, as OVN's side of
	// bench-ovn does: a write then realizes flows for an interface that
	// already has its OpenFlow port, and does not include nva's OVSDB
	// transaction and ovs-vswitchd's reconfiguration for a new port.
	Plugged bool
	// MinWrites is the fewest writes a size's row rests on: a size below
	// it repeats its ramp (see rounds).
	MinWrites int
	// IdlePorts more interfaces are on the br-ints for the whole run
	// (spread over the hypervisors), never attached to nva.
	IdlePorts int
	// InternalPorts makes the plugged interfaces (Plugged, IdlePorts) OVS
	// internal ports instead of veths (plugInterface).
	InternalPorts bool
	// Passes is how many times the sizes run in turn (passes.go).
	Passes int
}

// portTypeUsage is the -port-type flag's usage (bench and bench-ovn).
const portTypeUsage = "what a plugged interface is: veth (a veth pair, the peer left in the hypervisor's namespace; ovs-vswitchd's userspace datapath reads it with a recvmmsg into 32 buffers a poll) or internal (an OVS internal port, a tap device it reads with one read a poll)"

// parsePortType checks a -port-type value: it reports whether it is
// internal, which needs the interfaces plugged (plugged, set by the flag
// named pluggedFlag): nva creates the ports it is not given as veths.
func parsePortType(v string, plugged bool, pluggedFlag string) (bool, error) {
	switch v {
	case "veth":
		return false, nil
	case "internal":
		if !plugged {
			return false, fmt.Errorf("-port-type internal: needs %s (nva creates the ports it is not given as veths: give -port-type veth)", pluggedFlag)
		}
		return true, nil
	}
	return false, fmt.Errorf("-port-type: %q is neither veth nor internal", v)
}

// plugInterface puts interface name on hypervisor hv's br-int: a veth
// (the peer left in the hypervisor's namespace), or with internal an OVS
// internal port, a tap device that ovs-vswitchd's userspace datapath
// reads with one read a poll instead of a recvmmsg into 32 buffers.
func plugInterface(ctx context.Context, l *lab.Lab, hv int, name string, internal bool) error {
	if internal {
		_, err := l.Vsctl(ctx, hv, "--may-exist", "add-port", lab.IntegrationBridge, name, "--", "set", "Interface", name, "type=internal")
		return err
	}
	if err := l.AddBareInterface(ctx, hv, name); err != nil {
		return err
	}
	_, err := l.Vsctl(ctx, hv, "--may-exist", "add-port", lab.IntegrationBridge, name)
	return err
}

// defaultMinWrites is the default -min-writes: at M = 10 the ramp runs ten
// times, so its p50 is not the middle of ten samples.
const defaultMinWrites = 100

// rounds is how many times a ramp of m writes runs to reach minWrites.
func rounds(m, minWrites int) int { return max(1, (minWrites+m-1)/m) }

// benchNVA runs nva's side on a lab of its own: the attach ramp for every
// size, then TCP throughput between two tenants (unless iperfDur is 0).
// The lab is gone when it returns.
func benchNVA(ctx context.Context, bin string, sizes []int, iperfDur time.Duration, o benchOptions, logger *log.Logger) ([]sizeResult, lab.IperfResult, error) {
	profileDir := o.ProfileDir
	var nvaTCP lab.IperfResult
	l, err := lab.Create(ctx, lab.Options{Hypervisors: 3, Logf: logger.Printf})
	if err != nil {
		return nil, nvaTCP, err
	}
	defer l.Close()
	opts := lab.NVAOptions{Bin: bin, LogLevel: "info"}
	var prof *profiler
	if profileDir != "" {
		if prof, err = newProfiler(profileDir); err != nil {
			return nil, nvaTCP, err
		}
		opts.ExtraArgs = append(opts.ExtraArgs, "--debug-addr", prof.addr)
	}
	n, err := l.StartNVA(ctx, opts)
	if err != nil {
		return nil, nvaTCP, err
	}
	ov, err := lab.NewOverlay(ctx, l, n, 30*time.Second)
	if err != nil {
		return nil, nvaTCP, err
	}
	ov.RealizeTimeout = 60 * time.Second
	const vni = 2001
	if err := ov.AddVN(ctx, lab.VNSpec{Name: "bench", VNI: vni, Encap: "vxlan"}); err != nil {
		return nil, nvaTCP, err
	}

	hvs := len(l.Hypervisors())
	for i := 0; i < o.IdlePorts; i++ {
		if err := plugInterface(ctx, l, i%hvs+1, fmt.Sprintf("idle-%d", i), o.InternalPorts); err != nil {
			return nil, nvaTCP, err
		}
	}

	// Throughput through nva's pipeline: one tenant on hv1, one on hv2.
	for _, ts := range []lab.TenantSpec{
		{Name: "x1", VN: "bench", HV: 1, IP: "192.0.2.1", MAC: "02:00:00:00:0b:01"},
		{Name: "x2", VN: "bench", HV: 2, IP: "192.0.2.2", MAC: "02:00:00:00:0b:02"},
	} {
		if err := ov.AddTenant(ctx, ts); err != nil {
			return nil, nvaTCP, err
		}
	}
	rows := make([]sizeResult, len(sizes))
	for pass := range max(1, o.Passes) {
		for i, m := range sizes {
			r, err := benchSize(ctx, l, ov, m, rounds(m, o.MinWrites), o, prof, fmt.Sprintf("nva-M%d-p%d", m, pass+1), logger)
			if err != nil {
				return rows, nvaTCP, err
			}
			rows[i] = mergeSize(rows[i], r)
			if ctx.Err() != nil {
				return rows, nvaTCP, ctx.Err()
			}
		}
		if pass > 0 && pass == o.Passes-1 {
			for _, r := range rows {
				logStages(logger, fmt.Sprintf("M=%d, %d passes", r.M, o.Passes), r.metrics)
			}
		}
	}
	// Throughput last: the seconds after a saturating transfer (OVS
	// revalidating and expiring its datapath flows) are not quiet, and
	// would fall in the first ramp.
	if iperfDur > 0 {
		if _, err := ov.ExpectReach(ctx, "x1", "192.0.2.2", 30*time.Second); err != nil {
			logger.Printf("x1 cannot reach x2 through nva (%v): no throughput figure", err)
		} else if nvaTCP, err = l.Iperf(ctx, "x1", "x2", iperfDur); err != nil {
			logger.Printf("iperf3 through nva: %v", err)
		}
		logger.Printf("TCP through nva's pipeline: %v", nvaTCP)
	}
	return rows, nvaTCP, nil
}

// printNVATable prints nva's latency table.
func printNVATable(stdout io.Writer, rows []sizeResult, plugged bool) {
	if plugged {
		fmt.Fprintf(stdout, "\n(-plugged: the interfaces were on br-int before each ramp, as OVN's are in bench-ovn)")
	}
	fmt.Fprintf(stdout, "\nnva bench: 3 hypervisors (userspace Open vSwitch), 1 VXLAN VN, 2 tenants + M ports spread over the hypervisors;\n"+
		"every port is a POST /api/v1/ports?wait=realized, latency measured from the request to the answer; a size with fewer\n"+
		"ports than -min-writes repeats its ramp (attach the M ports, detach them) until it has that many writes, and the sizes run in turn\n"+
		"-passes times (\"writes\" counts all passes);\n"+
		"\"port flows on NVE\" is from a port's request until OVS reports (ovs-ofctl monitor on its NVE's br-int) an nva flow matching its\n"+
		"OpenFlow port added, timed as the event is read; \"event after answer\" counts ports whose event was read after the realized answer\n"+
		"(OVS sends monitor updates on their own connection, so an event read just after the answer is not by itself a late flow; the log gives the largest gap).\n")
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nM\twrites\tp50 write→realized\tp99\tmax\tfailed\tp50 write→port flows on NVE\tp99\tmissing\tevent after answer\tflows hv1/hv2/hv3\tgroups hv1/hv2/hv3\tp50 delete→realized\tmean NVE reconcile\tof which nva (compile+diff)\tnva CPU per write\tOVS CPU per write\tload")
	for _, r := range rows {
		fmt.Fprintf(tw, "%d\t%d\t%v\t%v\t%v\t%d\t%v\t%v\t%d\t%d\t%s\t%s\t%v\t%v\t%v\t%v\t%v\t%s\n", r.M, len(r.Latencies),
			round(percentile(r.Latencies, 0.5)), round(percentile(r.Latencies, 0.99)), round(percentile(r.Latencies, 1)), r.Failed,
			round(percentile(r.Installed, 0.5)), round(percentile(r.Installed, 0.99)), r.NotInstalled, r.AfterAnswer,
			joinInts(r.Flows), joinInts(r.Groups), round(percentile(r.DetachLatencies, 0.5)), round(r.MeanReconcile), round(r.MeanPlan),
			round(r.CPUPerWrite), round(r.SwitchCPUPerWrite), r.Load)
	}
	tw.Flush()
	for _, r := range rows {
		if r.FirstErr != nil {
			fmt.Fprintf(stdout, "M=%d: first failed write: %v\n", r.M, r.FirstErr)
		}
	}
}

// meanOf is the mean of a histogram's observations between two scrapes.
func meanOf(before, after map[string]float64, name string) time.Duration {
	n := lab.MetricSum(after, name+"_count") - lab.MetricSum(before, name+"_count")
	if n <= 0 {
		return 0
	}
	sum := lab.MetricSum(after, name+"_sum") - lab.MetricSum(before, name+"_sum")
	return time.Duration(sum / n * float64(time.Second))
}

// logStages logs the mean stages of nva's realized writes from its
// metric deltas.
func logStages(logger *log.Logger, what string, delta map[string]float64) {
	none := map[string]float64{}
	logger.Printf("%s: mean stages: api %s; southbound %s", what,
		stageMeans(none, delta, "nva_api_realized_write_stage_seconds", "commit", "realize"),
		stageMeans(none, delta, "nva_southbound_realize_stage_seconds", "queue", "cpu_wait", "send", "ports", "realize"))
}

// stageMeans formats the mean of each stage of a histogram labelled
// {stage} between two scrapes, with its number of observations.
func stageMeans(before, after map[string]float64, name string, stages ...string) string {
	var parts []string
	for _, st := range stages {
		series := func(suffix string) string { return fmt.Sprintf("%s_%s{stage=%q}", name, suffix, st) }
		n := after[series("count")] - before[series("count")]
		if n <= 0 {
			continue
		}
		mean := time.Duration((after[series("sum")] - before[series("sum")]) / n * float64(time.Second))
		parts = append(parts, fmt.Sprintf("%s %v p50≤%v (%.0f)", st, round(mean), histQuantile(before, after, name, st, 0.5), n))
	}
	return strings.Join(parts, ", ")
}

// histQuantile is the upper bound of the histogram bucket holding the q
// quantile of a stage's observations between two scrapes.
func histQuantile(before, after map[string]float64, name, stage string, q float64) time.Duration {
	type bucket struct{ le, n float64 }
	var bs []bucket
	prefix := fmt.Sprintf("%s_bucket{stage=%q,le=", name, stage)
	for series, v := range after {
		if !strings.HasPrefix(series, prefix) {
			continue
		}
		le, err := strconv.ParseFloat(strings.Trim(strings.TrimSuffix(series[len(prefix):], "}"), `"`), 64)
		if err != nil {
			continue
		}
		bs = append(bs, bucket{le, v - before[series]})
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i].le < bs[j].le })
	if len(bs) == 0 {
		return 0
	}
	total := bs[len(bs)-1].n
	for _, b := range bs {
		if b.n >= q*total {
			return time.Duration(b.le * float64(time.Second))
		}
	}
	return 0
}

func round(d time.Duration) time.Duration {
	switch {
	case d > 10*time.Second:
		return d.Round(100 * time.Millisecond)
	case d > 10*time.Millisecond:
		return d.Round(100 * time.Microsecond)
	default:
		return d.Round(time.Microsecond)
	}
}

func joinInts(v []int) string {
	var s []string
	for _, x := range v {
		s = append(s, strconv.Itoa(x))
	}
	return strings.Join(s, "/")
}

// benchSize attaches m ports one write at a time, each waiting for
// realization, records latencies and flow counts, then detaches them; the
// ramp (attach, detach) runs n times over the same interfaces, and the
// figures are over every round's writes (flow counts after the last
// attach).
func benchSize(ctx context.Context, l *lab.Lab, ov *lab.Overlay, m, n int, o benchOptions, prof *profiler, profName string, logger *log.Logger) (sizeResult, error) {
	plugged := o.Plugged
	r := sizeResult{ramp: ramp{M: m, Rounds: n}}
	hvs := len(l.Hypervisors())
	ifname := func(i int) string { return fmt.Sprintf("vm-p%d", i) }
	hvOf := func(i int) int { return i%hvs + 1 }
	for i := 0; i < m; i++ {
		var err error
		if plugged {
			err = plugInterface(ctx, l, hvOf(i), ifname(i), o.InternalPorts)
		} else {
			err = l.AddBareInterface(ctx, hvOf(i), ifname(i))
		}
		if err != nil {
			return r, err
		}
	}
	// What a tenant sees: when each port's own flows (in_port = its
	// OpenFlow port) are added on its NVE, from OVS's flow monitors.
	watch, err := startFlowWatch(ctx, l)
	if err != nil {
		return r, err
	}
	defer watch.stop()
	stopProfile := prof.start(ctx, profName, logger)
	defer stopProfile()
	pid := ov.NVA.Proc().PID()
	delta := map[string]float64{} // nva's metrics, summed over the attach phases
	var cpu, swCPU time.Duration
	cpuKnown, swKnown := true, true
	for round := 0; round < n; round++ {
		starts, answers := make([]time.Time, m), make([]time.Time, m)
		before, _ := ov.NVA.Client.Metrics(ctx)
		cpu0, cpuErr := fleet.ReadProc(pid)
		sw0, swErr := switchesCPU(l)
		start := time.Now()
		for i := 0; i < m; i++ {
			body := map[string]any{
				"name":      fmt.Sprintf("p%d", i),
				"vn":        "bench",
				"nve":       fmt.Sprintf("hv%d", hvOf(i)),
				"interface": ifname(i),
				"mac":       fmt.Sprintf("02:00:00:10:%02x:%02x", i/256, i%256),
				"ips":       []string{fmt.Sprintf("203.0.113.%d", i+1)},
			}
			starts[i] = time.Now()
			_, err := ov.NVA.Client.Do(ctx, http.MethodPost, lab.Realized("/api/v1/ports", ov.RealizeTimeout), body, nil)
			d := time.Since(starts[i])
			if err == nil {
				answers[i] = time.Now()
			} else {
				r.Failed++
				if r.FirstErr == nil {
					r.FirstErr = err
				}
				if ctx.Err() != nil {
					return r, ctx.Err()
				}
			}
			r.Latencies = append(r.Latencies, d)
		}
		r.TotalAttachElapsed += time.Since(start)
		if cpu1, err := fleet.ReadProc(pid); err == nil && cpuErr == nil {
			cpu += cpu1.CPU - cpu0.CPU
		} else {
			cpuKnown = false
		}
		if sw1, err := switchesCPU(l); err == nil && swErr == nil {
			swCPU += sw1 - sw0
		} else {
			swKnown = false
		}
		if round == n-1 {
			r.Load = fleet.LoadAvg()
		}
		if after, err := ov.NVA.Client.Metrics(ctx); err == nil && before != nil {
			for k, v := range after {
				delta[k] += v - before[k]
			}
		}
		installed, missing, afterAnswer, maxAfter, err := portInstallTimes(ctx, l, watch, hvOf, ifname, starts, answers)
		if err != nil {
			return r, err
		}
		r.Installed = append(r.Installed, installed...)
		r.NotInstalled += missing
		r.AfterAnswer += afterAnswer
		r.MaxAfterAnswer = max(r.MaxAfterAnswer, maxAfter)
		if round == n-1 {
			stopProfile()
			watch.stop()
			for _, hv := range l.Hypervisors() {
				f, err := l.DumpFlows(ctx, hv.Index, lab.IntegrationBridge, nvaCookieMatch)
				if err != nil {
					return r, err
				}
				g, err := l.DumpGroups(ctx, hv.Index, lab.IntegrationBridge)
				if err != nil {
					return r, err
				}
				r.Flows = append(r.Flows, len(f))
				r.Groups = append(r.Groups, len(g))
			}
		}
		for i := 0; i < m; i++ {
			t0 := time.Now()
			_, err := ov.NVA.Client.Do(ctx, http.MethodDelete, lab.Realized(fmt.Sprintf("/api/v1/ports/p%d", i), ov.RealizeTimeout), nil, nil)
			if err != nil && ctx.Err() != nil {
				return r, ctx.Err()
			}
			r.DetachLatencies = append(r.DetachLatencies, time.Since(t0))
		}
	}
	if cpuKnown {
		r.CPUPerWrite = cpu / time.Duration(m*n)
	}
	if swKnown {
		r.SwitchCPUPerWrite = swCPU / time.Duration(m*n)
	}
	r.metrics = delta
	r.meansFromMetrics()
	logStages(logger, fmt.Sprintf("M=%d", m), delta)
	slices.Sort(r.Latencies)
	slices.Sort(r.Installed)
	slices.Sort(r.DetachLatencies)
	r.PassP50 = []time.Duration{percentile(r.Latencies, 0.5)}
	logger.Printf("M=%d: %d rounds attached in %v (p50 %v, p99 %v, %d failed), flows %s; %d port flow events read after the answer, by up to %v",
		m, n, r.TotalAttachElapsed.Round(time.Millisecond), round(percentile(r.Latencies, 0.5)),
		round(percentile(r.Latencies, 0.99)), r.Failed, joinInts(r.Flows), r.AfterAnswer, round(r.MaxAfterAnswer))
	var errs []error
	for i := 0; i < m; i++ {
		if plugged {
			if _, err := l.Vsctl(ctx, hvOf(i), "--if-exists", "del-port", lab.IntegrationBridge, ifname(i)); err != nil {
				errs = append(errs, err)
			}
		}
		if !(plugged && o.InternalPorts) { // (del-port removed an internal port)
			_ = l.DeleteInterface(ctx, hvOf(i), ifname(i))
		}
	}
	return r, errors.Join(errs...)
}

// installTimeout is how long a port's flows may take to appear on its NVE
// before the port counts as missing.
const installTimeout = 60 * time.Second

// flowWatch records when nva's flows are added on each hypervisor's
// br-int, as OVS itself reports them: one "ovs-ofctl monitor watch:"
// per hypervisor (an OpenFlow flow monitor on the bridge's management
// socket) streams every flow added to the bridge, and each ADDED event
// carrying nva's cookie tag and an in_port is timestamped as it is read.
// Nothing polls, so the times are not inflated by a polling interval.
type flowWatch struct {
	cancel context.CancelFunc
	done   sync.WaitGroup

	mu    sync.Mutex
	added map[[2]int][]time.Time // (hypervisor, OpenFlow port) → times nva flows matching it were added
	errs  []error
}

var (
	monitorEventRE = regexp.MustCompile(`event=ADDED .*\bcookie=(0x[0-9a-f]+)\b.*\bin_port=([0-9]+)\b`)
	monitorReplyRE = regexp.MustCompile(`FLOW_MONITOR reply`)
)

// startFlowWatch starts a monitor on br-int of each hypervisor and returns
// once every monitor has been answered by its switch, so no flow added
// afterwards is missed.
func startFlowWatch(ctx context.Context, l *lab.Lab) (*flowWatch, error) {
	ctx, cancel := context.WithCancel(ctx)
	w := &flowWatch{cancel: cancel, added: map[[2]int][]time.Time{}}
	ready := make(chan error, len(l.Hypervisors())) // one per monitor: nil once answered, or why it ended before
	for _, hv := range l.Hypervisors() {
		hv := hv.Index
		cmd := exec.CommandContext(ctx, "ovs-ofctl", "-O", "OpenFlow13", "monitor", l.BridgeTarget(hv, lab.IntegrationBridge), "watch:!initial")
		// ovs-ofctl monitor opens a control socket in the run directory.
		cmd.Env = append(os.Environ(), "OVS_RUNDIR="+l.HV(hv).Dir)
		// It prints the reply to its request on standard output and the
		// flow updates on standard error: read both as one stream.
		out, pw := io.Pipe()
		cmd.Stdout, cmd.Stderr = pw, pw
		if err := cmd.Start(); err != nil {
			w.stop()
			return nil, fmt.Errorf("hv%d: ovs-ofctl monitor: %w", hv, err)
		}
		w.done.Add(2)
		var waitErr error
		go func() {
			defer w.done.Done()
			waitErr = cmd.Wait()
			pw.Close()
		}()
		go func() {
			defer w.done.Done()
			sc := bufio.NewScanner(out)
			sc.Buffer(make([]byte, 64*1024), 1024*1024)
			answered := false
			var last []string // the last lines that were not flow updates, for errors
			for sc.Scan() {
				now := time.Now()
				line := sc.Text()
				if !answered && monitorReplyRE.MatchString(line) {
					answered = true
					ready <- nil
				}
				m := monitorEventRE.FindStringSubmatch(line)
				if m == nil {
					if !monitorReplyRE.MatchString(line) {
						last = append(last[max(0, len(last)-4):], line)
					}
					continue
				}
				cookie, err1 := strconv.ParseUint(m[1], 0, 64)
				port, err2 := strconv.Atoi(m[2])
				if err1 != nil || err2 != nil || !flow.IsNVACookie(cookie) {
					continue
				}
				w.mu.Lock()
				k := [2]int{hv, port}
				w.added[k] = append(w.added[k], now)
				w.mu.Unlock()
			}
			_, _ = io.Copy(io.Discard, out) // a scanner error: let ovs-ofctl end
			if ctx.Err() != nil {
				return
			}
			// The pipe closes after Wait has returned.
			err := fmt.Errorf("hv%d: ovs-ofctl monitor ended: %v: %s", hv, waitErr, strings.Join(last, "\n"))
			if !answered {
				ready <- err
			}
			w.mu.Lock()
			w.errs = append(w.errs, err)
			w.mu.Unlock()
		}()
	}
	timeout := time.After(10 * time.Second)
	for range l.Hypervisors() {
		select {
		case err := <-ready:
			if err != nil {
				w.stop()
				return nil, err
			}
		case <-timeout:
			w.stop()
			return nil, errors.New("ovs-ofctl monitor: no answer from every switch within 10s")
		case <-ctx.Done():
			w.stop()
			return nil, ctx.Err()
		}
	}
	return w, nil
}

// firstAdded is the first time, at or after t0, an nva flow matching
// OpenFlow port ofport was added on hypervisor hv.
func (w *flowWatch) firstAdded(hv, ofport int, t0 time.Time) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, at := range w.added[[2]int{hv, ofport}] {
		if !at.Before(t0) {
			return at, true
		}
	}
	return time.Time{}, false
}

func (w *flowWatch) err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return errors.Join(w.errs...)
}

// stop ends the monitors and waits for their readers.
func (w *flowWatch) stop() {
	w.cancel()
	w.done.Wait()
}

// portInstallTimes waits (up to installTimeout) until the flow watch has
// seen, for each port i written at starts[i], an nva flow matching its
// OpenFlow port added on its NVE, and returns the times from each write
// to that event, sorted, the number of ports without one, how many ports'
// events were read after their write had been answered realized
// (answers[i], zero for a failed write), and the largest such gap.
func portInstallTimes(ctx context.Context, l *lab.Lab, w *flowWatch, hvOf func(int) int, ifname func(int) string,
	starts, answers []time.Time) (got []time.Duration, missing, afterAnswer int, maxAfter time.Duration, err error) {
	m := len(starts)
	deadline := time.Now().Add(installTimeout)
	for {
		// A port without an OpenFlow port yet (say, its write failed)
		// counts as missing.
		ofports := map[int]map[string]int{}
		for _, hv := range l.Hypervisors() {
			if ofports[hv.Index], err = interfaceOFPorts(ctx, l, hv.Index); err != nil {
				return nil, 0, 0, 0, err
			}
		}
		got, missing, afterAnswer, maxAfter = got[:0], 0, 0, 0
		for i := range m {
			ofport, ok := ofports[hvOf(i)][ifname(i)]
			var at time.Time
			if ok {
				at, ok = w.firstAdded(hvOf(i), ofport, starts[i])
			}
			if !ok {
				missing++
				continue
			}
			got = append(got, at.Sub(starts[i]))
			if !answers[i].IsZero() && at.After(answers[i]) {
				afterAnswer++
				maxAfter = max(maxAfter, at.Sub(answers[i]))
			}
		}
		if missing == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	slices.Sort(got)
	return got, missing, afterAnswer, maxAfter, w.err()
}

// interfaceOFPorts maps each interface of hypervisor hv that has an
// OpenFlow port to its number.
func interfaceOFPorts(ctx context.Context, l *lab.Lab, hv int) (map[string]int, error) {
	out, err := l.Vsctl(ctx, hv, "--format=csv", "--no-headings", "--columns=name,ofport", "list", "interface")
	if err != nil {
		return nil, err
	}
	ports := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Split(line, ","); len(f) == 2 {
			if n, err := strconv.Atoi(f[1]); err == nil && n > 0 {
				ports[strings.Trim(f[0], `"`)] = n
			}
		}
	}
	return ports, nil
}

// baseline measures the same two-tenant TCP transfer on a lab without
// nva: br-int in standalone mode with a single actions=NORMAL flow and a
// VXLAN port with a fixed remote IP and key.
func baseline(ctx context.Context, d time.Duration, logger *log.Logger) (lab.IperfResult, error) {
	l, err := lab.Create(ctx, lab.Options{Hypervisors: 2, Logf: logger.Printf})
	if err != nil {
		return lab.IperfResult{}, err
	}
	defer l.Close()
	for i, peer := range []int{2, 1} {
		hv := i + 1
		if _, err := l.Vsctl(ctx, hv, "add-br", lab.IntegrationBridge,
			"--", "set", "bridge", lab.IntegrationBridge, "datapath_type=netdev", "fail_mode=standalone", "protocols=OpenFlow13",
			"--", "add-port", lab.IntegrationBridge, "vx0",
			"--", "set", "interface", "vx0", "type=vxlan", "options:remote_ip="+l.UnderlayIP(peer), "options:key=2001"); err != nil {
			return lab.IperfResult{}, err
		}
		if _, err := l.Ofctl(ctx, hv, "del-flows", lab.IntegrationBridge); err != nil {
			return lab.IperfResult{}, err
		}
		if _, err := l.Ofctl(ctx, hv, "add-flow", lab.IntegrationBridge, "priority=0,actions=NORMAL"); err != nil {
			return lab.IperfResult{}, err
		}
	}
	for _, ts := range []lab.TenantSpec{
		{Name: "x1", HV: 1, IP: "192.0.2.1", MAC: "02:00:00:00:0b:01"},
		{Name: "x2", HV: 2, IP: "192.0.2.2", MAC: "02:00:00:00:0b:02"},
	} {
		if _, err := l.AddTenant(ctx, ts.HV, ts.Name, ts.MAC, []string{ts.IP + "/24"}, 0); err != nil {
			return lab.IperfResult{}, err
		}
		if _, err := l.AttachTenant(ctx, ts.Name, lab.IntegrationBridge); err != nil {
			return lab.IperfResult{}, err
		}
	}
	if _, err := l.Reachable(ctx, "x1", "192.0.2.2", 20*time.Second); err != nil {
		return lab.IperfResult{}, err
	}
	r, err := l.Iperf(ctx, "x1", "x2", d)
	if err != nil {
		return r, err
	}
	logger.Printf("TCP through a plain NORMAL bridge: %v", r)
	return r, nil
}
