package ofctl

import "github.com/prometheus/client_golang/prometheus"

// metrics are the southbound's Prometheus collectors. They exist (and
// count) whether or not RegisterMetrics was called.
type metrics struct {
	flowMods   *prometheus.CounterVec
	groupMods  *prometheus.CounterVec
	errors     *prometheus.CounterVec
	reconcile  *prometheus.HistogramVec
	connected  prometheus.Gauge
	unclaimed  prometheus.Gauge
	repairs    prometheus.Counter
	bundles    prometheus.Counter
	syncs      *prometheus.CounterVec
	packetIns  *prometheus.CounterVec
	sliceDiffs *prometheus.CounterVec
	planning   prometheus.Histogram
	// Audits: per switch, what one audit cost (read the switch, compare
	// with what nva last installed) and how it ended; per round, how many
	// switches it spreads over the interval.
	auditTime   prometheus.Histogram
	audits      *prometheus.CounterVec
	auditRound  prometheus.Gauge
	allCollects []prometheus.Collector

	// flowEntries: installed flow entries read, by how they were taken
	// (byteverify.go).
	flowEntries *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		flowMods: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "nva", Subsystem: "southbound", Name: "flow_mods_total",
			Help: "OpenFlow flow-mod messages sent to NVEs, by operation (add, modify, replace, delete).",
		}, []string{"op"}),
		groupMods: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "nva", Subsystem: "southbound", Name: "group_mods_total",
			Help: "OpenFlow group-mod messages sent to NVEs, by operation (add, modify, delete).",
		}, []string{"op"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "nva", Subsystem: "southbound", Name: "errors_total",
			Help: "Southbound errors, by kind (openflow: OFPT_ERROR from a switch; profile: a profile that cannot be realized or does not fit the switch's tables; read, compile, encode, apply: a failed reconciliation step; set_async: a strict switch that did not enable invalid-TTL packet-ins).",
		}, []string{"kind"}),
		reconcile: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "nva", Subsystem: "southbound", Name: "reconcile_duration_seconds",
			Help:    "Time to reconcile one NVE (compile, optionally read installed state, diff, send, barrier), by trigger.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"trigger"}),
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "nva", Subsystem: "southbound", Name: "connected_switches",
			Help: "OpenFlow switches connected (claimed by an NVE or not).",
		}),
		unclaimed: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "nva", Subsystem: "southbound", Name: "unclaimed_switches",
			Help: "Connected OpenFlow switches whose datapath ID no NVE claims.",
		}),
		repairs: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "nva", Subsystem: "southbound", Name: "audit_repairs_total",
			Help: "Flow and group entries an audit found differing from what nva last installed on a switch (drift), and repaired. Changes nva itself had pending are never counted.",
		}),
		bundles: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "nva", Subsystem: "southbound", Name: "bundles_total",
			Help: "Atomic bundles committed.",
		}),
		syncs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "nva", Subsystem: "southbound", Name: "reconciles_total",
			Help: "NVE reconciliations, by result (ok, error, noop).",
		}, []string{"result"}),
		packetIns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "nva", Subsystem: "southbound", Name: "packet_ins_total",
			Help: "Packet-ins from switches, by result (neighbor: handed to the ARP/ND responder; foreign: not from nva's flows; not_leader, unclaimed: ignored; unexpected: nva's flow but no VN context; time_exceeded, time_exceeded_rate, time_exceeded_drop: a routed packet whose TTL expired, answered with ICMP time-exceeded, over the switch's rate, or not answerable).",
		}, []string{"result"}),
		sliceDiffs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "nva", Subsystem: "southbound", Name: "diffs_total",
			Help: "Desired-versus-installed diffs, by scope (changed_slices: only the compiler slices whose fingerprint changed since the last sync; full: everything, after a read of the switch or when the installed state is not known slice by slice; verified: after a read of the switch that reported exactly the desired flows, byte for byte, so only groups were diffed).",
		}, []string{"scope"}),
		planning: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "nva", Subsystem: "southbound", Name: "plan_duration_seconds",
			Help:    "nva's own part of a reconciliation of one NVE: compile and diff, without reading or writing the switch.",
			Buckets: prometheus.ExponentialBuckets(0.00005, 2, 16),
		}),
		auditTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "nva", Subsystem: "southbound", Name: "audit_duration_seconds",
			Help:    "One switch's audit: reading its flows and groups and comparing them with what nva last installed (no compile). The sum over an audit interval is the audits' total cost.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		audits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "nva", Subsystem: "southbound", Name: "audits_total",
			Help: "Switch audits, by result (clean: the switch holds what nva last installed; drift: it differs and was repaired; full: the installed state was not known, so the switch was re-read and reconciled in full; error: the read failed).",
		}, []string{"result"}),
		auditRound: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "nva", Subsystem: "southbound", Name: "audit_round_switches",
			Help: "Switches the current audit round audits, spread evenly over the audit interval (the audits per interval).",
		}),
		flowEntries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "nva", Subsystem: "southbound", Name: "installed_flow_entries_total",
			Help: "Flow entries read from switches, by how they were taken (bytes: their identity bytes equal what nva encodes for a flow it wants there, so they were not decoded; decoded).",
		}, []string{"how"}),
	}
	for _, r := range []string{"clean", "drift", "full", "error"} {
		m.audits.WithLabelValues(r)
	}
	for _, r := range []string{packetInNeighbor, packetInForeign, packetInNotLeader, packetInUnclaimed, packetInUnexpected,
		packetInTimeExceeded, packetInTimeExceededRate, packetInTimeExceededDrop} {
		m.packetIns.WithLabelValues(r)
	}
	m.allCollects = []prometheus.Collector{m.flowMods, m.groupMods, m.errors, m.reconcile, m.connected, m.unclaimed, m.repairs, m.bundles, m.syncs, m.packetIns, m.sliceDiffs, m.planning, m.auditTime, m.audits, m.auditRound, m.flowEntries}
	return m
}

// RegisterMetrics registers the southbound's metrics (the daemon's
// MetricsComponent interface).
func (s *Southbound) RegisterMetrics(reg prometheus.Registerer) error {
	for _, c := range s.m.allCollects {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
