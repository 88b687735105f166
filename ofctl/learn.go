package ofctl

import (
	"context"
	"encoding/binary"
	"net"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/pipeline"
	"github.com/nva-project/nva/ofctl/conn"
)

// MAC learning on L2 gateway segments (app/compiler/segment.go). The
// classify stage sends the controller the headers (compiler.LearnMaxLen
// bytes, still tagged) of every frame from a segment port whose source
// MAC is not learned there, and forwards the frame itself in the switch.
// The leader takes those packet-ins (only the leader writes: a follower
// counts them as not_leader), and:
//
//   - rate-limits them per switch (a token bucket, Config.LearnRate and
//     LearnBurst): until the store has the MAC and the switch its
//     learned-source flow, every frame of a new host is punted; and a MAC
//     that stays a conflict (a known port's MAC seen on the segment) is
//     punted for as long as it sends. Past the rate the packet-ins are
//     dropped and counted (nva_learn_packet_ins_total{result="rate"}); the
//     frames themselves were forwarded already;
//   - finds the segment port by (NVE, in_port, VLAN in the frame), skips
//     group source MACs, and suppresses a (VN, MAC, segment) it queued in
//     the last learnSuppress;
//   - queues it; every learnFlush the queue of each NVE goes to the store
//     as one model.LearnedReport (at most model.MaxLearnedBatch MACs each)
//     through Config.Learn, with the time it was flushed.
//
// Refresh: a MAC learned on a segment is forwarded without punts, so the
// leader re-reports the ones still sending every Config.LearnRefresh:
// it reads the packet counts of the learned-source flows (classify,
// compiler.PrioLearnedSrc) of every switch whose NVE learned MACs, and
// reports those whose count moved since the last read (a flow replaced
// meanwhile starts again from 0, which counts as moved). The store ages
// out what is not reported within the daemon's --learned-age, which must
// exceed the refresh interval (the daemon checks).

// LearnSink receives the MACs learned on segments, in batches (the daemon
// writes them to the store, which forwards to the leader).
type LearnSink interface {
	ReportLearned(ctx context.Context, r model.LearnedReport) (uint64, error)
}

// Learning defaults.
const (
	DefaultLearnRate    = 200.0
	DefaultLearnBurst   = 400
	DefaultLearnRefresh = time.Minute
	learnFlush          = 100 * time.Millisecond
	learnSuppress       = time.Second
)

// Results of a learning packet-in (nva_learn_packet_ins_total{result}).
const (
	learnQueued     = "queued"     // queued for the next report
	learnSuppressed = "suppressed" // queued or reported within learnSuppress
	learnRate       = "rate"       // over the switch's rate
	learnNoSegment  = "no_segment" // no segment port at (in_port, VLAN)
	learnBadFrame   = "bad_frame"  // too short, or a group source MAC
)

// learner is the southbound's learning state.
type learner struct {
	mu      sync.Mutex
	buckets map[uint64]*tokenBucket                // by datapath ID
	pending map[string]map[string]model.LearnedMAC // NVE -> key -> MAC
	recent  map[string]time.Time                   // NVE/VN/MAC/via -> last queued
	packets map[string]map[uint64]uint64           // NVE -> learned-source flow cookie -> packets last read

	ins     *prometheus.CounterVec
	reports *prometheus.CounterVec
	macs    prometheus.Counter
}

func newLearner() *learner {
	l := &learner{buckets: map[uint64]*tokenBucket{}, pending: map[string]map[string]model.LearnedMAC{},
		recent: map[string]time.Time{}, packets: map[string]map[uint64]uint64{},
		ins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nva_learn_packet_ins_total",
			Help: "Learning packet-ins from L2 gateway segments taken by the leader, by result (queued, suppressed: queued within the last second, rate: over the switch's learning rate, no_segment, bad_frame).",
		}, []string{"result"}),
		reports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nva_learn_reports_total",
			Help: "Batches of learned MACs written to the store, by result (ok, error).",
		}, []string{"result"}),
		macs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nva_learn_reported_macs_total",
			Help: "MACs reported to the store as seen on L2 gateway segments (new and refreshed).",
		}),
	}
	for _, r := range []string{learnQueued, learnSuppressed, learnRate, learnNoSegment, learnBadFrame} {
		l.ins.WithLabelValues(r)
	}
	return l
}

func (l *learner) collectors() []prometheus.Collector {
	return []prometheus.Collector{l.ins, l.reports, l.macs}
}

// tokenBucket allows rate events per second with bursts of burst.
type tokenBucket struct {
	tokens float64
	last   time.Time
}

func (b *tokenBucket) take(now time.Time, rate float64, burst int) bool {
	if b.last.IsZero() {
		b.tokens = float64(burst)
	} else if d := now.Sub(b.last).Seconds(); d > 0 {
		b.tokens = min(float64(burst), b.tokens+d*rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// isLearnPunt reports whether a packet-in came from the classify stage of
// nve's profile (only the segments' learning flows punt there).
func (s *Southbound) isLearnPunt(snap *model.Snapshot, nve string, pi conn.PacketIn) bool {
	prof, err := profileOf(snap, nve)
	if err != nil {
		return false
	}
	no, ok := prof.Number(pipeline.Classify)
	return ok && pi.TableID == no
}

// onLearnPacketIn takes a learning packet-in from nve's switch sw.
func (s *Southbound) onLearnPacketIn(snap *model.Snapshot, nve string, sw *conn.Switch, pi conn.PacketIn) {
	l := s.learn
	now := s.cfg.Now()
	l.mu.Lock()
	b := l.buckets[sw.DPID()]
	if b == nil {
		b = &tokenBucket{}
		l.buckets[sw.DPID()] = b
	}
	ok := b.take(now, s.cfg.LearnRate, s.cfg.LearnBurst)
	l.mu.Unlock()
	if !ok {
		s.learn.ins.WithLabelValues(learnRate).Inc()
		return
	}
	src, vlan, ok := learnFrame(pi.Data)
	if !ok {
		s.learn.ins.WithLabelValues(learnBadFrame).Inc()
		return
	}
	var seg *model.Port
	ports := s.portNumbers(sw, nve)
	for _, p := range snap.PortsOn(nve) {
		if p.IsSegment() && p.VLAN == vlan && ports[p.Interface] == pi.Match.InPort && pi.Match.InPort != 0 {
			seg = p
			break
		}
	}
	if seg == nil {
		s.learn.ins.WithLabelValues(learnNoSegment).Inc()
		return
	}
	s.learn.ins.WithLabelValues(s.queueLearned(nve, model.LearnedMAC{VN: seg.VN, MAC: src.String(), Via: seg.Name}, now)).Inc()
}

// queueLearned queues one MAC for nve's next report unless it was queued
// within learnSuppress; it returns the packet-in's result.
func (s *Southbound) queueLearned(nve string, m model.LearnedMAC, now time.Time) string {
	l := s.learn
	l.mu.Lock()
	defer l.mu.Unlock()
	key := nve + "/" + m.VN + "/" + m.MAC + "/" + m.Via
	if t, ok := l.recent[key]; ok && now.Sub(t) < learnSuppress {
		return learnSuppressed
	}
	l.recent[key] = now
	q := l.pending[nve]
	if q == nil {
		q = map[string]model.LearnedMAC{}
		l.pending[nve] = q
	}
	q[key] = m
	return learnQueued
}

// learnFrame reads a punted frame's source MAC and VLAN (0: untagged);
// false for a frame too short or a group source MAC.
func learnFrame(data []byte) (net.HardwareAddr, int, bool) {
	if len(data) < 14 {
		return nil, 0, false
	}
	src := net.HardwareAddr(slices.Clone(data[6:12]))
	if model.CheckLearnedMAC(src.String()) != "" {
		return nil, 0, false
	}
	vlan := 0
	if et := binary.BigEndian.Uint16(data[12:14]); et == 0x8100 || et == 0x88a8 {
		if len(data) < 18 {
			return nil, 0, false
		}
		vlan = int(binary.BigEndian.Uint16(data[14:16]) & 0x0fff)
	}
	return src, vlan, true
}

// learnLoop flushes the queued MACs every learnFlush and re-reports the
// MACs still sending every LearnRefresh, while this node is the leader.
func (s *Southbound) learnLoop(ctx context.Context) {
	flush := time.NewTicker(learnFlush)
	defer flush.Stop()
	refresh := time.NewTicker(s.cfg.LearnRefresh)
	defer refresh.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-flush.C:
			s.flushLearned(ctx)
		case <-refresh.C:
			s.refreshLearned(ctx)
			s.flushLearned(ctx)
		}
	}
}

// flushLearned sends each NVE's queued MACs as reports.
func (s *Southbound) flushLearned(ctx context.Context) {
	l := s.learn
	now := s.cfg.Now()
	l.mu.Lock()
	pending := l.pending
	l.pending = map[string]map[string]model.LearnedMAC{}
	for k, t := range l.recent {
		if now.Sub(t) >= learnSuppress {
			delete(l.recent, k)
		}
	}
	l.mu.Unlock()
	s.mu.Lock()
	leader := s.leader
	s.mu.Unlock()
	if !leader || len(pending) == 0 {
		return
	}
	for _, nve := range slices.Sorted(func(yield func(string) bool) {
		for k := range pending {
			if !yield(k) {
				return
			}
		}
	}) {
		q := pending[nve]
		keys := make([]string, 0, len(q))
		for k := range q {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for start := 0; start < len(keys); start += model.MaxLearnedBatch {
			r := model.LearnedReport{NVE: nve, At: now}
			for _, k := range keys[start:min(start+model.MaxLearnedBatch, len(keys))] {
				r.MACs = append(r.MACs, q[k])
			}
			cctx, cancel := context.WithTimeout(ctx, s.cfg.OpTimeout)
			_, err := s.cfg.Learn.ReportLearned(cctx, r)
			cancel()
			if err != nil {
				s.learn.reports.WithLabelValues("error").Inc()
				s.log.Warn("reporting learned MACs", "nve", nve, "macs", len(r.MACs), "err", err)
				continue
			}
			s.learn.reports.WithLabelValues("ok").Inc()
			s.learn.macs.Add(float64(len(r.MACs)))
		}
	}
}

// refreshLearned queues the learned MACs whose learned-source flows
// counted packets since the last read, on every claimed switch whose NVE
// learned MACs through a segment.
func (s *Southbound) refreshLearned(ctx context.Context) {
	s.mu.Lock()
	snap, leader := s.snap, s.leader
	type target struct {
		nve string
		w   *worker
	}
	var targets []target
	for _, w := range s.switches {
		if w.nve != "" {
			targets = append(targets, target{w.nve, w})
		}
	}
	s.mu.Unlock()
	if !leader || snap == nil || len(snap.Learned) == 0 {
		return
	}
	learnedOn := map[string]bool{}
	for _, e := range snap.Learned {
		if e.Via != model.ViaVTEP {
			learnedOn[e.NVE] = true
		}
	}
	now := s.cfg.Now()
	for _, t := range targets {
		if !learnedOn[t.nve] {
			continue
		}
		c := t.w.lastCompile(t.nve)
		prof, err := profileOf(snap, t.nve)
		if c == nil || err != nil {
			continue
		}
		flows := learnedSourceFlows(snap, t.nve, c.res)
		if len(flows) == 0 {
			continue
		}
		table, _ := prof.Number(pipeline.Classify)
		cctx, cancel := context.WithTimeout(ctx, s.cfg.OpTimeout)
		raw, err := t.w.sw.FlowStatsRaw(cctx, table, flow.NVACookie, flow.CookieTagMask)
		cancel()
		if err != nil {
			s.log.Debug("reading learned-source flow counters", "nve", t.nve, "err", err)
			continue
		}
		stats, err := rawFlowCounters(raw)
		if err != nil {
			continue
		}
		s.learn.mu.Lock()
		last := s.learn.packets[t.nve]
		cur := make(map[uint64]uint64, len(flows))
		var moved []model.LearnedMAC
		for _, st := range stats {
			m, ok := flows[st.Cookie]
			if !ok {
				continue
			}
			cur[st.Cookie] = st.Packets
			if prev, seen := last[st.Cookie]; (seen && prev != st.Packets) || (!seen && st.Packets > 0) {
				moved = append(moved, m)
			}
		}
		s.learn.packets[t.nve] = cur
		s.learn.mu.Unlock()
		for _, m := range moved {
			s.queueLearned(t.nve, m, now)
		}
	}
}

// learnedSourceFlows maps the cookies of nve's learned-source flows (in a
// compile's result) to the MAC each one forwards without a punt.
func learnedSourceFlows(snap *model.Snapshot, nve string, res compiler.Result) map[uint64]model.LearnedMAC {
	out := map[uint64]model.LearnedMAC{}
	for _, sl := range res.Slices {
		if sl.VN == "" {
			continue
		}
		for _, f := range sl.Flows {
			if f.Table != pipeline.Classify || f.Priority != compiler.PrioLearnedSrc {
				continue
			}
			mf, ok := f.Match.Get(flow.EthSrc)
			if !ok || len(mf.Value) != 6 {
				continue
			}
			mac := net.HardwareAddr(mf.Value).String()
			e := snap.Learned[model.LearnedKey(sl.VN, mac)]
			if e == nil || e.NVE != nve {
				continue
			}
			out[f.Cookie] = model.LearnedMAC{VN: sl.VN, MAC: mac, Via: e.Via}
		}
	}
	return out
}
