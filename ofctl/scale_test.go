package ofctl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/ofctl/conn"
)

// logBuffer collects a southbound's log lines for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// startLogged starts a southbound like startFake, logging into a buffer,
// with hook (if any) as the plan hook.
func startLogged(t *testing.T, src Source, cfg Config, hook func()) (*Southbound, *logBuffer) {
	t.Helper()
	if cfg.ListenAddr == "" {
		cfg.ListenAddr = "unix:" + filepath.Join(t.TempDir(), "of.sock")
	}
	logs := &logBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if cfg.AuditInterval == 0 {
		cfg.AuditInterval = -1 // audits only by hand
	}
	if cfg.RetryInterval == 0 {
		cfg.RetryInterval = 50 * time.Millisecond
	}
	sb := New(cfg)
	sb.planHook = hook
	ctx, cancel := context.WithCancel(context.Background())
	if err := sb.Start(ctx, src); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = sb.Close() })
	return sb, logs
}

// spin burns CPU for d (a CPU-heavy compile, as far as the scheduler can
// tell).
func spin(d time.Duration) {
	x := 0
	for start := time.Now(); time.Since(start) < d; {
		for i := range 10000 {
			x += i
		}
	}
	_ = x
}

// busySnap: n NVEs (DPIDs 1..n), each with one port in VN blue.
func busySnap(n int) *model.Snapshot {
	s := &model.Snapshot{Revision: 10,
		VNs: map[string]*model.VN{"blue": {Name: "blue", VNI: 5001, Encap: model.EncapVXLAN, Service: model.ServiceL2,
			BUM: model.BUM{Mode: model.BUMReplicate}, Unknown: model.UnknownFlood, Revision: 2}},
		NVEs: map[string]*model.NVE{}}
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("hv%d", i)
		s.NVEs[name] = &model.NVE{Name: name, Kind: model.NVEOVS, UnderlayIPs: []string{fmt.Sprintf("198.18.%d.%d", i/200, i%200+1)},
			DatapathID: model.FormatDatapathID(uint64(i)), Revision: 3}
		p := fmt.Sprintf("p%d", i)
		s.Ports = s.Ports.With(p, &model.Port{Name: p, VN: "blue", NVE: name, Interface: "v1",
			MAC: fmt.Sprintf("02:00:00:00:%02x:%02x", i>>8, i&0xff), Revision: 5})
	}
	return s
}

// With every reconciliation made CPU-heavy (a slow compile hook) and all
// switches kicked over and over for three dead intervals, no healthy
// switch is disconnected: reconciliations hold at most PlanWorkers CPU
// slots, and the connection readers, echo replies and keepalives run on
// goroutines of their own. (With a goroutine per switch competing for the
// CPU, as before, the keepalives starve and switches are dropped.)
func TestBusyReconcilesDropNoSwitch(t *testing.T) {
	const n = 48
	const dead = time.Second
	var hooks atomic.Int64
	var heavy atomic.Bool
	src := newFakeStore(busySnap(n), true)
	sb, logs := startLogged(t, src, Config{PlanWorkers: 2,
		Conn: conn.Options{EchoInterval: 50 * time.Millisecond, DeadInterval: dead}},
		func() {
			if heavy.Load() {
				hooks.Add(1)
				spin(20 * time.Millisecond)
			}
		})
	bridges := make([]*fakeBridge, n)
	for i := range bridges {
		bridges[i] = newFakeBridge(t, uint64(i+1), map[uint32]string{1: "v1", 100: "nva-vxlan"})
		bridges[i].connect(sb.cfg.ListenAddr)
	}
	waitCond(t, 60*time.Second, "every NVE in sync", func() bool {
		for i := 1; i <= n; i++ {
			if sb.status(fmt.Sprintf("hv%d", i)).Sync != SyncInSync {
				return false
			}
		}
		return true
	})
	conns := map[uint64]*conn.Switch{}
	sb.mu.Lock()
	for dpid, w := range sb.switches {
		conns[dpid] = w.sw
	}
	sb.mu.Unlock()
	if len(conns) != n {
		t.Fatalf("%d switches connected, want %d", len(conns), n)
	}
	echoesBefore := 0
	for _, b := range bridges {
		b.mu.Lock()
		echoesBefore += b.echoRequests
		b.mu.Unlock()
	}

	// Load: every switch kicked over and over, each run burning 20 ms of
	// CPU in its compile, for at least three dead intervals and at least
	// 4n runs (however slowly a loaded machine gets through them).
	heavy.Store(true)
	start := time.Now()
	for time.Since(start) < 3*dead || hooks.Load() < 4*n {
		if time.Since(start) > 2*time.Minute {
			t.Fatalf("only %d CPU-heavy runs in %v: the machine is too loaded for this test", hooks.Load(), time.Since(start))
		}
		for i := 1; i <= n; i++ {
			kickNVE(sb, fmt.Sprintf("hv%d", i))
		}
		time.Sleep(5 * time.Millisecond)
	}
	heavy.Store(false)
	busy, took := hooks.Load(), time.Since(start)

	sb.mu.Lock()
	var dropped []string
	for dpid, sw := range conns {
		if w := sb.switches[dpid]; w == nil || w.sw != sw || sw.Err() != nil {
			dropped = append(dropped, fmt.Sprintf("%016x: %v", dpid, sw.Err()))
		}
	}
	sb.mu.Unlock()
	echoes := 0
	for _, b := range bridges {
		b.mu.Lock()
		echoes += b.echoRequests
		b.mu.Unlock()
	}
	t.Logf("%d CPU-heavy reconciliations (20 ms each) in %v; %d echo requests answered", busy, took, echoes-echoesBefore)
	if len(dropped) > 0 {
		t.Fatalf("%d of %d healthy switches were disconnected while nva was busy: %v\n%s", len(dropped), n, dropped, logs)
	}
	if echoes-echoesBefore < n {
		t.Fatalf("only %d echo requests during the load: the keepalives did not run", echoes-echoesBefore)
	}
	if strings.Contains(logs.String(), "dead interval") {
		t.Fatalf("a dead interval expired:\n%s", logs)
	}
}

// An audit compares the switch with what nva last installed, without
// compiling; a store change that shares a run with an audit is installed
// but not counted (or logged) as drift; a flow removed behind nva's back
// is drift: counted, logged and repaired.
func TestAuditCountsOnlyDrift(t *testing.T) {
	var hooks atomic.Int64
	var gate atomic.Pointer[chan struct{}]
	src := newFakeStore(overlaySnap(10, false), true)
	sb, logs := startLogged(t, src, Config{}, func() {
		hooks.Add(1)
		if g := gate.Load(); g != nil {
			<-*g
		}
	})
	br := newFakeBridge(t, 1, map[uint32]string{1: "v1", 2: "v2", 100: "nva-vxlan"})
	br.connect(sb.cfg.ListenAddr)
	if lag, err := waitRealized(t, sb, 10, 5*time.Second); err != nil {
		t.Fatalf("initial state not realized: %v %v", lag, err)
	}
	audits := func(result string) float64 { return counterValue(t, sb.m.audits.WithLabelValues(result)) }

	// A clean audit: nothing compiled, nothing sent, no drift.
	compiles, mods := hooks.Load(), br.modCount()
	sb.Audit()
	waitCond(t, 5*time.Second, "a clean audit", func() bool { return audits("clean") == 1 })
	if got := hooks.Load(); got != compiles {
		t.Fatalf("a clean audit compiled %d times", got-compiles)
	}
	if got := br.modCount(); fmt.Sprint(got) != fmt.Sprint(mods) {
		t.Fatalf("a clean audit sent mods: %v, before %v", got, mods)
	}

	// Hold a run in its compile, then queue a store change (p2, whose
	// interface exists) and an audit behind it: they share the next run.
	g := make(chan struct{})
	gate.Store(&g)
	held := hooks.Load()
	kickNVE(sb, "hv1")
	waitCond(t, 5*time.Second, "a run held in its compile", func() bool { return hooks.Load() > held })
	src.set(overlaySnap(11, true))
	waitCond(t, 5*time.Second, "the store change seen", func() bool {
		sb.mu.Lock()
		defer sb.mu.Unlock()
		return sb.seen == 11
	})
	sb.Audit()
	sb.mu.Lock()
	w := sb.switches[1]
	shared := w.audit && w.work && w.again
	sb.mu.Unlock()
	if !shared {
		t.Fatal("the audit and the store change are not queued for one run")
	}
	gate.Store(nil)
	close(g)
	if lag, err := waitRealized(t, sb, 11, 5*time.Second); err != nil {
		t.Fatalf("revision 11 not realized: %v %v", lag, err)
	}
	want := desiredCount(t, overlaySnap(11, true), map[string]uint32{"v1": 1, "v2": 2, "nva-vxlan": 100})
	if got := br.flowCount(); got != want {
		t.Fatalf("switch has %d flows after the store change, want %d", got, want)
	}
	if r := counterValue(t, sb.m.repairs); r != 0 || strings.Contains(logs.String(), "audit repaired drift") {
		t.Fatalf("a store change sharing a run with an audit was counted as drift (%v repairs):\n%s", r, logs)
	}
	if audits("clean") != 2 {
		t.Fatalf("clean audits %v, want 2", audits("clean"))
	}

	// Drift: a flow removed behind nva's back.
	br.mu.Lock()
	for k := range br.flows {
		delete(br.flows, k)
		break
	}
	br.mu.Unlock()
	sb.Audit()
	waitCond(t, 5*time.Second, "the drift repaired", func() bool { return br.flowCount() == want })
	waitCond(t, 5*time.Second, "the drift counted", func() bool { return counterValue(t, sb.m.repairs) == 1 })
	if audits("drift") != 1 || strings.Count(logs.String(), "audit repaired drift") != 1 {
		t.Fatalf("drift audits %v, logs:\n%s", audits("drift"), logs)
	}
}

// Role-request failures are logged by cause: "refused" only when the
// switch answered with a role error.
func TestRoleFailureTexts(t *testing.T) {
	for _, tc := range []struct{ mode, want string }{
		{"error", "switch refused the master role"},
		{"silent", "switch did not answer the master role request in time"},
		{"close", "connection closed during the master role request"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			src := newFakeStore(overlaySnap(10, false), true)
			sb, logs := startLogged(t, src, Config{OpTimeout: 300 * time.Millisecond, RetryInterval: time.Hour}, nil)
			br := newFakeBridge(t, 1, map[uint32]string{1: "v1", 100: "nva-vxlan"})
			br.roleMode = tc.mode
			br.connect(sb.cfg.ListenAddr)
			waitCond(t, 5*time.Second, "the role failure logged", func() bool { return strings.Contains(logs.String(), tc.want) })
			if tc.mode != "error" && strings.Contains(logs.String(), "refused the master role") {
				t.Fatalf("%s: logged as a refusal:\n%s", tc.mode, logs)
			}
			if n := br.flowCount(); n != 0 {
				t.Fatalf("%d flows written without the master role", n)
			}
		})
	}
	// The classification itself.
	for err, want := range map[error]string{
		fmt.Errorf("role: %w", &conn.OFError{Type: 11, Code: 2}):     "switch refused the master role; not writing",
		fmt.Errorf("role: %w", context.DeadlineExceeded):             "switch did not answer the master role request in time; not writing",
		fmt.Errorf("role: %w", conn.ErrClosed):                       "connection closed during the master role request",
		fmt.Errorf("asked for master: %w: slave", errRoleNotGranted): "switch granted another role than master; not writing",
		errors.New("something else"):                                 "master role request failed; not writing",
	} {
		if got := roleFailure(err); got != want {
			t.Errorf("roleFailure(%v) = %q, want %q", err, got, want)
		}
	}
}

// One tick starts an audit round: every connected, claimed switch is
// audited once, spread over the interval (the round's size is reported),
// and a clean audit compiles nothing.
func TestAuditRound(t *testing.T) {
	const n = 4
	var compiles atomic.Int64
	ticks := make(chan time.Time)
	src := newFakeStore(busySnap(n), true)
	sb, _ := startLogged(t, src, Config{AuditInterval: 200 * time.Millisecond,
		NewTicker: func(time.Duration) Ticker { return manualTicker{ticks} }}, func() { compiles.Add(1) })
	for i := 1; i <= n; i++ {
		newFakeBridge(t, uint64(i), map[uint32]string{1: "v1", 100: "nva-vxlan"}).connect(sb.cfg.ListenAddr)
	}
	waitCond(t, 10*time.Second, "every NVE in sync", func() bool {
		for i := 1; i <= n; i++ {
			if sb.status(fmt.Sprintf("hv%d", i)).Sync != SyncInSync {
				return false
			}
		}
		return true
	})
	audits := func() float64 { return counterValue(t, sb.m.audits) }
	before := compiles.Load()
	ticks <- time.Now()
	waitCond(t, 10*time.Second, "the round's audits", func() bool { return audits() >= n })
	time.Sleep(300 * time.Millisecond) // past the round: nothing more is audited
	if got := audits(); got != n {
		t.Fatalf("%v audits in one round of %d switches", got, n)
	}
	if got := counterValue(t, sb.m.audits.WithLabelValues("clean")); got != n {
		t.Fatalf("%v clean audits, want %d", got, n)
	}
	var g dto.Metric
	if err := sb.m.auditRound.Write(&g); err != nil {
		t.Fatal(err)
	}
	if got := g.GetGauge().GetValue(); got != n {
		t.Fatalf("audit_round_switches %v, want %d", got, n)
	}
	if got := compiles.Load() - before; got != 0 {
		t.Fatalf("clean audits compiled %d times", got)
	}
}

// A follower keeps the record of what it last saw in sync: its audits of
// an unchanged switch compile nothing; drift makes it observe (and report
// the NVE pending) without writing.
func TestFollowerAudit(t *testing.T) {
	addr := "unix:" + filepath.Join(t.TempDir(), "of.sock")
	br := newFakeBridge(t, 1, map[uint32]string{1: "v1", 100: "nva-vxlan"})
	leader, _ := startLogged(t, newFakeStore(overlaySnap(10, false), true), Config{ListenAddr: addr}, nil)
	br.connect(addr)
	if lag, err := waitRealized(t, leader, 10, 5*time.Second); err != nil {
		t.Fatalf("leader: %v %v", lag, err)
	}
	want := br.flowCount()
	br.disconnect()
	_ = leader.Close()

	f, _ := startLogged(t, newFakeStore(overlaySnap(10, false), false), Config{ListenAddr: addr}, nil)
	br.connect(addr)
	waitCond(t, 5*time.Second, "the follower sees hv1 in sync", func() bool { return f.status("hv1").Sync == SyncInSync })
	f.Audit()
	waitCond(t, 5*time.Second, "a clean follower audit", func() bool { return counterValue(t, f.m.audits.WithLabelValues("clean")) == 1 })
	if full := counterValue(t, f.m.audits.WithLabelValues("full")); full != 0 {
		t.Fatalf("the follower's audit of an unchanged switch recompiled (%v full audits)", full)
	}
	br.mu.Lock()
	for k := range br.flows {
		delete(br.flows, k)
		break
	}
	br.mu.Unlock()
	f.Audit()
	waitCond(t, 5*time.Second, "the follower notices drift", func() bool { return f.status("hv1").Sync == SyncPending })
	if got := br.flowCount(); got != want-1 {
		t.Fatalf("the follower wrote to the switch: %d flows, want %d", got, want-1)
	}
	if mods := br.modCount(); mods["flow add"] != want {
		t.Fatalf("mods %v: only the leader's %d adds expected", mods, want)
	}
}
