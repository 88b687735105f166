package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/integration/lab"
)

var nvaCookieMatch = fmt.Sprintf("cookie=%#x/%#x", flow.NVACookie, flow.CookieTagMask)

// sizeResult is one row of the latency table.
type sizeResult struct {
	M                  int
	Latencies          []time.Duration // per port write, sorted
	Flows, Groups      []int           // per hypervisor, after attaching M ports
	Failed             int             // writes that returned an error (e.g. 504 not realized)
	FirstErr           error
	DetachLatencies    []time.Duration // per port DELETE, sorted
	Installed          []time.Duration // per port: write until its flows are on its NVE, sorted
	NotInstalled       int             // ports whose flows did not appear within the timeout
	TotalAttachElapsed time.Duration
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
	iperfSecs := fs.Int("iperf-seconds", 5, "duration of each TCP throughput run")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var sizes []int
	for _, s := range strings.Split(*sizesFlag, ",") {
		m, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || m < 1 || m > 250 {
			return fmt.Errorf("-sizes: %q is not a number of ports between 1 and 250", s)
		}
		sizes = append(sizes, m)
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

	l, err := lab.Create(ctx, lab.Options{Hypervisors: 3, Logf: logger.Printf})
	if err != nil {
		return err
	}
	defer l.Close()
	n, err := l.StartNVA(ctx, lab.NVAOptions{Bin: bin, LogLevel: "info"})
	if err != nil {
		return err
	}
	ov, err := lab.NewOverlay(ctx, l, n, 30*time.Second)
	if err != nil {
		return err
	}
	ov.RealizeTimeout = 60 * time.Second
	const vni = 2001
	if err := ov.AddVN(ctx, lab.VNSpec{Name: "bench", VNI: vni, Encap: "vxlan"}); err != nil {
		return err
	}

	// Throughput through nva's pipeline: one tenant on hv1, one on hv2.
	for _, ts := range []lab.TenantSpec{
		{Name: "x1", VN: "bench", HV: 1, IP: "192.0.2.1", MAC: "02:00:00:00:0b:01"},
		{Name: "x2", VN: "bench", HV: 2, IP: "192.0.2.2", MAC: "02:00:00:00:0b:02"},
	} {
		if err := ov.AddTenant(ctx, ts); err != nil {
			return err
		}
	}
	var nvaTCP lab.IperfResult
	if _, err := ov.ExpectReach(ctx, "x1", "192.0.2.2", 30*time.Second); err != nil {
		logger.Printf("x1 cannot reach x2 through nva (%v): no throughput figure", err)
	} else if nvaTCP, err = l.Iperf(ctx, "x1", "x2", time.Duration(*iperfSecs)*time.Second); err != nil {
		logger.Printf("iperf3 through nva: %v", err)
	}
	logger.Printf("TCP through nva's pipeline: %v", nvaTCP)

	var rows []sizeResult
	for _, m := range sizes {
		r, err := benchSize(ctx, l, ov, m, logger)
		if err != nil {
			return err
		}
		rows = append(rows, r)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	// Stop nva's lab before the baseline so the two do not share CPUs.
	_ = l.Close()
	baseTCP, err := baseline(ctx, time.Duration(*iperfSecs)*time.Second, logger)
	if err != nil {
		logger.Printf("baseline: %v", err)
	}

	fmt.Fprintf(stdout, "\nnva bench: 3 hypervisors (userspace Open vSwitch), 1 VXLAN VN, 2 tenants + M ports spread over the hypervisors;\n"+
		"every port is a POST /api/v1/ports?wait=realized, latency measured from the request to the answer;\n"+
		"\"port flows on NVE\" is from a port's request until a flow matching its OpenFlow port is on its NVE (polled after all M writes).\n")
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nM\tp50 write→realized\tp99\tmax\tfailed\tp50 write→port flows on NVE\tp99\tmissing\tflows hv1/hv2/hv3\tgroups hv1/hv2/hv3\tp50 delete→realized")
	for _, r := range rows {
		fmt.Fprintf(tw, "%d\t%v\t%v\t%v\t%d\t%v\t%v\t%d\t%s\t%s\t%v\n", r.M,
			round(percentile(r.Latencies, 0.5)), round(percentile(r.Latencies, 0.99)), round(percentile(r.Latencies, 1)), r.Failed,
			round(percentile(r.Installed, 0.5)), round(percentile(r.Installed, 0.99)), r.NotInstalled,
			joinInts(r.Flows), joinInts(r.Groups), round(percentile(r.DetachLatencies, 0.5)))
	}
	tw.Flush()
	for _, r := range rows {
		if r.FirstErr != nil {
			fmt.Fprintf(stdout, "M=%d: first failed write: %v\n", r.M, r.FirstErr)
		}
	}
	fmt.Fprintf(stdout, "\nTCP throughput, iperf3 %d s, tenant MTU 1500, hv1 -> hv2 over VXLAN (underlay MTU %d):\n", *iperfSecs, lab.DefaultUnderlayMTU)
	tw = tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  through nva's pipeline\t%.0f Mbit/s\t(%d retransmits)\n", nvaTCP.BitsPerSecond/1e6, nvaTCP.Retransmits)
	fmt.Fprintf(tw, "  plain actions=NORMAL bridge\t%.0f Mbit/s\t(%d retransmits)\n", baseTCP.BitsPerSecond/1e6, baseTCP.Retransmits)
	if baseTCP.BitsPerSecond > 0 {
		fmt.Fprintf(tw, "  ratio nva / NORMAL\t%.2f\t\n", nvaTCP.BitsPerSecond/baseTCP.BitsPerSecond)
	}
	tw.Flush()
	return nil
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
// realization, records latencies and flow counts, then detaches them.
func benchSize(ctx context.Context, l *lab.Lab, ov *lab.Overlay, m int, logger *log.Logger) (sizeResult, error) {
	r := sizeResult{M: m}
	hvs := len(l.Hypervisors())
	ifname := func(i int) string { return fmt.Sprintf("vm-p%d", i) }
	hvOf := func(i int) int { return i%hvs + 1 }
	for i := 0; i < m; i++ {
		if err := l.AddBareInterface(ctx, hvOf(i), ifname(i)); err != nil {
			return r, err
		}
	}
	start := time.Now()
	var starts []time.Time
	for i := 0; i < m; i++ {
		body := map[string]any{
			"name":      fmt.Sprintf("p%d", i),
			"vn":        "bench",
			"nve":       fmt.Sprintf("hv%d", hvOf(i)),
			"interface": ifname(i),
			"mac":       fmt.Sprintf("02:00:00:10:%02x:%02x", i/256, i%256),
			"ips":       []string{fmt.Sprintf("203.0.113.%d", i+1)},
		}
		t0 := time.Now()
		_, err := ov.NVA.Client.Do(ctx, http.MethodPost, lab.Realized("/api/v1/ports", ov.RealizeTimeout), body, nil)
		d := time.Since(t0)
		starts = append(starts, t0)
		if err != nil {
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
	r.TotalAttachElapsed = time.Since(start)
	// What a tenant sees: when does each port's own classification flow
	// (in_port = its OpenFlow port) appear on its NVE?
	r.Installed, r.NotInstalled = waitPortFlows(ctx, l, m, hvOf, ifname, starts)
	sort.Slice(r.Latencies, func(i, j int) bool { return r.Latencies[i] < r.Latencies[j] })
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
	logger.Printf("M=%d: attached in %v (p50 %v, p99 %v, %d failed), flows %s",
		m, r.TotalAttachElapsed.Round(time.Millisecond), round(percentile(r.Latencies, 0.5)),
		round(percentile(r.Latencies, 0.99)), r.Failed, joinInts(r.Flows))
	for i := 0; i < m; i++ {
		t0 := time.Now()
		_, err := ov.NVA.Client.Do(ctx, http.MethodDelete, lab.Realized(fmt.Sprintf("/api/v1/ports/p%d", i), ov.RealizeTimeout), nil, nil)
		if err != nil && ctx.Err() != nil {
			return r, ctx.Err()
		}
		r.DetachLatencies = append(r.DetachLatencies, time.Since(t0))
	}
	sort.Slice(r.DetachLatencies, func(i, j int) bool { return r.DetachLatencies[i] < r.DetachLatencies[j] })
	for i := 0; i < m; i++ {
		_ = l.DeleteInterface(ctx, hvOf(i), ifname(i))
	}
	return r, nil
}

// waitPortFlows polls every NVE (one flow dump and one interface list per
// NVE per round) until each port i has an nva flow matching its OpenFlow
// port, and returns each port's time from starts[i], plus how many never
// got one within 60 s.
func waitPortFlows(ctx context.Context, l *lab.Lab, m int, hvOf func(int) int, ifname func(int) string, starts []time.Time) ([]time.Duration, int) {
	done := make([]time.Duration, m)
	left := m
	deadline := time.Now().Add(60 * time.Second)
	for left > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		now := time.Now()
		ofports := map[int]map[string]int{}
		flows := map[int]string{}
		for _, hv := range l.Hypervisors() {
			ofports[hv.Index] = map[string]int{}
			out, err := l.Vsctl(ctx, hv.Index, "--format=csv", "--no-headings", "--columns=name,ofport", "list", "interface")
			if err == nil {
				for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
					if f := strings.Split(line, ","); len(f) == 2 {
						if n, err := strconv.Atoi(f[1]); err == nil && n > 0 {
							ofports[hv.Index][strings.Trim(f[0], `"`)] = n
						}
					}
				}
			}
			if fl, err := l.DumpFlows(ctx, hv.Index, lab.IntegrationBridge, nvaCookieMatch); err == nil {
				flows[hv.Index] = strings.Join(fl, "\n") + "\n"
			}
		}
		for i := 0; i < m; i++ {
			if done[i] != 0 || i >= len(starts) {
				continue
			}
			ofp, ok := ofports[hvOf(i)][ifname(i)]
			if !ok {
				continue
			}
			f := flows[hvOf(i)]
			if strings.Contains(f, fmt.Sprintf("in_port=%d,", ofp)) || strings.Contains(f, fmt.Sprintf("in_port=%d ", ofp)) {
				done[i] = now.Sub(starts[i])
				left--
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	var got []time.Duration
	for _, d := range done {
		if d != 0 {
			got = append(got, d)
		}
	}
	sort.Slice(got, func(i, j int) bool { return got[i] < got[j] })
	return got, left
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
