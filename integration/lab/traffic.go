package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// PingResult is ping's summary.
type PingResult struct {
	Transmitted int
	Received    int
	Duplicates  int
	Errors      int
	Output      string
}

// Lost is the number of requests without a reply.
func (r PingResult) Lost() int { return r.Transmitted - r.Received }

func (r PingResult) String() string {
	return fmt.Sprintf("%d transmitted, %d received, %d lost, %d duplicates, %d errors",
		r.Transmitted, r.Received, r.Lost(), r.Duplicates, r.Errors)
}

var (
	pingSummaryRE = regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`)
	pingDupRE     = regexp.MustCompile(`\+(\d+) duplicates`)
	pingErrRE     = regexp.MustCompile(`\+(\d+) errors`)
)

func parsePing(out string) (PingResult, error) {
	r := PingResult{Output: out}
	m := pingSummaryRE.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("lab: no ping summary in %q", out)
	}
	r.Transmitted, _ = strconv.Atoi(m[1])
	r.Received, _ = strconv.Atoi(m[2])
	if m := pingDupRE.FindStringSubmatch(out); m != nil {
		r.Duplicates, _ = strconv.Atoi(m[1])
	}
	if m := pingErrRE.FindStringSubmatch(out); m != nil {
		r.Errors, _ = strconv.Atoi(m[1])
	}
	return r, nil
}

func (l *Lab) tenantNS(name string) (string, error) {
	t := l.Tenant(name)
	if t == nil {
		return "", fmt.Errorf("lab: no tenant %s", name)
	}
	return t.NS, nil
}

// Ping sends count echo requests (0.2 s apart, 1 s reply timeout) from a
// tenant to an address. Loss is not an error; the result says how many
// replies came back.
func (l *Lab) Ping(ctx context.Context, from, toIP string, count int) (PingResult, error) {
	ns, err := l.tenantNS(from)
	if err != nil {
		return PingResult{}, err
	}
	out, _ := runIn(ctx, ns, nil, "ping", "-n", "-q", "-c", strconv.Itoa(count), "-i", "0.2", "-W", "1", toIP)
	return parsePing(out)
}

// Reachable pings once a second until a reply arrives or timeout passes;
// it returns how long the first reply took to arrive.
func (l *Lab) Reachable(ctx context.Context, from, toIP string, timeout time.Duration) (time.Duration, error) {
	ns, err := l.tenantNS(from)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	for {
		// -w 1: wait at most a second for one reply, resending every 0.1 s.
		out, _ := runIn(ctx, ns, nil, "ping", "-n", "-q", "-c", "1", "-i", "0.1", "-w", "1", toIP)
		if r, err := parsePing(out); err == nil && r.Received > 0 {
			return time.Since(start), nil
		}
		if time.Since(start) > timeout {
			return 0, fmt.Errorf("lab: %s cannot reach %s within %v", from, toIP, timeout)
		}
		if err := ctx.Err(); err != nil {
			return 0, err
		}
	}
}

// PingStream is a running continuous ping.
type PingStream struct {
	b *bgCmd
}

// StartPingStream starts a continuous ping of count requests, interval
// apart (0.02 s gives 50 packets/s), from a tenant to an address. Wait for
// it to finish (it waits for every reply) or Stop it.
func (l *Lab) StartPingStream(from, toIP string, interval time.Duration, count int) (*PingStream, error) {
	ns, err := l.tenantNS(from)
	if err != nil {
		return nil, err
	}
	b, err := l.startBG(ns, "ping", "-n", "-O", "-c", strconv.Itoa(count),
		"-i", strconv.FormatFloat(interval.Seconds(), 'f', 3, 64), "-W", "1", toIP)
	if err != nil {
		return nil, err
	}
	return &PingStream{b: b}, nil
}

// Wait waits for the stream to send all its requests and collect replies.
func (s *PingStream) Wait(ctx context.Context) (PingResult, error) {
	if err := s.b.wait(ctx); err != nil && ctx.Err() != nil {
		return PingResult{}, err
	}
	return parsePing(s.b.stdout.String())
}

// Stop interrupts the stream (requests still in flight count as lost).
func (s *PingStream) Stop() (PingResult, error) {
	s.b.signal(syscall.SIGINT)
	<-s.b.done
	return parsePing(s.b.stdout.String())
}

// Unanswered lists the lines in which ping reported a missing reply
// ("no answer yet for icmp_seq=N"), to see when loss happened.
func (r PingResult) Unanswered() []string {
	var out []string
	for _, line := range strings.Split(r.Output, "\n") {
		if strings.Contains(line, "no answer yet") {
			out = append(out, line)
		}
	}
	return out
}

// IperfResult is an iperf3 TCP transfer's outcome.
type IperfResult struct {
	BitsPerSecond float64 // received throughput
	Bytes         int64   // bytes received
	Retransmits   int
}

func (r IperfResult) String() string {
	return fmt.Sprintf("%.0f Mbit/s, %d bytes, %d retransmits", r.BitsPerSecond/1e6, r.Bytes, r.Retransmits)
}

// Iperf runs an iperf3 TCP transfer of the given duration from tenant from
// to tenant to's first address, with the tenants' MTU-sized segments.
func (l *Lab) Iperf(ctx context.Context, from, to string, d time.Duration) (IperfResult, error) {
	fromNS, err := l.tenantNS(from)
	if err != nil {
		return IperfResult{}, err
	}
	dst := l.Tenant(to)
	if dst == nil {
		return IperfResult{}, fmt.Errorf("lab: no tenant %s", to)
	}
	const port = "5201"
	srv, err := l.startBG(dst.NS, "iperf3", "-s", "-1", "-B", dst.Addr(), "-p", port)
	if err != nil {
		return IperfResult{}, err
	}
	defer srv.kill()
	if err := WaitFor(ctx, 10*time.Second, 50*time.Millisecond, func() (bool, error) {
		out, err := runIn(ctx, dst.NS, nil, "ss", "-Hltn", "sport", "= :"+port)
		return err == nil && strings.Contains(out, port), err
	}); err != nil {
		return IperfResult{}, fmt.Errorf("lab: iperf3 server in %s not listening: %w (%s)", to, err, srv.stderr.String())
	}
	secs := strconv.Itoa(int(d.Round(time.Second).Seconds()))
	if secs == "0" {
		secs = "1"
	}
	cctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	cli, err := l.startBG(fromNS, "iperf3", "-c", dst.Addr(), "-p", port, "-t", secs, "-J")
	if err != nil {
		return IperfResult{}, err
	}
	werr := cli.wait(cctx)
	var rep struct {
		End struct {
			SumSent struct {
				Retransmits int `json:"retransmits"`
			} `json:"sum_sent"`
			SumReceived struct {
				Bytes         int64   `json:"bytes"`
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
		Error string `json:"error"`
	}
	out := cli.stdout.String()
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		return IperfResult{}, fmt.Errorf("lab: iperf3 %s->%s: %v (exit %v): %s %s", from, to, err, werr, out, cli.stderr.String())
	}
	if rep.Error != "" {
		return IperfResult{}, fmt.Errorf("lab: iperf3 %s->%s: %s", from, to, rep.Error)
	}
	if werr != nil {
		return IperfResult{}, fmt.Errorf("lab: iperf3 %s->%s: %w", from, to, werr)
	}
	return IperfResult{
		BitsPerSecond: rep.End.SumReceived.BitsPerSecond,
		Bytes:         rep.End.SumReceived.Bytes,
		Retransmits:   rep.End.SumSent.Retransmits,
	}, nil
}

// CapturePoint is an interface in a namespace to capture on.
type CapturePoint struct {
	NS string
	If string
}

// UnderlayPoint is the fabric side of hypervisor hv's underlay link: it
// sees every encapsulated frame hv sends or receives.
func (l *Lab) UnderlayPoint(hv int) CapturePoint {
	l.HV(hv)
	return CapturePoint{NS: l.fabricNS, If: fmt.Sprintf("hv%d", hv)}
}

// HVPoint is an interface inside hypervisor hv's namespace.
func (l *Lab) HVPoint(hv int, ifname string) CapturePoint {
	return CapturePoint{NS: l.HV(hv).NS, If: ifname}
}

// TenantPoint is a tenant's eth0.
func (l *Lab) TenantPoint(name string) CapturePoint {
	ns, _ := l.tenantNS(name)
	return CapturePoint{NS: ns, If: "eth0"}
}

// Capture is a running tcpdump.
type Capture struct {
	b  *bgCmd
	At CapturePoint
}

// StartCapture starts tcpdump on an interface with a BPF filter and
// returns once tcpdump is listening.
func (l *Lab) StartCapture(ctx context.Context, at CapturePoint, filter string) (*Capture, error) {
	b, err := l.startBG(at.NS, "tcpdump", "-l", "-n", "-e", "--immediate-mode", "-Z", "root", "-i", at.If, filter)
	if err != nil {
		return nil, err
	}
	err = WaitFor(ctx, 10*time.Second, 20*time.Millisecond, func() (bool, error) {
		select {
		case <-b.done:
			return false, fmt.Errorf("tcpdump exited: %v: %s", b.err, b.stderr.String())
		default:
		}
		return strings.Contains(b.stderr.String(), "listening on"), nil
	})
	if err != nil {
		b.kill()
		return nil, fmt.Errorf("lab: capture on %s/%s: %w", at.NS, at.If, err)
	}
	return &Capture{b: b, At: at}, nil
}

// Stop waits briefly for packets in flight, stops tcpdump and returns the
// captured packets, one summary line each.
func (c *Capture) Stop() ([]string, error) {
	time.Sleep(300 * time.Millisecond)
	c.b.signal(syscall.SIGINT)
	select {
	case <-c.b.done:
	case <-time.After(5 * time.Second):
		c.b.signal(syscall.SIGKILL)
		<-c.b.done
	}
	var pkts []string
	for _, line := range strings.Split(c.b.stdout.String(), "\n") {
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t") {
			continue
		}
		pkts = append(pkts, line)
	}
	if !strings.Contains(c.b.stderr.String(), " captured") {
		return pkts, fmt.Errorf("lab: tcpdump on %s did not end cleanly: %s", c.At.If, c.b.stderr.String())
	}
	return pkts, nil
}

// encapLayout returns the BPF expression selecting an encapsulation's
// packets, the expression of its VNI field and value shift, and the BPF
// base and offset where the inner Ethernet frame starts. VXLAN and GENEVE
// offsets assume no GENEVE options; GRE offsets assume a 20-byte IPv4
// header and a GRE header with only the key (as OVS sends with key=flow).
func encapLayout(encap string) (base, vniField string, vniShift uint, innerProto string, innerOff int, ok bool) {
	switch encap {
	case "vxlan":
		return "udp dst port 4789", "udp[12:4] & 0xffffff00", 8, "udp", 16, true
	case "geneve":
		return "udp dst port 6081", "udp[12:4] & 0xffffff00", 8, "udp", 16, true
	case "gre":
		return "ip proto 47", "ip[24:4]", 0, "ip", 28, true
	}
	return "", "", 0, "", 0, false
}

// UnderlayFilter builds a tcpdump filter for encapsulated frames on the
// underlay: encap is "vxlan", "geneve" or "gre"; vni 0 matches any VNI;
// innerEtherType 0 matches any inner ethertype (0x0806 is ARP);
// innerBroadcast restricts to frames to ff:ff:ff:ff:ff:ff.
func UnderlayFilter(encap string, vni uint32, innerEtherType uint16, innerBroadcast bool) string {
	base, vniField, shift, proto, off, ok := encapLayout(encap)
	if !ok {
		return "false"
	}
	parts := []string{base}
	if vni != 0 {
		parts = append(parts, fmt.Sprintf("%s = 0x%x", vniField, vni<<shift))
	}
	if innerBroadcast {
		parts = append(parts, fmt.Sprintf("%s[%d:4] = 0xffffffff", proto, off), fmt.Sprintf("%s[%d:2] = 0xffff", proto, off+4))
	}
	if innerEtherType != 0 {
		parts = append(parts, fmt.Sprintf("%s[%d:2] = 0x%04x", proto, off+12, innerEtherType))
	}
	return strings.Join(parts, " and ")
}

// UnderlayARPFilter builds a tcpdump filter for encapsulated ARP packets
// (any VNI) whose target protocol address is one of targets (IPv4).
func UnderlayARPFilter(encap string, targets ...string) string {
	_, _, _, proto, off, ok := encapLayout(encap)
	if !ok || len(targets) == 0 {
		return "false"
	}
	var ors []string
	for _, t := range targets {
		a, err := netip.ParseAddr(t)
		if err != nil || !a.Is4() {
			return "false"
		}
		b := a.As4()
		// Inner Ethernet header (14) + ARP target protocol address (24).
		ors = append(ors, fmt.Sprintf("%s[%d:4] = 0x%02x%02x%02x%02x", proto, off+38, b[0], b[1], b[2], b[3]))
	}
	return UnderlayFilter(encap, 0, 0x0806, false) + " and (" + strings.Join(ors, " or ") + ")"
}
