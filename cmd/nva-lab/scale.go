package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/internal/fleet"
	"github.com/nva-project/nva/web/wire"
)

// scaleConfig is one run of the fleet harness at one size.
type scaleConfig struct {
	Bin         string
	Layout      fleet.Layout
	Nodes       int           // 1 or 3
	Attaches    int           // single attaches timed
	Idle        time.Duration // the at-rest measurement
	SyncTimeout time.Duration // bound on every wait for the fleet to be in sync
	LogLevel    string        // nva's --log-level
	NVAArgs     []string      // extra flags for the first nva node (e.g. --debug-addr for profiles)
	// FollowerArgs are extra flags for the second node of a cluster
	// (a follower until a failover; e.g. --debug-addr to profile one).
	FollowerArgs []string
	Dir          string // data dirs, logs, sockets
	Logf         func(string, ...any)
	// FleetCmd is the command line of the fleet's own process (nil:
	// this program's hidden fleet command, fleetCommand).
	FleetCmd []string
}

// phaseResult is one row of a size's table.
type phaseResult struct {
	Name    string
	Elapsed time.Duration // the phase's own figure (time to sync, load time, ...)
	Detail  string        // e.g. attach percentiles, ports/s
	Err     error         // the phase did not reach its goal
	// Over the phase, from the nva node(s) and the fleet:
	CPU        []float64 // percent of one core, per node (leader first)
	RSS, HWM   int64     // leader, at the end
	Goroutines int       // leader, at the end (-1: unknown)
	FlowMods   uint64    // flow and group mods the switches received
	Dropped    uint64    // connections the switches lost without the fleet closing them
	// OVSDBDropped counts nva's OVSDB sessions that ended (ovs NVEs; a
	// planned restart's are not counted).
	OVSDBDropped uint64
	MaxSilence   time.Duration
	Load         string
	// SchedP99 and SchedMax bound how long the harness's runnable
	// goroutines waited to run during the phase (p99 and the largest
	// bucket; -1: unknown), a delay every figure it times includes.
	SchedP99, SchedMax time.Duration
}

// scaleResult is everything measured at one size.
type scaleResult struct {
	Layout fleet.Layout
	Nodes  int
	Phases []phaseResult
	// Correctness (the small-fleet check asserts these):
	TableMismatches []string        // NVEs whose switch differs from nva's desired state
	Verified        int             // switches compared with nva's flow report
	AttachLatencies []time.Duration // sorted
	AttachFailed    int
	AttachFirstErr  error
	FlowsPerSwitch  int // flows + groups of NVE 0's switch after the initial sync
	// FleetCPU is the fleet process's CPU over the run, HarnessCPU this
	// process's (the REST client and the timing), in percent of a core
	// (-1: unknown).
	FleetCPU, HarnessCPU float64
}

func (r *scaleResult) phase(name string) *phaseResult {
	for i := range r.Phases {
		if r.Phases[i].Name == name {
			return &r.Phases[i]
		}
	}
	return nil
}

// scaleRun is the state of one run.
type scaleRun struct {
	cfg    scaleConfig
	nodes  []*nvaNode
	fl     *fleet.Remote // the fleet, in its own process
	res    *scaleResult
	rev    uint64 // the revision every NVE must have realized
	logf   func(string, ...any)
	pollIv time.Duration
	// lastSync is the latest last_sync among the NVEs in sync at the
	// last full poll; pollLag is how long after the fleet came in sync
	// (by that clock) the last waitSync saw it (see syncedAt).
	lastSync time.Time
	pollLag  time.Duration
}

func scale(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("scale", flag.ContinueOnError)
	fs.SetOutput(stderr)
	nvaPath := fs.String("nva", "", "nva binary (default: build cmd/nva into a temporary directory)")
	sizes := fs.String("nves", "10,100", "comma-separated fleet sizes (numbers of NVEs), each run with a fresh nva")
	kind := fs.String("kind", "ovs", "NVE kind: ovs (simulated Open vSwitch with an OVSDB server each) or openflow (strict OpenFlow 1.3 switches)")
	ports := fs.Int("ports", 20, "tenant ports per NVE")
	span := fs.Int("span", 10, "NVEs each VN spans (one VN per NVE)")
	nodes := fs.Int("nodes", 1, "nva nodes: 1, or 3 for a cluster (adds the leader-failover phase)")
	attaches := fs.Int("attaches", 20, "single port attaches timed with ?wait=realized")
	idle := fs.Duration("idle", 10*time.Second, "how long nva's CPU at rest is measured")
	syncTimeout := fs.Duration("sync-timeout", 5*time.Minute, "bound on each wait for every switch to be in sync")
	logLevel := fs.String("nva-log-level", "info", "nva's --log-level")
	nvaArgs := fs.String("nva-args", "", "extra space-separated flags for the first nva node, e.g. \"--debug-addr 127.0.0.1:6060\" to take heap or CPU profiles during a run")
	followerArgs := fs.String("follower-args", "", "with -nodes 3: extra space-separated flags for the second nva node, which joins as a follower (an election under load can still make it leader: its profile shows raft handleConn on a follower, audits on the leader), e.g. \"--debug-addr 127.0.0.1:6061\" to profile a follower at rest")
	fleetDebug := fs.String("fleet-debug-addr", "", "serve the fleet process's Go profiles (/debug/pprof/) on this loopback HOST:PORT, e.g. 127.0.0.1:6070 (the fleet runs in a process of its own)")
	keep := fs.Bool("keep", false, "keep the data directories and nva's logs (printed at the end)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var ns []int
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 5000 {
			return fmt.Errorf("-nves: %q is not a number of NVEs between 1 and 5000", s)
		}
		ns = append(ns, n)
	}
	if *nodes != 1 && *nodes != 3 {
		return fmt.Errorf("-nodes: %d; want 1 or 3", *nodes)
	}
	if *attaches < 0 || *attaches > 1000 {
		return fmt.Errorf("-attaches: %d is not between 0 and 1000", *attaches)
	}
	logger := log.New(stderr, "scale: ", log.Ltime|log.Lmicroseconds)
	bin, cleanBin, err := nvaBinary(ctx, *nvaPath, logger.Printf)
	if err != nil {
		return err
	}
	defer cleanBin()
	var fleetCmd []string
	if *fleetDebug != "" {
		if _, err := netip.ParseAddrPort(*fleetDebug); err != nil {
			return fmt.Errorf("-fleet-debug-addr: %w", err)
		}
		if fleetCmd, err = fleetCommand("-debug-addr", *fleetDebug); err != nil {
			return err
		}
	}
	var results []*scaleResult
	for _, n := range ns {
		dir, err := os.MkdirTemp("", "nva-scale")
		if err != nil {
			return err
		}
		sp := min(*span, n) // a small fleet: the largest span that divides the ports
		for sp > 1 && *ports%sp != 0 {
			sp--
		}
		cfg := scaleConfig{
			Bin: bin, Nodes: *nodes, Attaches: *attaches, Idle: *idle, SyncTimeout: *syncTimeout,
			LogLevel: *logLevel, NVAArgs: strings.Fields(*nvaArgs), FollowerArgs: strings.Fields(*followerArgs), Dir: dir, Logf: logger.Printf,
			FleetCmd: fleetCmd,
			Layout:   fleet.Layout{NVEs: n, PortsPerNVE: *ports, Span: sp, Kind: model.NVEKind(*kind), SparePorts: (*attaches + n - 1) / n},
		}
		if err := cfg.Layout.Check(); err != nil {
			return err
		}
		logger.Printf("=== %d NVEs (%s, %d ports each, VNs spanning %d), %d node(s); work dir %s", n, *kind, *ports, cfg.Layout.Span, *nodes, dir)
		res, err := runScale(ctx, cfg)
		if res != nil {
			printPhases(stdout, res)
			results = append(results, res)
		}
		if !*keep {
			os.RemoveAll(dir)
		} else {
			logger.Printf("kept %s", dir)
		}
		if err != nil {
			printSummary(stdout, results)
			return fmt.Errorf("%d NVEs: %w", n, err)
		}
	}
	printSummary(stdout, results)
	return nil
}

// runScale runs every phase at one size. A phase that misses its goal is
// recorded in its row and the run goes on; an error is returned only when
// the run cannot go on.
func runScale(ctx context.Context, cfg scaleConfig) (*scaleResult, error) {
	r := &scaleRun{cfg: cfg, logf: cfg.Logf, res: &scaleResult{Layout: cfg.Layout, Nodes: cfg.Nodes, FleetCPU: -1, HarnessCPU: -1}}
	if r.logf == nil {
		r.logf = func(string, ...any) {}
	}
	// How often the NVE list is read while waiting for the fleet to be in
	// sync: each read costs nva a status per NVE, so less often for a
	// large fleet (50 ms + 1 ms per NVE, at most 1s).
	r.pollIv = min(time.Second, time.Duration(50+cfg.Layout.NVEs)*time.Millisecond)
	defer r.close()
	if err := r.startNodes(ctx); err != nil {
		return nil, err
	}
	var ofAddrs []string
	for _, n := range r.nodes {
		ofAddrs = append(ofAddrs, n.openflow)
	}
	argv := cfg.FleetCmd
	if len(argv) == 0 {
		var err error
		if argv, err = fleetCommand(); err != nil {
			return nil, err
		}
	}
	// The fleet runs in a process of its own, so that its goroutines do
	// not delay this one's REST calls and timing. Its log (libovsdb's
	// server logs every update it cannot deliver to a closed session,
	// nva restarting) goes into the work directory with nva's logs.
	fl, err := fleet.StartRemote(ctx, argv, filepath.Join(cfg.Dir, "fleet.log"), cfg.Layout, ofAddrs, cfg.Dir)
	if err != nil {
		return nil, err
	}
	r.fl = fl
	r.logf("fleet process %d: %d switches", fl.Pid(), cfg.Layout.NVEs)
	fleetCPU0, fleetErr := fleet.ReadProc(fl.Pid())
	selfCPU0, selfErr := fleet.ReadProc(os.Getpid())

	if err := r.bulkLoad(ctx); err != nil {
		return r.res, err
	}
	r.initialSync(ctx)
	r.verifyTables(ctx)
	r.attaches(ctx)
	r.idle(ctx)
	r.restart(ctx, "warm restart", false)
	r.restart(ctx, "cold restart", true)
	if cfg.Nodes > 1 {
		r.failover(ctx)
	}
	if fleetCPU1, err := fleet.ReadProc(fl.Pid()); err == nil && fleetErr == nil {
		r.res.FleetCPU = fleet.CPUPercent(fleetCPU0, fleetCPU1)
	}
	if selfCPU1, err := fleet.ReadProc(os.Getpid()); err == nil && selfErr == nil {
		r.res.HarnessCPU = fleet.CPUPercent(selfCPU0, selfCPU1)
	}
	if err := r.fl.Err(); err != nil {
		return r.res, err
	}
	return r.res, ctx.Err()
}

func (r *scaleRun) close() {
	if r.fl != nil {
		r.fl.Close()
	}
	for _, n := range r.nodes {
		n.stop(false)
	}
}

func (r *scaleRun) startNodes(ctx context.Context) error {
	for i := 0; i < r.cfg.Nodes; i++ {
		n, err := newNVANode(fmt.Sprintf("n%d", i+1), r.cfg.Bin, r.cfg.Dir, r.cfg.LogLevel)
		if err != nil {
			return err
		}
		if i == 0 {
			// Flags with an address (--debug-addr) would collide on
			// the other nodes: they go to the first one only.
			n.extraArgs = append(n.extraArgs, r.cfg.NVAArgs...)
		}
		if i == 1 {
			n.extraArgs = append(n.extraArgs, r.cfg.FollowerArgs...)
		}
		if r.cfg.Nodes > 1 {
			if i == 0 {
				n.bootstrap = true
			} else {
				n.join = "http://" + r.nodes[0].api
			}
		}
		r.nodes = append(r.nodes, n)
		if err := n.start(ctx); err != nil {
			return err
		}
		if i == 0 {
			if _, err := r.waitLeader(ctx, leaderTimeout); err != nil {
				return err
			}
		}
	}
	if r.cfg.Nodes > 1 { // every member joined and sees the leader
		deadline := time.Now().Add(60 * time.Second)
		for {
			var view wire.ClusterView
			err := r.nodes[0].client.Do(ctx, http.MethodGet, "/api/v1/cluster", nil, &view)
			if err == nil && len(view.Nodes) == r.cfg.Nodes {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("cluster of %d did not form in 60s (last: %v, %d members)", r.cfg.Nodes, err, len(view.Nodes))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return nil
}

// leader is the running node that says it leads (nil: none); a single
// node is its own leader while it runs (asking a starved node could take
// longer than the question is worth).
func (r *scaleRun) leader(ctx context.Context) *nvaNode {
	if len(r.nodes) == 1 {
		if r.nodes[0].running() {
			return r.nodes[0]
		}
		return nil
	}
	for _, n := range r.nodes {
		if !n.running() {
			continue
		}
		hctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		h, err := n.client.Health(hctx)
		cancel()
		if err == nil && h.IsLeader {
			return n
		}
	}
	return nil
}

// leaderTimeout bounds every wait for a cluster to have a leader.
const leaderTimeout = 60 * time.Second

func (r *scaleRun) waitLeader(ctx context.Context, timeout time.Duration) (*nvaNode, error) {
	deadline := time.Now().Add(timeout)
	for {
		if l := r.leader(ctx); l != nil {
			return l, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no leader after %s", timeout)
		}
		if !sleepCtx(ctx, 50*time.Millisecond) {
			return nil, ctx.Err()
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// --- measuring a phase ------------------------------------------------------

type meter struct {
	r     *scaleRun
	name  string
	start time.Time
	procs map[*nvaNode]procBase
	sw    fleet.SwitchStats
	ovsdb uint64 // OVSDB sessions ended before the phase
	sched *metrics.Float64Histogram
}

// procBase is a node's process at the start of a phase.
type procBase struct {
	pid int
	s   fleet.ProcSample
}

func (r *scaleRun) begin(name string) *meter {
	r.logf("phase %s", name)
	r.fl.ResetSilence()
	m := &meter{r: r, name: name, start: time.Now(), procs: map[*nvaNode]procBase{}, sw: r.fl.Totals(), sched: schedSample()}
	_, m.ovsdb = r.fl.OVSDBSessions()
	for _, n := range r.nodes {
		if p := n.pid(); p != 0 {
			if s, err := fleet.ReadProc(p); err == nil {
				m.procs[n] = procBase{p, s}
			}
		}
	}
	return m
}

// end records the phase's row; elapsed is its own figure (0: the meter's
// wall time).
func (m *meter) end(ctx context.Context, elapsed time.Duration, detail string, err error) *phaseResult {
	r := m.r
	if elapsed == 0 {
		elapsed = time.Since(m.start)
	}
	if err == nil {
		err = r.fl.Lost() // the figures from the fleet are missing
	}
	sched := schedSample()
	p := phaseResult{Name: m.name, Elapsed: elapsed, Detail: detail, Err: err, Goroutines: -1, Load: fleet.LoadAvg(),
		SchedP99: schedQuantile(m.sched, sched, 0.99), SchedMax: schedQuantile(m.sched, sched, 1)}
	lead := r.leader(ctx)
	order := slices.Clone(r.nodes)
	if lead != nil {
		slices.SortStableFunc(order, func(a, b *nvaNode) int {
			switch {
			case a == lead:
				return -1
			case b == lead:
				return 1
			}
			return 0
		})
	}
	for _, n := range order {
		b, ok := m.procs[n]
		pid := n.pid()
		if pid == 0 {
			p.CPU = append(p.CPU, -1)
			continue
		}
		s0 := b.s
		if !ok || b.pid != pid {
			// Restarted during the phase: measure from its start.
			s0 = fleet.ProcSample{At: n.started}
		}
		s1, err := fleet.ReadProc(pid)
		if err != nil {
			p.CPU = append(p.CPU, -1)
			continue
		}
		p.CPU = append(p.CPU, fleet.CPUPercent(s0, s1))
		if n == order[0] {
			p.RSS, p.HWM = s1.RSS, s1.HWM
			gctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			if g, err := n.client.Goroutines(gctx); err == nil {
				p.Goroutines = g
			}
			cancel()
		}
	}
	sw := r.fl.Totals()
	p.FlowMods = sw.FlowMods + sw.GroupMods - m.sw.FlowMods - m.sw.GroupMods
	p.Dropped = sw.Dropped - m.sw.Dropped
	_, ended := r.fl.OVSDBSessions()
	p.OVSDBDropped = ended - m.ovsdb
	p.MaxSilence = sw.MaxSilence
	if err != nil {
		r.logf("phase %s: %s %s: FAIL: %v", m.name, roundDur(p.Elapsed), p.Detail, err)
	} else {
		r.logf("phase %s: %s %s", m.name, roundDur(p.Elapsed), p.Detail)
	}
	r.res.Phases = append(r.res.Phases, p)
	return &r.res.Phases[len(r.res.Phases)-1]
}

// --- the phases ---------------------------------------------------------------

func (r *scaleRun) client(ctx context.Context) *fleet.Client {
	if l := r.leader(ctx); l != nil {
		return l.client
	}
	for _, n := range r.nodes {
		if n.running() {
			return n.client
		}
	}
	return r.nodes[0].client
}

func (r *scaleRun) bulkLoad(ctx context.Context) error {
	m := r.begin("bulk load")
	batches, err := r.cfg.Layout.BatchItems(r.fl.OVSDBEndpoint, wire.MaxBatchItems)
	if err != nil {
		return err
	}
	// Encoded before the clock starts: the client's JSON work is not
	// nva's.
	bodies := make([]json.RawMessage, len(batches))
	for i, b := range batches {
		if bodies[i], err = fleet.EncodeBatch(b); err != nil {
			return err
		}
	}
	items, retries := 0, 0
	start := time.Now()
	for i, b := range batches {
		bstart := time.Now()
		rev, n, err := r.client(ctx).BatchEncoded(ctx, fmt.Sprintf("nva-scale-%d-%d", start.UnixNano(), i), bodies[i], 30)
		retries += n
		if err != nil {
			m.end(ctx, 0, "", fmt.Errorf("batch %d of %d: %w", i+1, len(batches), err))
			return fmt.Errorf("bulk load: batch %d of %d: %w", i+1, len(batches), err)
		}
		r.rev = max(r.rev, rev)
		items += len(b)
		r.logf("bulk load: batch %d of %d, %d items, committed in %s", i+1, len(batches), len(b), time.Since(bstart).Round(time.Millisecond))
	}
	el := time.Since(start)
	ports := r.cfg.Layout.NVEs * r.cfg.Layout.PortsPerNVE
	detail := fmt.Sprintf("%d items in %d batch(es), %.0f ports/s", items, len(batches), float64(ports)/el.Seconds())
	if retries > 0 {
		detail += fmt.Sprintf(", %d retries after 503", retries)
	}
	m.end(ctx, el, detail, nil)
	return nil
}

// nveInSync reports whether an NVE has realized r.rev with its switch
// connected and nothing pending.
func (r *scaleRun) nveInSync(n wire.NVEView) bool {
	st := n.Status
	return st != nil && st.OpenFlow != nil && st.OpenFlow.Connected && st.OpenFlow.Sync == model.SyncInSync && st.OpenFlow.RealizedRevision >= r.rev
}

// nveExample names an NVE for the log, with its status's summary.
func nveExample(n wire.NVEView) string {
	if n.Status != nil {
		return n.Name + ": " + n.Status.Summary
	}
	return n.Name
}

// fewLaggards is how many NVEs not yet in sync are polled one by one
// (GET /api/v1/nves/NAME) instead of reading the whole list: a status costs
// nva about the same either way, so with few left a poll costs it a few
// statuses instead of the fleet's, and can come often.
func fewLaggards(nves int) int { return min(50, max(1, nves/4)) }

// laggardPollIv is how often the NVEs not yet in sync are polled one by
// one (50 ms, plus 2 ms per NVE polled).
func laggardPollIv(laggards int) time.Duration {
	return time.Duration(50+2*laggards) * time.Millisecond
}

// inSync reports whether every NVE has realized r.rev with its switch
// connected, which NVEs have not (nil: unknown), and one of them for the
// log. laggards are the NVEs the previous poll found behind (nil: not
// known): when they are few, only they are read, one by one, and once all
// of them are in sync the whole list is read to confirm that every NVE is.
// So "in sync" is always a read of the whole list, as before; only the
// reads while a few NVEs are behind are cheaper, and can come more often.
func (r *scaleRun) inSync(ctx context.Context, laggards []string) (bool, []string, string) {
	lead := r.leader(ctx)
	if lead == nil {
		return false, nil, "no leader"
	}
	if laggards != nil && len(laggards) <= fewLaggards(r.cfg.Layout.NVEs) {
		var still []string
		example := ""
		for _, name := range laggards {
			var v wire.NVEView
			qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			err := lead.client.Do(qctx, http.MethodGet, "/api/v1/nves/"+url.PathEscape(name), nil, &v)
			cancel()
			if err != nil || !r.nveInSync(v) {
				still = append(still, name)
				if example == "" {
					example = nveExample(v)
					if err != nil {
						example = name + ": " + err.Error()
					}
				}
			}
		}
		if len(still) > 0 {
			return false, still, example
		}
	}
	qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	nves, err := lead.client.NVEs(qctx)
	cancel()
	if err != nil {
		return false, nil, err.Error()
	}
	behind, example := []string{}, ""
	seen := 0
	var last time.Time
	for _, n := range nves {
		seen++
		if !r.nveInSync(n) {
			behind = append(behind, n.Name)
			if example == "" {
				example = nveExample(n)
			}
			continue
		}
		if t := n.Status.OpenFlow.LastSync; t != nil && t.After(last) {
			last = *t
		}
	}
	if seen < r.cfg.Layout.NVEs {
		// NVEs missing from the list: not known by name, so the next
		// poll reads the whole list again.
		return false, nil, fmt.Sprintf("%d NVEs missing from the list", r.cfg.Layout.NVEs-seen)
	}
	r.lastSync = last
	return len(behind) == 0, behind, example
}

// seenText says, after a waitSync, how much later its poll saw the fleet
// in sync than nva's clock puts it.
func (r *scaleRun) seenText(err error) string {
	if err != nil || r.pollLag <= 0 {
		return ""
	}
	return fmt.Sprintf("; seen by a poll %s later", roundDur(r.pollLag))
}

// syncedAt is when the fleet came in sync by nva's clock: the latest
// last_sync of the NVEs the final poll read (every NVE's switch was in
// sync from its last successful reconciliation on), when that lies between
// start and seen, the time the poll saw it. A later reconciliation (an
// audit) only moves it later, so it never reports the fleet in sync
// before it was; what it removes is the wait between polls, which is up
// to a second at 1,000 NVEs. Without a usable time (a phase that changed
// nothing on any switch, or a status without last_sync) it is seen.
func syncedAt(start, last, seen time.Time) time.Time {
	if last.After(start) && last.Before(seen) {
		return last
	}
	return seen
}

// waitSync waits until every NVE is in sync at r.rev and every switch has
// at least minConns controller connections and, when connects > 0, the
// fleet completed that many handshakes in total.
func (r *scaleRun) waitSync(ctx context.Context, start time.Time, minConns int, connects uint64) (time.Duration, error) {
	deadline := start.Add(r.cfg.SyncTimeout)
	lastLog := time.Now()
	var laggards []string // the NVEs the last poll found behind (nil: unknown)
	for {
		conn := r.fl.Connected(minConns)
		if err := r.fl.Lost(); err != nil {
			return time.Since(start), err
		}
		tot := r.fl.Totals()
		iv := r.pollIv
		if conn == r.cfg.Layout.NVEs && tot.Connects >= connects {
			ok, lag, ex := r.inSync(ctx, laggards)
			if ok {
				seen := time.Now()
				at := syncedAt(start, r.lastSync, seen)
				r.pollLag = seen.Sub(at)
				return at.Sub(start), nil
			}
			laggards = lag
			if laggards != nil && len(laggards) <= fewLaggards(r.cfg.Layout.NVEs) {
				iv = laggardPollIv(len(laggards))
			}
			behind := len(lag)
			if lag == nil {
				behind = r.cfg.Layout.NVEs
			}
			if time.Since(lastLog) > 10*time.Second {
				r.logf("  %d NVEs not in sync yet (e.g. %s)", behind, ex)
				lastLog = time.Now()
			}
			if time.Now().After(deadline) {
				return time.Since(start), fmt.Errorf("%d NVEs not in sync after %s (e.g. %s)", behind, r.cfg.SyncTimeout, ex)
			}
		} else {
			if time.Since(lastLog) > 10*time.Second {
				r.logf("  %d of %d switches connected", conn, r.cfg.Layout.NVEs)
				lastLog = time.Now()
			}
			if time.Now().After(deadline) {
				err := fmt.Errorf("only %d of %d switches connected after %s (%d handshakes so far)", conn, r.cfg.Layout.NVEs, r.cfg.SyncTimeout, tot.Connects)
				if conn == r.cfg.Layout.NVEs {
					err = fmt.Errorf("%d handshakes after %s, want %d: not every switch reconnected", tot.Connects, r.cfg.SyncTimeout, connects)
				}
				return time.Since(start), err
			}
		}
		if !sleepCtx(ctx, iv) {
			return time.Since(start), ctx.Err()
		}
	}
}

func (r *scaleRun) initialSync(ctx context.Context) {
	m := r.begin("initial sync")
	el, err := r.waitSync(ctx, m.start, 1, 0)
	flows, groups := r.fl.Tables()
	m.end(ctx, el, fmt.Sprintf("%d flows, %d groups on the switches%s", flows, groups, r.seenText(err)), err)
}

// verifySample is how many switches verifyTables compares at most (a
// flow report costs nva about as much as a reconciliation): all of a
// small fleet, an even sample of a large one.
const verifySample = 50

// verifyBudget bounds the comparison when nva answers slowly.
const verifyBudget = 2 * time.Minute

// verifyTables compares switches with nva's flow report of their NVE: nva
// must report it in sync, and the switch must hold exactly as many flows
// and groups as nva desires.
func (r *scaleRun) verifyTables(ctx context.Context) {
	c := r.client(ctx)
	n := r.cfg.Layout.NVEs
	step := max(1, (n+verifySample-1)/verifySample)
	r.res.Verified = 0
	budget := time.Now().Add(verifyBudget)
	for j := 0; j < n; j += step {
		if time.Now().After(budget) {
			r.logf("comparing tables: stopped after %s (%d switches compared): nva answers flow reports too slowly", verifyBudget, r.res.Verified)
			break
		}
		r.res.Verified++
		name := fleet.NVEName(j)
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		rep, err := c.Flows(rctx, name)
		cancel()
		tabs, ferr := r.fl.SwitchTables(ctx, j)
		if ferr != nil {
			r.res.TableMismatches = append(r.res.TableMismatches, fmt.Sprintf("%s: the switch's tables: %v", name, ferr))
			continue
		}
		flows, groups := tabs[0].Flows, tabs[0].Groups
		if j == 0 {
			r.res.FlowsPerSwitch = flows + groups
		}
		if err != nil {
			r.res.TableMismatches = append(r.res.TableMismatches, fmt.Sprintf("%s: %v", name, err))
			continue
		}
		if !rep.Diff.InSync || !rep.InstalledKnown || flows != len(rep.Desired) || groups != len(rep.DesiredGroups) {
			r.res.TableMismatches = append(r.res.TableMismatches, fmt.Sprintf("%s: switch has %d flows and %d groups, nva desires %d and %d (in sync %v, %d missing, %d differ, %d extra)",
				name, flows, groups, len(rep.Desired), len(rep.DesiredGroups), rep.Diff.InSync, len(rep.Diff.Missing), len(rep.Diff.Differ), len(rep.Diff.Extra)))
		}
	}
	if n := len(r.res.TableMismatches); n > 0 {
		r.logf("tables differ from nva's desired state on %d NVEs, e.g. %s", n, r.res.TableMismatches[0])
	}
}

func (r *scaleRun) attaches(ctx context.Context) {
	if r.cfg.Attaches == 0 {
		return
	}
	m := r.begin("attach")
	n := r.cfg.Layout.NVEs
	var lat []time.Duration
	onNVE := map[int]int{} // attaches so far per NVE
	budget := time.Now().Add(r.cfg.SyncTimeout)
	for i := 0; i < r.cfg.Attaches; i++ {
		if time.Now().After(budget) {
			r.res.AttachFailed += r.cfg.Attaches - i
			if r.res.AttachFirstErr == nil {
				r.res.AttachFirstErr = fmt.Errorf("not tried: the phase took more than %s", r.cfg.SyncTimeout)
			}
			r.logf("attach: stopped after %s with %d attaches not tried", r.cfg.SyncTimeout, r.cfg.Attaches-i)
			break
		}
		j := i * n / r.cfg.Attaches // spread evenly over the fleet
		k := onNVE[j]
		onNVE[j]++
		pt := r.cfg.Layout.AttachPort(j, k)
		c := r.client(ctx)
		t0 := time.Now()
		var got model.Port
		actx, cancel := context.WithTimeout(ctx, 90*time.Second)
		err := c.Do(actx, http.MethodPost, "/api/v1/ports?wait=realized&timeout=60s", pt, &got)
		cancel()
		d := time.Since(t0)
		if err != nil {
			r.res.AttachFailed++
			if r.res.AttachFirstErr == nil {
				r.res.AttachFirstErr = fmt.Errorf("attach %s: %w", pt.Name, err)
			}
			continue
		}
		// r.rev stays the load's: an attach is realized by the NVEs it
		// affects (its answer waited for them), and the others, which it
		// does not concern, keep reporting the revision they last
		// realized. Pending work anywhere shows as a sync state other
		// than in_sync, which inSync checks.
		lat = append(lat, d)
	}
	slices.Sort(lat)
	r.res.AttachLatencies = lat
	detail := fmt.Sprintf("%d done", len(lat))
	if len(lat) > 0 {
		detail = fmt.Sprintf("p50 %s p99 %s max %s (%d done)", roundDur(percentile(lat, 0.5)), roundDur(percentile(lat, 0.99)), roundDur(lat[len(lat)-1]), len(lat))
	}
	var err error
	if r.res.AttachFailed > 0 {
		err = fmt.Errorf("%d of %d attaches failed, first: %v", r.res.AttachFailed, r.cfg.Attaches, r.res.AttachFirstErr)
	}
	var total time.Duration
	for _, d := range lat {
		total += d
	}
	m.end(ctx, total, detail, err)
}

func roundDur(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

func (r *scaleRun) idle(ctx context.Context) {
	if r.cfg.Idle <= 0 {
		return
	}
	// Let the attaches' work finish first.
	if _, err := r.waitSync(ctx, time.Now(), 1, 0); err != nil {
		r.logf("before idle: %v", err)
	}
	sleepCtx(ctx, 2*time.Second)
	m := r.begin("idle")
	sleepCtx(ctx, r.cfg.Idle)
	m.end(ctx, 0, "nothing changes", nil)
}

// restart stops the leader and starts it again (in a cluster, another
// node takes over meanwhile); cold also restarts every switch while it is
// down (empty tables, new connections). nva must bring every switch back
// in sync; on a warm restart without a single flow-mod.
func (r *scaleRun) restart(ctx context.Context, name string, cold bool) {
	// The previous phase may have ended with an election still running
	// (a restarted node rejoining a cluster): wait for it.
	lead, err := r.waitLeader(ctx, leaderTimeout)
	if err != nil {
		r.res.Phases = append(r.res.Phases, phaseResult{Name: name, Err: err, Goroutines: -1, SchedP99: -1, SchedMax: -1})
		return
	}
	m := r.begin(name)
	connects := r.fl.Totals().Connects
	lead.stop(false)
	expected := r.settleDisconnects(m)
	if cold {
		r.fl.Restart()
	}
	start := time.Now()
	if err := lead.start(ctx); err != nil {
		m.end(ctx, 0, "", err)
		return
	}
	// The switches of a single node reconnect to it; in a cluster they
	// keep their other connections.
	want := connects + uint64(r.cfg.Layout.NVEs)
	el, err := r.waitSync(ctx, start, r.cfg.Nodes, want)
	mods := m.mods()
	if !cold && err == nil && mods != 0 {
		err = fmt.Errorf("%d flow/group mods on a warm restart, want 0", mods)
	}
	m.end(ctx, el, fmt.Sprintf("%d mods; %d disconnects by the restart not counted%s", mods, expected, r.seenText(err)), err)
}

// mods is how many flow and group mods the switches received since the
// phase began.
func (m *meter) mods() uint64 {
	t := m.r.fl.Totals()
	return t.FlowMods + t.GroupMods - m.sw.FlowMods - m.sw.GroupMods
}

// settleDisconnects waits (at most 10s) until no switch has a connection
// to every node any more, after a node was stopped on purpose, and moves
// the meter's base past the disconnects that caused: they are the
// restart's, not drops. It returns how many there were.
func (r *scaleRun) settleDisconnects(m *meter) uint64 {
	deadline := time.Now().Add(10 * time.Second)
	for r.fl.Connected(r.cfg.Nodes) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // the OVSDB sessions end at the same time
	t := r.fl.Totals()
	n := t.Dropped - m.sw.Dropped
	m.sw.Dropped = t.Dropped
	_, m.ovsdb = r.fl.OVSDBSessions()
	return n
}

// failover kills the leader of a cluster (SIGKILL, a crash) and measures
// until a new leader has every switch in sync; the old leader then comes
// back as a follower.
func (r *scaleRun) failover(ctx context.Context) {
	lead, err := r.waitLeader(ctx, leaderTimeout)
	if err != nil {
		r.res.Phases = append(r.res.Phases, phaseResult{Name: "leader failover", Err: err, Goroutines: -1, SchedP99: -1, SchedMax: -1})
		return
	}
	m := r.begin("leader failover")
	start := time.Now()
	lead.stop(true)
	expected := r.settleDisconnects(m)
	nl, err := r.waitLeader(ctx, leaderTimeout)
	var el time.Duration
	if err == nil {
		el, err = r.waitSync(ctx, start, r.cfg.Nodes-1, 0)
	}
	detail := ""
	if nl != nil {
		detail = "new leader " + nl.id + ", "
	}
	mods := m.mods()
	if err == nil && mods != 0 {
		err = fmt.Errorf("%d flow/group mods on a failover, want 0 (the switches' tables were intact)", mods)
	}
	m.end(ctx, el, detail+fmt.Sprintf("%d mods; %d disconnects by the crash not counted%s", mods, expected, r.seenText(err)), err)
	if err := lead.start(ctx); err != nil {
		r.logf("restarting %s after the failover: %v", lead.id, err)
	}
}

// --- output ---------------------------------------------------------------------

func mib(b int64) string { return fmt.Sprintf("%d MiB", b>>20) }

func cpuText(c []float64) string {
	var parts []string
	for _, v := range c {
		if v < 0 {
			parts = append(parts, "-")
		} else {
			parts = append(parts, fmt.Sprintf("%.0f%%", v))
		}
	}
	return strings.Join(parts, "/")
}

func printPhases(w io.Writer, res *scaleResult) {
	l := res.Layout
	fmt.Fprintf(w, "\n%d NVEs (%s), %d ports each, VNs spanning %d, %d nva node(s); %d flows+groups on NVE 0's switch\n",
		l.NVEs, l.Kind, l.PortsPerNVE, l.Span, res.Nodes, res.FlowsPerSwitch)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PHASE\tTIME\tDETAIL\tNVA CPU\tRSS (PEAK)\tGOROUTINES\tMODS\tDROPPED OF/OVSDB\tMAX SILENCE\tLOAD\tRESULT")
	for _, p := range res.Phases {
		result := "ok"
		if p.Err != nil {
			result = "FAIL: " + p.Err.Error()
		}
		g := "-"
		if p.Goroutines >= 0 {
			g = strconv.Itoa(p.Goroutines)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s (%s)\t%s\t%d\t%d/%d\t%s\t%s\t%s\n", p.Name, roundDur(p.Elapsed), p.Detail, cpuText(p.CPU),
			mib(p.RSS), mib(p.HWM), g, p.FlowMods, p.Dropped, p.OVSDBDropped, roundDur(p.MaxSilence), p.Load, result)
	}
	tw.Flush()
	if n := len(res.TableMismatches); n > 0 {
		fmt.Fprintf(w, "tables differ from nva's desired state on %d NVEs, e.g. %s\n", n, res.TableMismatches[0])
	} else {
		fmt.Fprintf(w, "the tables of the %d switches compared (of %d) match nva's desired state\n", res.Verified, l.NVEs)
	}
	if res.FleetCPU >= 0 {
		fmt.Fprintf(w, "the fleet (its own process) used %.0f%% of a core over the run", res.FleetCPU)
		if res.HarnessCPU >= 0 {
			fmt.Fprintf(w, ", the harness %.0f%%", res.HarnessCPU)
		}
		fmt.Fprintln(w)
	}
	if t := schedText(res); t != "" {
		fmt.Fprintf(w, "the harness's goroutines waited to run at most (p99/max): %s\n", t)
	}
}

func printSummary(w io.Writer, results []*scaleResult) {
	if len(results) == 0 {
		return
	}
	fmt.Fprintln(w, "\nSummary (times: until every switch is in sync, by the NVEs' last_sync; CPU in % of one core, leader first)")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NVEs\tbulk load\tinitial sync\tattach p50 / p99 / max\tCPU at rest\tRSS (peak)\tgoroutines\twarm restart (mods)\tcold restart\tfailover\tdropped OF/OVSDB\tload")
	for _, res := range results {
		get := func(name string) string {
			p := res.phase(name)
			if p == nil {
				return "-"
			}
			s := roundDur(p.Elapsed).String()
			if p.Err != nil {
				s += " FAIL"
			}
			return s
		}
		att := "-"
		if l := res.AttachLatencies; len(l) > 0 {
			att = fmt.Sprintf("%s / %s / %s", roundDur(percentile(l, 0.5)), roundDur(percentile(l, 0.99)), roundDur(l[len(l)-1]))
			if res.AttachFailed > 0 {
				att += fmt.Sprintf(" (%d failed)", res.AttachFailed)
			}
		}
		idle, rss, gor := "-", "-", "-"
		if p := res.phase("idle"); p != nil {
			idle = cpuText(p.CPU)
			rss = fmt.Sprintf("%s (%s)", mib(p.RSS), mib(p.HWM))
			gor = strconv.Itoa(p.Goroutines)
		}
		warm := get("warm restart")
		if p := res.phase("warm restart"); p != nil {
			warm += fmt.Sprintf(" (%d)", p.FlowMods)
		}
		var dropped, ovsdbDropped uint64
		load := ""
		for _, p := range res.Phases {
			dropped += p.Dropped
			ovsdbDropped += p.OVSDBDropped
			load = p.Load
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d/%d\t%s\n", res.Layout.NVEs, get("bulk load"), get("initial sync"), att, idle, rss, gor,
			warm, get("cold restart"), get("leader failover"), dropped, ovsdbDropped, load)
	}
	tw.Flush()
}
