package nvesync

import (
	"strconv"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/ovsdb"
)

// BFD settings of every path tunnel port: a session per path with 100 ms
// transmit and receive intervals, so a path is declared down after three
// missed packets (BFDDetectMult × BFDIntervalMS = 300 ms after the last
// one received).
const (
	BFDIntervalMS = 100
	BFDDetectMult = 3
)

// pathTunnels: for a multihomed NVE (or a peer of one, compiler.
// MultipathMode), one tunnel port per path to every remote
// (compiler.TunnelPaths) with local_ip and remote_ip fixed, key=flow and
// BFD enabled.
func pathTunnels(snap *model.Snapshot, nve *model.NVE) []ovsdb.Tunnel {
	paths := compiler.TunnelPaths(snap, nve.Name)
	if len(paths) == 0 {
		return nil
	}
	out := make([]ovsdb.Tunnel, 0, len(paths))
	for _, p := range paths {
		out = append(out, ovsdb.Tunnel{Name: p.Port, Type: string(p.Encap), LocalIP: p.LocalIP.String(),
			RemoteIP: p.RemoteIP.String(), BFD: map[string]string{
				"enable": "true",
				"min_tx": strconv.Itoa(BFDIntervalMS),
				"min_rx": strconv.Itoa(BFDIntervalMS),
			}})
	}
	return out
}
