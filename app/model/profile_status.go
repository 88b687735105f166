package model

// ProfileStatus is the switch profile an NVE is compiled for, as the
// OpenFlow southbound realizes it: its name, what it may send the switch,
// its tables in packet order with their numbers on this NVE, and the
// result of checking those tables against the switch's own.
type ProfileStatus struct {
	Name string `json:"name"`
	// Forced is set when the NVE's profile field chose the profile (else
	// its kind did).
	Forced      bool           `json:"forced,omitempty"`
	Extensions  bool           `json:"extensions"`
	FlowTunnels bool           `json:"flow_tunnels"`
	ARPInSwitch bool           `json:"arp_in_switch"`
	NDInSwitch  bool           `json:"nd_in_switch"`
	Bundles     bool           `json:"bundles"`
	Tables      []ProfileTable `json:"tables"`
	// Error says why the profile cannot be realized for this NVE (e.g.
	// its table_ids); nothing is written to the switch then.
	Error string `json:"error,omitempty"`
	// TableCheck is the outcome of comparing Tables with the switch's
	// OFPMP_TABLE_FEATURES answer: "ok", "skipped: <why>" (the switch did
	// not answer it), or "mismatch: <table and what is missing>" (the
	// NVE's sync state is then error and nothing is written). Empty until
	// the switch has connected.
	TableCheck string `json:"table_check,omitempty"`
}

// ProfileTable is one table of a realized profile.
type ProfileTable struct {
	Name   string   `json:"name"`
	Number uint8    `json:"number"`
	Stages []string `json:"stages,omitempty"`
}

// Sources of a per-remote tunnel port's name (TunnelPortStatus.Source).
const (
	TunnelPortConvention = "convention"   // compiler.RemoteTunnelPortName
	TunnelPortExplicit   = "tunnel_ports" // the NVE's tunnel_ports map
)

// TunnelPortStatus is the per-remote tunnel port an NVE whose profile has
// no flow-based tunnels uses to reach one remote NVE it shares a VN with.
type TunnelPortStatus struct {
	Remote   string `json:"remote"`    // the remote NVE
	RemoteIP string `json:"remote_ip"` // its underlay address the port tunnels to
	Encap    Encap  `json:"encap"`
	Port     string `json:"port"`   // the port name nva looks for on the switch
	Source   string `json:"source"` // convention or tunnel_ports
	// OFPort is the port's OpenFlow number; 0 when the switch has no port
	// of that name (the remote is then unreachable from this NVE, and the
	// status warns).
	OFPort uint32 `json:"ofport,omitempty"`
}
