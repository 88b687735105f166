// Package lab builds throw-away Open vSwitch labs in network namespaces for
// nva's end-to-end tests, benchmarks and demo.
//
// A lab is a fabric namespace with a Linux bridge (the IP underlay) and N
// hypervisor namespaces. Each hypervisor runs its own ovsdb-server and
// ovs-vswitchd (userspace datapath, private OVS_RUNDIR/OVS_LOGDIR), has a
// br-phy bridge that owns the underlay IP 198.18.0.<i>/24 and holds the
// underlay veth, and a management veth to a Linux bridge in the root
// namespace (198.19.<L>.0/24) so that OpenFlow from the hypervisor reaches a
// controller listening in the root namespace on ControllerAddr.
//
// MTU choice: the underlay (veths, fabric bridge and br-phy) runs at 1600
// bytes by default so that tenants keep a standard 1500-byte MTU with any
// of VXLAN, GENEVE or GRE encapsulation.
//
// br-int is not created by default: nva's OVSDB manager creates it.
// PrepareBridge creates it by hand (with the flow-based tunnel ports
// nva-vxlan, nva-geneve and nva-gre and the controller target) for tests
// that run without the OVSDB manager.
//
// A hypervisor can also play a hardware OpenFlow 1.3 switch (an NVE of
// kind openflow): PrepareStrictBridge configures its br-int as a switch
// administrator would (fixed datapath ID, per-remote tunnel ports named by
// RemoteTunnelPort), TenantSpec.AttachBridge adds tenants' interfaces to
// it, and StartShim runs the strict OpenFlow 1.3 conformance proxy
// (internal/ofshim) that its controller target points at.
//
// Tenant systems are namespaces joined to a hypervisor by a veth pair whose
// hypervisor end ("vm-<name>") is left outside any bridge: attaching it is
// nva's job (or AttachTenant's, without nva).
//
// Every name a lab creates starts with a per-lab prefix ("nvl<pid%1000><n>-").
// Labs sweep what earlier, dead runs left behind when they start, clean up
// after themselves on success and failure, and, when a test fails, dump
// flows, groups, OVS configuration and logs (and any registered nva logs)
// into a directory under $NVA_TEST_ARTIFACTS (or the system temp dir) whose
// path is printed in the test log.
package lab
