package wire

// TopologyVTEP is a hardware VTEP (an NVE of kind vtep) in the topology
// view: its tunnel IP, its VAPs as (physical port, VLAN) bindings to VNs,
// and the MACs learned behind it.
type TopologyVTEP struct {
	NVE      string `json:"nve"`
	TunnelIP string `json:"tunnel_ip"`
	// InSync is whether its hardware_vtep database holds what nva wants
	// (false also when this node does not manage it: not the leader).
	InSync bool `json:"in_sync"`
	// Bindings are its VAPs, by physical port then VLAN.
	Bindings []VTEPBinding `json:"bindings"`
	// Learned are the learned endpoints at it, by VN then MAC.
	Learned []VTEPLearnedMAC `json:"learned"`
}

// VTEPBinding is a VAP on a VTEP: the port's name, the physical port and
// VLAN (0: untagged) bound to VN.
type VTEPBinding struct {
	Port         string `json:"port"`
	PhysicalPort string `json:"physical_port"`
	VLAN         int    `json:"vlan"`
	VN           string `json:"vn"`
}

// VTEPLearnedMAC is a MAC learned behind a VTEP in VN.
type VTEPLearnedMAC struct {
	VN  string `json:"vn"`
	MAC string `json:"mac"`
}
