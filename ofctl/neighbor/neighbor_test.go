package neighbor

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	nd "github.com/nva-project/nva/app/neighbor"
	"github.com/nva-project/nva/ofctl/conn"
)

// fakeSwitch records packet-outs.
type fakeSwitch struct {
	dpid uint64
	outs []packetOut
	err  error
}

type packetOut struct {
	inPort  uint32
	actions []conn.Action
	data    []byte
}

func (f *fakeSwitch) DPID() uint64 { return f.dpid }
func (f *fakeSwitch) PacketOut(_ context.Context, inPort uint32, actions []conn.Action, data []byte) error {
	if f.err != nil {
		return f.err
	}
	f.outs = append(f.outs, packetOut{inPort, actions, append([]byte(nil), data...)})
	return nil
}

func hx(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Requests from 02:00:00:00:0a:01 (198.19.42.1, 2001:db8:42::1) for
// 198.19.42.2 and 2001:db8:42::2 (the same frames as app/neighbor's
// goldens).
const (
	arpReq = `ffffffffffff 020000000a01 0806 0001 0800 06 04 0001 020000000a01 c6132a01 000000000000 c6132a02`
	nsReq  = `3333ff000002 020000000a01 86dd 60000000 0020 3a ff 20010db8004200000000000000000001 ff0200000000000000000001ff000002
		87 00 11a3 00000000 20010db8004200000000000000000002 01 01 020000000a01`
	// An ARP probe (sender 0.0.0.0) and a DAD NS (source ::).
	arpProbe = `ffffffffffff 020000000a01 0806 0001 0800 06 04 0001 020000000a01 00000000 000000000000 c6132a02`
	dadNS    = `3333ff000001 020000000a01 86dd 60000000 0018 3a ff 00000000000000000000000000000000 ff0200000000000000000001ff000001
		87 00 4cab 00000000 20010db8004200000000000000000001`
	ipv4 = `020000000a02 020000000a01 0800 4500001c00000000400100000000000000000000`
)

var (
	tgtMAC = net.HardwareAddr{2, 0, 0, 0, 0x0a, 2}
	reqMAC = net.HardwareAddr{2, 0, 0, 0, 0x0a, 1}
)

// table knows the addresses of VN 4242 (metadata 4242) only.
func table(dpid uint64, pi conn.PacketIn, req *nd.Request) (net.HardwareAddr, bool) {
	if pi.Match.Metadata&0xffffff != 4242 {
		return nil, false
	}
	switch req.TargetIP {
	case netip.MustParseAddr("198.19.42.2"), netip.MustParseAddr("2001:db8:42::2"):
		return tgtMAC, true
	case netip.MustParseAddr("198.19.42.1"), netip.MustParseAddr("2001:db8:42::1"):
		return reqMAC, true
	}
	return nil, false
}

func pin(data []byte) conn.PacketIn {
	return conn.PacketIn{BufferID: conn.NoBuffer, TotalLen: uint16(len(data)), Reason: conn.ReasonAction,
		Match: conn.PacketInMatch{InPort: 7, Metadata: 4242, HasMetadata: true}, Data: data}
}

func newResponder(t *testing.T, opts Options) (*Responder, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	if opts.Lookup == nil {
		opts.Lookup = table
	}
	opts.Registerer = reg
	opts.Logger = slog.New(slog.DiscardHandler)
	r, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return r, reg
}

// value reads a counter (prometheus/testutil would need a module nva does
// not depend on).
func value(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}

func drops(r *Responder, reason Outcome) float64 {
	return value(r.drops.WithLabelValues(string(reason)))
}

// gathered returns the registry's metrics as name{labels} -> value.
func gathered(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			for _, l := range m.GetLabel() {
				name += "{" + l.GetName() + "=" + l.GetValue() + "}"
			}
			out[name] = m.GetCounter().GetValue()
		}
	}
	return out
}

func TestAnswers(t *testing.T) {
	r, reg := newResponder(t, Options{})
	sw := &fakeSwitch{dpid: 1}
	for _, h := range []string{arpReq, nsReq} {
		in := hx(t, h)
		if got := r.Handle(sw, pin(in)); got != Answered {
			t.Fatalf("Handle = %s", got)
		}
		req, _ := nd.Parse(in)
		want, err := nd.Reply(req, tgtMAC)
		if err != nil {
			t.Fatal(err)
		}
		po := sw.outs[len(sw.outs)-1]
		if po.inPort != 7 || len(po.actions) != 1 || po.actions[0].String() != "output:IN_PORT" || !bytes.Equal(po.data, want) {
			t.Fatalf("packet-out in_port %d actions %v data %x\nwant data %x", po.inPort, po.actions, po.data, want)
		}
	}
	// The metrics are registered under the names the issue gives, every
	// drop reason exported from the start.
	want := map[string]float64{"nva_neighbor_answers_total": 2}
	for _, o := range []Outcome{UnknownTarget, RateLimited, NotAnswerable, Malformed, SendFailed} {
		want["nva_neighbor_drops_total{reason="+string(o)+"}"] = 0
	}
	if got := gathered(t, reg); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("metrics %v\nwant %v", got, want)
	}
}

func TestDrops(t *testing.T) {
	gratuitous := hx(t, arpReq)
	copy(gratuitous[28:32], []byte{0xc6, 0x13, 0x2a, 0x02}) // spa = tpa
	otherVN := pin(hx(t, arpReq))
	otherVN.Match.Metadata = 7
	ownAddr := hx(t, arpReq) // the port asks for its own address (lookup gives its own MAC)
	copy(ownAddr[28:32], []byte{0xc6, 0x13, 0x2a, 0x09})
	copy(ownAddr[38:42], []byte{0xc6, 0x13, 0x2a, 0x01})
	unknown := hx(t, arpReq)
	copy(unknown[38:42], []byte{0xc6, 0x13, 0x2a, 0x63})
	for _, tc := range []struct {
		name string
		pi   conn.PacketIn
		want Outcome
	}{
		{"unknown target", pin(unknown), UnknownTarget},
		{"target in another VN", otherVN, UnknownTarget},
		{"gratuitous ARP", pin(gratuitous), NotAnswerable},
		{"ARP probe", pin(hx(t, arpProbe)), NotAnswerable},
		{"DAD", pin(hx(t, dadNS)), NotAnswerable},
		{"own address", pin(ownAddr), NotAnswerable},
		{"IPv4 packet", pin(hx(t, ipv4)), NotAnswerable},
		{"truncated ARP", pin(hx(t, arpReq)[:30]), Malformed},
		{"empty", pin(nil), Malformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := newResponder(t, Options{})
			sw := &fakeSwitch{dpid: 1}
			if got := r.Handle(sw, tc.pi); got != tc.want {
				t.Fatalf("Handle = %s, want %s", got, tc.want)
			}
			if len(sw.outs) != 0 {
				t.Fatalf("sent %d packet-outs", len(sw.outs))
			}
			if drops(r, tc.want) != 1 || value(r.answers) != 0 {
				t.Fatalf("drops{%s} = %v, answers %v", tc.want, drops(r, tc.want), value(r.answers))
			}
		})
	}
}

func TestSendFailed(t *testing.T) {
	r, _ := newResponder(t, Options{})
	sw := &fakeSwitch{dpid: 1, err: conn.ErrClosed}
	if got := r.Handle(sw, pin(hx(t, arpReq))); got != SendFailed || drops(r, SendFailed) != 1 {
		t.Fatalf("Handle = %s", got)
	}
}

// The token bucket, on an injected clock: Burst answers at once, then
// RatePerSwitch per second; each switch has its own bucket.
func TestRateLimitPerSwitch(t *testing.T) {
	now := time.Unix(1000, 0)
	r, _ := newResponder(t, Options{RatePerSwitch: 2, Burst: 3, Now: func() time.Time { return now }})
	a, b := &fakeSwitch{dpid: 1}, &fakeSwitch{dpid: 2}
	req := pin(hx(t, arpReq))
	outcomes := func(sw *fakeSwitch, n int) string {
		var s []string
		for i := 0; i < n; i++ {
			s = append(s, string(r.Handle(sw, req)))
		}
		return strings.Join(s, " ")
	}
	if got := outcomes(a, 5); got != "answered answered answered rate_limited rate_limited" {
		t.Fatalf("burst on switch 1: %s", got)
	}
	if got := outcomes(b, 3); got != "answered answered answered" {
		t.Fatalf("switch 2 shares switch 1's bucket: %s", got)
	}
	now = now.Add(500 * time.Millisecond) // one token back
	if got := outcomes(a, 2); got != "answered rate_limited" {
		t.Fatalf("after 0.5 s: %s", got)
	}
	now = now.Add(time.Hour) // refills to Burst, not beyond
	if got := outcomes(a, 4); got != "answered answered answered rate_limited" {
		t.Fatalf("after an hour: %s", got)
	}
	if drops(r, RateLimited) != 4 || value(r.answers) != 10 {
		t.Fatalf("rate_limited %v answers %v", drops(r, RateLimited), value(r.answers))
	}
	// Requests nva never answers do not use tokens.
	if got := r.Handle(a, pin(hx(t, arpProbe))); got != NotAnswerable {
		t.Fatal(got)
	}
	r.Forget(1)
	if got := outcomes(a, 3); got != "answered answered answered" {
		t.Fatalf("after Forget: %s", got)
	}
}

func TestCustomActions(t *testing.T) {
	r, _ := newResponder(t, Options{Actions: func(dpid uint64, pi conn.PacketIn, req *nd.Request) (uint32, []conn.Action) {
		return conn.PortController, []conn.Action{conn.PushVLANAction(0x8100), conn.SetVLANVIDAction(100), conn.OutputAction(pi.Match.InPort)}
	}})
	sw := &fakeSwitch{dpid: 1}
	if got := r.Handle(sw, pin(hx(t, nsReq))); got != Answered {
		t.Fatal(got)
	}
	po := sw.outs[0]
	var acts []string
	for _, a := range po.actions {
		acts = append(acts, a.String())
	}
	if po.inPort != conn.PortController || strings.Join(acts, ",") != "push_vlan:0x8100,set_field:100->vlan_vid,output:7" {
		t.Fatalf("packet-out %d %v", po.inPort, acts)
	}
}

func TestNewErrors(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Error("New without Lookup succeeded")
	}
	if _, err := New(Options{Lookup: table, RatePerSwitch: -1}); err == nil {
		t.Error("negative rate accepted")
	}
	reg := prometheus.NewRegistry()
	if _, err := New(Options{Lookup: table, Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	var are prometheus.AlreadyRegisteredError
	if _, err := New(Options{Lookup: table, Registerer: reg}); !errors.As(err, &are) {
		t.Errorf("second registration: %v", err)
	}
	r, err := New(Options{Lookup: table, RatePerSwitch: 0.2})
	if err != nil || r.opts.Burst != 1 || r.opts.RatePerSwitch != 0.2 {
		t.Fatalf("defaults: %+v %v", r.opts, err)
	}
}
