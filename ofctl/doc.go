// Package ofctl owns nva's OpenFlow southbound: the daemon component that
// listens for NVE switches (through ofctl/conn), maps each switch's
// datapath ID to the NVE with that ID in the store, compiles that NVE's
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
//   - periodically (Config.AuditInterval): re-read the installed state and
//     repair drift.
//
// Changes that remove and add state at once (a port moving, a VN changing
// encapsulation) are sent in an ONF bundle so the switch applies them
// atomically; pure additions are sent as plain messages.
//
// In a cluster every node runs the southbound and every switch connects to
// every node, but only the Raft leader writes. Other nodes observe: on the
// same triggers they read the switch and compare it with their own desired
// state, so realization (and the flow and status reports) work on any node
// and a new leader takes over with a fresh read. A switch therefore never
// sees two controllers fighting over a transition. A node that has just
// won an election may still be replaying its Raft log (typically right
// after a restart), so the new leader keeps observing until its store says
// it has applied everything committed before its term (Source.LeaderReady:
// one Raft barrier per term), and only then computes desired state and
// writes. The leader also claims the OpenFlow master role with the Raft
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
