package store

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/nva-project/nva/app/model"
)

// defaultDedupSize is how many request IDs the FSM remembers.
const defaultDedupSize = 10000

// result is what applying one command produced. It is returned by the FSM,
// remembered under the command's request ID, carried over the forwarding
// hop as JSON and part of snapshots, both encoded with the log's types
// (logResult).
type result struct {
	Index uint64
	VN    *model.VN
	NVE   *model.NVE
	Port  *model.Port
	Node  *NodeInfo
	Err   *model.Error
	// Items are a batch's per-item results, in the batch's order (each
	// with the batch's Index; the object of a create or an update, nothing
	// for a delete). A rejected batch has none: Err says why.
	Items []*result
}

type dedupEntry struct {
	ReqID  string
	Hash   string // identifies the request's content (decoded.hash)
	Result *result
}

// dedupTable is a bounded FIFO map of request ID -> result.
type dedupTable struct {
	max   int
	byID  map[string]*dedupEntry
	ring  []string
	next  int
	count int
}

func newDedupTable(max int) *dedupTable {
	if max <= 0 {
		max = defaultDedupSize
	}
	return &dedupTable{max: max, byID: map[string]*dedupEntry{}, ring: make([]string, max)}
}

func (d *dedupTable) add(e *dedupEntry) {
	if old := d.ring[d.next]; old != "" {
		delete(d.byID, old)
	} else {
		d.count++
	}
	d.ring[d.next] = e.ReqID
	d.byID[e.ReqID] = e
	d.next = (d.next + 1) % d.max
}

// entries returns the remembered entries, oldest first.
func (d *dedupTable) entries() []*dedupEntry {
	out := make([]*dedupEntry, 0, d.count)
	for i := 0; i < d.max; i++ {
		id := d.ring[(d.next+i)%d.max]
		if id != "" {
			out = append(out, d.byID[id])
		}
	}
	return out
}

// fsm is the raft state machine: a thin layer that decodes commands and
// applies them to the indexed state, remembers results by request ID,
// publishes watch events and keeps the applied index. What it does with a
// command depends on the log alone: it runs no defaults and no
// validation (those ran before the command was proposed).
type fsm struct {
	log       *slog.Logger
	dedupSize int
	// skipped counts commands skipped for their ignore flag.
	skipped prometheus.Counter

	mu      sync.RWMutex
	st      *state
	dedup   *dedupTable
	applied uint64        // index of the last command applied (or restored)
	waitCh  chan struct{} // closed and replaced on every change of applied
	hub     hub
	closed  bool // store shut down: no new watchers
	cache   atomic.Pointer[model.Snapshot]
	views   viewState // what the next snapshot shares with the last (read.go)

	// halt is set, once, when a command cannot be decoded and may not be
	// skipped; from then on nothing is applied (see halt).
	halt    *FatalError
	haltCh  chan struct{} // closed when halt is set
	onFatal func(error)   // Config.OnFatal
}

func newFSM(log *slog.Logger, dedupSize int) *fsm {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &fsm{
		log: log, dedupSize: dedupSize, st: newState(), dedup: newDedupTable(dedupSize),
		waitCh: make(chan struct{}), haltCh: make(chan struct{}),
		skipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nva_store_skipped_commands_total",
			Help: "Committed commands this node skipped because it cannot decode them and they carry the ignore-if-unknown flag.",
		}),
	}
}

// Apply implements raft.FSM.
func (f *fsm) Apply(l *raft.Log) any {
	return f.applyCommand(l.Index, l.Data)
}

// applyCommand applies one encoded command at raft index idx. It returns a
// *result (domain errors inside); nil for a skipped command; a *FatalError
// for a command that cannot be decoded and may not be skipped, and for
// every command after it.
func (f *fsm) applyCommand(idx uint64, data []byte) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.halt != nil {
		return f.halt
	}
	d, err := decodeCommand(data)
	if errors.Is(err, errSkipCommand) {
		f.skipped.Inc()
		f.log.Warn("skipping a command this node cannot decode: it carries the ignore flag", "index", idx, "type", fmt.Sprintf("0x%02x", data[0]), "err", err)
		f.advance(idx)
		return nil
	}
	if err != nil {
		return f.stop(idx, data, err)
	}
	defer f.advance(idx)
	reqID := d.cmd.requestID()
	if reqID != "" {
		if e, ok := f.dedup.byID[reqID]; ok {
			if e.Hash != d.hash {
				return &result{Index: idx, Err: model.Errorf(model.KindConflict, "",
					"request ID %q was already used for a different request", reqID)}
			}
			return e.Result
		}
	}
	res, evs := d.cmd.apply(f.st, idx)
	if res.Err == nil {
		for _, ev := range evs {
			f.views.changed(ev)
			f.hub.publish(ev)
		}
	}
	// A conditional update rejected because the object changed is not
	// remembered: it changed nothing, and its caller retries it under the
	// same request ID against the newer revision (a remembered rejection
	// would answer that retry with itself, or refuse it as a different
	// request).
	if reqID != "" && !isRevisionConflict(res.Err) {
		f.dedup.add(&dedupEntry{ReqID: reqID, Hash: d.hash, Result: res})
	}
	return res
}

// check judges a decoded command against the current state without
// changing it: the leader's early rejection. It answers nil (append it)
// for a request ID the table knows, since the log answers a retry with its
// first result, and once the FSM has halted. It holds the write lock: a
// batch is judged by applying its items and rolling them back (batch.go),
// which no reader may see.
func (f *fsm) check(d decoded) *model.Error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.halt != nil {
		return nil
	}
	if id := d.cmd.requestID(); id != "" && f.dedup.byID[id] != nil {
		return nil
	}
	return d.cmd.check(f.st)
}

// advance records idx as applied (f.mu held for writing); the cached view
// is dropped so that its Revision is always the applied index.
func (f *fsm) advance(idx uint64) {
	if idx > f.applied {
		f.applied = idx
		f.cache.Store(nil)
		close(f.waitCh)
		f.waitCh = make(chan struct{})
	}
}

// snapshot returns the current immutable view, building it at most once
// per applied change.
func (f *fsm) snapshot() *model.Snapshot {
	if s := f.cache.Load(); s != nil {
		return s
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.snapshotLocked()
}

func (f *fsm) nodes() map[string]NodeInfo {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make(map[string]NodeInfo, len(f.st.nodes))
	for k, v := range f.st.nodes {
		out[k] = *v
	}
	return out
}

func (f *fsm) node(id string) (NodeInfo, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if n := f.st.nodes[id]; n != nil {
		return *n, true
	}
	return NodeInfo{}, false
}

func (f *fsm) appliedIndex() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.applied
}

// waitChan returns the applied index and a channel closed when it changes.
func (f *fsm) waitChan() (uint64, <-chan struct{}) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.applied, f.waitCh
}
