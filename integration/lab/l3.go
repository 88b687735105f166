package lab

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"time"
)

// Subnet is one subnet of a routed VN with its gateway address.
type Subnet struct {
	CIDR    string `json:"cidr"`
	Gateway string `json:"gateway"`
}

// RoutedVNSpec is an l3 or l2l3 VN of a tenant's L3 domain.
type RoutedVNSpec struct {
	VNSpec
	Service  string // l3 or l2l3 (l2l3 if empty)
	Tenant   string
	L3Domain string
	Subnets  []Subnet
}

// AddRoutedVN creates a routed VN through the API.
func (o *Overlay) AddRoutedVN(ctx context.Context, v RoutedVNSpec) error {
	svc := v.Service
	if svc == "" {
		svc = "l2l3"
	}
	if err := o.Post(ctx, "/api/v1/vns", map[string]any{"name": v.Name, "vni": v.VNI, "encap": v.Encap,
		"service": svc, "tenant": v.Tenant, "l3_domain": v.L3Domain, "subnets": v.Subnets}); err != nil {
		return err
	}
	o.mu.Lock()
	o.vns[v.Name] = v.VNSpec
	o.mu.Unlock()
	return nil
}

// SetDefaultRoute makes gw (an address on the tenant's subnet: its VN's
// distributed gateway) the tenant system's default route.
func (l *Lab) SetDefaultRoute(ctx context.Context, tenant, gw string) error {
	if _, err := l.Exec(ctx, tenant, "ip", "route", "replace", "default", "via", gw); err != nil {
		return fmt.Errorf("lab: tenant %s: default route via %s: %w", tenant, gw, err)
	}
	return nil
}

var replyTTL = regexp.MustCompile(`\bttl=(\d+)`)

// PingTTL sends one echo request (1 s timeout) from a tenant and returns
// the TTL of the reply as the tenant received it; ok is false when no
// reply came back.
func (l *Lab) PingTTL(ctx context.Context, from, toIP string) (ttl int, ok bool, err error) {
	ns, err := l.tenantNS(from)
	if err != nil {
		return 0, false, err
	}
	out, _ := runIn(ctx, ns, nil, "ping", "-n", "-c", "1", "-W", "1", toIP)
	m := replyTTL.FindStringSubmatch(out)
	if m == nil {
		return 0, false, nil
	}
	n, err := strconv.Atoi(m[1])
	return n, err == nil, err
}

// AddPolicy creates an inter-VN policy rule through the API (the body of
// POST /api/v1/policies) and waits for its realization.
func (o *Overlay) AddPolicy(ctx context.Context, rule map[string]any) error {
	return o.Post(ctx, "/api/v1/policies", rule)
}

// PingHops sends count echo requests from a tenant with IP TTL ttl
// (ping -t) and returns how many replies came back.
func (l *Lab) PingHops(ctx context.Context, from, toIP string, ttl, count int) (int, error) {
	ns, err := l.tenantNS(from)
	if err != nil {
		return 0, err
	}
	out, _ := runIn(ctx, ns, nil, "ping", "-n", "-q", "-t", strconv.Itoa(ttl), "-c", strconv.Itoa(count), "-i", "0.2", "-W", "1", toIP)
	r, err := parsePing(out)
	return r.Received, err
}

// timeExceededRE is iputils ping's line for an ICMP time-exceeded answer
// ("From 10.10.1.1 icmp_seq=1 Time to live exceeded").
var timeExceededRE = regexp.MustCompile(`(?m)^From (\S+) icmp_seq=\d+ Time to live exceeded`)

// PingTimeExceeded pings toIP count times from tenant from with TTL ttl
// and returns the addresses that answered "Time to live exceeded", one
// per answer, and the ping's output.
func (l *Lab) PingTimeExceeded(ctx context.Context, from, toIP string, ttl, count int) ([]string, string, error) {
	ns, err := l.tenantNS(from)
	if err != nil {
		return nil, "", err
	}
	out, _ := runIn(ctx, ns, nil, "ping", "-n", "-t", strconv.Itoa(ttl), "-c", strconv.Itoa(count), "-i", "0.2", "-W", "1", toIP)
	if _, err := parsePing(out); err != nil {
		return nil, out, err
	}
	var addrs []string
	for _, m := range timeExceededRE.FindAllStringSubmatch(out, -1) {
		addrs = append(addrs, m[1])
	}
	return addrs, out, nil
}

// tcpEchoServer and tcpEchoClient move 64 KiB each way over one TCP
// connection (many segments both ways), in python3.
const (
	tcpEchoServer = `import socket,sys
s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);s.bind(("0.0.0.0",int(sys.argv[1])));s.listen(1);s.settimeout(20)
c,_=s.accept();c.settimeout(10);b=b""
while len(b)<65536:
    d=c.recv(65536)
    if not d: break
    b+=d
c.sendall(b);c.close()`
	tcpEchoClient = `import socket,sys
c=socket.create_connection((sys.argv[1],int(sys.argv[2])),timeout=5);m=bytes(range(256))*256;c.sendall(m);b=b""
while len(b)<len(m):
    d=c.recv(65536)
    if not d: break
    b+=d
sys.exit(0 if b==m else 1)`
)

// TCPEcho runs a TCP echo of 64 KiB from tenant from to toIP:port, served
// by tenant server (its own listener, started for this one connection):
// nil when every byte came back. ErrNoPython when python3 is missing.
func (l *Lab) TCPEcho(ctx context.Context, from, server, toIP string, port int) error {
	if _, err := exec.LookPath("python3"); err != nil {
		return ErrNoPython
	}
	p := strconv.Itoa(port)
	if _, err := l.Exec(ctx, server, "sh", "-c", "timeout 25 python3 -c '"+tcpEchoServer+"' "+p+" >/dev/null 2>&1 &"); err != nil {
		return fmt.Errorf("lab: tcp echo server on %s: %w", server, err)
	}
	var err error
	for i := 0; i < 20; i++ { // until the listener is up
		if _, err = l.Exec(ctx, from, "python3", "-c", tcpEchoClient, toIP, p); err == nil {
			return nil
		}
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("lab: tcp echo %s -> %s:%s: %w", from, toIP, p, err)
}

// ErrNoPython is TCPEcho's answer on a machine without python3.
var ErrNoPython = errors.New("lab: python3 not found")
