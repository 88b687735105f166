// Package ofshim is test support: an OpenFlow 1.3 conformance proxy that
// makes a real ovs-vswitchd behave, towards nva, like a strict OpenFlow 1.3
// hardware switch. Open vSwitch cannot be told to refuse its Nicira
// extensions or ONF bundles (../shared/machine-notes.md), so tests of the
// strict "kind: openflow" profile put this shim between nva and OVS:
//
//	ovs-vswitchd --(controller target = Shim.Target())--> shim --(dial Options.Upstream)--> nva's OpenFlow listener
//
// Open vSwitch dials its controller, so the shim listens where OVS
// connects and dials nva once per switch connection; several switches may
// be connected at once. Messages are framed by their 8-byte header and
// passed on unchanged both ways, except that:
//
//   - controller-to-switch OpenFlow 1.3 messages are inspected, and any
//     that a strict switch would reject is not forwarded: the controller
//     gets the OFPT_ERROR such a switch sends (same xid, data = the first
//     64 bytes of the message) and the refusal is counted (Refused) and
//     kept (Refusals);
//   - the switch's FEATURES_REPLY reports at most MaxTables tables.
//
// Refusals, with the error each answers with (codes by their OpenFlow 1.3
// names; 1.0's *_BAD_VENDOR are the same numbers):
//
//	any OFPT_EXPERIMENTER (ONF bundles, Nicira messages)  BAD_REQUEST / BAD_EXPERIMENTER (3)     experimenter-message
//	multipart request of type OFPMP_EXPERIMENTER          BAD_REQUEST / BAD_EXPERIMENTER (3)     experimenter-multipart
//	match field not OFPXMC_OPENFLOW_BASIC (NXM, exp. OXM)  BAD_MATCH / BAD_FIELD (6)              match-field
//	  or a basic field beyond OpenFlow 1.3's 0..39 (flow-mod, flow and aggregate stats requests)
//	experimenter action (Nicira's included)                BAD_ACTION / BAD_EXPERIMENTER (2)      experimenter-action
//	set_field of a non-basic OXM (Nicira tun_dst, ...)     BAD_ACTION / BAD_SET_TYPE (13)         set-field-type
//	action type OpenFlow 1.3 does not define               BAD_ACTION / BAD_TYPE (0)              action-type
//	experimenter instruction                               BAD_INSTRUCTION / UNSUP_INST (1)       experimenter-instruction
//	instruction type OpenFlow 1.3 does not define          BAD_INSTRUCTION / UNKNOWN_INST (0)     instruction-type
//	flow-mod for table >= MaxTables (OFPTT_ALL allowed      FLOW_MOD_FAILED / BAD_TABLE_ID (2)     table-id
//	  in deletes); table-mod: TABLE_MOD_FAILED / BAD_TABLE (0); stats request: BAD_REQUEST / BAD_TABLE_ID (9)
//	goto_table >= MaxTables                                BAD_INSTRUCTION / BAD_TABLE_ID (2)     goto-table
//	structurally invalid message                           the BAD_LEN code of the part at fault  malformed
//
// set_field of a Nicira field is a standard action carrying a field the
// switch does not know, so it is refused as OFPBAC_BAD_SET_TYPE ("unsupported
// type in SET_FIELD action"), not as an experimenter action: that is the
// error a strict switch reports for a field it cannot set, and it tells the
// test which of the two mistakes the encoder made. Actions are checked
// wherever they occur: flow-mod instructions, group-mod buckets and
// packet-outs.
//
// It imports only the standard library: the verdicts do not depend on the
// codec nva itself uses.
package ofshim
