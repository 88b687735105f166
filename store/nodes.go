package store

import "sort"

// Nodes returns the cluster members' metadata as this node has applied it
// (a local read: no Raft round trip, no probing), ordered by ID. State is
// left empty; Cluster reports live states.
func (s *Store) Nodes() []NodeInfo {
	m := s.fsm.nodes()
	out := make([]NodeInfo, 0, len(m))
	for _, n := range m {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Term returns the node's current Raft term. The OpenFlow southbound uses
// it as the generation ID of its master/slave role requests, so a switch
// refuses a deposed leader.
func (s *Store) Term() uint64 { return s.raft.CurrentTerm() }
