package ofctl

import (
	"fmt"
	"strings"

	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/model"
)

// Per-remote tunnel ports. A profile without flow-based tunnels (the
// strict OpenFlow 1.3 profile: OpenFlow 1.3 has no standard tunnel
// destination field) reaches each remote NVE through a port of its own,
// a logical tunnel port on the switch whose remote endpoint is fixed; the
// flows set only tun_id (the VNI) and output to it. nva learns which port
// reaches which remote from the switch's port table (port descriptions and
// port-status events), by name:
//
//   - the NVE's tunnel_ports map, by the remote's underlay IP, if it names
//     one of the remote's addresses (an explicit override, for switches
//     whose tunnel interfaces have fixed names);
//   - otherwise the naming convention compiler.RemoteTunnelPortName(encap,
//     first underlay IP of the remote), e.g. nvxc6120002 for VXLAN to
//     198.18.0.2.
//
// On an Open vSwitch run with the strict profile (kind ovs, profile
// openflow13) nva creates these ports itself over OVSDB, with the same
// names (ovsdb/nvesync). A port appearing or disappearing is a port-status
// event, which recompiles the NVE. A remote with no port is reported in
// the NVE's status (tunnel_ports, warnings, awaiting): its traffic has no
// way out of this switch.

// remoteTunnels resolves the tunnel port of every remote NVE nve shares a
// VN with, against the switch's port names (ports). It returns them by
// remote name, the warnings for remotes without a usable port, and, per
// remote, the revision from which the port is needed (see unready).
func remoteTunnels(snap *model.Snapshot, nve string, ports map[string]uint32) (tps []model.TunnelPortStatus, warnings []string, since map[string]uint64) {
	self, ok := snap.NVEs[nve]
	if !ok {
		return nil, nil, nil
	}
	since = map[string]uint64{}
	for _, peer := range snap.Peers(nve) {
		remote, ok := snap.NVEs[peer.NVE]
		if !ok {
			continue // a port names an NVE the store does not have
		}
		// The port's type follows the encapsulation of the shared VNs;
		// one port per remote carries them all (tun_id tells them apart).
		var encap model.Encap
		var others []string
		rev := remote.Revision
		for _, name := range peer.VNs {
			vn, ok := snap.VNs[name]
			if !ok {
				continue
			}
			rev = min(rev, vn.Revision)
			for _, p := range snap.PortsIn(name) {
				rev = min(rev, p.Revision)
			}
			switch {
			case encap == "":
				encap = vn.Encap
			case vn.Encap != encap:
				others = append(others, fmt.Sprintf("%s (%s)", vn.Name, vn.Encap))
			}
		}
		if encap == "" {
			continue
		}
		if len(others) > 0 {
			warnings = append(warnings, fmt.Sprintf("VNs shared with NVE %s use several encapsulations: %s tunnels with %s, not %s (one tunnel port per remote)",
				remote.Name, remote.Name, encap, strings.Join(others, ", ")))
		}
		tp := model.TunnelPortStatus{Remote: remote.Name, Encap: encap}
		if port, ip, ok := self.TunnelPortFor(remote); ok {
			tp.Port, tp.RemoteIP, tp.Source = port, ip, model.TunnelPortExplicit
		} else {
			addrs := remote.UnderlayAddrs()
			if len(addrs) == 0 || !addrs[0].Is4() {
				warnings = append(warnings, fmt.Sprintf("no tunnel port to NVE %s: it has no IPv4 underlay address", remote.Name))
				continue
			}
			tp.Port, tp.RemoteIP, tp.Source = remoteTunnelPortName(encap, addrs[0]), addrs[0].String(), model.TunnelPortConvention
		}
		if no, ok := ports[tp.Port]; ok && no != 0 && no < flow.PortInPort {
			tp.OFPort = no
		} else {
			hint := "create it, or name the switch's port for " + tp.RemoteIP + " in the NVE's tunnel_ports"
			if tp.Source == model.TunnelPortExplicit {
				hint = "its tunnel_ports names it; the switch reports no such port"
			}
			warnings = append(warnings, fmt.Sprintf("no tunnel port to NVE %s: the switch has no port %s (%s tunnel to %s; %s)",
				remote.Name, tp.Port, encap, tp.RemoteIP, hint))
		}
		since[remote.Name] = rev
		tps = append(tps, tp)
	}
	return tps, warnings, since
}

// tunnelPortMap is the compiler's Input.RemoteTunnels: remote NVE name →
// OpenFlow port number, for the remotes that have a port.
func tunnelPortMap(tps []model.TunnelPortStatus) map[string]uint32 {
	out := make(map[string]uint32, len(tps))
	for _, tp := range tps {
		if tp.OFPort != 0 {
			out[tp.Remote] = tp.OFPort
		}
	}
	return out
}
