package store

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/nva-project/nva/app/model"
)

// The request-ID window's defaults (DedupPolicy).
const (
	// DefaultDedupKeep: the last 10,000 request IDs are always remembered.
	DefaultDedupKeep = 10_000
	// DefaultDedupWindow: beyond those, every ID written in the last 24 h
	// of log time is remembered...
	DefaultDedupWindow = 24 * time.Hour
	// DefaultDedupMax: ...up to 1,000,000 results in all, a batch counting
	// one per item (the memory bound).
	DefaultDedupMax = 1_000_000
)

// DedupPolicy is how long the FSM remembers a request ID, and with it the
// write's result, so that a client retrying a write with the same
// X-Request-ID gets its first result instead of a second application: an
// ID is kept while it is among the last Keep IDs, or younger than Window,
// and while the table holds no more than Max results (a batch's counts
// one per item, since it holds every item's object). Age is log time: the
// time the leader appended the entry (raft.Log.AppendedAt, replicated with
// it), never a node's clock, so every node keeps and drops the same IDs.
// Every node of a cluster must use the same policy. Zero fields take the
// defaults.
type DedupPolicy struct {
	Keep   int
	Window time.Duration
	Max    int
}

func (p DedupPolicy) withDefaults() DedupPolicy {
	if p.Keep <= 0 {
		p.Keep = DefaultDedupKeep
	}
	if p.Window <= 0 {
		p.Window = DefaultDedupWindow
	}
	if p.Max <= 0 {
		p.Max = DefaultDedupMax
	}
	if p.Keep > p.Max {
		p.Keep = p.Max
	}
	return p
}

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
	// Policy is a policy rule command's rule (policy.go).
	Policy *model.PolicyRule
	Err    *model.Error
	// L3Gateway is an L3 gateway command's object (l3gateway.go).
	L3Gateway *model.L3Gateway
	// Items are a batch's per-item results, in the batch's order (each
	// with the batch's Index; the object of a create or an update, nothing
	// for a delete). A rejected batch has none: Err says why.
	Items []*result
}

type dedupEntry struct {
	ReqID  string
	Hash   string // identifies the request's content (decoded.hash)
	Result *result
	// At is the log time the entry was remembered at, in Unix
	// nanoseconds (0: unknown, as in a snapshot written before times
	// were kept; such an entry counts as old).
	At int64
}

// dedupTable is the request-ID table: a map of request ID -> result and
// the IDs in the order they were remembered (their At never decreases),
// trimmed from the oldest by the policy.
type dedupTable struct {
	pol   DedupPolicy
	byID  map[string]*dedupEntry
	queue []*dedupEntry // queue[head:] are the live entries, oldest first
	head  int
	// now is the latest log time seen (Unix nanoseconds), from the
	// entries applied or restored: the table's clock.
	now int64
	// weight is the live entries' total weight (entryWeight).
	weight int
}

// entryWeight is what an entry counts toward DedupPolicy.Max: one, or one
// per item of a batch.
func entryWeight(e *dedupEntry) int {
	if e.Result != nil && len(e.Result.Items) > 1 {
		return len(e.Result.Items)
	}
	return 1
}

func newDedupTable(pol DedupPolicy) *dedupTable {
	return &dedupTable{pol: pol.withDefaults(), byID: map[string]*dedupEntry{}}
}

// observe advances the table's clock to a log entry's time (0: unknown).
func (d *dedupTable) observe(at int64) {
	if at > d.now {
		d.now = at
	}
}

func (d *dedupTable) len() int { return len(d.queue) - d.head }

// remember adds an entry at the table's current log time and drops what
// the policy no longer keeps.
func (d *dedupTable) remember(e *dedupEntry) {
	e.At = d.now
	d.add(e)
}

// add appends an entry as is (its At already set) and trims the table.
func (d *dedupTable) add(e *dedupEntry) {
	if old := d.byID[e.ReqID]; old != nil {
		// Not reached through apply (a known ID is answered, not
		// remembered again); a snapshot holding an ID twice keeps the
		// later entry.
		d.drop(old)
	}
	d.observe(e.At)
	d.queue = append(d.queue, e)
	d.byID[e.ReqID] = e
	d.weight += entryWeight(e)
	d.trim()
}

func (d *dedupTable) drop(e *dedupEntry) {
	delete(d.byID, e.ReqID)
	d.weight -= entryWeight(e)
	for i := d.head; i < len(d.queue); i++ {
		if d.queue[i] == e {
			d.queue = append(d.queue[:i], d.queue[i+1:]...)
			return
		}
	}
}

// trim drops the oldest entries while they weigh more than Max, or the
// table holds more than Keep and the oldest is older than Window. The
// newest entry always stays.
func (d *dedupTable) trim() {
	for n := d.len(); n > 0; n-- {
		oldest := d.queue[d.head]
		if n == 1 || d.weight <= d.pol.Max && (n <= d.pol.Keep || d.now-oldest.At <= int64(d.pol.Window)) {
			break
		}
		delete(d.byID, oldest.ReqID)
		d.weight -= entryWeight(oldest)
		d.queue[d.head] = nil
		d.head++
	}
	if d.head > 1024 && d.head*2 > len(d.queue) {
		d.queue = append([]*dedupEntry(nil), d.queue[d.head:]...)
		d.head = 0
	}
}

// entries returns the remembered entries, oldest first.
func (d *dedupTable) entries() []*dedupEntry {
	return append([]*dedupEntry(nil), d.queue[d.head:]...)
}

// fsm is the raft state machine: a thin layer that decodes commands and
// applies them to the indexed state, remembers results by request ID,
// publishes watch events and keeps the applied index. What it does with a
// command depends on the log alone: it runs no defaults and no
// validation (those ran before the command was proposed).
type fsm struct {
	log    *slog.Logger
	policy DedupPolicy
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

func newFSM(log *slog.Logger, policy DedupPolicy) *fsm {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &fsm{
		log: log, policy: policy, st: newState(), dedup: newDedupTable(policy),
		waitCh: make(chan struct{}), haltCh: make(chan struct{}),
		skipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nva_store_skipped_commands_total",
			Help: "Committed commands this node skipped because it cannot decode them and they carry the ignore-if-unknown flag.",
		}),
	}
}

// Apply implements raft.FSM.
func (f *fsm) Apply(l *raft.Log) any {
	var at int64
	if !l.AppendedAt.IsZero() {
		at = l.AppendedAt.UnixNano() // wall clock: the same on every node
	}
	return f.applyCommandAt(l.Index, at, l.Data)
}

// applyCommandAt applies one encoded command at raft index idx, appended
// by the leader at log time at (Unix nanoseconds; 0: unknown). It returns a
// *result (domain errors inside); nil for a skipped command; a *FatalError
// for a command that cannot be decoded and may not be skipped, and for
// every command after it.
func (f *fsm) applyCommandAt(idx uint64, at int64, data []byte) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.halt != nil {
		return f.halt
	}
	f.dedup.observe(at)
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
		evs = append(evs, f.st.reconcileAccessLinks(idx, evs)...) // accesslink.go
		// The cached snapshot is stale from here on: drop it before the
		// events go out, or a watcher woken by them could read the
		// snapshot of before this change from the lock-free cache (and
		// then wait for an event that already came). Readers now block on
		// the lock until advance has run.
		f.cache.Store(nil)
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
		f.dedup.remember(&dedupEntry{ReqID: reqID, Hash: d.hash, Result: res})
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
