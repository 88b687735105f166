package fleet

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"antrea.io/libOpenflow/openflow13"
)

// SwitchOptions configures a simulated switch.
type SwitchOptions struct {
	// Bundles makes the switch accept ONF bundles (Open vSwitch does); a
	// switch without them refuses every experimenter message, as a strict
	// hardware switch would.
	Bundles bool
	// NumTables is n_tables of the features reply and the tables of the
	// table-features reply (default 254, Open vSwitch's).
	NumTables uint8
	// ProbeInterval is the inactivity probe: after this long with nothing
	// received the switch sends an echo request, and after twice this long
	// it drops the connection, as Open vSwitch does (default 5s; negative:
	// no probe).
	ProbeInterval time.Duration
	// Replies is the pool of multipart reply buffers, shared by the
	// switches of a fleet (default: one of the switch's own).
	Replies *ReplyBufs
	// MaxBackoff bounds the wait between reconnect attempts (default 1s).
	MaxBackoff time.Duration
}

// Port is one port of a switch: its OpenFlow number and name.
type Port struct {
	No   uint32
	Name string
}

// SwitchStats is what a switch counted since it was created.
type SwitchStats struct {
	FlowMods, GroupMods uint64 // applied (also inside committed bundles)
	Bundles             uint64 // committed bundles
	Errors              uint64 // OFPT_ERROR messages the switch sent
	Connects            uint64 // handshakes completed (hello and features)
	// Dropped counts connections that ended without the fleet closing
	// them: the controller closed or reset it, or the inactivity probe
	// expired (also counted in ProbeTimeouts).
	Dropped, ProbeTimeouts uint64
	// MaxSilence is the longest gap on an established connection with
	// nothing received from the controller.
	MaxSilence time.Duration
}

// Switch is a simulated OpenFlow 1.3 switch: one flow table and group
// table (kept across connections, like a bridge whose controller
// restarts), its ports, and one connection per controller target.
type Switch struct {
	opts SwitchOptions
	dpid atomic.Uint64

	mu      sync.Mutex
	ports   map[uint32]string
	tab     ofTables           // flows and groups
	targets map[string]*target // controller target -> its dial loop
	closed  bool

	flowMods, groupMods, bundles, errs atomic.Uint64
	connects, dropped, probeTimeouts   atomic.Uint64
	maxSilence                         atomic.Int64
}

type target struct {
	addr   string
	cancel context.CancelFunc
	done   chan struct{}

	mu   sync.Mutex
	conn *ofConn // nil while not connected
}

// NewSwitch returns a switch with datapath ID dpid (0: not known yet, see
// SetDatapathID) and no ports and no controllers.
func NewSwitch(dpid uint64, opts SwitchOptions) *Switch {
	if opts.NumTables == 0 {
		opts.NumTables = 254
	}
	if opts.ProbeInterval == 0 {
		opts.ProbeInterval = 5 * time.Second
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = time.Second
	}
	if opts.Replies == nil {
		opts.Replies = NewReplyBufs()
	}
	s := &Switch{opts: opts, ports: map[uint32]string{}, tab: newOFTables(opts.NumTables),
		targets: map[string]*target{}}
	s.dpid.Store(dpid)
	return s
}

// DatapathID is the switch's datapath ID (0: not known yet).
func (s *Switch) DatapathID() uint64 { return s.dpid.Load() }

// SetDatapathID changes the datapath ID; open connections are closed (by
// the fleet, not counted as dropped) so that they reconnect under the new
// one.
func (s *Switch) SetDatapathID(dpid uint64) {
	if s.dpid.Swap(dpid) == dpid {
		return
	}
	s.reconnect()
}

// reconnect closes the open connections (by the fleet: not counted as
// dropped); the dial loops connect again.
func (s *Switch) reconnect() {
	s.mu.Lock()
	ts := make([]*target, 0, len(s.targets))
	for _, t := range s.targets {
		ts = append(ts, t)
	}
	s.mu.Unlock()
	for _, t := range ts {
		t.mu.Lock()
		if t.conn != nil {
			t.conn.closeLocal()
		}
		t.mu.Unlock()
	}
}

// SetControllers makes the switch keep one connection to each target
// ("tcp:HOST:PORT" or "HOST:PORT"), dialing again after each loss, and
// closes the connections to targets no longer listed. Nothing is dialed
// while the datapath ID is 0.
func (s *Switch) SetControllers(targets []string) {
	want := map[string]bool{}
	for _, t := range targets {
		want[t] = true
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	var stop []*target
	for addr, t := range s.targets {
		if !want[addr] {
			stop = append(stop, t)
			delete(s.targets, addr)
		}
	}
	for addr := range want {
		if _, ok := s.targets[addr]; ok {
			continue
		}
		ctx, cancel := context.WithCancel(context.Background())
		t := &target{addr: addr, cancel: cancel, done: make(chan struct{})}
		s.targets[addr] = t
		go s.dialLoop(ctx, t)
	}
	s.mu.Unlock()
	for _, t := range stop {
		t.stop()
	}
}

func (t *target) stop() {
	t.cancel()
	t.mu.Lock()
	if t.conn != nil {
		t.conn.closeLocal()
	}
	t.mu.Unlock()
	<-t.done
}

// Close closes every connection and stops dialing.
func (s *Switch) Close() {
	s.mu.Lock()
	s.closed = true
	ts := s.targets
	s.targets = map[string]*target{}
	s.mu.Unlock()
	for _, t := range ts {
		t.stop()
	}
}

// Connected is how many controller connections have completed the
// handshake and are open.
func (s *Switch) Connected() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, t := range s.targets {
		t.mu.Lock()
		if t.conn != nil && t.conn.ready.Load() {
			n++
		}
		t.mu.Unlock()
	}
	return n
}

// Stats returns the switch's counters.
func (s *Switch) Stats() SwitchStats {
	return SwitchStats{
		FlowMods: s.flowMods.Load(), GroupMods: s.groupMods.Load(), Bundles: s.bundles.Load(),
		Errors: s.errs.Load(), Connects: s.connects.Load(), Dropped: s.dropped.Load(),
		ProbeTimeouts: s.probeTimeouts.Load(), MaxSilence: time.Duration(s.maxSilence.Load()),
	}
}

// Tables returns how many flows and groups the switch holds.
func (s *Switch) Tables() (flows, groups int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.tab.flows), len(s.tab.groups)
}

// Restart is a restart of the switch: its flow and group tables are
// emptied and its connections closed (by the fleet: not counted as
// dropped); it connects again at once.
func (s *Switch) Restart() {
	s.mu.Lock()
	s.tab.reset()
	s.mu.Unlock()
	s.reconnect()
}

// Ports returns the switch's ports, by number.
func (s *Switch) Ports() []Port {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Port, 0, len(s.ports))
	for no, name := range s.ports {
		out = append(out, Port{No: no, Name: name})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].No < out[j].No })
	return out
}

// SetPorts replaces the port table and sends a port-status message for
// every port added, removed or renamed on every open connection.
func (s *Switch) SetPorts(ports []Port) {
	want := map[uint32]string{}
	for _, p := range ports {
		want[p.No] = p.Name
	}
	var msgs [][]byte
	s.mu.Lock()
	for no, name := range s.ports {
		if w, ok := want[no]; !ok || w != name {
			msgs = append(msgs, portStatus(openflow13.PR_DELETE, no, name))
		}
	}
	for no, name := range want {
		if old, ok := s.ports[no]; !ok || old != name {
			msgs = append(msgs, portStatus(openflow13.PR_ADD, no, name))
		}
	}
	s.ports = want
	conns := s.connsLocked()
	s.mu.Unlock()
	for _, c := range conns {
		for _, m := range msgs {
			c.send(m)
		}
	}
}

func (s *Switch) connsLocked() []*ofConn {
	var out []*ofConn
	for _, t := range s.targets {
		t.mu.Lock()
		if t.conn != nil && t.conn.ready.Load() {
			out = append(out, t.conn)
		}
		t.mu.Unlock()
	}
	return out
}

// dialLoop keeps one connection to t.addr until ctx ends.
func (s *Switch) dialLoop(ctx context.Context, t *target) {
	defer close(t.done)
	addr := strings.TrimPrefix(t.addr, "tcp:")
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		if s.dpid.Load() == 0 {
			if !sleepCtx(ctx, 100*time.Millisecond) {
				return
			}
			continue
		}
		d := net.Dialer{Timeout: 5 * time.Second}
		nc, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			if !sleepCtx(ctx, backoff) {
				return
			}
			backoff = min(2*backoff, s.opts.MaxBackoff)
			continue
		}
		c := newOFConn(s, nc)
		t.mu.Lock()
		t.conn = c
		t.mu.Unlock()
		if ctx.Err() != nil { // stopped while dialing
			c.closeLocal()
		}
		c.serve()
		t.mu.Lock()
		t.conn = nil
		t.mu.Unlock()
		if c.wasReady() {
			backoff = 50 * time.Millisecond
		}
		if !sleepCtx(ctx, backoff) {
			return
		}
		backoff = min(2*backoff, s.opts.MaxBackoff)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// --- one controller connection ------------------------------------------

// Controller roles (ofp_controller_role).
const (
	roleNoChange = 0
	roleEqual    = 1
	roleMaster   = 2
	roleSlave    = 3
)

type ofConn struct {
	s  *Switch
	nc net.Conn

	wmu      sync.Mutex
	ready    atomic.Bool // hello exchanged and features answered
	local    atomic.Bool // closed by the fleet
	lastRecv atomic.Int64
	role     atomic.Uint32
	xid      atomic.Uint32
	bundles  map[uint32]*bundleMsgs // open bundle -> its inner messages (reader goroutine only)
	readyOne atomic.Bool
}

func newOFConn(s *Switch, nc net.Conn) *ofConn {
	c := &ofConn{s: s, nc: nc, bundles: map[uint32]*bundleMsgs{}}
	c.role.Store(roleEqual)
	return c
}

func (c *ofConn) closeLocal() {
	c.local.Store(true)
	c.nc.Close()
}

func (c *ofConn) wasReady() bool { return c.readyOne.Load() }

func (c *ofConn) send(m []byte) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.nc.Write(m); err != nil {
		c.nc.Close()
	}
}

// serve runs the connection until it ends and counts how it ended.
func (c *ofConn) serve() {
	defer c.nc.Close()
	c.lastRecv.Store(time.Now().UnixNano())
	done := make(chan struct{})
	defer close(done)
	probeExpired := atomic.Bool{}
	if p := c.s.opts.ProbeInterval; p > 0 {
		go func() {
			t := time.NewTicker(p / 5)
			defer t.Stop()
			probed := false
			for {
				select {
				case <-done:
					return
				case now := <-t.C:
					idle := now.Sub(time.Unix(0, c.lastRecv.Load()))
					switch {
					case idle >= 2*p:
						probeExpired.Store(true)
						c.nc.Close()
						return
					case idle >= p && !probed:
						probed = true
						c.send(header(openflow13.Type_EchoRequest, 8, c.nextXid()))
					case idle < p:
						probed = false
					}
				}
			}
		}()
	}
	hello := header(openflow13.Type_Hello, 16, c.nextXid())
	binary.BigEndian.PutUint16(hello[8:10], 1) // OFPHET_VERSIONBITMAP
	binary.BigEndian.PutUint16(hello[10:12], 8)
	binary.BigEndian.PutUint32(hello[12:16], 1<<openflow13.VERSION)
	c.send(hello)
	err := c.readLoop()
	switch {
	case c.local.Load():
	case probeExpired.Load():
		c.s.probeTimeouts.Add(1)
		c.s.dropped.Add(1)
	case c.readyOne.Load() || !errors.Is(err, io.EOF):
		c.s.dropped.Add(1)
	}
	c.ready.Store(false)
}

func (c *ofConn) nextXid() uint32 { return 0x80000000 | c.xid.Add(1) }

// readBufSize is the read buffer of a connection: nva writes flow mods
// and bundle adds in chunks, and one read takes many of them.
const readBufSize = 8 << 10

func (c *ofConn) readLoop() error {
	br := bufio.NewReaderSize(c.nc, readBufSize)
	for {
		// A message already in the buffer arrived with the read that
		// brought the one before: only a read stamps the time received.
		read := br.Buffered() < 8
		hdr, err := br.Peek(8)
		if err != nil {
			if len(hdr) > 0 && errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		if read {
			c.received()
		}
		n := int(binary.BigEndian.Uint16(hdr[2:4]))
		if n < 8 {
			return fmt.Errorf("message length %d", n)
		}
		// The message is read in place when it fits the buffer (handle
		// keeps no reference to it), else into its own slice.
		// (An end right after the header is io.EOF, within the body
		// io.ErrUnexpectedEOF, as io.ReadFull of the body would say.)
		var m []byte
		if n <= br.Size() {
			if m, err = br.Peek(n); err != nil {
				return bodyEOF(err, len(m) > 8)
			}
		} else {
			m = make([]byte, n)
			if k, err := io.ReadFull(br, m); err != nil {
				return bodyEOF(err, k > 8)
			}
		}
		if m[0] != openflow13.VERSION {
			if m[1] != openflow13.Type_Hello {
				c.sendError(m, openflow13.ET_BAD_REQUEST, openflow13.BRC_BAD_VERSION)
				return fmt.Errorf("version %d", m[0])
			}
			// a hello of another version; the bitmap in ours says 1.3
		} else {
			c.handle(m)
		}
		if n <= br.Size() {
			_, _ = br.Discard(n)
		}
	}
}

// received stamps the time something was received and keeps the longest
// silence.
func (c *ofConn) received() {
	now := time.Now().UnixNano()
	if gap := time.Duration(now - c.lastRecv.Swap(now)); c.ready.Load() && gap > time.Duration(c.s.maxSilence.Load()) {
		c.s.maxSilence.Store(int64(gap)) // racy max across switches' conns is fine: per switch, one reader updates at a time
	}
}

func bodyEOF(err error, partial bool) error {
	if partial && (err == io.EOF || err == io.ErrUnexpectedEOF) {
		return io.ErrUnexpectedEOF
	}
	if err == io.ErrUnexpectedEOF {
		return io.EOF
	}
	return err
}

func (c *ofConn) reply(req []byte, typ uint8, body []byte) {
	r := header(typ, 8+len(body), binary.BigEndian.Uint32(req[4:8]))
	copy(r[8:], body)
	c.send(r)
}

func (c *ofConn) sendError(req []byte, typ, code uint16) {
	c.s.errs.Add(1)
	data := req
	if len(data) > 64 {
		data = data[:64]
	}
	body := make([]byte, 4, 4+len(data))
	binary.BigEndian.PutUint16(body[0:2], typ)
	binary.BigEndian.PutUint16(body[2:4], code)
	c.reply(req, openflow13.Type_Error, append(body, data...))
}

func (c *ofConn) handle(m []byte) {
	s := c.s
	switch m[1] {
	case openflow13.Type_Hello, openflow13.Type_EchoReply, openflow13.Type_SetConfig, openflow13.Type_PacketOut,
		openflow13.Type_SetAsync, openflow13.Type_Error:
	case openflow13.Type_EchoRequest:
		c.reply(m, openflow13.Type_EchoReply, m[8:])
	case openflow13.Type_FeaturesRequest:
		body := make([]byte, 24)
		binary.BigEndian.PutUint64(body[0:8], s.dpid.Load())
		body[12] = s.opts.NumTables
		binary.BigEndian.PutUint32(body[16:20], openflow13.C_FLOW_STATS|openflow13.C_TABLE_STATS|openflow13.C_PORT_STATS|openflow13.C_GROUP_STATS)
		// Counted before the reply goes out: whoever reads the reply
		// then sees the connection counted.
		if !c.ready.Swap(true) {
			c.readyOne.Store(true)
			s.connects.Add(1)
		}
		c.reply(m, openflow13.Type_FeaturesReply, body)
	case openflow13.Type_GetConfigRequest:
		body := make([]byte, 4)
		binary.BigEndian.PutUint16(body[2:4], 0xffff)
		c.reply(m, openflow13.Type_GetConfigReply, body)
	case openflow13.Type_RoleRequest:
		c.roleRequest(m)
	case openflow13.Type_BarrierRequest:
		c.reply(m, openflow13.Type_BarrierReply, nil)
	case openflow13.Type_MultiPartRequest:
		c.multipart(m)
	case openflow13.Type_FlowMod, openflow13.Type_GroupMod:
		if c.role.Load() == roleSlave {
			c.sendError(m, openflow13.ET_BAD_REQUEST, openflow13.BRC_IS_SLAVE)
			return
		}
		s.mu.Lock()
		typ, code, ok := s.applyLocked(m)
		s.mu.Unlock()
		if !ok {
			c.sendError(m, typ, code)
		}
	case openflow13.Type_Experimenter:
		c.experimenter(m)
	default:
		c.sendError(m, openflow13.ET_BAD_REQUEST, openflow13.BRC_BAD_TYPE)
	}
}

func (c *ofConn) roleRequest(m []byte) {
	if len(m) < 24 {
		c.sendError(m, openflow13.ET_BAD_REQUEST, openflow13.BRC_BAD_LEN)
		return
	}
	role := binary.BigEndian.Uint32(m[8:12])
	switch role {
	case roleNoChange:
	case roleEqual, roleSlave:
		c.role.Store(role)
	case roleMaster:
		// One master at a time: the others become slaves.
		c.s.mu.Lock()
		for _, o := range c.s.connsLocked() {
			if o != c && o.role.Load() == roleMaster {
				o.role.Store(roleSlave)
			}
		}
		c.s.mu.Unlock()
		c.role.Store(roleMaster)
	default:
		c.sendError(m, openflow13.ET_ROLE_REQUEST_FAILED, rrfcBadRole)
		return
	}
	body := make([]byte, 16)
	binary.BigEndian.PutUint32(body[0:4], c.role.Load())
	copy(body[8:16], m[16:24])
	c.reply(m, openflow13.Type_RoleReply, body)
}

// applyLocked applies a flow or group mod to the tables and counts it;
// on failure it returns the error type and code to send.
func (s *Switch) applyLocked(m []byte) (uint16, uint16, bool) {
	typ, code, ok, counted := s.tab.apply(m)
	if counted {
		if m[1] == openflow13.Type_GroupMod {
			s.groupMods.Add(1)
		} else {
			s.flowMods.Add(1)
		}
	}
	return typ, code, ok
}

// --- multipart ------------------------------------------------------------

func (c *ofConn) multipart(m []byte) {
	if len(m) < 16 {
		c.sendError(m, openflow13.ET_BAD_REQUEST, openflow13.BRC_BAD_LEN)
		return
	}
	typ := binary.BigEndian.Uint16(m[8:10])
	xid := binary.BigEndian.Uint32(m[4:8])
	s := c.s
	var entries [][]byte
	switch typ {
	case openflow13.MultipartType_Desc:
		d := make([]byte, 1056)
		copy(d[0:], "nva fleet")
		copy(d[256:], "simulated OpenFlow 1.3 switch")
		copy(d[512:], "internal/fleet")
		copy(d[768:], fmt.Sprintf("%016x", s.dpid.Load()))
		copy(d[800:], "simulated")
		entries = [][]byte{d}
	case openflow13.MultipartType_PortDesc:
		for _, p := range s.Ports() {
			entries = append(entries, portDesc(p.No, p.Name))
		}
	case openflow13.MultipartType_Flow:
		if len(m) < 56 {
			c.sendError(m, openflow13.ET_BAD_REQUEST, openflow13.BRC_BAD_LEN)
			return
		}
		table := m[16]
		cookie := binary.BigEndian.Uint64(m[32:40])
		mask := binary.BigEndian.Uint64(m[40:48])
		s.opts.Replies.with(func(buf []byte) []byte {
			s.mu.Lock()
			r := s.tab.flowStats(buf, xid, table, cookie, mask)
			s.mu.Unlock()
			c.send(r)
			return r
		})
		return
	case openflow13.MultipartType_GroupDesc:
		s.opts.Replies.with(func(buf []byte) []byte {
			s.mu.Lock()
			r := s.tab.groupDesc(buf, xid)
			s.mu.Unlock()
			c.send(r)
			return r
		})
		return
	case openflow13.MultipartType_TableFeatures:
		if len(m) > 16 { // setting the tables is not supported
			c.sendError(m, openflow13.ET_TABLE_FEATURES_FAILED, tffcEperm)
			return
		}
		s.opts.Replies.with(func(buf []byte) []byte {
			r := newMPReply(buf, typ, xid, 64*int(s.opts.NumTables))
			for t := 0; t < int(s.opts.NumTables); t++ {
				r.room(64)
				r.buf = appendTableFeatures(r.buf, uint8(t))
			}
			b := r.finish()
			c.send(b)
			return b
		})
		return
	default:
		c.sendError(m, openflow13.ET_BAD_REQUEST, openflow13.BRC_BAD_MULTIPART)
		return
	}
	size := 0
	for _, e := range entries {
		size += len(e)
	}
	r := newMPReply(nil, typ, xid, size)
	for _, e := range entries {
		r.add(e)
	}
	c.send(r.finish())
}

// appendTableFeatures appends one ofp_table_features entry without
// properties (the controller then checks nothing it would read from them).
func appendTableFeatures(b []byte, id uint8) []byte {
	off := len(b)
	b = append(b, make([]byte, 64)...)
	e := b[off:]
	binary.BigEndian.PutUint16(e[0:2], 64)
	e[2] = id
	copy(e[8:40], "table")
	_ = strconv.AppendUint(e[13:13:40], uint64(id), 10) // in place: at most 3 digits
	binary.BigEndian.PutUint64(e[40:48], ^uint64(0))
	binary.BigEndian.PutUint64(e[48:56], ^uint64(0))
	binary.BigEndian.PutUint32(e[60:64], 1000000)
	return b
}

// --- ONF bundles (OpenFlow 1.3 extension 230) -----------------------------

const (
	onfExperimenter   = 0x4f4e4600
	onftBundleControl = 2300
	onftBundleAdd     = 2301

	bundleOpenRequest    = 0
	bundleCloseRequest   = 2
	bundleCommitRequest  = 4
	bundleDiscardRequest = 6
)

func (c *ofConn) experimenter(m []byte) {
	if !c.s.opts.Bundles || len(m) < 24 || binary.BigEndian.Uint32(m[8:12]) != onfExperimenter {
		c.sendError(m, openflow13.ET_BAD_REQUEST, openflow13.BRC_BAD_EXPERIMENTER)
		return
	}
	id := binary.BigEndian.Uint32(m[16:20])
	switch binary.BigEndian.Uint32(m[12:16]) {
	case onftBundleAdd:
		inner := m[24:]
		if _, ok := c.bundles[id]; !ok || len(inner) < 8 || (inner[1] != openflow13.Type_FlowMod && inner[1] != openflow13.Type_GroupMod) {
			c.sendError(m, openflow13.ET_BAD_REQUEST, openflow13.BRC_BAD_TYPE)
			return
		}
		if c.role.Load() == roleSlave {
			c.sendError(m, openflow13.ET_BAD_REQUEST, openflow13.BRC_IS_SLAVE)
			return
		}
		c.bundles[id].add(inner)
	case onftBundleControl:
		typ := binary.BigEndian.Uint16(m[20:22])
		_, open := c.bundles[id]
		switch typ {
		case bundleOpenRequest:
			if open {
				c.sendError(m, openflow13.ET_BAD_REQUEST, openflow13.BRC_EPERM)
				return
			}
			c.bundles[id] = &bundleMsgs{}
		case bundleCloseRequest:
		case bundleDiscardRequest:
			delete(c.bundles, id)
		case bundleCommitRequest:
			if !open {
				c.sendError(m, openflow13.ET_BAD_REQUEST, openflow13.BRC_EPERM)
				return
			}
			msgs := c.bundles[id]
			delete(c.bundles, id)
			if !c.commit(msgs) {
				c.sendError(m, openflow13.ET_BAD_REQUEST, openflow13.BRC_EPERM)
				return
			}
		default:
			c.sendError(m, openflow13.ET_BAD_REQUEST, openflow13.BRC_BAD_TYPE)
			return
		}
		r := append([]byte(nil), m[:24]...)
		binary.BigEndian.PutUint16(r[20:22], typ+1) // the reply of each request is the next type
		binary.BigEndian.PutUint16(r[2:4], 24)
		c.send(r)
	default:
		c.sendError(m, openflow13.ET_BAD_REQUEST, openflow13.BRC_BAD_EXP_TYPE)
	}
}

// bundleMsgs is a bundle's inner messages, one after the other in one
// buffer, each after its length (4 bytes).
type bundleMsgs struct {
	buf []byte
	n   int // messages
}

func (b *bundleMsgs) add(m []byte) {
	b.n++
	b.buf = binary.BigEndian.AppendUint32(b.buf, uint32(len(m)))
	b.buf = append(b.buf, m...)
}

// each calls f with each message in order until f returns false.
func (b *bundleMsgs) each(f func(m []byte) bool) {
	for off := 0; off < len(b.buf); {
		n := int(binary.BigEndian.Uint32(b.buf[off:]))
		m := b.buf[off+4 : off+4+n]
		off += 4 + n
		if !f(m) {
			return
		}
	}
}

// commit applies a bundle's messages all or nothing: on the first that
// fails, the tables are restored and that message's error is sent.
func (c *ofConn) commit(msgs *bundleMsgs) bool {
	s := c.s
	s.mu.Lock()
	s.tab.begin(msgs.n)
	var failed []byte
	var typ, code uint16
	msgs.each(func(in []byte) bool {
		var ok bool
		if typ, code, ok = s.applyLocked(in); !ok {
			failed = in
		}
		return ok
	})
	s.tab.end(failed != nil)
	s.mu.Unlock()
	if failed != nil {
		c.sendError(failed, typ, code)
		return false
	}
	s.bundles.Add(1)
	return true
}

// --- encoding helpers -----------------------------------------------------

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
	copy(p[8:14], []byte{0x02, 0xfe, byte(no >> 24), byte(no >> 16), byte(no >> 8), byte(no)})
	copy(p[16:31], name)
	binary.BigEndian.PutUint32(p[36:40], openflow13.PS_LIVE)
	binary.BigEndian.PutUint32(p[40:44], openflow13.PF_10GB_FD|openflow13.PF_COPPER)
	binary.BigEndian.PutUint32(p[56:60], 10000000)
	binary.BigEndian.PutUint32(p[60:64], 10000000)
	return p
}

func portStatus(reason uint8, no uint32, name string) []byte {
	m := header(openflow13.Type_PortStatus, 80, 0)
	m[8] = reason
	copy(m[16:], portDesc(no, name))
	return m
}

// Error codes libOpenflow does not name.
const (
	rrfcBadRole = 2 // OFPRRFC_BAD_ROLE
	tffcEperm   = 5 // OFPTFFC_EPERM
)
