package compiler

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/pipeline"
)

// Cache memoizes one NVE's slices between compiles: the southbound keeps
// one per NVE and calls Compile with each new snapshot. A slice is
// recompiled only when its fingerprint changes (see the package doc), so a
// change to one VN costs that VN's slice plus the cheap per-NVE view and
// merge. A Cache is not safe for concurrent use.
type Cache struct {
	features []feature
	key      string // profile, NVE and generation the slices are for
	keyHash  uint64 // its hash, part of every slice's fingerprint
	prof     pipeline.Profile
	real     *pipeline.Realizer
	check    *pipeline.Checker
	order    map[string]int // table name -> position in packet order
	gen      uint16
	base     *sliceState
	vns      map[string]*sliceState
	vaps     map[vapKey]*model.Port // the last compile's VAPs
	// owner is the flow that owns each flow key (by Key.Hash64) of the
	// last compile's slices: a flow two slices both define is an error (a
	// slice checks its own duplicates). Updated by the slices that come
	// and go.
	owner map[uint64]keyRef
	live  map[*sliceState]bool // the last compile's slices
}

// keyRef is one flow of a slice.
type keyRef struct {
	s *sliceState
	i int
}

type vapKey struct{ ofp, vni uint32 }

// sliceState is a compiled slice with its flows' keys and the segments
// of its flows by (table, priority), for the merge.
type sliceState struct {
	Slice
	keys   []flow.Key // parallel to Flows
	hashes []uint64   // the keys' Hash64
	segs   []segment
	rank   int // position in the last compile's slice list
}

// segment is a run of a slice's flows with one table and priority.
type segment struct {
	ord        int // table position in packet order
	prio       uint16
	start, end int
}

// sortKey orders flows within a slice: table position, priority (highest
// first), then binary match.
type sortKey struct {
	ord   int
	prio  uint16
	match string
}

func (a sortKey) compare(b sortKey) int {
	if a.ord != b.ord {
		return cmp.Compare(a.ord, b.ord)
	}
	if a.prio != b.prio {
		return cmp.Compare(b.prio, a.prio)
	}
	return strings.Compare(a.match, b.match)
}

// NewCache returns an empty cache.
func NewCache() *Cache { return newCacheWith(features) }

func newCacheWith(fs []feature) *Cache { return &Cache{features: fs, vns: map[string]*sliceState{}} }

// cacheKey identifies what a cache's slices depend on besides the view:
// the profile (capabilities and realization), the NVE and the generation.
func cacheKey(p pipeline.Profile, nve string, gen uint16) string {
	var b strings.Builder
	b.WriteString(nve)
	b.WriteByte(0)
	b.WriteString(p.Name)
	for _, c := range []bool{p.Extensions, p.FlowTunnels, p.ARPInSwitch, p.NDInSwitch, p.Bundles} {
		if c {
			b.WriteByte('1')
		} else {
			b.WriteByte('0')
		}
	}
	b.WriteString(strconv.Itoa(int(gen)))
	for _, t := range p.Tables {
		fmt.Fprintf(&b, "|%s:%d:%s:%s:%s:%s:%s:%t%t%t%t", t.Name, t.Number, strings.Join(t.Stages, ","),
			strings.Join(t.Match, ","), strings.Join(t.Set, ","), strings.Join(t.Read, ","), strings.Join(t.Goto, ","),
			t.Output, t.Group, t.VLAN, t.WriteMetadata)
	}
	fmt.Fprintf(&b, "|groups:%v:%s:%t", p.Groups.Types, strings.Join(p.Groups.Set, ","), p.Groups.VLAN)
	return b.String()
}

// reset prepares the cache for a new profile, NVE or generation.
func (c *Cache) reset(key string, prof pipeline.Profile, gen uint16) error {
	check, err := pipeline.NewChecker(prof)
	if err != nil {
		return err
	}
	h := newFNV()
	h.str(key)
	c.key, c.keyHash, c.prof, c.real, c.check, c.gen = key, uint64(h), prof, prof.Realizer(), check, gen
	c.order = make(map[string]int, len(prof.Tables))
	for i, t := range prof.Tables {
		c.order[t.Name] = i
	}
	c.base, c.vns, c.vaps = nil, map[string]*sliceState{}, nil
	c.owner, c.live = map[uint64]keyRef{}, map[*sliceState]bool{}
	return nil
}

// Compile computes the desired flows and groups of in.NVE for profile prof,
// recompiling only the slices whose inputs changed since the last call.
// The Result equals Compile's for the same input. Its flows, groups and
// slices share memory with the cache: read only. After an error the cache
// starts over on the next call.
func (c *Cache) Compile(in Input, prof pipeline.Profile) (Result, error) {
	if in.Snapshot == nil {
		return Result{}, fmt.Errorf("compile %s: nil snapshot", in.NVE)
	}
	if _, ok := in.Snapshot.NVEs[in.NVE]; !ok {
		return Result{}, &model.Error{Kind: model.KindNotFound, Field: "nve", Message: fmt.Sprintf("compile: NVE %q not in snapshot", in.NVE)}
	}
	if key := cacheKey(prof, in.NVE, in.Generation); key != c.key {
		if err := c.reset(key, prof, in.Generation); err != nil {
			c.key = ""
			return Result{}, fmt.Errorf("compile %s: profile %s: %w", in.NVE, prof.Name, err)
		}
	}
	view := buildView(&in, prof)
	nc := &nveCtx{nve: in.NVE, prof: prof, real: c.real}
	fresh := map[*sliceState]bool{}
	if c.base == nil {
		s, err := c.compileSlice(nc, nil)
		if err != nil {
			c.key = "" // start over next time
			return Result{}, fmt.Errorf("compile %s: %w", in.NVE, err)
		}
		c.base, fresh[s] = s, true
	}
	states := make([]*sliceState, 0, len(view.vns)+1)
	states = append(states, c.base)
	next := make(map[string]*sliceState, len(view.vns))
	for _, v := range view.vns {
		h := newFNV()
		h.u64(c.keyHash)
		h.u64(v.fp)
		v.fp = uint64(h) // what the VN's slice reads, and the profile and generation
		s := c.vns[v.name]
		if s == nil || s.Fingerprint != v.fp {
			view.complete(v)
			var err error
			if s, err = c.compileSlice(nc, v); err != nil {
				c.key = "" // start over next time
				return Result{}, fmt.Errorf("compile %s: %w", in.NVE, err)
			}
			fresh[s] = true
		}
		next[v.name] = s
		states = append(states, s)
	}
	if err := c.claimKeys(states, fresh); err != nil {
		c.key = ""
		return Result{}, fmt.Errorf("compile %s: pipeline contract violated: %w", in.NVE, err)
	}
	res, err := merge(states, view.warnings)
	if err != nil {
		c.key = ""
		return Result{}, fmt.Errorf("compile %s: pipeline contract violated: %w", in.NVE, err)
	}
	for i, s := range states {
		res.Slices[i].Recompiled = fresh[s]
	}
	c.vns = next
	c.vaps = make(map[vapKey]*model.Port, len(view.vns))
	for _, v := range view.vns {
		for _, a := range v.local {
			c.vaps[vapKey{a.ofp, v.vn.VNI}] = a.port
		}
	}
	return res, nil
}

// VAP returns the port whose VAP is (OpenFlow port inPort, VN vni) as the
// last Compile attached it: the port a packet-in from the neighbor stage
// came from (vni from pipeline.VNIFromMetadata). Answers go back out of
// inPort, tagged with the port's VLAN when it has one.
func (c *Cache) VAP(inPort, vni uint32) (*model.Port, bool) {
	p, ok := c.vaps[vapKey{inPort, vni}]
	return p, ok
}

// VAPOf is Cache.VAP for one input, computed from scratch.
func VAPOf(in Input, inPort, vni uint32) (*model.Port, bool) {
	if in.Snapshot == nil || in.Snapshot.NVEs[in.NVE] == nil {
		return nil, false
	}
	for _, v := range buildView(&in, pipeline.Profile{}).vns {
		if v.vn.VNI != vni {
			continue
		}
		for _, a := range v.local {
			if a.ofp == inPort {
				return a.port, true
			}
		}
	}
	return nil, false
}

// compileSlice compiles one VN's slice (the NVE-wide one when v is nil):
// the features' flows realized onto the profile's tables, with keys,
// cookies and sort order, checked against the profile's contracts.
func (c *Cache) compileSlice(nc *nveCtx, v *vnView) (*sliceState, error) {
	e := &emitter{}
	if v != nil {
		// Roughly what a VN's features emit, to grow the list once or twice.
		e.flows = make([]flow.Flow, 0, 8+4*len(v.ports)+16*len(v.local)+len(v.remotes))
	}
	vc := &vnCtx{nveCtx: nc, vnView: v}
	for _, f := range c.features {
		e.use(f)
		if v == nil {
			f.NVE(nc, e)
		} else {
			f.VN(vc, e)
		}
	}
	if e.err != nil {
		return nil, e.err
	}
	flows := e.flows
	for i := range flows {
		if err := c.real.Flow(&flows[i]); err != nil {
			return nil, err
		}
	}
	s := &sliceState{}
	if v == nil {
		miss, err := c.real.MissFlows()
		if err != nil {
			return nil, err
		}
		flows = append(miss, flows...)
		s.Fingerprint = c.keyHash
	} else {
		s.VN, s.Fingerprint = v.name, v.fp
		s.Warnings = append(s.Warnings, v.warnings...)
	}
	keys := make([]flow.Key, len(flows))
	sks := make([]sortKey, len(flows))
	for i := range flows {
		k := flow.KeyOf(flows[i])
		flows[i].Cookie = flow.MakeCookie(c.gen, k.ID())
		ord, ok := c.order[k.Table]
		if !ok {
			ord = len(c.order)
		}
		keys[i], sks[i] = k, sortKey{ord: ord, prio: k.Priority, match: k.Match}
	}
	idx := make([]int, len(flows))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return sks[a].compare(sks[b]) })
	s.Flows, s.keys, s.hashes = make([]flow.Flow, len(flows)), make([]flow.Key, len(flows)), make([]uint64, len(flows))
	for i, j := range idx {
		s.Flows[i], s.keys[i], s.hashes[i] = flows[j], keys[j], keys[j].Hash64()
		if sk := sks[j]; i == 0 || sk.ord != sks[idx[i-1]].ord || sk.prio != sks[idx[i-1]].prio {
			s.segs = append(s.segs, segment{ord: sk.ord, prio: sk.prio, start: i})
		}
		s.segs[len(s.segs)-1].end = i + 1
	}
	s.Groups = e.groups
	slices.SortFunc(s.Groups, func(a, b flow.GroupEntry) int { return cmp.Compare(a.ID, b.ID) })
	s.Warnings = append(s.Warnings, e.warnings...)
	return s, c.checkSlice(s)
}

// checkSlice checks a slice against the profile's contracts. A slice is
// self-contained: its flows use only its own groups. Duplicates across
// slices are found by merge.
func (c *Cache) checkSlice(s *sliceState) error {
	var errs []error
	ids := make(map[uint32]bool, len(s.Groups))
	for i, g := range s.Groups {
		if i > 0 && s.Groups[i-1].ID == g.ID {
			errs = append(errs, fmt.Errorf("group %d: duplicate group ID", g.ID))
		}
		ids[g.ID] = true
		errs = append(errs, c.check.Group(g)...)
	}
	exists := func(id uint32) bool { return ids[id] }
	for i, f := range s.Flows {
		if i > 0 && s.keys[i-1] == s.keys[i] {
			errs = append(errs, fmt.Errorf("flow %s: duplicate (table, priority, match)", f))
		}
		errs = append(errs, c.check.Flow(f, exists)...)
	}
	if len(errs) == 0 {
		return nil
	}
	what := "NVE-wide slice"
	if s.VN != "" {
		what = "VN " + s.VN
	}
	return fmt.Errorf("%s: pipeline contract violated: %w", what, errors.Join(errs...))
}

// claimKeys updates the flow-key index for this compile's slices: the
// keys of slices that are gone are released, those of fresh slices
// claimed; a key another live slice owns is a duplicate. (Two different
// keys with one 64-bit hash would leave the second unindexed: a duplicate
// of it would go unnoticed, nothing worse.)
func (c *Cache) claimKeys(states []*sliceState, fresh map[*sliceState]bool) error {
	live := make(map[*sliceState]bool, len(states))
	for _, s := range states {
		live[s] = true
	}
	for s := range c.live {
		if live[s] {
			continue
		}
		for _, h := range s.hashes {
			if c.owner[h].s == s {
				delete(c.owner, h)
			}
		}
	}
	c.live = live
	var errs []error
	for _, s := range states {
		if !fresh[s] {
			continue
		}
		for i, h := range s.hashes {
			o, ok := c.owner[h]
			if ok && o.s != s && live[o.s] {
				if o.s.keys[o.i] == s.keys[i] {
					errs = append(errs, fmt.Errorf("flow %s: in the slices of %q and %q", s.Flows[i], o.s.VN, s.VN))
				}
				continue
			}
			c.owner[h] = keyRef{s, i}
		}
	}
	return errors.Join(errs...)
}

// merge combines the slices into one result. Flows are sorted by table,
// priority (highest first), slice (the NVE-wide one, then VNs by name)
// and binary match: each slice is sorted, so the merge orders the slices'
// (table, priority) segments and copies them whole.
func merge(states []*sliceState, warnings []string) (Result, error) {
	total, ngroups, nwarn, nsegs := 0, 0, len(warnings), 0
	for i, s := range states {
		s.rank = i
		total += len(s.Flows)
		ngroups += len(s.Groups)
		nwarn += len(s.Warnings)
		nsegs += len(s.segs)
	}
	res := Result{
		Flows:    make([]flow.Flow, 0, total),
		Groups:   make([]flow.GroupEntry, 0, ngroups),
		Warnings: make([]string, 0, nwarn),
		Slices:   make([]Slice, len(states)),
	}
	type ref struct {
		seg  segment
		rank int
	}
	segs := make([]ref, 0, nsegs)
	for i, s := range states {
		res.Slices[i] = s.Slice
		res.Groups = append(res.Groups, s.Groups...)
		res.Warnings = append(res.Warnings, s.Warnings...)
		for _, g := range s.segs {
			segs = append(segs, ref{g, i})
		}
	}
	slices.SortFunc(segs, func(a, b ref) int {
		if a.seg.ord != b.seg.ord {
			return cmp.Compare(a.seg.ord, b.seg.ord)
		}
		if a.seg.prio != b.seg.prio {
			return cmp.Compare(b.seg.prio, a.seg.prio)
		}
		return cmp.Compare(a.rank, b.rank)
	})
	for _, r := range segs {
		res.Flows = append(res.Flows, states[r.rank].Flows[r.seg.start:r.seg.end]...)
	}
	slices.SortStableFunc(res.Groups, func(a, b flow.GroupEntry) int { return cmp.Compare(a.ID, b.ID) })
	var errs []error
	for i := 1; i < len(res.Groups); i++ {
		if res.Groups[i].ID == res.Groups[i-1].ID {
			errs = append(errs, fmt.Errorf("group %d: duplicate group ID across VNs", res.Groups[i].ID))
		}
	}
	if len(errs) > 0 {
		return Result{}, errors.Join(errs...)
	}
	res.Warnings = append(res.Warnings, warnings...)
	slices.Sort(res.Warnings)
	return res, nil
}
