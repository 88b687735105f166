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

// UnclaimedSwitch is a connected switch whose datapath ID no NVE has.
type UnclaimedSwitch struct {
	DatapathID string `json:"datapath_id"`
	Remote     string `json:"remote"`
}
