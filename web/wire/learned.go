package wire

import "github.com/nva-project/nva/app/model"

// LearnedReport is GET /api/v1/vns/{name}/learned and GET
// /api/v1/learned: the learned endpoints (MACs seen behind L2 gateway
// segments and VTEPs, programmed on every NVE of their VN) and the
// conflicts (MACs reported as learned that a known port owns: refused,
// not programmed), by VN then MAC.
type LearnedReport struct {
	// VN is the VN asked for ("" for every VN the caller may see).
	VN        string                   `json:"vn,omitempty"`
	Learned   []*model.LearnedEndpoint `json:"learned"`
	Conflicts []*model.LearnedConflict `json:"conflicts"`
	// ConflictsTotal counts every refused report since the cluster began
	// (the whole cluster's, for callers that see every VN; the listed
	// conflicts' counts summed otherwise).
	ConflictsTotal uint64 `json:"conflicts_total"`
}
