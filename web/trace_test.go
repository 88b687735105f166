package web

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/nva-project/nva/app/counters"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/trace"
	"github.com/nva-project/nva/web/wire"
)

type appTracer struct{}

func (appTracer) Trace(_ context.Context, snap *model.Snapshot, req trace.Request) (*trace.Result, error) {
	return trace.Run(snap, nil, req)
}

func TestTraceAPI(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Tracer = appTracer{} })
	e.seed()
	e.must(201, "POST", "/api/v1/ports", `{"name":"p2","vn":"blue","nve":"hv2","interface":"veth2","mac":"02:00:00:00:00:02","ips":["10.0.0.2"]}`)

	r := e.must(200, "POST", "/api/v1/traces", `{"port":"p1","to_port":"p2","protocol":"udp","dst_port":53}`)
	var res wire.TraceResult
	if err := json.Unmarshal([]byte(r.body), &res); err != nil {
		t.Fatal(err)
	}
	if res.Dropped || len(res.Delivered) != 1 || res.Delivered[0].Port != "p2" || res.Delivered[0].NVE != "hv2" {
		t.Fatalf("delivered %+v: %s", res.Delivered, r.body)
	}
	if len(res.Hops) != 2 || res.Hops[0].Outputs[0].Tunnel == nil || res.Hops[0].Outputs[0].Tunnel.RemoteIP != "192.0.2.2" {
		t.Fatalf("hops: %s", r.body)
	}
	if res.Hops[0].Steps[0].Flow == "" {
		t.Fatalf("no flow text for an admin: %s", r.body)
	}

	// A spoofed source MAC stops in port security.
	r = e.must(200, "POST", "/api/v1/traces", `{"port":"p1","to_port":"p2","eth_src":"02:00:00:00:00:99"}`)
	res = wire.TraceResult{}
	if err := json.Unmarshal([]byte(r.body), &res); err != nil {
		t.Fatal(err)
	}
	if !res.Dropped || len(res.Hops) != 1 || res.Hops[0].Drop == "" {
		t.Fatalf("spoofed: %s", r.body)
	}

	// Bad input: 4xx naming the field.
	for body, want := range map[string]struct {
		status int
		field  string
	}{
		`{}`:              {400, "port"},
		`{"port":"nope"}`: {404, "port"},
		`{"port":"p1","to_port":"p2","protocol":"sctp"}`: {400, "protocol"},
		`{"port":"p1","bogus":1}`:                        {400, "bogus"},
		`{"port":"p1","dst_ip":"10.0.0.2"}`:              {400, "eth_dst"},
	} {
		r := e.do("POST", "/api/v1/traces", body)
		if r.status != want.status || r.err().Field != want.field {
			t.Errorf("%s: %d %s, want %d naming %s", body, r.status, r.body, want.status, want.field)
		}
	}
}

func TestTraceTenantSeesNoUnderlay(t *testing.T) {
	res := &trace.Result{Hops: []trace.Hop{{NVE: "hv1", Steps: []trace.Step{{Table: "classify", Flow: "table=0,in_port=1", Decision: "goto x", Verdict: "goto", Goto: "x"}},
		Outputs: []trace.Output{{Tunnel: &trace.Tunnel{Encap: "vxlan", RemoteNVE: "hv2", RemoteIP: "192.0.2.2", VNI: 100}, Packet: "tun_dst=192.0.2.2"}}}}}
	w := traceWire(res, true)
	h := w.Hops[0]
	if h.Steps[0].Flow != "" || h.Steps[0].Decision != "goto" || h.Outputs[0].Tunnel.RemoteIP != "" || h.Outputs[0].Packet != "" {
		t.Fatalf("tenant view leaks the underlay: %+v", h)
	}
	if w = traceWire(res, false); w.Hops[0].Outputs[0].Tunnel.RemoteIP != "192.0.2.2" {
		t.Fatalf("admin view: %+v", w.Hops[0])
	}
}

type fakeCounters struct{ nves []counters.NVE }

func (f fakeCounters) TrafficCounters() ([]counters.NVE, time.Time, bool) {
	return f.nves, time.Unix(1700000000, 0), true
}

func TestCountersAPI(t *testing.T) {
	c := func(p uint64) counters.Count { return counters.Count{Packets: p, Bytes: p * 100} }
	fc := fakeCounters{[]counters.NVE{
		{NVE: "hv1", VNs: map[string]counters.VN{"blue": {FromPorts: c(5)}}, Ports: map[string]counters.Port{"p1": {VN: "blue", Rx: c(5)}},
			Tunnels: map[string]counters.Tunnel{"hv2": {Tx: c(4)}}, Drops: map[string]counters.Count{"port_security": c(1)},
			BUM: []counters.BUM{{VN: "blue", Frames: 3, FramesFromTunnels: 1, UnderlayCopies: 6, LocalCopies: 4, CompiledCopies: 2, RelayedCopies: 3}}},
		{NVE: "hv2", VNs: map[string]counters.VN{"blue": {FromTunnels: c(4)}}, Ports: map[string]counters.Port{"p2": {VN: "blue", Tx: c(4)}},
			Tunnels: map[string]counters.Tunnel{"hv1": {Rx: c(4)}}, Drops: map[string]counters.Count{}},
	}}
	e := newEnv(t, func(o *Options) { o.Counters = fc })
	e.seed()
	e.must(201, "POST", "/api/v1/ports", `{"name":"p2","vn":"blue","nve":"hv2","interface":"veth2","mac":"02:00:00:00:00:02","ips":["10.0.0.2"]}`)
	var all wire.Counters
	e.must(200, "GET", "/api/v1/counters", "").decode(t, &all)
	if !all.Enabled || all.PolledAt == nil || len(all.NVEs) != 2 || all.VNs["blue"].FromPorts.Packets != 5 || all.VNs["blue"].FromTunnels.Packets != 4 ||
		all.Tunnels["hv1->hv2"].Tx.Packets != 4 || all.Drops["port_security"].Packets != 1 {
		t.Fatalf("counters %+v", all)
	}
	if b := all.NVEs[0].BUM; all.NVEs[0].NVE != "hv1" || len(b) != 1 || b[0] != (wire.BUMCounters{VN: "blue", Frames: 3, FramesFromTunnels: 1,
		UnderlayCopies: 6, LocalCopies: 4, CompiledCopies: 2, RelayedCopies: 3}) || all.NVEs[1].BUM == nil || len(all.NVEs[1].BUM) != 0 {
		t.Fatalf("BUM counters %+v / %+v", all.NVEs[0].BUM, all.NVEs[1].BUM)
	}
	var vn wire.VNCountersReport
	e.must(200, "GET", "/api/v1/vns/blue/counters", "").decode(t, &vn)
	if vn.Counters.FromPorts.Bytes != 500 || vn.Ports["p1"].Rx.Packets != 5 || vn.Ports["p2"].Tx.Packets != 4 {
		t.Fatalf("vn counters %+v", vn)
	}
	var port wire.PortCountersReport
	e.must(200, "GET", "/api/v1/ports/p2/counters", "").decode(t, &port)
	if port.Counters.Tx.Packets != 4 || port.Counters.VN != "blue" {
		t.Fatalf("port counters %+v", port)
	}
	e.must(404, "GET", "/api/v1/ports/nope/counters", "")
	e.must(404, "GET", "/api/v1/vns/nope/counters", "")
}

// fakeLive answers live traces with canned observations (or an error).
type fakeLive struct {
	obs     *trace.Observed
	err     error
	observe []string
	pkt     *trace.LivePacket
}

func (f *fakeLive) LiveTrace(_ context.Context, _ *model.Snapshot, pkt *trace.LivePacket, observe []string, _ time.Duration) (*trace.Observed, error) {
	f.observe, f.pkt = observe, pkt
	return f.obs, f.err
}

func (f *fakeLive) LiveTraceError(err error) int {
	if err == errFakeNotLeader {
		return 503
	}
	return 0
}

var errFakeNotLeader = errors.New("not the leader")

func TestLiveTraceAPI(t *testing.T) {
	// Without a live tracer: 501 naming live.
	e := newEnv(t, func(o *Options) { o.Tracer = appTracer{} })
	e.seed()
	if r := e.do("POST", "/api/v1/traces", `{"port":"p1","eth_dst":"02:00:00:00:00:02","dst_ip":"10.0.0.2","live":true}`); r.status != 501 || r.err().Field != "live" {
		t.Fatalf("no live tracer: %d %s", r.status, r.body)
	}

	fl := &fakeLive{}
	e = newEnv(t, func(o *Options) { o.Tracer = appTracer{}; o.LiveTracer = fl })
	e.seed()
	e.must(201, "POST", "/api/v1/ports", `{"name":"p2","vn":"blue","nve":"hv2","interface":"veth2","mac":"02:00:00:00:00:02","ips":["10.0.0.2"]}`)
	// The live packet was dropped by port security on hv1, unlike the
	// simulated one: flagged.
	fl.obs = &trace.Observed{Complete: true, Observations: []trace.Observation{
		{NVE: "hv1", Arrival: "port p1 (interface veth1)", Step: trace.Step{Table: "classify", Stages: []string{"classify"}, Verdict: "goto", Flow: "f"}},
		{NVE: "hv1", Step: trace.Step{Table: "port_security", Stages: []string{"port_security"}, Verdict: "drop", Flow: "f"}},
	}}
	r := e.must(200, "POST", "/api/v1/traces", `{"port":"p1","to_port":"p2","live":true}`)
	var res wire.TraceResult
	if err := json.Unmarshal([]byte(r.body), &res); err != nil {
		t.Fatal(err)
	}
	if res.Live == nil || res.Live.Match || len(res.Live.Mismatches) == 0 || !res.Live.Dropped || res.Dropped {
		t.Fatalf("live: %s", r.body)
	}
	if len(fl.observe) != 2 || fl.observe[0] != "hv1" || fl.observe[1] != "hv2" || fl.pkt == nil || fl.pkt.NVE != "hv1" {
		t.Fatalf("observed NVEs %v, packet %+v", fl.observe, fl.pkt)
	}
	// Agreement.
	fl.obs = &trace.Observed{Complete: true, Observations: []trace.Observation{
		{NVE: "hv1", Arrival: "port p1", Step: trace.Step{Table: "classify", Verdict: "goto"}},
		{NVE: "hv1", Step: trace.Step{Table: "port_security", Verdict: "goto"}},
		{NVE: "hv1", Step: trace.Step{Table: "neighbor", Verdict: "goto"}},
		{NVE: "hv1", Step: trace.Step{Table: "l2_forward", Verdict: "output"}, Outputs: []trace.Output{{Tunnel: &trace.Tunnel{Encap: "vxlan", RemoteNVE: "hv2", VNI: res.Hops[0].Outputs[0].Tunnel.VNI}}}},
		{NVE: "hv2", Arrival: "tunnel", Step: trace.Step{Table: "classify", Verdict: "goto"}},
		{NVE: "hv2", Step: trace.Step{Table: "l2_forward", Verdict: "output"}, Outputs: []trace.Output{{Port: "p2"}}},
	}}
	r = e.must(200, "POST", "/api/v1/traces", `{"port":"p1","to_port":"p2","live":true}`)
	res = wire.TraceResult{}
	if err := json.Unmarshal([]byte(r.body), &res); err != nil {
		t.Fatal(err)
	}
	if res.Live == nil || !res.Live.Match || len(res.Live.Mismatches) != 0 || len(res.Live.Delivered) != 1 {
		t.Fatalf("live agreement: %s", r.body)
	}
	// Errors: not the leader (503), bad wait, arp.
	fl.err = errFakeNotLeader
	if r := e.do("POST", "/api/v1/traces", `{"port":"p1","to_port":"p2","live":true}`); r.status != 503 || r.err().Field != "live" {
		t.Fatalf("not leader: %d %s", r.status, r.body)
	}
	fl.err = nil
	if r := e.do("POST", "/api/v1/traces", `{"port":"p1","to_port":"p2","live":true,"wait_ms":-1}`); r.status != 400 || r.err().Field != "wait_ms" {
		t.Fatalf("wait_ms: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/api/v1/traces", `{"port":"p1","protocol":"arp","dst_ip":"10.0.0.2","live":true}`); r.status != 400 || r.err().Field != "live" {
		t.Fatalf("arp: %d %s", r.status, r.body)
	}
}
