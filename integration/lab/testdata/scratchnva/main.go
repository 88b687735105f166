// Scratch wiring (not committed): cmd/nva plus the ofctl southbound, to
// exercise the e2e tests before the daemon wires it.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nva-project/nva/app/daemon"
	"github.com/nva-project/nva/ofctl"
)

func main() {
	settings, err := daemon.LoadSettings(os.Args[1:], os.LookupEnv, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	logger, _ := daemon.NewLogger(os.Stderr, settings.LogFormat, settings.LogLevel)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sb := ofctl.New(ofctl.Config{ListenAddr: settings.OpenFlowAddr, Logger: logger, AuditInterval: 5 * time.Second})
	if err := daemon.Run(ctx, daemon.Config{Settings: settings, Logger: logger, Southbound: []daemon.Component{sb}}); err != nil {
		logger.Error("nva failed", "err", err)
		os.Exit(1)
	}
}
