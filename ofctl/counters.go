package ofctl

import (
	"context"
	"encoding/binary"
	"fmt"
	"sort"
	"sync"
	"time"

	"antrea.io/libOpenflow/openflow13"
	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/counters"
	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/model"
	"github.com/prometheus/client_golang/prometheus"
)

// Traffic counters (app/counters) are read on demand. Polling runs while
// someone wants them — WantCounters: a read of the counters API, a
// /metrics scrape of the counter metrics, an events stream that carries
// counters events (all signalled by the web layer) — and for a window
// after the last demand (CounterWindow), and not at all otherwise: at
// rest with nobody looking, the southbound reads no statistics. A demand
// that finds the counters stale (nobody looked for a while) starts a
// round at once that reads every switch (a few at a time), and a caller
// that asks for fresh counters waits for it; while demand lasts, every
// CounterInterval a round reads each connected, claimed switch once,
// spread evenly over the interval in NVE order, so the switches are never
// read all at once.
//
// Reading one switch: its flow statistics (one OFPMP_FLOW request,
// cookie-filtered; the raw entries are not decoded, only their cookie and
// counters read), port statistics and group statistics, attributed with
// an index of the NVE's compiled flows. The index is built from the
// reconciliation's last compile, which the worker publishes
// (compiled.go), and cached per NVE until the worker publishes another
// compile (every change affecting the NVE is recompiled, so a published
// compile is the index's whole input), so counting costs no compile and,
// at rest, no index rebuild. Every member polls the switches connected to
// it when its own API or metrics are asked (they connect to every
// member), so each member answers without forwarding; a follower nobody
// asks reads nothing. The learned-MAC refresh of L2 gateway segments
// (learn.go) reads its learned-source flows' counters on its own, on the
// leader, only on NVEs that learned MACs.

// Counter polling on demand.
const (
	// counterWindowIntervals × CounterInterval (at least
	// minCounterWindow) is how long polling goes on after the last
	// demand: longer than common Prometheus scrape intervals (15 s to
	// 1 min), so a regular scrape keeps the counters fresh.
	counterWindowIntervals = 6
	minCounterWindow       = 2 * time.Minute
	// counterBurst bounds the switches read at once by a round that
	// catches up after idle.
	counterBurst = 8
)

// counterState is the last poll's result per NVE and the demand.
type counterState struct {
	poll  sync.Mutex // serializes poll rounds (PollCounters, countersLoop)
	mu    sync.Mutex
	byNVE map[string]counters.NVE
	round time.Time // when the last complete poll round ended
	// demand is when counters were last wanted (WantCounters); wake
	// (capacity 1) starts an idle countersLoop; done, when not nil, is
	// closed when the next round ends (callers waiting for fresh
	// counters).
	demand time.Time
	wake   chan struct{}
	done   chan struct{}
	// ix caches each NVE's attribution indexes, built from its worker's
	// published compile (dropped when polling goes idle).
	ix map[string]*counterIndex
	// Rounds and switch reads so far (counters_polls_total).
	rounds, reads uint64
}

// counterIndex is what attributes one NVE's statistics, for one
// published compile.
type counterIndex struct {
	c     *compiledNVE
	flows *counters.Index
	bum   *counters.BUMIndex
	kinds map[uint32]string // interface kind by OpenFlow port
	names map[uint32]string // interface name by OpenFlow port
}

// CounterWindow is how long polling continues after the last demand.
func (s *Southbound) CounterWindow() time.Duration {
	return max(counterWindowIntervals*s.cfg.CounterInterval, minCounterWindow)
}

// TrafficCounters returns the counters last read from each NVE connected
// to this node, sorted by NVE, and when the last poll round ended (zero:
// none yet); enabled is false when polling is off (CounterInterval 0).
// It does not signal demand: see WantCounters.
func (s *Southbound) TrafficCounters() (out []counters.NVE, at time.Time, enabled bool) {
	s.ctr.mu.Lock()
	defer s.ctr.mu.Unlock()
	for _, c := range s.ctr.byNVE {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].NVE < out[j].NVE })
	return out, s.ctr.round, s.cfg.CounterInterval > 0
}

// WantCounters records that the counters are wanted now, which keeps (or
// starts) polling for CounterWindow. With fresh, when the counters are
// stale (no round ended within two intervals: polling was idle), it
// waits until the round this demand starts has ended, or ctx ends; the
// caller then answers with whatever it has (its poll time says how old).
// It does nothing when polling is off.
func (s *Southbound) WantCounters(ctx context.Context, fresh bool) {
	if s.cfg.CounterInterval <= 0 {
		return
	}
	now := s.now()
	s.ctr.mu.Lock()
	s.ctr.demand = now
	var done chan struct{}
	if fresh && (s.ctr.round.IsZero() || now.Sub(s.ctr.round) > 2*s.cfg.CounterInterval) {
		if s.ctr.done == nil {
			s.ctr.done = make(chan struct{})
		}
		done = s.ctr.done
	}
	wake := s.ctr.wake
	s.ctr.mu.Unlock()
	if wake != nil {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	if done != nil {
		select {
		case <-done:
		case <-ctx.Done():
		}
	}
}

// countersWanted reports whether the last demand is within the window.
func (s *Southbound) countersWanted() bool {
	s.ctr.mu.Lock()
	defer s.ctr.mu.Unlock()
	return !s.ctr.demand.IsZero() && s.now().Sub(s.ctr.demand) < s.CounterWindow()
}

// countersLoop polls while counters are wanted: a round every
// CounterInterval, the first after idle at once (a burst), the others
// spread over the interval. Idle, it drops the cached indexes and waits
// for a demand.
func (s *Southbound) countersLoop(ctx context.Context) {
	iv, wake := s.cfg.CounterInterval, s.ctr.wake
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		if !s.countersWanted() {
			s.ctr.mu.Lock()
			s.ctr.ix = nil
			s.ctr.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-wake:
			}
			continue
		}
		start := time.Now()
		s.ctr.mu.Lock()
		stale := s.ctr.round.IsZero() || s.now().Sub(s.ctr.round) > 2*iv
		s.ctr.mu.Unlock()
		s.pollRound(ctx, !stale)
		if ctx.Err() != nil {
			return
		}
		if d := time.Until(start.Add(iv)); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		}
	}
}

// PollCounters reads and attributes the counters of every connected,
// claimed switch once, now (a few at a time); NVEs no longer connected
// are forgotten.
func (s *Southbound) PollCounters(ctx context.Context) {
	s.pollRound(ctx, false)
}

type counterTarget struct {
	nve string
	w   *worker
}

// pollRound reads every connected, claimed switch once: spread evenly
// over CounterInterval in NVE order (stopping early when the demand ends
// meanwhile), or at once, counterBurst at a time. A complete round
// forgets the NVEs no longer connected, records its end and releases
// the callers waiting for fresh counters.
func (s *Southbound) pollRound(ctx context.Context, spread bool) {
	s.ctr.poll.Lock()
	defer s.ctr.poll.Unlock()
	s.mu.Lock()
	var targets []counterTarget
	for _, w := range s.switches {
		if w.nve != "" {
			targets = append(targets, counterTarget{w.nve, w})
		}
	}
	s.mu.Unlock()
	sort.Slice(targets, func(i, j int) bool { return targets[i].nve < targets[j].nve })
	if spread && len(targets) > 0 {
		start := time.Now()
		spacing := s.cfg.CounterInterval / time.Duration(len(targets))
		timer := time.NewTimer(time.Hour)
		defer timer.Stop()
		for i, t := range targets {
			if d := time.Until(start.Add(time.Duration(i) * spacing)); d > 0 {
				timer.Reset(d)
				select {
				case <-ctx.Done():
					return
				case <-timer.C:
				}
			}
			if !s.countersWanted() {
				return
			}
			s.pollTarget(ctx, t)
		}
	} else {
		var wg sync.WaitGroup
		next := make(chan counterTarget)
		for range min(counterBurst, len(targets)) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for t := range next {
					s.pollTarget(ctx, t)
				}
			}()
		}
		for _, t := range targets {
			next <- t
		}
		close(next)
		wg.Wait()
	}
	if ctx.Err() != nil {
		return
	}
	live := make(map[string]bool, len(targets))
	for _, t := range targets {
		live[t.nve] = true
	}
	s.ctr.mu.Lock()
	defer s.ctr.mu.Unlock()
	for n := range s.ctr.byNVE {
		if !live[n] {
			delete(s.ctr.byNVE, n)
		}
	}
	for n := range s.ctr.ix {
		if !live[n] {
			delete(s.ctr.ix, n)
		}
	}
	s.ctr.round = s.now()
	s.ctr.rounds++
	if s.ctr.done != nil {
		close(s.ctr.done)
		s.ctr.done = nil
	}
}

// pollTarget reads one switch and records its NVE's counters.
func (s *Southbound) pollTarget(ctx context.Context, t counterTarget) {
	s.mu.Lock()
	snap := s.snap
	s.mu.Unlock()
	c, err := s.pollNVE(ctx, t.nve, t.w, snap)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Debug("reading counters", "nve", t.nve, "err", err)
		}
		return
	}
	s.ctr.mu.Lock()
	if s.ctr.byNVE == nil {
		s.ctr.byNVE = map[string]counters.NVE{}
	}
	s.ctr.byNVE[t.nve] = c
	s.ctr.reads++
	s.ctr.mu.Unlock()
}

func (s *Southbound) now() time.Time {
	if s.cfg.Now != nil {
		return s.cfg.Now()
	}
	return time.Now()
}

// counterIndexFor returns nve's attribution indexes for compile c: the
// cached ones while c is the compile they were built from.
func (s *Southbound) counterIndexFor(nve string, c *compiledNVE, snap *model.Snapshot) (*counterIndex, error) {
	s.ctr.mu.Lock()
	ci := s.ctr.ix[nve]
	s.ctr.mu.Unlock()
	if ci != nil && ci.c == c {
		return ci, nil
	}
	prof, err := profileOf(snap, nve)
	if err != nil {
		return nil, err
	}
	var tunnelPorts map[uint32]string
	if !c.ports.flowTunnels {
		tunnelPorts = map[uint32]string{}
		for _, tp := range c.ports.tunnels {
			if tp.OFPort != 0 {
				tunnelPorts[tp.OFPort] = tp.Remote
			}
		}
	}
	ci = &counterIndex{c: c, flows: counters.NewIndex(snap, nve, prof, c.res, tunnelPorts),
		bum: counters.NewBUMIndex(snap, nve, c.res), kinds: map[uint32]string{}, names: map[uint32]string{}}
	for _, e := range model.Encaps {
		name := compiler.TunnelPortName(e)
		if no, ok := c.ports.ports[name]; ok {
			ci.kinds[no], ci.names[no] = counters.IfaceTunnel, name
		}
	}
	for _, tp := range c.ports.tunnels {
		if tp.OFPort != 0 {
			ci.kinds[tp.OFPort], ci.names[tp.OFPort] = counters.IfaceTunnel, tp.Port
		}
	}
	for _, p := range snap.PortsOn(nve) {
		if no, ok := c.ports.ports[p.Interface]; ok && ci.kinds[no] == "" {
			ci.kinds[no], ci.names[no] = counters.IfaceVAP, p.Interface
		}
	}
	s.ctr.mu.Lock()
	if s.ctr.ix == nil {
		s.ctr.ix = map[string]*counterIndex{}
	}
	s.ctr.ix[nve] = ci
	s.ctr.mu.Unlock()
	return ci, nil
}

// pollNVE reads nve's switch's flow, port and group statistics and
// attributes them with the indexes of the worker's last compile of nve
// (no compile of its own: the reconciliation's result, published by the
// worker). An NVE whose worker has not compiled it yet is skipped until
// the next round.
func (s *Southbound) pollNVE(ctx context.Context, nve string, w *worker, snap *model.Snapshot) (counters.NVE, error) {
	c := w.lastCompile(nve)
	if c == nil {
		return counters.NVE{}, fmt.Errorf("not compiled yet")
	}
	ci, err := s.counterIndexFor(nve, c, snap)
	if err != nil {
		return counters.NVE{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.OpTimeout)
	defer cancel()
	raw, err := w.sw.FlowStatsRaw(ctx, openflow13.OFPTT_ALL, flow.NVACookie, flow.CookieTagMask)
	if err != nil {
		return counters.NVE{}, fmt.Errorf("flow stats: %w", err)
	}
	stats, err := rawFlowCounters(raw)
	if err != nil {
		return counters.NVE{}, err
	}
	out := ci.flows.Attribute(stats)
	s.addTTLDrops(&out) // ttlexceeded.go: the strict profile's invalid-TTL packet-ins
	ifs, err := s.interfaceCounters(ctx, w, ci)
	if err != nil {
		// The flow counters stand without them.
		s.log.Debug("reading port statistics", "nve", nve, "err", err)
	}
	out.Interfaces = ifs
	bum, err := s.bumCounters(ctx, w, ci, stats)
	if err != nil {
		// The flow counters stand without them.
		s.log.Debug("reading group statistics", "nve", nve, "err", err)
	}
	out.BUM = bum
	return out, nil
}

// rawFlowCounters reads the cookie, packet and byte counts of raw
// ofp_flow_stats entries (fixed offsets 24, 32, 40) without decoding
// their match and instructions.
func rawFlowCounters(raw [][]byte) ([]counters.Stat, error) {
	out := make([]counters.Stat, 0, len(raw))
	for i, e := range raw {
		if len(e) < 48 {
			return nil, fmt.Errorf("flow stats entry %d: %d bytes, want at least 48", i, len(e))
		}
		out = append(out, counters.Stat{
			Cookie:  binary.BigEndian.Uint64(e[24:32]),
			Packets: binary.BigEndian.Uint64(e[32:40]),
			Bytes:   binary.BigEndian.Uint64(e[40:48]),
		})
	}
	return out, nil
}

// counterCollector exports the last counters as Prometheus metrics: per
// VN (summed over the NVEs), per tunnel (NVE pair), drops per stage and
// per reason and NVE, and tunnel ports' own statistics. Per-port counters are in the API only: at the 20,000-port
// scale target they would be 80,000 series per member.
type counterCollector struct{ s *Southbound }

var (
	descVNPackets = prometheus.NewDesc("nva_vn_packets_total",
		"Packets entering a VN's pipeline on the NVEs, by source (ports: local VAPs; tunnels: other NVEs). Read from flow statistics every --counter-interval; a counter restarts when its flow is replaced.",
		[]string{"vn", "source"}, nil)
	descVNBytes = prometheus.NewDesc("nva_vn_bytes_total",
		"Bytes entering a VN's pipeline on the NVEs, by source (ports, tunnels).", []string{"vn", "source"}, nil)
	descTunnelPackets = prometheus.NewDesc("nva_tunnel_packets_total",
		"Packets through the tunnel between two NVEs as counted on nve: tx (known unicast sent to remote) or rx (received from remote).",
		[]string{"nve", "remote", "direction"}, nil)
	descTunnelBytes = prometheus.NewDesc("nva_tunnel_bytes_total",
		"Bytes through the tunnel between two NVEs as counted on nve (tx, rx).", []string{"nve", "remote", "direction"}, nil)
	descDropPackets = prometheus.NewDesc("nva_drop_packets_total",
		"Packets dropped by an explicit drop flow, by NVE and pipeline stage (port_security: spoofed or disallowed; l2_forward: unknown unicast; neighbor: unknown ARP/ND target by policy; classify: unknown VAP or tunnel).",
		[]string{"nve", "stage"}, nil)
	descDropBytes = prometheus.NewDesc("nva_drop_bytes_total",
		"Bytes dropped by an explicit drop flow, by NVE and pipeline stage.", []string{"nve", "stage"}, nil)
	descDropReasonPackets = prometheus.NewDesc("nva_drop_reason_packets_total",
		"Packets dropped by an explicit drop flow, by NVE and reason (spoofed, unknown_unicast, unknown_neighbor, unknown_ingress, ttl_expired, or the stage's name for other stages, e.g. a policy stage).",
		[]string{"nve", "reason"}, nil)
	descTunnelPortPackets = prometheus.NewDesc("nva_tunnel_port_packets_total",
		"Packets through a tunnel port as the switch counts them (port statistics: every frame, flooded copies included), by NVE, port and direction (rx, tx).",
		[]string{"nve", "port", "direction"}, nil)
	descTunnelPortBytes = prometheus.NewDesc("nva_tunnel_port_bytes_total",
		"Bytes through a tunnel port (port statistics), by NVE, port and direction.", []string{"nve", "port", "direction"}, nil)
	descTunnelPortDropped = prometheus.NewDesc("nva_tunnel_port_dropped_total",
		"Packets a tunnel port dropped (port statistics), by NVE, port and direction.", []string{"nve", "port", "direction"}, nil)
	descBUMFrames = prometheus.NewDesc("nva_bum_frames_total",
		"BUM frames from local VAPs an NVE flooded in a VN (its flood group's packet count, group statistics).",
		[]string{"nve", "vn"}, nil)
	descBUMCopies = prometheus.NewDesc("nva_bum_copies_total",
		"Copies of BUM frames an NVE sent in a VN, by kind: underlay (frames from local VAPs into tunnels, to other NVEs or replicators) or local (to local VAPs), from the flood groups' bucket statistics; relayed (a replicator's copies of frames from tunnels into tunnels, from its relay flows' statistics).",
		[]string{"nve", "vn", "kind"}, nil)
	descTunnelPortErrors = prometheus.NewDesc("nva_tunnel_port_errors_total",
		"Errors on a tunnel port (port statistics), by NVE, port and direction.", []string{"nve", "port", "direction"}, nil)
)

// The polling's own state (never a demand for the counters).
var (
	descCountersPolling = prometheus.NewDesc("nva_counters_polling",
		"1 while the traffic counters are wanted and polled (an API read, a scrape of the counter metrics or an events stream within the window), 0 when polling is idle.",
		nil, nil)
	descCounterReads = prometheus.NewDesc("nva_counter_switch_reads_total",
		"Switches whose statistics the counter polling read (one flow-, port- and group-stats round trip each).", nil, nil)
)

func (c counterCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descCountersPolling
	ch <- descCounterReads
	for _, d := range []*prometheus.Desc{descVNPackets, descVNBytes, descTunnelPackets, descTunnelBytes, descDropPackets, descDropBytes,
		descDropReasonPackets, descTunnelPortPackets, descTunnelPortBytes, descTunnelPortDropped, descTunnelPortErrors,
		descBUMFrames, descBUMCopies} {
		ch <- d
	}
}

func (c counterCollector) Collect(ch chan<- prometheus.Metric) {
	polling := 0.0
	if c.s.cfg.CounterInterval > 0 && c.s.countersWanted() {
		polling = 1
	}
	c.s.ctr.mu.Lock()
	reads := c.s.ctr.reads
	c.s.ctr.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(descCountersPolling, prometheus.GaugeValue, polling)
	ch <- prometheus.MustNewConstMetric(descCounterReads, prometheus.CounterValue, float64(reads))
	nves, _, _ := c.s.TrafficCounters()
	tot := counters.Sum(nves)
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	for vn, v := range tot.VNs {
		counter(descVNPackets, v.FromPorts.Packets, vn, "ports")
		counter(descVNPackets, v.FromTunnels.Packets, vn, "tunnels")
		counter(descVNBytes, v.FromPorts.Bytes, vn, "ports")
		counter(descVNBytes, v.FromTunnels.Bytes, vn, "tunnels")
	}
	for _, n := range nves {
		for remote, t := range n.Tunnels {
			counter(descTunnelPackets, t.Tx.Packets, n.NVE, remote, "tx")
			counter(descTunnelPackets, t.Rx.Packets, n.NVE, remote, "rx")
			counter(descTunnelBytes, t.Tx.Bytes, n.NVE, remote, "tx")
			counter(descTunnelBytes, t.Rx.Bytes, n.NVE, remote, "rx")
		}
		for stage, d := range n.Drops {
			counter(descDropPackets, d.Packets, n.NVE, stage)
			counter(descDropBytes, d.Bytes, n.NVE, stage)
		}
		for reason, d := range n.DropReasons {
			counter(descDropReasonPackets, d.Packets, n.NVE, reason)
		}
		for _, b := range n.BUM {
			counter(descBUMFrames, b.Frames, n.NVE, b.VN)
			counter(descBUMCopies, b.UnderlayCopies, n.NVE, b.VN, "underlay")
			counter(descBUMCopies, b.LocalCopies, n.NVE, b.VN, "local")
			counter(descBUMCopies, b.RelayedCopies, n.NVE, b.VN, "relayed")
		}
		// Tunnel ports only: VAP interfaces would be a series per port.
		for name, i := range n.Interfaces {
			if i.Kind != counters.IfaceTunnel {
				continue
			}
			counter(descTunnelPortPackets, i.Rx.Packets, n.NVE, name, "rx")
			counter(descTunnelPortPackets, i.Tx.Packets, n.NVE, name, "tx")
			counter(descTunnelPortBytes, i.Rx.Bytes, n.NVE, name, "rx")
			counter(descTunnelPortBytes, i.Tx.Bytes, n.NVE, name, "tx")
			counter(descTunnelPortDropped, i.RxDropped, n.NVE, name, "rx")
			counter(descTunnelPortDropped, i.TxDropped, n.NVE, name, "tx")
			counter(descTunnelPortErrors, i.RxErrors, n.NVE, name, "rx")
			counter(descTunnelPortErrors, i.TxErrors, n.NVE, name, "tx")
		}
	}
}

// RegisterCounterMetrics registers the traffic counters' collector.
func (s *Southbound) RegisterCounterMetrics(r prometheus.Registerer) error {
	return r.Register(counterCollector{s})
}
