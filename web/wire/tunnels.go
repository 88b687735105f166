package wire

import "github.com/nva-project/nva/app/model"

// Tunnels is GET /api/v1/tunnels: the liveness of every multipath NVE
// pair (each direction as that NVE's BFD sessions see it) and the VAPs
// nva has taken down because their NVE lost every path of their VN.
type Tunnels struct {
	// Available is false on a node that does not manage the NVEs' OVSDB
	// (a follower): the leader holds liveness.
	Available bool                    `json:"available"`
	Items     []model.TunnelStatus    `json:"items"`
	VAPs      []model.VAPSignalStatus `json:"vaps"`
}
