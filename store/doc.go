// Package store owns nva's replicated state: a hashicorp/raft state machine
// over an indexed in-memory copy of the domain (VNs, NVEs, ports and cluster
// node metadata), its typed and versioned commands, streamed snapshots, the
// raft-boltdb log store in the data directory, write forwarding from
// followers to the leader, linearizable reads, cluster membership, and the
// watch API (change events tagged with their Raft index) that the southbound
// and the UI consume.
//
// # Commands
//
// A command is one type byte, one version byte and a JSON body carrying the
// request ID (see command.go; golden bytes in testdata/). The type byte's
// high bit means "ignore if unknown": a node that does not know the type or
// version skips such a command; any other unknown command is an error and
// changes nothing. Type numbers are never reused.
//
// # Rules and results
//
// Every domain rule that depends on other objects (uniqueness of names,
// VNIs, datapath IDs, underlay IPs, MACs and IPs within a VN, attachment
// points; references from ports to VNs and NVEs; delete protection) and
// every allocation (VNI, datapath ID) happens inside the FSM apply,
// deterministically, so every node reaches the same verdict; a rejected
// command changes nothing. Domain errors are *model.Error values. The FSM
// remembers the last 10000 request IDs with their results (in snapshots
// too), so a retried write is applied once and answers with its original
// result; that is what makes retries across leader changes safe.
//
// # Reads, writes and the cluster
//
// Snapshot is a local, immutable view; ConsistentSnapshot is linearizable
// (leader: VerifyLeader and Barrier; follower: read index from the leader).
// Writes on a follower are forwarded to the leader over InternalHandler's
// /internal/v1/apply. With no leader or no quorum a write waits up to
// Config.ApplyTimeout and then fails with ErrNoLeader; if it had already
// reached a leader's log, the error says that it may still be applied once a
// quorum is back (as in any Raft system) and a retry with the same request
// ID is safe. The leader verifies its quorum before appending, so a write to
// a leader that already knows it is cut off never reaches the log.
//
// # Watch
//
// SnapshotAndWatch returns the snapshot at index N and then every change
// with index > N, in order. A consumer that falls more than watchBuffer
// events behind, or a node that installs a snapshot from the leader, gets a
// single "reset" event, then the channel closes: re-snapshot and re-watch.
package store
