package ofctl

import (
	"errors"
	"fmt"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/pipeline"
)

// profileFor returns the switch profile NVE n is compiled for: its kind's
// (ovs: pipeline.OVS, openflow: the strict OpenFlow 1.3 profile), or the
// one its profile field forces, with the table numbers its table_ids pin.
// The profile decides everything the southbound sends the switch: the
// codec's extensions (Nicira encodings only when Extensions), bundles or
// plain barrier-fenced messages (Bundles), flow-based or per-remote tunnel
// ports (FlowTunnels), and the table numbers. The store checked the
// fields before accepting the NVE; an error here (a profile changed since)
// is the NVE's error, and nothing is written to its switch.
func profileFor(n *model.NVE) (pipeline.Profile, error) {
	p, err := pipeline.ForNVE(string(n.Kind), n.Profile, n.TableIDs)
	if err != nil {
		return pipeline.Profile{}, &profileError{err}
	}
	return p, nil
}

// profileError is a profile that cannot be realized for an NVE.
type profileError struct{ err error }

func (e *profileError) Error() string { return "profile: " + e.err.Error() }
func (e *profileError) Unwrap() error { return e.err }

// isConfigError tells the errors that retrying cannot fix: the NVE's
// profile cannot be realized, or its tables do not fit the switch. They
// last until the NVE changes in the store or the switch reconnects.
func isConfigError(err error) bool {
	var pe *profileError
	var te *tableMismatchError
	return errors.As(err, &pe) || errors.As(err, &te)
}

// profileOf is profileFor of NVE nve in snap.
func profileOf(snap *model.Snapshot, nve string) (pipeline.Profile, error) {
	if snap == nil {
		return pipeline.Profile{}, fmt.Errorf("no snapshot")
	}
	n, ok := snap.NVEs[nve]
	if !ok {
		return pipeline.Profile{}, fmt.Errorf("nve %q not in the store", nve)
	}
	return profileFor(n)
}

// profileStatus describes NVE n's profile for its status (Error set when
// it cannot be realized).
func profileStatus(n *model.NVE) *model.ProfileStatus {
	p, err := profileFor(n)
	if err != nil {
		return &model.ProfileStatus{Name: n.Profile, Forced: n.Profile != "", Error: err.Error(), Tables: []model.ProfileTable{}}
	}
	ps := &model.ProfileStatus{
		Name:        p.Name,
		Forced:      n.Profile != "",
		Extensions:  p.Extensions,
		FlowTunnels: p.FlowTunnels,
		ARPInSwitch: p.ARPInSwitch,
		NDInSwitch:  p.NDInSwitch,
		Bundles:     p.Bundles,
		Tables:      make([]model.ProfileTable, len(p.Tables)),
	}
	for i, t := range p.Tables {
		ps.Tables[i] = model.ProfileTable{Name: t.Name, Number: t.Number, Stages: t.Stages}
	}
	return ps
}
