package main

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/nva-project/nva/internal/fleet"
)

// fleetProcess is `nva-lab fleet`, an internal command: the scale
// harness's simulated fleet in a process of its own, driven by its parent
// over stdin and stdout (fleet.ServeControl); its log goes to stderr.
func fleetProcess(ctx context.Context, args []string) error {
	if len(args) != 0 {
		return fmt.Errorf("takes no arguments (it is started by nva-lab scale)")
	}
	// stdout carries the answers to the parent: nothing else may write
	// to it.
	out := os.Stdout
	os.Stdout = os.Stderr
	log.SetOutput(os.Stderr)
	done := make(chan error, 1)
	go func() { done <- fleet.ServeControl(os.Stdin, out) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done(): // SIGTERM: the parent's directory holds the sockets
		return ctx.Err()
	}
}

// fleetCommand is the command line of the fleet process: this program's
// fleet command (a test binary answers it in TestMain).
func fleetCommand() ([]string, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("the fleet process: %w", err)
	}
	return []string{exe, "fleet"}, nil
}
