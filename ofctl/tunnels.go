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
// VN with (model.Snapshot.TunnelPeers), against the switch's port names
// (ports). It returns them in remote-name order, the warnings for remotes
// without a usable port, and, per remote, the revision from which its port
// is needed (see unready).
func remoteTunnels(snap *model.Snapshot, nve string, ports map[string]uint32) (tps []model.TunnelPortStatus, warnings []string, since map[string]uint64) {
	since = map[string]uint64{}
	for _, peer := range snap.TunnelPeers(nve) {
		remote := peer.Remote.Name
		if len(peer.OtherEncaps) > 0 {
			warnings = append(warnings, fmt.Sprintf("VNs shared with NVE %s use several encapsulations: %s tunnels with %s, not %s (one tunnel port per remote)",
				remote, remote, peer.Encap, strings.Join(peer.OtherEncaps, ", ")))
		}
		tp := model.TunnelPortStatus{Remote: remote, Encap: peer.Encap, Port: peer.Port, Source: model.TunnelPortExplicit}
		if peer.Port == "" {
			if !peer.RemoteIP.Is4() {
				warnings = append(warnings, fmt.Sprintf("no tunnel port to NVE %s: it has no IPv4 underlay address", remote))
				continue
			}
			tp.Port, tp.Source = remoteTunnelPortName(peer.Encap, peer.RemoteIP), model.TunnelPortConvention
		}
		tp.RemoteIP = peer.RemoteIP.String()
		if no, ok := ports[tp.Port]; ok && no != 0 && no < flow.PortInPort {
			tp.OFPort = no
		} else {
			hint := "create it, or name the switch's port for " + tp.RemoteIP + " in the NVE's tunnel_ports"
			if tp.Source == model.TunnelPortExplicit {
				hint = "its tunnel_ports names it; the switch reports no such port"
			}
			warnings = append(warnings, fmt.Sprintf("no tunnel port to NVE %s: the switch has no port %s (%s tunnel to %s; %s)",
				remote, tp.Port, peer.Encap, tp.RemoteIP, hint))
		}
		since[remote] = peer.Since
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
