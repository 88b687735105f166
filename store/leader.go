package store

import (
	"context"
	"time"

	"github.com/hashicorp/raft"
)

// run follows leadership changes: it wakes waiting writers, catches a new
// leader's state up with its term, hands leadership away from a halted
// node, and keeps this node's metadata in the FSM current.
func (s *Store) run() {
	defer s.wg.Done()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	var handedOff uint64 // the last term a halted node tried to hand away
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.obsCh:
			s.signalLeaderChange()
		case <-tick.C:
		}
		if s.fsm.err() != nil {
			if term := s.raft.CurrentTerm(); s.IsLeader() && term != handedOff {
				handedOff = term
				s.stepDown()
			}
			continue
		}
		s.catchUpTerm()
		if !s.selfRegistered() {
			ctx, cancel := context.WithTimeout(s.ctx, s.cfg.ApplyTimeout)
			if err := s.registerSelf(ctx); err != nil && s.ctx.Err() == nil {
				s.log.Debug("recording own node metadata", "err", err)
			}
			cancel()
		}
	}
}

func (s *Store) signalLeaderChange() {
	s.lmu.Lock()
	close(s.leaderCh)
	s.leaderCh = make(chan struct{})
	s.lmu.Unlock()
}

// LeaderChanged returns a channel that is closed when the Raft leader
// changes (this node winning or losing an election included); take a new
// one after each change. The southbound waits on it instead of only
// polling IsLeader, so a restarted node's switches are reconciled as soon as
// it leads.
func (s *Store) LeaderChanged() <-chan struct{} { return s.leaderChanged() }

func (s *Store) leaderChanged() <-chan struct{} {
	s.lmu.Lock()
	defer s.lmu.Unlock()
	return s.leaderCh
}

// catchUpTerm runs a barrier once per term on a new leader, after which
// its state holds every entry committed before its term (entries of its
// own term are applied before they are acknowledged). See LeaderReady.
func (s *Store) catchUpTerm() {
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.ApplyTimeout)
	defer cancel()
	if term, _, err := s.LeaderReady(ctx); err != nil {
		s.log.Debug("barrier of a new term", "term", term, "err", err)
	}
}

// stateCurrent reports whether this node leads with a state that holds
// every acknowledged write, so that a command may be judged against it.
func (s *Store) stateCurrent() bool {
	return s.IsLeader() && s.currentTerm.Load() == s.raft.CurrentTerm()
}

// stepDown hands leadership to another voter: a halted node cannot apply
// what it would commit.
func (s *Store) stepDown() {
	if err := s.raft.LeadershipTransfer().Error(); err != nil {
		s.log.Warn("halted node cannot hand leadership away", "err", err)
	}
}

func (s *Store) inConfig() bool {
	f := s.raft.GetConfiguration()
	if f.Error() != nil {
		return false
	}
	for _, srv := range f.Configuration().Servers {
		if srv.ID == raft.ServerID(s.cfg.NodeID) {
			return true
		}
	}
	return false
}

// selfRegistered reports whether there is nothing to record: the FSM holds
// this node's current metadata, or the node is not a member (yet).
func (s *Store) selfRegistered() bool {
	if have, ok := s.fsm.node(s.cfg.NodeID); ok && have == s.Self() {
		return true
	}
	return !s.inConfig()
}

// registerSelf records this node's metadata: directly when leader (the
// bootstrap node records itself this way), otherwise by re-joining through
// the leader (a member whose API address changed across a restart).
func (s *Store) registerSelf(ctx context.Context) error {
	if s.IsLeader() {
		_, err := s.write(ctx, &putNode{ReqID: newReqID(), Node: s.Self()})
		return err
	}
	if id, api := s.leaderAPI(); api != "" {
		_, err := s.forwardJSON(ctx, api, pathJoin, s.Self())
		return err
	} else if id == "" {
		return ErrNoLeader
	}
	return nil
}

// IsLeader reports whether this node is the raft leader.
func (s *Store) IsLeader() bool { return s.raft.State() == raft.Leader }

// leaderAPI returns the leader's ID and the base URL of its member API
// (its raft address, member.go); "" without a network transport.
func (s *Store) leaderAPI() (id, api string) {
	addr, lid := s.raft.LeaderWithID()
	if lid == "" || addr == "" || s.client == nil {
		return string(lid), ""
	}
	return string(lid), s.memberURL(string(addr))
}

// Leader returns the current leader's ID and REST API address from node
// metadata ("" if unknown).
func (s *Store) Leader() (id, apiAddr string) {
	_, lid := s.raft.LeaderWithID()
	if lid == "" {
		return "", ""
	}
	n, _ := s.fsm.node(string(lid))
	return string(lid), n.APIAddr
}
