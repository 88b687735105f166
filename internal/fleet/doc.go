// Package fleet owns nva's simulated fleet for the scale harness
// (`nva-lab scale`): minimal but real OpenFlow 1.3 switches that connect
// over TCP to nva's OpenFlow listener and keep their own flow and group
// tables (Switch), an in-memory OVSDB server per Open vSwitch NVE that
// plays ovs-vswitchd's part (it numbers the interfaces nva adds and points
// the switch at the bridge's datapath ID and controllers: OVSDB), the
// benchmark layout (Layout: VNs, NVEs and ports as nva's REST API takes
// them), a small REST client over web/wire (Client), the process
// figures read from /proc (ReadProc), and the control protocol that runs
// a fleet in a process of its own (ServeControl in `nva-lab fleet`,
// Remote in the harness: JSON lines over the child's stdin and stdout), so
// that the fleet's goroutines do not delay the harness's timing.
//
// A Switch answers what a controller asks of an Open vSwitch bridge or a
// hardware switch: hello, features, echo (both ways, with an inactivity
// probe), role requests, barriers, the flow-stats, group-description,
// port-description, table-features and description multiparts from its own
// tables, flow and group mods applied to them, ONF bundles (Open vSwitch
// kind only; a strict switch refuses experimenter messages) and port-status
// messages when its ports change. It counts what it was sent and how its
// connections ended, which is what the harness checks: tables equal to
// nva's desired state, no flow-mods on a warm restart, no dropped
// connections.
//
// It imports app/... and web/wire (and libraries), nothing of nva's
// services: the harness drives nva from outside, as an operator and a
// fleet of switches would. The one exception is ovsdb/vswitch, the
// generated model of Open vSwitch's own database schema.
package fleet
