// Command nva is the network virtualization authority daemon. With no
// flags it bootstraps a single-node cluster in ./nva-data and serves the
// REST API on 127.0.0.1:8080; see `nva -h` for the cluster flags, each of
// which also has an NVA_* environment variable and a YAML config key.
//
// Subcommands: `nva pki init|issue` makes a lab CA and node certificates
// for a TLS cluster; `nva restore --from FILE --data-dir DIR` prepares a
// new node from a backup (nvactl snapshot save).
//
// Every setting is validated before anything starts: an invalid one exits
// with status 2 and one line per problem, "nva: --flag: ...", naming the
// value, what is wrong and the accepted forms.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/nva-project/nva/cmd/nva/daemon"
)

func main() {
	os.Exit(run(os.Args[1:], os.LookupEnv, os.Stderr))
}

func run(args []string, lookup func(string) (string, bool), stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "pki": // pki.go: a lab CA and node certificates
			return runPKI(args[1:], os.Stdout, stderr)
		case "restore": // restore.go: a new cluster from a backup
			return runRestore(args[1:], os.Stdout, stderr)
		}
	}
	settings, err := daemon.LoadSettings(args, lookup, stderr)
	if errors.Is(err, daemon.ErrHelp) {
		return 0
	}
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(stderr, "nva: %s\n", line)
		}
		return 2
	}
	logger, err := daemon.NewLogger(stderr, settings.LogFormat, settings.LogLevel)
	if err != nil {
		fmt.Fprintf(stderr, "nva: %v\n", err)
		return 2
	}
	if n := settings.MemoryLimitBytes(); n > 0 { // --memory-limit: the process's, so set here
		debug.SetMemoryLimit(n)
		logger.Info("memory limit set", "bytes", n)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := daemon.Run(ctx, daemon.Config{Settings: settings, Logger: logger, Southbound: daemon.OpenFlowAndOVSDB}); err != nil {
		logger.Error("nva failed", "err", err)
		return 1
	}
	return 0
}
