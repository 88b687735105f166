package ofctl

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"antrea.io/libOpenflow/openflow13"

	"github.com/nva-project/nva/app/model"
)

// fakeBridge is an in-memory OpenFlow 1.3 switch for unit tests: it keeps
// its flow table, groups and port table across connections (like a bridge
// whose controller restarts), answers what the southbound asks (features,
// port description, roles, flow and group stats, barriers), applies flow
// and group mods (counting them) and refuses ONF bundles, so the southbound
// falls back to plain messages followed by a barrier.
type fakeBridge struct {
	t    testing.TB
	dpid uint64

	mu     sync.Mutex
	ports  map[uint32]string
	flows  map[string]fakeFlow // key: table, priority, match
	groups map[uint32][]byte   // group desc entries
	mods   map[string]int      // "flow add", "flow delete", "group modify", ...
	conn   net.Conn
	// seq is every flow mod, group mod and barrier in arrival order
	// ("flow add", "barrier", ...).
	seq []string
	// tableFeatures are the OFPMP_TABLE_FEATURES entries the bridge
	// answers with (none: an empty answer).
	tableFeatures [][]byte
	// packetOuts are the packet-out messages received.
	packetOuts [][]byte
	// roleMode is how role requests are answered: "" grants them,
	// "error" refuses them (OFPET_ROLE_REQUEST_FAILED), "silent" never
	// answers, "close" closes the connection.
	roleMode string
	// echoRequests counts the echo requests received.
	echoRequests int
	flowReads    int // flow-stats requests answered
	// roleRequests counts the role requests received.
	roleRequests int
	// hold, when set, says of each request whether to hold its replies
	// back and whether to send the held ones after its own (tests of
	// requests sent at once: a held reply waits for a request that a
	// client waiting for that reply first would never send).
	hold func(m []byte) (hold, release bool)
	// portStats are the port statistics the bridge answers with: rx/tx
	// packets, rx/tx bytes, rx/tx dropped, rx/tx errors, by port.
	portStats map[uint32][8]uint64
	// groupStats are the group statistics the bridge answers with, by
	// group: the group's packets, then each bucket's (bytes: 100 a packet).
	groupStats map[uint32][]uint64
	// async is the connection's asynchronous config (OFPT_SET_ASYNC,
	// answered by OFPT_GET_ASYNC_REPLY: packet-in, port-status and
	// flow-removed masks, master then slave; zero answers OVS's OpenFlow
	// 1.3 defaults); setAsyncs counts the set-asyncs received.
	async     [6]uint32
	setAsyncs int
}

type fakeFlow struct {
	table    uint8
	priority uint16
	idle     uint16
	hard     uint16
	flags    uint16
	cookie   uint64
	match    []byte // padded ofp_match
	instr    []byte
	// packets and bytes are the flow's counters (set by tests).
	packets, bytes uint64
}

func newFakeBridge(t testing.TB, dpid uint64, ports map[uint32]string) *fakeBridge {
	b := &fakeBridge{t: t, dpid: dpid, ports: map[uint32]string{}, flows: map[string]fakeFlow{}, groups: map[uint32][]byte{}, mods: map[string]int{}}
	for no, name := range ports {
		b.ports[no] = name
	}
	return b
}

// modCount is how many flow and group mods the bridge has applied.
func (b *fakeBridge) modCount() map[string]int {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[string]int{}
	for k, v := range b.mods {
		out[k] = v
	}
	return out
}

func (b *fakeBridge) flowCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.flows)
}

// statsEntries is the flow table as ofp_flow_stats entries.
func (b *fakeBridge) statsEntries() [][]byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	keys := make([]string, 0, len(b.flows))
	for k := range b.flows {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out [][]byte
	for _, k := range keys {
		f := b.flows[k]
		e := make([]byte, 48, 48+len(f.match)+len(f.instr))
		e[2] = f.table
		binary.BigEndian.PutUint16(e[12:14], f.priority)
		binary.BigEndian.PutUint16(e[14:16], f.idle)
		binary.BigEndian.PutUint16(e[16:18], f.hard)
		binary.BigEndian.PutUint16(e[18:20], f.flags)
		binary.BigEndian.PutUint64(e[24:32], f.cookie)
		binary.BigEndian.PutUint64(e[32:40], f.packets)
		binary.BigEndian.PutUint64(e[40:48], f.bytes)
		e = append(e, f.match...)
		e = append(e, f.instr...)
		binary.BigEndian.PutUint16(e[0:2], uint16(len(e)))
		out = append(out, e)
	}
	return out
}

// connect opens a session to the southbound at addr ("unix:/path") and
// serves it until the connection ends.
func (b *fakeBridge) connect(addr string) {
	b.t.Helper()
	c, err := net.Dial("unix", addr[len("unix:"):])
	if err != nil {
		b.t.Fatalf("fake switch dial %s: %v", addr, err)
	}
	b.mu.Lock()
	b.conn = c
	b.mu.Unlock()
	hello := header(0, 16, 1)
	binary.BigEndian.PutUint16(hello[8:10], 1)  // version bitmap element
	binary.BigEndian.PutUint16(hello[10:12], 8) // its length
	binary.BigEndian.PutUint32(hello[12:16], 1<<openflow13.VERSION)
	b.write(c, hello)
	go b.serve(c)
}

// disconnect closes the current session.
func (b *fakeBridge) disconnect() {
	b.mu.Lock()
	c := b.conn
	b.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

// addPort adds a port and sends OFPT_PORT_STATUS (add) on the session.
func (b *fakeBridge) addPort(no uint32, name string) {
	b.mu.Lock()
	b.ports[no] = name
	c := b.conn
	b.mu.Unlock()
	m := header(openflow13.Type_PortStatus, 80, 0)
	m[8] = openflow13.PR_ADD
	copy(m[16:], portDesc(no, name))
	b.write(c, m)
}

// sequence returns the mods and barriers received so far, and forgets
// them.
func (b *fakeBridge) sequence() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.seq
	b.seq = nil
	return out
}

// sendPacketIn sends an OFPT_PACKET_IN (reason ACTION) from a flow with
// cookie in table tableID, whose match carries in_port and, unless
// metadata is 0, metadata.
func (b *fakeBridge) sendPacketIn(cookie uint64, tableID uint8, inPort uint32, metadata uint64, data []byte) {
	b.sendPacketInReason(1, cookie, tableID, inPort, metadata, data) // OFPR_ACTION
}

// sendPacketInReason is sendPacketIn with another reason (OFPR_*).
func (b *fakeBridge) sendPacketInReason(reason uint8, cookie uint64, tableID uint8, inPort uint32, metadata uint64, data []byte) {
	match := make([]byte, 4, 32)
	binary.BigEndian.PutUint16(match[0:2], openflow13.MatchType_OXM)
	match = binary.BigEndian.AppendUint32(match, 0x80000004) // in_port
	match = binary.BigEndian.AppendUint32(match, inPort)
	if metadata != 0 {
		match = binary.BigEndian.AppendUint32(match, 0x80000408) // metadata
		match = binary.BigEndian.AppendUint64(match, metadata)
	}
	binary.BigEndian.PutUint16(match[2:4], uint16(len(match)))
	for len(match)%8 != 0 {
		match = append(match, 0)
	}
	body := make([]byte, 16, 16+len(match)+2+len(data))
	binary.BigEndian.PutUint32(body[0:4], 0xffffffff)
	binary.BigEndian.PutUint16(body[4:6], uint16(len(data)))
	body[6] = reason
	body[7] = tableID
	binary.BigEndian.PutUint64(body[8:16], cookie)
	body = append(body, match...)
	body = append(body, 0, 0)
	body = append(body, data...)
	m := header(openflow13.Type_PacketIn, 8+len(body), 0)
	copy(m[8:], body)
	b.mu.Lock()
	c := b.conn
	b.mu.Unlock()
	b.write(c, m)
}

// packetOut is a received packet-out: its in_port, actions (raw) and data.
type packetOut struct {
	inPort  uint32
	actions []byte
	data    []byte
}

func (b *fakeBridge) packetOutsReceived() []packetOut {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []packetOut
	for _, m := range b.packetOuts {
		alen := int(binary.BigEndian.Uint16(m[16:18]))
		out = append(out, packetOut{inPort: binary.BigEndian.Uint32(m[12:16]), actions: m[24 : 24+alen], data: m[24+alen:]})
	}
	return out
}

func header(typ uint8, length int, xid uint32) []byte {
	h := make([]byte, length)
	h[0] = openflow13.VERSION
	h[1] = typ
	binary.BigEndian.PutUint16(h[2:4], uint16(length))
	binary.BigEndian.PutUint32(h[4:8], xid)
	return h
}

func portDesc(no uint32, name string) []byte {
	p := make([]byte, 64)
	binary.BigEndian.PutUint32(p[0:4], no)
	copy(p[8:14], []byte{2, 0, 0, 0, 0, byte(no)})
	copy(p[16:32], name)
	binary.BigEndian.PutUint32(p[36:40], openflow13.PS_LIVE)
	return p
}

func (b *fakeBridge) write(c net.Conn, m []byte) {
	if c == nil {
		return
	}
	_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, _ = c.Write(m)
}

func (b *fakeBridge) serve(c net.Conn) {
	defer c.Close()
	var held [][]byte // see hold
	for {
		hdr := make([]byte, 8)
		if _, err := io.ReadFull(c, hdr); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint16(hdr[2:4]))
		if n < 8 {
			return
		}
		m := make([]byte, n)
		copy(m, hdr)
		if _, err := io.ReadFull(c, m[8:]); err != nil {
			return
		}
		rs := b.handle(m)
		b.mu.Lock()
		h := b.hold
		b.mu.Unlock()
		if h != nil {
			hold, release := h(m)
			if hold {
				held = append(held, rs...)
				continue
			}
			if release {
				rs, held = append(rs, held...), nil
			}
		}
		for _, r := range rs {
			b.write(c, r)
		}
	}
}

func (b *fakeBridge) handle(m []byte) [][]byte {
	xid := binary.BigEndian.Uint32(m[4:8])
	reply := func(typ uint8, body []byte) []byte {
		r := header(typ, 8+len(body), xid)
		copy(r[8:], body)
		return r
	}
	switch m[1] {
	case openflow13.Type_EchoRequest:
		b.mu.Lock()
		b.echoRequests++
		b.mu.Unlock()
		return [][]byte{reply(openflow13.Type_EchoReply, m[8:])}
	case openflow13.Type_FeaturesRequest:
		body := make([]byte, 24)
		binary.BigEndian.PutUint64(body[0:8], b.dpid)
		body[12] = 254
		return [][]byte{reply(openflow13.Type_FeaturesReply, body)}
	case openflow13.Type_RoleRequest:
		b.mu.Lock()
		b.roleRequests++
		mode, c := b.roleMode, b.conn
		b.mu.Unlock()
		switch mode {
		case "error":
			body := make([]byte, 4, 4+len(m))
			binary.BigEndian.PutUint16(body[0:2], openflow13.ET_ROLE_REQUEST_FAILED)
			binary.BigEndian.PutUint16(body[2:4], 2) // OFPRRFC_BAD_ROLE
			return [][]byte{reply(openflow13.Type_Error, append(body, m...))}
		case "silent":
			return nil
		case "close":
			if c != nil {
				c.Close()
			}
			return nil
		}
		return [][]byte{reply(openflow13.Type_RoleReply, m[8:])}
	case openflow13.Type_GetAsyncRequest:
		b.mu.Lock()
		a := b.async
		b.mu.Unlock()
		if a == [6]uint32{} {
			a = [6]uint32{0x3, 0, 0x7, 0x7, 0xf, 0}
		}
		body := make([]byte, 24)
		for i, v := range a {
			binary.BigEndian.PutUint32(body[4*i:], v)
		}
		return [][]byte{reply(openflow13.Type_GetAsyncReply, body)}
	case openflow13.Type_SetAsync:
		b.mu.Lock()
		for i := range b.async {
			b.async[i] = binary.BigEndian.Uint32(m[8+4*i:])
		}
		b.setAsyncs++
		b.mu.Unlock()
	case openflow13.Type_BarrierRequest:
		b.mu.Lock()
		b.seq = append(b.seq, "barrier")
		b.mu.Unlock()
		return [][]byte{reply(openflow13.Type_BarrierReply, nil)}
	case openflow13.Type_PacketOut:
		b.mu.Lock()
		b.packetOuts = append(b.packetOuts, append([]byte(nil), m...))
		b.mu.Unlock()
	case openflow13.Type_Experimenter:
		// No ONF bundles here: BAD_REQUEST / BAD_EXPERIMENTER.
		data := m
		if len(data) > 64 {
			data = data[:64]
		}
		body := make([]byte, 4, 4+len(data))
		binary.BigEndian.PutUint16(body[0:2], openflow13.ET_BAD_REQUEST)
		binary.BigEndian.PutUint16(body[2:4], openflow13.BRC_BAD_EXPERIMENTER)
		return [][]byte{reply(openflow13.Type_Error, append(body, data...))}
	case openflow13.Type_MultiPartRequest:
		typ := binary.BigEndian.Uint16(m[8:10])
		var entries [][]byte
		switch typ {
		case openflow13.MultipartType_PortDesc:
			b.mu.Lock()
			for no, name := range b.ports {
				entries = append(entries, portDesc(no, name))
			}
			b.mu.Unlock()
		case openflow13.MultipartType_Flow:
			b.mu.Lock()
			b.flowReads++
			b.mu.Unlock()
			entries = b.statsEntries()
		case openflow13.MultipartType_Port:
			b.mu.Lock()
			for no, v := range b.portStats {
				e := make([]byte, 112)
				binary.BigEndian.PutUint32(e[0:4], no)
				for i, x := range v {
					binary.BigEndian.PutUint64(e[8+8*i:], x)
				}
				entries = append(entries, e)
			}
			b.mu.Unlock()
		case openflow13.MultipartType_Group:
			b.mu.Lock()
			for id, v := range b.groupStats {
				e := make([]byte, 40+16*(len(v)-1))
				binary.BigEndian.PutUint16(e[0:2], uint16(len(e)))
				binary.BigEndian.PutUint32(e[4:8], id)
				binary.BigEndian.PutUint64(e[16:24], v[0])
				binary.BigEndian.PutUint64(e[24:32], v[0]*100)
				for i, x := range v[1:] {
					binary.BigEndian.PutUint64(e[40+16*i:], x)
					binary.BigEndian.PutUint64(e[48+16*i:], x*100)
				}
				entries = append(entries, e)
			}
			b.mu.Unlock()
		case openflow13.MultipartType_GroupDesc:
			b.mu.Lock()
			for _, g := range b.groups {
				entries = append(entries, g)
			}
			b.mu.Unlock()
		case openflow13.MultipartType_TableFeatures:
			b.mu.Lock()
			entries = append(entries, b.tableFeatures...)
			b.mu.Unlock()
		}
		// Parts of at most 64 KiB, all but the last flagged
		// OFPMPF_REPLY_MORE.
		var parts [][]byte
		part := func() []byte {
			body := make([]byte, 8, 1024)
			binary.BigEndian.PutUint16(body[0:2], typ)
			return body
		}
		body := part()
		for _, e := range entries {
			if 8+len(body)+len(e) > 0xffff {
				binary.BigEndian.PutUint16(body[2:4], openflow13.OFPMPF_REPLY_MORE)
				parts = append(parts, reply(openflow13.Type_MultiPartReply, body))
				body = part()
			}
			body = append(body, e...)
		}
		return append(parts, reply(openflow13.Type_MultiPartReply, body))
	case openflow13.Type_FlowMod:
		b.flowMod(m)
	case openflow13.Type_GroupMod:
		b.groupMod(m)
	}
	return nil
}

func (b *fakeBridge) flowMod(m []byte) {
	mlen := int(binary.BigEndian.Uint16(m[50:52]))
	padded := (mlen + 7) / 8 * 8
	f := fakeFlow{
		cookie:   binary.BigEndian.Uint64(m[8:16]),
		table:    m[24],
		idle:     binary.BigEndian.Uint16(m[26:28]),
		hard:     binary.BigEndian.Uint16(m[28:30]),
		priority: binary.BigEndian.Uint16(m[30:32]),
		flags:    binary.BigEndian.Uint16(m[44:46]),
		match:    append([]byte(nil), m[48:48+padded]...),
		instr:    append([]byte(nil), m[48+padded:]...),
	}
	key := string([]byte{f.table, byte(f.priority >> 8), byte(f.priority)}) + string(f.match)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seq = append(b.seq, "flow "+map[uint8]string{openflow13.FC_ADD: "add", openflow13.FC_MODIFY: "modify",
		openflow13.FC_MODIFY_STRICT: "modify", openflow13.FC_DELETE: "delete", openflow13.FC_DELETE_STRICT: "delete"}[m[25]])
	switch m[25] {
	case openflow13.FC_ADD:
		b.mods["flow add"]++
		b.flows[key] = f
	case openflow13.FC_MODIFY, openflow13.FC_MODIFY_STRICT:
		b.mods["flow modify"]++
		if old, ok := b.flows[key]; ok {
			old.instr = f.instr // OpenFlow 1.3: a modify keeps the cookie
			b.flows[key] = old
		}
	case openflow13.FC_DELETE, openflow13.FC_DELETE_STRICT:
		b.mods["flow delete"]++
		delete(b.flows, key)
	}
}

func (b *fakeBridge) groupMod(m []byte) {
	cmd := binary.BigEndian.Uint16(m[8:10])
	id := binary.BigEndian.Uint32(m[12:16])
	e := make([]byte, 8, 8+len(m)-16)
	e[2] = m[10]
	binary.BigEndian.PutUint32(e[4:8], id)
	e = append(e, m[16:]...)
	binary.BigEndian.PutUint16(e[0:2], uint16(len(e)))
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seq = append(b.seq, "group "+map[uint16]string{openflow13.OFPGC_ADD: "add", openflow13.OFPGC_MODIFY: "modify", openflow13.OFPGC_DELETE: "delete"}[cmd])
	switch cmd {
	case openflow13.OFPGC_ADD:
		b.mods["group add"]++
		b.groups[id] = e
	case openflow13.OFPGC_MODIFY:
		b.mods["group modify"]++
		b.groups[id] = e
	case openflow13.OFPGC_DELETE:
		b.mods["group delete"]++
		delete(b.groups, id)
	}
}

// waitCond polls cond until it holds or timeout passes.
func waitCond(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// fakeStore is a store for unit tests: a snapshot the test replaces (with
// an event for each replacement) and leadership, in term 1. As leader it
// is always caught up; see barrierStore for one that is not.
type fakeStore struct {
	mu     sync.Mutex
	snap   *model.Snapshot
	events chan model.Change
	leader bool
}

func newFakeStore(snap *model.Snapshot, leader bool) *fakeStore {
	return &fakeStore{snap: snap, events: make(chan model.Change, 64), leader: leader}
}

func (f *fakeStore) SnapshotAndWatch(context.Context) (*model.Snapshot, <-chan model.Change) {
	return f.Snapshot(), f.events
}
func (f *fakeStore) Snapshot() *model.Snapshot { f.mu.Lock(); defer f.mu.Unlock(); return f.snap }
func (f *fakeStore) IsLeader() bool            { f.mu.Lock(); defer f.mu.Unlock(); return f.leader }
func (f *fakeStore) Term() uint64              { return 1 }
func (f *fakeStore) LeaderReady(context.Context) (uint64, bool, error) {
	return f.Term(), f.IsLeader(), nil
}

// set makes snap current and announces it.
func (f *fakeStore) set(snap *model.Snapshot) {
	f.mu.Lock()
	f.snap = snap
	f.mu.Unlock()
	f.events <- model.Change{Index: snap.Revision, Kind: "port", Op: "put"}
}

// barrierStore is a fakeStore with a Raft term and a barrier that waits
// for the test to open its gate and then applies the rest of the log
// (catchUp), as a restarted node's barrier waits for its log replay.
type barrierStore struct {
	*fakeStore
	gate     chan struct{}
	catchUp  *model.Snapshot
	barriers atomic.Int32
	readyMu  sync.Mutex
	ready    bool
}

func (b *barrierStore) Term() uint64 { return 7 }

// LeaderReady runs the barrier once per term, as the real store does.
func (b *barrierStore) LeaderReady(ctx context.Context) (uint64, bool, error) {
	if !b.IsLeader() {
		return b.Term(), false, nil
	}
	b.readyMu.Lock()
	defer b.readyMu.Unlock()
	if b.ready {
		return b.Term(), true, nil
	}
	if err := b.Barrier(ctx); err != nil {
		return b.Term(), false, err
	}
	b.ready = true
	return b.Term(), true, nil
}

func (b *barrierStore) Barrier(ctx context.Context) error {
	b.barriers.Add(1)
	if !b.IsLeader() {
		return errors.New("not the leader")
	}
	select {
	case <-b.gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	b.mu.Lock()
	snap := b.catchUp
	b.catchUp = nil
	b.mu.Unlock()
	if snap != nil {
		b.set(snap)
	}
	return nil
}
