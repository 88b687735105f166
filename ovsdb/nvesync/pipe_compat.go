package nvesync

// TEMPORARY, until branch pipe (compiler v2) lands on main: stand-ins for
// pipeline.ForNVE(...).FlowTunnels and compiler.RemoteTunnelPortName.
// After merging pipe, call those and delete this file.

import (
	"fmt"
	"net/netip"

	"github.com/nva-project/nva/app/model"
)

// flowTunnels reports whether NVE n's profile tunnels by flow.
func flowTunnels(n *model.NVE) bool {
	switch {
	case n.Profile != "":
		return n.Profile == model.ProfileOVS
	default:
		return n.Kind != model.NVEOpenFlow
	}
}

func remoteTunnelPortName(e model.Encap, remote netip.Addr) string {
	prefix := map[model.Encap]string{model.EncapVXLAN: "nvx", model.EncapGENEVE: "nvg", model.EncapGRE: "nvr"}[e]
	b := remote.As4()
	return fmt.Sprintf("%s%02x%02x%02x%02x", prefix, b[0], b[1], b[2], b[3])
}
