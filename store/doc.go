// Package store owns nva's replicated state: a hashicorp/raft state machine
// over an indexed in-memory copy of the domain (VNs, NVEs, ports and cluster
// node metadata), its typed and versioned commands, streamed snapshots, the
// raft-boltdb log store in the data directory, write forwarding from
// followers to the leader, linearizable reads, cluster membership, and the
// watch API (change events tagged with their Raft index) that the southbound
// and the UI consume.
//
// Every domain rule that depends on other objects (uniqueness of names, VNIs,
// datapath IDs, underlay IPs, MACs and IPs within a VN, attachment points;
// references from ports to VNs and NVEs; delete protection) is checked inside
// the FSM apply, deterministically, so every node reaches the same verdict and
// a rejected command changes nothing.
package store
