package ovsdb

import (
	"testing"
	"time"

	"github.com/nva-project/nva/internal/ovstest"
)

// A test lab is one real Open vSwitch (internal/ovstest): ovsdb-server and
// ovs-vswitchd in their own network namespace. The OVSDB socket is a file,
// so the Manager in the test process reaches it without entering the
// namespace.

const labPrefix = "nvaovsdb-"

// ovsLab adds the ovsdb tests' own helpers to an ovstest.OVS.
type ovsLab struct {
	*ovstest.OVS
	t testing.TB
}

// newOVSLab starts a lab whose ovs-vsctl runs do not wait for
// ovs-vswitchd (the tests read the database nva writes), or skips the test
// without root and Open vSwitch.
func newOVSLab(t *testing.T) *ovsLab {
	t.Helper()
	return &ovsLab{OVS: ovstest.Start(t, ovstest.Options{Prefix: labPrefix, NoWait: true}), t: t}
}

// addVeth creates a veth pair inside the namespace, both ends up.
func (l *ovsLab) addVeth(name, peer string) {
	l.t.Helper()
	l.Run("ip", "-n", l.Netns(), "link", "add", name, "type", "veth", "peer", "name", peer)
	l.Run("ip", "-n", l.Netns(), "link", "set", name, "up")
	l.Run("ip", "-n", l.Netns(), "link", "set", peer, "up")
}

// waitFor polls cond until it holds or timeout passes; cond's message says
// what is still missing.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, msg := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s: %s", timeout, what, msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
