package ofctl

import (
	"context"

	"github.com/nva-project/nva/app/counters"
)

// bumCounters reads the switch's group statistics (one OFPMP_GROUP round
// trip, all groups) and attributes its flood groups' packet and per-bucket
// counts to the VNs of the worker's last compile (ci.bum): frames flooded
// and the copies sent into tunnels versus to local VAPs, and (from the
// flow statistics, flows) a replicator's relayed copies
// (counters.BUMIndex).
func (s *Southbound) bumCounters(ctx context.Context, w *worker, ci *counterIndex, flows []counters.Stat) ([]counters.BUM, error) {
	stats, err := w.sw.GroupStats(ctx)
	if err != nil {
		return nil, err
	}
	gs := make([]counters.GroupStat, 0, len(stats))
	for _, g := range stats {
		st := counters.GroupStat{GroupID: g.GroupID, Packets: g.Packets, Buckets: make([]uint64, len(g.Buckets))}
		for i, b := range g.Buckets {
			st.Buckets[i] = b.Packets
		}
		gs = append(gs, st)
	}
	return ci.bum.Attribute(gs, flows), nil
}
