// Package vtep owns nva's management of hardware VTEPs (NVE kind vtep)
// over OVSDB with the hardware_vtep schema (RFC 8014 §5.2): the desired
// state of a VTEP derived from the domain (desired.go), the plan that
// brings a VTEP's database to it changing only what differs (plan.go), one
// OVSDB session per VTEP that applies it and reports the MACs the VTEP
// learned on its physical ports (manager.go), and the follower of the
// store that feeds them (syncer.go).
//
// What nva owns in a VTEP's database: the Logical_Switch rows it created
// (one per VN, named after the VN, tunnel_key = VNI, replication_mode
// source_node, description "nva"), the vlan_bindings of the physical ports
// that point at them, and the Ucast_Macs_Remote and Mcast_Macs_Remote rows
// of those logical switches. Physical_Locator rows are shared by dst_ip
// (the schema makes them unique and garbage-collects unreferenced ones);
// Physical_Locator_Set rows are immutable, so a changed replication list
// is a new set. Everything else (the physical switch, its ports, other
// controllers' logical switches, the Ucast_Macs_Local rows the VTEP
// learns) is read, never written.
//
// The table models are ovsdb/hwvtep's.
package vtep
