package ofshim

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"
)

// Options configure a Shim.
type Options struct {
	// Listen is where switches connect: "tcp:host:port", "host:port" or
	// "unix:/path" (port 0 picks a free port; see Target). For an
	// ovs-vswitchd in its own network namespace use a unix socket inside
	// its run directory (Open vSwitch refuses unix controller paths
	// elsewhere).
	Listen string
	// Upstream is the controller's OpenFlow listener, dialed once per
	// switch connection, in the same forms.
	Upstream string
	// MaxTables is the profile's table count (default 4): flow-mods,
	// table-mods and stats requests for tables at or beyond it, and
	// goto_table beyond it, are refused; FEATURES_REPLY's n_tables is
	// lowered to it on the way to the controller.
	MaxTables int
	// KeepRefusals is how many refusals Refusals returns (default 64).
	KeepRefusals int
	// Log, if set, receives connection events and every refusal (for
	// tests: t.Logf; it is not called after Close returns).
	Log func(format string, args ...any)
	// DialTimeout bounds the upstream dial (default 5 s).
	DialTimeout time.Duration
}

// Refusal is one refused controller-to-switch message.
type Refusal struct {
	Reason  string // one of the Reason* constants
	MsgType uint8  // OFPT_* of the refused message
	Xid     uint32
	ErrType uint16 // the OFPT_ERROR sent back: OFPET_*
	ErrCode uint16
	Detail  string
}

func (r Refusal) String() string {
	return fmt.Sprintf("refused %s (message type %d xid %d) with error type %d code %d: %s",
		r.Reason, r.MsgType, r.Xid, r.ErrType, r.ErrCode, r.Detail)
}

// Shim is a running conformance proxy.
type Shim struct {
	opts   Options
	ln     net.Listener
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	conns     map[net.Conn]struct{}
	refused   map[string]int
	forwarded int
	recent    []Refusal
	closed    bool
}

func splitAddr(addr string) (network, address string) {
	switch {
	case strings.HasPrefix(addr, "unix:"):
		return "unix", strings.TrimPrefix(addr, "unix:")
	case strings.HasPrefix(addr, "tcp:"):
		return "tcp", strings.TrimPrefix(addr, "tcp:")
	}
	return "tcp", addr
}

// Start listens on opts.Listen and proxies every switch that connects to
// opts.Upstream until ctx ends or Close is called.
func Start(ctx context.Context, opts Options) (*Shim, error) {
	if opts.Upstream == "" {
		return nil, errors.New("ofshim: Options.Upstream is required")
	}
	if opts.MaxTables == 0 {
		opts.MaxTables = 4
	}
	if opts.MaxTables < 1 || opts.MaxTables > 254 {
		return nil, fmt.Errorf("ofshim: MaxTables %d outside 1..254", opts.MaxTables)
	}
	if opts.KeepRefusals <= 0 {
		opts.KeepRefusals = 64
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 5 * time.Second
	}
	network, address := splitAddr(opts.Listen)
	ln, err := (&net.ListenConfig{}).Listen(ctx, network, address)
	if err != nil {
		return nil, fmt.Errorf("ofshim: listen %s: %w", opts.Listen, err)
	}
	s := &Shim{opts: opts, ln: ln, conns: map[net.Conn]struct{}{}, refused: map[string]int{}}
	s.ctx, s.cancel = context.WithCancel(ctx)
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		<-s.ctx.Done()
		_ = ln.Close()
		s.mu.Lock()
		s.closed = true
		for c := range s.conns {
			_ = c.Close()
		}
		s.mu.Unlock()
	}()
	go s.acceptLoop()
	s.logf("ofshim listening on %s, upstream %s, %d tables", ln.Addr(), opts.Upstream, opts.MaxTables)
	return s, nil
}

// Addr is the address switches connect to.
func (s *Shim) Addr() net.Addr { return s.ln.Addr() }

// Target is Addr as an Open vSwitch controller target ("tcp:IP:PORT" or
// "unix:PATH").
func (s *Shim) Target() string {
	if s.ln.Addr().Network() == "unix" {
		return "unix:" + s.ln.Addr().String()
	}
	return "tcp:" + s.ln.Addr().String()
}

// Close stops the shim: no more connections, every proxied connection
// closed. It returns once all goroutines have ended.
func (s *Shim) Close() error {
	s.cancel()
	s.wg.Wait()
	return nil
}

// Refused counts the refused messages by reason.
func (s *Shim) Refused() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.refused))
	for k, v := range s.refused {
		out[k] = v
	}
	return out
}

// Forwarded counts the controller-to-switch messages passed on.
func (s *Shim) Forwarded() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.forwarded
}

// Refusals returns the most recent refusals, oldest first.
func (s *Shim) Refusals() []Refusal {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Refusal(nil), s.recent...)
}

func (s *Shim) logf(format string, args ...any) {
	if s.opts.Log != nil && s.ctx.Err() == nil {
		s.opts.Log(format, args...)
	}
}

// track registers c for Close; it reports false once the shim is closed.
func (s *Shim) track(c net.Conn, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !add {
		delete(s.conns, c)
		return true
	}
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Shim) acceptLoop() {
	defer s.wg.Done()
	for {
		sc, err := s.ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			s.logf("ofshim accept: %v", err)
			select {
			case <-s.ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serve(sc)
		}()
	}
}

// serve proxies one switch connection.
func (s *Shim) serve(sc net.Conn) {
	if !s.track(sc, true) {
		_ = sc.Close()
		return
	}
	defer s.track(sc, false)
	defer sc.Close()
	network, address := splitAddr(s.opts.Upstream)
	dctx, cancel := context.WithTimeout(s.ctx, s.opts.DialTimeout)
	uc, err := (&net.Dialer{}).DialContext(dctx, network, address)
	cancel()
	if err != nil {
		s.logf("ofshim: switch %s: dial upstream %s: %v", sc.RemoteAddr(), s.opts.Upstream, err)
		return
	}
	if !s.track(uc, true) {
		_ = uc.Close()
		return
	}
	defer s.track(uc, false)
	defer uc.Close()
	s.logf("ofshim: switch %s connected, proxied to %s", sc.RemoteAddr(), s.opts.Upstream)

	p := &pair{s: s, sw: sc, ctl: uc}
	done := make(chan error, 2)
	go func() { done <- p.switchToController() }()
	go func() { done <- p.controllerToSwitch() }()
	err = <-done
	_ = sc.Close()
	_ = uc.Close()
	<-done
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		s.logf("ofshim: switch %s: %v", sc.RemoteAddr(), err)
	} else {
		s.logf("ofshim: switch %s disconnected", sc.RemoteAddr())
	}
}

// pair is one proxied connection: switch side and controller side.
type pair struct {
	s       *Shim
	sw, ctl net.Conn
	ctlMu   sync.Mutex // both directions write to the controller
}

const writeTimeout = 10 * time.Second

func (p *pair) writeController(b []byte) error {
	p.ctlMu.Lock()
	defer p.ctlMu.Unlock()
	_ = p.ctl.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := p.ctl.Write(b)
	return err
}

func (p *pair) switchToController() error {
	for {
		b, err := readFrame(p.sw)
		if err != nil {
			return fmt.Errorf("from switch: %w", err)
		}
		if b[0] == ofVersion13 && b[1] == typeFeaturesReply && len(b) >= 32 && int(b[20]) > p.s.opts.MaxTables {
			b[20] = uint8(p.s.opts.MaxTables) // what a strict switch of the profile reports
		}
		if err := p.writeController(b); err != nil {
			return fmt.Errorf("to controller: %w", err)
		}
	}
}

func (p *pair) controllerToSwitch() error {
	for {
		b, err := readFrame(p.ctl)
		if err != nil {
			return fmt.Errorf("from controller: %w", err)
		}
		if b[0] == ofVersion13 {
			if v := check(b, p.s.opts.MaxTables); v != nil {
				p.s.record(b, v)
				if err := p.writeController(errorMsg(b, v)); err != nil {
					return fmt.Errorf("to controller: %w", err)
				}
				continue
			}
		}
		// Counted before the write: whoever has seen the message arrive
		// at the switch also sees it counted.
		p.s.mu.Lock()
		p.s.forwarded++
		p.s.mu.Unlock()
		_ = p.sw.SetWriteDeadline(time.Now().Add(writeTimeout))
		if _, err := p.sw.Write(b); err != nil {
			return fmt.Errorf("to switch: %w", err)
		}
	}
}

func (s *Shim) record(b []byte, v *verdict) {
	r := Refusal{Reason: v.reason, MsgType: b[1], Xid: binary.BigEndian.Uint32(b[4:8]),
		ErrType: v.errType, ErrCode: v.code, Detail: v.detail}
	s.mu.Lock()
	s.refused[v.reason]++
	s.recent = append(s.recent, r)
	if len(s.recent) > s.opts.KeepRefusals {
		s.recent = append(s.recent[:0], s.recent[len(s.recent)-s.opts.KeepRefusals:]...)
	}
	s.mu.Unlock()
	s.logf("ofshim: %s", r)
}

// readFrame reads one OpenFlow message using the 8-byte header's length.
func readFrame(r io.Reader) ([]byte, error) {
	var h [headerLen]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(h[2:4]))
	if n < headerLen {
		return nil, fmt.Errorf("openflow header length %d", n)
	}
	b := make([]byte, n)
	copy(b, h[:])
	if _, err := io.ReadFull(r, b[headerLen:]); err != nil {
		return nil, fmt.Errorf("truncated message: %w", err)
	}
	return b, nil
}
