package ofctl

// Byte verification of a switch's report: a flow-stats entry whose
// identity bytes (table, priority, timeouts, flags, cookie, match and
// instructions: everything but the counters) are the bytes nva itself
// encodes for a flow it wants on the switch is that flow, installed as
// wanted, without decoding it. Only the other entries are decoded and
// diffed. Correctness never depends on a switch echoing nva's bytes: an
// entry a switch re-encodes (Open vSwitch, for one, orders OXM fields its
// own way) is decoded and compared as before; recognising it by its bytes
// only saves the work.
//
// What nva encodes for a compiled slice is hashed once and kept in the
// southbound's sumPool, tied weakly to the slice's flows (8 bytes a flow;
// a part shared by several NVEs once for all); an entry a switch encoded
// its own way, once decoded and found equal to a wanted flow, is kept
// there as an alias of that flow, so the next check of the same slices
// (the first audit after a write, for the slices the write left alone)
// takes it by its bytes too. Used by a full read (connect, warm restart,
// retry), an audit whose report hash changed, and a follower's check.

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"hash/maphash"
	"slices"
	"sync"
	"weak"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/pipeline"
	"github.com/nva-project/nva/ofctl/codec"
	"github.com/nva-project/nva/ofctl/reconcile"
)

// flowEntryBytes is the one place the byte check gets the bytes nva sends
// for flow f: the FLOW_MOD (OFPFC_ADD) of the codec's direct encoder
// (byte-identical to libOpenflow's, codec/encode_test.go), appended to
// buf[:0] (reused by the caller). The identity of a flow-stats entry is
// compared with what this returns.
func flowEntryBytes(c *codec.Codec, buf []byte, f flow.Flow, prof pipeline.Profile) ([]byte, error) {
	return c.AppendFlowMod(buf[:0], f, prof.Number, codec.FlowAdd)
}

// OpenFlow 1.3 layouts (offsets in bytes) the identity is cut from.
const (
	flowModFixed   = 48 // ofp_flow_mod up to the match
	flowStatsFixed = 48 // ofp_flow_stats up to the match
)

// entryIdentityHash hashes a flow-stats entry's identity: its length,
// table and pad (e[0:4]), priority, timeouts, flags, pad and cookie
// (e[12:32]), match and instructions (e[48:]); not the duration and
// counters. reportHash sums the same hashes.
func entryIdentityHash(h *maphash.Hash, e []byte) uint64 {
	h.Reset()
	if len(e) >= flowStatsFixed {
		h.Write(e[0:4])
		h.Write(e[12:32])
		h.Write(e[flowStatsFixed:])
	} else {
		h.Write(e)
	}
	return h.Sum64()
}

// flowModIdentityHash hashes, as entryIdentityHash hashes a flow-stats
// entry, the identity of the entry a switch that keeps nva's bytes
// reports for the marshalled FLOW_MOD m: the same bytes in the same order
// (length, table, pad; priority, timeouts, flags, pad, cookie; match and
// instructions, whose length is the entry's too: both fixed parts are 48
// bytes). False when m is no FLOW_MOD.
func flowModIdentityHash(h *maphash.Hash, m []byte) (uint64, bool) {
	if len(m) < flowModFixed || len(m) > 0xffff {
		return 0, false
	}
	var id [24]byte
	binary.BigEndian.PutUint16(id[0:2], uint16(len(m)-flowModFixed+flowStatsFixed))
	id[2] = m[24]             // table
	copy(id[4:6], m[30:32])   // priority
	copy(id[6:8], m[26:28])   // idle timeout
	copy(id[8:10], m[28:30])  // hard timeout
	copy(id[10:12], m[44:46]) // flags
	copy(id[16:24], m[8:16])  // cookie
	h.Reset()
	h.Write(id[:])
	h.Write(m[flowModFixed:])
	return h.Sum64(), true
}

// byteRef is one wanted flow: the hash of its identity as nva encodes it
// and its index in the wanted list.
type byteRef struct {
	sum uint64
	i   uint32
}

// byteIndex finds wanted flows by the identity hash of their encoding:
// sorted by hash, 16 bytes a flow, no pointers. It is built for one check
// and dropped after it; what makes building it cheap is kept in the
// southbound's sumPool, per compiled slice.
//
// A hash hit is taken as equality: 64-bit keyed hashes (the seed is the
// process's own, so no switch can aim at a collision), the same standard
// as the report hash that has an audit found clean without looking at
// the entries at all.
type byteIndex []byteRef

// lookup returns the index of the wanted flow whose identity hashes to
// sum and that taken does not mark, or -1.
func (x byteIndex) lookup(sum uint64, taken []bool) int {
	p, _ := slices.BinarySearchFunc(x, sum, func(r byteRef, s uint64) int { return cmp.Compare(r.sum, s) })
	for ; p < len(x) && x[p].sum == sum; p++ {
		if !taken[x[p].i] {
			return int(x[p].i)
		}
	}
	return -1
}

// flowSums appends to dst the identity hash of each of flows as nva
// encodes them for prof (see flowModIdentityHash); a flow that does not
// encode gets 0, which no entry is taken for (entryIdentityHash of a real
// entry is 0 with chance 2^-64, and then it is only decoded).
func (s *Southbound) flowSums(dst []uint64, flows []flow.Flow, prof pipeline.Profile) []uint64 {
	c := codec.New(codec.Options{AllowNicira: prof.Extensions})
	var h maphash.Hash
	h.SetSeed(s.seed)
	var buf []byte
	for _, f := range flows {
		var sum uint64
		if b, err := flowEntryBytes(c, buf, f, prof); err == nil {
			buf = b
			if v, ok := flowModIdentityHash(&h, b); ok {
				sum = v
			}
		}
		dst = append(dst, sum)
	}
	return dst
}

// wanted is the flows nva wants on a switch (or last installed there),
// in order: the flows of a compile result's or a record's slices, one
// slice after the other, or a plain list. A list of slices is flattened
// only for a caller that needs one list (the diff of a switch that does
// not hold exactly them), not for a switch found in sync: a warm restart
// checks 1,000 switches of 700 flows each.
type wanted struct {
	slices []*compiler.Slice // nil: list
	list   []flow.Flow
	n      int
}

// wantedSlices is the flows of sl, in order.
func wantedSlices(sl []*compiler.Slice) wanted {
	n := 0
	for _, x := range sl {
		n += len(x.Flows)
	}
	return wanted{slices: sl, n: n}
}

// wantedList is the flows of list.
func wantedList(list []flow.Flow) wanted { return wanted{list: list, n: len(list)} }

// wantedResult is res's flows: by its slices when it has any.
func wantedResult(res compiler.Result) wanted {
	if len(res.Slices) > 0 {
		return wantedSlices(res.Slices)
	}
	return wantedList(res.FlowList())
}

// flows is the wanted flows as one list (built, transiently, from the
// slices when it is given by them).
func (w wanted) flows() []flow.Flow {
	if w.slices == nil {
		return w.list
	}
	out := make([]flow.Flow, 0, w.n)
	for _, x := range w.slices {
		out = append(out, x.Flows...)
	}
	return out
}

// wantedSums is the identity hash of each wanted flow, in order: for
// flows given by slices (a compile result's or a record's), each slice's
// hashes come from the sumPool, computed once per compiled slice (and
// shared by every NVE using a shared part: see compiler.PartPool), with
// the aliases learned for them (alts: the identity hash of the entry a
// switch reported for the flow in its own encoding, 0 when none; nil
// when no slice has any). at returns the wanted flow at a position of
// that order; pooled says the slices were used.
func (s *Southbound) wantedSums(want wanted, prof pipeline.Profile) (sums, alts []uint64, at func(int) flow.Flow, pooled bool) {
	if want.slices == nil {
		list := want.list
		return s.flowSums(make([]uint64, 0, len(list)), list, prof), nil, func(i int) flow.Flow { return list[i] }, false
	}
	sl := want.slices
	sums, alts = s.sums.collect(sl, want.n, s.profileKey(prof), func(dst []uint64, flows []flow.Flow) []uint64 {
		return s.flowSums(dst, flows, prof)
	})
	starts := sliceStarts(sl)
	return sums, alts, func(i int) flow.Flow {
		k, j := slicePos(sl, starts, i)
		return sl[k].Flows[j]
	}, true
}

// sliceStarts is the position of each slice's first flow in the slices'
// order.
func sliceStarts(sl []*compiler.Slice) []int {
	starts := make([]int, len(sl))
	at := 0
	for k, x := range sl {
		starts[k] = at
		at += len(x.Flows)
	}
	return starts
}

// slicePos returns the slice and the index in it of the flow at position
// i of the slices' order.
func slicePos(sl []*compiler.Slice, starts []int, i int) (int, int) {
	k, found := slices.BinarySearch(starts, i)
	if !found {
		k--
	}
	for len(sl[k].Flows) == 0 { // an empty slice shares its start with the next
		k++
	}
	return k, i - starts[k]
}

// verified is a report checked against the flows nva wants on (or last
// installed on) the switch.
type verified struct {
	// same: every reported flow entry has the bytes of a wanted flow,
	// each wanted flow is reported exactly once, and nothing else is: the
	// switch holds the wanted flows, and flows is nil.
	same bool
	// flows is what the switch holds (when not same): the wanted flow
	// for an entry recognised by its bytes, the decoded entry otherwise.
	flows []flow.Flow
	// groups are the switch's groups, in report order: the wanted group
	// for an entry recognised by its bytes, the decoded entry otherwise.
	groups []flow.GroupEntry
	// groupsSame: every reported group entry has the bytes of a wanted
	// group, and each wanted group is reported exactly once: the switch
	// holds the wanted groups.
	groupsSame bool
	// decoded counts the flow entries decoded.
	decoded int
}

// verifyInstalled checks a switch's report (raw, with the identity
// hashes of its flow entries in sums, as entrySums returns them) against
// want and wantGroups: entries whose identity bytes equal a wanted flow's
// encoding are that flow, group entries with a wanted group's bytes that
// group; the rest are decoded (decodeInstalled's rules).
func (s *Southbound) verifyInstalled(raw rawInstalled, sums []uint64, want wanted, wantGroups []flow.GroupEntry, prof pipeline.Profile) verified {
	var v verified
	v.groups, v.groupsSame = s.verifyGroups(raw.groups, wantGroups, prof)
	if want.n == 0 || len(sums) != len(raw.flows) {
		v.flows = s.decodeFlows(raw.flows, prof)
		v.decoded = len(raw.flows)
		return v
	}
	wsums, alts, at, pooled := s.wantedSums(want, prof)
	x := make(byteIndex, 0, len(wsums))
	for i, sum := range wsums {
		if sum != 0 {
			x = append(x, byteRef{sum: sum, i: uint32(i)})
		}
	}
	for i, sum := range alts {
		if sum != 0 {
			x = append(x, byteRef{sum: sum, i: uint32(i)})
		}
	}
	slices.SortFunc(x, func(a, b byteRef) int {
		if c := cmp.Compare(a.sum, b.sum); c != 0 {
			return c
		}
		return cmp.Compare(a.i, b.i)
	})
	taken := make([]bool, len(wsums))
	// match[k] is the wanted flow entry k was recognised as, or -1.
	match := make([]int32, len(raw.flows))
	recognised := 0
	for k, sum := range sums {
		i := x.lookup(sum, taken)
		match[k] = int32(i)
		if i >= 0 {
			taken[i] = true
			recognised++
		}
	}
	s.m.flowEntries.WithLabelValues("bytes").Add(float64(recognised))
	if recognised == len(raw.flows) && recognised == want.n {
		v.same = true
		return v
	}
	var rest [][]byte
	var restSums []uint64
	for k, i := range match {
		if i < 0 {
			rest = append(rest, raw.flows[k])
			restSums = append(restSums, sums[k])
		}
	}
	decoded, ok := s.decodeEach(rest, prof)
	v.decoded = len(rest)
	v.flows = make([]flow.Flow, 0, recognised+len(decoded))
	for _, i := range match {
		if i >= 0 {
			v.flows = append(v.flows, at(int(i)))
		}
	}
	for k, f := range decoded {
		if ok[k] {
			v.flows = append(v.flows, f)
		}
	}
	if pooled {
		s.learnAliases(want.slices, prof, taken, at, decoded, ok, restSums)
	}
	return v
}

// decodeEach decodes flow-stats entries (decodeInstalled's rules): the
// flow of each entry, and whether it is one (an entry that does not
// decode at all is left alone).
func (s *Southbound) decodeEach(entries [][]byte, prof pipeline.Profile) ([]flow.Flow, []bool) {
	tableName := func(n uint8) string {
		name, _ := prof.NameOf(n)
		return name
	}
	s.m.flowEntries.WithLabelValues("decoded").Add(float64(len(entries)))
	flows := make([]flow.Flow, len(entries))
	ok := make([]bool, len(entries))
	for k, e := range entries {
		flows[k], _, ok[k] = s.decodeFlowEntry(e, tableName)
	}
	return flows, ok
}

// learnAliases records, for each decoded entry that is a wanted flow not
// recognised by its bytes (the same key, cookie and instructions: what
// the diff takes as installed as wanted), the entry's identity hash as an
// alias of that flow in its slice's pool entry: a switch that encodes
// flows its own way (Open vSwitch orders OXM fields its own way) reports
// the same bytes for the same flow again, and the next check of the slice
// recognises them without decoding. An alias is tied to the slice's flows
// like the flow's own hash, so it goes when the slice does.
// taken marks the wanted flows (in the order of sl's flows, at) taken by
// their bytes.
func (s *Southbound) learnAliases(sl []*compiler.Slice, prof pipeline.Profile, taken []bool, at func(int) flow.Flow,
	decoded []flow.Flow, ok []bool, sums []uint64) {
	if len(decoded) == 0 {
		return
	}
	open := make(map[flow.Key]int)
	for i := range taken {
		if !taken[i] {
			open[flow.KeyOf(at(i))] = i
		}
	}
	aliases := map[int]uint64{}
	for k, d := range decoded {
		if !ok[k] || d.Goto == undecodable || sums[k] == 0 {
			continue
		}
		i, found := open[flow.KeyOf(d)]
		if !found {
			continue
		}
		cd, cw := codec.Canonical(d), codec.Canonical(at(i))
		if cd.Cookie == cw.Cookie && reconcile.SameInstructions(cd, cw) {
			aliases[i] = sums[k]
			delete(open, flow.KeyOf(d))
		}
	}
	if len(aliases) > 0 {
		s.sums.learn(sl, sliceStarts(sl), s.profileKey(prof), aliases)
	}
}

// verifyGroups checks a switch's group entries against wantGroups: an
// entry with the bytes nva encodes for the wanted group of its ID (the
// GROUP_MOD's type and buckets) is that group, the rest are decoded
// (decodeInstalled's rules). same says every entry was recognised and
// every wanted group reported once. Groups are few (a flood group per VN
// of the NVE, the dual-homing groups), so they are found by ID and
// compared byte for byte, not hashed and pooled like flows.
func (s *Southbound) verifyGroups(entries [][]byte, wantGroups []flow.GroupEntry, prof pipeline.Profile) (groups []flow.GroupEntry, same bool) {
	byID := make(map[uint32]int, len(wantGroups))
	unique := true
	for i, g := range wantGroups {
		if _, dup := byID[g.ID]; dup {
			unique = false // the diff reports the conflict
		}
		byID[g.ID] = i
	}
	c := codec.New(codec.Options{AllowNicira: prof.Extensions})
	var buf []byte
	taken := make([]bool, len(wantGroups))
	recognised := 0
	groups = make([]flow.GroupEntry, 0, len(entries))
	for _, e := range entries {
		if i, ok := byID[groupDescID(e)]; ok && !taken[i] {
			m, err := c.AppendGroupMod(buf[:0], wantGroups[i], codec.GroupAdd)
			if err == nil {
				buf = m
				// ofp_group_desc: length, type, pad, group_id, buckets;
				// GROUP_MOD: header, command, type, pad, group_id, buckets.
				if len(m) >= 16 && e[2] == m[10] && bytes.Equal(e[8:], m[16:]) {
					taken[i] = true
					recognised++
					groups = append(groups, wantGroups[i])
					continue
				}
			}
		}
		if g, ok := s.decodeGroupEntry(e); ok {
			groups = append(groups, g)
		}
	}
	return groups, unique && recognised == len(entries) && recognised == len(wantGroups)
}

// diffVerified is the plan that turns what the switch holds (v) into
// want and wantGroups: the diff as before, except that when the switch
// holds exactly the wanted flows (v.same) only the groups are diffed,
// and nothing is when it holds exactly the wanted groups too.
func (s *Southbound) diffVerified(want wanted, wantGroups []flow.GroupEntry, v verified) reconcile.Plan {
	if !v.same {
		return s.diff.Diff(want.flows(), v.flows, wantGroups, v.groups) // (a transient list)
	}
	if v.groupsSame {
		return reconcile.Plan{Unchanged: want.n}
	}
	p := s.diff.Diff(nil, nil, wantGroups, v.groups)
	p.Unchanged = want.n
	return p
}

// heldFlows is what the switch holds as v says, as one list: the wanted
// flows when same.
func (v verified) heldFlows(want wanted) []flow.Flow {
	if v.same {
		return want.flows()
	}
	return v.flows
}

// sumPool keeps, per compiled slice, the identity hashes of its flows as
// nva encodes them (flowSums), so a slice's flows are encoded for a check
// once, not at every check, and a part shared by many NVEs (the compiler's
// PartPool) once for all of them. An entry is tied to the very flows
// array it was computed from (compiled slices are immutable) through a
// weak pointer: it is valid only for that array, and dead once the
// compiler dropped the slice. 8 bytes a flow (16 once an alias is
// learned), plus the entry.
type sumPool struct {
	mu sync.Mutex
	m  map[uint64]sumEntry // by Slice.Fingerprint
	// sweepAt is the size of m that triggers removing dead entries.
	sweepAt int
}

type sumEntry struct {
	flows weak.Pointer[flow.Flow] // the slice's Flows[0]
	prof  uint64                  // profileKey of the encoding
	// sums are the flows' identity hashes, one per flow (so len(sums) is
	// len(Flows)). Past them, within the capacity, are the flows'
	// aliases (learnAliases; 0 for none) once one is learned: the capacity
	// is exactly 2*len(sums) then, len(sums) before (40 bytes an entry,
	// not 72 with a length and an alias slice of their own).
	sums []uint64
}

// alt returns the entry's aliases, nil when none is learned.
func (e sumEntry) alt() []uint64 {
	if cap(e.sums) != 2*len(e.sums) || len(e.sums) == 0 {
		return nil
	}
	return e.sums[len(e.sums):cap(e.sums)]
}

// valid says whether e was computed from the flows of x, with prof.
func (e sumEntry) valid(x *compiler.Slice, prof uint64) bool {
	return len(e.sums) == len(x.Flows) && e.prof == prof && len(x.Flows) > 0 && e.flows.Value() == &x.Flows[0]
}

// collect returns the identity hashes of the flows of sl (n in all), in
// order, from the pool or computed by compute (and kept), and their
// aliases (nil when none is known).
func (p *sumPool) collect(sl []*compiler.Slice, n int, prof uint64, compute func(dst []uint64, flows []flow.Flow) []uint64) (sums, alts []uint64) {
	type miss struct{ k, at int }
	var misses []miss
	sums = make([]uint64, 0, n)
	p.mu.Lock()
	if p.m == nil {
		p.m = map[uint64]sumEntry{}
	}
	for k, x := range sl {
		if len(x.Flows) == 0 {
			continue
		}
		if e, ok := p.m[x.Fingerprint]; ok && e.valid(x, prof) {
			if alt := e.alt(); alt != nil {
				if alts == nil {
					alts = make([]uint64, n)
				}
				copy(alts[len(sums):], alt)
			}
			sums = append(sums, e.sums...)
			continue
		}
		misses = append(misses, miss{k, len(sums)})
		sums = append(sums, make([]uint64, len(x.Flows))...) // filled below
	}
	p.mu.Unlock()
	if len(misses) == 0 {
		return sums, alts
	}
	// Encode outside the lock; the slices' flows are immutable.
	fresh := make([]sumEntry, len(misses))
	for j, m := range misses {
		x := sl[m.k]
		own := slices.Clip(compute(make([]uint64, 0, len(x.Flows)), x.Flows)) // no room for aliases: see sumEntry
		copy(sums[m.at:], own)
		fresh[j] = sumEntry{flows: weak.Make(&x.Flows[0]), prof: prof, sums: own}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for j, m := range misses {
		p.m[sl[m.k].Fingerprint] = fresh[j]
	}
	if len(p.m) >= p.sweepAt {
		for fp, e := range p.m {
			if e.flows.Value() == nil {
				delete(p.m, fp)
			}
		}
		p.sweepAt = max(2*len(p.m), 1024)
	}
	return sums, alts
}

// learn records aliases (by position in the order of sl, whose slices
// start at starts) in the pool entries of their slices, if the entries
// are still the ones for those slices.
func (p *sumPool) learn(sl []*compiler.Slice, starts []int, prof uint64, aliases map[int]uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, sum := range aliases {
		k, j := slicePos(sl, starts, i)
		x := sl[k]
		e, ok := p.m[x.Fingerprint]
		if !ok || !e.valid(x, prof) {
			continue
		}
		n := len(e.sums)
		v := make([]uint64, 2*n) // copy on write: an entry's arrays never change
		copy(v, e.sums)
		copy(v[n:], e.alt())
		v[n+j] = sum
		e.sums = v[:n]
		p.m[x.Fingerprint] = e
	}
}

// profileKey identifies what of a profile the encoding of a flow depends
// on: its name, extensions and table numbers.
func (s *Southbound) profileKey(prof pipeline.Profile) uint64 {
	var h maphash.Hash
	h.SetSeed(s.seed)
	h.WriteString(prof.Name)
	if prof.Extensions {
		h.WriteByte(1)
	}
	for _, t := range prof.Tables {
		h.WriteString(t.Name)
		h.WriteByte(t.Number)
	}
	return h.Sum64()
}
