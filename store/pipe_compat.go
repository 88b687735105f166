package store

// TEMPORARY, until branch pipe (compiler v2) lands on main: a stand-in for
// pipeline.ForNVE and Profile.FlowTunnels, which the NVE's profile check
// (checkNVEProfile) codes against. After merging pipe, call pipeline.ForNVE
// and Profile.WithTableIDs directly and delete this file.

import (
	"fmt"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/pipeline"
)

func profileForNVE(kind, override string, tableIDs map[string]uint8) (pipeline.Profile, error) {
	name := override
	if name == "" {
		name = model.ProfileOVS
		if kind == string(model.NVEOpenFlow) {
			name = model.ProfileStrict
		}
	}
	var p pipeline.Profile
	switch name {
	case model.ProfileOVS:
		p = pipeline.OVS()
	case model.ProfileStrict:
		p = pipeline.OVS()
		p.Name, p.Extensions, p.Tunnels = model.ProfileStrict, false, false
		for i := range p.Tables {
			p.Tables[i].Number = uint8(i)
		}
	default:
		return pipeline.Profile{}, fmt.Errorf("pipeline: unknown switch profile %q", name)
	}
	for tname, no := range tableIDs {
		found := false
		for i := range p.Tables {
			if p.Tables[i].Name == tname {
				p.Tables[i].Number, found = no, true
			}
		}
		if !found {
			return pipeline.Profile{}, fmt.Errorf("profile %s has no table %q", p.Name, tname)
		}
	}
	for i := 1; i < len(p.Tables); i++ {
		if p.Tables[i].Number <= p.Tables[i-1].Number {
			return pipeline.Profile{}, fmt.Errorf("table %s (%d) must come after table %s (%d)", p.Tables[i].Name, p.Tables[i].Number, p.Tables[i-1].Name, p.Tables[i-1].Number)
		}
	}
	return p, nil
}

func flowTunnels(p pipeline.Profile) bool { return p.Tunnels }
