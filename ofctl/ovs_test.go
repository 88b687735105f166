package ofctl

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/pipeline"
	"github.com/nva-project/nva/app/sim"
	"github.com/nva-project/nva/internal/ovstest"
	"github.com/nva-project/nva/ofctl/codec"
	"github.com/nva-project/nva/ofctl/reconcile"
	"github.com/nva-project/nva/store"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// These tests run the southbound against a real ovs-vswitchd (userspace
// datapath) started by internal/ovstest in a private run directory and
// network namespace: one ovsdb-server + ovs-vswitchd, bridge br-int in secure fail mode pointing at the southbound, a
// flow-based VXLAN port and internal ports as VAPs. They need root and the
// Open vSwitch binaries, and skip otherwise.

// bridge creates a netdev bridge with the given datapath ID pointing at
// the controller address, in secure fail mode, out-of-band.
func bridge(o *ovstest.OVS, name string, dpid uint64, ctrl string) {
	o.Vsctl("add-br", name, "--", "set", "bridge", name, "datapath_type=netdev", "protocols=OpenFlow13", "fail_mode=secure",
		"other_config:datapath-id="+model.FormatDatapathID(dpid),
		"--", "set-controller", name, ctrl,
		"--", "set", "controller", name, "connection_mode=out-of-band", "max_backoff=1000", "inactivity_probe=5000")
}

// lab wires a store, a southbound and one OVS bridge (the NVE hv1).
type lab struct {
	t       *testing.T
	ctx     context.Context
	ovs     *ovstest.OVS
	st      *store.Store
	sb      *Southbound
	addr    string
	prefix  string
	dpid    uint64
	ifaces  []string
	ticks   chan time.Time
	profile pipeline.Profile
}

type manualTicker struct{ c chan time.Time }

func (m manualTicker) C() <-chan time.Time { return m.c }
func (manualTicker) Stop()                 {}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func newLab(t *testing.T) *lab {
	t.Helper()
	ovstest.Require(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	st, err := store.Open(ctx, store.Config{NodeID: "t", InMemory: true, Bootstrap: true, Logger: slog.New(slog.DiscardHandler),
		ApplyTimeout: 3 * time.Second, HeartbeatTimeout: 100 * time.Millisecond, ElectionTimeout: 100 * time.Millisecond,
		LeaderLeaseTimeout: 100 * time.Millisecond, CommitTimeout: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	waitFor(t, 5*time.Second, "store leadership", st.IsLeader)
	l := &lab{t: t, ctx: ctx, st: st, ovs: ovstest.Start(t, ovstest.Options{Prefix: "nvof"}), dpid: 0x00000000000a0001, ticks: make(chan time.Time), profile: pipeline.OVS()}
	l.prefix = fmt.Sprintf("nvo%d", os.Getpid()%100000)
	return l
}

// startSouthbound starts a (new) southbound instance on l.addr (or a free
// port the first time).
func (l *lab) startSouthbound() *Southbound {
	l.t.Helper()
	addr := l.addr
	if addr == "" {
		addr = "unix:" + filepath.Join(l.ovs.Dir(), "nva.sock")
	}
	sb := New(Config{ListenAddr: addr, Logger: testLogger(l.t), AuditInterval: time.Hour, RetryInterval: 200 * time.Millisecond,
		NewTicker: func(time.Duration) Ticker { return manualTicker{l.ticks} }})
	if err := sb.Start(l.ctx, l.st); err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(func() { _ = sb.Close() })
	l.addr = addr
	l.sb = sb
	return sb
}

func (l *lab) iface(i int) string { return fmt.Sprintf("%sv%d", l.prefix, i) }

// setup creates the bridge with the tunnel port and three VAP interfaces,
// and the store objects: VN blue on hv1 (two ports) and hv2 (one port).
func (l *lab) setup() {
	l.t.Helper()
	ctx := l.ctx
	bridge(l.ovs, "br-int", l.dpid, l.addr)
	l.ovs.Vsctl("add-port", "br-int", compiler.TunnelPortName(model.EncapVXLAN), "--", "set", "interface", compiler.TunnelPortName(model.EncapVXLAN),
		"type=vxlan", "options:remote_ip=flow", "options:key=flow", "ofport_request=100")
	for i := 1; i <= 3; i++ {
		l.ovs.Vsctl("add-port", "br-int", l.iface(i), "--", "set", "interface", l.iface(i), "type=internal", fmt.Sprintf("ofport_request=%d", i))
	}
	must(l.t, func() error {
		_, err := l.st.CreateVN(ctx, "", model.VN{Name: "blue", VNI: 5001})
		return err
	})
	must(l.t, func() error {
		_, err := l.st.CreateNVE(ctx, "", model.NVE{Name: "hv1", UnderlayIPs: []string{"198.18.0.1"}, OVSDB: "unix:" + l.ovs.Sock(),
			DatapathType: "netdev", DatapathID: model.FormatDatapathID(l.dpid)})
		return err
	})
	must(l.t, func() error {
		_, err := l.st.CreateNVE(ctx, "", model.NVE{Name: "hv2", UnderlayIPs: []string{"198.18.0.2"}, OVSDB: "unix:/nonexistent/db.sock",
			DatapathType: "netdev", DatapathID: "00000000000a0002"})
		return err
	})
	l.port("p1", "hv1", l.iface(1), "02:00:00:00:01:01", "198.51.100.11")
	l.port("p2", "hv1", l.iface(2), "02:00:00:00:01:02", "198.51.100.12")
	l.port("p3", "hv2", "eth0", "02:00:00:00:02:01", "198.51.100.21")
}

func (l *lab) port(name, nve, iface, mac, ip string) uint64 {
	l.t.Helper()
	var rev uint64
	must(l.t, func() error {
		p, err := l.st.CreatePort(l.ctx, "", model.Port{Name: name, VN: "blue", NVE: nve, Interface: iface, MAC: mac, IPs: []string{ip}})
		if err == nil {
			rev = p.Revision
		}
		return err
	})
	return rev
}

func must(t *testing.T, f func() error) {
	t.Helper()
	if err := f(); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// realized waits until hv1 has acknowledged the store's current revision.
func (l *lab) realized() {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(l.ctx, 15*time.Second)
	defer cancel()
	idx := l.st.AppliedIndex()
	waitFor(l.t, 15*time.Second, "hv1 connected", func() bool { return l.sb.status("hv1").Connected })
	if lag, err := l.sb.WaitRealized(ctx, idx); err != nil {
		l.t.Fatalf("revision %d not realized (laggards %v): %v; status %+v", idx, lag, err, l.sb.status("hv1"))
	}
}

// desired compiles hv1's state the way the southbound must have, with the
// port numbers the bridge really has (ofport_request).
func (l *lab) desired() compiler.Result {
	l.t.Helper()
	ports := map[string]uint32{compiler.TunnelPortName(model.EncapVXLAN): 100}
	for i := 1; i <= 3; i++ {
		ports[l.iface(i)] = uint32(i)
	}
	res, err := compiler.Compile(compiler.Input{Snapshot: l.st.Snapshot(), NVE: "hv1", OFPorts: ports,
		Tunnels: map[model.Encap]uint32{model.EncapVXLAN: 100}}, l.profile)
	if err != nil {
		l.t.Fatal(err)
	}
	return res
}

// assertSwitchEqualsDesired checks, with ovs-ofctl alone, that br-int holds
// exactly the desired flows (diff-flows against the compiled flows written
// in ovs-ofctl syntax) and groups.
func (l *lab) assertSwitchEqualsDesired() {
	l.t.Helper()
	res := l.desired()
	text, err := l.profile.Text(res.FlowList(), true)
	if err != nil {
		l.t.Fatal(err)
	}
	file := filepath.Join(l.ovs.Dir(), "desired.flows")
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		l.t.Fatal(err)
	}
	out, err := l.ovs.Try("ovs-ofctl", "-O", "OpenFlow13", "diff-flows", "br-int", file)
	if err != nil || strings.TrimSpace(out) != "" {
		l.t.Fatalf("br-int differs from the desired flows (- installed only, + desired only): %v\n%s", err, out)
	}
	if n := strings.Count(l.ovs.Ofctl("dump-flows", "br-int"), "cookie="); n != res.NumFlows() {
		l.t.Fatalf("br-int has %d flows, desired %d", n, res.NumFlows())
	}
	// Groups: OVS's own rendering of what is installed against OVS's
	// rendering of the desired groups.
	want := []string{}
	for _, g := range res.Groups {
		out := l.ovs.Ofctl("parse-group", flow.FormatGroup(g))
		i := strings.Index(out, "ADD ")
		if i < 0 {
			l.t.Fatalf("parse-group %s: %s", flow.FormatGroup(g), out)
		}
		want = append(want, strings.TrimSpace(out[i+4:]))
	}
	got := []string{}
	for _, line := range strings.Split(l.ovs.Ofctl("dump-groups", "br-int"), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "group_id=") {
			got = append(got, line)
		}
	}
	sort.Strings(want)
	sort.Strings(got)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		l.t.Fatalf("groups differ\ninstalled:\n%s\ndesired:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

var durationRE = regexp.MustCompile(`duration=([0-9.]+)s`)
var packetsRE = regexp.MustCompile(`n_packets=([0-9]+)`)

// flowAges returns each installed flow's duration and packet count, keyed
// by its dump-flows text without counters.
func (l *lab) flowAges() map[string][2]float64 {
	out := map[string][2]float64{}
	for _, line := range strings.Split(l.ovs.Ofctl("dump-flows", "br-int"), "\n") {
		d := durationRE.FindStringSubmatch(line)
		p := packetsRE.FindStringSubmatch(line)
		if d == nil || p == nil {
			continue
		}
		key := regexp.MustCompile(` (duration|n_packets|n_bytes|idle_age|hard_age)=[^,]*,`).ReplaceAllString(line, "")
		dv, _ := strconv.ParseFloat(d[1], 64)
		pv, _ := strconv.ParseFloat(p[1], 64)
		out[strings.TrimSpace(key)] = [2]float64{dv, pv}
	}
	return out
}

func TestRealOVS(t *testing.T) {
	l := newLab(t)
	sb := l.startSouthbound()
	l.setup()

	t.Run("initial install equals desired", func(t *testing.T) {
		l.realized()
		l.assertSwitchEqualsDesired()
		st := sb.status("hv1")
		if st.Sync != SyncInSync || st.DatapathID != model.FormatDatapathID(l.dpid) || st.FlowModsSent == 0 {
			t.Fatalf("status %+v", st)
		}
		// What OVS reports in flow stats and group descriptions decodes to
		// exactly the desired canonical IR.
		sb.mu.Lock()
		w := sb.switches[l.dpid]
		sb.mu.Unlock()
		inst, groups, err := sb.readInstalled(l.ctx, w.sw, l.profile)
		if err != nil {
			t.Fatal(err)
		}
		res := l.desired()
		want := map[flow.Key]string{}
		for _, f := range res.FlowList() {
			want[reconcile.Key(f)] = flowString(t, codec.Canonical(f))
		}
		if len(inst) != len(want) {
			t.Fatalf("read %d flows, desired %d", len(inst), len(want))
		}
		for _, f := range inst {
			if got := flowString(t, f.Flow); want[reconcile.Key(f.Flow)] != got {
				t.Fatalf("installed flow decodes to\n %s\nwant\n %s", got, want[reconcile.Key(f.Flow)])
			}
		}
		flow.SortGroups(groups)
		if !reflect.DeepEqual(groups, canonicalGroups(res.Groups)) {
			t.Fatalf("installed groups decode to %v, want %v", groups, canonicalGroups(res.Groups))
		}

		fr, err := sb.NVEFlows(l.ctx, "hv1")
		if err != nil {
			t.Fatal(err)
		}
		if !fr.InstalledKnown || !fr.Diff.InSync || len(fr.Installed) != len(fr.Desired) || len(fr.Desired) == 0 ||
			!strings.Contains(strings.Join(fr.Desired, "\n"), "table=classify") {
			t.Fatalf("flow report: in_sync %v, %d desired, %d installed, diff %+v", fr.Diff.InSync, len(fr.Desired), len(fr.Installed), fr.Diff)
		}
	})

	t.Run("ofproto/trace agrees with the simulator", func(t *testing.T) {
		res := l.desired()
		sw, err := sim.New(l.profile, res.FlowList(), res.Groups)
		if err != nil {
			t.Fatal(err)
		}
		const m1, m2, m3 = "02:00:00:00:01:01", "02:00:00:00:01:02", "02:00:00:00:02:01"
		tun := uint32(100)
		packets := map[string]sim.Packet{
			"ARP for a known IP answered locally": sim.ARPRequest(1, m1, "198.51.100.11", "198.51.100.21"),
			"ARP for an unknown IP flooded":       sim.ARPRequest(1, m1, "198.51.100.11", "198.51.100.99"),
			"unicast to a local port":             sim.IPv4(1, m1, m2, "198.51.100.11", "198.51.100.12"),
			"unicast to a remote port":            sim.IPv4(1, m1, m3, "198.51.100.11", "198.51.100.21"),
			"broadcast":                           sim.IPv4(1, m1, "ff:ff:ff:ff:ff:ff", "198.51.100.11", "198.51.100.255"),
			"spoofed source MAC":                  sim.IPv4(1, "02:00:00:00:01:99", m2, "198.51.100.11", "198.51.100.12"),
			"spoofed source IP":                   sim.IPv4(1, m1, m2, "198.51.100.99", "198.51.100.12"),
			"from the tunnel to a local port":     sim.IPv4(tun, m3, m1, "198.51.100.21", "198.51.100.11").FromTunnel(tun, 5001, "198.18.0.2"),
			"tunnel broadcast stays local":        sim.IPv4(tun, m3, "ff:ff:ff:ff:ff:ff", "198.51.100.21", "198.51.100.255").FromTunnel(tun, 5001, "198.18.0.2"),
			"tunnel with a foreign VNI":           sim.IPv4(tun, m3, m1, "198.51.100.21", "198.51.100.11").FromTunnel(tun, 5002, "198.18.0.2"),
			"tunnel from an unknown NVE":          sim.IPv4(tun, m3, m1, "198.51.100.21", "198.51.100.11").FromTunnel(tun, 5001, "198.18.0.77"),
		}
		var outputs int
		for name, p := range packets {
			r := sw.Run(p)
			tf := p.TraceFlow()
			if p.InPort == tun {
				// OVS only treats a packet as tunnelled when tun_dst is
				// set: it arrived addressed to this NVE.
				tf += ",tun_dst=198.18.0.1"
			}
			tr := l.ovs.Appctl("ofproto/trace", "br-int", tf)
			got := sim.OFProtoTracePorts(tr, p.InPort)
			if want := r.Ports(); !slices.Equal(got, want) {
				t.Errorf("%s: OVS outputs to %v, simulator to %v\nsim:\n%sovs:\n%s", name, got, want, r.TraceText(), tr)
			}
			outputs += len(got)
			if name == "unicast to a remote port" && (!strings.Contains(tr, "set_field:0x1389->tun_id") || !strings.Contains(tr, "set_field:198.18.0.2->tun_dst")) {
				t.Errorf("%s: the trace does not encapsulate with VNI 5001 toward 198.18.0.2:\n%s", name, tr)
			}
		}
		if outputs == 0 {
			t.Fatal("no packet left the switch in either model")
		}
	})

	// Send one ARP request from p1 through the pipeline so counters move.
	arp := "ffffffffffff020000000101080600010800060400010200000001" + "01c633640b000000000000c6336415"
	l.ovs.Ofctl("packet-out", "br-int", "in_port=1,packet="+arp+",actions=table")
	before := l.flowAges()
	var hit int
	for _, v := range before {
		if v[1] > 0 {
			hit++
		}
	}
	if hit == 0 {
		t.Fatalf("the test packet hit no flow:\n%s", l.ovs.Ofctl("dump-flows", "br-int"))
	}

	t.Run("restart leaves flows untouched", func(t *testing.T) {
		if err := sb.Close(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1200 * time.Millisecond)
		sb = l.startSouthbound()
		l.realized()
		st := sb.status("hv1")
		if st.FlowModsSent != 0 || st.GroupModsSent != 0 {
			t.Fatalf("restart sent %d flow mods and %d group mods for an unchanged store", st.FlowModsSent, st.GroupModsSent)
		}
		after := l.flowAges()
		if len(after) != len(before) {
			t.Fatalf("%d flows before restart, %d after", len(before), len(after))
		}
		for k, b := range before {
			a, ok := after[k]
			if !ok {
				t.Fatalf("flow %s gone after restart", k)
			}
			if a[0] < b[0]+1 || a[1] != b[1] {
				t.Fatalf("flow %s was re-created: duration %.3f -> %.3f, packets %v -> %v", k, b[0], a[0], b[1], a[1])
			}
		}
		l.assertSwitchEqualsDesired()
	})

	t.Run("store change sends a minimal diff", func(t *testing.T) {
		agesBefore := l.flowAges()
		prev := sb.status("hv1")
		beforeDesired := l.desired()
		l.port("p4", "hv1", l.iface(3), "02:00:00:00:01:03", "198.51.100.13")
		l.realized()
		l.assertSwitchEqualsDesired()
		afterDesired := l.desired()
		st := sb.status("hv1")
		sent := st.FlowModsSent - prev.FlowModsSent
		// The minimal diff is the set of flows whose text changed.
		changed := flowTextDiff(t, l.profile, beforeDesired.FlowList(), afterDesired.FlowList())
		if int(sent) != changed {
			t.Fatalf("sent %d flow mods, the desired state changed by %d flows (last change %q)", sent, changed, st.LastChange)
		}
		// Flows not part of the change kept their age.
		after := l.flowAges()
		var kept int
		for k, b := range agesBefore {
			if a, ok := after[k]; ok {
				if a[0] < b[0] {
					t.Fatalf("untouched flow %s was re-created", k)
				}
				kept++
			}
		}
		if kept == 0 {
			t.Fatal("no flow survived a one-port change")
		}
	})

	t.Run("port move is atomic", func(t *testing.T) {
		bundles := counterValue(t, sb.m.bundles)
		// p3 moves from hv2 onto hv1 (interface v3 is taken by p4, so
		// first delete p4).
		if _, err := l.st.DeletePort(l.ctx, "", "p4"); err != nil {
			t.Fatal(err)
		}
		l.realized()
		p3 := l.st.Snapshot().Ports.Get("p3")
		moved := *p3
		moved.NVE, moved.Interface, moved.Revision = "hv1", l.iface(3), 0
		if _, err := l.st.UpdatePort(l.ctx, "", moved); err != nil {
			t.Fatal(err)
		}
		l.realized()
		l.assertSwitchEqualsDesired()
		if got := counterValue(t, sb.m.bundles); got < bundles+2 {
			t.Fatalf("bundles committed %v -> %v: the removal and the move should each be atomic", bundles, got)
		}
	})

	t.Run("audit repairs drift and leaves foreign flows", func(t *testing.T) {
		// Delete one of nva's flows by hand, add a stale nva-tagged flow
		// and a foreign one.
		res := l.desired()
		victim := res.FlowList()[res.NumFlows()/2]
		vt, err := flow.FormatFlow(victim, flow.TextOptions{TableNumber: l.profile.Number})
		if err != nil {
			t.Fatal(err)
		}
		l.ovs.Ofctl("--strict", "del-flows", "br-int", strings.SplitN(vt, ",actions=", 2)[0])
		stale := fmt.Sprintf("table=30,priority=7,cookie=%#x,dl_dst=02:00:00:00:09:09,actions=drop", flow.MakeCookie(0, 0xabcdef))
		foreign := "table=30,priority=8,cookie=0x1234,dl_dst=02:00:00:00:09:0a,actions=drop"
		l.ovs.Ofctl("add-flow", "br-int", stale)
		l.ovs.Ofctl("add-flow", "br-int", foreign)
		l.ovs.Ofctl("del-groups", "br-int", fmt.Sprintf("group_id=%d", res.Groups[0].ID))
		l.ovs.Ofctl("add-group", "br-int", "group_id=0x70000000,type=all,bucket=output:1")
		if out, _ := l.ovs.Try("ovs-ofctl", "-O", "OpenFlow13", "diff-flows", "br-int", filepath.Join(l.ovs.Dir(), "desired.flows")); strings.TrimSpace(out) == "" {
			t.Fatal("drift was not created")
		}
		l.ticks <- time.Now() // one audit
		waitFor(t, 10*time.Second, "audit repair", func() bool {
			out := l.ovs.Ofctl("dump-flows", "br-int", "cookie=0x1234/-1")
			if !strings.Contains(out, "dl_dst=02:00:00:00:09:0a") {
				t.Fatalf("the audit removed a foreign flow:\n%s", out)
			}
			d, _ := l.ovs.Try("ovs-ofctl", "-O", "OpenFlow13", "diff-flows", "br-int", filepath.Join(l.ovs.Dir(), "desired.flows"))
			lines := strings.Split(strings.TrimSpace(d), "\n")
			return len(lines) == 1 && strings.Contains(lines[0], "cookie=0x1234")
		})
		if out := l.ovs.Ofctl("dump-groups", "br-int"); !strings.Contains(out, "group_id=1879048192") || !strings.Contains(out, fmt.Sprintf("group_id=%d,", res.Groups[0].ID)) {
			t.Fatalf("groups after audit:\n%s", out)
		}
		l.ovs.Ofctl("--strict", "del-flows", "br-int", "table=30,priority=8,dl_dst=02:00:00:00:09:0a")
		l.ovs.Ofctl("del-groups", "br-int", "group_id=0x70000000")
		l.assertSwitchEqualsDesired()
		if counterValue(t, sb.m.repairs) < 3 {
			t.Fatalf("audit repairs counted %v", counterValue(t, sb.m.repairs))
		}
	})

	t.Run("a follower observes and never writes", func(t *testing.T) {
		f := New(Config{ListenAddr: "unix:" + filepath.Join(l.ovs.Dir(), "follower.sock"), Logger: testLogger(t), AuditInterval: time.Hour,
			NewTicker: func(time.Duration) Ticker { return manualTicker{make(chan time.Time)} }})
		if err := f.Start(l.ctx, followerSource{l.st}); err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		l.ovs.Vsctl("--", "set", "bridge", "br-int", "controller=@c1,@c2",
			"--", "--id=@c1", "create", "controller", "target=\""+l.addr+"\"", "connection_mode=out-of-band", "max_backoff=1000",
			"--", "--id=@c2", "create", "controller", "target=\""+target(f)+"\"", "connection_mode=out-of-band", "max_backoff=1000")
		waitFor(t, 15*time.Second, "follower sees hv1 in sync", func() bool { return f.status("hv1").Sync == SyncInSync })
		// A change: the follower's WaitRealized returns once the leader
		// has installed it, and the follower sent nothing.
		rev := l.port("p6", "hv2", "eth1", "02:00:00:00:02:06", "198.51.100.26")
		ctx, cancel := context.WithTimeout(l.ctx, 15*time.Second)
		defer cancel()
		if lag, err := f.WaitRealized(ctx, rev); err != nil {
			t.Fatalf("follower: revision %d not realized (laggards %v): %v", rev, lag, err)
		}
		l.realized()
		l.assertSwitchEqualsDesired()
		// Drift: the follower notices but does not repair; the leader does.
		res := l.desired()
		victim, err := flow.FormatFlow(res.FlowList()[1], flow.TextOptions{TableNumber: l.profile.Number})
		if err != nil {
			t.Fatal(err)
		}
		l.ovs.Ofctl("--strict", "del-flows", "br-int", strings.SplitN(victim, ",actions=", 2)[0])
		f.Audit()
		waitFor(t, 10*time.Second, "follower notices drift", func() bool { return f.status("hv1").Sync == SyncPending })
		time.Sleep(300 * time.Millisecond)
		if out := l.ovs.Ofctl("dump-flows", "br-int"); strings.Count(out, "cookie=") != res.NumFlows()-1 {
			t.Fatalf("the follower repaired drift (%d flows, want %d)", strings.Count(out, "cookie="), res.NumFlows()-1)
		}
		l.ticks <- time.Now() // leader audit
		waitFor(t, 10*time.Second, "follower sees the repair", func() bool { return f.status("hv1").Sync == SyncInSync })
		l.assertSwitchEqualsDesired()
		if st := f.status("hv1"); st.FlowModsSent != 0 || st.GroupModsSent != 0 || !st.Connected {
			t.Fatalf("follower status %+v", st)
		}
		l.ovs.Vsctl("set-controller", "br-int", l.addr)
		l.ovs.Vsctl("set", "controller", "br-int", "connection_mode=out-of-band", "max_backoff=1000")
	})

	t.Run("unclaimed switch stays connected and untouched", func(t *testing.T) {
		bridge(l.ovs, "br-x", 0x00000000000b0001, l.addr)
		l.ovs.Ofctl("add-flow", "br-x", "priority=5,actions=drop")
		waitFor(t, 15*time.Second, "unclaimed switch", func() bool { return len(sb.Unclaimed()) == 1 })
		if u := sb.Unclaimed()[0]; u.DatapathID != "00000000000b0001" {
			t.Fatalf("unclaimed %+v", u)
		}
		time.Sleep(300 * time.Millisecond)
		out := l.ovs.Ofctl("dump-flows", "br-x")
		if n := strings.Count(out, "cookie="); n != 1 || !strings.Contains(out, "priority=5") {
			t.Fatalf("unclaimed bridge was written to:\n%s", out)
		}
		// Claiming it (an NVE with that datapath ID) makes nva install it.
		must(t, func() error {
			_, err := l.st.CreateNVE(l.ctx, "", model.NVE{Name: "hv3", UnderlayIPs: []string{"198.18.0.3"}, OVSDB: "unix:/nonexistent/db.sock",
				DatapathType: "netdev", DatapathID: "00000000000b0001"})
			return err
		})
		waitFor(t, 10*time.Second, "claimed switch synced", func() bool {
			return len(sb.Unclaimed()) == 0 && sb.status("hv3").Sync == SyncInSync
		})
		out = l.ovs.Ofctl("dump-flows", "br-x")
		if !strings.Contains(out, "priority=5 actions=drop") || !strings.Contains(out, "cookie=0x4e56") {
			t.Fatalf("claimed bridge: foreign flow kept and nva's base flows expected:\n%s", out)
		}
	})
}

// flowTextDiff counts the flow-mods a minimal diff needs between two
// desired states: keys added, keys removed, and kept keys whose text
// (actions, cookie) changed.
func flowTextDiff(t *testing.T, p pipeline.Profile, a, b []flow.Flow) int {
	t.Helper()
	index := func(fs []flow.Flow) map[string]string {
		m := map[string]string{}
		for _, f := range fs {
			s, err := flow.FormatFlow(f, flow.TextOptions{TableNumber: p.Number, Cookie: true})
			if err != nil {
				t.Fatal(err)
			}
			m[fmt.Sprintf("%s/%d/%s", f.Table, f.Priority, flow.FormatMatch(f.Match))] = s
		}
		return m
	}
	ia, ib := index(a), index(b)
	n := 0
	for k, sb := range ib {
		if sa, ok := ia[k]; !ok || sa != sb {
			n++
		}
	}
	for k := range ia {
		if _, ok := ib[k]; !ok {
			n++
		}
	}
	return n
}

func counterValue(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 16)
	c.Collect(ch)
	close(ch)
	var sum float64
	for m := range ch {
		var d dto.Metric
		if err := m.Write(&d); err != nil {
			t.Fatal(err)
		}
		if d.Counter != nil {
			sum += d.Counter.GetValue()
		}
	}
	return sum
}

func flowString(t *testing.T, f flow.Flow) string {
	t.Helper()
	s, err := flow.FormatFlow(f, flow.TextOptions{Cookie: true})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func canonicalGroups(gs []flow.GroupEntry) []flow.GroupEntry {
	out := make([]flow.GroupEntry, len(gs))
	for i, g := range gs {
		out[i] = codec.CanonicalGroup(g)
	}
	flow.SortGroups(out)
	return out
}

// target is the OVS controller target of a southbound's unix listener.
func target(s *Southbound) string { return "unix:" + s.Addr().String() }

// followerSource is the store as seen from a node that is not the leader.
type followerSource struct{ *store.Store }

func (followerSource) IsLeader() bool { return false }
func (f followerSource) LeaderReady(context.Context) (uint64, bool, error) {
	return f.Term(), false, nil
}

// termed adds a Raft term (for OpenFlow master/slave roles).
type termed struct {
	Source
	term uint64
}

func (t termed) Term() uint64 { return t.term }

// LeaderReady reports the term as the one this node leads in.
func (t termed) LeaderReady(ctx context.Context) (uint64, bool, error) {
	_, ok, err := t.Source.LeaderReady(ctx)
	return t.term, ok, err
}

// deposed is a leader deposed while it could not hear it (paused,
// partitioned): it still believes it leads in term led, and its Raft has
// already heard the current term (its successor's) but not yet stepped
// down.
type deposed struct {
	Source
	led, current uint64
}

func (d deposed) Term() uint64 { return d.current }
func (d deposed) LeaderReady(ctx context.Context) (uint64, bool, error) {
	_, ok, err := d.Source.LeaderReady(ctx)
	return d.led, ok, err
}

// With a Raft term available, the leader holds the OpenFlow master role
// (generation = the term it leads in), followers are slaves, and a deposed
// leader is refused by the switch and writes nothing, even once it has
// heard its successor's term.
func TestRealOVSRoles(t *testing.T) {
	l := newLab(t)
	start := func(src Source, sock string) *Southbound {
		s := New(Config{ListenAddr: "unix:" + filepath.Join(l.ovs.Dir(), sock), Logger: testLogger(t), AuditInterval: time.Hour,
			NewTicker: func(time.Duration) Ticker { return manualTicker{make(chan time.Time)} }})
		if err := s.Start(l.ctx, src); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	leader := start(termed{l.st, 5}, "leader.sock")
	follower := start(termed{followerSource{l.st}, 5}, "follower.sock")
	// Believes it leads in an older term, and has already heard the
	// current one: its master request must carry the term it led in.
	stale := start(deposed{l.st, 4, 5}, "stale.sock")
	l.sb, l.addr = leader, target(leader)
	l.setup()
	ctrl := func(name, addr string) []string {
		return []string{"--", "--id=@" + name, "create", "controller", "target=\"" + addr + "\"", "connection_mode=out-of-band", "max_backoff=1000"}
	}
	args := []string{"--", "set", "bridge", "br-int", "controller=@a,@b"}
	args = append(args, ctrl("a", target(leader))...)
	args = append(args, ctrl("b", target(follower))...)
	l.ovs.Vsctl(args...)
	l.realized()
	waitFor(t, 15*time.Second, "follower in sync", func() bool { return follower.status("hv1").Sync == SyncInSync })
	l.assertSwitchEqualsDesired()
	waitFor(t, 15*time.Second, "roles in OVSDB", func() bool {
		out := l.ovs.Vsctl("--columns=target,role", "list", "controller")
		return strings.Contains(out, "master") && strings.Contains(out, "slave")
	})

	// The stale leader joins: the switch refuses it the master role.
	args = []string{"--", "set", "bridge", "br-int", "controller=@a,@b,@c"}
	args = append(args, ctrl("a", target(leader))...)
	args = append(args, ctrl("b", target(follower))...)
	args = append(args, ctrl("c", target(stale))...)
	l.ovs.Vsctl(args...)
	waitFor(t, 15*time.Second, "stale leader refused", func() bool {
		st := stale.status("hv1")
		return st.Connected && st.Sync == SyncError && strings.Contains(st.LastError, "role")
	})
	if st := stale.status("hv1"); st.FlowModsSent != 0 || st.GroupModsSent != 0 {
		t.Fatalf("stale leader wrote: %+v", st)
	}
	// The real leader still works: a change is realized and installed.
	rev := l.port("p5", "hv2", "eth5", "02:00:00:00:02:05", "198.51.100.25")
	ctx, cancel := context.WithTimeout(l.ctx, 15*time.Second)
	defer cancel()
	if lag, err := leader.WaitRealized(ctx, rev); err != nil {
		t.Fatalf("revision %d not realized: %v %v", rev, lag, err)
	}
	l.assertSwitchEqualsDesired()
}
