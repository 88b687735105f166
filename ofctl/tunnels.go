package ofctl

import (
	"fmt"
	"github.com/nva-project/nva/app/compiler"
	"strings"

	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/model"
)

// Per-remote tunnel ports. A profile without flow-based tunnels (the
// strict OpenFlow 1.3 profile: OpenFlow 1.3 has no standard tunnel
// destination field) reaches each remote NVE, per encapsulation, through a
// port of its own, a logical tunnel port on the switch whose remote
// endpoint is fixed; the flows set only tunnel_id (the VNI) and output to
// it. nva learns which port reaches which remote from the switch's port
// table (port descriptions and port-status events), by name:
//
//   - the NVE's tunnel_ports map, by the remote's underlay IP, if it names
//     one of the remote's addresses (an explicit override, for switches
//     whose tunnel interfaces have fixed names; it names the port for
//     every encapsulation towards that remote);
//   - otherwise the naming convention compiler.RemoteTunnelPortName(encap,
//     first underlay IP of the remote), e.g. nvxc6120002 for VXLAN to
//     198.18.0.2.
//
// On an Open vSwitch run with the strict profile (kind ovs, profile
// openflow13) nva creates these ports itself over OVSDB, with the same
// names (ovsdb/nvesync; model.Snapshot.TunnelPeers is the rule both use).
// A port appearing or disappearing is a port-status event, which
// recompiles the NVE. A remote with no port is reported in the NVE's
// status (tunnel_ports, warnings, awaiting): its VNs' traffic has no way
// out of this switch towards it.

// tunnelKey identifies a per-remote tunnel port: remote NVE and
// encapsulation.
func tunnelKey(remote string, e model.Encap) string { return remote + "/" + string(e) }

// remoteTunnels resolves the tunnel port of every remote NVE nve shares a
// VN with, per encapsulation (model.Snapshot.TunnelPeers), against the
// switch's port names (ports). It returns them in remote-name order, the
// warnings for remotes without a usable port, and, by tunnelKey, the
// revision from which each port is needed (see unready).
func remoteTunnels(snap *model.Snapshot, nve string, ports map[string]uint32) (tps []model.TunnelPortStatus, warnings []string, since map[string]uint64) {
	since = map[string]uint64{}
	peers := snap.TunnelPeers(nve)
	for i, peer := range peers {
		remote := peer.Remote.Name
		if peer.Port != "" && i > 0 && peers[i-1].Remote == peer.Remote {
			warnings = append(warnings, fmt.Sprintf("tunnel_ports names one port (%s) for NVE %s, but VNs shared with it use %s and %s: the port's own encapsulation carries both",
				peer.Port, remote, peers[i-1].Encap, peer.Encap))
		}
		tp := model.TunnelPortStatus{Remote: remote, Encap: peer.Encap, Port: peer.Port, Source: model.TunnelPortExplicit}
		if peer.Port == "" {
			if !peer.RemoteIP.Is4() {
				warnings = append(warnings, fmt.Sprintf("no %s tunnel port to NVE %s: it has no IPv4 underlay address", peer.Encap, remote))
				continue
			}
			tp.Port, tp.Source = compiler.RemoteTunnelPortName(peer.Encap, peer.RemoteIP), model.TunnelPortConvention
		}
		tp.RemoteIP = peer.RemoteIP.String()
		if no, ok := ports[tp.Port]; ok && no != 0 && no < flow.PortInPort {
			tp.OFPort = no
		} else if tp.Source == model.TunnelPortExplicit {
			// A missing port by the convention the compiler warns about
			// itself (per VN, naming the port); it does not know the
			// names tunnel_ports gives.
			warnings = append(warnings, fmt.Sprintf("no tunnel port to NVE %s: the switch has no port %s, which tunnel_ports names for %s (%s, VN %s)",
				remote, tp.Port, tp.RemoteIP, peer.Encap, strings.Join(peer.VNs, ", ")))
		}
		since[tunnelKey(remote, peer.Encap)] = peer.Since
		tps = append(tps, tp)
	}
	return tps, warnings, since
}
