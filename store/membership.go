package store

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/nva-project/nva/app/model"
)

// Join adds a node (on a follower: through the leader) and records its
// metadata. A new node enters as a non-voter: it receives the log but
// counts for no quorum, and the leader promotes it to voter once it has
// caught up (promote.go), so a join naming a node that never answers
// cannot take the quorum away; such a stale non-voter is removed like any
// member. Re-joining with the same ID and raft address only updates the
// metadata (a voter stays a voter); the same ID on a new raft address
// replaces the old entry.
func (s *Store) Join(ctx context.Context, n NodeInfo) error {
	idx, err := s.join(ctx, n)
	if err == nil {
		s.catchUp(ctx, idx)
	}
	return err
}

func (s *Store) join(ctx context.Context, n NodeInfo) (uint64, error) {
	if n.ID == "" || n.RaftAddr == "" {
		return 0, model.Errorf(model.KindInvalid, "id", "join needs the node's id and raft address")
	}
	var idx uint64
	err := s.withLeader(ctx, "join",
		func(ctx context.Context) (err error) { idx, err = s.joinAsLeader(ctx, n); return err },
		func(ctx context.Context, api string) (err error) {
			idx, err = s.forwardJSON(ctx, api, pathJoin, n)
			return err
		})
	return idx, err
}

// joinAsLeader returns the index of the metadata command.
func (s *Store) joinAsLeader(ctx context.Context, n NodeInfo) (uint64, error) {
	if !s.IsLeader() {
		return 0, raft.ErrNotLeader
	}
	cf := s.raft.GetConfiguration()
	if err := waitFuture(ctx, cf); err != nil {
		return 0, err
	}
	id, addr := raft.ServerID(n.ID), raft.ServerAddress(n.RaftAddr)
	self := s.trans.LocalAddr()
	if (id == raft.ServerID(s.cfg.NodeID)) != (addr == self) {
		return 0, model.Errorf(model.KindConflict, "id", "node %q at %s clashes with the leader (%s at %s)", id, addr, s.cfg.NodeID, self)
	}
	present := false
	for _, srv := range cf.Configuration().Servers {
		switch {
		case srv.ID == id && srv.Address == addr:
			present = true
		case srv.ID == id || srv.Address == addr:
			s.log.Info("replacing cluster member with a conflicting entry", "id", srv.ID, "addr", srv.Address)
			if err := waitFuture(ctx, s.raft.RemoveServer(srv.ID, 0, timeLeft(ctx, s.cfg.ApplyTimeout))); err != nil {
				return 0, fmt.Errorf("remove stale member %s: %w", srv.ID, err)
			}
		}
	}
	if !present {
		if err := waitFuture(ctx, s.raft.AddNonvoter(id, addr, 0, timeLeft(ctx, s.cfg.ApplyTimeout))); err != nil {
			return 0, fmt.Errorf("add non-voter %s at %s: %w", id, addr, err)
		}
		s.log.Info("added non-voter; it becomes a voter once it has caught up", "id", id, "raft_addr", addr)
	}
	put := &putNode{ReqID: newReqID(), Node: n}
	if err := put.prepare(); err != nil {
		return 0, err
	}
	data, err := encodeCommand(put)
	if err != nil {
		return 0, err
	}
	res, err := s.applyAsLeader(ctx, data)
	if err != nil {
		return 0, err
	}
	if res.Err != nil {
		return 0, res.Err
	}
	return res.Index, nil
}

// RemoveNode removes a member (on a follower: through the leader) and drops
// its metadata. Removing an unknown node is a KindNotFound error, except on
// an internal retry after a failure that may have removed it already.
func (s *Store) RemoveNode(ctx context.Context, id string) error {
	idx, err := s.remove(ctx, id)
	if err == nil {
		s.catchUp(ctx, idx)
	}
	return err
}

func (s *Store) remove(ctx context.Context, id string) (uint64, error) {
	if id == "" {
		return 0, model.Errorf(model.KindInvalid, "id", "node id is required")
	}
	var idx uint64
	attempts := 0
	err := s.withLeader(ctx, "remove node",
		func(ctx context.Context) (err error) {
			attempts++
			idx, err = s.removeAsLeader(ctx, id)
			return err
		},
		func(ctx context.Context, api string) (err error) {
			attempts++
			idx, err = s.forwardJSON(ctx, api, pathRemove, NodeInfo{ID: id})
			return err
		})
	if attempts > 1 && isNotFound(err) {
		return s.AppliedIndex(), nil // an earlier attempt did it
	}
	return idx, err
}

func isNotFound(err error) bool {
	e, ok := model.AsError(err)
	return ok && e.Kind == model.KindNotFound
}

// removeAsLeader returns the index of the metadata command (or the applied
// index when there was no metadata).
func (s *Store) removeAsLeader(ctx context.Context, id string) (uint64, error) {
	if !s.IsLeader() {
		return 0, raft.ErrNotLeader
	}
	cf := s.raft.GetConfiguration()
	if err := waitFuture(ctx, cf); err != nil {
		return 0, err
	}
	member := false
	for _, srv := range cf.Configuration().Servers {
		if srv.ID == raft.ServerID(id) {
			member = true
		}
	}
	_, known := s.fsm.node(id)
	if !member && !known {
		return 0, model.Errorf(model.KindNotFound, "", "node %q not found", id)
	}
	if member {
		voters := 0
		for _, srv := range cf.Configuration().Servers {
			if srv.Suffrage == raft.Voter && srv.ID != raft.ServerID(id) {
				voters++
			}
		}
		if voters == 0 {
			return 0, model.Errorf(model.KindConflict, "id", "node %q is the last voter; removing it would destroy the cluster", id)
		}
	}
	idx := s.AppliedIndex()
	if known {
		// Metadata first: a leader removing itself cannot write afterwards.
		data, err := encodeCommand(&removeNode{ReqID: newReqID(), ID: id})
		if err != nil {
			return 0, err
		}
		res, err := s.applyAsLeader(ctx, data)
		if err != nil {
			return 0, err
		}
		idx = res.Index
	}
	if member {
		if err := waitFuture(ctx, s.raft.RemoveServer(raft.ServerID(id), 0, timeLeft(ctx, s.cfg.ApplyTimeout))); err != nil {
			return 0, fmt.Errorf("remove server %s: %w", id, err)
		}
		s.log.Info("removed cluster member", "id", id)
	}
	return idx, nil
}

func raftStateName(st raft.RaftState) string {
	switch st {
	case raft.Leader, raft.Follower, raft.Candidate:
		return strings.ToLower(st.String())
	}
	return "unknown"
}

// Cluster describes the members from the raft configuration and the node
// metadata. Other members' states come from a short status probe of their
// member API ("unreachable" when it fails, "unknown" without a network
// transport).
func (s *Store) Cluster(ctx context.Context) (ClusterInfo, error) {
	cf := s.raft.GetConfiguration()
	if err := waitFuture(ctx, cf); err != nil {
		return ClusterInfo{}, fmt.Errorf("cluster: %w", err)
	}
	_, lid := s.raft.LeaderWithID()
	meta := s.fsm.nodes()
	info := ClusterInfo{Leader: string(lid), Term: s.raft.CurrentTerm()}
	servers := cf.Configuration().Servers
	info.Nodes = make([]NodeInfo, len(servers))
	var wg sync.WaitGroup
	for i, srv := range servers {
		n, ok := meta[string(srv.ID)]
		if !ok {
			n = NodeInfo{ID: string(srv.ID)}
		}
		n.RaftAddr = string(srv.Address)
		n.Voter = srv.Suffrage == raft.Voter
		info.Nodes[i] = n
		switch {
		case n.ID == s.cfg.NodeID:
			info.Nodes[i].State = raftStateName(s.raft.State())
		case s.client == nil:
			info.Nodes[i].State = "unknown"
		default:
			wg.Add(1)
			go func(i int, api string) {
				defer wg.Done()
				pctx, cancel := context.WithTimeout(ctx, time.Second)
				defer cancel()
				st, err := s.probeStatus(pctx, api)
				if err != nil {
					info.Nodes[i].State = "unreachable"
					return
				}
				info.Nodes[i].State = st.State
			}(i, s.memberURL(n.RaftAddr))
		}
	}
	wg.Wait()
	sort.Slice(info.Nodes, func(i, j int) bool { return info.Nodes[i].ID < info.Nodes[j].ID })
	return info, nil
}
