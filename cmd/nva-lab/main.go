// Command nva-lab runs nva against a lab of real Open vSwitch hypervisors
// in network namespaces (package integration/lab; demo and bench need root
// and Open vSwitch, userspace datapath), or against a fleet of simulated
// switches (package internal/fleet; scale, no root).
//
//	nva-lab demo [-nva bin/nva] [-api 127.0.0.1:8080]
//	    3 hypervisors, nva, two VNs sharing a tenant subnet with tenants,
//	    all through the REST API; prints who pings whom and the API
//	    address, stays up until Ctrl-C, then removes everything.
//	nva-lab demo-down
//	    stops a running demo and removes any lab left behind.
//	nva-lab bench [-nva bin/nva] [-sizes 10,50,200]
//	    write→realized latency for attaching M ports, the time from each
//	    write until that port's flows are on its NVE, flows per NVE, and
//	    tenant TCP throughput through nva's pipeline beside a plain
//	    actions=NORMAL bridge, as a table.
//	nva-lab bench-ovn [-nva bin/nva] [-sizes 10,50,200] [-ovn-encap geneve]
//	    the bench workload on nva and then on OVN 23.03 (ovn-central,
//	    ovn-host) in the same kind of lab, in one run: both tables and the
//	    ratios nva / OVN. Both systems' interfaces are plugged into br-int
//	    before their ramps, as OVS internal ports (tap devices, as a VM's
//	    are); -port-type veth and -nva-plugged=false change that.
//	nva-lab scale [-nva bin/nva] [-nves 10,100,1000] [-kind ovs|openflow] [-nodes 1|3]
//	    the fleet benchmark: simulated OpenFlow 1.3 switches (and OVSDB
//	    servers) against nva over real TCP, no root needed; prints a table
//	    per size (bulk load, initial sync, attaches, idle, warm and cold
//	    restart, leader failover).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/nva-project/nva/integration/lab"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func usage(w io.Writer) {
	fmt.Fprintln(w, `usage: nva-lab <command> [flags]

commands:
  demo       run a 3-hypervisor demo of nva until Ctrl-C
  demo-down  stop a running demo and remove leftover labs
  bench      measure write->realized latency, flow counts and throughput
  bench-ovn  the bench workload on nva and on OVN, side by side, with ratios
  scale      the fleet benchmark: simulated switches against nva (no root)

Run "nva-lab <command> -h" for a command's flags. demo and bench need root
and Open vSwitch.`)
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch args[0] {
	case "demo":
		err = demo(ctx, args[1:], stdout, stderr)
	case "demo-down":
		err = demoDown(ctx, args[1:], stdout, stderr)
	case "bench":
		err = bench(ctx, args[1:], stdout, stderr)
	case "bench-ovn":
		err = benchOVNCmd(ctx, args[1:], stdout, stderr)
	case "scale":
		err = scale(ctx, args[1:], stdout, stderr)
	case "fleet": // internal: the scale harness's fleet process
		err = fleetProcess(ctx, args[1:])
	case "-h", "--help", "help":
		usage(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "nva-lab: unknown command %q\n", args[0])
		usage(stderr)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "nva-lab %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

// nvaBinary returns the nva binary to run: path if given, otherwise one
// built into a temporary directory (removed by the returned cleanup).
func nvaBinary(ctx context.Context, path string, logf func(string, ...any)) (string, func(), error) {
	if path != "" {
		if _, err := os.Stat(path); err != nil {
			return "", nil, fmt.Errorf("nva binary: %w", err)
		}
		return path, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "nva-lab-bin")
	if err != nil {
		return "", nil, err
	}
	logf("building nva into %s", dir)
	bin, err := lab.BuildNVA(ctx, dir)
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	return bin, func() { os.RemoveAll(dir) }, nil
}
