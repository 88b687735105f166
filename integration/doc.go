// Package integration holds nva's end-to-end tests: the real nva binary is
// started against a lab of real Open vSwitch hypervisors (see package
// integration/lab) and driven only through its REST API, and tenant
// systems in network namespaces prove what the data plane does.
//
// The tests need root and the Open vSwitch binaries; without them they
// skip with the reason. Failure artifacts (flows, groups, OVS and nva logs)
// go under $NVA_TEST_ARTIFACTS or the system temp dir, and the path is
// printed in the test log.
package integration
