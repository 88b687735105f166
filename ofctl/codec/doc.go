// Package codec owns the translation between nva's flow IR (app/flow) and
// OpenFlow 1.3 messages as modelled by antrea.io/libOpenflow's openflow13
// package: flows to FLOW_MOD, groups to GROUP_MOD, and the switch's flow
// stats and group descriptions back to canonical IR.
//
// Flow and group mods have two encoders that produce the same bytes:
// EncodeFlowMod and EncodeGroupMod build libOpenflow messages (the
// reference, and what tools and tests marshal), while AppendFlowMod and
// AppendGroupMod append the wire bytes straight to a caller's buffer, with
// no libOpenflow structures and no allocation for canonical IR; the
// southbound sends its plans with them. Tests compare both on every flow
// and group the compiler emits for its golden scenarios and on random
// ones, errors included.
//
// Canonical IR is the form Canonical and CanonicalGroup produce: matches
// sorted with at most one entry per field, masked values reduced to the bits
// under their mask, all-ones masks dropped, all-zero masks dropped together
// with their field, Output.MaxLen only on controller outputs, bucket watch
// ports/groups only on fast-failover groups. Decoding always yields
// canonical IR, and decode(encode(x)) == Canonical(x), so the reconciler can
// compare what it wants with what a switch reports field by field.
//
// Nicira (Open vSwitch) extensions — NXM class fields such as tun_dst and
// the registers, and the reg_move action — are encoded only when
// Options.AllowNicira is set; a strict OpenFlow 1.3 profile gets an error
// instead of a message its switch would reject.
package codec
