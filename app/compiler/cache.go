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
	prof     pipeline.Profile
	real     *pipeline.Realizer
	check    *pipeline.Checker
	order    map[string]int // table name -> position in packet order
	gen      uint16
	base     *sliceState
	vns      map[string]*sliceState
	vaps     map[vapKey]*model.Port // the last compile's VAPs
	// last is the last compile's merged flows, each with its sort key and
	// slice, so that the next merge only takes out the flows of slices
	// that are gone and merges in the new ones.
	last run
}

// run is a sorted list of flows with their sort keys and slices.
type run struct {
	flows []flow.Flow
	keys  []sortKey
	from  []*sliceState // nil: every flow is one's
	one   *sliceState
}

func (r *run) slice(i int) *sliceState {
	if r.from == nil {
		return r.one
	}
	return r.from[i]
}

type vapKey struct{ ofp, vni uint32 }

// sliceState is a compiled slice with its flows' sort keys.
type sliceState struct {
	Slice
	keys []sortKey // parallel to Flows
}

// sortKey orders flows: table position, priority (highest first), then
// binary match.
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
		b.WriteByte(map[bool]byte{false: '0', true: '1'}[c])
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
	c.key, c.prof, c.real, c.check, c.gen = key, prof, prof.Realizer(), check, gen
	c.order = make(map[string]int, len(prof.Tables))
	for i, t := range prof.Tables {
		c.order[t.Name] = i
	}
	c.base, c.vns, c.vaps, c.last = nil, map[string]*sliceState{}, nil, run{}
	return nil
}

// Compile computes the desired flows and groups of in.NVE for profile prof,
// recompiling only the slices whose inputs changed since the last call.
// The Result equals Compile's for the same input. Its flows, groups and
// slices share memory with the cache: read only.
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
			return Result{}, fmt.Errorf("compile %s: %w", in.NVE, err)
		}
		c.base, fresh[s] = s, true
	}
	states := make([]*sliceState, 0, len(view.vns)+1)
	states = append(states, c.base)
	next := make(map[string]*sliceState, len(view.vns))
	for _, v := range view.vns {
		s := c.vns[v.name]
		if s == nil || s.Fingerprint != v.fp {
			view.complete(v)
			var err error
			if s, err = c.compileSlice(nc, v); err != nil {
				return Result{}, fmt.Errorf("compile %s: %w", in.NVE, err)
			}
			fresh[s] = true
		}
		next[v.name] = s
		states = append(states, s)
	}
	res, merged, err := c.merge(states, fresh, view.warnings)
	if err != nil {
		return Result{}, fmt.Errorf("compile %s: pipeline contract violated: %w", in.NVE, err)
	}
	for i, s := range states {
		res.Slices[i].Recompiled = fresh[s]
	}
	c.vns, c.last = next, merged
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
	for _, f := range c.features {
		e.cur = f
		if v == nil {
			f.NVE(nc, e)
		} else {
			f.VN(&vnCtx{nveCtx: nc, vnView: v}, e)
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
		h := newFNV()
		h.str(c.key)
		s.Fingerprint = uint64(h)
	} else {
		s.VN, s.Fingerprint = v.name, v.fp
		s.Warnings = append(s.Warnings, v.warnings...)
	}
	keys := make([]sortKey, len(flows))
	for i := range flows {
		k := flow.KeyOf(flows[i])
		flows[i].Cookie = flow.MakeCookie(c.gen, k.ID())
		ord, ok := c.order[k.Table]
		if !ok {
			ord = len(c.order)
		}
		keys[i] = sortKey{ord: ord, prio: k.Priority, match: k.Match}
	}
	idx := make([]int, len(flows))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return keys[a].compare(keys[b]) })
	s.Flows, s.keys = make([]flow.Flow, len(flows)), make([]sortKey, len(flows))
	for i, j := range idx {
		s.Flows[i], s.keys[i] = flows[j], keys[j]
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

// merge combines the sorted slices into one sorted result, failing on a
// flow or group two slices both define. The flows are a k-way merge of
// presorted runs: when few slices changed since the last compile, the
// runs are the last result less the flows of slices that are gone, and
// the new slices; otherwise every slice.
func (c *Cache) merge(states []*sliceState, fresh map[*sliceState]bool, warnings []string) (Result, run, error) {
	total, ngroups, nwarn := 0, 0, len(warnings)
	for _, s := range states {
		total += len(s.Flows)
		ngroups += len(s.Groups)
		nwarn += len(s.Warnings)
	}
	res := Result{
		Groups:   make([]flow.GroupEntry, 0, ngroups),
		Warnings: make([]string, 0, nwarn),
		Slices:   make([]Slice, len(states)),
	}
	for i, s := range states {
		res.Slices[i] = s.Slice
		res.Groups = append(res.Groups, s.Groups...)
		res.Warnings = append(res.Warnings, s.Warnings...)
	}
	var runs []run
	if len(c.last.flows) > 0 && 4*len(fresh) <= len(states) {
		keep := make(map[*sliceState]bool, len(states))
		for _, s := range states {
			keep[s] = !fresh[s]
		}
		old := run{flows: make([]flow.Flow, 0, total), keys: make([]sortKey, 0, total), from: make([]*sliceState, 0, total)}
		for i, f := range c.last.flows {
			if s := c.last.slice(i); keep[s] {
				old.flows, old.keys, old.from = append(old.flows, f), append(old.keys, c.last.keys[i]), append(old.from, s)
			}
		}
		runs = append(runs, old)
		for _, s := range states {
			if fresh[s] {
				runs = append(runs, run{flows: s.Flows, keys: s.keys, one: s})
			}
		}
	} else {
		for _, s := range states {
			runs = append(runs, run{flows: s.Flows, keys: s.keys, one: s})
		}
	}
	out, errs := mergeRuns(runs, total)
	slices.SortStableFunc(res.Groups, func(a, b flow.GroupEntry) int { return cmp.Compare(a.ID, b.ID) })
	for i := 1; i < len(res.Groups); i++ {
		if res.Groups[i].ID == res.Groups[i-1].ID {
			errs = append(errs, fmt.Errorf("group %d: duplicate group ID across VNs", res.Groups[i].ID))
		}
	}
	if len(errs) > 0 {
		return Result{}, run{}, errors.Join(errs...)
	}
	res.Flows = out.flows
	res.Warnings = append(res.Warnings, warnings...)
	slices.Sort(res.Warnings)
	return res, out, nil
}

// mergeRuns k-way merges sorted runs (a binary min-heap of cursors by the
// head flow's sort key), reporting flows that two runs share.
func mergeRuns(runs []run, total int) (run, []error) {
	out := run{flows: make([]flow.Flow, 0, total), keys: make([]sortKey, 0, total), from: make([]*sliceState, 0, total)}
	type cursor struct{ r, i int }
	h := make([]cursor, 0, len(runs))
	less := func(a, b cursor) bool { return runs[a.r].keys[a.i].compare(runs[b.r].keys[b.i]) < 0 }
	down := func(i int) {
		for {
			l, m := 2*i+1, i
			if l < len(h) && less(h[l], h[m]) {
				m = l
			}
			if r := l + 1; r < len(h) && less(h[r], h[m]) {
				m = r
			}
			if m == i {
				return
			}
			h[i], h[m] = h[m], h[i]
			i = m
		}
	}
	for ri, r := range runs {
		if len(r.flows) > 0 {
			h = append(h, cursor{ri, 0})
		}
	}
	for i := len(h)/2 - 1; i >= 0; i-- {
		down(i)
	}
	var errs []error
	for len(h) > 0 {
		cur := h[0]
		r := &runs[cur.r]
		k := r.keys[cur.i]
		if n := len(out.keys); n > 0 && out.keys[n-1] == k {
			errs = append(errs, fmt.Errorf("flow %s: duplicate (table, priority, match) across VNs", r.flows[cur.i]))
		}
		out.flows, out.keys, out.from = append(out.flows, r.flows[cur.i]), append(out.keys, k), append(out.from, r.slice(cur.i))
		if cur.i+1 < len(r.flows) {
			h[0].i++
		} else {
			h[0] = h[len(h)-1]
			h = h[:len(h)-1]
		}
		down(0)
	}
	return out, errs
}
