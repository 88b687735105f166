// Package store owns nva's replicated state: a hashicorp/raft state machine
// over an indexed in-memory copy of the domain (VNs, NVEs, ports and cluster
// node metadata), its typed and versioned commands, streamed snapshots, the
// raft-boltdb log store in the data directory, write forwarding from
// followers to the leader, linearizable reads, cluster membership, and the
// watch API (change events tagged with their Raft index) that the southbound
// and the UI consume.
//
// # Files
//
// The Raft node: open.go (configuration, log stores, transport, bootstrap),
// leader.go (leadership, its signalling, a new leader catching up with its
// term), retry.go (proposing through the leader, forwarding, retries),
// read.go (local and linearizable reads), write.go (the one write path of
// every object kind), membership.go (join, remove, cluster view), http.go
// (the node-to-node API), fatal.go (a node that must stop). The replicated
// state: command.go and kinds.go (the commands and their rules), batch.go
// (a batch of object commands, applied all or nothing), registry.go (type
// bytes, versions, decoding), logtypes.go (the log's own encoding), fsm.go
// (apply, request IDs), state.go (the indexed objects), snapshot.go,
// watch.go, tokens.go (the API tokens, hashed, and their commands).
//
// # Commands and the log format
//
// A command is one Go type (createVN, updateNVE, putNode, ...), registered
// once in registry.go with its type byte, version, name and decoder; its
// methods are its rules and its apply. On the log it is one type byte, one
// version byte and a JSON body. The body is encoded with the log's own
// types (logtypes.go), never with the model's REST types and tags, so
// renaming an API field cannot change the log; golden bytes of every
// command and version are in testdata/commands/, and a log and a snapshot
// written by the first format, with the state they lead to, are frozen in
// testdata/fixtures/v1/ and must keep replaying to that state.
//
// Version 1 stays the written format; there is no version 2. Its bytes
// already say everything a command needs, and keeping them means a cluster
// can be upgraded one node at a time: a node still running the previous
// release decodes and applies every command a newer leader writes, with
// the same result (the objects now arrive defaulted and validated, which
// that release's FSM accepts unchanged), and the request-ID hashes, taken
// over the logged bytes, agree across the versions. A version 2 would have
// been unreadable to such a node. Version 1 was written when the FSM still
// filled defaults, so a v1 object may leave fields empty or spell a MAC,
// IP or datapath ID in any accepted way; the decoder gives such fields the
// meaning version 1 gave them, with a frozen copy of those rules
// (logtypes.go) that never follows the model's Defaults. A change that
// needs different meaning for the same bytes is a new version.
//
// The type byte's high bit means "ignore if unknown": a node that cannot
// decode such a command (unknown type or version, unreadable body) skips
// it and counts it in nva_store_skipped_commands_total. Any other command
// it cannot decode stops its FSM for good (FatalError): the state stays
// at the index before it, nothing later is applied, writes and consistent
// reads fail, leadership is handed away, no snapshot is taken (so the log
// keeps the command), and Config.OnFatal, Store.Fatal and Store.Err report
// it, so that the daemon exits and the node is upgraded. Skipping it, as
// earlier versions did, would let the node's state silently differ from
// the other members'. Type numbers are never reused.
//
// # Rules and results
//
// The stateless rules (defaults, validation) run before a command is
// proposed: on the node that takes the request, and again on the leader,
// which also judges the command against its state when that state holds
// every acknowledged write (after a barrier in its term), so that bad input
// and most conflicts cost no log entry. The FSM runs neither defaults nor
// validation: what it does depends on the log alone. It keeps the rules
// that must be judged in log order, against the state every node has at
// that index: existence, uniqueness (names, VNIs, datapath IDs, underlay
// IPs, MACs and IPs within a VN, attachment points), references from ports
// to VNs and NVEs, delete protection, and the expected revision of a
// conditional update; a rejected command changes nothing. Allocations are
// part of a command's meaning and deterministic: a VN without VNI gets the
// lowest free VNI, an NVE without datapath ID the lowest free one from
// 0x00004e5600000001 (an update keeps the current one). Domain errors are
// *model.Error values. The FSM remembers request IDs with their results
// (in snapshots too) for at least 24 h of log time, and the last 10,000
// whatever their age, up to 1,000,000 results, a batch counting one per
// item (DedupPolicy; age is the leader's append
// time, carried in the log, so every node forgets the same IDs), so a
// retried write is applied once and answers with its original result;
// that is what makes retries across leader changes and long partitions
// safe. Recorded reads the table (a PATCH retried after its object was
// deleted is answered from it).
//
// A batch (Store.Batch, at most MaxBatchItems items) is one command whose
// items are the object commands above, each encoded as its own version-1
// body: prepared item by item (every failing item reported, as
// items[i].<field>), judged by the leader and applied by the FSM in item
// order on the state itself, each item by its own rules against what the
// items before it left, and undone in reverse order when any item fails,
// so it changes everything or nothing. It publishes one event per item, all
// at its index, and has one request ID.
//
// # Reads, writes and the cluster
//
// Snapshot is a local, immutable view; ConsistentSnapshot is linearizable
// (leader: VerifyLeader and Barrier; follower: read index from the leader).
// Writes on a follower are forwarded to the leader over the member API's
// /internal/v1/apply, which the store serves on its cluster port next to
// raft (stream.go, member.go), with raft's mutual-TLS identity
// (Config.RaftTLS) or Config.MemberToken, loopback-only without either.
// Joining nodes enter as non-voters and are promoted once caught up
// (promote.go); WriteBackup and RestoreBackup (backup.go) move the state
// into a new cluster. With no leader or no quorum a write waits up to
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
