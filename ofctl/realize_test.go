package ofctl

import (
	"context"
	"errors"
	"maps"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/pipeline"
)

// overlaySnap: VN blue on hv1 (DPID 1: ports p1, and p2 when withP2) and
// hv2 (p3), at revision rev.
func overlaySnap(rev uint64, withP2 bool) *model.Snapshot {
	s := &model.Snapshot{Revision: rev,
		VNs: map[string]*model.VN{"blue": {Name: "blue", VNI: 5001, Encap: model.EncapVXLAN, Service: model.ServiceL2,
			BUM: model.BUM{Mode: model.BUMReplicate}, Unknown: model.UnknownFlood, Revision: 2}},
		NVEs: map[string]*model.NVE{
			"hv1": {Name: "hv1", Kind: model.NVEOVS, UnderlayIPs: []string{"198.18.0.1"}, DatapathID: model.FormatDatapathID(1), Revision: 3},
			"hv2": {Name: "hv2", Kind: model.NVEOVS, UnderlayIPs: []string{"198.18.0.2"}, DatapathID: model.FormatDatapathID(2), Revision: 4},
		},
		Ports: model.TableOf(map[string]*model.Port{
			"p1": {Name: "p1", VN: "blue", NVE: "hv1", Interface: "v1", MAC: "02:00:00:00:01:01", IPs: []string{"198.51.100.11"}, Revision: 5},
			"p3": {Name: "p3", VN: "blue", NVE: "hv2", Interface: "eth0", MAC: "02:00:00:00:02:01", IPs: []string{"198.51.100.21"}, Revision: 6},
		}),
	}
	if withP2 {
		s.Ports = s.Ports.With("p2", &model.Port{Name: "p2", VN: "blue", NVE: "hv1", Interface: "v2", MAC: "02:00:00:00:01:02", IPs: []string{"198.51.100.12"}, Revision: rev})
	}
	return s
}

// desiredCount is the number of flows hv1 compiles to with ports.
func desiredCount(t *testing.T, snap *model.Snapshot, ports map[string]uint32) int {
	t.Helper()
	res, err := compiler.Compile(compiler.Input{Snapshot: snap, NVE: "hv1", OFPorts: ports,
		Tunnels: map[model.Encap]uint32{model.EncapVXLAN: ports[compiler.TunnelPortName(model.EncapVXLAN)]}}, pipeline.OVS())
	if err != nil {
		t.Fatal(err)
	}
	return res.NumFlows()
}

func startFake(t *testing.T, src Source, cfg Config) *Southbound {
	t.Helper()
	if cfg.ListenAddr == "" {
		cfg.ListenAddr = "unix:" + filepath.Join(t.TempDir(), "of.sock")
	}
	cfg.Logger = testLogger(t)
	cfg.AuditInterval = -1 // no audits: only events may trigger work
	cfg.RetryInterval = 50 * time.Millisecond
	sb := New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	if err := sb.Start(ctx, src); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = sb.Close() })
	return sb
}

// waitRealized waits for hv1 to be connected, then for rev to be realized.
func waitRealized(t *testing.T, sb *Southbound, rev uint64, timeout time.Duration) ([]string, error) {
	t.Helper()
	waitCond(t, 5*time.Second, "hv1 connected", func() bool { return sb.status("hv1").Connected })
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return sb.WaitRealized(ctx, rev)
}

// A port whose interface has no OpenFlow port yet keeps its NVE from
// realizing the revision that added it; the switch's port-status event
// (with no audit running) has the NVE recompiled and the revision realized
// with the port's flows installed.
func TestRealizationWaitsForPortStatus(t *testing.T) {
	base := map[uint32]string{1: "v1", 100: "nva-vxlan"}
	src := newFakeStore(overlaySnap(10, false), true)
	sb := startFake(t, src, Config{})
	br := newFakeBridge(t, 1, base)
	br.connect(sb.cfg.ListenAddr)
	if lag, err := waitRealized(t, sb, 10, 5*time.Second); err != nil {
		t.Fatalf("initial state not realized: %v %v", lag, err)
	}
	before := br.flowCount()
	if want := desiredCount(t, overlaySnap(10, false), map[string]uint32{"v1": 1, "nva-vxlan": 100}); before != want {
		t.Fatalf("switch has %d flows, want %d", before, want)
	}

	// p2 is created; its interface v2 is not on the bridge yet.
	src.set(overlaySnap(11, true))
	lag, err := waitRealized(t, sb, 11, 300*time.Millisecond)
	if !errors.Is(err, context.DeadlineExceeded) || !reflect.DeepEqual(lag, []string{"hv1"}) {
		t.Fatalf("revision 11 with p2's interface missing: laggards %v, err %v; want [hv1] and a timeout", lag, err)
	}
	st := sb.status("hv1")
	if st.Sync != SyncPending || len(st.Awaiting) != 1 || !strings.Contains(st.Awaiting[0], "p2") {
		t.Fatalf("status while p2 has no OpenFlow port: sync %s, awaiting %v", st.Sync, st.Awaiting)
	}
	if st.RealizedRevision >= 11 {
		t.Fatalf("realized revision %d claims p2's revision", st.RealizedRevision)
	}
	// Earlier revisions stay realized.
	if lag, err := waitRealized(t, sb, 10, time.Second); err != nil {
		t.Fatalf("revision 10 after p2's creation: %v %v", lag, err)
	}

	// The switch reports the port: realized promptly, p2 compiled in.
	start := time.Now()
	br.addPort(2, "v2")
	if lag, err := waitRealized(t, sb, 11, 5*time.Second); err != nil {
		t.Fatalf("revision 11 after the port-status event: laggards %v, %v", lag, err)
	}
	t.Logf("realized %v after the port-status event", time.Since(start))
	want := desiredCount(t, overlaySnap(11, true), map[string]uint32{"v1": 1, "v2": 2, "nva-vxlan": 100})
	if got := br.flowCount(); got != want || got <= before {
		t.Fatalf("after the port-status event the switch has %d flows, want %d (had %d without p2)", got, want, before)
	}
	if st := sb.status("hv1"); st.Sync != SyncInSync || len(st.Awaiting) != 0 || st.RealizedRevision != 11 {
		t.Fatalf("status after p2 was compiled in: %+v", st)
	}

	// A change that does not touch hv1 (a port of another VN on hv2):
	// hv1 holds everything up to it, and says so.
	// (Objects are compared by pointer, as the store shares unchanged
	// ones between snapshots.)
	prev := src.Snapshot()
	s12 := &model.Snapshot{Revision: 12, VNs: maps.Clone(prev.VNs), NVEs: maps.Clone(prev.NVEs), Ports: prev.Ports}
	s12.VNs["red"] = &model.VN{Name: "red", VNI: 5002, Encap: model.EncapVXLAN, Service: model.ServiceL2,
		BUM: model.BUM{Mode: model.BUMReplicate}, Unknown: model.UnknownFlood, Revision: 12}
	s12.Ports = s12.Ports.With("r1", &model.Port{Name: "r1", VN: "red", NVE: "hv2", Interface: "eth1", MAC: "02:00:00:00:03:01", Revision: 12})
	src.set(s12)
	if lag, err := waitRealized(t, sb, 12, 5*time.Second); err != nil {
		t.Fatalf("revision 12 (not touching hv1): %v %v", lag, err)
	}
	waitCond(t, 5*time.Second, "hv1's realized revision to reach 12", func() bool {
		st := sb.status("hv1")
		return st.Sync == SyncInSync && st.RealizedRevision == 12
	})
}

// The same with the port number coming from an outside source (OVSDB):
// PortsChanged recompiles the NVE before the switch says anything.
func TestRealizationWithOutsidePortNumbers(t *testing.T) {
	var mu sync.Mutex
	outside := map[string]uint32{}
	src := newFakeStore(overlaySnap(10, true), true)
	sb := startFake(t, src, Config{PortNumbers: func(nve string) map[string]uint32 {
		mu.Lock()
		defer mu.Unlock()
		if nve != "hv1" {
			return nil
		}
		out := map[string]uint32{}
		for k, v := range outside {
			out[k] = v
		}
		return out
	}})
	br := newFakeBridge(t, 1, map[uint32]string{1: "v1", 100: "nva-vxlan"})
	br.connect(sb.cfg.ListenAddr)
	waitCond(t, 5*time.Second, "hv1 connected", func() bool { return sb.status("hv1").Connected })
	if lag, err := waitRealized(t, sb, 10, 300*time.Millisecond); err == nil {
		t.Fatalf("revision 10 realized although p2's interface has no port anywhere (laggards %v)", lag)
	}
	mu.Lock()
	outside["v2"] = 2
	outside["v1"] = 9 // the switch's own table wins for names it has
	mu.Unlock()
	sb.PortsChanged("hv1")
	if lag, err := waitRealized(t, sb, 10, 5*time.Second); err != nil {
		t.Fatalf("revision 10 after PortsChanged: laggards %v, %v", lag, err)
	}
	if got, want := br.flowCount(), desiredCount(t, overlaySnap(10, true), map[string]uint32{"v1": 1, "v2": 2, "nva-vxlan": 100}); got != want {
		t.Fatalf("switch has %d flows, want %d", got, want)
	}
}

// A missing tunnel port keeps a port's NVE unrealized too (its remote
// NVEs would be unreachable).
func TestUnready(t *testing.T) {
	snap := overlaySnap(11, true)
	pv := func(ports map[string]uint32) portView { return portView{ports: ports, flowTunnels: true} }
	u := unready(snap, "hv1", pv(map[string]uint32{"v1": 1, "v2": 2, "nva-vxlan": 100}))
	if len(u.names) != 0 {
		t.Fatalf("all ports present: %v", u.names)
	}
	u = unready(snap, "hv1", pv(map[string]uint32{"v1": 1}))
	if !reflect.DeepEqual(u.names, []string{"port p2 (interface v2)", "tunnel port nva-vxlan (VN blue)"}) || u.since != 2 {
		t.Fatalf("unready = %+v", u)
	}
	u = unready(snap, "hv1", pv(map[string]uint32{"v2": 2, "nva-vxlan": 100, "v1": 0xfffffffe}))
	if !reflect.DeepEqual(u.names, []string{"port p1 (interface v1)"}) || u.since != 5 {
		t.Fatalf("reserved port number: %+v", u)
	}
}

// A restarted controller whose store wins leadership while still
// replaying its log (its snapshot lacks p1 and p3) writes nothing to the
// switch until the store's barrier says it has caught up, and then, the
// store's content being what it was, changes no flow and no group.
func TestRestartOnHalfLoadedStoreChangesNothing(t *testing.T) {
	full := overlaySnap(20, true)
	ports := map[uint32]string{1: "v1", 2: "v2", 100: "nva-vxlan"}
	br := newFakeBridge(t, 1, ports)

	// First controller: programs the switch, then goes away.
	first := newFakeStore(full, true)
	addr := "unix:" + filepath.Join(t.TempDir(), "of.sock")
	ctx1, stop1 := context.WithCancel(context.Background())
	sb1 := New(Config{ListenAddr: addr, Logger: testLogger(t), AuditInterval: -1})
	if err := sb1.Start(ctx1, first); err != nil {
		t.Fatal(err)
	}
	br.connect(addr)
	if lag, err := waitRealized(t, sb1, 20, 5*time.Second); err != nil {
		t.Fatalf("first controller: %v %v", lag, err)
	}
	programmed := br.modCount()
	flows := br.flowCount()
	if flows == 0 || programmed["flow add"] == 0 {
		t.Fatalf("first controller programmed nothing: %v", programmed)
	}
	br.disconnect()
	stop1()
	_ = sb1.Close()

	// The restarted controller: leader at once, store half-loaded (only
	// the VN, the NVEs and p2) until the barrier returns.
	half := overlaySnap(12, true)
	half.Ports = half.Ports.Without("p1")
	half.Ports = half.Ports.Without("p3")
	src := &barrierStore{fakeStore: newFakeStore(half, true), gate: make(chan struct{}), catchUp: full}
	sb := startFake(t, src, Config{ListenAddr: addr})
	br.connect(addr)
	waitCond(t, 5*time.Second, "the switch to connect", func() bool { return sb.status("hv1").Connected })
	time.Sleep(300 * time.Millisecond) // time enough to (wrongly) reconcile
	if got := br.modCount(); !reflect.DeepEqual(got, programmed) {
		t.Fatalf("the restarted controller wrote to the switch before its store caught up: mods %v, before %v", got, programmed)
	}
	if src.barriers.Load() == 0 {
		t.Fatal("no barrier was asked for")
	}

	close(src.gate)
	if lag, err := waitRealized(t, sb, 20, 5*time.Second); err != nil {
		t.Fatalf("restarted controller after catching up: %v %v", lag, err)
	}
	waitCond(t, 5*time.Second, "the leader to take over", func() bool {
		sb.mu.Lock()
		defer sb.mu.Unlock()
		return sb.leader
	})
	// Let the leadership-change reconcile run.
	waitCond(t, 5*time.Second, "an in-sync leader reconcile", func() bool {
		st := sb.status("hv1")
		return st.Sync == SyncInSync && st.RealizedRevision == 20
	})
	time.Sleep(200 * time.Millisecond)
	if got := br.modCount(); !reflect.DeepEqual(got, programmed) {
		t.Fatalf("restart with an unchanged store changed the switch: mods %v, before %v", got, programmed)
	}
	if br.flowCount() != flows {
		t.Fatalf("flow count %d, before %d", br.flowCount(), flows)
	}
	if n := src.barriers.Load(); n != 1 {
		t.Errorf("%d barriers in one term, want 1", n)
	}
}

// The control for the test above: a store without a barrier is taken at
// its word, and the half-loaded state deletes flows; this is what the
// barrier prevents.
func TestHalfLoadedStoreWithoutBarrierChurns(t *testing.T) {
	full := overlaySnap(20, true)
	br := newFakeBridge(t, 1, map[uint32]string{1: "v1", 2: "v2", 100: "nva-vxlan"})
	addr := "unix:" + filepath.Join(t.TempDir(), "of.sock")
	sb1 := startFake(t, newFakeStore(full, true), Config{ListenAddr: addr})
	br.connect(addr)
	if lag, err := waitRealized(t, sb1, 20, 5*time.Second); err != nil {
		t.Fatalf("%v %v", lag, err)
	}
	br.disconnect()
	_ = sb1.Close()
	programmed := br.modCount()
	half := overlaySnap(12, true)
	half.Ports = half.Ports.Without("p1")
	half.Ports = half.Ports.Without("p3")
	sb := startFake(t, newFakeStore(half, true), Config{ListenAddr: addr})
	br.connect(addr)
	waitCond(t, 5*time.Second, "the half-loaded state to be written", func() bool {
		return br.modCount()["flow delete"] > programmed["flow delete"]
	})
	_ = sb
}
