package ofctl

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/ofctl/conn"
	"github.com/nva-project/nva/ofctl/reconcile"
	"github.com/prometheus/client_golang/prometheus"
)

// The southbound is the connection layer's handler. (How it plugs into
// the daemon and the REST server is checked by the composition root.)
var _ conn.Handler = (*Southbound)(nil)

// snap builds a snapshot; ports are "name:vn:nve".
func snap(rev uint64, nves []string, vns []string, ports ...[3]string) *model.Snapshot {
	s := &model.Snapshot{Revision: rev, VNs: map[string]*model.VN{}, NVEs: map[string]*model.NVE{}}
	for i, n := range nves {
		s.NVEs[n] = &model.NVE{Name: n, DatapathID: model.FormatDatapathID(uint64(i + 1))}
	}
	for _, v := range vns {
		s.VNs[v] = &model.VN{Name: v}
	}
	for _, p := range ports {
		s.Ports = s.Ports.With(p[0], &model.Port{Name: p[0], VN: p[1], NVE: p[2]})
	}
	return s
}

// next copies a snapshot (sharing unchanged objects, as the store does).
func next(s *model.Snapshot) *model.Snapshot {
	n := &model.Snapshot{Revision: s.Revision + 1, VNs: map[string]*model.VN{}, NVEs: map[string]*model.NVE{}}
	for k, v := range s.VNs {
		n.VNs[k] = v
	}
	for k, v := range s.NVEs {
		n.NVEs[k] = v
	}
	for k, v := range s.Ports.All() {
		n.Ports = n.Ports.With(k, v)
	}
	return n
}

func names(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestAffectedNVEs(t *testing.T) {
	base := snap(10, []string{"hv1", "hv2", "hv3", "hv4"}, []string{"blue", "red"},
		[3]string{"b1", "blue", "hv1"}, [3]string{"b2", "blue", "hv2"}, [3]string{"r3", "red", "hv3"})
	cases := []struct {
		name   string
		change func(*model.Snapshot)
		want   []string
	}{
		{"nothing", func(*model.Snapshot) {}, nil},
		{"port changed in blue", func(s *model.Snapshot) {
			p := *s.Ports.Get("b1")
			p.MAC = "02:00:00:00:00:99"
			s.Ports = s.Ports.With("b1", &p)
		}, []string{"hv1", "hv2"}},
		{"port added to red on hv1", func(s *model.Snapshot) { s.Ports = s.Ports.With("r1", &model.Port{Name: "r1", VN: "red", NVE: "hv1"}) }, []string{"hv1", "hv3"}},
		{"port removed", func(s *model.Snapshot) { s.Ports = s.Ports.Without("r3") }, []string{"hv3"}},
		{"port moves blue hv2 -> hv4", func(s *model.Snapshot) {
			p := *s.Ports.Get("b2")
			p.NVE = "hv4"
			s.Ports = s.Ports.With("b2", &p)
		}, []string{"hv1", "hv2", "hv4"}},
		{"VN changed", func(s *model.Snapshot) { s.VNs["red"] = &model.VN{Name: "red", Encap: model.EncapGENEVE} }, []string{"hv3"}},
		{"NVE underlay changed", func(s *model.Snapshot) {
			n := *s.NVEs["hv2"]
			n.UnderlayIPs = []string{"198.18.0.9"}
			s.NVEs["hv2"] = &n
		}, []string{"hv1", "hv2"}},
		{"idle NVE added", func(s *model.Snapshot) { s.NVEs["hv5"] = &model.NVE{Name: "hv5"} }, []string{"hv5"}},
	}
	for _, c := range cases {
		n := next(base)
		c.change(n)
		if got := names(affectedNVEs(base, n)); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: affected %v, want %v", c.name, got, c.want)
		}
	}
	// No previous snapshot: everything.
	if got := names(affectedNVEs(nil, base)); len(got) != 4 {
		t.Errorf("first snapshot: %v", got)
	}
}

func TestClaimant(t *testing.T) {
	s := snap(1, []string{"hv1", "hv2"}, nil)
	if claimant(s, 2) != "hv2" || claimant(s, 7) != "" || claimant(s, 0) != "" || claimant(nil, 1) != "" {
		t.Fatal("claimant mapping wrong")
	}
}

// WaitRealized waits only for connected NVEs with an unrealized change up
// to the index, and names them when it times out.
func TestWaitRealizedLaggards(t *testing.T) {
	s := New(Config{})
	s.snap, s.seen = snap(20, []string{"hv1", "hv2", "hv3"}, nil), 20
	s.switches[1] = &worker{dpid: 1, nve: "hv1", sb: s}
	s.switches[2] = &worker{dpid: 2, nve: "hv2", sb: s}
	s.switches[9] = &worker{dpid: 9, sb: s} // unclaimed
	s.state("hv1").pending = []uint64{15, 18}
	s.state("hv2").pending = []uint64{19}
	s.state("hv3").pending = []uint64{12} // not connected: never waited for

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	lag, err := s.WaitRealized(ctx, 18)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) || !reflect.DeepEqual(lag, []string{"hv1"}) {
		t.Fatalf("index 18: laggards %v, err %v", lag, err)
	}
	if lag, err := s.WaitRealized(context.Background(), 14); err != nil || lag != nil {
		t.Fatalf("index 14 (before any pending change): %v %v", lag, err)
	}
	// hv1 catches up while we wait for index 19.
	done := make(chan []string)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		lag, _ := s.WaitRealized(ctx, 19)
		done <- lag
	}()
	time.Sleep(20 * time.Millisecond)
	s.mu.Lock()
	s.state("hv1").pending = nil
	s.broadcastLocked()
	s.mu.Unlock()
	time.Sleep(20 * time.Millisecond)
	s.mu.Lock()
	s.state("hv2").pending = nil
	s.broadcastLocked()
	s.mu.Unlock()
	if lag := <-done; lag != nil {
		t.Fatalf("index 19 after both caught up: laggards %v", lag)
	}
}

func TestPendingCollapse(t *testing.T) {
	var st nveState
	for i := uint64(1); i <= 2000; i++ {
		st.addPending(i)
	}
	st.addPending(5) // older revisions are ignored
	if len(st.pending) > 1024 || st.pending[0] > 1000 {
		t.Fatalf("pending %d entries starting at %d", len(st.pending), st.pending[0])
	}
}

func TestStatusOfUnknownNVE(t *testing.T) {
	s := New(Config{})
	s.snap = snap(1, []string{"hv1"}, nil)
	st := *s.OpenFlowStatus("hv1")
	if st.Connected || st.Sync != SyncDisconnected || st.DatapathID != "0000000000000001" {
		t.Fatalf("status %+v", st)
	}
	if _, err := s.NVEFlows(context.Background(), "nope"); err == nil {
		t.Fatal("flows of an unknown NVE")
	}
}

func TestRegisterMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := New(Config{})
	if err := s.RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	s.m.flowMods.WithLabelValues("add").Add(3)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, mf := range mfs {
		found[mf.GetName()] = true
	}
	for _, n := range []string{"nva_southbound_flow_mods_total", "nva_southbound_connected_switches", "nva_southbound_unclaimed_switches",
		"nva_southbound_packet_ins_total", "nva_neighbor_answers_total", "nva_neighbor_drops_total"} {
		if !found[n] {
			t.Errorf("metric %s not exported (have %v)", n, found)
		}
	}
	// A second southbound on the same registry is refused, not silently merged.
	if err := New(Config{}).RegisterMetrics(reg); err == nil {
		t.Error("duplicate registration accepted")
	}
}

func TestBundlesUnsupported(t *testing.T) {
	open := fmt.Errorf("bundle 1 open: %w", &conn.OFError{Type: 1, Code: 1})
	if !bundlesUnsupported(open) {
		t.Error("BAD_REQUEST/BAD_TYPE on open not recognized")
	}
	refused := fmt.Errorf("bundle 1: adds refused: %w", &conn.BatchError{Errors: []*conn.OFError{{Type: 1, Code: 1}}})
	if bundlesUnsupported(refused) {
		t.Error("refused content taken for missing bundle support")
	}
	if bundlesUnsupported(errors.New("x")) {
		t.Error("plain error")
	}
}

// TestAffectedNVEsL3Domain: a port change in a routed VN affects every
// NVE hosting a VN of its L3 domain (they route to the port), not the
// NVEs of another domain.
func TestAffectedNVEsL3Domain(t *testing.T) {
	base := snap(10, []string{"hv1", "hv2", "hv3"}, nil,
		[3]string{"w1", "web", "hv1"}, [3]string{"d2", "db", "hv2"}, [3]string{"o3", "other", "hv3"})
	sn := []model.Subnet{{CIDR: "10.0.0.0/24", Gateway: "10.0.0.1"}}
	base.VNs["web"] = &model.VN{Name: "web", Service: model.ServiceL2L3, Tenant: "acme", L3Domain: "prod", Subnets: sn}
	base.VNs["db"] = &model.VN{Name: "db", Service: model.ServiceL3, Tenant: "acme", L3Domain: "prod", Subnets: sn}
	base.VNs["other"] = &model.VN{Name: "other", Service: model.ServiceL3, Tenant: "beta", L3Domain: "prod", Subnets: sn}
	n := next(base)
	n.Ports = n.Ports.With("d4", &model.Port{Name: "d4", VN: "db", NVE: "hv2"})
	if got, want := names(affectedNVEs(base, n)), []string{"hv1", "hv2"}; !reflect.DeepEqual(got, want) {
		t.Errorf("port added to db: affected %v, want %v", got, want)
	}
}

// A plan that only adds (flows, and buckets of a flood group: a port
// attaching) goes out without a bundle; one that takes anything away or
// changes a select group needs one; a single message never does.
func TestNeedsAtomic(t *testing.T) {
	out := func(ports ...uint32) []flow.Bucket {
		var bs []flow.Bucket
		for _, p := range ports {
			bs = append(bs, flow.Bucket{WatchPort: flow.PortAny, WatchGroup: 0xffffffff, Actions: []flow.Action{flow.Output{Port: p}}})
		}
		return bs
	}
	flood := func(ports ...uint32) flow.GroupEntry {
		return flow.GroupEntry{ID: 1, Type: flow.GroupAll, Buckets: out(ports...)}
	}
	ecmp := func(ports ...uint32) flow.GroupEntry {
		return flow.GroupEntry{ID: 2, Type: flow.GroupSelect, Buckets: out(ports...)}
	}
	f := flow.Flow{Table: "l2_forward", Priority: 100}
	for _, tc := range []struct {
		name string
		plan reconcile.Plan
		want bool
	}{
		{"attach: flows and a flood bucket", reconcile.Plan{FlowAdds: []flow.Flow{f, f}, GroupModifies: []reconcile.GroupModify{{Old: flood(1), New: flood(1, 2)}}}, false},
		{"flows added only", reconcile.Plan{FlowAdds: []flow.Flow{f, f}}, false},
		{"detach: a flood bucket goes", reconcile.Plan{FlowDeletes: []flow.Flow{f}, GroupModifies: []reconcile.GroupModify{{Old: flood(1, 2), New: flood(1)}}}, true},
		{"a flood bucket goes, flows added", reconcile.Plan{FlowAdds: []flow.Flow{f}, GroupModifies: []reconcile.GroupModify{{Old: flood(1, 2), New: flood(1)}}}, true},
		{"a select group gains a bucket", reconcile.Plan{FlowAdds: []flow.Flow{f}, GroupModifies: []reconcile.GroupModify{{Old: ecmp(1), New: ecmp(1, 2)}}}, true},
		{"a flow modified", reconcile.Plan{FlowAdds: []flow.Flow{f}, FlowModifies: []reconcile.FlowModify{{Old: f, New: f}}}, true},
		{"a group deleted", reconcile.Plan{FlowAdds: []flow.Flow{f}, GroupDeletes: []flow.GroupEntry{flood(1)}}, true},
		{"one message", reconcile.Plan{FlowDeletes: []flow.Flow{f}}, false},
	} {
		if got := needsAtomic(tc.plan); got != tc.want {
			t.Errorf("%s: needsAtomic = %v, want %v", tc.name, got, tc.want)
		}
	}
}
