package model

import "time"

// NVEStatus is an NVE's live status as nva's southbound components see it:
// the OVSDB management side (ovs NVEs) and the OpenFlow side. The REST API
// shows it as the NVE's "status".
type NVEStatus struct {
	OVSDB    *OVSDBStatus    `json:"ovsdb,omitempty"`
	OpenFlow *OpenFlowStatus `json:"openflow,omitempty"`
}

// OVSDBStatus is the OVSDB side of an NVE's status.
type OVSDBStatus struct {
	Connected   bool                  `json:"connected"`
	BridgeReady bool                  `json:"bridge_ready"`
	LastError   string                `json:"last_error,omitempty"`
	Ports       map[string]PortStatus `json:"ports,omitempty"`
}

// PortStatus is one interface's state on the NVE, as OVSDB reports it.
type PortStatus struct {
	OFPort uint32 `json:"ofport,omitempty"`
	LinkUp bool   `json:"link_up"`
	Error  string `json:"error,omitempty"`
}

// Sync states of an NVE's OpenFlow side.
const (
	SyncInSync       = "in_sync"
	SyncPending      = "pending"
	SyncError        = "error"
	SyncDisconnected = "disconnected"
	SyncUnclaimed    = "unclaimed"
)

// OpenFlowStatus is the OpenFlow side of an NVE's status.
type OpenFlowStatus struct {
	Connected  bool   `json:"connected"`
	DatapathID string `json:"datapath_id,omitempty"`
	Remote     string `json:"remote,omitempty"`
	// Sync is in_sync, pending, error or disconnected.
	Sync             string     `json:"sync"`
	RealizedRevision uint64     `json:"realized_revision"`
	LastSync         *time.Time `json:"last_sync,omitempty"`
	LastError        string     `json:"last_error,omitempty"`
	LastErrorAt      *time.Time `json:"last_error_at,omitempty"`
	// ErrorCount counts failed reconciliations; OpenFlowErrors counts
	// OFPT_ERROR messages on the current connection.
	ErrorCount     uint64   `json:"error_count"`
	OpenFlowErrors uint64   `json:"openflow_errors"`
	FlowModsSent   uint64   `json:"flow_mods_sent"`
	GroupModsSent  uint64   `json:"group_mods_sent"`
	LastChange     string   `json:"last_change,omitempty"`
	Warnings       []string `json:"warnings,omitempty"`
	// Awaiting lists the NVE's ports (and tunnel ports) that have no
	// OpenFlow port on the switch yet: their flows are not installed, so
	// the revisions that added them are not realized.
	Awaiting []string `json:"awaiting,omitempty"`
	// Profile is the switch profile the NVE is compiled for, with its
	// tables (see ProfileStatus).
	Profile *ProfileStatus `json:"profile,omitempty"`
	// TunnelPorts lists, for a profile without flow-based tunnels, the
	// tunnel port to each remote NVE this NVE shares a VN with, as last
	// compiled (remotes without one are also in Warnings and Awaiting).
	TunnelPorts []TunnelPortStatus `json:"tunnel_ports,omitempty"`
}
