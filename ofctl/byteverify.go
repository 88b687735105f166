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

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"hash/maphash"
	"slices"

	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/pipeline"
	"github.com/nva-project/nva/ofctl/codec"
	"github.com/nva-project/nva/ofctl/reconcile"
)

// flowEntryBytes is the one place the byte check gets the bytes nva sends
// for flow f: the marshalled FLOW_MOD (OFPFC_ADD) of the codec. The
// identity of a flow-stats entry is compared with what this returns, so
// any encoder with byte-identical output may take its place.
func flowEntryBytes(c *codec.Codec, f flow.Flow, prof pipeline.Profile) ([]byte, error) {
	m, err := c.EncodeFlowMod(f, prof.Number, codec.FlowAdd)
	if err != nil {
		return nil, err
	}
	return m.MarshalBinary()
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

// flowModIdentity appends to dst the identity bytes of the flow-stats
// entry a switch that keeps nva's bytes reports for the marshalled
// FLOW_MOD m: entryIdentityHash's bytes, in the same order (length,
// table, pad; priority, timeouts, flags, pad, cookie; match and
// instructions, whose length is the entry's too: both fixed parts are 48
// bytes). False when m is no FLOW_MOD.
func flowModIdentity(dst, m []byte) ([]byte, bool) {
	if len(m) < flowModFixed || len(m) > 0xffff {
		return dst, false
	}
	var id [24]byte
	binary.BigEndian.PutUint16(id[0:2], uint16(len(m)-flowModFixed+flowStatsFixed))
	id[2] = m[24]             // table
	copy(id[4:6], m[30:32])   // priority
	copy(id[6:8], m[26:28])   // idle timeout
	copy(id[8:10], m[28:30])  // hard timeout
	copy(id[10:12], m[44:46]) // flags
	copy(id[16:24], m[8:16])  // cookie
	dst = append(dst, id[:]...)
	return append(dst, m[flowModFixed:]...), true
}

// sameIdentity reports whether flow-stats entry e has identity id (as
// flowModIdentity lays it out).
func sameIdentity(e, id []byte) bool {
	if len(e) < flowStatsFixed || len(id) != 24+len(e)-flowStatsFixed {
		return false
	}
	return bytes.Equal(e[0:4], id[0:4]) && bytes.Equal(e[12:32], id[4:24]) && bytes.Equal(e[flowStatsFixed:], id[24:])
}

// byteRef is one wanted flow: the hash of its identity, its index in the
// list the index was built from, and where its identity bytes are.
type byteRef struct {
	sum      uint64
	i        uint32
	off, end uint32
}

// byteIndex finds wanted flows by their identity as nva encodes them:
// refs sorted by hash, the identities in one buffer, so a hash hit is
// confirmed byte for byte. It is built for one check and dropped after
// it: a switch is checked this way once per change of its desired state
// or of its report (the report hash covers the rest), so nothing of it is
// kept between checks.
type byteIndex struct {
	refs []byteRef
	buf  []byte
}

// newByteIndex indexes flows as nva encodes them for prof. A flow that
// does not encode is left out: no entry is recognised as it, so the
// decode and the diff deal with it as before.
func (s *Southbound) newByteIndex(flows []flow.Flow, prof pipeline.Profile) byteIndex {
	c := codec.New(codec.Options{AllowNicira: prof.Extensions})
	var h maphash.Hash
	h.SetSeed(s.seed)
	x := byteIndex{refs: make([]byteRef, 0, len(flows))}
	for i, f := range flows {
		b, err := flowEntryBytes(c, f, prof)
		if err != nil {
			continue
		}
		off := len(x.buf)
		var ok bool
		if x.buf, ok = flowModIdentity(x.buf, b); !ok {
			continue
		}
		id := x.buf[off:]
		h.Reset()
		h.Write(id)
		x.refs = append(x.refs, byteRef{sum: h.Sum64(), i: uint32(i), off: uint32(off), end: uint32(len(x.buf))})
	}
	slices.SortFunc(x.refs, func(a, b byteRef) int {
		if c := cmp.Compare(a.sum, b.sum); c != 0 {
			return c
		}
		return cmp.Compare(a.i, b.i)
	})
	return x
}

// lookup returns the index of the wanted flow whose identity is entry e's
// (whose identity hash is sum) and that taken does not mark, or -1.
func (x byteIndex) lookup(sum uint64, e []byte, taken []bool) int {
	p, _ := slices.BinarySearchFunc(x.refs, sum, func(r byteRef, s uint64) int { return cmp.Compare(r.sum, s) })
	for ; p < len(x.refs) && x.refs[p].sum == sum; p++ {
		r := x.refs[p]
		if !taken[r.i] && sameIdentity(e, x.buf[r.off:r.end]) {
			return int(r.i)
		}
	}
	return -1
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
	// groups are the switch's groups, decoded.
	groups []flow.GroupEntry
	// decoded counts the flow entries decoded.
	decoded int
}

// verifyInstalled checks a switch's report (raw, with the identity
// hashes of its flow entries in sums, as reportHash returns them) against
// want: entries whose identity bytes equal a wanted flow's encoding are
// that flow; the rest are decoded (decodeInstalled's rules).
func (s *Southbound) verifyInstalled(raw rawInstalled, sums []uint64, want []flow.Flow, prof pipeline.Profile) verified {
	var v verified
	_, v.groups = s.decodeInstalled(rawInstalled{groups: raw.groups}, prof)
	if len(want) == 0 || len(sums) != len(raw.flows) {
		v.flows = s.decodeFlows(raw.flows, prof)
		v.decoded = len(raw.flows)
		return v
	}
	x := s.newByteIndex(want, prof)
	taken := make([]bool, len(want))
	// match[k] is the wanted flow entry k was recognised as, or -1.
	match := make([]int32, len(raw.flows))
	recognised := 0
	for k, sum := range sums {
		i := x.lookup(sum, raw.flows[k], taken)
		match[k] = int32(i)
		if i >= 0 {
			taken[i] = true
			recognised++
		}
	}
	s.m.flowEntries.WithLabelValues("bytes").Add(float64(recognised))
	if recognised == len(raw.flows) && recognised == len(want) {
		v.same = true
		return v
	}
	var rest [][]byte
	for k, i := range match {
		if i < 0 {
			rest = append(rest, raw.flows[k])
		}
	}
	decoded := s.decodeFlows(rest, prof)
	v.decoded = len(rest)
	v.flows = make([]flow.Flow, 0, recognised+len(decoded))
	for _, i := range match {
		if i >= 0 {
			v.flows = append(v.flows, want[i])
		}
	}
	v.flows = append(v.flows, decoded...)
	return v
}

// diffVerified is the plan that turns what the switch holds (v) into
// want and wantGroups: the diff as before, except that when the switch
// holds exactly the wanted flows (v.same) only the groups are diffed.
func (s *Southbound) diffVerified(want []flow.Flow, wantGroups []flow.GroupEntry, v verified) reconcile.Plan {
	if !v.same {
		return s.diff.Diff(want, v.flows, wantGroups, v.groups)
	}
	p := s.diff.Diff(nil, nil, wantGroups, v.groups)
	p.Unchanged = len(want)
	return p
}

// heldFlows is what the switch holds as v says: want itself when same.
func (v verified) heldFlows(want []flow.Flow) []flow.Flow {
	if v.same {
		return want
	}
	return v.flows
}
