package neighbor

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	nd "github.com/nva-project/nva/app/neighbor"
	"github.com/nva-project/nva/internal/ofshim"
	"github.com/nva-project/nva/internal/ovstest"
	"github.com/nva-project/nva/ofctl/conn"
)

type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

type nopHandler struct{}

func (nopHandler) SwitchConnected(*conn.Switch)           {}
func (nopHandler) SwitchDisconnected(*conn.Switch, error) {}

// TestRealOVSAnswersThroughStrictShim: a real ovs-vswitchd, seen through
// internal/ofshim as a strict OpenFlow 1.3 switch, sends the ARP requests
// and neighbor solicitations of its namespace's kernel to the controller;
// the responder answers with packet-outs the shim lets through (standard
// OpenFlow 1.3 only), and the kernel accepts both answers: its neighbor
// table learns the target's MAC for the IPv4 and the IPv6 address. The
// kernel drops advertisements with a bad checksum or without a valid
// target link-layer option, so this checks app/neighbor's frames end to
// end.
func TestRealOVSAnswersThroughStrictShim(t *testing.T) {
	ovstest.Require(t, "ping")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	o := ovstest.Start(t, ovstest.Options{Prefix: "nvnb"})
	logger := slog.New(slog.NewTextHandler(logWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))

	const vni = 4242
	target := net.HardwareAddr{2, 0, 0, 0, 0x0a, 2}
	lookups := make(chan string, 64)
	resp, err := New(Options{
		Lookup: func(dpid uint64, pi conn.PacketIn, req *nd.Request) (net.HardwareAddr, bool) {
			select {
			case lookups <- fmt.Sprintf("%s in_port=%d metadata=%d", req.TargetIP, pi.Match.InPort, pi.Match.Metadata):
			default:
			}
			if pi.Match.Metadata != vni {
				return nil, false
			}
			switch req.TargetIP {
			case netip.MustParseAddr("198.19.42.2"), netip.MustParseAddr("2001:db8:42::2"):
				return target, true
			}
			return nil, false
		},
		Registerer: prometheus.NewRegistry(),
		Logger:     logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	nvaSock, shimSock := filepath.Join(o.Dir(), "nva.sock"), filepath.Join(o.Dir(), "shim.sock")
	l, err := conn.Listen(ctx, "unix:"+nvaSock, nil, nopHandler{}, conn.Options{Logger: logger,
		OnPacketIn: func(sw *conn.Switch, pi conn.PacketIn) { resp.Handle(sw, pi) }})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { l.Close(); <-l.Done() }()
	shim, err := ofshim.Start(ctx, ofshim.Options{Listen: "unix:" + shimSock, Upstream: "unix:" + nvaSock, Log: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer shim.Close()

	br := fmt.Sprintf("nvn%d", os.Getpid()%100000)
	p1 := br + "a"
	o.Vsctl("add-br", br, "--", "set", "bridge", br, "datapath_type=netdev", "protocols=OpenFlow13", "fail_mode=secure",
		"--", "add-port", br, p1, "--", "set", "interface", p1, "type=internal", "ofport_request=5")
	o.Vsctl("set-controller", br, shim.Target(), "--", "set", "controller", br, "connection_mode=out-of-band")
	deadline := time.Now().Add(30 * time.Second)
	for len(l.Switches()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("OVS did not connect")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The strict profile's shape: classify (VN in metadata), then send
	// requests to the controller. Standard OpenFlow 1.3 fields only.
	// Installed after the controller is set: OVS 3.1 flushes a bridge's
	// flows when it gets its first controller.
	for _, f := range []string{
		fmt.Sprintf("table=0,priority=100,in_port=5,actions=write_metadata:%d,goto_table:1", vni),
		"table=1,priority=100,arp,arp_op=1,actions=CONTROLLER:65535",
		"table=1,priority=100,icmp6,icmp_type=135,actions=CONTROLLER:65535",
	} {
		o.Ofctl("add-flow", br, f)
	}
	o.Exec("ip", "link", "set", p1, "up")
	o.Exec("ip", "addr", "add", "198.19.42.1/24", "dev", p1)
	o.Exec("ip", "addr", "add", "2001:db8:42::1/64", "dev", p1, "nodad")

	for _, tc := range []struct {
		name, ping, addr string
	}{
		{"ARP", "-4", "198.19.42.2"},
		{"ND", "-6", "2001:db8:42::2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			deadline := time.Now().Add(20 * time.Second)
			for {
				// The ping is never answered; its neighbor resolution is
				// what is tested.
				_, _ = o.Try("ip", "netns", "exec", o.Netns(), "ping", tc.ping, "-c", "1", "-W", "1", tc.addr)
				neigh := o.Exec("ip", "neigh", "show", tc.addr, "dev", p1)
				if strings.Contains(neigh, "lladdr "+target.String()) {
					t.Logf("kernel neighbor entry: %s", neigh)
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("kernel did not learn %s: %q", tc.addr, neigh)
				}
			}
		})
	}
	if n := value(resp.answers); n < 2 {
		t.Errorf("answers = %v, want at least 2", n)
	}
	if got := shim.Refused(); len(got) != 0 {
		t.Errorf("the strict shim refused %v: %v", got, shim.Refusals())
	}
	for len(lookups) > 0 {
		t.Logf("lookup: %s", <-lookups)
	}
}
