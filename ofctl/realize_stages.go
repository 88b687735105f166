package ofctl

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The stages of realizing a store change, as histograms
// (nva_southbound_realize_stage_seconds{stage}), so the milliseconds of a
// write with ?wait=realized can be told apart:
//   - queue: from the kick (a store change, a port event, new port
//     numbers) to the start of the run that takes it (waiting for a pool
//     goroutine, or for the switch's previous run to end);
//   - cpu_wait: a change's run waiting for a CPU slot (see cpuSlot);
//   - send: sending a plan and waiting for the switch's barrier reply
//     (or bundle commit);
//   - ports: for an NVE whose change waited for an OpenFlow port number
//     (a new interface: OVSDB and the switch must number it first), from
//     the change reaching the southbound to the start of the run that
//     found the number;
//   - realize: from a change reaching the southbound (pending on an NVE)
//     to the NVE holding it.
const (
	stageQueue   = "queue"
	stageCPUWait = "cpu_wait"
	stageSend    = "send"
	stagePorts   = "ports"
	stageRealize = "realize"
)

func newStageHistogram() *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "nva", Subsystem: "southbound", Name: "realize_stage_seconds",
		Help:    "Stages of realizing a change on an NVE (queue: kick to run start; cpu_wait: a change's run waiting for a CPU slot; send: plan sent to the barrier reply; ports: change to the run that found a new interface's OpenFlow port number; realize: change to the NVE holding it).",
		Buckets: prometheus.ExponentialBuckets(0.00005, 2, 18),
	}, []string{"stage"})
	for _, s := range []string{stageQueue, stageCPUWait, stageSend, stagePorts, stageRealize} {
		h.WithLabelValues(s)
	}
	return h
}

// observeStage records one stage's duration.
func (s *Southbound) observeStage(stage string, d time.Duration) {
	if s.stages != nil {
		s.stages.WithLabelValues(stage).Observe(d.Seconds())
	}
}
