package conn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"antrea.io/libOpenflow/openflow13"
)

// Listener accepts OpenFlow switches.
type Listener struct {
	ln     net.Listener
	tls    *tls.Config
	h      Handler
	opts   Options
	cancel context.CancelFunc
	wg     sync.WaitGroup
	done   chan struct{}

	// keep is the keepalive of every connection (one timer for all).
	keep *sweeper

	mu       sync.Mutex
	switches map[*Switch]struct{}
}

// Listen listens on addr and serves every switch that connects until ctx
// ends or Close is called. addr is "host:port", "tcp:host:port" or
// "unix:/path"; port 0 picks a free port (see Addr). With a non-nil tlsConf
// every connection must complete a TLS handshake first (set ClientAuth and
// ClientCAs in it to require switch certificates).
func Listen(ctx context.Context, addr string, tlsConf *tls.Config, h Handler, opts Options) (*Listener, error) {
	network := "tcp"
	switch {
	case strings.HasPrefix(addr, "unix:"):
		network, addr = "unix", strings.TrimPrefix(addr, "unix:")
	case strings.HasPrefix(addr, "tcp:"):
		addr = strings.TrimPrefix(addr, "tcp:")
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("openflow listen %s %s: %w", network, addr, err)
	}
	return Serve(ctx, ln, tlsConf, h, opts), nil
}

// Serve is Listen on an existing listener, which it takes over.
func Serve(ctx context.Context, ln net.Listener, tlsConf *tls.Config, h Handler, opts Options) *Listener {
	opts = opts.withDefaults()
	ctx, cancel := context.WithCancel(ctx)
	l := &Listener{ln: ln, tls: tlsConf, h: h, opts: opts, cancel: cancel,
		done: make(chan struct{}), switches: make(map[*Switch]struct{}),
		keep: newSweeper(opts, time.Now)}
	l.wg.Add(3)
	go func() {
		defer l.wg.Done()
		l.keep.run(ctx)
	}()
	go func() {
		defer l.wg.Done()
		<-ctx.Done()
		_ = ln.Close()
		l.mu.Lock()
		for s := range l.switches {
			s.Close()
		}
		l.mu.Unlock()
	}()
	go l.acceptLoop(ctx)
	go func() { l.wg.Wait(); close(l.done) }()
	opts.Logger.Info("openflow listener started", "addr", ln.Addr().String(), "tls", tlsConf != nil)
	return l
}

// Addr is the bound address.
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }

// Close stops accepting and closes every switch connection. It does not
// wait; Done is closed once every connection goroutine (and its
// SwitchDisconnected call) has finished.
func (l *Listener) Close() error { l.cancel(); return nil }

// Done is closed when the listener and all its connections have ended.
func (l *Listener) Done() <-chan struct{} { return l.done }

// Switches lists the connections that completed the handshake and are up.
func (l *Listener) Switches() []*Switch {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]*Switch, 0, len(l.switches))
	for s := range l.switches {
		out = append(out, s)
	}
	return out
}

func (l *Listener) acceptLoop(ctx context.Context) {
	defer l.wg.Done()
	for {
		c, err := l.ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			l.opts.Logger.Warn("openflow accept", "error", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			if l.tls != nil {
				tc := tls.Server(c, l.tls)
				hctx, cancel := context.WithTimeout(ctx, l.opts.HandshakeTimeout)
				err := tc.HandshakeContext(hctx)
				cancel()
				if err != nil {
					l.opts.Logger.Warn("openflow TLS handshake failed", "remote", c.RemoteAddr().String(), "error", err)
					_ = c.Close()
					return
				}
				c = tc
			}
			err := serveConn(ctx, c, l.h, l.opts, l.track, l.keep)
			if err != nil && !errors.Is(err, ErrClosed) {
				l.opts.Logger.Debug("openflow connection ended", "remote", c.RemoteAddr().String(), "error", err)
			}
		}()
	}
}

func (l *Listener) track(s *Switch, add bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if add {
		l.switches[s] = struct{}{}
	} else {
		delete(l.switches, s)
	}
}

// ServeConn runs the OpenFlow session on an established connection: it
// negotiates, announces the switch to h and blocks until the connection
// ends (or ctx does). It returns the handshake error, or why the
// established connection ended.
func ServeConn(ctx context.Context, c net.Conn, h Handler, opts Options) error {
	opts = opts.withDefaults()
	keep := newSweeper(opts, time.Now)
	kctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go keep.run(kctx)
	return serveConn(ctx, c, h, opts, nil, keep)
}

// serveConn runs one connection; keep is the keepalive that watches it
// from the end of the hello exchange until the connection ends.
func serveConn(ctx context.Context, c net.Conn, h Handler, opts Options, track func(*Switch, bool), keep *sweeper) error {
	s := newSwitch(c, opts)
	defer keep.remove(s)
	stop := context.AfterFunc(ctx, func() { s.closeWith(fmt.Errorf("%w: %w", ErrClosed, context.Cause(ctx))) })
	defer stop()
	if err := s.handshake(ctx, keep); err != nil {
		s.closeWith(err)
		s.log.Warn("openflow handshake failed", "error", err)
		return err
	}
	if track != nil {
		track(s, true)
		defer track(s, false)
	}
	s.log.Info("switch connected", "dpid", fmt.Sprintf("%016x", s.DPID()), "ports", len(s.Ports()))
	if h != nil {
		h.SwitchConnected(s)
	}
	s.startPacketIns()
	s.events.run() // delivers events until the connection is down and the queue drained
	s.pins.stop()  // and no packet-in is being delivered
	if h != nil {
		h.SwitchDisconnected(s, s.Err())
	}
	return s.Err()
}

// handshake: HELLO both ways with version negotiation, then FEATURES and
// PORT_DESC, with the reader running and keep watching the switch.
func (s *Switch) handshake(ctx context.Context, keep *sweeper) error {
	deadline := time.Now().Add(s.opts.HandshakeTimeout)
	_ = s.conn.SetDeadline(deadline)
	s.wmu.Lock()
	err := s.writeLocked(helloMsg(s.allocXidLocked()))
	s.wmu.Unlock()
	if err != nil {
		return fmt.Errorf("send hello: %w", err)
	}
	b, err := readFrame(s.conn, 0)
	if err != nil {
		return fmt.Errorf("read hello: %w", err)
	}
	if b[1] == openflow13.Type_Error {
		if e, derr := decodeError(b); derr == nil {
			return fmt.Errorf("%w: peer answered hello with %v", ErrVersion, e)
		}
	}
	ok, err := negotiate(b)
	if err != nil {
		return err
	}
	if !ok {
		s.wmu.Lock()
		_ = s.writeLocked(helloFailed(b[0], xidOf(b)))
		s.wmu.Unlock()
		return fmt.Errorf("%w: peer hello version %d without OpenFlow 1.3", ErrVersion, b[0])
	}
	_ = s.conn.SetDeadline(time.Time{})
	s.lastRecv.Store(time.Now().UnixNano())
	go s.readLoop()
	keep.add(s)

	hctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	// FEATURES and PORT_DESC are independent: both go out at once, so the
	// handshake waits for the switch once, not twice (a restart's
	// thousand switches reconnect together). The port-desc goroutine ends
	// with hctx at the latest; its channel is buffered.
	ports := make(chan error, 1)
	go func() {
		_, err := s.PortDesc(hctx)
		ports <- err
	}()
	raw, err := s.requestBytes(hctx, header(openflow13.Type_FeaturesRequest, headerLen, 0))
	if err != nil {
		return fmt.Errorf("features request: %w", err)
	}
	f, err := decodeFeatures(raw)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.features = f
	s.mu.Unlock()
	if err := <-ports; err != nil {
		return fmt.Errorf("dpid %016x: %w", f.DPID, err)
	}
	return nil
}
