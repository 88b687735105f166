package fleet

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	"antrea.io/libOpenflow/openflow13"
)

// refTables is the switch's tables as they were kept before ofTables (a
// struct per flow, match and instructions copied, the flow-stats entry
// rendered beside them; a bundle commit copied every flow first): the
// reference the compact tables must agree with, byte for byte.
type refTables struct {
	numTables uint8
	flows     map[string]*refFlow
	groups    map[uint32][]byte
}

type refFlow struct {
	table      uint8
	priority   uint16
	cookie     uint64
	idle, hard uint16
	flags      uint16
	match      []byte
	instr      []byte
	stats      []byte
}

func newRefTables(n uint8) *refTables {
	return &refTables{numTables: n, flows: map[string]*refFlow{}, groups: map[uint32][]byte{}}
}

func (s *refTables) apply(m []byte) (uint16, uint16, bool) {
	if m[1] == openflow13.Type_GroupMod {
		return s.groupMod(m)
	}
	return s.flowMod(m)
}

func refFlowKey(table uint8, priority uint16, match []byte) string {
	b := make([]byte, 3, 3+len(match))
	b[0] = table
	binary.BigEndian.PutUint16(b[1:3], priority)
	return string(append(b, match...))
}

func (f *refFlow) render() {
	e := make([]byte, 48, 48+len(f.match)+len(f.instr))
	e[2] = f.table
	binary.BigEndian.PutUint16(e[12:14], f.priority)
	binary.BigEndian.PutUint16(e[14:16], f.idle)
	binary.BigEndian.PutUint16(e[16:18], f.hard)
	binary.BigEndian.PutUint16(e[18:20], f.flags)
	binary.BigEndian.PutUint64(e[24:32], f.cookie)
	e = append(e, f.match...)
	e = append(e, f.instr...)
	binary.BigEndian.PutUint16(e[0:2], uint16(len(e)))
	f.stats = e
}

func (s *refTables) flowMod(m []byte) (uint16, uint16, bool) {
	if len(m) < 56 {
		return openflow13.ET_BAD_REQUEST, openflow13.BRC_BAD_LEN, false
	}
	mlen := int(binary.BigEndian.Uint16(m[50:52]))
	padded := (mlen + 7) / 8 * 8
	if mlen < 4 || 48+padded > len(m) {
		return openflow13.PET_BAD_MATCH, openflow13.BMC_BAD_LEN, false
	}
	cookie := binary.BigEndian.Uint64(m[8:16])
	cookieMask := binary.BigEndian.Uint64(m[16:24])
	table := m[24]
	priority := binary.BigEndian.Uint16(m[30:32])
	match := m[48 : 48+padded]
	key := refFlowKey(table, priority, match)
	switch m[25] {
	case openflow13.FC_ADD:
		if table >= s.numTables {
			return openflow13.ET_FLOW_MOD_FAILED, openflow13.FMFC_BAD_TABLE_ID, false
		}
		f := &refFlow{
			table: table, priority: priority, cookie: cookie,
			idle: binary.BigEndian.Uint16(m[26:28]), hard: binary.BigEndian.Uint16(m[28:30]),
			flags: binary.BigEndian.Uint16(m[44:46]),
			match: append([]byte(nil), match...), instr: append([]byte(nil), m[48+padded:]...),
		}
		f.render()
		s.flows[key] = f
	case openflow13.FC_MODIFY_STRICT:
		if f, ok := s.flows[key]; ok && f.cookie&cookieMask == cookie&cookieMask {
			f.instr = append([]byte(nil), m[48+padded:]...)
			f.render()
		}
	case openflow13.FC_DELETE_STRICT:
		if f, ok := s.flows[key]; ok && f.cookie&cookieMask == cookie&cookieMask {
			delete(s.flows, key)
		}
	case openflow13.FC_MODIFY, openflow13.FC_DELETE:
		for k, f := range s.flows {
			if (table != openflow13.OFPTT_ALL && f.table != table) || f.cookie&cookieMask != cookie&cookieMask {
				continue
			}
			if mlen > 4 && string(f.match) != string(match) {
				continue
			}
			if m[25] == openflow13.FC_DELETE {
				delete(s.flows, k)
			} else {
				f.instr = append([]byte(nil), m[48+padded:]...)
				f.render()
			}
		}
	default:
		return openflow13.ET_FLOW_MOD_FAILED, openflow13.FMFC_BAD_COMMAND, false
	}
	return 0, 0, true
}

func (s *refTables) groupMod(m []byte) (uint16, uint16, bool) {
	if len(m) < 16 {
		return openflow13.ET_BAD_REQUEST, openflow13.BRC_BAD_LEN, false
	}
	cmd := binary.BigEndian.Uint16(m[8:10])
	id := binary.BigEndian.Uint32(m[12:16])
	e := make([]byte, 8, 8+len(m)-16)
	e[2] = m[10]
	binary.BigEndian.PutUint32(e[4:8], id)
	e = append(e, m[16:]...)
	binary.BigEndian.PutUint16(e[0:2], uint16(len(e)))
	_, exists := s.groups[id]
	switch cmd {
	case openflow13.OFPGC_ADD:
		if exists {
			return openflow13.ET_GROUP_MOD_FAILED, openflow13.GMFC_GROUP_EXISTS, false
		}
		s.groups[id] = e
	case openflow13.OFPGC_MODIFY:
		if !exists {
			return openflow13.ET_GROUP_MOD_FAILED, openflow13.GMFC_UNKNOWN_GROUP, false
		}
		s.groups[id] = e
	case openflow13.OFPGC_DELETE:
		if id == openflow13.OFPG_ALL {
			s.groups = map[uint32][]byte{}
		} else {
			delete(s.groups, id)
		}
	default:
		return openflow13.ET_GROUP_MOD_FAILED, openflow13.GMFC_BAD_COMMAND, false
	}
	return 0, 0, true
}

// commit is the old bundle commit: copy every flow, restore on failure.
func (s *refTables) commit(msgs [][]byte) (uint16, uint16, bool) {
	savedFlows := make(map[string]*refFlow, len(s.flows))
	for k, f := range s.flows {
		cp := *f
		savedFlows[k] = &cp
	}
	savedGroups := make(map[uint32][]byte, len(s.groups))
	for k, g := range s.groups {
		savedGroups[k] = g
	}
	for _, in := range msgs {
		if typ, code, ok := s.apply(in); !ok {
			s.flows, s.groups = savedFlows, savedGroups
			return typ, code, false
		}
	}
	return 0, 0, true
}

// refMultipart is the old split of a multipart reply into messages.
func refMultipart(typ uint16, xid uint32, entries [][]byte) [][]byte {
	var out [][]byte
	send := func(body []byte, more bool) {
		r := header(openflow13.Type_MultiPartReply, 16+len(body), xid)
		binary.BigEndian.PutUint16(r[8:10], typ)
		if more {
			binary.BigEndian.PutUint16(r[10:12], openflow13.OFPMPF_REPLY_MORE)
		}
		copy(r[16:], body)
		out = append(out, r)
	}
	var body []byte
	for _, e := range entries {
		if len(body)+len(e) > maxReplyBody {
			send(body, true)
			body = body[:0]
		}
		body = append(body, e...)
	}
	send(body, false)
	return out
}

// refTableFeatures is the old table-features entry.
func refTableFeatures(id uint8) []byte {
	e := make([]byte, 64)
	binary.BigEndian.PutUint16(e[0:2], 64)
	e[2] = id
	copy(e[8:40], fmt.Sprintf("table%d", id))
	binary.BigEndian.PutUint64(e[40:48], ^uint64(0))
	binary.BigEndian.PutUint64(e[48:56], ^uint64(0))
	binary.BigEndian.PutUint32(e[60:64], 1000000)
	return e
}

// TestTableFeaturesMatchReference: every table's entry is the old one.
func TestTableFeaturesMatchReference(t *testing.T) {
	for id := 0; id < 256; id++ {
		prefix := []byte{1, 2, 3}
		got := appendTableFeatures(prefix, uint8(id))
		if !bytes.Equal(got[:3], prefix) || !bytes.Equal(got[3:], refTableFeatures(uint8(id))) {
			t.Fatalf("table %d: %x, want %x", id, got[3:], refTableFeatures(uint8(id)))
		}
	}
}

// --- a generator of flow and group mods -----------------------------------

// modGen makes flow and group mods from a small space of tables,
// priorities, matches and cookies, so that adds replace, modifies and
// deletes hit, and non-strict ones hit several flows.
type modGen struct{ r *rand.Rand }

func (g modGen) match() []byte {
	fm := openflow13.NewFlowMod()
	switch g.r.IntN(4) {
	case 0: // empty match
	case 1:
		fm.Match.AddField(*openflow13.NewInPortField(uint32(1 + g.r.IntN(4))))
	default:
		fm.Match.AddField(*openflow13.NewInPortField(uint32(1 + g.r.IntN(4))))
		fm.Match.AddField(*openflow13.NewEthDstField([]byte{2, 0, 0, 0, 0, byte(g.r.IntN(3))}, nil))
		fm.Match.AddField(*openflow13.NewMetadataField(uint64(g.r.IntN(2)), nil))
	}
	b, _ := fm.Match.MarshalBinary()
	return b
}

func (g modGen) flowMod() []byte {
	cmds := []uint8{openflow13.FC_ADD, openflow13.FC_ADD, openflow13.FC_ADD, openflow13.FC_MODIFY_STRICT,
		openflow13.FC_DELETE_STRICT, openflow13.FC_MODIFY, openflow13.FC_DELETE, 9}
	cmd := cmds[g.r.IntN(len(cmds))]
	table := uint8(g.r.IntN(3))
	switch g.r.IntN(20) {
	case 0:
		table = 200 // beyond NumTables 10
	case 1:
		table = openflow13.OFPTT_ALL
	}
	match := g.match()
	var instr []byte
	if cmd == openflow13.FC_ADD || cmd == openflow13.FC_MODIFY || cmd == openflow13.FC_MODIFY_STRICT {
		ins := openflow13.NewInstrApplyActions()
		for i := 0; i <= g.r.IntN(3); i++ {
			_ = ins.AddAction(openflow13.NewActionOutput(uint32(g.r.IntN(100))), false)
		}
		instr, _ = ins.MarshalBinary()
	}
	m := header(openflow13.Type_FlowMod, 48+len(match)+len(instr), 0)
	binary.BigEndian.PutUint64(m[8:16], uint64(1+g.r.IntN(3))<<32|uint64(g.r.IntN(2)))
	masks := []uint64{0, ^uint64(0), 0xffffffff00000000}
	binary.BigEndian.PutUint64(m[16:24], masks[g.r.IntN(len(masks))])
	m[24], m[25] = table, cmd
	binary.BigEndian.PutUint16(m[26:28], uint16(g.r.IntN(3)))
	binary.BigEndian.PutUint16(m[28:30], uint16(g.r.IntN(3)))
	binary.BigEndian.PutUint16(m[30:32], uint16(100*g.r.IntN(3)))
	binary.BigEndian.PutUint16(m[44:46], uint16(g.r.IntN(2)))
	copy(m[48:], match)
	copy(m[48+len(match):], instr)
	if g.r.IntN(40) == 0 { // a match length beyond the message
		binary.BigEndian.PutUint16(m[50:52], 400)
	}
	return m
}

func (g modGen) groupMod() []byte {
	gm := openflow13.NewGroupMod()
	gm.GroupId = uint32(1 + g.r.IntN(4))
	gm.Type = openflow13.OFPGT_ALL
	gm.Command = []uint16{openflow13.OFPGC_ADD, openflow13.OFPGC_MODIFY, openflow13.OFPGC_DELETE, 7}[g.r.IntN(4)]
	if gm.Command == openflow13.OFPGC_DELETE && g.r.IntN(5) == 0 {
		gm.GroupId = openflow13.OFPG_ALL
	}
	bk := openflow13.NewBucket()
	bk.AddAction(openflow13.NewActionOutput(uint32(g.r.IntN(10))))
	gm.AddBucket(*bk)
	b, _ := gm.MarshalBinary()
	return b
}

func (g modGen) mod() []byte {
	if g.r.IntN(5) == 0 {
		return g.groupMod()
	}
	return g.flowMod()
}

// sameTables fails unless the compact tables hold exactly the reference's
// flows (by key, flow-stats bytes) and groups.
func sameTables(t *testing.T, step int, got *ofTables, want *refTables) {
	t.Helper()
	if len(got.flows) != len(want.flows) || len(got.groups) != len(want.groups) {
		t.Fatalf("step %d: %d flows %d groups, want %d and %d", step, len(got.flows), len(got.groups), len(want.flows), len(want.groups))
	}
	for k, f := range want.flows {
		v, ok := got.flows[k]
		if !ok {
			t.Fatalf("step %d: flow %x missing", step, k)
		}
		if e := appendFlowStats(nil, k, v); !bytes.Equal(e, f.stats) || len(e) != flowStatsLen(k, v) {
			t.Fatalf("step %d: flow %x: %x, want %x", step, k, e, f.stats)
		}
	}
	for id, g := range want.groups {
		if e := got.groups[id]; !bytes.Equal(e, g) {
			t.Fatalf("step %d: group %d: %x, want %x", step, id, e, g)
		}
	}
}

// TestTablesMatchReference applies the same random (seeded) flow and group
// mods, alone and in bundles, some failing, to the compact tables and to
// the old ones: every error and every table state is the same, bundle
// rollbacks included.
func TestTablesMatchReference(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		g := modGen{rand.New(rand.NewPCG(seed, 7))}
		got := newOFTables(10)
		want := newRefTables(10)
		for step := 0; step < 400; step++ {
			if g.r.IntN(8) == 0 { // a bundle
				var msgs [][]byte
				for i := 0; i < 1+g.r.IntN(12); i++ {
					msgs = append(msgs, g.mod())
				}
				wt, wc, wok := want.commit(msgs)
				got.begin(len(msgs))
				var gt, gc uint16
				gok := true
				for _, m := range msgs {
					if gt, gc, gok, _ = got.apply(m); !gok {
						break
					}
				}
				got.end(!gok)
				if gt != wt || gc != wc || gok != wok {
					t.Fatalf("seed %d step %d: bundle commit %d/%d/%v, want %d/%d/%v", seed, step, gt, gc, gok, wt, wc, wok)
				}
			} else {
				m := g.mod()
				wt, wc, wok := want.apply(m)
				gt, gc, gok, _ := got.apply(m)
				if gt != wt || gc != wc || gok != wok {
					t.Fatalf("seed %d step %d: mod %x: %d/%d/%v, want %d/%d/%v", seed, step, m, gt, gc, gok, wt, wc, wok)
				}
			}
			sameTables(t, step, &got, want)
		}
	}
}

// TestMultipartReplyBytes: a reply built by mpReply is byte for byte the
// messages the old code sent one by one, for small and split replies and
// entries that fill a part exactly.
func TestMultipartReplyBytes(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{0, 1, 5, 730, 3000} {
		var entries [][]byte
		size := 0
		for i := 0; i < n; i++ {
			e := make([]byte, 8*(1+r.IntN(40)))
			binary.BigEndian.PutUint16(e[0:2], uint16(len(e)))
			e[len(e)-1] = byte(i)
			entries = append(entries, e)
			size += len(e)
		}
		want := bytes.Join(refMultipart(openflow13.MultipartType_Flow, 42, entries), nil)
		mp := newMPReply(nil, openflow13.MultipartType_Flow, 42, size)
		for _, e := range entries {
			mp.add(e)
		}
		if got := mp.finish(); !bytes.Equal(got, want) {
			t.Errorf("%d entries: reply of %d bytes differs from the old one of %d", n, len(got), len(want))
		}
	}
	// Entries that fill the first part to exactly maxReplyBody.
	full := [][]byte{make([]byte, maxReplyBody-8), make([]byte, 8), make([]byte, 8)}
	want := bytes.Join(refMultipart(openflow13.MultipartType_GroupDesc, 1, full), nil)
	mp := newMPReply(nil, openflow13.MultipartType_GroupDesc, 1, 0)
	for _, e := range full {
		mp.add(e)
	}
	if got := mp.finish(); !bytes.Equal(got, want) {
		t.Errorf("a full first part: reply differs from the old one")
	}
}

// splitReply parses a multipart reply of one or more messages: every
// message is a multipart reply of typ and xid, every one but the last
// flagged MORE, no body longer than maxReplyBody; it returns the entries.
func splitReply(t *testing.T, b []byte, typ uint16, xid uint32) [][]byte {
	t.Helper()
	var entries [][]byte
	for len(b) > 0 {
		n := int(binary.BigEndian.Uint16(b[2:4]))
		m := b[:n]
		b = b[n:]
		more := binary.BigEndian.Uint16(m[10:12])&openflow13.OFPMPF_REPLY_MORE != 0
		if m[1] != openflow13.Type_MultiPartReply || binary.BigEndian.Uint16(m[8:10]) != typ ||
			binary.BigEndian.Uint32(m[4:8]) != xid || more != (len(b) > 0) || n-16 > maxReplyBody {
			t.Fatalf("reply message header %x (more %v, %d bytes left)", m[:16], more, len(b))
		}
		for body := m[16:]; len(body) > 0; {
			l := int(binary.BigEndian.Uint16(body[0:2]))
			entries = append(entries, body[:l])
			body = body[l:]
		}
	}
	return entries
}

// TestFlowStatsMatchReference: the flow-stats reply of the compact tables
// holds the entries the old tables would have sent, for each table and
// cookie filter.
func TestFlowStatsMatchReference(t *testing.T) {
	g := modGen{rand.New(rand.NewPCG(11, 12))}
	got, want := newOFTables(10), newRefTables(10)
	for i := 0; i < 3000; i++ {
		m := g.flowMod()
		if m[25] == openflow13.FC_ADD && m[24] < 10 {
			want.apply(m)
			got.apply(m)
		}
	}
	tables := []uint8{0, 1, 2, 5, openflow13.OFPTT_ALL}
	filters := [][2]uint64{{0, 0}, {1 << 32, 0xffffffff00000000}, {2<<32 | 1, ^uint64(0)}}
	for _, tb := range tables {
		for _, f := range filters {
			var wantE [][]byte
			for _, fl := range want.flows {
				if (tb == openflow13.OFPTT_ALL || fl.table == tb) && fl.cookie&f[1] == f[0]&f[1] {
					wantE = append(wantE, fl.stats)
				}
			}
			gotE := splitReply(t, got.flowStats(nil, 9, tb, f[0], f[1]), openflow13.MultipartType_Flow, 9)
			sortEntries(wantE)
			sortEntries(gotE)
			if !slices.EqualFunc(gotE, wantE, bytes.Equal) {
				t.Errorf("table %d cookie %#x/%#x: %d entries, want %d (or different bytes)", tb, f[0], f[1], len(gotE), len(wantE))
			}
		}
	}
}

func sortEntries(es [][]byte) {
	sort.Slice(es, func(i, j int) bool { return bytes.Compare(es[i], es[j]) < 0 })
}

// --- benchmarks: 730 flows, as on NVE 0's switch of the scale layout ----

// benchFlowMods is n flow adds shaped like nva's: a match of in_port,
// eth_dst and metadata (or tun_id) and a few actions.
func benchFlowMods(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		fm := openflow13.NewFlowMod()
		fm.Command = openflow13.FC_ADD
		fm.TableId = uint8(i % 8)
		fm.Priority = uint16(100 + i%5)
		fm.Cookie = 0x1234_0000_0000_0000 | uint64(i)
		fm.Match.AddField(*openflow13.NewInPortField(uint32(1 + i%20)))
		fm.Match.AddField(*openflow13.NewEthDstField([]byte{2, 0, 0, byte(i >> 16), byte(i >> 8), byte(i)}, nil))
		fm.Match.AddField(*openflow13.NewMetadataField(uint64(i), nil))
		ins := openflow13.NewInstrApplyActions()
		_ = ins.AddAction(openflow13.NewActionSetField(*openflow13.NewTunnelIdField(uint64(i))), false)
		_ = ins.AddAction(openflow13.NewActionOutput(uint32(1+i%20)), false)
		fm.AddInstruction(ins)
		fm.AddInstruction(openflow13.NewInstrGotoTable(uint8(i%8 + 1)))
		b, err := fm.MarshalBinary()
		if err != nil {
			panic(fmt.Sprint(err))
		}
		out[i] = b
	}
	return out
}

func BenchmarkFlowMods730(b *testing.B) {
	mods := benchFlowMods(730)
	b.ReportAllocs()
	for b.Loop() {
		t := newOFTables(254)
		for _, m := range mods {
			t.apply(m)
		}
	}
}

func BenchmarkFlowMods730Ref(b *testing.B) {
	mods := benchFlowMods(730)
	b.ReportAllocs()
	for b.Loop() {
		t := newRefTables(254)
		for _, m := range mods {
			t.apply(m)
		}
	}
}

func BenchmarkFlowStatsReply730(b *testing.B) {
	t := newOFTables(254)
	for _, m := range benchFlowMods(730) {
		t.apply(m)
	}
	rb := NewReplyBufs()
	b.ReportAllocs()
	for b.Loop() {
		rb.with(func(buf []byte) []byte {
			return t.flowStats(buf, 1, openflow13.OFPTT_ALL, 0x1234_0000_0000_0000, 0xffff_0000_0000_0000)
		})
	}
}

// BenchmarkFlowStatsReply730Ref is the old reply: entries gathered, the
// body appended part by part and each part copied into its message.
func BenchmarkFlowStatsReply730Ref(b *testing.B) {
	t := newRefTables(254)
	for _, m := range benchFlowMods(730) {
		t.apply(m)
	}
	b.ReportAllocs()
	for b.Loop() {
		entries := make([][]byte, 0, len(t.flows))
		for _, f := range t.flows {
			if f.cookie&0xffff_0000_0000_0000 == 0x1234_0000_0000_0000 {
				entries = append(entries, f.stats)
			}
		}
		_ = refMultipart(openflow13.MultipartType_Flow, 1, entries)
	}
}

// BenchmarkBundleCommit730 commits a bundle of 730 modifies into a table
// of 730 flows (the old commit copied every flow first).
func BenchmarkBundleCommit730(b *testing.B) {
	mods := benchFlowMods(730)
	t := newOFTables(254)
	for _, m := range mods {
		t.apply(m)
	}
	b.ReportAllocs()
	for b.Loop() {
		t.begin(len(mods))
		for _, m := range mods {
			t.apply(m)
		}
		t.end(false)
	}
}

func BenchmarkBundleCommit730Ref(b *testing.B) {
	mods := benchFlowMods(730)
	t := newRefTables(254)
	for _, m := range mods {
		t.apply(m)
	}
	b.ReportAllocs()
	for b.Loop() {
		t.commit(mods)
	}
}

// BenchmarkBundleInstall730 is a first install: 730 adds in one bundle
// into empty tables.
func BenchmarkBundleInstall730(b *testing.B) {
	mods := benchFlowMods(730)
	b.ReportAllocs()
	for b.Loop() {
		t := newOFTables(254)
		t.begin(len(mods))
		for _, m := range mods {
			t.apply(m)
		}
		t.end(false)
	}
}

func BenchmarkBundleInstall730Ref(b *testing.B) {
	mods := benchFlowMods(730)
	b.ReportAllocs()
	for b.Loop() {
		newRefTables(254).commit(mods)
	}
}
