package ofctl

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/pipeline"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// setCounters gives the fake bridge's flows with cookie c the counters.
func (b *fakeBridge) setCounters(c, packets, bytes uint64) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for k, f := range b.flows {
		if f.cookie == c {
			f.packets, f.bytes = packets, bytes
			b.flows[k] = f
			n++
		}
	}
	return n
}

// The poller reads a connected switch's flow statistics and attributes
// them to the port, the VN, the tunnel and the drop stage by cookie.
func TestCountersFromFlowStats(t *testing.T) {
	snap := overlaySnap(10, false)
	src := newFakeStore(snap, true)
	sb := startFake(t, src, Config{})
	br := newFakeBridge(t, 1, map[uint32]string{1: "v1", 100: "nva-vxlan"})
	br.connect(sb.cfg.ListenAddr)
	if lag, err := waitRealized(t, sb, 10, 5*time.Second); err != nil {
		t.Fatalf("not realized: %v %v", lag, err)
	}
	res, err := compiler.Compile(compiler.Input{Snapshot: snap, NVE: "hv1", OFPorts: map[string]uint32{"v1": 1, "nva-vxlan": 100},
		Tunnels: map[model.Encap]uint32{model.EncapVXLAN: 100}}, pipeline.OVS())
	if err != nil {
		t.Fatal(err)
	}
	// The compiled flows the counters land on.
	var rx, tx, drop uint64
	for _, sl := range res.Slices {
		for _, f := range sl.Flows {
			switch {
			case sl.Key == "blue/p1" && f.Table == pipeline.Classify:
				rx = f.Cookie
			case sl.Key == "blue/p3" && f.Table == pipeline.L2Forward && len(f.Actions) > 0:
				tx = f.Cookie
			case f.Table == pipeline.PortSecurity && len(f.Actions) == 0 && f.Goto == "":
				drop = f.Cookie
			}
		}
	}
	if rx == 0 || tx == 0 || drop == 0 {
		t.Fatalf("compiled flows not found: rx %#x tx %#x drop %#x", rx, tx, drop)
	}
	for c, v := range map[uint64]uint64{rx: 12, tx: 10, drop: 2} {
		if br.setCounters(c, v, v*98) != 1 {
			t.Fatalf("flow with cookie %#x not installed once", c)
		}
	}
	br.mu.Lock()
	br.portStats = map[uint32][8]uint64{100: {7, 9, 700, 900, 1, 3, 0, 2}, 1: {12, 11, 1200, 1100, 0, 0, 0, 0}, 4242: {1, 1, 1, 1, 1, 1, 1, 1}}
	// Group statistics: blue's flood group of frames from local VAPs
	// flooded 4 frames, its tunnel buckets sent a copy of each; the group
	// of frames from tunnels delivered 5; an unknown group counts nothing.
	vni := snap.VNs["blue"].VNI
	var tunnelBuckets, localBuckets, tunnelGroupBuckets int
	br.groupStats = map[uint32][]uint64{0x1fffffe: {50, 50}}
	for _, g := range res.Groups {
		switch g.ID {
		case compiler.FloodGroupID(vni, false):
			v := []uint64{4}
			for _, bk := range g.Buckets {
				v = append(v, 4)
				if bucketSetsTunID(bk) {
					tunnelBuckets++
				} else {
					localBuckets++
				}
			}
			br.groupStats[g.ID] = v
		case compiler.FloodGroupID(vni, true):
			v := []uint64{5}
			for range g.Buckets {
				v = append(v, 5)
				tunnelGroupBuckets++
			}
			br.groupStats[g.ID] = v
		}
	}
	if tunnelBuckets == 0 || localBuckets == 0 {
		t.Fatalf("blue's flood group: %d tunnel and %d local buckets", tunnelBuckets, localBuckets)
	}
	br.mu.Unlock()
	if got, _, enabled := sb.TrafficCounters(); len(got) != 0 || enabled {
		t.Fatalf("before a poll: %+v (enabled %v)", got, enabled)
	}
	sb.PollCounters(context.Background())
	got, at, _ := sb.TrafficCounters()
	if len(got) != 1 || got[0].NVE != "hv1" || at.IsZero() {
		t.Fatalf("counters %+v", got)
	}
	c := got[0]
	if p := c.Ports["p1"]; p.Rx.Packets != 12 || p.Rx.Bytes != 12*98 || p.VN != "blue" {
		t.Errorf("p1 %+v", p)
	}
	if v := c.VNs["blue"]; v.FromPorts.Packets != 12 {
		t.Errorf("blue %+v", v)
	}
	if tu := c.Tunnels["hv2"]; tu.Tx.Packets != 10 {
		t.Errorf("tunnel to hv2 %+v", tu)
	}
	if d := c.Drops[pipeline.PortSecurity]; d.Packets != 2 {
		t.Errorf("drops %+v", c.Drops)
	}
	if d := c.DropReasons["spoofed"]; d.Packets != 2 {
		t.Errorf("drop reasons %+v", c.DropReasons)
	}
	// Port statistics of nva's interfaces (not of other ports).
	if i := c.Interfaces["nva-vxlan"]; i.Kind != "tunnel" || i.Rx.Packets != 7 || i.Tx.Packets != 9 || i.Tx.Bytes != 900 || i.TxDropped != 3 || i.TxErrors != 2 {
		t.Errorf("tunnel port %+v", i)
	}
	if i := c.Interfaces["v1"]; i.Kind != "vap" || i.Rx.Packets != 12 || i.Tx.Packets != 11 || len(c.Interfaces) != 2 {
		t.Errorf("interfaces %+v", c.Interfaces)
	}
	if len(c.BUM) != 1 || c.BUM[0].VN != "blue" || c.BUM[0].Frames != 4 || c.BUM[0].FramesFromTunnels != 5 ||
		c.BUM[0].UnderlayCopies != 4*uint64(tunnelBuckets) || c.BUM[0].CompiledCopies != tunnelBuckets ||
		c.BUM[0].LocalCopies != uint64(4*localBuckets+5*tunnelGroupBuckets) {
		t.Errorf("BUM %+v (tunnel buckets %d)", c.BUM, tunnelBuckets)
	}
	if c.Unattributed.Packets != 0 {
		t.Errorf("unattributed %+v", c.Unattributed)
	}

	// The metrics: per VN, per tunnel, drops per stage; no per-port series.
	reg := prometheus.NewRegistry()
	if err := sb.RegisterCounterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			series[key] = m.GetCounter().GetValue()
		}
	}
	for k, v := range map[string]float64{
		"nva_drop_packets_total,nve=hv1,stage=port_security":                2,
		"nva_vn_packets_total,source=ports,vn=blue":                         12,
		"nva_tunnel_packets_total,direction=tx,nve=hv1,remote=hv2":          10,
		"nva_tunnel_bytes_total,direction=tx,nve=hv1,remote=hv2":            980,
		"nva_drop_reason_packets_total,nve=hv1,reason=spoofed":              2,
		"nva_tunnel_port_packets_total,direction=tx,nve=hv1,port=nva-vxlan": 9,
		"nva_tunnel_port_dropped_total,direction=tx,nve=hv1,port=nva-vxlan": 3,
		"nva_tunnel_port_errors_total,direction=tx,nve=hv1,port=nva-vxlan":  2,
		"nva_bum_frames_total,nve=hv1,vn=blue":                              4,
		"nva_bum_copies_total,kind=underlay,nve=hv1,vn=blue":                float64(4 * tunnelBuckets),
	} {
		if got, ok := series[k]; !ok || got != v {
			t.Errorf("metric %s = %v (present %v), want %v", k, got, ok, v)
		}
	}
	for k := range series {
		if strings.Contains(k, "p1") || strings.Contains(k, "=v1") {
			t.Errorf("per-port series %s", k)
		}
	}

	// A disconnected switch's counters are forgotten.
	br.disconnect()
	waitCond(t, 5*time.Second, "hv1 disconnected", func() bool { return !sb.status("hv1").Connected })
	sb.PollCounters(context.Background())
	if got, _, _ := sb.TrafficCounters(); len(got) != 0 {
		t.Fatalf("after disconnect: %+v", got)
	}
}

// bucketSetsTunID reports whether a bucket sends into a tunnel.
func bucketSetsTunID(b flow.Bucket) bool {
	for _, a := range b.Actions {
		if sf, ok := a.(flow.SetField); ok && sf.Field == flow.TunID {
			return true
		}
	}
	return false
}

// testClock is a settable clock for Config.Now.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func (s *Southbound) counterStats() (rounds, reads uint64, ix *counterIndex) {
	s.ctr.mu.Lock()
	defer s.ctr.mu.Unlock()
	return s.ctr.rounds, s.ctr.reads, s.ctr.ix["hv1"]
}

// Counters are polled on demand only: nothing is read until someone
// wants them; a demand on stale counters waits for a fresh round; the
// attribution index is built once per published compile; polling stops
// once the window after the last demand has passed.
func TestCountersOnDemand(t *testing.T) {
	clock := &testClock{t: time.Unix(1_800_000_000, 0)}
	const iv = 20 * time.Millisecond
	src := newFakeStore(overlaySnap(10, false), true)
	sb := startFake(t, src, Config{CounterInterval: iv, Now: clock.now})
	br := newFakeBridge(t, 1, map[uint32]string{1: "v1", 2: "v2", 100: "nva-vxlan"})
	br.connect(sb.cfg.ListenAddr)
	if lag, err := waitRealized(t, sb, 10, 5*time.Second); err != nil {
		t.Fatalf("not realized: %v %v", lag, err)
	}
	time.Sleep(5 * iv) // five intervals with nobody looking
	if rounds, reads, _ := sb.counterStats(); rounds != 0 || reads != 0 {
		t.Fatalf("with nobody looking: %d rounds, %d switch reads; want none", rounds, reads)
	}
	if got, at, enabled := sb.TrafficCounters(); len(got) != 0 || !at.IsZero() || !enabled {
		t.Fatalf("before any demand: %+v at %v (enabled %v)", got, at, enabled)
	}

	// The first demand waits for a round and gets hv1's counters.
	sb.WantCounters(context.Background(), true)
	got, at, _ := sb.TrafficCounters()
	if len(got) != 1 || got[0].NVE != "hv1" || at.IsZero() {
		t.Fatalf("after a fresh demand: %+v at %v", got, at)
	}
	_, _, ix := sb.counterStats()
	if ix == nil {
		t.Fatal("no attribution index cached")
	}
	// Later rounds (demand lasts) reuse the index of the same compile.
	waitCond(t, 5*time.Second, "two more rounds", func() bool { r, _, _ := sb.counterStats(); return r >= 3 })
	if _, _, again := sb.counterStats(); again != ix {
		t.Fatal("the index was rebuilt without a new compile")
	}
	// A change that recompiles hv1 gets a new index.
	src.set(overlaySnap(11, true))
	if lag, err := waitRealized(t, sb, 11, 5*time.Second); err != nil {
		t.Fatalf("not realized: %v %v", lag, err)
	}
	sb.WantCounters(context.Background(), false)
	waitCond(t, 5*time.Second, "a new index after the recompile", func() bool { _, _, n := sb.counterStats(); return n != nil && n != ix })

	if got := pollingGauge(t, sb); got != 1 {
		t.Fatalf("nva_counters_polling %v while wanted, want 1", got)
	}
	// Past the window, polling stops (and the indexes are dropped).
	clock.add(sb.CounterWindow() + time.Second)
	waitCond(t, 5*time.Second, "polling idle", func() bool { _, _, n := sb.counterStats(); return n == nil })
	_, reads, _ := sb.counterStats()
	time.Sleep(5 * iv)
	if _, now, _ := sb.counterStats(); now != reads {
		t.Fatalf("after the window: %d more switch reads", now-reads)
	}
	if got := pollingGauge(t, sb); got != 0 {
		t.Fatalf("nva_counters_polling %v when idle, want 0", got)
	}
	// The counters last read stay readable, with their poll time.
	if got, at2, _ := sb.TrafficCounters(); len(got) != 1 || at2.IsZero() {
		t.Fatalf("after the window: %+v at %v", got, at2)
	}
}

// Only the leader runs audit rounds: a follower's tick audits nothing.
func TestFollowerSkipsAuditRounds(t *testing.T) {
	ticks := make(chan time.Time)
	src := newFakeStore(overlaySnap(10, false), false)
	sb, _ := startLogged(t, src, Config{AuditInterval: time.Minute,
		NewTicker: func(time.Duration) Ticker { return manualTicker{ticks} }}, nil)
	br := newFakeBridge(t, 1, map[uint32]string{1: "v1", 100: "nva-vxlan"})
	br.connect(sb.cfg.ListenAddr)
	waitCond(t, 5*time.Second, "the follower sees hv1", func() bool { return sb.status("hv1").Connected })
	ticks <- time.Now()
	ticks <- time.Now() // the first tick's round has been scheduled
	var g dto.Metric
	if err := sb.m.auditRound.Write(&g); err != nil {
		t.Fatal(err)
	}
	if got := g.GetGauge().GetValue(); got != 0 {
		t.Fatalf("a follower's audit round has %v switches, want 0", got)
	}
	if got := counterValue(t, sb.m.audits); got != 0 {
		t.Fatalf("a follower ran %v audits", got)
	}
}

// pollingGauge is the nva_counters_polling metric.
func pollingGauge(t *testing.T, sb *Southbound) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	if err := sb.RegisterCounterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "nva_counters_polling" {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatal("no nva_counters_polling")
	return 0
}
