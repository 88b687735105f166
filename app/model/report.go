package model

// FlowReport is the answer of GET /api/v1/nves/{name}/flows: desired and
// installed flows and groups in ovs-ofctl syntax with table names, the
// difference, and the sync state.
type FlowReport struct {
	NVE       string         `json:"nve"`
	Profile   string         `json:"profile"`
	Status    OpenFlowStatus `json:"status"`
	Revision  uint64         `json:"revision"`
	Desired   []string       `json:"desired"`
	Installed []InstalledRow `json:"installed"`
	// InstalledKnown is false when the switch is not connected (or could
	// not be read); Installed is empty then.
	InstalledKnown  bool     `json:"installed_known"`
	DesiredGroups   []string `json:"desired_groups"`
	InstalledGroups []string `json:"installed_groups"`
	// Diff is what a reconciliation would send now.
	Diff      DiffSummary `json:"diff"`
	Warnings  []string    `json:"warnings,omitempty"`
	ReadError string      `json:"read_error,omitempty"`
}

// InstalledRow is one installed flow with its counters.
type InstalledRow struct {
	Flow        string `json:"flow"`
	Packets     uint64 `json:"n_packets"`
	Bytes       uint64 `json:"n_bytes"`
	DurationSec uint32 `json:"duration_sec"`
}

// DiffSummary lists the differences between desired and installed.
type DiffSummary struct {
	InSync          bool     `json:"in_sync"`
	Missing         []string `json:"missing,omitempty"` // desired, not installed
	Differ          []string `json:"differ,omitempty"`  // installed with other actions/cookie (desired form)
	Extra           []string `json:"extra,omitempty"`   // installed nva flows not desired
	GroupsMissing   []uint32 `json:"groups_missing,omitempty"`
	GroupsDiffer    []uint32 `json:"groups_differ,omitempty"`
	GroupsExtra     []uint32 `json:"groups_extra,omitempty"`
	ForeignIgnored  int      `json:"foreign_ignored,omitempty"`
	UnchangedFlows  int      `json:"unchanged_flows"`
	PlannedMessages int      `json:"planned_messages"`
}

// UnclaimedSwitch is a connected switch no NVE claims: no NVE has its
// datapath ID, or the NVE that has it pins a certificate (switch_identity)
// the switch did not present.
type UnclaimedSwitch struct {
	DatapathID string `json:"datapath_id"`
	Remote     string `json:"remote"`
	// NVE and Reason are set when an NVE has the datapath ID but refused
	// the switch: why (its certificate does not match the NVE's pin).
	NVE    string `json:"nve,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Subject and Fingerprint describe the certificate the switch
	// presented over TLS (what an NVE's switch_identity would pin).
	Subject     string `json:"subject,omitempty"`
	Fingerprint string `json:"fingerprint,omitempty"`
}
