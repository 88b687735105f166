package store

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"

	"github.com/hashicorp/raft"

	"github.com/nva-project/nva/app/model"
)

// snapshotFormat is the format of the snapshot stream this code writes
// and the only one it reads: JSON records (snapRecord, logtypes.go).
const snapshotFormat = 1

type fsmSnapshot struct {
	revision uint64
	vns      []*model.VN
	nves     []*model.NVE
	ports    []*model.Port
	nodes    []*NodeInfo
	tokens   []snapRecord
	policies []snapRecord
	learned  []snapRecord // learned.go
	gateways []snapRecord // L3 gateways (l3gateway.go)
	reqs     []*dedupEntry
	logTime  int64 // the request-ID table's clock
}

// Snapshot implements raft.FSM: it captures the (immutable) object pointers
// under the lock, in name order so equal states give equal streams; Persist
// streams them without it. A halted FSM refuses: its state lacks the
// command it stopped at, and a snapshot labelled with a later index would
// let Raft compact that command away for good.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.halt != nil {
		return nil, f.halt
	}
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
	s.tokens = tokenRecords(&f.st.tokens)
	s.policies = policyRecords(&f.st.policies)
	s.learned = learnedRecords(&f.st.learned)
	s.gateways = l3GatewayRecords(f.st)
	s.reqs = f.dedup.entries()
	s.logTime = f.dedup.now
	return s, nil
}

// write streams the records one by one.
func (s *fsmSnapshot) write(w io.Writer) error {
	enc := json.NewEncoder(w)
	var err error
	put := func(r snapRecord) {
		if err == nil {
			err = enc.Encode(&r)
		}
	}
	put(snapRecord{Format: snapshotFormat, Revision: s.revision, LogTime: s.logTime})
	for _, v := range s.vns {
		put(snapRecord{VN: toLogVN(v)})
	}
	for _, n := range s.nves {
		put(snapRecord{NVE: toLogNVE(n)})
	}
	for _, p := range s.ports {
		put(snapRecord{Port: toLogPort(p)})
	}
	for _, n := range s.nodes {
		put(snapRecord{Node: toLogNode(n)})
	}
	for _, r := range s.tokens {
		put(r)
	}
	for _, r := range s.policies {
		put(r)
	}
	for _, r := range s.learned {
		put(r)
	}
	for _, r := range s.gateways {
		put(r)
	}
	for _, r := range s.reqs {
		put(snapRecord{Req: &logRequest{ReqID: r.ReqID, Hash: r.Hash, Result: toLogResult(r.Result), At: r.At}})
	}
	put(snapRecord{End: true})
	return err
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

// readSnapshot decodes a snapshot stream into a fresh state and table. The
// objects are taken exactly as written.
func readSnapshot(r io.Reader, policy DedupPolicy) (*state, *dedupTable, uint64, error) {
	dec := json.NewDecoder(r)
	var hdr snapRecord
	if err := dec.Decode(&hdr); err != nil {
		return nil, nil, 0, fmt.Errorf("snapshot header: %w", err)
	}
	if hdr.Format != snapshotFormat {
		return nil, nil, 0, fmt.Errorf("snapshot format %d is not supported", hdr.Format)
	}
	st, dd := newState(), newDedupTable(policy)
	dd.observe(hdr.LogTime)
	for {
		var rec snapRecord
		if err := dec.Decode(&rec); err != nil {
			return nil, nil, 0, fmt.Errorf("snapshot record: %w (truncated stream?)", err)
		}
		switch {
		case rec.End:
			return st, dd, hdr.Revision, nil
		case rec.VN != nil:
			st.putVN(rec.VN.model())
		case rec.NVE != nil:
			st.putNVE(rec.NVE.model())
		case rec.Port != nil:
			st.putPort(rec.Port.model())
		case rec.Node != nil:
			st.nodes[rec.Node.ID] = rec.Node.model()
		case rec.Policy != nil:
			st.policies.put(rec.Policy.model())
		case rec.L3Gateway != nil:
			l3GatewayKind{}.put(st, rec.L3Gateway.model())
		case rec.Req != nil:
			dd.add(&dedupEntry{ReqID: rec.Req.ReqID, Hash: rec.Req.Hash, Result: rec.Req.Result.model(), At: rec.Req.At})
		default:
			if !restoreLearnedRecord(&st.learned, &rec) {
				restoreTokenRecord(&st.tokens, &rec)
			}
		}
	}
}

// Restore implements raft.FSM: it replaces the whole state, and tells every
// watcher to re-snapshot. A halted FSM stays halted.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	if err := f.err(); err != nil {
		return err
	}
	st, dd, rev, err := readSnapshot(rc, f.policy)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.st, f.dedup = st, dd
	f.cache.Store(nil)
	f.views.reset()
	f.applied = rev
	close(f.waitCh)
	f.waitCh = make(chan struct{})
	f.hub.resetAll(rev)
	return nil
}
