// Package integration holds nva's end-to-end tests: the real nva binary is
// started against a lab of real Open vSwitch hypervisors (package
// integration/lab) and driven only through its REST API, and tenant
// systems in network namespaces prove what the data plane does.
//
// TestOverlay builds three hypervisors, four VNs (two VXLAN VNs sharing
// 192.0.2.0/24 with identical IPs, one GENEVE, one GRE) and eleven tenant
// systems, then checks in order: what nva configured over OVSDB and reports
// in the API; the reachability matrix; ARP and ND suppression (no
// encapsulated request for a known address crosses the underlay);
// broadcast scope per VN; GENEVE and GRE; an MTU-sized TCP transfer;
// zero loss at 50 packets/s across a graceful and a crash restart of nva;
// drift repair (flows and a tunnel port deleted by hand); VM mobility; and
// that a port written with ?wait=realized forwards at once.
//
// TestUI drives the embedded web UI in headless Chromium (Debian's
// chromium, through chromedp) against the same kind of lab: the nodes and
// edges drawn against the API's topology, a port appearing live (within a
// second of its realized answer, nothing else moving) and disappearing,
// the VN filter and search, an NVE's flows panel, a hypervisor's
// ovs-vswitchd stopped and started (its NVE and tunnels down, then up),
// and an nva restart (reconnecting, then live); any console error fails
// it. Its screenshots go to NVA_E2E_OUT (default out/ui/ in the
// repository). A root machine without chromium fails it rather than skip
// (scripts/install-deps.sh installs it); NVA_E2E_CHROMIUM names another
// browser binary. The nva binary must have been built with the UI (make
// build).
//
// TestStrictNVE (issue 8's acceptance test) makes hypervisor hv1 play a
// hardware OpenFlow 1.3 switch: the test configures its bridge by hand
// (fixed datapath ID, one VXLAN tunnel port per remote named by nva's
// convention, the tenants' interfaces), registers it as kind openflow and
// connects it to nva through the strict OpenFlow 1.3 conformance proxy
// internal/ofshim; hv2 and hv3 are ordinary ovs NVEs. Two VNs share the
// same IPv4 and IPv6 addresses. It checks the profile nva reports and the
// flows on the switch (tables 0-3, no Nicira extension), the IPv4 and IPv6
// reachability matrices, that nva's packet-in responder answers ARP and ND
// for known addresses (its counter grows, no encapsulated request leaves
// the switch), zero loss across a graceful and a kill -9 restart of nva,
// and that the shim refused nothing nva sent.
//
// Run them as root with Open vSwitch installed (they skip with the reason
// otherwise):
//
//	go test -count=1 -v ./integration/...
//
// Environment: NVA_E2E_NVA runs a prebuilt nva binary instead of building
// cmd/nva; NVA_TEST_ARTIFACTS is where failure artifacts (flows, groups,
// OVS and nva logs, nva's API view) go, default <tmp>/nva-test-artifacts,
// the path is printed in the test log; NVA_LAB_KEEP=1 leaves a failed
// test's lab running for inspection (the next lab's sweep removes it once
// the test process has exited).
package integration
