// Package neighbor owns nva's pure ARP and IPv6 neighbor-discovery
// responder logic: it parses an Ethernet frame (untagged, 802.1Q-tagged or
// 802.1ad+802.1Q double-tagged) carrying an ARP request or an ICMPv6
// Neighbor Solicitation, classifies whether nva may answer it, and builds
// the ARP reply or the solicited Neighbor Advertisement for a target MAC.
// It does no I/O and imports only the standard library; ofctl/neighbor
// runs it on packet-ins for switches that cannot build the answer in their
// fast path (strict OpenFlow 1.3 profiles).
//
// What is answered and what is not mirrors the in-switch responder the
// compiler emits (app/compiler, table neighbor), so a VN behaves the same
// whichever NVE kind serves a port:
//
//   - answered: an ARP request (opcode 1, Ethernet/IPv4) and an NS that
//     carries a source link-layer address option, for an address nva
//     knows (the caller's lookup decides that);
//   - not answered, left to normal forwarding: ARP opcodes other than
//     request (and ARP for other hardware/protocol types, which Open
//     vSwitch does not parse as ARP), ICMPv6 other than NS, ARP probes
//     (sender IP 0.0.0.0, RFC 5227), DAD NS (source ::, RFC 4862), NS
//     without a source link-layer option (Open vSwitch reads an absent
//     option as nd_sll=00:00:00:00:00:00, which the in-switch rule
//     matches, so an all-zero option counts as absent here too), and
//     requests a port makes for its own address: gratuitous ARP (sender
//     IP = target IP), an NS whose source is its target, and (ClassFor)
//     any request whose target's MAC is the requester's own.
//
// Stricter than the in-switch responder, deliberately: an NS whose hop
// limit is not 255 or whose ICMPv6 code is not 0, or whose target is a
// multicast address, is invalid (RFC 4861 §7.1.1: a host silently discards
// it, and would discard our advertisement too) and Parse returns
// ErrMalformed for it, as it does for truncated frames, zero-length ND
// options and frames from a group MAC address. The ICMPv6 checksum of the
// solicitation is not verified (neither does the switch).
//
// Replies: the ARP reply goes from the target MAC to the requester
// (eth_dst = its Ethernet source, tha/tpa = its sha/spa), padded to the
// 60-byte Ethernet minimum; the advertisement goes from the target MAC and
// target address to the requester's MAC and source address, with hop limit
// 255, flags Solicited and Override (Router clear: nva's ports are hosts),
// one target link-layer address option, and the ICMPv6 checksum over the
// IPv6 pseudo-header. Both keep the request's VLAN tags.
package neighbor
