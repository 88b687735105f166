package main

import (
	"log/slog"

	"github.com/nva-project/nva/app/daemon"
)

// southbound builds the daemon's southbound components (the OpenFlow
// controller listening on settings.OpenFlowAddr, the OVSDB manager) from
// the resolved settings. This is the one place they are wired into the
// binary; the daemon starts them after the store opens and registers the
// ones that implement web.Realizer, web.FlowReporter or web.StatusReporter
// with the REST API. None exist yet.
func southbound(settings daemon.Settings, logger *slog.Logger) ([]daemon.Component, error) {
	return nil, nil
}
