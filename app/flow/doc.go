// Package flow owns nva's switch-independent representation of OpenFlow
// state: match fields (one registry, with their OXM/NXM identities and text
// forms), flows, actions and groups. The compiler produces it, the
// southbound encodes it to OpenFlow 1.3 and decodes installed state back to
// it, and the packet simulator executes it. It also owns the ovs-ofctl
// text form of flows and groups (text.go) and nva's cookie scheme
// (cookie.go). It does no I/O.
package flow
