package ofctl

import (
	"context"
	"encoding/binary"
	"fmt"
	"sort"
	"sync"
	"time"

	"antrea.io/libOpenflow/openflow13"
	"github.com/nva-project/nva/app/counters"
	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/model"
	"github.com/prometheus/client_golang/prometheus"
)

// Traffic counters (app/counters): every CounterInterval the southbound
// reads the flow statistics of nva's flows (one OFPMP_FLOW request per
// connected, claimed switch, cookie-filtered; the raw entries are not
// decoded, only their cookie and counters read) and attributes them with
// an index of the NVE's compiled flows: the reconciliation's last compile,
// which the worker publishes (compiled.go), so counting costs no compile
// and no compiler cache of its own. Every member polls the switches connected to it
// (they connect to every member), so each member's API and metrics answer
// without forwarding; the cost is one flow-stats round trip per switch
// per interval per member, and a compile that holds a CPU slot.

// counterState is the last poll's result per NVE.
type counterState struct {
	poll  sync.Mutex // serializes PollCounters
	mu    sync.Mutex
	byNVE map[string]counters.NVE
	round time.Time // when the last poll round ended
}

// TrafficCounters returns the counters last read from each NVE connected
// to this node, sorted by NVE, and when the last poll round ended (zero:
// none yet); enabled is false when periodic polling is off.
func (s *Southbound) TrafficCounters() (out []counters.NVE, at time.Time, enabled bool) {
	s.ctr.mu.Lock()
	defer s.ctr.mu.Unlock()
	for _, c := range s.ctr.byNVE {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].NVE < out[j].NVE })
	return out, s.ctr.round, s.cfg.CounterInterval > 0
}

func (s *Southbound) countersLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.CounterInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.PollCounters(ctx)
		}
	}
}

// PollCounters reads and attributes the counters of every connected,
// claimed switch once, one switch at a time; NVEs no longer connected
// are forgotten.
func (s *Southbound) PollCounters(ctx context.Context) {
	s.ctr.poll.Lock()
	defer s.ctr.poll.Unlock()
	type target struct {
		nve string
		w   *worker
	}
	s.mu.Lock()
	snap := s.snap
	var targets []target
	for _, w := range s.switches {
		if w.nve != "" {
			targets = append(targets, target{w.nve, w})
		}
	}
	s.mu.Unlock()
	sort.Slice(targets, func(i, j int) bool { return targets[i].nve < targets[j].nve })
	live := map[string]bool{}
	for _, t := range targets {
		live[t.nve] = true
		c, err := s.pollNVE(ctx, t.nve, t.w, snap)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.log.Debug("reading counters", "nve", t.nve, "err", err)
			continue
		}
		s.ctr.mu.Lock()
		if s.ctr.byNVE == nil {
			s.ctr.byNVE = map[string]counters.NVE{}
		}
		s.ctr.byNVE[t.nve] = c
		s.ctr.mu.Unlock()
	}
	s.ctr.mu.Lock()
	for n := range s.ctr.byNVE {
		if !live[n] {
			delete(s.ctr.byNVE, n)
		}
	}
	s.ctr.round = s.now()
	s.ctr.mu.Unlock()
}

func (s *Southbound) now() time.Time {
	if s.cfg.Now != nil {
		return s.cfg.Now()
	}
	return time.Now()
}

// pollNVE reads nve's switch's flow statistics and attributes them with
// the worker's last compile of nve (no compile of its own: the
// reconciliation's result, published by the worker). An NVE whose worker
// has not compiled it yet is skipped until the next round.
func (s *Southbound) pollNVE(ctx context.Context, nve string, w *worker, snap *model.Snapshot) (counters.NVE, error) {
	prof, err := profileOf(snap, nve)
	if err != nil {
		return counters.NVE{}, err
	}
	c := w.lastCompile(nve)
	if c == nil {
		return counters.NVE{}, fmt.Errorf("not compiled yet")
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
	ix := counters.NewIndex(snap, nve, prof, c.res, tunnelPorts)
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
	out := ix.Attribute(stats)
	s.addTTLDrops(&out) // ttlexceeded.go: the strict profile's invalid-TTL packet-ins
	ifs, err := s.interfaceCounters(ctx, w, nve, c, snap)
	if err != nil {
		// The flow counters stand without them.
		s.log.Debug("reading port statistics", "nve", nve, "err", err)
	}
	out.Interfaces = ifs
	bum, err := s.bumCounters(ctx, w, nve, c, snap, stats)
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

func (c counterCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descVNPackets, descVNBytes, descTunnelPackets, descTunnelBytes, descDropPackets, descDropBytes,
		descDropReasonPackets, descTunnelPortPackets, descTunnelPortBytes, descTunnelPortDropped, descTunnelPortErrors,
		descBUMFrames, descBUMCopies} {
		ch <- d
	}
}

func (c counterCollector) Collect(ch chan<- prometheus.Metric) {
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
