package main

import (
	"log/slog"
	"maps"
	"sync"

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
//
// The two halves share what OVSDB learns about OpenFlow port numbers: the
// southbound compiles an NVE with its switch's port table completed by the
// ofports OVSDB reports (nvesync's PortNumbers), and an OVSDB status whose
// ofports changed has the NVE recompiled at once (PortsChanged). So a VAP
// interface nva attaches is compiled in as soon as either the switch's
// port-status event or OVSDB reports its port.
func southbound(settings daemon.Settings, logger *slog.Logger) ([]daemon.Component, error) {
	var syncer *nvesync.Syncer
	of := ofctl.New(ofctl.Config{ListenAddr: settings.OpenFlowAddr, Logger: logger,
		PortNumbers: func(nve string) map[string]uint32 { return syncer.PortNumbers(nve) }})
	var mu sync.Mutex
	last := map[string]map[string]uint32{} // NVE -> ofports last reported
	onStatus := func(st ovsdb.Status) {
		mu.Lock()
		changed := !maps.Equal(last[st.NVE], st.OFPorts)
		if changed {
			last[st.NVE] = maps.Clone(st.OFPorts)
		}
		mu.Unlock()
		if changed {
			of.PortsChanged(st.NVE)
		}
	}
	syncer = nvesync.New(func() nvesync.OVSDB {
		return ovsdb.NewManager(logger.With("component", "ovsdb"), onStatus)
	}, of, logger.With("component", "nvesync"))
	return []daemon.Component{syncer, of}, nil
}
