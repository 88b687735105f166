package lab

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// cmdTimeout bounds every short command the lab runs.
const cmdTimeout = 30 * time.Second

// run executes a short command and returns its standard output. A failure
// carries the command line and its standard error.
func run(ctx context.Context, env []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err,
			strings.TrimSpace(stderr.String()+" "+stdout.String()))
	}
	return stdout.String(), nil
}

// nsArgs prefixes a command with "ip netns exec ns" when ns is not empty.
func nsArgs(ns, name string, args ...string) (string, []string) {
	if ns == "" {
		return name, args
	}
	return "ip", append([]string{"netns", "exec", ns, name}, args...)
}

// runIn executes a short command inside network namespace ns ("" = root).
func runIn(ctx context.Context, ns string, env []string, name string, args ...string) (string, error) {
	n, a := nsArgs(ns, name, args...)
	return run(ctx, env, n, a...)
}

// ipCmd runs "ip [-n ns] args...".
func ipCmd(ctx context.Context, ns string, args ...string) (string, error) {
	if ns != "" {
		args = append([]string{"-n", ns}, args...)
	}
	return run(ctx, nil, "ip", args...)
}

// Requirements lists what a lab needs on the machine, as the reason it cannot
// run, or "" when everything is there.
func Requirements() string {
	if os.Geteuid() != 0 {
		return "needs root (network namespaces and Open vSwitch daemons)"
	}
	var missing []string
	for _, b := range []string{"ip", "ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl", "ovs-ofctl", "ovs-appctl", "ping", "tcpdump", "ethtool", "iperf3", "ss"} {
		if _, err := exec.LookPath(b); err != nil {
			missing = append(missing, b)
		}
	}
	if len(missing) > 0 {
		return "missing binaries: " + strings.Join(missing, ", ") + " (apt-get install openvswitch-switch iproute2 iputils-ping tcpdump ethtool iperf3)"
	}
	if _, err := os.Stat(schemaPath); err != nil {
		return "missing OVS schema " + schemaPath
	}
	return ""
}
