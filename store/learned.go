package store

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nva-project/nva/app/model"
)

// Learned endpoints (model.LearnedEndpoint) are replicated state beside
// the objects: two commands change them, both carrying the time they
// judge by (the FSM never reads a clock):
//
//   - report-learned: one batch of MACs an NVE saw (model.LearnedReport).
//     A MAC already learned at the same NVE and Via is refreshed (LastSeen
//     moves forward, no event); a new one is learned and a MAC learned
//     elsewhere moves (one event each); a MAC a known port owns in the VN
//     is refused and recorded as a model.LearnedConflict (and any learned
//     entry of it dropped); a MAC in a VN that does not exist, or behind a
//     Via that is not a segment port of that VN on the NVE, is skipped; a
//     Gone item forgets the MAC if it is learned at that NVE and Via. A
//     report from an NVE that does not exist is rejected whole.
//   - expire-learned: forgets every endpoint and conflict not seen since
//     Before (one event per endpoint).
//
// Neither keeps a request ID (they are idempotent by content and frequent:
// they would crowd the request-ID table).

// learnedState is the learned part of the replicated state. Entries are
// never mutated after insertion (a refresh replaces the pointer).
type learnedState struct {
	byKey     map[string]*model.LearnedEndpoint // by model.LearnedKey
	conflicts map[string]*model.LearnedConflict // by model.LearnedKey
	// conflictsTotal counts every refused report of a MAC since the
	// cluster began (it survives snapshots).
	conflictsTotal uint64
	// gen counts changes of byKey (refreshes included): the snapshot
	// copies byKey only when it moved (read.go).
	gen uint64
}

func (ls *learnedState) put(e *model.LearnedEndpoint) {
	if ls.byKey == nil {
		ls.byKey = map[string]*model.LearnedEndpoint{}
	}
	ls.byKey[e.Key()] = e
	ls.gen++
}

func (ls *learnedState) del(key string) {
	delete(ls.byKey, key)
	ls.gen++
}

func (ls *learnedState) putConflict(c *model.LearnedConflict) {
	if ls.conflicts == nil {
		ls.conflicts = map[string]*model.LearnedConflict{}
	}
	ls.conflicts[model.LearnedKey(c.VN, c.MAC)] = c
}

// --- report-learned ---

type reportLearned struct {
	Report model.LearnedReport
}

func (c *reportLearned) cmdType() cmdType  { return cmdReportLearned }
func (c *reportLearned) requestID() string { return "" }

func (c *reportLearned) prepare() error {
	c.Report.Defaults()
	return c.Report.Validate()
}

func (c *reportLearned) check(st *state) *model.Error {
	if st.nves[c.Report.NVE] == nil {
		return model.Errorf(model.KindReference, "nve", "nve %q does not exist", c.Report.NVE)
	}
	return nil
}

// segmentOK reports whether via is a place NVE nve may learn MACs of VN vn
// through: a segment port of that VN on that NVE, or the NVE's VTEP.
func segmentOK(st *state, nve, vn, via string) bool {
	if via == model.ViaVTEP {
		return true
	}
	p := st.ports[via]
	return p != nil && p.IsSegment() && p.NVE == nve && p.VN == vn
}

func (c *reportLearned) apply(st *state, idx uint64) (*result, []Event) {
	if e := c.check(st); e != nil {
		return &result{Index: idx, Err: e}, nil
	}
	r := &c.Report
	ls := &st.learned
	var evs []Event
	for _, m := range r.MACs {
		if st.vns[m.VN] == nil || !segmentOK(st, r.NVE, m.VN, m.Via) {
			continue
		}
		key := model.LearnedKey(m.VN, m.MAC)
		old := ls.byKey[key]
		if m.Gone {
			if old != nil && old.NVE == r.NVE && old.Via == m.Via {
				ls.del(key)
				evs = append(evs, Event{Index: idx, Kind: model.ChangeLearned, Op: OpDelete, Name: key, Old: old})
			}
			continue
		}
		if owner, ok := st.byMAC[vnKey{m.VN, m.MAC}]; ok {
			cf := ls.conflicts[key]
			n := &model.LearnedConflict{VN: m.VN, MAC: m.MAC, NVE: r.NVE, Via: m.Via, Port: owner,
				FirstSeen: r.At, LastSeen: r.At, Count: 1}
			if cf != nil {
				n.FirstSeen, n.Count = cf.FirstSeen, cf.Count+1
				if cf.LastSeen.After(r.At) {
					n.LastSeen = cf.LastSeen
				}
			}
			ls.putConflict(n)
			ls.conflictsTotal++
			if old != nil { // the known port wins
				ls.del(key)
				evs = append(evs, Event{Index: idx, Kind: model.ChangeLearned, Op: OpDelete, Name: key, Old: old})
			}
			continue
		}
		e := &model.LearnedEndpoint{VN: m.VN, MAC: m.MAC, NVE: r.NVE, Via: m.Via,
			IPs: slices.Clone(m.IPs), FirstSeen: r.At, LastSeen: r.At, Revision: idx}
		if old != nil && old.NVE == r.NVE && old.Via == m.Via {
			if !r.At.After(old.LastSeen) && slices.Equal(old.IPs, e.IPs) {
				continue // nothing newer
			}
			e.FirstSeen, e.Revision = old.FirstSeen, old.Revision
			if r.At.Before(old.LastSeen) {
				e.LastSeen = old.LastSeen
			}
			ls.put(e) // a refresh: no event
			continue
		}
		ls.put(e)
		ev := Event{Index: idx, Kind: model.ChangeLearned, Op: OpPut, Name: key, New: e}
		if old != nil {
			ev.Old = old
		}
		evs = append(evs, ev)
	}
	return &result{Index: idx}, evs
}

// --- expire-learned ---

type expireLearned struct {
	// Before: endpoints and conflicts last seen before it are forgotten.
	Before time.Time
}

func (c *expireLearned) cmdType() cmdType  { return cmdExpireLearned }
func (c *expireLearned) requestID() string { return "" }

func (c *expireLearned) prepare() error {
	c.Before = c.Before.UTC().Truncate(time.Microsecond)
	if c.Before.IsZero() || c.Before.Unix() <= 0 {
		return model.Errorf(model.KindInvalid, "before", "is required")
	}
	return nil
}

func (c *expireLearned) check(*state) *model.Error { return nil }

func (c *expireLearned) apply(st *state, idx uint64) (*result, []Event) {
	ls := &st.learned
	var evs []Event
	for _, key := range slices.Sorted(maps.Keys(ls.byKey)) {
		if e := ls.byKey[key]; e.LastSeen.Before(c.Before) {
			ls.del(key)
			evs = append(evs, Event{Index: idx, Kind: model.ChangeLearned, Op: OpDelete, Name: key, Old: e})
		}
	}
	for key, cf := range ls.conflicts {
		if cf.LastSeen.Before(c.Before) {
			delete(ls.conflicts, key)
		}
	}
	return &result{Index: idx}, evs
}

// --- version-1 log format ---

// logLearnedBody is the body of report-learned (NVE, At, MACs) and
// expire-learned (Before).
type logLearnedBody struct {
	NVE    string          `json:"nve,omitempty"`
	At     int64           `json:"at,omitempty"` // Unix microseconds
	MACs   []logLearnedMAC `json:"macs,omitempty"`
	Before int64           `json:"before,omitempty"` // Unix microseconds
}

type logLearnedMAC struct {
	VN   string   `json:"vn"`
	MAC  string   `json:"mac"`
	Via  string   `json:"via"`
	IPs  []string `json:"ips,omitempty"`
	Gone bool     `json:"gone,omitempty"`
}

// logLearned is a learned endpoint in a snapshot.
type logLearned struct {
	VN        string   `json:"vn"`
	MAC       string   `json:"mac"`
	NVE       string   `json:"nve"`
	Via       string   `json:"via"`
	IPs       []string `json:"ips,omitempty"`
	FirstSeen int64    `json:"first_seen"` // Unix microseconds
	LastSeen  int64    `json:"last_seen"`
	Revision  uint64   `json:"revision,omitempty"`
}

// logLearnedConflict is a conflict in a snapshot; the one with an empty
// VN carries only the total count.
type logLearnedConflict struct {
	VN        string `json:"vn,omitempty"`
	MAC       string `json:"mac,omitempty"`
	NVE       string `json:"nve,omitempty"`
	Via       string `json:"via,omitempty"`
	Port      string `json:"port,omitempty"`
	FirstSeen int64  `json:"first_seen,omitempty"`
	LastSeen  int64  `json:"last_seen,omitempty"`
	Count     uint64 `json:"count"`
}

func usec(t time.Time) int64     { return t.UnixMicro() }
func fromUsec(v int64) time.Time { return time.UnixMicro(v).UTC() }

func (c *reportLearned) v1() *bodyV1 {
	b := &logLearnedBody{NVE: c.Report.NVE, At: usec(c.Report.At)}
	for _, m := range c.Report.MACs {
		b.MACs = append(b.MACs, logLearnedMAC{VN: m.VN, MAC: m.MAC, Via: m.Via, IPs: slices.Clone(m.IPs), Gone: m.Gone})
	}
	return &bodyV1{Learned: b}
}

func (c *expireLearned) v1() *bodyV1 {
	return &bodyV1{Learned: &logLearnedBody{Before: usec(c.Before)}}
}

func decodeReportLearned(b *bodyV1) (command, error) {
	if b.Learned == nil || b.Learned.NVE == "" {
		return nil, errNoField("learned")
	}
	r := model.LearnedReport{NVE: b.Learned.NVE, At: fromUsec(b.Learned.At)}
	for _, m := range b.Learned.MACs {
		r.MACs = append(r.MACs, model.LearnedMAC{VN: m.VN, MAC: m.MAC, Via: m.Via, IPs: slices.Clone(m.IPs), Gone: m.Gone})
	}
	return &reportLearned{Report: r}, nil
}

func decodeExpireLearned(b *bodyV1) (command, error) {
	if b.Learned == nil || b.Learned.Before == 0 {
		return nil, errNoField("learned")
	}
	return &expireLearned{Before: fromUsec(b.Learned.Before)}, nil
}

// learnedSpecs registers the learned-endpoint commands (registry.go).
var learnedSpecs = []cmdSpec{
	{cmdReportLearned, 1, "report-learned", decodeV1(decodeReportLearned)},
	{cmdExpireLearned, 1, "expire-learned", decodeV1(decodeExpireLearned)},
}

// --- snapshots ---

// learnedRecords are the snapshot records of the learned state: endpoints
// by key, the total conflict count, conflicts by key.
func learnedRecords(ls *learnedState) []snapRecord {
	var out []snapRecord
	for _, k := range slices.Sorted(maps.Keys(ls.byKey)) {
		e := ls.byKey[k]
		out = append(out, snapRecord{Learned: &logLearned{VN: e.VN, MAC: e.MAC, NVE: e.NVE, Via: e.Via,
			IPs: slices.Clone(e.IPs), FirstSeen: usec(e.FirstSeen), LastSeen: usec(e.LastSeen), Revision: e.Revision}})
	}
	if ls.conflictsTotal > 0 {
		out = append(out, snapRecord{LearnedConflict: &logLearnedConflict{Count: ls.conflictsTotal}})
	}
	for _, k := range slices.Sorted(maps.Keys(ls.conflicts)) {
		c := ls.conflicts[k]
		out = append(out, snapRecord{LearnedConflict: &logLearnedConflict{VN: c.VN, MAC: c.MAC, NVE: c.NVE, Via: c.Via,
			Port: c.Port, FirstSeen: usec(c.FirstSeen), LastSeen: usec(c.LastSeen), Count: c.Count}})
	}
	return out
}

// restoreLearnedRecord takes a snapshot record of the learned state;
// false: the record is not one.
func restoreLearnedRecord(ls *learnedState, rec *snapRecord) bool {
	switch {
	case rec.Learned != nil:
		l := rec.Learned
		ls.put(&model.LearnedEndpoint{VN: l.VN, MAC: l.MAC, NVE: l.NVE, Via: l.Via, IPs: slices.Clone(l.IPs),
			FirstSeen: fromUsec(l.FirstSeen), LastSeen: fromUsec(l.LastSeen), Revision: l.Revision})
	case rec.LearnedConflict != nil && rec.LearnedConflict.VN == "":
		ls.conflictsTotal = rec.LearnedConflict.Count
	case rec.LearnedConflict != nil:
		c := rec.LearnedConflict
		ls.putConflict(&model.LearnedConflict{VN: c.VN, MAC: c.MAC, NVE: c.NVE, Via: c.Via, Port: c.Port,
			FirstSeen: fromUsec(c.FirstSeen), LastSeen: fromUsec(c.LastSeen), Count: c.Count})
	default:
		return false
	}
	return true
}

// --- the Store's methods ---

// ReportLearned writes one batch of MACs an NVE saw (see the rules
// above); it returns the raft index. It goes through the leader like
// every write.
func (s *Store) ReportLearned(ctx context.Context, r model.LearnedReport) (uint64, error) {
	res, err := s.write(ctx, &reportLearned{Report: r})
	if err != nil {
		return 0, err
	}
	return res.Index, nil
}

// ExpireLearned forgets the learned endpoints and conflicts last seen
// before before; it returns the raft index.
func (s *Store) ExpireLearned(ctx context.Context, before time.Time) (uint64, error) {
	res, err := s.write(ctx, &expireLearned{Before: before})
	if err != nil {
		return 0, err
	}
	return res.Index, nil
}

// Learned lists this node's learned endpoints of VN vn ("": every VN), by
// VN then MAC, with their current LastSeen.
func (s *Store) Learned(vn string) []*model.LearnedEndpoint {
	s.fsm.mu.RLock()
	defer s.fsm.mu.RUnlock()
	var out []*model.LearnedEndpoint
	for _, e := range s.fsm.st.learned.byKey {
		if vn == "" || e.VN == vn {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b *model.LearnedEndpoint) int {
		return strings.Compare(a.Key(), b.Key())
	})
	return out
}

// LearnedConflicts lists this node's learned-MAC conflicts of VN vn ("":
// every VN), by VN then MAC, and the total number of refused reports.
func (s *Store) LearnedConflicts(vn string) ([]*model.LearnedConflict, uint64) {
	s.fsm.mu.RLock()
	defer s.fsm.mu.RUnlock()
	var out []*model.LearnedConflict
	for _, c := range s.fsm.st.learned.conflicts {
		if vn == "" || c.VN == vn {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b *model.LearnedConflict) int {
		return strings.Compare(model.LearnedKey(a.VN, a.MAC), model.LearnedKey(b.VN, b.MAC))
	})
	return out, s.fsm.st.learned.conflictsTotal
}

// learnedMetrics are the learned state's metrics (RegisterMetrics): how
// many endpoints are learned, and the refused reports (conflicts with
// known ports) since the cluster began.
func (s *Store) learnedMetrics() []prometheus.Collector {
	read := func(f func(*learnedState) float64) func() float64 {
		return func() float64 {
			s.fsm.mu.RLock()
			defer s.fsm.mu.RUnlock()
			return f(&s.fsm.st.learned)
		}
	}
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "nva_learned_endpoints", Help: "MACs learned behind L2 gateway segments and VTEPs (learned endpoints), as this node has applied."},
			read(func(ls *learnedState) float64 { return float64(len(ls.byKey)) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "nva_learned_conflicts_total", Help: "Reports of a learned MAC that a known port owns (refused, not programmed), since the cluster began."},
			read(func(ls *learnedState) float64 { return float64(ls.conflictsTotal) })),
	}
}
