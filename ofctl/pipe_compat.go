package ofctl

// TEMPORARY, until branch pipe (compiler v2) lands on main: stand-ins for
// the names the southbound codes against (pipeline.ForNVE, Profile's
// FlowTunnels/Bundles/Table.Stages, compiler.RemoteTunnelPortName,
// compiler.Input.RemoteTunnels, pipeline.VNIFromMetadata). After merging
// pipe, replace each call by the real name and delete this file.

import (
	"fmt"
	"net/netip"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/pipeline"
)

// profileForNVE stands in for pipeline.ForNVE.
func profileForNVE(kind, override string, tableIDs map[string]uint8) (pipeline.Profile, error) {
	return compatForNVE(kind, override, tableIDs)
}

func compatForNVE(kind, override string, tableIDs map[string]uint8) (pipeline.Profile, error) {
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
		p.Name = model.ProfileStrict
		p.Extensions, p.Tunnels, p.ARPInSwitch, p.NDInSwitch = false, false, false, false
		for i := range p.Tables {
			p.Tables[i].Number = uint8(i)
		}
	default:
		return pipeline.Profile{}, fmt.Errorf("pipeline: unknown switch profile %q", name)
	}
	return compatWithTableIDs(p, tableIDs)
}

func compatWithTableIDs(p pipeline.Profile, ids map[string]uint8) (pipeline.Profile, error) {
	if len(ids) == 0 {
		return p, nil
	}
	tables := append([]pipeline.Table(nil), p.Tables...)
	for name, no := range ids {
		found := false
		for i := range tables {
			if tables[i].Name == name {
				tables[i].Number, found = no, true
			}
		}
		if !found {
			return pipeline.Profile{}, fmt.Errorf("profile %s has no table %q", p.Name, name)
		}
	}
	for i := 1; i < len(tables); i++ {
		if tables[i].Number <= tables[i-1].Number {
			return pipeline.Profile{}, fmt.Errorf("table %s (%d) must come after table %s (%d)", tables[i].Name, tables[i].Number, tables[i-1].Name, tables[i-1].Number)
		}
	}
	p.Tables = tables
	return p, nil
}

// flowTunnels stands in for Profile.FlowTunnels.
func flowTunnels(p pipeline.Profile) bool { return p.Tunnels }

// bundles stands in for Profile.Bundles.
func bundles(p pipeline.Profile) bool { return p.Extensions }

// tableStages stands in for Table.Stages.
func tableStages(t pipeline.Table) []string { return []string{t.Name} }

// remoteTunnelPortName stands in for compiler.RemoteTunnelPortName.
func remoteTunnelPortName(e model.Encap, remote netip.Addr) string {
	prefix := map[model.Encap]string{model.EncapVXLAN: "nvx", model.EncapGENEVE: "nvg", model.EncapGRE: "nvr"}[e]
	b := remote.As4()
	return fmt.Sprintf("%s%02x%02x%02x%02x", prefix, b[0], b[1], b[2], b[3])
}

// setRemoteTunnels stands in for setting compiler.Input.RemoteTunnels
// (map[compiler.RemoteTunnel]uint32: the ports with an OFPort, by remote
// NVE and encapsulation).
func setRemoteTunnels(in *compiler.Input, tps []model.TunnelPortStatus) { _, _ = in, tps }

// vniFromMetadata stands in for pipeline.VNIFromMetadata.
func vniFromMetadata(md uint64) uint32 { return uint32(md & pipeline.MetaVNIMask) }
