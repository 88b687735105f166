package store

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// streamLayer is the raft transport's connection layer: plain TCP, or
// mutual TLS when the node has a TLS identity (only peers presenting a
// certificate of the cluster's CA are heard), with an optional fault
// injector that tests use to partition members.
type streamLayer struct {
	ln        net.Listener
	advertise net.Addr
	server    *tls.Config // nil: plain TCP
	client    *tls.Config
	faults    *Faults
	self      string // advertised address, the key Faults use
}

// newStreamLayer listens on bind. A nil tlsConf means plain TCP; otherwise
// tlsConf must hold this node's certificate (Certificates) and the
// cluster CA (RootCAs and ClientCAs): accepted connections must present a
// client certificate signed by ClientCAs, dialed ones verify the peer
// against RootCAs.
func newStreamLayer(bind string, advertise net.Addr, tlsConf *tls.Config, faults *Faults) (*streamLayer, error) {
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, err
	}
	s := &streamLayer{ln: ln, advertise: advertise, faults: faults}
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
		if s.server.MinVersion == 0 {
			s.server.MinVersion = tls.VersionTLS12
		}
		s.client = tlsConf.Clone()
		if s.client.MinVersion == 0 {
			s.client.MinVersion = tls.VersionTLS12
		}
	}
	return s, nil
}

// Accept waits for the next connection. With TLS the handshake (and the
// client-certificate check) completes here, so raft never reads from an
// unauthenticated peer; a failed handshake closes that connection and
// Accept waits for the next.
func (s *streamLayer) Accept() (net.Conn, error) {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return nil, err
		}
		if s.server == nil {
			return s.faults.track(s.self, "", c), nil
		}
		tc := tls.Server(c, s.server)
		_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
		if err := tc.Handshake(); err != nil {
			_ = tc.Close()
			continue
		}
		_ = tc.SetDeadline(time.Time{})
		return s.faults.track(s.self, "", tc), nil
	}
}

// Close stops listening.
func (s *streamLayer) Close() error { return s.ln.Close() }

// Addr is the advertised address.
func (s *streamLayer) Addr() net.Addr { return s.advertise }

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
	if f.conns == nil {
		f.conns = map[*faultConn]struct{}{}
	}
	f.conns[fc] = struct{}{}
	f.mu.Unlock()
	return fc
}

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
