package fleet

import (
	"encoding/binary"
	"slices"
	"sync"

	"antrea.io/libOpenflow/openflow13"
)

// ofTables is a switch's flow and group tables, kept compactly: a flow is
// its key (table, priority, padded ofp_match: the bytes of the flow mod)
// and its value (cookie, timeouts, flags and the instructions' bytes),
// nothing kept twice and nothing rendered; a flow-stats reply appends the
// ofp_flow_stats entry of each flow (counters and duration zero) straight
// from the two. Callers hold the switch's lock.
type ofTables struct {
	numTables uint8
	flows     map[string][]byte // key -> value (never nil), see flowValue
	groups    map[uint32][]byte // group id -> ofp_group_desc entry

	key []byte // scratch for the key of the flow mod at hand

	// While recording (a bundle commit), every change appends what it
	// replaced, so that a failed commit can be undone without a copy of
	// the tables.
	recording bool
	journal   []tableUndo
	fromEmpty bool // recording began with both tables empty: no journal needed
}

// tableUndo is what one change replaced: the flow at key or the group id,
// and its previous entry (nil: there was none).
type tableUndo struct {
	group bool
	id    uint32
	key   string
	prev  []byte
}

func newOFTables(numTables uint8) ofTables {
	return ofTables{numTables: numTables, flows: map[string][]byte{}, groups: map[uint32][]byte{}}
}

// reset empties both tables (sized for as many as they held: a switch
// that restarts is usually given its tables again).
func (t *ofTables) reset() {
	t.flows = make(map[string][]byte, len(t.flows))
	t.groups = make(map[uint32][]byte, len(t.groups))
}

// apply applies a flow or group mod; on failure it returns the error type
// and code to send (and changes nothing). counted says whether the
// message was long enough to be counted as a mod.
func (t *ofTables) apply(m []byte) (typ, code uint16, ok, counted bool) {
	if m[1] == openflow13.Type_GroupMod {
		return t.groupMod(m)
	}
	return t.flowMod(m)
}

// A flow's key is its table (1 byte), priority (2) and padded ofp_match;
// its value is flowValue: cookie (8 bytes), idle and hard timeouts and
// flags (2 each), 2 bytes of padding, then the instructions.
const (
	keyMatch   = 3
	valIdle    = 8
	valFlags   = 12
	valInstr   = 16
	statsMatch = 48 // the match's offset in an ofp_flow_stats entry
)

// appendFlowStats appends the ofp_flow_stats entry of the flow (key,
// value): counters and duration zero.
func appendFlowStats(b []byte, key string, v []byte) []byte {
	n := statsMatch + len(key) - keyMatch + len(v) - valInstr
	off := len(b)
	b = append(b, make([]byte, statsMatch)...)
	e := b[off:]
	binary.BigEndian.PutUint16(e[0:2], uint16(n))
	e[2] = key[0]
	e[12], e[13] = key[1], key[2]         // priority
	copy(e[14:20], v[valIdle:valFlags+2]) // idle and hard timeouts, flags
	copy(e[24:32], v[0:8])                // cookie
	b = append(b, key[keyMatch:]...)
	return append(b, v[valInstr:]...)
}

// flowStatsLen is the length of the flow's ofp_flow_stats entry.
func flowStatsLen(key string, v []byte) int {
	return statsMatch + len(key) - keyMatch + len(v) - valInstr
}

func (t *ofTables) flowMod(m []byte) (uint16, uint16, bool, bool) {
	if len(m) < 56 {
		return openflow13.ET_BAD_REQUEST, openflow13.BRC_BAD_LEN, false, false
	}
	mlen := int(binary.BigEndian.Uint16(m[50:52]))
	padded := (mlen + 7) / 8 * 8
	if mlen < 4 || 48+padded > len(m) {
		return openflow13.PET_BAD_MATCH, openflow13.BMC_BAD_LEN, false, false
	}
	cookie := binary.BigEndian.Uint64(m[8:16])
	cookieMask := binary.BigEndian.Uint64(m[16:24])
	table := m[24]
	priority := binary.BigEndian.Uint16(m[30:32])
	match := m[48 : 48+padded]
	instr := m[48+padded:]
	k := append(t.key[:0], table, byte(priority>>8), byte(priority))
	k = append(k, match...)
	t.key = k
	switch m[25] {
	case openflow13.FC_ADD:
		if table >= t.numTables {
			return openflow13.ET_FLOW_MOD_FAILED, openflow13.FMFC_BAD_TABLE_ID, false, true
		}
		v := make([]byte, valInstr+len(instr))
		copy(v[0:8], m[8:16])                // cookie
		copy(v[valIdle:valIdle+4], m[26:30]) // idle and hard timeouts
		copy(v[valFlags:valFlags+2], m[44:46])
		copy(v[valInstr:], instr)
		t.setFlow(string(k), v)
	case openflow13.FC_MODIFY_STRICT:
		if e, ok := t.flows[string(k)]; ok && flowCookie(e)&cookieMask == cookie&cookieMask {
			t.setFlow(string(k), withInstructions(e, instr))
		}
	case openflow13.FC_DELETE_STRICT:
		if e, ok := t.flows[string(k)]; ok && flowCookie(e)&cookieMask == cookie&cookieMask {
			t.deleteFlow(string(k), e)
		}
	case openflow13.FC_MODIFY, openflow13.FC_DELETE:
		// Non-strict: every flow of the table (or all tables) whose cookie
		// matches, and whose match is this one or, for an empty match,
		// any. (A real switch also takes supersets of a non-empty match;
		// nva sends only strict modifies and deletes.)
		for key, e := range t.flows {
			if (table != openflow13.OFPTT_ALL && key[0] != table) || flowCookie(e)&cookieMask != cookie&cookieMask {
				continue
			}
			if mlen > 4 && key[keyMatch:] != string(match) {
				continue
			}
			if m[25] == openflow13.FC_DELETE {
				t.deleteFlow(key, e)
			} else {
				t.setFlow(key, withInstructions(e, instr))
			}
		}
	default:
		return openflow13.ET_FLOW_MOD_FAILED, openflow13.FMFC_BAD_COMMAND, false, true
	}
	return 0, 0, true, true
}

func flowCookie(v []byte) uint64 { return binary.BigEndian.Uint64(v[0:8]) }

// withInstructions is a new value: v with its instructions replaced.
func withInstructions(v, instr []byte) []byte {
	n := make([]byte, valInstr+len(instr))
	copy(n, v[:valInstr])
	copy(n[valInstr:], instr)
	return n
}

func (t *ofTables) setFlow(key string, e []byte) {
	if t.recording {
		t.journal = append(t.journal, tableUndo{key: key, prev: t.flows[key]})
	}
	t.flows[key] = e
}

func (t *ofTables) deleteFlow(key string, prev []byte) {
	if t.recording {
		t.journal = append(t.journal, tableUndo{key: key, prev: prev})
	}
	delete(t.flows, key)
}

func (t *ofTables) setGroup(id uint32, e []byte) {
	if t.recording {
		t.journal = append(t.journal, tableUndo{group: true, id: id, prev: t.groups[id]})
	}
	if e == nil {
		delete(t.groups, id)
	} else {
		t.groups[id] = e
	}
}

func (t *ofTables) groupMod(m []byte) (uint16, uint16, bool, bool) {
	if len(m) < 16 {
		return openflow13.ET_BAD_REQUEST, openflow13.BRC_BAD_LEN, false, false
	}
	cmd := binary.BigEndian.Uint16(m[8:10])
	id := binary.BigEndian.Uint32(m[12:16])
	_, exists := t.groups[id]
	entry := func() []byte {
		e := make([]byte, 8+len(m)-16)
		e[2] = m[10]
		binary.BigEndian.PutUint32(e[4:8], id)
		copy(e[8:], m[16:])
		binary.BigEndian.PutUint16(e[0:2], uint16(len(e)))
		return e
	}
	switch cmd {
	case openflow13.OFPGC_ADD:
		if exists {
			return openflow13.ET_GROUP_MOD_FAILED, openflow13.GMFC_GROUP_EXISTS, false, true
		}
		t.setGroup(id, entry())
	case openflow13.OFPGC_MODIFY:
		if !exists {
			return openflow13.ET_GROUP_MOD_FAILED, openflow13.GMFC_UNKNOWN_GROUP, false, true
		}
		t.setGroup(id, entry())
	case openflow13.OFPGC_DELETE:
		if id == openflow13.OFPG_ALL {
			if t.recording {
				for gid, g := range t.groups {
					t.journal = append(t.journal, tableUndo{group: true, id: gid, prev: g})
				}
			}
			t.groups = map[uint32][]byte{}
		} else if exists {
			t.setGroup(id, nil)
		}
	default:
		return openflow13.ET_GROUP_MOD_FAILED, openflow13.GMFC_BAD_COMMAND, false, true
	}
	return 0, 0, true, true
}

// begin starts recording changes (a bundle commit of n mods). Empty
// tables are first sized for n flows: a controller's first install is
// usually one bundle, and the table then does not grow step by step.
func (t *ofTables) begin(n int) {
	if len(t.flows) == 0 && n > 8 {
		t.flows = make(map[string][]byte, n)
	}
	t.fromEmpty = len(t.flows) == 0 && len(t.groups) == 0
	t.recording = !t.fromEmpty
	t.journal = t.journal[:0]
}

// end stops recording; with undo it first restores what was changed since
// begin.
func (t *ofTables) end(undo bool) {
	if undo && t.fromEmpty {
		clear(t.flows)
		clear(t.groups)
	}
	if undo {
		for i := len(t.journal) - 1; i >= 0; i-- {
			u := t.journal[i]
			switch {
			case u.group && u.prev == nil:
				delete(t.groups, u.id)
			case u.group:
				t.groups[u.id] = u.prev
			case u.prev == nil:
				delete(t.flows, u.key)
			default:
				t.flows[u.key] = u.prev
			}
		}
	}
	t.recording, t.fromEmpty = false, false
	clear(t.journal) // drop the references to replaced entries
	if cap(t.journal) > 4096 {
		t.journal = nil
	} else {
		t.journal = t.journal[:0]
	}
}

// --- multipart replies ----------------------------------------------------

// maxReplyBody is how much of a multipart reply goes into one message
// before the rest follows (OFPMPF_REPLY_MORE): OpenFlow messages are at
// most 65,535 bytes.
const maxReplyBody = 65535 - 16

// mpReply builds a multipart reply, every part of it, in one buffer: the
// entries are appended as they come and a part is closed (OFPMPF_REPLY_MORE)
// when the next entry would make its body longer than maxReplyBody, so
// that the whole reply goes out in one write.
type mpReply struct {
	buf   []byte
	start int // offset of the open part's header
	typ   uint16
	xid   uint32
}

// newMPReply starts a reply in buf (its bytes are overwritten; nil: a new
// buffer); size is the bytes of entries expected (for the buffer's
// capacity; the reply grows past it if need be).
func newMPReply(buf []byte, typ uint16, xid uint32, size int) mpReply {
	parts := size/(maxReplyBody/2) + 1
	r := mpReply{buf: slices.Grow(buf[:0], size+16*parts), typ: typ, xid: xid}
	r.open()
	return r
}

func (r *mpReply) open() {
	r.start = len(r.buf)
	r.buf = append(r.buf, make([]byte, 16)...)
}

func (r *mpReply) close(more bool) {
	h := r.buf[r.start:]
	h[0] = openflow13.VERSION
	h[1] = openflow13.Type_MultiPartReply
	binary.BigEndian.PutUint16(h[2:4], uint16(len(r.buf)-r.start))
	binary.BigEndian.PutUint32(h[4:8], r.xid)
	binary.BigEndian.PutUint16(h[8:10], r.typ)
	if more {
		binary.BigEndian.PutUint16(h[10:12], openflow13.OFPMPF_REPLY_MORE)
	}
}

// room makes room for an entry of n bytes: if it does not fit the open
// part, that part is closed and the next one opened.
func (r *mpReply) room(n int) {
	if len(r.buf)-r.start-16+n > maxReplyBody {
		r.close(true)
		r.open()
	}
}

func (r *mpReply) add(e []byte) {
	r.room(len(e))
	r.buf = append(r.buf, e...)
}

// finish closes the last part and returns every part of the reply.
func (r *mpReply) finish() []byte {
	r.close(false)
	return r.buf
}

// ReplyBufs holds the buffers of multipart replies between uses: a
// switch's reply to a flow dump is ~100 KB, built and written in a moment,
// and the same dumps come again and again (audits, restarts). The switches
// of one fleet share one (SwitchOptions.Replies); it holds nothing that
// outlives a reply.
type ReplyBufs struct{ p sync.Pool }

// NewReplyBufs returns an empty buffer pool.
func NewReplyBufs() *ReplyBufs {
	return &ReplyBufs{p: sync.Pool{New: func() any { return new([]byte) }}}
}

// maxPooledReply bounds the buffers kept in a ReplyBufs.
const maxPooledReply = 1 << 20

// with calls f with a buffer from the pool (f's result must not be kept
// after f's caller is done with it) and returns the buffer.
func (rb *ReplyBufs) with(f func(buf []byte) []byte) {
	bp := rb.p.Get().(*[]byte)
	b := f(*bp)
	if cap(b) <= maxPooledReply {
		*bp = b[:0]
		rb.p.Put(bp)
	}
}

// flowStats is the flow-stats reply (every part) for the flows of table
// (OFPTT_ALL: all) whose cookie matches cookie under mask.
// The reply is built in buf (see newMPReply).
func (t *ofTables) flowStats(buf []byte, xid uint32, table uint8, cookie, mask uint64) []byte {
	size := 0
	for k, v := range t.flows {
		size += flowStatsLen(k, v)
	}
	r := newMPReply(buf, openflow13.MultipartType_Flow, xid, size)
	for k, v := range t.flows {
		if (table == openflow13.OFPTT_ALL || k[0] == table) && flowCookie(v)&mask == cookie&mask {
			r.room(flowStatsLen(k, v))
			r.buf = appendFlowStats(r.buf, k, v)
		}
	}
	return r.finish()
}

// groupDesc is the group-description reply (every part), built in buf
// (see newMPReply).
func (t *ofTables) groupDesc(buf []byte, xid uint32) []byte {
	size := 0
	for _, g := range t.groups {
		size += len(g)
	}
	r := newMPReply(buf, openflow13.MultipartType_GroupDesc, xid, size)
	for _, g := range t.groups {
		r.add(g)
	}
	return r.finish()
}
