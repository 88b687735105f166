package main

import (
	"context"
	"strings"
	"testing"

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
