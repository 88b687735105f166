package main

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/nva-project/nva/web/wire"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/pipeline"
	"github.com/nva-project/nva/store"
	"github.com/nva-project/nva/web"
)

// server runs the real REST API over a real in-memory store.
func server(t *testing.T, opts ...func(*web.Options)) (*httptest.Server, *store.Store) {
	t.Helper()
	st, err := store.Open(context.Background(), store.Config{NodeID: "n1", InMemory: true, Bootstrap: true, RaftAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	deadline := time.Now().Add(10 * time.Second)
	for !st.IsLeader() {
		if time.Now().After(deadline) {
			t.Fatal("no leader")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The tests' NVEs name documentation addresses: any OVSDB endpoint.
	o := web.Options{Backend: st, NodeID: "n1", OVSDBAllow: model.MustOVSDBPolicy("*")}
	for _, f := range opts {
		f(&o)
	}
	srv, err := web.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return ts, st
}

type cli struct {
	t   *testing.T
	env map[string]string
}

// run executes nvactl and returns exit code, stdout and stderr.
func (c cli) run(args ...string) (int, string, string) {
	c.t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb, func(k string) (string, bool) { v, ok := c.env[k]; return v, ok })
	return code, out.String(), errb.String()
}

// ok runs nvactl and fails the test on a non-zero exit.
func (c cli) ok(args ...string) string {
	c.t.Helper()
	code, out, errs := c.run(args...)
	if code != 0 {
		c.t.Fatalf("nvactl %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

func (c cli) fails(wantInErr string, args ...string) string {
	c.t.Helper()
	code, out, errs := c.run(args...)
	if code == 0 {
		c.t.Fatalf("nvactl %s succeeded, want failure; stdout %s", strings.Join(args, " "), out)
	}
	if !strings.Contains(errs, wantInErr) {
		c.t.Errorf("nvactl %s: stderr %q, want it to contain %q", strings.Join(args, " "), errs, wantInErr)
	}
	return errs
}

func fieldsOf(line string) []string { return strings.Fields(line) }

// row finds the table row whose first column is name.
func row(t *testing.T, table, name string) []string {
	t.Helper()
	for _, l := range strings.Split(table, "\n") {
		if f := fieldsOf(l); len(f) > 0 && f[0] == name {
			return f
		}
	}
	t.Fatalf("no row %q in:\n%s", name, table)
	return nil
}

func TestVNCommands(t *testing.T) {
	ts, st := server(t)
	c := cli{t, map[string]string{"NVA_SERVER": ts.URL}}

	out := c.ok("vn", "create", "blue", "--vni", "100", "--encap", "geneve", "--tenant", "acme")
	if r := row(t, out, "blue"); r[1] != "100" || r[3] != "geneve" || r[5] != "acme" {
		t.Errorf("create output row %v", r)
	}
	c.ok("vn", "create", "red") // VNI allocated
	if vn := st.Snapshot().VNs["red"]; vn == nil || vn.VNI == 0 {
		t.Fatalf("red not stored with an allocated VNI: %+v", vn)
	}

	out = c.ok("vn", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || fieldsOf(lines[0])[0] != "NAME" || fieldsOf(lines[1])[0] != "blue" || fieldsOf(lines[2])[0] != "red" {
		t.Errorf("vn list:\n%s", out)
	}
	out = c.ok("vn", "list", "--tenant", "acme")
	if strings.Contains(out, "red") || !strings.Contains(out, "blue") {
		t.Errorf("vn list --tenant acme:\n%s", out)
	}

	var l struct{ Items []model.VN }
	if err := json.Unmarshal([]byte(c.ok("vn", "list", "-o", "json")), &l); err != nil || len(l.Items) != 2 {
		t.Errorf("vn list -o json: %v %+v", err, l)
	}
	var vn model.VN
	if err := json.Unmarshal([]byte(c.ok("vn", "get", "blue", "-o", "json", "--consistent")), &vn); err != nil || vn.VNI != 100 || vn.Encap != "geneve" {
		t.Errorf("vn get -o json: %v %+v", err, vn)
	}

	// update sends only the flags given.
	c.ok("vn", "update", "blue", "--mtu", "1450", "--bum", "multicast", "--bum-group", "239.1.1.1")
	got := st.Snapshot().VNs["blue"]
	if got.MTU != 1450 || got.BUM.Mode != "multicast" || got.BUM.Group != "239.1.1.1" || got.VNI != 100 || got.Tenant != "acme" || got.Encap != "geneve" {
		t.Errorf("after update: %+v", got)
	}
	c.fails("nothing to update", "vn", "update", "blue")

	out = c.ok("vn", "delete", "red")
	if !strings.Contains(out, "vn red deleted") {
		t.Errorf("delete output %q", out)
	}
	if _, ok := st.Snapshot().VNs["red"]; ok {
		t.Error("red still stored")
	}
}

func TestNVEAndPortCommands(t *testing.T) {
	ts, st := server(t)
	c := cli{t, map[string]string{"NVA_SERVER": ts.URL}}
	c.ok("vn", "create", "blue", "--vni", "100")
	out := c.ok("nve", "create", "hv1", "--underlay-ip", "192.0.2.1", "--ovsdb", "unix:/run/openvswitch/db.sock", "--datapath-type", "netdev")
	if r := row(t, out, "hv1"); r[1] != "ovs" || r[2] != "192.0.2.1" || len(r[3]) != 16 || r[4] != "br-int" {
		t.Errorf("nve create row %v", r)
	}
	c.ok("nve", "create", "hv2", "--underlay-ip", "192.0.2.2,192.0.2.22", "--ovsdb", "tcp:192.0.2.2:6640")
	if n := st.Snapshot().NVEs["hv2"]; n == nil || len(n.UnderlayIPs) != 2 {
		t.Fatalf("hv2 = %+v", n)
	}
	c.ok("port", "create", "p1", "--vn", "blue", "--nve", "hv1", "--interface", "veth1", "--mac", "02:00:00:00:00:01", "--ip", "10.0.0.1")
	c.ok("port", "create", "p2", "--vn", "blue", "--nve", "hv2", "--interface", "veth2", "--mac", "02:00:00:00:00:02", "--ip", "10.0.0.2", "--ip", "2001:db8::2", "--vlan", "10")
	p2 := st.Snapshot().Ports.Get("p2")
	if p2 == nil || strings.Join(p2.IPs, ",") != "10.0.0.2,2001:db8::2" || p2.VLAN != 10 {
		t.Fatalf("p2 = %+v", p2)
	}
	out = c.ok("port", "list", "--nve", "hv2")
	if strings.Contains(out, "p1") || row(t, out, "p2")[5] != "10.0.0.2,2001:db8::2" {
		t.Errorf("port list --nve hv2:\n%s", out)
	}
	c.ok("port", "update", "p2", "--ip", "10.0.0.20")
	if p := st.Snapshot().Ports.Get("p2"); strings.Join(p.IPs, ",") != "10.0.0.20" || p.VLAN != 10 || p.MAC != "02:00:00:00:00:02" {
		t.Errorf("after port update: %+v", p)
	}
	c.ok("nve", "update", "hv1", "--bridge", "br-nva")
	if n := st.Snapshot().NVEs["hv1"]; n.Bridge != "br-nva" || n.DatapathType != "netdev" {
		t.Errorf("after nve update: %+v", n)
	}
	out = c.ok("nve", "get", "hv1")
	if row(t, out, "hv1")[4] != "br-nva" {
		t.Errorf("nve get:\n%s", out)
	}
	// Without a southbound the STATUS column still says why there is none.
	if l := line(t, out, "hv1"); !strings.HasSuffix(l, "  unknown: the server reports no live status (it runs no southbound)") {
		t.Errorf("nve get status without a southbound: %q", l)
	}

	// API errors print the message and field and exit non-zero.
	errs := c.fails("field vn", "port", "create", "p3", "--vn", "green", "--nve", "hv1", "--interface", "v3", "--mac", "02:00:00:00:00:03")
	if !strings.Contains(errs, "422") {
		t.Errorf("reference error lacks the status: %s", errs)
	}
	c.fails("p1", "vn", "delete", "blue") // 409 naming the port in the way
	c.fails("409", "port", "create", "p9", "--vn", "blue", "--nve", "hv2", "--interface", "v9", "--mac", "02:00:00:00:00:01")
	c.fails("not found", "port", "get", "nope")
	c.fails("mtu", "vn", "update", "blue", "--mtu", "5")
	c.fails("field tenant", "vn", "update", "blue", "--tenant", "bad name!")
	if vn := st.Snapshot().VNs["blue"]; vn.Tenant != "" || vn.MTU != 0 {
		t.Errorf("rejected updates changed blue: %+v", vn)
	}
	c.ok("port", "delete", "p1")
	c.ok("port", "rm", "p2")
	c.ok("vn", "delete", "blue")
	if s := st.Snapshot(); len(s.VNs)+s.Ports.Len() != 0 {
		t.Errorf("left: %d VNs, %d ports", len(s.VNs), s.Ports.Len())
	}
}

func TestClusterCommands(t *testing.T) {
	ts, _ := server(t)
	c := cli{t, nil}
	out := c.ok("cluster", "status", "--server", ts.URL)
	if !strings.Contains(out, "leader: n1") || row(t, out, "n1*")[1] != "leader" {
		t.Errorf("cluster status:\n%s", out)
	}
	var cv wire.ClusterView
	if err := json.Unmarshal([]byte(c.ok("cluster", "status", "--server", ts.URL, "-o", "json")), &cv); err != nil || cv.Leader != "n1" {
		t.Errorf("cluster status -o json: %v %+v", err, cv)
	}

	n2, err := store.Open(context.Background(), store.Config{NodeID: "n2", InMemory: true, RaftAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n2.Close() })
	c.fails("raft_addr", "cluster", "join", "n2", "--server", ts.URL)
	c.ok("cluster", "join", "n2", "--raft-addr", n2.RaftAddr(), "--server", ts.URL)
	// n2 enters as a non-voter and is promoted once it has caught up.
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		out = c.ok("cluster", "status", "--server", ts.URL)
		r := row(t, out, "n2")
		if r[2] == "true" && strings.Contains(out, n2.RaftAddr()) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after join, n2 not a voter within 15s:\n%s", out)
		}
	}
	c.ok("cluster", "remove", "n2", "--server", ts.URL)
	out = c.ok("cluster", "status", "--server", ts.URL)
	if strings.Contains(out, "n2") {
		t.Errorf("after remove:\n%s", out)
	}
}

type slowRealizer struct{}

func (slowRealizer) WaitRealizedFor(ctx context.Context, index uint64, _ []string) ([]string, error) {
	<-ctx.Done()
	return []string{"hv9"}, ctx.Err()
}

func TestWaitRealizedFlag(t *testing.T) {
	ts, st := server(t, func(o *web.Options) { o.Realizer = slowRealizer{} })
	c := cli{t, map[string]string{"NVA_SERVER": ts.URL}}
	c.ok("vn", "create", "blue")
	errs := c.fails("hv9", "vn", "create", "red", "--wait-realized", "--wait-timeout", "100ms")
	if !strings.Contains(errs, "not_realized") || !strings.Contains(errs, "504") {
		t.Errorf("wait-realized timeout error: %s", errs)
	}
	// The write was committed even though it was not realized in time.
	if _, ok := st.Snapshot().VNs["red"]; !ok {
		t.Error("red not committed")
	}
}

func TestClientErrors(t *testing.T) {
	c := cli{t, map[string]string{"NVA_SERVER": "http://127.0.0.1:1"}}
	c.fails("127.0.0.1:1", "vn", "list")
	c.fails("--output", "vn", "list", "-o", "yaml")
	c.fails("--server", "vn", "list", "--server", "ftp://x")
	c.fails("accepts 1 arg", "vn", "get")
	c.fails("unknown flag", "vn", "create", "x", "--colour", "red")
}

// noLeader fails writes as a store without quorum does.
type noLeader struct{ *store.Store }

func (noLeader) CreateVN(ctx context.Context, id string, v model.VN) (*model.VN, error) {
	return nil, store.ErrNoLeader
}

func TestRetriesWhileNoLeader(t *testing.T) {
	_, st := server(t)
	srv, err := web.New(web.Options{Backend: noLeader{st}})
	if err != nil {
		t.Fatal(err)
	}
	nl := httptest.NewServer(srv)
	defer nl.Close()
	var slept int
	a := &app{g: globals{server: nl.URL, timeout: time.Second}}
	cl := a.client()
	cl.sleep = func(ctx context.Context, d time.Duration) error { slept++; return nil }
	_, err = cl.do(context.Background(), "POST", "/api/v1/vns", nil, map[string]any{"name": "x"})
	if err == nil || !strings.Contains(err.Error(), "503") || slept != 3 {
		t.Errorf("err %v after %d retries, want 503 after 3", err, slept)
	}
}

type flowsAndStatus struct{}

func (flowsAndStatus) NVEFlows(ctx context.Context, nve string) (*model.FlowReport, error) {
	return &model.FlowReport{
		NVE: nve, Profile: "ovs", Revision: 9,
		Status:         model.OpenFlowStatus{Connected: true, Remote: "192.0.2.1:40000", DatapathID: "00004e5600000001", Sync: model.SyncPending, RealizedRevision: 7},
		Desired:        []string{"table=0 priority=0 actions=drop", "table=0 priority=10 in_port=1 actions=goto_table:1"},
		InstalledKnown: true,
		Installed:      []model.InstalledRow{{Flow: "table=0 priority=0 actions=drop", Packets: 12, Bytes: 1500, DurationSec: 30}},
		Diff:           model.DiffSummary{Missing: []string{"table=0 priority=10 in_port=1 actions=goto_table:1"}, UnchangedFlows: 1, PlannedMessages: 1},
	}, nil
}

// NVEStatus: hv1's comes summarized as the daemon sends it; hv2's has no
// summary (an older server), so nvactl summarizes it itself.
func (flowsAndStatus) NVEStatus(nve string) *model.NVEStatus {
	if nve == "hv1" {
		return &model.NVEStatus{Summary: "ok: in sync (revision 7)", OpenFlow: &model.OpenFlowStatus{Connected: true, Sync: model.SyncInSync, RealizedRevision: 7}}
	}
	return &model.NVEStatus{
		OVSDB:    &model.OVSDBStatus{LastError: "dial unix /b: no such file or directory"},
		OpenFlow: &model.OpenFlowStatus{Sync: model.SyncDisconnected},
	}
}

// line finds the table line whose first column is name.
func line(t *testing.T, table, name string) string {
	t.Helper()
	for _, l := range strings.Split(table, "\n") {
		if f := fieldsOf(l); len(f) > 0 && f[0] == name {
			return l
		}
	}
	t.Fatalf("no row %q in:\n%s", name, table)
	return ""
}

func TestTopologyFlowsHealth(t *testing.T) {
	ts, _ := server(t, func(o *web.Options) { o.FlowReporter = flowsAndStatus{}; o.StatusReporter = flowsAndStatus{} })
	c := cli{t, map[string]string{"NVA_SERVER": ts.URL}}
	c.ok("vn", "create", "blue")
	c.ok("nve", "create", "hv1", "--underlay-ip", "192.0.2.1", "--ovsdb", "unix:/a")
	c.ok("nve", "create", "hv2", "--underlay-ip", "192.0.2.2", "--ovsdb", "unix:/b")
	c.ok("port", "create", "p1", "--vn", "blue", "--nve", "hv1", "--interface", "v1", "--mac", "02:00:00:00:00:01")
	c.ok("port", "create", "p2", "--vn", "blue", "--nve", "hv2", "--interface", "v2", "--mac", "02:00:00:00:00:02")

	const hv1Status, hv2Status = "ok: in sync (revision 7)", "ovsdb: connecting (dial unix /b: no such file or directory)"
	out := c.ok("topology")
	if r := row(t, out, "hv1"); r[2] != "blue" || !strings.HasSuffix(line(t, out, "hv1"), "  "+hv1Status) {
		t.Errorf("topology hv1 row %q", line(t, out, "hv1"))
	}
	if l := line(t, out, "hv2"); !strings.HasSuffix(l, "  "+hv2Status) {
		t.Errorf("topology hv2 row %q", l)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if last := fieldsOf(lines[len(lines)-1]); strings.Join(last, " ") != "hv1 hv2 blue" {
		t.Errorf("tunnel row %v in\n%s", last, out)
	}
	out = c.ok("nve", "list")
	if !strings.HasSuffix(line(t, out, "hv1"), "  "+hv1Status) || !strings.HasSuffix(line(t, out, "hv2"), "  "+hv2Status) {
		t.Errorf("nve list status:\n%s", out)
	}

	out = c.ok("nve", "flows", "hv1")
	for _, want := range []string{
		"nve hv1  profile ovs  store revision 9\n",
		"openflow: pending, connected from 192.0.2.1:40000, datapath 00004e5600000001, realized revision 7\n",
		"        DESIRED  INSTALLED\nflows   2        1\ngroups  0        0\n",
		"in sync: no: 1 missing (a reconciliation would send 1 messages)\n",
		"missing (desired, not installed) (1):\n  table=0 priority=10 in_port=1 actions=goto_table:1\n",
		"desired flows (2):\n  table=0 priority=0 actions=drop\n  table=0 priority=10 in_port=1 actions=goto_table:1\n",
		"installed flows (1):\nPACKETS  BYTES  AGE  FLOW\n12       1500   30s  table=0 priority=0 actions=drop\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("nve flows lacks %q:\n%s", want, out)
		}
	}
	var rep model.FlowReport
	if err := json.Unmarshal([]byte(c.ok("nve", "flows", "hv1", "-o", "json")), &rep); err != nil || len(rep.Desired) != 2 || len(rep.Installed) != 1 {
		t.Errorf("nve flows -o json: %v %+v", err, rep)
	}
	c.fails("not found", "nve", "flows", "hv9")

	out = c.ok("cluster", "health")
	if !strings.Contains(out, "node n1: ok, leader n1") {
		t.Errorf("health: %s", out)
	}
}

func TestHealthWithoutLeader(t *testing.T) {
	_, st := server(t)
	srv, err := web.New(web.Options{Backend: noLeaderCluster{noLeader{st}}, NodeID: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	c := cli{t, map[string]string{"NVA_SERVER": ts.URL}}
	code, out, errs := c.run("cluster", "health")
	if code == 0 || !strings.Contains(out, "no_leader, leader (none)") || !strings.Contains(errs, "no leader") {
		t.Errorf("health without leader: exit %d, out %q, err %q", code, out, errs)
	}
}

type noLeaderCluster struct{ noLeader }

func (noLeaderCluster) Cluster(ctx context.Context) (store.ClusterInfo, error) {
	return store.ClusterInfo{}, store.ErrNoLeader
}

// strictStatus reports tor1 as the southbound would for a strict NVE with
// one remote lacking its tunnel port.
type strictStatus struct{}

func (strictStatus) NVEStatus(nve string) *model.NVEStatus {
	if nve != "tor1" {
		return nil
	}
	return &model.NVEStatus{Summary: "pending: waiting for OpenFlow ports: tunnel port Tunnel3 (to NVE hv3)", OpenFlow: &model.OpenFlowStatus{
		Connected: true, Sync: model.SyncPending,
		Profile: &model.ProfileStatus{Name: "openflow13", Tables: []model.ProfileTable{{Name: "ingress", Number: 0, Stages: []string{"classify", "port_security"}},
			{Name: "forward", Number: 7, Stages: []string{"l2_forward"}}}, TableCheck: "ok"},
		TunnelPorts: []model.TunnelPortStatus{
			{Remote: "hv2", RemoteIP: "192.0.2.2", Encap: "vxlan", Port: "nvxc0000202", Source: "convention", OFPort: 5},
			{Remote: "hv3", RemoteIP: "192.0.2.3", Encap: "vxlan", Port: "Tunnel3", Source: "tunnel_ports"},
		},
		Warnings: []string{"no tunnel port to NVE hv3: the switch has no port Tunnel3"},
	}}
}

// TestNVEProfileCommands: create and update set the profile fields (KEY=
// removes a map entry on update), list shows the PROFILE column, get shows
// the profile in use, its tables, the table check and the tunnel ports.
func TestNVEProfileCommands(t *testing.T) {
	ts, st := server(t, func(o *web.Options) { o.StatusReporter = strictStatus{} })
	c := cli{t, map[string]string{"NVA_SERVER": ts.URL}}
	last := pipeline.Strict().Tables[len(pipeline.Strict().Tables)-1].Name
	c.ok("nve", "create", "tor1", "--kind", "openflow", "--datapath-id", "2a", "--underlay-ip", "192.0.2.9",
		"--table-id", last+"=200", "--tunnel-port", "192.0.2.3=Tunnel3", "--tunnel-port", "192.0.2.4=Tunnel4")
	n := st.Snapshot().NVEs["tor1"]
	if n.TableIDs[last] != 200 || n.TunnelPorts["192.0.2.3"] != "Tunnel3" || n.TunnelPorts["192.0.2.4"] != "Tunnel4" {
		t.Fatalf("created %+v", n)
	}
	c.ok("nve", "create", "hv1", "--underlay-ip", "192.0.2.1", "--ovsdb", "unix:/a", "--profile", "openflow13")
	if p := st.Snapshot().NVEs["hv1"].Profile; p != "openflow13" {
		t.Fatalf("hv1 profile %q", p)
	}
	c.ok("nve", "update", "tor1", "--tunnel-port", "192.0.2.4=")
	if tp := st.Snapshot().NVEs["tor1"].TunnelPorts; len(tp) != 1 || tp["192.0.2.3"] != "Tunnel3" {
		t.Fatalf("after removing a tunnel port: %v", tp)
	}
	c.fails("table number", "nve", "update", "tor1", "--table-id", last+"=999")
	c.fails("field table_ids", "nve", "update", "tor1", "--table-id", "no_such_table=3")

	out := c.ok("nve", "list")
	if r := row(t, out, "tor1"); r[6] != "openflow13" {
		t.Errorf("PROFILE of tor1 in\n%s", out)
	}
	if r := row(t, out, "hv1"); r[6] != "openflow13" { // no status: the forced profile
		t.Errorf("PROFILE of hv1 in\n%s", out)
	}
	// Lines compared with their runs of spaces collapsed (tabwriter).
	spaces := regexp.MustCompile(` +`)
	out = spaces.ReplaceAllString(c.ok("nve", "get", "tor1"), " ")
	for _, want := range []string{
		"\nprofile: openflow13 (the default of kind openflow)\n",
		"\ntables: 0 ingress: classify, port_security\n 7 forward: l2_forward\n",
		"\ntable check: ok\n",
		"\n hv3 192.0.2.3 vxlan Tunnel3 tunnel_ports missing\n",
		"\nwarning: no tunnel port to NVE hv3: the switch has no port Tunnel3\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("nve get tor1 lacks %q:\n%s", want, out)
		}
	}
	out = spaces.ReplaceAllString(c.ok("nve", "get", "hv1"), " ")
	if !strings.Contains(out, "\nprofile: openflow13 (the server reports no OpenFlow status)\n") {
		t.Errorf("nve get hv1:\n%s", out)
	}
}

// TestVNL3Flags: --subnet and --l3-domain reach the store; a bad gateway
// is refused naming its field.
func TestVNL3Flags(t *testing.T) {
	ts, st := server(t)
	c := cli{t, map[string]string{"NVA_SERVER": ts.URL}}
	c.ok("vn", "create", "web", "--service", "l2l3", "--tenant", "acme", "--l3-domain", "prod",
		"--subnet", "10.0.1.0/24=10.0.1.1", "--subnet", "2001:db8:1::/64=2001:db8:1::1")
	vn := st.Snapshot().VNs["web"]
	want := []model.Subnet{{CIDR: "10.0.1.0/24", Gateway: "10.0.1.1"}, {CIDR: "2001:db8:1::/64", Gateway: "2001:db8:1::1"}}
	if vn == nil || vn.L3Domain != "prod" || !reflect.DeepEqual(vn.Subnets, want) {
		t.Fatalf("stored %+v", vn)
	}
	c.ok("vn", "update", "web", "--subnet", "10.0.2.0/24=10.0.2.254")
	if vn := st.Snapshot().VNs["web"]; len(vn.Subnets) != 1 || vn.Subnets[0].Gateway != "10.0.2.254" {
		t.Fatalf("after update %+v", vn)
	}
	c.fails("subnets[0].gateway", "vn", "update", "web", "--subnet", "10.0.2.0/24=10.0.3.1")
	c.fails("CIDR=GATEWAY", "vn", "update", "web", "--subnet", "10.0.2.0/24")
}
