package model

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// NVEStatus is an NVE's live status as nva's southbound components see it:
// the OVSDB management side (ovs NVEs) and the OpenFlow side. The REST API
// shows it as the NVE's "status".
type NVEStatus struct {
	// Summary is the status in one line a human can act on, computed from
	// both sides by SummarizeNVE: "ok: ...", "pending: ...", or the side
	// with the first problem ("ovsdb: ...", "openflow: ...").
	Summary  string          `json:"summary"`
	OVSDB    *OVSDBStatus    `json:"ovsdb,omitempty"`
	OpenFlow *OpenFlowStatus `json:"openflow,omitempty"`
	VTEP     *VTEPStatus     `json:"vtep,omitempty"` // kind vtep (vtep.go)
	// Tunnels is the liveness of the NVE's multipath tunnels to other
	// NVEs (multipath.go), on the node that manages its OVSDB.
	Tunnels []TunnelStatus `json:"tunnels,omitempty"`
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
	// SignalledDown: nva took this VAP down because its NVE has no live
	// path to any other NVE of the port's VN (multipath.go).
	SignalledDown bool `json:"signalled_down,omitempty"`
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
	// SwitchSubject and SwitchFingerprint describe the certificate the
	// connected switch presented over TLS (what switch_identity pins).
	SwitchSubject     string `json:"switch_subject,omitempty"`
	SwitchFingerprint string `json:"switch_fingerprint,omitempty"`
	// Sync is in_sync, pending, error or disconnected.
	Sync string `json:"sync"`
	// RealizedRevision is the store revision up to which every change
	// that affects the NVE is on its switch (in sync: the latest revision
	// the southbound has seen, whether or not it touched this NVE).
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
	// BUM is how the NVE delivers each VN's BUM traffic, with the copies
	// it sends per frame (bum.go).
	BUM []BUMStatus `json:"bum,omitempty"`
}

// SummaryContext is what SummarizeNVE needs besides the status itself.
type SummaryContext struct {
	// OVSDBOnLeader is set on a follower: only the Raft leader manages
	// the NVEs' OVSDB configuration, so this node's status has no OVSDB
	// side.
	OVSDBOnLeader bool
	// Controllers are the OpenFlow controller targets the NVE's switch
	// should connect to (every member's advertised address).
	Controllers []string
}

// SummarizeNVE describes an NVE's status in one line that says what is
// wrong and where to look, from both sides, the first problem first: the
// OVSDB side of an ovs NVE (nothing works before its bridge is
// configured), then the OpenFlow side. The forms:
//
//	ok: in sync (revision 42)
//	ok: in sync (revision 42); ovsdb: managed by the leader
//	ovsdb: connecting (dial unix /run/openvswitch/db.sock: no such file or directory)
//	ovsdb: connecting to unix:/run/openvswitch/db.sock
//	ovsdb: error: ...
//	ovsdb: pending: not synced yet
//	ovsdb: pending: configuring bridge br-int
//	openflow: not connected (no switch with datapath 00004e5600000001 has connected; controller target tcp:198.51.100.254:6653)
//	openflow: error: ...
//	pending: waiting for OpenFlow ports: port p1 (interface vm1)
//	pending: installing flows (realized revision 41)
//
// st nil means the node runs no southbound.
func SummarizeNVE(nve *NVE, st *NVEStatus, c SummaryContext) string {
	if st == nil {
		return "unknown: this node runs no southbound"
	}
	if nve.Kind == NVEVTEP {
		return summarizeVTEP(nve, st, c)
	}
	follower := ""
	if nve.Kind == NVEOVS {
		if c.OVSDBOnLeader && st.OVSDB == nil {
			follower = "; ovsdb: managed by the leader"
		} else if s := summarizeOVSDB(nve, st.OVSDB); s != "" {
			return s
		}
	}
	return summarizeOpenFlow(nve, st.OpenFlow, c.Controllers) + follower
}

// summarizeOVSDB returns the OVSDB side's problem, "" when there is none.
func summarizeOVSDB(nve *NVE, o *OVSDBStatus) string {
	switch {
	case o == nil:
		return "ovsdb: pending: not synced yet"
	case strings.HasPrefix(o.LastError, "invalid desired state"):
		return "ovsdb: error: " + o.LastError
	case !o.Connected && o.LastError != "":
		return "ovsdb: connecting (" + o.LastError + ")"
	case !o.Connected:
		return "ovsdb: connecting to " + nve.OVSDB
	case o.LastError != "":
		return "ovsdb: error: " + o.LastError
	case !o.BridgeReady:
		return "ovsdb: pending: configuring bridge " + nve.Bridge
	}
	for _, name := range slices.Sorted(maps.Keys(o.Ports)) {
		if e := o.Ports[name].Error; e != "" {
			return fmt.Sprintf("ovsdb: error: interface %s: %s", name, e)
		}
	}
	return ""
}

func summarizeOpenFlow(nve *NVE, o *OpenFlowStatus, controllers []string) string {
	switch {
	case o == nil:
		return "openflow: unknown: this node runs no OpenFlow southbound"
	case !o.Connected:
		return "openflow: not connected (" + notConnected(nve, o, controllers) + ")"
	}
	switch o.Sync {
	case SyncInSync:
		s := fmt.Sprintf("ok: in sync (revision %d)", o.RealizedRevision)
		if n := len(o.Warnings); n == 1 {
			s += "; warning: " + o.Warnings[0]
		} else if n > 1 {
			s += fmt.Sprintf("; %d warnings, the first: %s", n, o.Warnings[0])
		}
		return s
	case SyncError:
		if o.LastError == "" {
			return "openflow: error"
		}
		return "openflow: error: " + o.LastError
	case SyncPending:
		if len(o.Awaiting) > 0 {
			return "pending: waiting for OpenFlow ports: " + strings.Join(o.Awaiting, ", ")
		}
		return fmt.Sprintf("pending: installing flows (realized revision %d)", o.RealizedRevision)
	case "":
		return "openflow: connected"
	}
	return "openflow: " + o.Sync
}

// notConnected says which switch nva waits for and where it should
// connect.
func notConnected(nve *NVE, o *OpenFlowStatus, controllers []string) string {
	dpid := o.DatapathID
	if dpid == "" {
		dpid = nve.DatapathID
	}
	var b strings.Builder
	switch {
	case strings.HasPrefix(o.LastError, "disconnected: ") && dpid != "":
		fmt.Fprintf(&b, "the switch with datapath %s %s", dpid, o.LastError)
	case strings.HasPrefix(o.LastError, "disconnected: "):
		b.WriteString("the switch " + o.LastError)
	case dpid != "":
		fmt.Fprintf(&b, "no switch with datapath %s has connected", dpid)
	default:
		b.WriteString("no datapath ID: no switch can be matched to this NVE")
	}
	switch len(controllers) {
	case 0:
	case 1:
		b.WriteString("; controller target " + controllers[0])
	default:
		b.WriteString("; controller targets " + strings.Join(controllers, ", "))
	}
	return b.String()
}
