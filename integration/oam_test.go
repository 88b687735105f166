package integration

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/nva-project/nva/integration/lab"
	"github.com/nva-project/nva/web/wire"
)

// TestCounters: on two real OVS hypervisors with nva polling counters
// every second, N pings between two tenants of one VN grow the sender's
// and receiver's port counters, the VN's and the tunnel's by at least N,
// the tunnel ports' own statistics (port stats) by at least N, a spoofed
// source MAC shows in the port-security drop counter and as a "spoofed"
// drop reason, and the
// simulated trace of the same packets agrees (delivered; dropped in
// port_security).
func TestCounters(t *testing.T) {
	requireLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	l := lab.New(t, lab.Options{Hypervisors: 2})
	n, err := l.StartNVA(ctx, lab.NVAOptions{Bin: nvaBin, ExtraArgs: []string{"--counter-interval", "1s"}})
	if err != nil {
		t.Fatal(err)
	}
	ov, err := lab.NewOverlay(ctx, l, n, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := ov.AddVN(ctx, lab.VNSpec{Name: "blue", VNI: 1001, Encap: "vxlan"}); err != nil {
		t.Fatal(err)
	}
	for _, ts := range []lab.TenantSpec{
		{Name: "c1", VN: "blue", HV: 1, IP: "192.0.2.31", MAC: "02:00:00:00:31:01"},
		{Name: "c2", VN: "blue", HV: 2, IP: "192.0.2.32", MAC: "02:00:00:00:31:02"},
	} {
		if err := ov.AddTenant(ctx, ts); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ov.ExpectReach(ctx, "c1", "192.0.2.32", realizeTimeout); err != nil {
		t.Fatal(err)
	}

	// until returns counters from a poll round that ended after it was
	// called and for which done holds (OVS's userspace datapath pushes
	// flow statistics to the flow table about every half second, so the
	// last packets may show a round later); after 15 s it returns the last
	// counters read.
	until := func(done func(wire.Counters) bool) wire.Counters {
		t.Helper()
		since := time.Now()
		var c wire.Counters
		err := lab.WaitFor(ctx, 15*time.Second, 200*time.Millisecond, func() (bool, error) {
			c = wire.Counters{}
			if _, err := n.Client.Do(ctx, http.MethodGet, "/api/v1/counters", nil, &c); err != nil {
				return false, err
			}
			return c.PolledAt != nil && c.PolledAt.After(since) && len(c.NVEs) == 2 && done(c), nil
		})
		if err != nil {
			t.Logf("counters: %v", err)
		}
		return c
	}
	fresh := func() wire.Counters { return until(func(wire.Counters) bool { return true }) }

	const N = 20
	before := fresh()
	res, err := l.Ping(ctx, "c1", "192.0.2.32", N)
	if err != nil || res.Received != N {
		t.Fatalf("ping: %v %v", res, err)
	}
	type pair struct {
		what string
		get  func(wire.Counters) uint64
	}
	checks := []pair{
		{"port c1 rx", func(c wire.Counters) uint64 { return c.Ports["c1"].Rx.Packets }},
		{"port c1 tx", func(c wire.Counters) uint64 { return c.Ports["c1"].Tx.Packets }},
		{"port c2 rx", func(c wire.Counters) uint64 { return c.Ports["c2"].Rx.Packets }},
		{"port c2 tx", func(c wire.Counters) uint64 { return c.Ports["c2"].Tx.Packets }},
		{"vn blue from ports", func(c wire.Counters) uint64 { return c.VNs["blue"].FromPorts.Packets }},
		{"vn blue from tunnels", func(c wire.Counters) uint64 { return c.VNs["blue"].FromTunnels.Packets }},
		{"tunnel hv1->hv2 tx", func(c wire.Counters) uint64 { return c.Tunnels["hv1->hv2"].Tx.Packets }},
		{"tunnel hv2 rx from hv1", func(c wire.Counters) uint64 { return c.Tunnels["hv2->hv1"].Rx.Packets }},
	}
	after := until(func(c wire.Counters) bool {
		for _, p := range checks {
			if p.get(c) < p.get(before)+N {
				return false
			}
		}
		return true
	})
	for _, p := range checks {
		b, a := p.get(before), p.get(after)
		if a < b+N {
			t.Errorf("%s: %d -> %d, want growth of at least %d", p.what, b, a, N)
		} else {
			t.Logf("%s: %d -> %d (+%d)", p.what, b, a, a-b)
		}
	}
	// The switches' own statistics of the tunnel ports (every frame,
	// flooded copies included) grow by at least N too: hv1's nva-vxlan
	// sends the requests, hv2's receives them.
	iface := func(c wire.Counters, nve, name string) wire.InterfaceCounters {
		for _, x := range c.NVEs {
			if x.NVE == nve {
				return x.Interfaces[name]
			}
		}
		return wire.InterfaceCounters{}
	}
	after = until(func(c wire.Counters) bool {
		return iface(c, "hv1", "nva-vxlan").Tx.Packets >= iface(before, "hv1", "nva-vxlan").Tx.Packets+N &&
			iface(c, "hv2", "nva-vxlan").Rx.Packets >= iface(before, "hv2", "nva-vxlan").Rx.Packets+N
	})
	for _, x := range []struct{ nve, dir string }{{"hv1", "tx"}, {"hv2", "rx"}} {
		get := func(c wire.Counters) uint64 {
			i := iface(c, x.nve, "nva-vxlan")
			if x.dir == "tx" {
				return i.Tx.Packets
			}
			return i.Rx.Packets
		}
		if b, a := get(before), get(after); a < b+N || iface(after, x.nve, "nva-vxlan").Kind != "tunnel" {
			t.Errorf("tunnel port nva-vxlan on %s %s: %d -> %d, want growth of at least %d (%+v)", x.nve, x.dir, b, a, N, iface(after, x.nve, "nva-vxlan"))
		} else {
			t.Logf("tunnel port nva-vxlan on %s %s: %d -> %d (+%d)", x.nve, x.dir, b, a, a-b)
		}
	}
	if i := iface(after, "hv1", "vm-c1"); i.Kind != "vap" || i.Rx.Packets < N {
		t.Errorf("VAP interface vm-c1 on hv1: %+v, want rx of at least %d", i, N)
	}
	if after.Ports["c1"].Rx.Bytes < before.Ports["c1"].Rx.Bytes+N*98 {
		t.Errorf("port c1 rx bytes %d -> %d, want at least %d more", before.Ports["c1"].Rx.Bytes, after.Ports["c1"].Rx.Bytes, N*98)
	}

	// The simulated trace agrees: c1 -> c2 is delivered through the tunnel.
	var tr wire.TraceResult
	if _, err := n.Client.Do(ctx, http.MethodPost, "/api/v1/traces", wire.TraceRequest{Port: "c1", ToPort: "c2"}, &tr); err != nil {
		t.Fatal(err)
	}
	if tr.Dropped || len(tr.Delivered) != 1 || tr.Delivered[0].Port != "c2" || len(tr.Hops) != 2 {
		t.Fatalf("trace c1 -> c2: %+v", tr)
	}

	// Spoofing: c1 sends from another MAC; port security drops it.
	const spoofed = "02:00:00:00:99:99"
	if _, err := l.Exec(ctx, "c1", "ip", "link", "set", "dev", "eth0", "address", spoofed); err != nil {
		t.Fatal(err)
	}
	base := fresh()
	const S = 5
	if res, _ := l.Ping(ctx, "c1", "192.0.2.32", S); res.Received != 0 {
		t.Errorf("spoofed pings answered: %v", res)
	}
	spoof := until(func(c wire.Counters) bool {
		return c.Drops["port_security"].Packets > base.Drops["port_security"].Packets
	})
	b, a := base.Drops["port_security"].Packets, spoof.Drops["port_security"].Packets
	if a < b+1 {
		t.Errorf("port_security drops %d -> %d after %d spoofed pings, want growth", b, a, S)
	} else {
		t.Logf("port_security drops: %d -> %d (+%d) after %d spoofed pings", b, a, a-b, S)
	}
	// The same drops by reason.
	if rb, ra := base.DropReasons["spoofed"].Packets, spoof.DropReasons["spoofed"].Packets; ra-rb != a-b {
		t.Errorf("spoofed drops %d -> %d, port_security drops %d -> %d: want the same growth", rb, ra, b, a)
	}
	// The same counters as Prometheus metrics (no per-port series).
	m, err := n.Client.Metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v := m[`nva_drop_packets_total{nve="hv1",stage="port_security"}`]; v < float64(a) {
		t.Errorf("metric port_security drops on hv1 %v, want at least %d: %v", v, a, lab.MetricSeries(m, "nva_drop_packets_total"))
	}
	if v := m[`nva_drop_reason_packets_total{nve="hv1",reason="spoofed"}`]; v < float64(spoof.DropReasons["spoofed"].Packets) {
		t.Errorf("metric spoofed drops on hv1 %v, want at least %d", v, spoof.DropReasons["spoofed"].Packets)
	}
	if v := m[`nva_tunnel_port_packets_total{direction="tx",nve="hv1",port="nva-vxlan"}`]; v < float64(iface(after, "hv1", "nva-vxlan").Tx.Packets) {
		t.Errorf("metric tunnel port tx on hv1 %v, want at least %d", v, iface(after, "hv1", "nva-vxlan").Tx.Packets)
	}
	if v := m[`nva_vn_packets_total{source="ports",vn="blue"}`]; v < float64(after.VNs["blue"].FromPorts.Packets) {
		t.Errorf("metric blue from ports %v, want at least %d", v, after.VNs["blue"].FromPorts.Packets)
	}
	if v := m[`nva_tunnel_packets_total{direction="tx",nve="hv1",remote="hv2"}`]; v < float64(after.Tunnels["hv1->hv2"].Tx.Packets) {
		t.Errorf("metric tunnel hv1->hv2 tx %v, want at least %d", v, after.Tunnels["hv1->hv2"].Tx.Packets)
	}

	tr = wire.TraceResult{}
	if _, err := n.Client.Do(ctx, http.MethodPost, "/api/v1/traces", wire.TraceRequest{Port: "c1", ToPort: "c2", EthSrc: spoofed}, &tr); err != nil {
		t.Fatal(err)
	}
	if !tr.Dropped || len(tr.Hops) != 1 || tr.Hops[0].Steps[len(tr.Hops[0].Steps)-1].Table != "port_security" {
		t.Fatalf("trace of the spoofed packet: %+v", tr)
	}
}
