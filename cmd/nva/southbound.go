package main

import (
	"log/slog"

	"github.com/nva-project/nva/app/daemon"
	"github.com/nva-project/nva/app/nvesync"
	"github.com/nva-project/nva/ofctl"
	"github.com/nva-project/nva/ovsdb"
)

// southbound builds the daemon's southbound components from the resolved
// settings. This is the one place they are wired into the binary; the
// daemon starts them after the store opens and registers the ones that
// implement web.Realizer, web.FlowReporter or web.StatusReporter with the
// REST API (the first of each kind wins, hence the order: the OVSDB syncer
// reports the combined OVSDB+OpenFlow status, the OpenFlow southbound
// realization and flows).
func southbound(settings daemon.Settings, logger *slog.Logger) ([]daemon.Component, error) {
	of := ofctl.New(ofctl.Config{ListenAddr: settings.OpenFlowAddr, Logger: logger})
	sync := nvesync.New(func() nvesync.OVSDB {
		return ovsdb.NewManager(logger.With("component", "ovsdb"), nil)
	}, of, logger.With("component", "nvesync"))
	return []daemon.Component{sync, of}, nil
}
