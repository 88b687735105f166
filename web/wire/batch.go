package wire

import "encoding/json"

// POST /api/v1/batch: many creates, updates and deletes of VNs, NVEs and
// ports applied atomically, in order, as one Raft entry (web/API.md).

// MaxBatchItems is the most items one batch may hold; more is a 413.
const MaxBatchItems = 10000

// MaxBatchBodyBytes is the body cap of POST /api/v1/batch (32 MiB; every
// other route takes 1 MiB); more is a 413.
const MaxBatchBodyBytes = 32 << 20

// The operations and kinds of a batch item.
const (
	OpCreate = "create"
	OpUpdate = "update"
	OpDelete = "delete"

	KindVN   = "vn"
	KindNVE  = "nve"
	KindPort = "port"
)

// BatchRequest is the body of POST /api/v1/batch.
type BatchRequest struct {
	Items []BatchItem `json:"items"`
}

// BatchItem is one operation: create or update with the whole object (as
// POST /api/v1/<kind>s takes it; an update replaces the stored object, and
// if_revision makes it conditional), or delete by name.
type BatchItem struct {
	Op   string `json:"op"`             // create, update or delete
	Kind string `json:"kind"`           // vn, nve or port
	Name string `json:"name,omitempty"` // delete: the object's name (create, update: optional, must match the object)
	// Object is the VN, NVE or port to create or update.
	Object json.RawMessage `json:"object,omitempty"`
	// IfRevision makes an update apply only while the stored object is at
	// this revision (otherwise 409, field items[i].revision).
	IfRevision uint64 `json:"if_revision,omitempty"`
}

// BatchResponse is the answer to a committed batch: its revision (also in
// X-Revision) and one result per item, in order.
type BatchResponse struct {
	Revision uint64            `json:"revision"`
	Items    []BatchItemResult `json:"items"`
}

// BatchItemResult is what one item did: the stored object (with its
// revision, the batch's) after a create or an update; only the name after
// a delete.
type BatchItemResult struct {
	Op     string          `json:"op"`
	Kind   string          `json:"kind"`
	Name   string          `json:"name"`
	Object json.RawMessage `json:"object,omitempty"`
}
