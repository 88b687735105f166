package store

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// The cluster port (Config.RaftAddr) carries two protocols, told apart by
// the first byte a client sends after the (optional) TLS handshake: raft's
// RPCs (a type byte below 0x20) and the member-to-member HTTP API
// (InternalHandler: a request line, an upper-case method). Both share one
// identity: with Config.RaftTLS every connection is mutual TLS and only
// peers presenting a certificate of the cluster CA that is valid for both
// server and client authentication (a node certificate, as `nva pki issue`
// makes) are heard. Without TLS the port is plain TCP and is safe only on
// loopback (see Config.RaftTLS and memberAuth).

const (
	// handshakeTimeout bounds an accepted connection's TLS handshake and
	// its first byte.
	handshakeTimeout = 10 * time.Second
	// maxPendingConns bounds the accepted connections still in their
	// handshake: a flood of silent connections cannot exhaust goroutines.
	maxPendingConns = 64
)

// streamLayer is the raft transport's connection layer: plain TCP, or
// mutual TLS when the node has a TLS identity, with an optional fault
// injector that tests use to partition members. It also feeds the member
// HTTP server (memberListener).
type streamLayer struct {
	ln        net.Listener
	advertise net.Addr
	server    *tls.Config // nil: plain TCP
	client    *tls.Config
	faults    *Faults
	self      string // advertised address, the key Faults use

	raftCh  chan net.Conn
	httpCh  chan net.Conn
	pending chan struct{}
	done    chan struct{}
	once    sync.Once
}

// newStreamLayer listens on bind. A nil tlsConf means plain TCP; otherwise
// tlsConf must hold this node's certificate (Certificates) and the
// cluster CA (RootCAs and ClientCAs): accepted connections must present a
// client certificate signed by ClientCAs, dialed ones verify the peer
// against RootCAs; both ends must hold node certificates (server and
// client authentication).
func newStreamLayer(bind string, advertise net.Addr, tlsConf *tls.Config, faults *Faults) (*streamLayer, error) {
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, err
	}
	s := &streamLayer{ln: ln, advertise: advertise, faults: faults,
		raftCh: make(chan net.Conn), httpCh: make(chan net.Conn),
		pending: make(chan struct{}, maxPendingConns), done: make(chan struct{})}
	if s.advertise == nil {
		s.advertise = ln.Addr()
	}
	if tcp, ok := s.advertise.(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		_ = ln.Close()
		return nil, fmt.Errorf("raft address %s is not advertisable", s.advertise)
	}
	s.self = s.advertise.String()
	if tlsConf != nil {
		if len(tlsConf.Certificates) == 0 && tlsConf.GetCertificate == nil {
			_ = ln.Close()
			return nil, errors.New("raft TLS: no certificate")
		}
		s.server = tlsConf.Clone()
		s.server.ClientAuth = tls.RequireAndVerifyClientCert
		s.server.VerifyConnection = requireNodeCert
		if s.server.MinVersion == 0 {
			s.server.MinVersion = tls.VersionTLS12
		}
		s.client = tlsConf.Clone()
		s.client.VerifyConnection = requireNodeCert
		if s.client.MinVersion == 0 {
			s.client.MinVersion = tls.VersionTLS12
		}
	}
	go s.acceptLoop()
	return s, nil
}

// requireNodeCert accepts a verified peer only when its certificate may
// act as both server and client (a node certificate): a client-only
// certificate of the same CA (an operator's, for the REST API) is no
// member.
func requireNodeCert(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("no peer certificate")
	}
	leaf := cs.PeerCertificates[0]
	if len(leaf.ExtKeyUsage) == 0 || slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageAny) {
		return nil
	}
	if slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageServerAuth) && slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
		return nil
	}
	return fmt.Errorf("certificate of %q is not a node certificate (needs server and client authentication)", leaf.Subject.CommonName)
}

// acceptLoop accepts connections and routes each, on its own goroutine,
// to raft or to the member HTTP server.
func (s *streamLayer) acceptLoop() {
	backoff := 5 * time.Millisecond
	for {
		c, err := s.ln.Accept()
		if err != nil {
			select {
			case <-s.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(backoff)
			if backoff < time.Second {
				backoff *= 2
			}
			continue
		}
		backoff = 5 * time.Millisecond
		select {
		case s.pending <- struct{}{}:
			go s.route(c)
		default:
			_ = c.Close() // too many connections in their handshake
		}
	}
}

// route completes the TLS handshake (and the client-certificate check),
// so that neither raft nor the HTTP server ever reads from an
// unauthenticated peer, then hands the connection over by its first byte.
func (s *streamLayer) route(c net.Conn) {
	defer func() { <-s.pending }()
	_ = c.SetDeadline(time.Now().Add(handshakeTimeout))
	if s.server != nil {
		tc := tls.Server(c, s.server)
		if err := tc.Handshake(); err != nil {
			_ = tc.Close()
			return
		}
		c = tc
	}
	br := bufio.NewReader(c)
	first, err := br.Peek(1)
	if err != nil {
		_ = c.Close()
		return
	}
	_ = c.SetDeadline(time.Time{})
	pc := &peekedConn{Conn: c, r: br}
	ch := s.raftCh
	if first[0] >= 'A' && first[0] <= 'Z' {
		ch = s.httpCh
	}
	t := time.NewTimer(handshakeTimeout)
	defer t.Stop()
	select {
	case ch <- pc:
	case <-s.done:
		_ = pc.Close()
	case <-t.C:
		_ = pc.Close() // nobody serves this protocol
	}
}

// peekedConn is a connection whose first bytes were read into r.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// Accept waits for the next raft connection.
func (s *streamLayer) Accept() (net.Conn, error) {
	select {
	case c := <-s.raftCh:
		return c, nil
	case <-s.done:
		return nil, net.ErrClosed
	}
}

// Close stops listening.
func (s *streamLayer) Close() error {
	var err error
	s.once.Do(func() {
		close(s.done)
		err = s.ln.Close()
	})
	return err
}

// Addr is the advertised address.
func (s *streamLayer) Addr() net.Addr { return s.advertise }

// memberListener is the stream layer's HTTP side as a net.Listener for
// an http.Server. Closing it stops its Accept; the stream layer owns the
// port.
type memberListener struct {
	s      *streamLayer
	closed chan struct{}
	once   sync.Once
}

func newMemberListener(s *streamLayer) *memberListener {
	return &memberListener{s: s, closed: make(chan struct{})}
}

func (l *memberListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.s.httpCh:
		return c, nil
	case <-l.s.done:
		return nil, net.ErrClosed
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *memberListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *memberListener) Addr() net.Addr { return l.s.advertise }

// dialTCP opens a TCP connection to a member for the HTTP client (which
// adds TLS itself), subject to fault injection like raft's own dials.
func (s *streamLayer) dialTCP(ctx context.Context, _, addr string) (net.Conn, error) {
	if !s.faults.allowed(s.self, addr) {
		return nil, fmt.Errorf("dial %s: cut by fault injection", addr)
	}
	d := net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return s.faults.track(s.self, addr, c), nil
}

// Dial connects to a peer's raft address.
func (s *streamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	to := string(address)
	if !s.faults.allowed(s.self, to) {
		return nil, fmt.Errorf("dial %s: cut by fault injection", to)
	}
	d := net.Dialer{Timeout: timeout}
	c, err := d.Dial("tcp", to)
	if err != nil {
		return nil, err
	}
	if s.client != nil {
		conf := s.client.Clone()
		if conf.ServerName == "" {
			host, _, _ := net.SplitHostPort(to)
			conf.ServerName = host
		}
		tc := tls.Client(c, conf)
		_ = tc.SetDeadline(time.Now().Add(timeout))
		if err := tc.Handshake(); err != nil {
			_ = tc.Close()
			return nil, fmt.Errorf("dial %s: TLS: %w", to, err)
		}
		_ = tc.SetDeadline(time.Time{})
		c = tc
	}
	return s.faults.track(s.self, to, c), nil
}

// Faults injects network faults between raft members of one test process:
// Cut(a, b) drops every connection a dialed to b and b dialed to a and
// refuses new ones until Heal. Members are named by their advertised raft
// addresses. The zero value and a nil *Faults inject nothing. Production
// never sets one.
type Faults struct {
	mu    sync.Mutex
	cut   map[[2]string]bool
	conns map[*faultConn]struct{}
}

// Cut partitions a from b in both directions.
func (f *Faults) Cut(a, b string) {
	f.mu.Lock()
	if f.cut == nil {
		f.cut = map[[2]string]bool{}
	}
	f.cut[[2]string{a, b}], f.cut[[2]string{b, a}] = true, true
	var drop []*faultConn
	for c := range f.conns {
		if (c.from == a && c.to == b) || (c.from == b && c.to == a) {
			drop = append(drop, c)
		}
	}
	f.mu.Unlock()
	for _, c := range drop {
		_ = c.Close()
	}
}

// Isolate cuts a from every other address in others.
func (f *Faults) Isolate(a string, others ...string) {
	for _, b := range others {
		if b != a {
			f.Cut(a, b)
		}
	}
}

// Heal removes every cut.
func (f *Faults) Heal() {
	f.mu.Lock()
	f.cut = nil
	f.mu.Unlock()
}

func (f *Faults) allowed(from, to string) bool {
	if f == nil {
		return true
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.cut[[2]string{from, to}]
}

// track registers a dialed connection (to != "") so that Cut can drop it.
// Accepted connections are not tracked: cutting closes the dialing end,
// which the accepting end sees as EOF.
func (f *Faults) track(from, to string, c net.Conn) net.Conn {
	if f == nil || to == "" {
		return c
	}
	fc := &faultConn{Conn: c, f: f, from: from, to: to}
	f.mu.Lock()
	if f.cut[[2]string{from, to}] {
		// Cut while this connection was being dialed (after the dial's
		// own check): it never existed as far as the test is concerned.
		f.mu.Unlock()
		_ = c.Close()
		return &faultConn{Conn: closedConn{c}, f: f, from: from, to: to}
	}
	if f.conns == nil {
		f.conns = map[*faultConn]struct{}{}
	}
	f.conns[fc] = struct{}{}
	f.mu.Unlock()
	return fc
}

// closedConn is a connection cut during its dial: every read and write
// fails as on a dropped connection.
type closedConn struct{ net.Conn }

func (closedConn) Read([]byte) (int, error)  { return 0, net.ErrClosed }
func (closedConn) Write([]byte) (int, error) { return 0, net.ErrClosed }

type faultConn struct {
	net.Conn
	f        *Faults
	from, to string
	once     sync.Once
}

func (c *faultConn) Close() error {
	c.once.Do(func() {
		c.f.mu.Lock()
		delete(c.f.conns, c)
		c.f.mu.Unlock()
	})
	return c.Conn.Close()
}
