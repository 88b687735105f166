package compiler

import (
	"cmp"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/pipeline"
)

// Cache memoizes one NVE's slices between compiles: the southbound keeps
// one per NVE and calls Compile with each new snapshot. A slice (the
// NVE-wide one, a VN's shared part, or one port's part of a VN) is
// recompiled only when its fingerprint changes (see the package doc), so
// a change to one port costs that port's part on each NVE hosting its VN
// (and the VN's shared part when the VN's local VAPs or remote NVEs
// changed), plus the per-NVE view and the list of the result's slices.
// The view resolves again only the ports of the VN a change touches
// (completeDelta), not every port of it. A Cache is not safe for
// concurrent use.
type Cache struct {
	features []feature
	// ps is what the slices' profile and generation make of it (shared
	// with the Caches of the pool); nil: start over at the next compile.
	ps      *profState
	nve     string // the NVE the slices are for
	keyHash uint64 // the hash of the NVE, profile and generation, part of the fingerprint of every slice that depends on the NVE
	prof    pipeline.Profile
	gen     uint16
	base    *Slice            // the NVE-wide slice (nil: compile it)
	gwParts map[string]*Slice // the last compile's L3 gateway slices, by name
	// last is the last compile's slices: its Result's Slices (the Cache
	// keeps no other list of them, and never writes it).
	last     []*Slice
	lastVAPs []lastVAP               // the last compile's local VAPs, for VAP and Segment
	vaps     map[vapKey]*model.Port  // built from lastVAPs on demand
	underlay map[string]underlayMemo // remote NVEs' parsed underlays, by name
	// vnMemo is the last compile's VNs: their slices (by vnView.allFP),
	// also where a changed VN finds its parts of the last compile.
	vnMemo []vnMemo // by VN name
	// pool shares port parts with other NVEs' Caches (nil: none; see
	// PartPool); shareHash hashes what a shared part depends on besides
	// its fingerprint: the profile and generation, not the NVE.
	pool      *PartPool
	shareHash uint64
	// completes and deltas count the VNs resolved by complete and by
	// completeDelta (tests).
	completes, deltas int
}

type vapKey struct{ ofp, vni uint32 }

// lastVAP is one local VAP of the last compile (in VN, then port name
// order): all the Cache keeps of its view (the rest is scratch).
type lastVAP struct {
	port     *model.Port
	ofp, vni uint32
	vlan     int
	segment  bool
}

// vnMemo is one VN's slices (shared part, then its ports' parts, then
// its remote parts and common part: the n slices of Cache.last from at)
// and port warnings as the last compile made them, with what they were
// made from: vnView.allFP (fp) and the VN's ports, for the next compile
// to reuse them all, else vnView.ctx, the ports and the local VAPs for
// completeDelta to resolve only what changed.
type vnMemo struct {
	name     string
	fp       uint64
	at, n    int
	warnings []string
	parts    int           // how many of the n slices are port parts
	ctx      uint64        // vnView.ctx
	ports    []*model.Port // Snapshot.PortsIn (shared with the snapshot)
	local    []vapSig      // the VN's local VAPs
}

// memoCursor finds VNs' memos (sorted by name) for VNs asked for in name
// order: usually the next one, else by binary search.
type memoCursor struct {
	memo []vnMemo
	j    int
}

func (m *memoCursor) find(name string) (vnMemo, bool) {
	if m.j >= len(m.memo) || m.memo[m.j].name != name {
		i, ok := slices.BinarySearchFunc(m.memo, name, func(e vnMemo, n string) int { return strings.Compare(e.name, n) })
		if !ok {
			return vnMemo{}, false
		}
		m.j = i
	}
	m.j++
	return m.memo[m.j-1], true
}

// lastParts are a VN's slices of the last compile (last[at:at+len(states)]:
// vnMemo), where the VN's changed compile finds each part's last slice.
type lastParts struct {
	vn     string
	at     int
	states []*Slice
	parts  int // states[1:1+parts] are the port parts, by port name
	next   int // the position after the last found (where the next part usually is)
}

// find returns the position in Cache.last of the last slice of the VN's
// part at position i of this compile (0: the shared part, port ""; i: the
// (i-1)-th port's part; "*": the common part, last), port's: usually at
// the same position (the parts are ordered by port name; only a port that
// comes or goes shifts them), else found by binary search among the port
// parts. -1: none.
func (l *lastParts) find(i int, port string) int {
	if len(l.states) == 0 {
		return -1
	}
	if i < len(l.states) && l.port(l.states[i]) == port {
		l.next = i + 1
		return l.at + i
	}
	if j := l.next; j > 0 && j < 1+l.parts && l.port(l.states[j]) == port {
		l.next = j + 1
		return l.at + j
	}
	if port == "*" {
		if j := len(l.states) - 1; l.port(l.states[j]) == port {
			return l.at + j
		}
		return -1
	}
	if port == "" {
		return -1
	}
	ps := l.states[1 : 1+l.parts]
	if j, ok := slices.BinarySearchFunc(ps, port, func(s *Slice, name string) int { return strings.Compare(l.port(s), name) }); ok {
		l.next = j + 2
		return l.at + 1 + j
	}
	return -1
}

// findRemote is find for the VN's remote part r (in name order) for
// remote NVE nve (its "port" is "@" + nve), at position i of this
// compile.
func (l *lastParts) findRemote(i, r int, nve string) int {
	is := func(j int) bool {
		if j < 1+l.parts || j >= len(l.states) {
			return false
		}
		p := l.port(l.states[j])
		return len(p) == 1+len(nve) && p[0] == '@' && p[1:] == nve
	}
	if is(i) {
		return l.at + i
	}
	if is(1 + l.parts + r) {
		return l.at + 1 + l.parts + r
	}
	for j := 1 + l.parts; j < len(l.states); j++ {
		if is(j) {
			return l.at + j
		}
	}
	return -1
}

// port is the port of one of the VN's slices ("": the shared part).
func (l *lastParts) port(s *Slice) string {
	if len(s.Key) <= len(l.vn) {
		return ""
	}
	return s.Key[len(l.vn)+1:]
}

// bits is a set of small integers (positions in a list of slices).
type bits []uint64

func (b *bits) set(i int) {
	for len(*b) <= i/64 {
		*b = append(*b, 0)
	}
	(*b)[i/64] |= 1 << (i % 64)
}

func (b bits) has(i int) bool { return i/64 < len(b) && b[i/64]&(1<<(i%64)) != 0 }

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

// NewSharedCache returns an empty cache that shares the port parts it
// compiles alike with the other Caches of pool (nil: like NewCache). The
// Results are the same as NewCache's.
func NewSharedCache(pool *PartPool) *Cache {
	c := newCacheWith(features)
	c.pool = pool
	return c
}

func newCacheWith(fs []feature) *Cache { return &Cache{features: fs} }

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

// profState is what compiling for a profile and generation derives from
// them, the same for every NVE: the Caches of a PartPool share one
// (read only once built), the others have their own.
type profState struct {
	prof      pipeline.Profile
	key       string // cacheKey(prof, "", gen): the Cache's key without the NVE
	shareHash uint64 // its hash, part of a shared part's fingerprint
	real      *pipeline.Realizer
	check     *pipeline.Checker
	order     map[string]int // table name -> position in packet order
}

func newProfState(key string, prof pipeline.Profile) (*profState, error) {
	check, err := pipeline.NewChecker(prof)
	if err != nil {
		return nil, err
	}
	sh := newFNV()
	sh.str(key)
	ps := &profState{prof: prof, key: key, shareHash: uint64(sh), real: prof.Realizer(), check: check,
		order: make(map[string]int, len(prof.Tables))}
	for i, t := range prof.Tables {
		ps.order[t.Name] = i
	}
	return ps, nil
}

// reset prepares the cache for a new profile, NVE or generation; key is
// cacheKey(prof, "", gen).
func (c *Cache) reset(key, nve string, prof pipeline.Profile, gen uint16) error {
	var ps *profState
	var err error
	if c.pool != nil {
		ps, err = c.pool.profile(key, prof)
	} else {
		ps, err = newProfState(key, prof)
	}
	if err != nil {
		return err
	}
	h := newFNV() // of cacheKey(prof, nve, gen), which is nve + key
	for i := 0; i < len(nve); i++ {
		h.byte(nve[i])
	}
	h.str(key)
	c.ps, c.nve, c.keyHash, c.prof, c.gen = ps, nve, uint64(h), prof, gen
	c.base, c.gwParts, c.lastVAPs, c.vaps, c.vnMemo, c.last = nil, nil, nil, nil, nil, nil
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
	// The same NVE, generation and profile (compared field by field:
	// cheaper than building the key on every compile) keep the slices.
	same := c.ps != nil && in.NVE == c.nve && in.Generation == c.gen && reflect.DeepEqual(prof, c.prof)
	if !same {
		if key := cacheKey(prof, "", in.Generation); c.ps == nil || in.NVE != c.nve || key != c.ps.key {
			if err := c.reset(key, in.NVE, prof, in.Generation); err != nil {
				c.ps = nil
				return Result{}, fmt.Errorf("compile %s: profile %s: %w", in.NVE, prof.Name, err)
			}
		}
	}
	res, err := c.compile(in, prof)
	if err != nil {
		c.ps = nil // start over next time
		return Result{}, fmt.Errorf("compile %s: %w", in.NVE, err)
	}
	return res, nil
}

func (c *Cache) compile(in Input, prof pipeline.Profile) (Result, error) {
	if c.pool != nil { // the pool's memo of the underlays serves all its Caches
		c.underlay = nil
	} else if c.underlay == nil || len(c.underlay) > 2*len(in.Snapshot.NVEs)+16 {
		c.underlay = map[string]underlayMemo{} // (dropped NVEs' entries go with it)
	}
	view := buildView(&in, prof, c.keyHash, c.ps.shareHash, c.underlay, c.pool)
	defer view.release()
	nc := &nveCtx{nve: in.NVE, prof: prof, real: c.ps.real, pool: c.pool}
	// fresh: the positions of the slices this compile compiled (or took
	// from the pool); used: those of the last compile's it used.
	var fresh, used bits
	nfresh := 0
	if c.base == nil {
		s, err := c.compileBase(nc)
		if err != nil {
			return Result{}, err
		}
		c.base = s
		fresh.set(0)
		nfresh++
	}
	n := 1 + len(view.gws)
	lookup := memoCursor{memo: c.vnMemo}
	for _, v := range view.vns {
		n += 2 + len(v.parts) + len(v.remotes)
		if m, had := lookup.find(v.name); had { // (parts are not known before complete)
			n += m.n
		}
	}
	states := make([]*Slice, 0, n)
	states = append(states, c.base)
	// use adds the slice of fingerprint fp: the last compile's slice at
	// position at of c.last, of the same key (-1: none), if it is still
	// the same, else a new one.
	use := func(at int, fp uint64, v *vnView, p *portPart, rp *remotePart) (*Slice, error) {
		if at >= 0 && c.last[at].Fingerprint == fp && !used.has(at) {
			used.set(at)
			states = append(states, c.last[at])
			return c.last[at], nil
		}
		if p != nil && p.clean {
			return nil, fmt.Errorf("VN %s: port %s: the part kept from the last compile has no slice to reuse (internal error)", v.name, p.port.Name)
		}
		ns, err := c.compilePart(nc, v, p, rp)
		if err != nil {
			return nil, err
		}
		fresh.set(len(states))
		nfresh++
		states = append(states, ns)
		return ns, nil
	}
	warnings := view.warnings
	memo := make([]vnMemo, 0, len(view.vns))
	lookup = memoCursor{memo: c.vnMemo}
	for _, v := range view.vns {
		m, had := lookup.find(v.name)
		ports := in.Snapshot.PortsIn(v.name)
		if had && m.fp == v.allFP && samePorts(m.ports, ports) {
			// Nothing the VN's parts read changed: all of them are reused
			// without resolving its ports.
			for i := m.at; i < m.at+m.n; i++ {
				used.set(i)
			}
			first := len(states)
			states = append(states, c.last[m.at:m.at+m.n]...)
			warnings = append(warnings, m.warnings...)
			memo = append(memo, vnMemo{name: v.name, fp: m.fp, at: first, n: m.n, warnings: m.warnings,
				parts: m.parts, ctx: m.ctx, ports: ports, local: m.local})
			continue
		}
		old := lastParts{vn: v.name}
		if had {
			old.at, old.states, old.parts = m.at, c.last[m.at:m.at+m.n], m.parts
		}
		if !had || m.ctx != v.ctx || len(m.warnings) > 0 ||
			!view.completeDelta(v, m.ports, m.local, old.states[1:1+m.parts]) {
			view.complete(v)
			c.completes++
		} else {
			c.deltas++
		}
		first := len(states)
		if _, err := use(old.find(0, ""), v.fp, v, nil, nil); err != nil {
			return Result{}, err
		}
		for i := range v.parts {
			if _, err := use(old.find(i+1, v.parts[i].port.Name), v.parts[i].fp, v, &v.parts[i], nil); err != nil {
				return Result{}, err
			}
		}
		if v.gwSlice == nil {
			for i := range v.remotes { // the VN's remote parts, after its ports'
				rp := &remotePart{r: &v.remotes[i], fp: view.remoteFingerprint(v, &v.remotes[i])}
				if _, err := use(old.findRemote(1+len(v.parts)+i, i, rp.r.nve.Name), rp.fp, v, nil, rp); err != nil {
					return Result{}, err
				}
			}
			cp := &remotePart{fp: view.commonFingerprint(v)} // the VN's common part, last
			if _, err := use(old.find(1+len(v.parts)+len(v.remotes), "*"), cp.fp, v, nil, cp); err != nil {
				return Result{}, err
			}
		}
		warnings = append(warnings, v.portWarnings...)
		memo = append(memo, vnMemo{name: v.name, fp: v.allFP, at: first, n: len(states) - first, warnings: v.portWarnings,
			parts: len(v.parts), ctx: v.ctx, ports: ports, local: signVAPs(v.local)})
	}
	var gwParts map[string]*Slice
	for _, g := range view.gws { // L3 gateway slices (l3gwview.go)
		s, ok := c.gwParts[g.name] // (names are unique: each used once)
		if ok && s.Fingerprint == g.fp {
			states = append(states, s)
		} else {
			var err error
			if s, err = use(-1, g.fp, g, nil, nil); err != nil {
				return Result{}, err
			}
		}
		if gwParts == nil {
			gwParts = make(map[string]*Slice, len(view.gws))
		}
		gwParts[g.name] = s
	}
	if err := checkKeys(states, fresh, nfresh); err != nil {
		return Result{}, fmt.Errorf("pipeline contract violated: %w", err)
	}
	// The Result's slices are exactly these (no room to spare: n above
	// counts only the VNs' parts known before complete), and the Cache
	// keeps them as c.last.
	exact := make([]*Slice, len(states))
	copy(exact, states)
	res, err := merge(exact, fresh, warnings)
	if err != nil {
		return Result{}, fmt.Errorf("pipeline contract violated: %w", err)
	}
	n = 0
	for _, v := range view.vns {
		n += len(v.local)
	}
	if !slices.IsSortedFunc(memo, func(a, b vnMemo) int { return strings.Compare(a.name, b.name) }) {
		slices.SortFunc(memo, func(a, b vnMemo) int { return strings.Compare(a.name, b.name) })
	}
	c.last = exact
	c.lastVAPs, c.vaps, c.vnMemo, c.gwParts = make([]lastVAP, 0, n), nil, memo, gwParts
	for _, v := range view.vns {
		for _, a := range v.local {
			c.lastVAPs = append(c.lastVAPs, lastVAP{port: a.port, ofp: a.ofp, vni: v.vn.VNI, vlan: a.vlan, segment: a.segment})
		}
	}
	return res, nil
}

// VAP returns the port whose VAP is (OpenFlow port inPort, VN vni) as the
// last Compile attached it: the port a packet-in from the neighbor stage
// came from (vni from pipeline.VNIFromMetadata). Answers go back out of
// inPort, tagged with the port's VLAN when it has one.
func (c *Cache) VAP(inPort, vni uint32) (*model.Port, bool) {
	if c.vaps == nil {
		c.vaps = map[vapKey]*model.Port{}
		for _, a := range c.lastVAPs {
			c.vaps[vapKey{a.ofp, a.vni}] = a.port
		}
	}
	p, ok := c.vaps[vapKey{inPort, vni}]
	return p, ok
}

// VAPOf is Cache.VAP for one input, computed from scratch.
func VAPOf(in Input, inPort, vni uint32) (*model.Port, bool) {
	if in.Snapshot == nil || in.Snapshot.NVEs[in.NVE] == nil {
		return nil, false
	}
	for _, v := range buildView(&in, pipeline.Profile{}, 0, 0, nil, nil).vns {
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

// compileSlice compiles one slice: the NVE-wide one when v is nil, VN
// v's shared part when p is nil, else port p's part of VN v. The
// features' flows are realized onto the profile's tables, with keys,
// cookies and sort order, and checked against the profile's contracts.
func (c *Cache) compileSlice(nc *nveCtx, v *vnView, p *portPart, rp *remotePart) (*Slice, error) {
	if nc.scratch == nil {
		nc.scratch = c.newScratch()
	}
	sc := nc.scratch
	e := &sc.e
	*e = emitter{flows: sc.flows[:0]}
	defer func() { sc.flows = e.flows[:0] }() // the features' flows are copied into the slice
	var vc *vnCtx
	var pc *portCtx
	switch {
	case v == nil:
	case p == nil:
		vc = &vnCtx{nveCtx: nc, vnView: v}
	default:
		pc = &portCtx{nveCtx: nc, vni: v.vn.VNI, part: p}
	}
	for i, f := range c.features {
		e.cur, e.stages = f, sc.stages[i]
		switch {
		case v != nil && v.gwSlice != nil: // an L3 gateway's slice (l3gateway.go)
			if g, ok := f.(gatewayFeature); ok {
				g.Gateway(vc, e)
			}
		case rp != nil && rp.r == nil:
			if cf, ok := f.(commonFeature); ok {
				cf.VNCommon(vc, e)
			}
		case rp != nil:
			if r, ok := f.(remoteFeature); ok {
				r.Remote(vc, rp.r, e)
			}
		case v == nil:
			f.NVE(nc, e)
		case p == nil:
			f.VN(vc, e)
		default:
			f.Port(pc, e)
		}
	}
	if e.err != nil {
		return nil, e.err
	}
	flows := e.flows
	for i := range flows {
		if err := c.ps.real.Flow(&flows[i]); err != nil {
			return nil, err
		}
	}
	s := &Slice{}
	switch {
	case v == nil:
		miss, err := c.ps.real.MissFlows()
		if err != nil {
			return nil, err
		}
		flows = append(miss, flows...)
		s.Fingerprint = baseFingerprint(c.ps.shareHash)
	case rp != nil:
		s.Key, s.VN, s.Fingerprint = rp.key(v.name), v.name, rp.fp
	case p == nil:
		s.Key, s.VN, s.Fingerprint = v.name, v.name, v.fp
		s.Warnings = append(s.Warnings, v.warnings...)
	default:
		s.Key, s.VN, s.Fingerprint = v.name+"/"+p.port.Name, v.name, p.fp
	}
	n := len(flows)
	if cap(sc.keys) < n {
		sc.keys, sc.sks, sc.idx, sc.dup = make([]flow.Key, n, 2*n), make([]sortKey, n, 2*n), make([]int, n, 2*n), make([]bool, n, 2*n)
	}
	// keys: only their hashes are kept
	keys, sks, idx, dup := sc.keys[:n], sc.sks[:n], sc.idx[:n], sc.dup[:n]
	sc.hashes = sc.hashes[:0]
	for i := range flows {
		k := flow.KeyOf(flows[i])
		id, h := k.IDHash64()
		flows[i].Cookie = flow.MakeCookie(c.gen, id)
		sc.hashes = append(sc.hashes, keyHash(h))
		ord, ok := c.ps.order[k.Table]
		if !ok {
			ord = len(c.ps.order)
		}
		keys[i], sks[i] = k, sortKey{ord: ord, prio: k.Priority, match: k.Match}
	}
	for i := range idx {
		idx[i] = i
	}
	hashes := sc.hashes
	slices.SortFunc(idx, func(a, b int) int { return sks[a].compare(sks[b]) })
	s.Flows, s.hashes = make([]flow.Flow, len(flows)), make([]uint32, len(flows))
	for i, j := range idx { // dup[i]: flow i has flow i-1's key
		s.Flows[i], s.hashes[i] = flows[j], hashes[j]
		dup[i] = i > 0 && keys[idx[i-1]] == keys[j]
	}
	s.Groups = e.groups
	slices.SortFunc(s.Groups, func(a, b flow.GroupEntry) int { return cmp.Compare(a.ID, b.ID) })
	s.Warnings = append(s.Warnings, e.warnings...)
	return s, c.checkSlice(s, dup)
}

// keyHash folds a flow key's 64-bit hash (flow.Key.IDHash64) into the 32
// bits a slice keeps per flow: checkKeys compares the keys of flows
// whose hashes are equal, so a collision costs a comparison, never a
// wrong answer (4 bytes a flow, not 8).
func keyHash(h uint64) uint32 { return uint32(h ^ h>>32) }

// sliceScratch is compileSlice's working memory, reused by the slices of
// one compile (and dropped with it: a Cache keeps none).
type sliceScratch struct {
	e      emitter
	stages [][]string // the stages of each of the Cache's features
	flows  []flow.Flow
	keys   []flow.Key
	sks    []sortKey
	idx    []int
	dup    []bool
	hashes []uint32 // the flows' key hashes (keyHash), in flows' order
}

func (c *Cache) newScratch() *sliceScratch {
	sc := &sliceScratch{stages: make([][]string, len(c.features))}
	for i, f := range c.features {
		sc.stages[i] = f.Stages()
	}
	return sc
}

// checkSlice checks a slice against the profile's contracts. A slice is
// self-contained: its flows use only its own groups, except that a port's
// part may use its VN's flood groups (none does today) and path groups
// (multipath.go: a port on a multipath remote is forwarded through its
// VN's group toward that remote, which the VN's shared part owns).
// Duplicates across slices are found by checkKeys.
func (c *Cache) checkSlice(s *Slice, dup []bool) error {
	var errs []error
	ids := make(map[uint32]bool, len(s.Groups))
	for i, g := range s.Groups {
		if i > 0 && s.Groups[i-1].ID == g.ID {
			errs = append(errs, fmt.Errorf("group %d: duplicate group ID", g.ID))
		}
		ids[g.ID] = true
		errs = append(errs, c.ps.check.Group(g)...)
	}
	exists := func(id uint32) bool { return ids[id] || (s.Key != s.VN && isPathGroup(id)) }
	for i, f := range s.Flows {
		if dup[i] {
			errs = append(errs, fmt.Errorf("flow %s: duplicate (table, priority, match)", f))
		}
		errs = append(errs, c.ps.check.Flow(f, exists)...)
	}
	if len(errs) == 0 {
		return nil
	}
	what := "NVE-wide slice"
	switch {
	case s.Key == s.VN && s.VN != "":
		what = "VN " + s.VN
	case strings.Contains(s.Key, "/@"):
		what = "remote part " + s.Key
	case strings.HasSuffix(s.Key, "/*"):
		what = "common part " + s.Key
	case s.Key != "":
		what = "port part " + s.Key
	}
	return fmt.Errorf("%s: pipeline contract violated: %w", what, errors.Join(errs...))
}

// checkKeys finds the flow keys two of the compile's slices (states)
// both define, an error (a slice checks its own duplicates: checkSlice).
// It keeps no index between compiles: the key hashes of the fresh slices
// (this compile's, nfresh of states) are sorted, checked among themselves
// and looked up for each flow of the other slices, which were checked
// against each other when they were fresh. So it costs nothing when no
// slice is fresh and a pass over the NVE's key hashes otherwise; only a
// hash found twice finds its flows and compares their keys (flow.KeyOf).
func checkKeys(states []*Slice, fresh bits, nfresh int) error {
	if nfresh == 0 {
		return nil
	}
	n := 0
	for i, s := range states {
		if fresh.has(i) {
			n += len(s.hashes)
		}
	}
	fh := make([]uint32, 0, n)
	var filter [4]uint64 // a bit per hash's low 8 bits: most lookups end here
	for i, s := range states {
		if fresh.has(i) {
			fh = append(fh, s.hashes...)
			for _, h := range s.hashes {
				filter[h>>6&3] |= 1 << (h & 63)
			}
		}
	}
	slices.Sort(fh)
	var errs []error
	// dups reports the fresh flows with hash h that have the key of an
	// earlier one (in states order), or of flow j of slice o when o is
	// not nil: the same hash is the same key unless the hashes collide.
	dups := func(h uint32, o *Slice, j int) {
		type at struct{ s, i int } // flow i of states[s]
		var seen []at
		for si, u := range states {
			if !fresh.has(si) {
				continue
			}
			for i, fh := range u.hashes {
				if fh != h {
					continue
				}
				k := flow.KeyOf(u.Flows[i])
				if o != nil { // against o only: fresh against fresh is checked apart
					if flow.KeyOf(o.Flows[j]) == k {
						errs = append(errs, fmt.Errorf("flow %s: in the slices of %q and %q", u.Flows[i], o.Key, u.Key))
					}
					continue
				}
				for _, e := range seen {
					if e.s != si && flow.KeyOf(states[e.s].Flows[e.i]) == k {
						errs = append(errs, fmt.Errorf("flow %s: in the slices of %q and %q", u.Flows[i], states[e.s].Key, u.Key))
						break
					}
				}
				seen = append(seen, at{si, i})
			}
		}
	}
	for k := 1; k < len(fh); k++ { // fresh against fresh
		if fh[k] == fh[k-1] && (k == 1 || fh[k-2] != fh[k]) {
			dups(fh[k], nil, 0)
		}
	}
	if nfresh == len(states) {
		return errors.Join(errs...)
	}
	for si, u := range states { // the others against fresh
		if fresh.has(si) {
			continue
		}
		for j, h := range u.hashes {
			if filter[h>>6&3]&(1<<(h&63)) == 0 {
				continue
			}
			if _, found := slices.BinarySearch(fh, h); found {
				dups(h, u, j)
			}
		}
	}
	return errors.Join(errs...)
}

// merge combines the slices into one result: the slices in order (not
// copied: the Result points at the Cache's own, or for a pooled part the
// PartPool's, so it costs a pointer per slice), their groups sorted by
// ID (only the NVE-wide slice and VNs' shared parts have groups) and
// their warnings with the view's, sorted.
func merge(states []*Slice, fresh bits, warnings []string) (Result, error) {
	ngroups, nwarn := 0, len(warnings)
	for _, s := range states {
		ngroups += len(s.Groups)
		nwarn += len(s.Warnings)
	}
	res := Result{
		Groups:     make([]flow.GroupEntry, 0, ngroups),
		Warnings:   make([]string, 0, nwarn),
		Slices:     states,
		recompiled: fresh,
	}
	for _, s := range states {
		res.Groups = append(res.Groups, s.Groups...)
		res.Warnings = append(res.Warnings, s.Warnings...)
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
