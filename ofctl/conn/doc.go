// Package conn owns nva's per-switch OpenFlow 1.3 connection layer: the
// listener that accepts switches (plain TCP, TLS or a unix socket), the
// hello/version negotiation, the features and port-description handshake,
// one strictly ordered reader per switch, a single serialized writer, xid
// allocation with reply futures (including multipart accumulation and
// OFPT_ERROR matching), barriers that report the errors of the messages sent
// before them, echo keepalive with a dead interval, the port table fed by
// port-status events, ONF bundles (atomic commits over OpenFlow 1.3), role
// requests, and packet-in/packet-out: packet-ins decoded (in_port,
// metadata, tunnel_id, data) and handed to Options.OnPacketIn on a bounded
// per-switch queue of their own, packet-outs built from standard OpenFlow
// 1.3 actions only (output, push/pop VLAN, set vlan_vid), whose errors
// never land in another caller's Barrier.
//
// Liveness never waits for the caller's work: per switch, the reader is
// a goroutine of its own, and one keepalive per Listener (a sweeper on one
// timer, not a goroutine and a ticker per switch) sends the echo requests
// of Open vSwitch's inactivity probe to the switches silent for the echo
// interval and enforces the dead interval. Neither ever waits for a
// switch's write lock: the reader answers an echo request itself when the
// lock is free and the socket takes the reply at once, else a goroutine of
// its own waits for the lock (or the socket), so the reader keeps reading
// while a large batch (SendAll, or SendAllRaw for messages the caller
// encoded to wire bytes itself) or bundle (Bundle, BundleRaw) is being
// written; likewise for the sweeper's echo requests. Any message received
// counts as liveness.
//
// It uses antrea.io/libOpenflow's openflow13 package only as a codec for
// message bodies. Framing, length validation and all dispatch are done here:
// every frame is length-checked before any libOpenflow parser sees it, and
// the parsers run under recover, so a malformed message closes only the
// connection of the switch that sent it.
//
// What the messages mean (flows, groups, reconciliation) is not this
// package's business; see package ofctl and ofctl/codec.
package conn
