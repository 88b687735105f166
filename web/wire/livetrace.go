package wire

// LiveTrace is where a live trace's real packet went: the same hop form
// as the simulated trace (the flows with the switch's port numbers), the
// NVEs that could not be observed and why, whether every path finished
// within the wait, and where the live and the simulated trace disagree.
type LiveTrace struct {
	Hops      []TraceHop      `json:"hops"`
	Delivered []TraceDelivery `json:"delivered"`
	Dropped   bool            `json:"dropped"`
	// Unobserved maps the NVEs the trace could not watch to why (a strict
	// OpenFlow 1.3 NVE, an NVE not connected).
	Unobserved map[string]string `json:"unobserved,omitempty"`
	// Complete is false when the wait ran out with a path unfinished.
	Complete bool `json:"complete"`
	// Match is true when the live trace agrees with the simulation on
	// every observed NVE (tables, dropping stage, outputs); Mismatches
	// says where not.
	Match      bool     `json:"match"`
	Mismatches []string `json:"mismatches,omitempty"`
	Errors     []string `json:"errors,omitempty"`
}
