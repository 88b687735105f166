package fleet

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nva-project/nva/app/model"
)

// Fleet is the simulated NVEs of a layout: one switch per NVE and, for ovs
// NVEs, its OVSDB server.
type Fleet struct {
	Layout   Layout
	Switches []*Switch
	DBs      []*OVSDB // ovs kind only
	dir      string
}

// Start starts the fleet. Openflow switches connect to every controller
// address (HOST:PORT) at once; ovs switches wait for nva to configure their
// bridge over OVSDB (sockets in a new directory under dir).
func Start(l Layout, controllers []string, dir string) (*Fleet, error) {
	if err := l.Check(); err != nil {
		return nil, err
	}
	f := &Fleet{Layout: l}
	if l.Kind == model.NVEOVS {
		d, err := os.MkdirTemp(dir, "fleet")
		if err != nil {
			return nil, err
		}
		f.dir = d
	}
	replies := NewReplyBufs()
	for j := 0; j < l.NVEs; j++ {
		if l.Kind == model.NVEOVS {
			sw := NewSwitch(0, SwitchOptions{Bundles: true, Replies: replies})
			db, err := StartOVSDB(filepath.Join(f.dir, fmt.Sprintf("n%d.sock", j)), sw)
			if err != nil {
				f.Close()
				return nil, fmt.Errorf("NVE %d: %w", j, err)
			}
			f.Switches = append(f.Switches, sw)
			f.DBs = append(f.DBs, db)
			continue
		}
		sw := NewSwitch(DatapathID(j), SwitchOptions{NumTables: 254, Replies: replies})
		sw.SetPorts(l.SwitchPorts(j))
		sw.SetControllers(controllers)
		f.Switches = append(f.Switches, sw)
	}
	return f, nil
}

// OVSDBEndpoint is NVE j's OVSDB endpoint ("" for openflow NVEs).
func (f *Fleet) OVSDBEndpoint(j int) string {
	if j < len(f.DBs) {
		return f.DBs[j].Endpoint()
	}
	return ""
}

// Close stops every switch and server and removes the sockets.
func (f *Fleet) Close() {
	for _, sw := range f.Switches {
		sw.Close()
	}
	for _, db := range f.DBs {
		db.Close()
	}
	if f.dir != "" {
		os.RemoveAll(f.dir)
	}
}

// Totals is the fleet's counters added up (MaxSilence: the largest).
func (f *Fleet) Totals() SwitchStats {
	var t SwitchStats
	for _, sw := range f.Switches {
		s := sw.Stats()
		t.FlowMods += s.FlowMods
		t.GroupMods += s.GroupMods
		t.Bundles += s.Bundles
		t.Errors += s.Errors
		t.Connects += s.Connects
		t.Dropped += s.Dropped
		t.ProbeTimeouts += s.ProbeTimeouts
		t.MaxSilence = max(t.MaxSilence, s.MaxSilence)
	}
	return t
}

// OVSDBSessions adds up the simulated OVSDB servers' client sessions:
// how many were opened and how many ended.
func (f *Fleet) OVSDBSessions() (opened, ended uint64) {
	for _, db := range f.DBs {
		a, b := db.Sessions()
		opened += a
		ended += b
	}
	return opened, ended
}

// Connected is how many switches have at least want open controller
// connections.
func (f *Fleet) Connected(want int) int {
	n := 0
	for _, sw := range f.Switches {
		if sw.Connected() >= want {
			n++
		}
	}
	return n
}

// Tables is the number of flows and groups of all switches.
func (f *Fleet) Tables() (flows, groups int) {
	for _, sw := range f.Switches {
		a, b := sw.Tables()
		flows += a
		groups += b
	}
	return flows, groups
}

// Restart restarts every switch: empty tables, new connections (a cold
// start of the fleet; the OVSDB servers keep their databases, as
// ovsdb-server does when ovs-vswitchd restarts).
func (f *Fleet) Restart() {
	for _, sw := range f.Switches {
		sw.Restart()
	}
}

// Err is the first error a simulated vswitchd reported (nil: none).
func (f *Fleet) Err() error {
	var errs []error
	for j, db := range f.DBs {
		if err := db.Err(); err != nil {
			errs = append(errs, fmt.Errorf("NVE %d OVSDB: %w", j, err))
			break
		}
	}
	return errors.Join(errs...)
}

// ResetSilence starts the MaxSilence measurement anew on every switch.
func (f *Fleet) ResetSilence() {
	for _, sw := range f.Switches {
		sw.maxSilence.Store(0)
	}
}
