package store

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"

	"github.com/nva-project/nva/app/model"
)

// defaultDedupSize is how many request IDs the FSM remembers.
const defaultDedupSize = 10000

// result is what applying one command produced. It is returned by the FSM,
// remembered under the command's request ID, carried over the forwarding
// hop as JSON, and part of snapshots.
type result struct {
	Index uint64       `json:"index"`
	VN    *model.VN    `json:"vn,omitempty"`
	NVE   *model.NVE   `json:"nve,omitempty"`
	Port  *model.Port  `json:"port,omitempty"`
	Node  *NodeInfo    `json:"node,omitempty"`
	Err   *model.Error `json:"error,omitempty"`
}

type dedupEntry struct {
	ReqID  string  `json:"req_id"`
	Hash   string  `json:"hash"` // sha256 of the encoded command
	Result *result `json:"result"`
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
// publishes watch events and keeps the applied index.
type fsm struct {
	log       *slog.Logger
	dedupSize int

	mu      sync.RWMutex
	st      *state
	dedup   *dedupTable
	applied uint64        // index of the last command applied (or restored)
	waitCh  chan struct{} // closed and replaced on every change of applied
	hub     hub
	closed  bool // store shut down: no new watchers
	cache   atomic.Pointer[model.Snapshot]
}

func newFSM(log *slog.Logger, dedupSize int) *fsm {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &fsm{log: log, dedupSize: dedupSize, st: newState(), dedup: newDedupTable(dedupSize), waitCh: make(chan struct{})}
}

// Apply implements raft.FSM.
func (f *fsm) Apply(l *raft.Log) any {
	return f.applyCommand(l.Index, l.Data)
}

// applyCommand applies one encoded command at raft index idx. It returns a
// *result (domain errors inside), or an error for a command that cannot be
// decoded; a skipped command returns nil.
func (f *fsm) applyCommand(idx uint64, data []byte) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.advance(idx)

	c, err := decodeCommand(data)
	if errors.Is(err, errSkipCommand) {
		f.log.Warn("skipping unknown command with ignore flag", "index", idx, "type", fmt.Sprintf("0x%02x", data[0]))
		return nil
	}
	if err != nil {
		// A command this node cannot understand and may not skip: most
		// likely a newer leader; nothing is changed here. Upgrade the node.
		f.log.Error("cannot apply command; state unchanged", "index", idx, "err", err)
		return fmt.Errorf("apply index %d: %w", idx, err)
	}
	var hash string
	if c.Body.ReqID != "" {
		hash = requestHash(c, data)
		if e, ok := f.dedup.byID[c.Body.ReqID]; ok {
			if e.Hash != hash {
				return &result{Index: idx, Err: model.Errorf(model.KindConflict, "",
					"request ID %q was already used for a different request", c.Body.ReqID)}
			}
			return e.Result
		}
	}
	res, ev := f.apply(idx, c)
	if res.Err == nil && ev != nil {
		f.hub.publish(*ev)
	}
	// A conditional update rejected because the object changed is not
	// remembered: it changed nothing, and its caller retries it under the
	// same request ID against the newer revision (a remembered rejection
	// would answer that retry with itself, or refuse it as a different
	// request).
	if c.Body.ReqID != "" && !isRevisionConflict(res.Err) {
		f.dedup.add(&dedupEntry{ReqID: c.Body.ReqID, Hash: hash, Result: res})
	}
	return res
}

// requestHash identifies a command's content for the request-ID table:
// the sha256 of its encoding. The expected revision of a conditional update
// is left out, so a retried PATCH, which re-reads the object and sends the
// same change expecting a newer revision, is recognised as the same request
// and answered with the first result. Unconditional commands hash exactly
// as before the expected revision existed.
func requestHash(c *command, data []byte) string {
	if c.Body.ExpectRevision != 0 {
		b := c.Body
		b.ExpectRevision = 0
		if d, err := encodeCommand(c.Type, b); err == nil {
			data = d
		}
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
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

// apply dispatches a decoded command to the state.
func (f *fsm) apply(idx uint64, c *command) (*result, *Event) {
	st := f.st
	res := &result{Index: idx}
	var ev *Event
	b := c.Body
	switch c.Type {
	case cmdCreateVN:
		v, e := st.createVN(idx, *b.VN)
		res.VN, res.Err = v, e
		if e == nil {
			ev = &Event{Kind: KindVN, Op: OpPut, Name: v.Name, New: v}
		}
	case cmdUpdateVN:
		old, v, e := st.updateVN(idx, *b.VN, b.ExpectRevision)
		res.VN, res.Err = v, e
		if e == nil {
			ev = &Event{Kind: KindVN, Op: OpPut, Name: v.Name, Old: old, New: v}
		}
	case cmdDeleteVN:
		old, e := st.deleteVN(b.Name)
		res.Err = e
		if e == nil {
			ev = &Event{Kind: KindVN, Op: OpDelete, Name: b.Name, Old: old}
		}
	case cmdCreateNVE:
		n, e := st.createNVE(idx, *b.NVE)
		res.NVE, res.Err = n, e
		if e == nil {
			ev = &Event{Kind: KindNVE, Op: OpPut, Name: n.Name, New: n}
		}
	case cmdUpdateNVE:
		old, n, e := st.updateNVE(idx, *b.NVE, b.ExpectRevision)
		res.NVE, res.Err = n, e
		if e == nil {
			ev = &Event{Kind: KindNVE, Op: OpPut, Name: n.Name, Old: old, New: n}
		}
	case cmdDeleteNVE:
		old, e := st.deleteNVE(b.Name)
		res.Err = e
		if e == nil {
			ev = &Event{Kind: KindNVE, Op: OpDelete, Name: b.Name, Old: old}
		}
	case cmdCreatePort:
		p, e := st.createPort(idx, *b.Port)
		res.Port, res.Err = p, e
		if e == nil {
			ev = &Event{Kind: KindPort, Op: OpPut, Name: p.Name, New: p}
		}
	case cmdUpdatePort:
		old, p, e := st.updatePort(idx, *b.Port, b.ExpectRevision)
		res.Port, res.Err = p, e
		if e == nil {
			ev = &Event{Kind: KindPort, Op: OpPut, Name: p.Name, Old: old, New: p}
		}
	case cmdDeletePort:
		old, e := st.deletePort(b.Name)
		res.Err = e
		if e == nil {
			ev = &Event{Kind: KindPort, Op: OpDelete, Name: b.Name, Old: old}
		}
	case cmdPutNode:
		old, n, e := st.putNode(*b.Node)
		res.Node, res.Err = n, e
		if e == nil {
			ev = &Event{Kind: KindNode, Op: OpPut, Name: n.ID, New: n}
			if old != nil {
				ev.Old = old
			}
		}
	case cmdRemoveNode:
		old, e := st.removeNode(b.Name)
		res.Err = e
		if e == nil {
			ev = &Event{Kind: KindNode, Op: OpDelete, Name: b.Name, Old: old}
		}
	default:
		res.Err = model.Errorf(model.KindInvalid, "", "unhandled command type %s", c.Type)
	}
	if ev != nil {
		ev.Index = idx
	}
	return res, ev
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

// snapshotLocked needs f.mu held (read or write).
func (f *fsm) snapshotLocked() *model.Snapshot {
	if s := f.cache.Load(); s != nil {
		return s
	}
	s := &model.Snapshot{
		Revision: f.applied,
		VNs:      make(map[string]*model.VN, len(f.st.vns)),
		NVEs:     make(map[string]*model.NVE, len(f.st.nves)),
		Ports:    make(map[string]*model.Port, len(f.st.ports)),
	}
	for k, v := range f.st.vns {
		s.VNs[k] = v
	}
	for k, v := range f.st.nves {
		s.NVEs[k] = v
	}
	for k, v := range f.st.ports {
		s.Ports[k] = v
	}
	f.cache.CompareAndSwap(nil, s)
	return s
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

// --- snapshots ---

const snapshotFormat = 1

// snapRecord is one element of the streamed snapshot: exactly one field is
// set. The stream is a header, the objects, the request-ID table (oldest
// first), and a trailer that proves the stream is complete.
type snapRecord struct {
	Format   int         `json:"format,omitempty"`
	Revision uint64      `json:"revision,omitempty"`
	VN       *model.VN   `json:"vn,omitempty"`
	NVE      *model.NVE  `json:"nve,omitempty"`
	Port     *model.Port `json:"port,omitempty"`
	Node     *NodeInfo   `json:"node,omitempty"`
	Req      *dedupEntry `json:"req,omitempty"`
	End      bool        `json:"end,omitempty"`
}

type fsmSnapshot struct {
	revision uint64
	vns      []*model.VN
	nves     []*model.NVE
	ports    []*model.Port
	nodes    []*NodeInfo
	reqs     []*dedupEntry
}

// Snapshot implements raft.FSM: it captures the (immutable) object pointers
// under the lock, in name order so equal states give equal streams; Persist
// streams them without it.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	s := &fsmSnapshot{revision: f.applied}
	for _, v := range f.st.vns {
		s.vns = append(s.vns, v)
	}
	for _, n := range f.st.nves {
		s.nves = append(s.nves, n)
	}
	for _, p := range f.st.ports {
		s.ports = append(s.ports, p)
	}
	for _, n := range f.st.nodes {
		s.nodes = append(s.nodes, n)
	}
	sort.Slice(s.vns, func(i, j int) bool { return s.vns[i].Name < s.vns[j].Name })
	sort.Slice(s.nves, func(i, j int) bool { return s.nves[i].Name < s.nves[j].Name })
	sort.Slice(s.ports, func(i, j int) bool { return s.ports[i].Name < s.ports[j].Name })
	sort.Slice(s.nodes, func(i, j int) bool { return s.nodes[i].ID < s.nodes[j].ID })
	s.reqs = f.dedup.entries()
	return s, nil
}

func (s *fsmSnapshot) write(w io.Writer) error {
	enc := json.NewEncoder(w)
	if err := enc.Encode(snapRecord{Format: snapshotFormat, Revision: s.revision}); err != nil {
		return err
	}
	for _, v := range s.vns {
		if err := enc.Encode(snapRecord{VN: v}); err != nil {
			return err
		}
	}
	for _, n := range s.nves {
		if err := enc.Encode(snapRecord{NVE: n}); err != nil {
			return err
		}
	}
	for _, p := range s.ports {
		if err := enc.Encode(snapRecord{Port: p}); err != nil {
			return err
		}
	}
	for _, n := range s.nodes {
		if err := enc.Encode(snapRecord{Node: n}); err != nil {
			return err
		}
	}
	for _, r := range s.reqs {
		if err := enc.Encode(snapRecord{Req: r}); err != nil {
			return err
		}
	}
	return enc.Encode(snapRecord{End: true})
}

// Persist implements raft.FSMSnapshot.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := s.write(sink); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("persist snapshot: %w", err)
	}
	return sink.Close()
}

// Release implements raft.FSMSnapshot.
func (s *fsmSnapshot) Release() {}

// readSnapshot decodes a snapshot stream into a fresh state and table.
func readSnapshot(r io.Reader, dedupSize int) (*state, *dedupTable, uint64, error) {
	dec := json.NewDecoder(r)
	var hdr snapRecord
	if err := dec.Decode(&hdr); err != nil {
		return nil, nil, 0, fmt.Errorf("snapshot header: %w", err)
	}
	if hdr.Format != snapshotFormat {
		return nil, nil, 0, fmt.Errorf("snapshot format %d is not supported", hdr.Format)
	}
	st, dd := newState(), newDedupTable(dedupSize)
	for {
		var rec snapRecord
		if err := dec.Decode(&rec); err != nil {
			return nil, nil, 0, fmt.Errorf("snapshot record: %w (truncated stream?)", err)
		}
		switch {
		case rec.End:
			return st, dd, hdr.Revision, nil
		case rec.VN != nil:
			st.putVN(rec.VN)
		case rec.NVE != nil:
			st.putNVE(rec.NVE)
		case rec.Port != nil:
			st.putPort(rec.Port)
		case rec.Node != nil:
			st.nodes[rec.Node.ID] = rec.Node
		case rec.Req != nil:
			dd.add(rec.Req)
		}
	}
}

// Restore implements raft.FSM: it replaces the whole state, and tells every
// watcher to re-snapshot.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	st, dd, rev, err := readSnapshot(rc, f.dedupSize)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.st, f.dedup = st, dd
	f.cache.Store(nil)
	f.applied = rev
	close(f.waitCh)
	f.waitCh = make(chan struct{})
	f.hub.resetAll(rev)
	return nil
}
