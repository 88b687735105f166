package wire

// AccessLink is a split NVE's access link (RFC 8014 §4.2) as GET
// /api/v1/access-links and the topology render it: the tNVE (a hypervisor
// that does not tunnel), the nNVE its uplink is cabled to, and the VLAN
// nva allocated to each VN with ports on the tNVE.
type AccessLink struct {
	TNVE     string `json:"tnve"`
	Uplink   string `json:"uplink"`
	NNVE     string `json:"nnve"`
	NNVEPort string `json:"nnve_port"`
	VLANPool string `json:"vlan_pool"`
	// VLANs lists the allocation by VN name (always present).
	VLANs []AccessVLAN `json:"vlans"`
	// Unallocated names VNs with ports on the tNVE that have no VLAN
	// (the pool is exhausted): they do not cross the link.
	Unallocated []string `json:"unallocated,omitempty"`
}

// AccessVLAN is one (access link, VN) allocation.
type AccessVLAN struct {
	VN   string `json:"vn"`
	VNI  uint32 `json:"vni"`
	VLAN int    `json:"vlan"`
	// QinQ: the VN has passthrough ports on the tNVE, so its link tag is
	// an 802.1ad S-tag outside the tenant's own tag.
	QinQ bool `json:"qinq,omitempty"`
	// Ports are the VN's ports on the tNVE.
	Ports []string `json:"ports"`
}
