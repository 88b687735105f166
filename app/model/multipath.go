package model

import "time"

// Multipath is how an NVE uses its several tunnel paths to a remote NVE
// (NVE.Multipath).
type Multipath string

const (
	// MultipathNone: one flow-based tunnel from the NVE's first underlay
	// address, no per-path ports, no liveness (the default).
	MultipathNone Multipath = ""
	// MultipathActiveActive: a select group hashes the inner flow over
	// the live paths (each bucket watches its BFD-controlled port).
	MultipathActiveActive Multipath = "active-active"
	// MultipathFailover: a fast_failover group sends on the first live
	// path, in path order.
	MultipathFailover Multipath = "failover"
)

// VAPSignal is what an NVE does with its VAPs of a VN when it has no live
// path to any other NVE of the VN (VN.VAPSignal, RFC 8014 §4.5).
type VAPSignal string

const (
	// VAPSignalLink takes the VAPs' links down (the default, "").
	VAPSignalLink VAPSignal = "link"
	// VAPSignalOff leaves the VAPs up.
	VAPSignalOff VAPSignal = "off"
)

// SignalsVAP reports whether the VN's VAPs are taken down when their NVE
// loses every path to the VN's other NVEs.
func (v *VN) SignalsVAP() bool { return v.VAPSignal != VAPSignalOff }

func (v *VN) validateVAPSignal(fe *FieldErrors) {
	switch v.VAPSignal {
	case "", VAPSignalLink, VAPSignalOff:
	default:
		fe.Add("vap_signal", "must be one of link, off (or empty: link)")
	}
}

func (n *NVE) validateMultipath(fe *FieldErrors) {
	switch n.Multipath {
	case MultipathNone, MultipathActiveActive, MultipathFailover:
	default:
		fe.Add("multipath", "must be one of active-active, failover (or empty: one flow-based tunnel, no liveness)")
	}
	if n.Multipath != MultipathNone && (n.Kind != NVEOVS || n.Profile == ProfileStrict) {
		fe.Add("multipath", "needs an Open vSwitch NVE with the ovs profile (per-path BFD tunnel ports are created over OVSDB)")
	}
}

// PathState is the liveness of one tunnel path as its BFD session reports
// it.
type PathState string

const (
	// PathUnknown: no BFD status yet, or a session that has never come up
	// and has no diagnostic (the peer may still be starting).
	PathUnknown PathState = "unknown"
	PathUp      PathState = "up"
	PathDown    PathState = "down"
)

// TunnelFault says where a broken NVE pair's problem lies (fault
// isolation, RFC 8014 §12).
type TunnelFault string

const (
	FaultNone TunnelFault = ""
	// FaultUnderlay: both NVEs are managed and connected, yet no path
	// between them is up: the underlay between them is broken.
	FaultUnderlay TunnelFault = "underlay"
	// FaultOverlay: an NVE of the pair is not connected to nva (its
	// switch or management session is down): the overlay's edge, not the
	// underlay, is at fault, and BFD cannot be read.
	FaultOverlay TunnelFault = "overlay"
)

// TunnelPathStatus is one tunnel path between two NVEs as one of them
// sees it.
type TunnelPathStatus struct {
	Port       string    `json:"port"`
	LocalIP    string    `json:"local_ip"`
	RemoteIP   string    `json:"remote_ip"`
	State      PathState `json:"state"`
	Diagnostic string    `json:"diagnostic,omitempty"`
	// Since is when State last changed (zero while unknown from the start).
	Since time.Time `json:"since,omitzero"`
	// Transitions counts State changes seen.
	Transitions uint64 `json:"transitions"`
}

// TunnelStatus is the liveness of the tunnel from NVE to Remote: its
// paths, whether any is up, and the fault when none is.
type TunnelStatus struct {
	NVE    string             `json:"nve"`
	Remote string             `json:"remote"`
	Mode   Multipath          `json:"mode"`
	State  PathState          `json:"state"` // up: some path up; down: every path down; else unknown
	Since  time.Time          `json:"since,omitzero"`
	Fault  TunnelFault        `json:"fault,omitempty"`
	Paths  []TunnelPathStatus `json:"paths"`
}

// VAPSignalStatus is a VAP nva took down because its NVE has no live path
// to any other NVE of the port's VN.
type VAPSignalStatus struct {
	Port  string    `json:"port"`
	VN    string    `json:"vn"`
	NVE   string    `json:"nve"`
	Down  bool      `json:"down"`
	Since time.Time `json:"since,omitzero"`
	// Error is the last failure applying the state (e.g. the switch not
	// connected), "" when applied.
	Error string `json:"error,omitempty"`
}
