// Package ofctl owns nva's OpenFlow southbound: the daemon component that
// listens for NVE switches (through ofctl/conn), maps each switch's
// datapath ID to the NVE with that ID in the store (only when the switch
// presents the certificate the NVE pins, if it pins one: identity.go;
// over TLS the listener has already required a certificate of the switch
// CA), compiles that NVE's
// desired flows and groups (app/compiler) and keeps the switch equal to
// them by reconciliation (ofctl/reconcile, ofctl/codec):
//
//   - on (re)connect: read the switch's flows (only those carrying nva's
//     cookie tag) and groups, diff, send the minimal adds, modifies and
//     deletes, then a barrier. A switch is never cleared: flows that are
//     already right are not touched, so traffic keeps flowing across
//     controller restarts.
//   - on every store change: recompile only the NVEs the change affects
//     (those hosting a changed VN or port before or after the change, and
//     the peers of a changed NVE) and send only the difference; also on
//     port-status events, since OpenFlow port numbers come from the
//     switch's own port table (interfaces by name, tunnel ports by
//     compiler.TunnelPortName), so no OVSDB is needed; when OVSDB is
//     there (Config.PortNumbers, PortsChanged) its ofports complete the
//     table and whichever source learns a new port first triggers the
//     recompile.
//   - periodically (Config.AuditInterval; the daemon's --audit-interval,
//     60 s by default: a clean audit of an 843-entry switch costs about
//     1.5 ms of CPU, so 1,000 switches cost about 2.5 % of a core), on the
//     leader only: audit.
//     Each interval is a round in which every switch is audited once, at
//     its own phase (the round spreads them evenly, in datapath-ID order).
//     Followers do not audit: they re-read a switch on the triggers above
//     (and until it is in sync), and a new leader re-reads every switch. An audit reads the
//     switch and compares it with what nva last installed there (the
//     worker's record: the compiler cache's slices of the last sync, by
//     reference), not with a fresh compile: a report that hashes as the
//     last one found equal is clean without even being decoded, a changed
//     one is decoded and diffed (binary struct keys, no text). Only a
//     difference from the record is drift (logged "audit repaired drift",
//     counted in audit_repairs_total); a store change pending in the same
//     run is installed but never counted as drift. The audits' cost is
//     reported (audit_duration_seconds, audits_total,
//     audit_round_switches).
//
// Work is event-driven and bounded (pool.go): a kick queues the switch's
// worker once, a pool of Config.SyncWorkers goroutines runs the queue, and
// the CPU-bound parts of a run (compile, decode, diff, encode) take one of
// Config.PlanWorkers CPU slots (GOMAXPROCS by default), released while
// waiting for the switch. The connection layer's readers, echo replies and
// keepalives run on goroutines of their own and never wait for either, and
// anything a switch sends counts as liveness, so a busy nva does not drop
// healthy switches.
//
// Each NVE is compiled for its switch profile (app/pipeline.ForNVE: kind
// ovs -> the OVS profile, kind openflow -> the strict OpenFlow 1.3
// profile, or the one the NVE's profile field forces, renumbered by its
// table_ids; see profile.go), and the profile decides what the switch is
// sent. On a profile with bundles (OVS), changes that remove and add state
// at once (a port moving, a VN changing encapsulation) are sent in an ONF
// bundle so the switch applies them atomically, and pure additions as
// plain messages. A profile without bundles (strict) gets plain standard
// messages only, in make-before-break order and fenced by a barrier after
// each phase (see send); the codec encodes Nicira extensions only for a
// profile with Extensions. Before anything is written, the profile's
// tables are checked against the switch's OFPMP_TABLE_FEATURES answer
// where it gives one (tablefeatures.go): a mismatch is the NVE's error.
// A profile without flow-based tunnels reaches each remote NVE through a
// tunnel port of its own, found by name in the switch's port table
// (tunnels.go). A profile that cannot answer ARP and ND in the switch
// punts known requests to the controller, and the leader answers them by
// packet-out (responder.go, ofctl/neighbor). With Config.CounterInterval,
// while the counters are wanted (WantCounters: the API, metrics and
// events streams signal it), a node reads the flow statistics of nva's
// flows from the switches connected to it and attributes them to VNs,
// ports, tunnels and drop stages and reasons, with the switches' port
// statistics of tunnel ports and VAPs (counters.go, counters_ifaces.go,
// app/counters); with nobody looking it reads nothing. The leader
// runs live packet traces on OVS NVEs: a marked packet injected at a VAP
// and observed through temporary shadow flows (livetrace.go, app/trace).
//
// In a cluster every node runs the southbound and every switch connects to
// every node, but only the Raft leader writes. Other nodes observe: on the
// same triggers they read the switch and compare it with their own desired
// state, so realization (and the flow and status reports) work on any node
// and a new leader takes over with a fresh read. A switch therefore never
// sees two controllers fighting over a transition. A node that has just
// won an election may still be replaying its Raft log (typically right
// after a restart), so the new leader does not write until its store says
// it has applied everything committed before its term (Source.LeaderReady:
// one Raft barrier per term), and only then computes desired state and
// writes. A node that has just started reads no switch until it knows its
// role (it leads with its store caught up, or another node leads): a read
// against a half-replayed store would be done again at once. With the
// store's leader-change signal, the role is known as soon as it changes;
// the requests of a switch's handshake (features, port descriptions) and
// of its full read (table features, flows, groups) go out together, so a
// reconnecting switch is waited for three times (with the role request),
// not six. The leader also claims the OpenFlow master role with the Raft
// term as generation ID and followers take the slave role, so the switch
// itself refuses a deposed leader.
//
// Realization: for every NVE the southbound tracks the store revision whose
// state the switch last acknowledged with a barrier (or a bundle commit);
// WaitRealized waits until every connected NVE affected by the changes up
// to a revision has caught up. An NVE whose port (or needed tunnel port)
// has no OpenFlow port yet has not caught up with the revisions from that
// port's on: its flows are not there, so it stays a laggard until the port
// appears and is compiled in. A switch whose datapath ID no NVE claims
// stays connected, is reported as unclaimed, and is never written to.
package ofctl
