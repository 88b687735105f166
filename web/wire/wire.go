// Package wire owns the JSON bodies and headers of nva's REST API v1 that
// clients share with the server: error bodies and codes, health, cluster
// membership, the topology view. It imports only the standard library and
// app/model, so a client (nvactl) links neither the server's router nor the
// Raft store.
package wire

import "github.com/nva-project/nva/app/model"

// RequestIDHeader carries the client's idempotency key. The server
// generates one when it is absent and always echoes it; a write retried
// with the same ID is applied once.
const RequestIDHeader = "X-Request-ID"

// RevisionHeader is set on successful writes to the store (Raft) index of
// the change.
const RevisionHeader = "X-Revision"

// RealizedNVEsHeader is set on writes with ?wait=realized (when the
// server has a southbound) to the NVEs the write affects, comma-separated
// and sorted: the ones the server waited for (absent: none).
const RealizedNVEsHeader = "X-Realized-NVEs"

// PreferHeader is RFC 7240's Prefer request header. POST /api/v1/batch
// honours "return=minimal": its item results then carry op, kind and name
// only, not every stored object, which keeps the answer to a 10,000-item
// batch small; the answer's PreferenceAppliedHeader says so.
const PreferHeader = "Prefer"

// PreferenceAppliedHeader is RFC 7240's Preference-Applied response
// header.
const PreferenceAppliedHeader = "Preference-Applied"

// PreferReturnMinimal is the Prefer value (and Preference-Applied answer)
// that asks for item results without their objects.
const PreferReturnMinimal = "return=minimal"

// Error codes of the API's error bodies. They are part of the API contract.
const (
	CodeBadRequest         = "bad_request"
	CodeInvalid            = "invalid"   // 422: a field's value is not acceptable
	CodeReference          = "reference" // 422: a referenced VN/NVE does not exist
	CodeNotFound           = "not_found"
	CodeConflict           = "conflict"
	CodeMethodNotAllowed   = "method_not_allowed"
	CodeTooLarge           = "payload_too_large"
	CodeUnsupportedMedia   = "unsupported_media_type"
	CodeNoLeader           = "no_leader"
	CodeUnavailable        = "unavailable" // 503: the node is shutting down
	CodeTimeout            = "timeout"
	CodeNotRealized        = "not_realized"
	CodeNotImplemented     = "not_implemented"
	CodeInternal           = "internal"
	CodePreconditionFailed = "precondition_failed" // 412: If-Match names an older revision
)

// ErrorBody is the JSON body of every error response: {"error": {...}}.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail describes one failed request.
type ErrorDetail struct {
	Code     string             `json:"code"`
	Message  string             `json:"message"`
	Field    string             `json:"field,omitempty"`
	Fields   []model.FieldError `json:"fields,omitempty"`
	Blocking []string           `json:"blocking,omitempty"`
	Laggards []string           `json:"laggards,omitempty"`
}

// Health is the body of GET /api/v1/health.
type Health struct {
	Status       string `json:"status"` // "ok" or "no_leader"
	NodeID       string `json:"node_id"`
	Leader       string `json:"leader,omitempty"`
	LeaderKnown  bool   `json:"leader_known"`
	IsLeader     bool   `json:"is_leader"`
	Term         uint64 `json:"term,omitempty"`
	AppliedIndex uint64 `json:"applied_index"`
	Error        string `json:"error,omitempty"`
}

// ClusterNode is one member in GET /api/v1/cluster; it is also the body
// of POST /api/v1/cluster/join.
type ClusterNode struct {
	ID           string `json:"id"`
	APIAddr      string `json:"api_addr,omitempty"`
	RaftAddr     string `json:"raft_addr"`
	OpenFlowAddr string `json:"openflow_addr,omitempty"`
	State        string `json:"state,omitempty"`
	Voter        bool   `json:"voter"`
	Leader       bool   `json:"leader,omitempty"`
}

// ClusterView is the body of GET /api/v1/cluster.
type ClusterView struct {
	Leader string        `json:"leader"`
	Term   uint64        `json:"term"`
	Nodes  []ClusterNode `json:"nodes"`
}

// NVEView is an NVE as the API renders it: the stored object plus its live
// status when the node has one.
type NVEView struct {
	*model.NVE
	Status *model.NVEStatus `json:"status,omitempty"`
}

// Tunnel is a pair of NVEs that share at least one VN (A < B by name).
type Tunnel struct {
	A   string   `json:"a"`
	B   string   `json:"b"`
	VNs []string `json:"vns"`
}

// TopologyNVE is an NVE in the topology view: the stored object, its live
// status when known, and the VNs it hosts.
type TopologyNVE struct {
	NVEView
	VNs []string `json:"vns"`
}

// VNSpan is one VN in the aggregated topology: how many NVEs host it (an
// NVE hosts a VN when one of its ports is in it), how many ports it has,
// and how many NVE pairs it spans (nves*(nves-1)/2; a pair sharing two VNs
// counts in both).
type VNSpan struct {
	VN    string `json:"vn"`
	NVEs  int    `json:"nves"`
	Ports int    `json:"ports"`
	Pairs int    `json:"pairs"`
}

// Topology is the body of GET /api/v1/topology, computed from one snapshot.
// In the full form Tunnels lists every NVE pair sharing a VN (always
// present, [] when there is none); in the aggregated form
// (?tunnels=none, and the events stream's snapshot) Tunnels is nil and
// omitted, and VNSpans summarizes the pairs per VN instead: at 1,000 NVEs
// on one VN the pair list would have ~500,000 entries, which clients
// derive from the ports when they need them.
type Topology struct {
	Revision uint64        `json:"revision"`
	NVEs     []TopologyNVE `json:"nves"`
	VNs      []*model.VN   `json:"vns"`
	Ports    []*model.Port `json:"ports"`
	Tunnels  []Tunnel      `json:"tunnels,omitzero"`
	// VNSpans is set in the aggregated form only, one per VN (sorted).
	VNSpans []VNSpan `json:"vn_spans,omitempty"`
	// UnclaimedSwitches are connected switches no NVE claims: no NVE has
	// their datapath ID, or the NVE that has it pins another certificate
	// (switch_identity; see model.UnclaimedSwitch.Reason). Present when the
	// node runs an OpenFlow southbound.
	UnclaimedSwitches []model.UnclaimedSwitch `json:"unclaimed_switches,omitempty"`
	// AccessLinks are the split NVEs' access links with their per-VN
	// VLANs (accesslink.go); absent when there are none.
	AccessLinks []AccessLink `json:"access_links,omitempty"`
	// VTEPs are the hardware VTEPs (NVEs of kind vtep) with their VAPs
	// and learned MACs (vtep.go); [] when there is none.
	VTEPs []TopologyVTEP `json:"vteps"`
	// Learned are the learned endpoints (MACs seen behind L2 gateway
	// segments and VTEPs), by VN then MAC; absent when there are none.
	Learned []*model.LearnedEndpoint `json:"learned,omitempty"`
}
