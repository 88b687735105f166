package web

import (
	"context"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/store"
)

// Backend is what the REST API needs from the store. *store.Store
// implements it; tests may wrap it to inject failures. The UpdateXIf
// methods replace an object only if its revision is still expectRev (0:
// unconditionally) and otherwise fail with an error for which
// store.IsRevisionConflict is true; PATCH relies on that.
type Backend interface {
	Snapshot() *model.Snapshot
	ConsistentSnapshot(ctx context.Context) (*model.Snapshot, error)
	// SnapshotAndWatch returns the local snapshot at revision N and every
	// later change, in order (the events stream); a model.ChangeReset
	// means the watcher fell behind: take a new snapshot. The channel is
	// closed when ctx ends, after a reset, or when the store closes.
	SnapshotAndWatch(ctx context.Context) (*model.Snapshot, <-chan model.Change)

	CreateVN(ctx context.Context, reqID string, vn model.VN) (*model.VN, error)
	UpdateVNIf(ctx context.Context, reqID string, vn model.VN, expectRev uint64) (*model.VN, error)
	DeleteVN(ctx context.Context, reqID, name string) (uint64, error)
	CreateNVE(ctx context.Context, reqID string, nve model.NVE) (*model.NVE, error)
	UpdateNVEIf(ctx context.Context, reqID string, nve model.NVE, expectRev uint64) (*model.NVE, error)
	DeleteNVE(ctx context.Context, reqID, name string) (uint64, error)
	CreatePort(ctx context.Context, reqID string, p model.Port) (*model.Port, error)
	UpdatePortIf(ctx context.Context, reqID string, p model.Port, expectRev uint64) (*model.Port, error)
	DeletePort(ctx context.Context, reqID, name string) (uint64, error)
	// Inter-VN policy rules (policy.go).
	CreatePolicy(ctx context.Context, reqID string, r model.PolicyRule) (*model.PolicyRule, error)
	UpdatePolicyIf(ctx context.Context, reqID string, r model.PolicyRule, expectRev uint64) (*model.PolicyRule, error)
	DeletePolicy(ctx context.Context, reqID, name string) (uint64, error)
	// L3 gateways (l3gateway.go).
	CreateL3Gateway(ctx context.Context, reqID string, g model.L3Gateway) (*model.L3Gateway, error)
	UpdateL3GatewayIf(ctx context.Context, reqID string, g model.L3Gateway, expectRev uint64) (*model.L3Gateway, error)
	DeleteL3Gateway(ctx context.Context, reqID, name string) (uint64, error)
	// Recorded returns the first result of the write made under a request
	// ID, if the store still remembers it (store.DedupPolicy): a PATCH
	// retried after its object was deleted is answered from it.
	Recorded(reqID string) (store.Recorded, bool)
	// Batch applies ops atomically, in order, as one Raft entry (POST /api/v1/batch).
	Batch(ctx context.Context, reqID string, ops []store.BatchOp) (*store.BatchResult, error)

	Cluster(ctx context.Context) (store.ClusterInfo, error)
	Join(ctx context.Context, node store.NodeInfo) error
	RemoveNode(ctx context.Context, id string) error
	IsLeader() bool
	AppliedIndex() uint64
}

// Realizer reports when NVEs have installed the state of a store index.
// With one configured, writes with ?wait=realized block until
// WaitRealizedFor returns for the NVEs the write affects (nves, derived
// from the write; no other NVE may hold it up); laggards names those that
// had not caught up when ctx expired.
type Realizer interface {
	WaitRealizedFor(ctx context.Context, index uint64, nves []string) (laggards []string, err error)
}

// FlowReporter returns the flows installed on (or compiled for) an NVE,
// served at GET /api/v1/nves/{name}/flows.
type FlowReporter interface {
	NVEFlows(ctx context.Context, nve string) (*model.FlowReport, error)
}

// SwitchReporter lists the connected switches no NVE claims (their
// datapath ID matches no NVE), served at GET /api/v1/switches/unclaimed and
// in the topology, so an operator sees a switch waiting to be registered.
type SwitchReporter interface {
	UnclaimedSwitches() []model.UnclaimedSwitch
}

// StatusReporter returns the live status of an NVE (OVSDB and OpenFlow
// connection, sync state); it is shown in NVE responses as "status". nil
// means this node knows nothing live about the NVE.
type StatusReporter interface {
	NVEStatus(nve string) *model.NVEStatus
}

// StatusNotifier tells the events stream when the live status of NVEs may
// have changed (OpenFlow connection and sync, OVSDB connection), so that
// it sends status events without polling. The stream diffs every NVE's
// status against what it sent and sends only the ones that changed, so a
// notification may be spurious. Without one, the stream only re-reads the
// status periodically (EventsOptions.StatusRecheck).
type StatusNotifier interface {
	// SubscribeStatus returns a channel that receives a value after any
	// NVE's status may have changed, until ctx ends. Notifications are
	// coalesced: the channel holds at most one.
	SubscribeStatus(ctx context.Context) <-chan struct{}
}
