package conn

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"antrea.io/libOpenflow/openflow13"
	"github.com/nva-project/nva/internal/ovstest"
)

// TestRealOVSPacketInOut: a flow with actions=CONTROLLER delivers the
// namespace kernel's ARP request as a decoded packet-in, and packet-outs
// (to a port by number, and back out of IN_PORT) reach the ports: their
// kernel receive counters and OVS's port stats go up.
func TestRealOVSPacketInOut(t *testing.T) {
	ovstest.Require(t, "ping")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	o := ovstest.Start(t, ovstest.Options{Prefix: "nvcp"})
	ctlSock := filepath.Join(o.Dir(), "nva.sock")
	rec := newRecorder()
	pins := make(chan PacketIn, 64)
	l, err := Listen(ctx, "unix:"+ctlSock, nil, rec, Options{Logger: testLogger(t),
		OnPacketIn: func(sw *Switch, pi PacketIn) { pins <- pi }})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { l.Close(); <-l.Done() }()
	br := fmt.Sprintf("nvp%d", os.Getpid()%100000)
	p1, p2 := br+"a", br+"b"
	o.Vsctl("add-br", br, "--", "set", "bridge", br, "datapath_type=netdev", "protocols=OpenFlow13",
		"fail_mode=secure", "other_config:datapath-id=00000000000abc02",
		"--", "add-port", br, p1, "--", "set", "interface", p1, "type=internal", "ofport_request=5",
		"--", "add-port", br, p2, "--", "set", "interface", p2, "type=internal", "ofport_request=6")
	o.Vsctl("set-controller", br, "unix:"+ctlSock, "--", "set", "controller", br, "connection_mode=out-of-band")
	var sw *Switch
	select {
	case sw = <-rec.connected:
	case <-time.After(30 * time.Second):
		t.Fatal("OVS did not connect")
	}
	for _, p := range []string{p1, p2} {
		o.Exec("sysctl", "-qw", "net.ipv6.conf."+p+".disable_ipv6=1") // no RS/MLD noise
		o.Exec("ip", "link", "set", p, "up")
	}
	o.Exec("ip", "addr", "add", "198.18.5.1/24", "dev", p1)

	// in_port=5 -> CONTROLLER (whole packet).
	fm := openflow13.NewFlowMod()
	fm.Cookie, fm.Priority, fm.TableId = 0x5151, 100, 0
	fm.Match.AddField(*openflow13.NewInPortField(5))
	ia := openflow13.NewInstrApplyActions()
	out := openflow13.NewActionOutput(openflow13.P_CONTROLLER)
	out.MaxLen = 0xffff
	ia.AddAction(out, false)
	fm.AddInstruction(ia)
	if _, err := sw.Send(fm); err != nil {
		t.Fatal(err)
	}
	if err := sw.Barrier(ctx); err != nil {
		t.Fatal(err)
	}

	t.Run("packet-in", func(t *testing.T) {
		_, _ = o.Try("ip", "netns", "exec", o.Netns(), "ping", "-c", "1", "-W", "1", "198.18.5.2") // unanswered: only its ARP matters
		var mac net.HardwareAddr
		if p, ok := sw.PortByName(p1); ok {
			mac = p.HWAddr
		}
		timeout := time.After(20 * time.Second)
		for {
			select {
			case pi := <-pins:
				if len(pi.Data) < 42 || binary.BigEndian.Uint16(pi.Data[12:14]) != 0x0806 {
					continue // something else the kernel sent
				}
				if pi.Match.InPort != 5 || pi.Reason != ReasonAction || pi.TableID != 0 || pi.Cookie != 0x5151 ||
					pi.BufferID != NoBuffer || int(pi.TotalLen) != len(pi.Data) {
					t.Fatalf("packet-in %+v", pi.key())
				}
				if tpa := net.IP(pi.Data[38:42]).String(); tpa != "198.18.5.2" {
					t.Fatalf("ARP target %s", tpa)
				}
				if mac != nil && net.HardwareAddr(pi.Data[6:12]).String() != mac.String() {
					t.Fatalf("eth src %x, want %s", pi.Data[6:12], mac)
				}
				return
			case <-timeout:
				t.Fatal("no ARP packet-in")
			}
		}
	})

	rx := func(port string) int {
		t.Helper()
		n, err := strconv.Atoi(strings.TrimSpace(o.Exec("cat", "/sys/class/net/"+port+"/statistics/rx_packets")))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	txPackets := func(ofport string) int {
		t.Helper()
		s := o.Ofctl("dump-ports", br, ofport)
		i := strings.Index(s, "tx pkts=")
		if i < 0 {
			t.Fatalf("dump-ports: %s", s)
		}
		n, err := strconv.Atoi(strings.TrimRight(strings.Fields(s[i+len("tx pkts="):])[0], ","))
		if err != nil {
			t.Fatalf("dump-ports: %s", s)
		}
		return n
	}
	frame := append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0x5e, 1, 0x88, 0xb5}, make([]byte, 46)...) // local experimental ethertype

	for _, tc := range []struct {
		name         string
		inPort       uint32
		action       Action
		port, ofport string
	}{
		{"packet-out to port 6", PortController, OutputAction(6), p2, "6"},
		{"packet-out to IN_PORT 5", 5, OutputAction(PortInPort), p1, "5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rx0, tx0 := rx(tc.port), txPackets(tc.ofport)
			const n = 3
			for i := 0; i < n; i++ {
				if err := sw.PacketOut(ctx, tc.inPort, []Action{tc.action}, frame); err != nil {
					t.Fatal(err)
				}
			}
			if err := sw.Barrier(ctx); err != nil {
				t.Fatalf("barrier after packet-outs: %v", err)
			}
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				r, tx := rx(tc.port), txPackets(tc.ofport)
				if r-rx0 >= n && tx-tx0 >= n {
					t.Logf("%s: kernel rx +%d, OVS tx +%d", tc.port, r-rx0, tx-tx0)
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s: kernel rx +%d, OVS tx +%d, want +%d", tc.port, r-rx0, tx-tx0, n)
				}
			}
		})
	}
	if st := sw.ErrorState(); st.Count != 0 {
		t.Fatalf("switch errors: %+v", st)
	}
}
