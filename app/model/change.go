package model

// Change kinds and operations: what a Change is about and what happened.
const (
	ChangeVN    = "vn"
	ChangeNVE   = "nve"
	ChangePort  = "port"
	ChangeNode  = "node"
	ChangeReset = "reset"

	OpPut    = "put"
	OpDelete = "delete"
)

// Change is one change of the replicated domain, at store (Raft) index
// Index. Old and New are *VN, *NVE, *Port or *Member (nil for a create's
// Old and a delete's New); they are shared and must not be modified.
//
// Kind ChangeReset carries no object: the consumer fell behind (or the node
// installed a snapshot from the leader) and must take a new snapshot and
// watch again. A watch channel is closed right after a reset.
type Change struct {
	Index uint64
	Kind  string
	Op    string
	Name  string
	Old   any
	New   any
}

// Member describes one cluster member of the authority: where its REST API,
// Raft transport and OpenFlow listener are reached. State and Voter are
// live Raft facts that the replicated state itself never holds.
type Member struct {
	ID           string `json:"id"`
	APIAddr      string `json:"api_addr,omitempty"`
	RaftAddr     string `json:"raft_addr,omitempty"`
	OpenFlowAddr string `json:"openflow_addr,omitempty"`
	// State is leader, follower, candidate, unknown or unreachable.
	State string `json:"state,omitempty"`
	Voter bool   `json:"voter"`
}
