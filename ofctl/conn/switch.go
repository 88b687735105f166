package conn

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"antrea.io/libOpenflow/openflow13"
	"antrea.io/libOpenflow/util"
)

// maxPendingErrors bounds the errors kept for a Barrier that nobody sends.
const maxPendingErrors = 4096

// maxMultipartBytes bounds one accumulated multipart reply.
const maxMultipartBytes = 256 << 20

type callKind uint8

const (
	kindReply     callKind = iota // one reply message of type want
	kindMultipart                 // multipart replies of mpType until !MORE
	kindBarrier                   // barrier reply; collects its epoch's errors
	kindSink                      // never answered; collects errors for its xids
)

// call is an outstanding request (a future).
type call struct {
	xid    uint32
	kind   callKind
	want   uint8  // kindReply: expected reply type (Type_Experimenter matches any experimenter)
	mpType uint16 // kindMultipart
	// kindMultipart: the reply parts' bodies as received (each a slice
	// of its frame: nothing is copied while a large reply comes in) and
	// their total size.
	parts [][]byte
	size  int
	errs  []*OFError
	raw   []byte
	err   error
	done  chan struct{}
	// onComplete runs in the reader goroutine, before done is closed,
	// so that its effects are ordered with later messages.
	onComplete func(c *call)
}

// Switch is one connected OpenFlow 1.3 switch. All methods are safe for
// concurrent use.
type Switch struct {
	conn net.Conn
	opts Options
	log  *slog.Logger

	wmu     sync.Mutex // serializes xid allocation and writes: wire order == xid order
	nextXid uint32

	mu        sync.Mutex
	calls     map[uint32]*call
	barriers  []*call // pending barriers in xid (wire) order
	openErrs  []*OFError
	dropped   uint64
	features  Features
	ports     map[uint32]PortInfo
	numbers   map[string]uint32 // ports by name, built from ports on demand (nil: build it)
	subs      map[int]func(PortEvent)
	subSeq    int
	errState  ErrorState
	err       error
	closeOnce sync.Once
	done      chan struct{}

	lastRecv   atomic.Int64 // unix nanoseconds
	nextBundle atomic.Uint32
	events     *eventQueue
	pins       packetIns
	pktOuts    xidRing // guarded by mu
	// echoWaiting counts the echo replies waiting for the write lock
	// (see replyEcho): the reader never waits for it.
	echoWaiting atomic.Int32
	// raw writes to conn without waiting when it is an operating system
	// socket (TCP, unix), for keepalive writes (writeNowUnlock); nil
	// otherwise. Used with wmu held.
	raw *nbWriter
}

func newSwitch(c net.Conn, opts Options) *Switch {
	opts = opts.withDefaults()
	s := &Switch{
		conn:    c,
		opts:    opts,
		log:     opts.Logger.With("remote", c.RemoteAddr().String()),
		calls:   make(map[uint32]*call),
		ports:   make(map[uint32]PortInfo),
		subs:    make(map[int]func(PortEvent)),
		done:    make(chan struct{}),
		events:  newEventQueue(),
		nextXid: 0x10000,
	}
	s.raw = newNBWriter(c)
	s.lastRecv.Store(time.Now().UnixNano())
	return s
}

// DPID is the datapath ID from the FEATURES_REPLY.
func (s *Switch) DPID() uint64 { s.mu.Lock(); defer s.mu.Unlock(); return s.features.DPID }

// Features returns the switch's FEATURES_REPLY.
func (s *Switch) Features() Features { s.mu.Lock(); defer s.mu.Unlock(); return s.features }

// RemoteAddr is the switch's address.
func (s *Switch) RemoteAddr() net.Addr { return s.conn.RemoteAddr() }

// String identifies the switch in logs.
func (s *Switch) String() string {
	return fmt.Sprintf("dpid=%016x@%s", s.DPID(), s.RemoteAddr())
}

// Done is closed when the connection has ended.
func (s *Switch) Done() <-chan struct{} { return s.done }

// Err returns why the connection ended, or nil while it is up.
func (s *Switch) Err() error {
	select {
	case <-s.done:
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.err
	default:
		return nil
	}
}

// Close ends the connection. Pending calls fail with ErrClosed.
func (s *Switch) Close() error {
	s.closeWith(fmt.Errorf("%w by controller", ErrClosed))
	return nil
}

// ErrorState returns the count and text of the OpenFlow errors received.
func (s *Switch) ErrorState() ErrorState { s.mu.Lock(); defer s.mu.Unlock(); return s.errState }

// Ports returns a copy of the port table, keyed by port number.
func (s *Switch) Ports() map[uint32]PortInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[uint32]PortInfo, len(s.ports))
	for k, v := range s.ports {
		out[k] = v
	}
	return out
}

// PortNumbers returns the switch's port numbers by port name, without
// the reserved ports (LOCAL and above OFPP_MAX). The map is shared until
// the port table next changes: read only.
func (s *Switch) PortNumbers() map[string]uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.numbers == nil {
		s.numbers = make(map[string]uint32, len(s.ports))
		for no, p := range s.ports {
			if no != 0 && no <= openflow13.P_MAX {
				s.numbers[p.Name] = no
			}
		}
	}
	return s.numbers
}

// PortByName looks a port up by name.
func (s *Switch) PortByName(name string) (PortInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.ports {
		if p.Name == name {
			return p, true
		}
	}
	return PortInfo{}, false
}

// SubscribePorts calls fn for every later port-status event of this switch,
// in arrival order, on the switch's event goroutine (fn must not block for
// long). The returned function cancels the subscription.
func (s *Switch) SubscribePorts(fn func(PortEvent)) (cancel func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.subSeq
	s.subSeq++
	s.subs[id] = fn
	return func() { s.mu.Lock(); delete(s.subs, id); s.mu.Unlock() }
}

func closedErr(cause error) error {
	if cause == nil || errors.Is(cause, ErrClosed) {
		if cause == nil {
			return ErrClosed
		}
		return cause
	}
	return fmt.Errorf("%w: %w", ErrClosed, cause)
}

func (s *Switch) closeWith(cause error) {
	s.closeOnce.Do(func() {
		_ = s.conn.Close()
		s.mu.Lock()
		s.err = closedErr(cause)
		calls := s.calls
		s.calls = make(map[uint32]*call)
		s.barriers = nil
		s.mu.Unlock()
		seen := map[*call]bool{}
		for _, c := range calls {
			if !seen[c] && c.kind != kindSink {
				seen[c] = true
				c.err = s.err
				close(c.done)
			}
		}
		close(s.done)
		s.events.close()
		s.log.Info("openflow connection closed", "dpid", fmt.Sprintf("%016x", s.DPID()), "cause", cause)
	})
}

// --- writing ----------------------------------------------------------------

// writeLocked writes b; the caller holds wmu.
func (s *Switch) writeLocked(b []byte) error {
	select {
	case <-s.done:
		return s.Err()
	default:
	}
	_ = s.conn.SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout))
	if _, err := s.conn.Write(b); err != nil {
		s.closeWith(fmt.Errorf("write: %w", err))
		return s.Err()
	}
	return nil
}

// allocXidLocked returns the next xid; the caller holds wmu. Zero is skipped.
func (s *Switch) allocXidLocked() uint32 {
	s.nextXid++
	if s.nextXid == 0 {
		s.nextXid++
	}
	return s.nextXid
}

// sendBytes stamps a fresh xid into b, registers c (if any) for it and
// writes b, all under the write lock so that wire order equals xid order.
func (s *Switch) sendBytes(b []byte, c *call) (uint32, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	xid := s.allocXidLocked()
	binary.BigEndian.PutUint32(b[4:8], xid)
	if c != nil {
		if err := s.register(c, xid); err != nil {
			return 0, err
		}
	}
	if err := s.writeLocked(b); err != nil {
		return 0, err
	}
	return xid, nil
}

func (s *Switch) register(c *call, xid uint32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	if c.kind != kindSink {
		c.xid = xid
	}
	s.calls[xid] = c
	if c.kind == kindBarrier {
		c.errs = s.openErrs
		s.openErrs = nil
		s.barriers = append(s.barriers, c)
	}
	return nil
}

// Send writes msg without waiting for an answer and returns the xid it was
// given (the message's own xid is overwritten). An OFPT_ERROR for that xid
// is counted, logged, passed to Options.OnError and returned by the next
// Barrier call, inside a *BatchError.
func (s *Switch) Send(msg util.Message) (uint32, error) {
	b, err := encode(msg, 0)
	if err != nil {
		return 0, err
	}
	return s.sendBytes(b, nil)
}

// sendAllChunk bounds one write of SendAll.
const sendAllChunk = 64 << 10

// SendAll is Send for many messages: they get consecutive xids and are
// written in as few writes as possible (chunks of up to 64 KiB), in order,
// with no other message in between. OFPT_ERRORs for them are returned by
// the next Barrier, as for Send. On an encoding error nothing is sent; on
// a write error the connection is closed (some messages may have gone).
func (s *Switch) SendAll(msgs []util.Message) error {
	bufs := make([][]byte, len(msgs))
	for i, m := range msgs {
		b, err := encode(m, 0)
		if err != nil {
			return fmt.Errorf("message %d of %d: %w", i+1, len(msgs), err)
		}
		bufs[i] = b
	}
	return s.sendAllBytes(bufs, nil)
}

// SendAllRaw is SendAll for messages already in wire form (e.g. appended
// one after another to one buffer by codec.AppendFlowMod): each element is
// one complete OpenFlow 1.3 message. Their xids are written into the
// messages themselves, so the caller's bytes change; messages that lie
// back to back in one buffer are written straight from it, without a
// copy. A message that is not a well-formed OpenFlow 1.3 frame (length
// field, version) is an error, and then nothing is sent.
func (s *Switch) SendAllRaw(msgs [][]byte) error {
	for i, b := range msgs {
		if err := checkRaw(b); err != nil {
			return fmt.Errorf("message %d of %d: %w", i+1, len(msgs), err)
		}
	}
	return s.sendAllBytes(msgs, nil)
}

// SendAllRawBarrier is SendAllRaw followed by Barrier, with the barrier
// request written together with the last messages: a switch that reads
// them in one turn of its main loop (Open vSwitch reads up to 50 messages
// a turn) answers in that turn, where a barrier written apart may wait a
// turn of its own. A turn of an Open vSwitch with the userspace datapath
// polls every port of the bridge, so on a bridge with many ports a turn
// saved is a good part of the round trip. The barrier's errors are
// Barrier's.
func (s *Switch) SendAllRawBarrier(ctx context.Context, msgs [][]byte) error {
	for i, b := range msgs {
		if err := checkRaw(b); err != nil {
			return fmt.Errorf("message %d of %d: %w", i+1, len(msgs), err)
		}
	}
	c := &call{kind: kindBarrier, done: make(chan struct{})}
	if err := s.sendAllBytes(msgs, c); err != nil {
		return err
	}
	return s.waitBarrier(ctx, c)
}

// sendAllBytes stamps consecutive xids into msgs and writes them in
// order, in runs of up to sendAllChunk bytes: a run of messages adjacent
// in memory is written as it is, others are gathered into a chunk. With
// a barrier call, a barrier request registered for it follows the
// messages in the same write as the last of them.
func (s *Switch) sendAllBytes(msgs [][]byte, barrier *call) error {
	total := 0
	for _, b := range msgs {
		total += len(b)
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	var run, chunk []byte // run: the bytes to write next; chunk: our buffer
	owned := false        // run is chunk (else a slice of the caller's buffer)
	for _, b := range msgs {
		if len(run) > 0 && len(run)+len(b) > sendAllChunk {
			if err := s.writeLocked(run); err != nil {
				return err
			}
			run, owned = nil, false
		}
		binary.BigEndian.PutUint32(b[4:8], s.allocXidLocked())
		switch {
		case len(run) == 0:
			run = b
		case !owned && adjacent(run, b):
			run = run[:len(run)+len(b)]
		default:
			if !owned {
				if chunk == nil {
					chunk = make([]byte, 0, min(total, sendAllChunk))
				}
				run, owned = append(chunk[:0], run...), true
			}
			run = append(run, b...)
			chunk = run
		}
	}
	if barrier != nil {
		xid := s.allocXidLocked()
		if err := s.register(barrier, xid); err != nil {
			return err
		}
		b := header(openflow13.Type_BarrierRequest, headerLen, xid)
		if !owned {
			// Never append into the caller's buffer: copy the run.
			run = append(make([]byte, 0, len(run)+len(b)), run...)
		}
		run = append(run, b...)
	}
	if len(run) > 0 {
		return s.writeLocked(run)
	}
	return nil
}

// adjacent reports whether b starts right where a ends, in the same
// backing array (so a[:len(a)+len(b)] covers both).
func adjacent(a, b []byte) bool {
	return len(b) > 0 && cap(a)-len(a) >= len(b) && &a[:len(a)+1][len(a)] == &b[0]
}

// wait blocks until c completes or ctx ends.
func (s *Switch) wait(ctx context.Context, c *call) error {
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
		s.abandon(c)
		return ctx.Err()
	}
}

// abandon unregisters a call whose caller gave up. A barrier's collected
// errors move on to the next barrier (or back to the open epoch), so they
// are not lost.
func (s *Switch) abandon(c *call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.calls[c.xid] == c {
		delete(s.calls, c.xid)
	}
	if c.kind != kindBarrier {
		return
	}
	for i, b := range s.barriers {
		if b == c {
			s.barriers = append(s.barriers[:i], s.barriers[i+1:]...)
			if i < len(s.barriers) {
				s.barriers[i].errs = append(c.errs, s.barriers[i].errs...)
			} else {
				s.openErrs = append(c.errs, s.openErrs...)
			}
			return
		}
	}
}

// replyType maps request types to the reply type they expect.
var replyType = map[uint8]uint8{
	openflow13.Type_EchoRequest:           openflow13.Type_EchoReply,
	openflow13.Type_FeaturesRequest:       openflow13.Type_FeaturesReply,
	openflow13.Type_GetConfigRequest:      openflow13.Type_GetConfigReply,
	openflow13.Type_BarrierRequest:        openflow13.Type_BarrierReply,
	openflow13.Type_QueueGetConfigRequest: openflow13.Type_QueueGetConfigReply,
	openflow13.Type_RoleRequest:           openflow13.Type_RoleReply,
	openflow13.Type_GetAsyncRequest:       openflow13.Type_GetAsyncReply,
	openflow13.Type_Experimenter:          openflow13.Type_Experimenter,
}

// RequestRaw sends msg and returns the raw reply matched by xid (and by
// the reply type the request calls for). An OFPT_ERROR with that xid is
// returned as *OFError. Messages that have no reply (flow-mod, group-mod,
// ...) are refused: use Send and Barrier. Multipart requests are refused:
// use Multipart. An experimenter message is answered by the next
// experimenter message with its xid; do not Request experimenter messages
// that have no reply (ctx is then the only way out).
func (s *Switch) RequestRaw(ctx context.Context, msg util.Message) ([]byte, error) {
	b, err := encode(msg, 0)
	if err != nil {
		return nil, err
	}
	return s.requestBytes(ctx, b)
}

func (s *Switch) requestBytes(ctx context.Context, b []byte) ([]byte, error) {
	if b[1] == openflow13.Type_MultiPartRequest {
		return nil, errors.New("openflow request: use Multipart for multipart requests")
	}
	want, ok := replyType[b[1]]
	if !ok {
		return nil, fmt.Errorf("openflow request: message type %d has no reply; use Send and Barrier", b[1])
	}
	c := &call{kind: kindReply, want: want, done: make(chan struct{})}
	if _, err := s.sendBytes(b, c); err != nil {
		return nil, err
	}
	if err := s.wait(ctx, c); err != nil {
		return nil, err
	}
	return c.raw, nil
}

// Request sends msg and returns the reply decoded by libOpenflow's
// openflow13 codec (see RequestRaw for the rules). If libOpenflow cannot
// decode the reply, the error wraps ErrMalformed; use RequestRaw then.
func (s *Switch) Request(ctx context.Context, msg util.Message) (util.Message, error) {
	raw, err := s.RequestRaw(ctx, msg)
	if err != nil {
		return nil, err
	}
	m, err := safeParse(raw)
	if err == nil && m == nil {
		err = fmt.Errorf("%w: libOpenflow cannot decode message type %d", ErrMalformed, raw[1])
	}
	return m, err
}

// Barrier sends a BARRIER_REQUEST and waits for its reply. It returns a
// *BatchError listing the OpenFlow errors received for messages sent with
// Send since the previous Barrier (by any caller), or nil if they all
// succeeded.
func (s *Switch) Barrier(ctx context.Context) error {
	b := header(openflow13.Type_BarrierRequest, headerLen, 0)
	c := &call{kind: kindBarrier, done: make(chan struct{})}
	if _, err := s.sendBytes(b, c); err != nil {
		return err
	}
	return s.waitBarrier(ctx, c)
}

// waitBarrier waits for the reply to barrier call c and returns its
// epoch's errors as Barrier does.
func (s *Switch) waitBarrier(ctx context.Context, c *call) error {
	if err := s.wait(ctx, c); err != nil {
		return err
	}
	if len(c.errs) > 0 {
		return &BatchError{Errors: c.errs}
	}
	return nil
}

// Multipart sends a multipart request of type mpType with the given
// request body and returns the bodies of all reply parts concatenated (the
// entries of every part, in order; OFPMPF_REPLY_MORE parts are accumulated
// until the last one).
func (s *Switch) Multipart(ctx context.Context, mpType uint16, body []byte) ([]byte, error) {
	c, err := s.multipart(ctx, mpType, body, nil)
	if err != nil {
		return nil, err
	}
	return c.body(), nil
}

// multipartParts is Multipart returning the reply parts' bodies as they
// came (no concatenation: each holds whole entries, as OpenFlow 1.3
// §7.3.5 has it).
func (s *Switch) multipartParts(ctx context.Context, mpType uint16, body []byte) ([][]byte, error) {
	c, err := s.multipart(ctx, mpType, body, nil)
	if err != nil {
		return nil, err
	}
	return c.parts, nil
}

func (s *Switch) multipart(ctx context.Context, mpType uint16, body []byte, onComplete func(*call)) (*call, error) {
	if mpHeaderLen+len(body) > maxMsgLen {
		return nil, fmt.Errorf("multipart request body of %d bytes is too large", len(body))
	}
	c := &call{kind: kindMultipart, mpType: mpType, done: make(chan struct{}), onComplete: onComplete}
	if _, err := s.sendBytes(multipartRequest(mpType, body, 0), c); err != nil {
		return nil, err
	}
	if err := s.wait(ctx, c); err != nil {
		return nil, err
	}
	return c, nil
}

// body is a multipart call's reply parts' bodies concatenated (the part
// itself when there is one).
func (c *call) body() []byte {
	switch len(c.parts) {
	case 0:
		return nil
	case 1:
		return c.parts[0]
	}
	out := make([]byte, 0, c.size)
	for _, p := range c.parts {
		out = append(out, p...)
	}
	return out
}

// SetRole sends an OFPT_ROLE_REQUEST and returns the role and generation
// the switch reports.
func (s *Switch) SetRole(ctx context.Context, role Role, generation uint64) (Role, uint64, error) {
	raw, err := s.requestBytes(ctx, roleRequest(role, generation, 0))
	if err != nil {
		return 0, 0, fmt.Errorf("role request %s gen %d: %w", role, generation, err)
	}
	if len(raw) < 24 {
		return 0, 0, fmt.Errorf("%w: role reply of %d bytes", ErrMalformed, len(raw))
	}
	return Role(binary.BigEndian.Uint32(raw[8:12])), binary.BigEndian.Uint64(raw[16:24]), nil
}

// --- reading ----------------------------------------------------------------

func (s *Switch) readLoop() {
	defer func() {
		if r := recover(); r != nil {
			s.closeWith(fmt.Errorf("%w: reader panic: %v", ErrMalformed, r))
		}
	}()
	for {
		b, err := readFrame(s.conn, ofVersion)
		if err != nil {
			s.closeWith(fmt.Errorf("read: %w", err))
			return
		}
		if err := s.handleFrame(b); err != nil {
			s.closeWith(err)
			return
		}
	}
}

// handleFrame dispatches one received message, strictly in arrival order.
// A non-nil error means the connection must be closed.
func (s *Switch) handleFrame(b []byte) error {
	if b[0] != ofVersion {
		return fmt.Errorf("%w: version %d after negotiating OpenFlow 1.3", ErrMalformed, b[0])
	}
	s.lastRecv.Store(time.Now().UnixNano())
	xid := xidOf(b)
	switch b[1] {
	case openflow13.Type_Hello:
		s.log.Debug("ignoring HELLO after handshake")
		return nil
	case openflow13.Type_Error:
		e, err := decodeError(b)
		if err != nil {
			return err
		}
		s.handleError(e)
		return nil
	case openflow13.Type_EchoRequest:
		reply := b // readFrame's buffer: this frame's own
		reply[1] = openflow13.Type_EchoReply
		s.replyEcho(reply)
		return nil
	case openflow13.Type_EchoReply:
		s.mu.Lock()
		c := s.calls[xid]
		s.mu.Unlock()
		if c != nil && c.expects(b[1]) {
			s.finish(c, b, nil)
		}
		return nil
	case openflow13.Type_PortStatus:
		ev, err := decodePortStatus(b)
		if err != nil {
			return err
		}
		s.applyPortEvent(ev)
		return nil
	case openflow13.Type_MultiPartReply:
		if len(b) < mpHeaderLen {
			return fmt.Errorf("%w: multipart reply of %d bytes", ErrMalformed, len(b))
		}
		s.handleMultipart(b)
		return nil
	}
	s.mu.Lock()
	c := s.calls[xid]
	s.mu.Unlock()
	if c != nil && c.expects(b[1]) {
		s.finish(c, b, nil)
		return nil
	}
	// Unsolicited: packet-in, flow-removed, experimenter messages, ...
	// (also a message that happens to carry a pending request's xid but is
	// not of the type that request expects).
	if b[1] == openflow13.Type_PacketIn && s.opts.OnPacketIn != nil {
		s.handlePacketIn(b)
		return nil
	}
	msg := Message{Type: b[1], Xid: xid, Raw: b}
	if f := s.opts.OnMessage; f != nil {
		s.events.push(func() { f(s, msg) })
	} else {
		s.log.Debug("unsolicited openflow message", "type", b[1], "xid", xid, "len", len(b))
	}
	return nil
}

// expects reports whether a message of type typ answers c.
func (c *call) expects(typ uint8) bool {
	switch c.kind {
	case kindReply:
		return c.want == typ
	case kindBarrier:
		return typ == openflow13.Type_BarrierReply
	}
	return false
}

// finish completes c (once) and unregisters it.
func (s *Switch) finish(c *call, raw []byte, err error) {
	s.mu.Lock()
	if s.calls[c.xid] != c {
		s.mu.Unlock()
		return // already completed, abandoned or failed by close
	}
	delete(s.calls, c.xid)
	if c.kind == kindBarrier {
		for i, x := range s.barriers {
			if x == c {
				s.barriers = append(s.barriers[:i], s.barriers[i+1:]...)
				break
			}
		}
	}
	s.mu.Unlock()
	c.raw, c.err = raw, err
	if c.onComplete != nil && err == nil {
		c.onComplete(c)
	}
	close(c.done)
}

func (s *Switch) handleMultipart(b []byte) {
	xid := xidOf(b)
	mpType := binary.BigEndian.Uint16(b[8:10])
	flags := binary.BigEndian.Uint16(b[10:12])
	s.mu.Lock()
	c := s.calls[xid]
	s.mu.Unlock()
	if c == nil || c.kind != kindMultipart {
		s.log.Debug("multipart reply for unknown xid", "xid", xid, "type", mpType)
		return
	}
	if mpType != c.mpType {
		s.finish(c, nil, fmt.Errorf("%w: multipart reply type %d to request type %d", ErrMalformed, mpType, c.mpType))
		return
	}
	if c.size+len(b)-mpHeaderLen > maxMultipartBytes {
		s.finish(c, nil, fmt.Errorf("multipart reply exceeds %d bytes", maxMultipartBytes))
		return
	}
	// The frame is this reply's own (readFrame allocates each): kept as
	// is, not copied into a growing buffer.
	c.parts = append(c.parts, b[mpHeaderLen:len(b):len(b)])
	c.size += len(b) - mpHeaderLen
	if flags&openflow13.OFPMPF_REPLY_MORE == 0 {
		s.finish(c, nil, nil)
	}
}

func (s *Switch) handleError(e *OFError) {
	s.mu.Lock()
	s.errState.Count++
	s.errState.Last = e.Error()
	s.errState.LastAt = time.Now()
	c := s.calls[e.Xid]
	var target *call
	switch {
	case c == nil && s.pktOuts.has(e.Xid):
		// A packet-out: reported through OnError only, never to a
		// barrier, whose caller did not send it.
	case c == nil:
		// A Send'ed message: it belongs to the first pending barrier sent
		// after it, or to the next barrier to be sent.
		for _, b := range s.barriers {
			if int32(e.Xid-b.xid) < 0 {
				target = b
				break
			}
		}
		if target != nil {
			target.errs = append(target.errs, e)
		} else if len(s.openErrs) < maxPendingErrors {
			s.openErrs = append(s.openErrs, e)
		} else {
			s.dropped++
		}
	case c.kind == kindSink:
		c.errs = append(c.errs, e)
	}
	s.mu.Unlock()
	s.log.Warn("openflow error from switch", "dpid", fmt.Sprintf("%016x", s.DPID()), "error", e.Error())
	if f := s.opts.OnError; f != nil {
		s.events.push(func() { f(s, e) })
	}
	if c != nil && c.kind != kindSink {
		s.finish(c, nil, e)
	}
}

func (s *Switch) applyPortEvent(ev PortEvent) {
	s.mu.Lock()
	if ev.Reason == PortDeleted {
		delete(s.ports, ev.Port.Number)
	} else {
		s.ports[ev.Port.Number] = ev.Port
	}
	s.numbers = nil
	subs := make([]func(PortEvent), 0, len(s.subs))
	for _, f := range s.subs {
		subs = append(subs, f)
	}
	s.mu.Unlock()
	s.log.Info("port status", "dpid", fmt.Sprintf("%016x", s.DPID()), "reason", ev.Reason, "port", ev.Port.Number, "name", ev.Port.Name, "link_up", ev.Port.LinkUp)
	s.events.push(func() {
		if f := s.opts.OnPortStatus; f != nil {
			f(s, ev)
		}
		for _, f := range subs {
			f(ev)
		}
	})
}

// --- event delivery ---------------------------------------------------------

// eventQueue delivers callbacks in order on one goroutine, without ever
// blocking the reader.
type eventQueue struct {
	mu     sync.Mutex
	q      []func()
	wake   chan struct{}
	closed bool
}

func newEventQueue() *eventQueue { return &eventQueue{wake: make(chan struct{}, 1)} }

func (e *eventQueue) push(f func()) {
	e.mu.Lock()
	e.q = append(e.q, f)
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

func (e *eventQueue) close() {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// run delivers events until the queue is closed and drained.
func (e *eventQueue) run() {
	for {
		e.mu.Lock()
		q, closed := e.q, e.closed
		e.q = nil
		e.mu.Unlock()
		for _, f := range q {
			f()
		}
		if closed && len(q) == 0 {
			return
		}
		if len(q) == 0 {
			<-e.wake
		}
	}
}
