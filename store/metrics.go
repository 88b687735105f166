package store

import (
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
)

// RegisterMetrics registers the store's metrics: raft state (0 follower,
// 1 candidate, 2 leader, 3 shutdown), term, commit and applied index, seconds
// since the last contact with the leader (0 on the leader), the write
// latency histogram, the count of commands skipped for their ignore flag
// (nva_store_skipped_commands_total), and whether the FSM has halted.
func (s *Store) RegisterMetrics(reg prometheus.Registerer) error {
	gauges := []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "nva_raft_state", Help: "Raft state: 0 follower, 1 candidate, 2 leader, 3 shutdown."},
			func() float64 { return float64(s.raft.State()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "nva_raft_is_leader", Help: "1 when this node is the raft leader."},
			func() float64 {
				if s.raft.State() == raft.Leader {
					return 1
				}
				return 0
			}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "nva_raft_term", Help: "Current raft term."},
			func() float64 { return float64(s.raft.CurrentTerm()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "nva_raft_commit_index", Help: "Raft commit index."},
			func() float64 { return float64(s.raft.CommitIndex()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "nva_raft_applied_index", Help: "Index of the last command applied to the state."},
			func() float64 { return float64(s.AppliedIndex()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "nva_raft_last_contact_seconds", Help: "Seconds since the last contact with the leader (0 on the leader, -1 never)."},
			func() float64 {
				if s.raft.State() == raft.Leader {
					return 0
				}
				lc := s.raft.LastContact()
				if lc.IsZero() {
					return -1
				}
				return time.Since(lc).Seconds()
			}),
		s.applyLatency,
		s.fsm.skipped,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "nva_store_halted", Help: "1 when this node's FSM has stopped on a command it cannot decode (see store.FatalError): upgrade the node."},
			func() float64 {
				if s.fsm.err() != nil {
					return 1
				}
				return 0
			}),
	}
	gauges = append(gauges, s.learnedMetrics()...) // learned.go
	for _, c := range gauges {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
