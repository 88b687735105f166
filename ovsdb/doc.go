// Package ovsdb owns nva's management of hypervisor Open vSwitch NVEs over
// the OVSDB protocol (RFC 7047): sessions are nva's own (ovsdb/rpc, which
// uses libovsdb for the wire types and to decode rows into the models
// generated in ovsdb/vswitch).
//
// A Manager keeps one OVSDB session and monitor cache per NVE, each driven by
// its own goroutine. The goroutine connects (unix:, tcp: or ssl:), reconnects
// with exponential backoff, and "ensures" the desired state: it computes the
// difference between the monitor cache and the Desired value and applies it in
// one transaction with the minimal operations, doing nothing when they agree.
// Any change seen in the monitor (an out-of-band ovs-vsctl edit, a reconnect,
// a new ofport) triggers another ensure, so drift is repaired.
//
// ssl: endpoints use the node's certificate as the client certificate and
// verify the server as Open vSwitch verifies its peers: its chain against
// the switch CA (no host name), and the NVE's certificate pin when it has
// one (WithClientTLS, tls.go).
//
// What nva owns on an NVE: the integration bridge's OpenFlow settings
// (datapath_type, fail_mode=secure, protocols=OpenFlow13,
// other_config:datapath-id), its controller targets (connection_mode
// out-of-band), one tunnel port per encapsulation, and the VAP interfaces as
// ports. Rows nva inserts carry external_ids:nva-owned=true; when nva changes
// a bridge it did not create, the original settings are recorded in
// external_ids:nva-orig-* so that Remove can restore them. Remove deletes only
// nva-owned rows.
//
// Status (OVSDB connectivity, last error, ofports and link states of the
// bridge's interfaces) is pushed to a callback whenever it changes; the
// OpenFlow southbound uses the ofports.
package ovsdb
