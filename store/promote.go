package store

import (
	"context"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

const (
	// promoteLag is how many entries a non-voter's log may trail the
	// leader's last index and still count as caught up.
	promoteLag = 64
	// promoteInterval is how often the leader looks at its non-voters.
	promoteInterval = 250 * time.Millisecond
)

// promoteLoop runs on every node and acts while it leads: a non-voter
// whose log has caught up with the leader's is promoted to voter. Joining
// nodes enter as non-voters (joinAsLeader), so a node that never answers
// or is still far behind never counts towards the quorum.
func (s *Store) promoteLoop() {
	defer s.wg.Done()
	tick := time.NewTicker(promoteInterval)
	defer tick.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-tick.C:
		}
		if s.client == nil || !s.stateCurrent() || s.fsm.err() != nil {
			continue
		}
		s.promoteCaughtUp(s.ctx)
	}
}

// promoteCaughtUp probes each non-voter's status over the member API and
// promotes those whose last log index is within promoteLag of the
// leader's. The configuration index guards each promotion: a change in
// between makes raft refuse it, and the next round looks again.
func (s *Store) promoteCaughtUp(ctx context.Context) {
	cf := s.raft.GetConfiguration()
	if cf.Error() != nil {
		return
	}
	var wg sync.WaitGroup
	for _, srv := range cf.Configuration().Servers {
		if srv.Suffrage != raft.Nonvoter {
			continue
		}
		wg.Add(1)
		go func(srv raft.Server) {
			defer wg.Done()
			pctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			st, err := s.probeStatus(pctx, s.memberURL(string(srv.Address)))
			if err != nil {
				s.log.Debug("non-voter not reachable; not promoted", "id", srv.ID, "raft_addr", srv.Address, "err", err)
				return
			}
			last := s.raft.LastIndex()
			if st.ID != string(srv.ID) || st.LastIndex+promoteLag < last {
				s.log.Debug("non-voter not caught up", "id", srv.ID, "reports_id", st.ID, "last_index", st.LastIndex, "leader_last_index", last)
				return
			}
			f := s.raft.AddVoter(srv.ID, srv.Address, cf.Index(), s.cfg.ApplyTimeout)
			if err := waitFuture(ctx, f); err != nil {
				s.log.Debug("promoting non-voter", "id", srv.ID, "err", err)
				return
			}
			s.log.Info("promoted caught-up non-voter to voter", "id", srv.ID, "raft_addr", srv.Address, "last_index", st.LastIndex, "leader_last_index", last)
		}(srv)
	}
	wg.Wait()
}
