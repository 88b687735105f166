package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nva-project/nva/app/counters"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/trace"
	"github.com/nva-project/nva/web"
)

type simTracer struct{}

func (simTracer) Trace(_ context.Context, snap *model.Snapshot, req trace.Request) (*trace.Result, error) {
	return trace.Run(snap, nil, req)
}

func TestTraceCommand(t *testing.T) {
	ts, _ := server(t, func(o *web.Options) { o.Tracer = simTracer{} })
	c := cli{t, map[string]string{"NVA_SERVER": ts.URL}}
	c.ok("vn", "create", "blue", "--vni", "100")
	c.ok("nve", "create", "hv1", "--underlay-ip", "192.0.2.1", "--ovsdb", "unix:/run/openvswitch/db.sock")
	c.ok("nve", "create", "hv2", "--underlay-ip", "192.0.2.2", "--ovsdb", "tcp:192.0.2.2:6640")
	c.ok("port", "create", "p1", "--vn", "blue", "--nve", "hv1", "--interface", "veth1", "--mac", "02:00:00:00:00:01", "--ip", "10.0.0.1")
	c.ok("port", "create", "p2", "--vn", "blue", "--nve", "hv2", "--interface", "veth2", "--mac", "02:00:00:00:00:02", "--ip", "10.0.0.2")

	out := c.ok("trace", "p1", "--to", "p2", "--proto", "udp", "--dport", "53")
	for _, want := range []string{"NVE hv1", "NVE hv2", "out: tunnel vxlan VNI 100 to hv2 (192.0.2.2)", "result: delivered on hv2 to port p2"} {
		if !strings.Contains(out, want) {
			t.Errorf("trace output lacks %q:\n%s", want, out)
		}
	}
	out = c.ok("trace", "p1", "--to", "p2", "--eth-src", "02:00:00:00:99:99")
	if !strings.Contains(out, "DROP:") || !strings.Contains(out, "port_security") || !strings.Contains(out, "result: dropped") {
		t.Errorf("spoofed trace:\n%s", out)
	}
	c.fails("protocol", "trace", "p1", "--to", "p2", "--proto", "sctp")
	if out := c.ok("-o", "json", "trace", "p1", "--to", "p2"); !strings.Contains(out, `"delivered"`) {
		t.Errorf("json output:\n%s", out)
	}
}

type fixedCounters struct{}

func (fixedCounters) TrafficCounters() ([]counters.NVE, time.Time, bool) {
	return []counters.NVE{{NVE: "hv1", VNs: map[string]counters.VN{"blue": {FromPorts: counters.Count{Packets: 7, Bytes: 700}}},
		Ports:       map[string]counters.Port{"p1": {VN: "blue", Rx: counters.Count{Packets: 7, Bytes: 700}}},
		Tunnels:     map[string]counters.Tunnel{"hv2": {Tx: counters.Count{Packets: 6, Bytes: 600}}},
		Drops:       map[string]counters.Count{"port_security": {Packets: 1, Bytes: 100}},
		DropReasons: map[string]counters.Count{"spoofed": {Packets: 1, Bytes: 100}},
		Interfaces:  map[string]counters.Iface{"nva-vxlan": {Kind: "tunnel", Tx: counters.Count{Packets: 9, Bytes: 900}, TxDropped: 2}},
		BUM:         []counters.BUM{{VN: "blue", Frames: 4, UnderlayCopies: 8, LocalCopies: 3, CompiledCopies: 2, RelayedCopies: 5}}}}, time.Now(), true
}

func TestCountersCommand(t *testing.T) {
	ts, _ := server(t, func(o *web.Options) { o.Counters = fixedCounters{} })
	c := cli{t, map[string]string{"NVA_SERVER": ts.URL}}
	c.ok("vn", "create", "blue", "--vni", "100")
	c.ok("nve", "create", "hv1", "--underlay-ip", "192.0.2.1", "--ovsdb", "unix:/run/openvswitch/db.sock")
	c.ok("port", "create", "p1", "--vn", "blue", "--nve", "hv1", "--interface", "veth1", "--mac", "02:00:00:00:00:01", "--ip", "10.0.0.1")
	out := c.ok("counters")
	for _, want := range []string{"hv1->hv2", "6 pkts / 600 B", "port_security", "1 pkts / 100 B", "spoofed", "hv1/nva-vxlan", "9 pkts / 900 B", "2/0"} {
		if !strings.Contains(out, want) {
			t.Errorf("counters output lacks %q:\n%s", want, out)
		}
	}
	if r := row(t, out, "hv1"); len(r) != 7 || r[1] != "blue" || r[2] != "4" || r[3] != "8" || r[4] != "3" || r[5] != "2" || r[6] != "5" {
		t.Errorf("BUM row %v", r)
	}
	if r := row(t, out, "blue"); r[1] != "7" {
		t.Errorf("blue row %v", r)
	}
	if r := row(t, c.ok("counters", "--port", "p1"), "p1"); r[1] != "blue" || r[2] != "7" {
		t.Errorf("port row %v", r)
	}
	if out := c.ok("counters", "--vn", "blue"); !strings.Contains(out, "from ports 7 pkts / 700 B") {
		t.Errorf("vn counters:\n%s", out)
	}
	c.fails("not found", "counters", "--port", "nope")
}

// dropLive is a live tracer whose packet is dropped by port security on
// hv1.
type dropLive struct{}

func (dropLive) LiveTrace(context.Context, *model.Snapshot, *trace.LivePacket, []string, time.Duration) (*trace.Observed, error) {
	return &trace.Observed{Complete: true, Unobserved: map[string]string{"hv3": "strict OpenFlow 1.3 profile"}, Observations: []trace.Observation{
		{NVE: "hv1", Arrival: "port p1 (interface veth1)", Step: trace.Step{Table: "classify", Stages: []string{"classify"}, Verdict: "goto", Decision: "goto port_security"}},
		{NVE: "hv1", Step: trace.Step{Table: "port_security", Stages: []string{"port_security"}, Verdict: "drop", Decision: "drop", Flow: "table=port_security,priority=0,actions=drop"}},
	}}, nil
}

func (dropLive) LiveTraceError(error) int { return 0 }

func TestTraceLiveCommand(t *testing.T) {
	ts, _ := server(t, func(o *web.Options) { o.Tracer = simTracer{}; o.LiveTracer = dropLive{} })
	c := cli{t, map[string]string{"NVA_SERVER": ts.URL}}
	c.ok("vn", "create", "blue", "--vni", "100")
	c.ok("nve", "create", "hv1", "--underlay-ip", "192.0.2.1", "--ovsdb", "unix:/run/openvswitch/db.sock")
	c.ok("nve", "create", "hv2", "--underlay-ip", "192.0.2.2", "--ovsdb", "tcp:192.0.2.2:6640")
	c.ok("port", "create", "p1", "--vn", "blue", "--nve", "hv1", "--interface", "veth1", "--mac", "02:00:00:00:00:01", "--ip", "10.0.0.1")
	c.ok("port", "create", "p2", "--vn", "blue", "--nve", "hv2", "--interface", "veth2", "--mac", "02:00:00:00:00:02", "--ip", "10.0.0.2")
	out := c.ok("trace", "p1", "--to", "p2", "--live")
	for _, want := range []string{"=== live trace (the real packet) ===", "DROP: dropped by an explicit drop flow in stage port_security",
		"unobserved: NVE hv3: strict OpenFlow 1.3 profile", "live: DIFFERS from the simulation", "mismatch: NVE hv2: the simulation reaches it"} {
		if !strings.Contains(out, want) {
			t.Errorf("live trace output lacks %q:\n%s", want, out)
		}
	}
	c.fails("live", "trace", "p1", "--proto", "arp", "--dst-ip", "10.0.0.2", "--live")
}
