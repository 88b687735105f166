package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"

	"github.com/nva-project/nva/internal/fleet"
)

// fleetProcess is `nva-lab fleet`, an internal command: the scale
// harness's simulated fleet in a process of its own, driven by its parent
// over stdin and stdout (fleet.ServeControl); its log goes to stderr.
func fleetProcess(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("fleet", flag.ContinueOnError)
	debugAddr := fs.String("debug-addr", "", "serve Go's profiles (/debug/pprof/) on this loopback HOST:PORT")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("unexpected arguments %q (the fleet process is started by nva-lab scale)", fs.Args())
	}
	// stdout carries the answers to the parent: nothing else may write
	// to it.
	out := os.Stdout
	os.Stdout = os.Stderr
	log.SetOutput(os.Stderr)
	if *debugAddr != "" {
		ln, err := listenLoopback(*debugAddr)
		if err != nil {
			return fmt.Errorf("-debug-addr: %w", err)
		}
		defer ln.Close()
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		go func() { _ = http.Serve(ln, mux) }()
	}
	done := make(chan error, 1)
	go func() { done <- fleet.ServeControl(os.Stdin, out) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done(): // SIGTERM: the parent's directory holds the sockets
		return ctx.Err()
	}
}

// listenLoopback listens on addr, which must be a loopback IP address
// and port: the profiles are for whoever runs the harness.
func listenLoopback(addr string) (net.Listener, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, err
	}
	if !ap.Addr().IsLoopback() {
		return nil, fmt.Errorf("%s is not a loopback address", ap.Addr())
	}
	return net.Listen("tcp", ap.String())
}

// fleetCommand is the command line of the fleet process: this program's
// fleet command (a test binary answers it in TestMain) with args.
func fleetCommand(args ...string) ([]string, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("the fleet process: %w", err)
	}
	return append([]string{exe, "fleet"}, args...), nil
}
