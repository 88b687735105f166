package rpc

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ovn-kubernetes/libovsdb/ovsdb"
)

// DefaultProbeInterval is how long a session may go without hearing from
// the server before it sends an echo request; when nothing arrives within
// another interval the session is closed as lost. Open vSwitch's own
// default inactivity probe is the same 5 s.
const DefaultProbeInterval = 5 * time.Second

// writeTimeout bounds a write the reading goroutine makes on its own (echo
// replies, update acknowledgements), so a server that stops reading cannot
// stall it forever.
const writeTimeout = 10 * time.Second

// ErrClosed is returned (wrapped) by calls on a session that was closed or
// lost; Session.Err says why it ended.
var ErrClosed = errors.New("OVSDB session closed")

// Config configures a session. The zero value is usable for tcp: and unix:
// endpoints.
type Config struct {
	// TLS is the client configuration of ssl: endpoints (required for them).
	TLS *tls.Config
	// ProbeInterval is the inactivity probe (see DefaultProbeInterval): 0
	// means the default, a negative value disables the probe. Ignored
	// when Prober is set.
	ProbeInterval time.Duration
	// Prober, if set, probes this session together with the others it
	// probes, on one timer, at its own interval (see Prober); nil: the
	// session gets a Prober of its own for ProbeInterval.
	Prober *Prober
	// Logger receives the session's diagnostics (nil: discarded).
	Logger *slog.Logger
	// Buffers, if set, lends the session its message buffers (shared
	// with other sessions); nil: they are allocated per message.
	Buffers *Buffers
}

// Session is one OVSDB JSON-RPC session. Its methods are safe for
// concurrent use. A session ends when Close is called, the stream fails
// or the server stops answering; it is never revived.
type Session struct {
	conn net.Conn
	log  *slog.Logger
	bufs *Buffers

	wmu sync.Mutex // serializes writes

	mu       sync.Mutex
	nextID   uint64
	pending  map[uint64]*call
	monitors map[string]*Cache // by monitor id (the json-value of the request)
	err      error             // why the session ended (set once, with lost closed)

	lost     chan struct{}
	lostOnce sync.Once

	// inactivity probe (nil: none), see Prober
	prober   *Prober
	lastRead atomic.Int64 // the prober's elapsed time at the last message received
}

type call struct {
	done chan response // capacity 1
	// keep: the caller decodes the result, so it is copied out of the
	// message buffer the reading goroutine reuses.
	keep bool
	// inLoop runs on the reading goroutine with the result before the
	// caller sees it, so that nothing read after the response is handled
	// before it (a monitor's initial rows before its first update). It
	// gets the result unchecked (parseMessage) and must check its syntax
	// as it decodes it.
	inLoop func([]byte) error
}

type response struct {
	result json.RawMessage
	err    error
}

// message is any JSON-RPC 1.0 message: a request or notification has a
// method, a response has none.
type message struct {
	ID     json.RawMessage `json:"id,omitempty"`
	Method string          `json:"method,omitempty"`
	Params json.RawMessage `json:"params,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  json.RawMessage `json:"error,omitempty"`
}

type request struct {
	ID     any    `json:"id"`
	Method string `json:"method"`
	Params []any  `json:"params"`
}

type reply struct {
	ID     json.RawMessage `json:"id"`
	Result any             `json:"result"`
	Error  any             `json:"error"`
}

// Dial connects to endpoint (tcp:HOST:PORT, ssl:HOST:PORT or unix:PATH)
// and starts the session. A failed dial returns the dialer's error as is
// (a *net.OpError naming network and address, or the TLS handshake's).
func Dial(ctx context.Context, endpoint string, cfg Config) (*Session, error) {
	network, addr, err := ParseEndpoint(endpoint)
	if err != nil {
		return nil, err
	}
	var c net.Conn
	switch network {
	case "ssl":
		if cfg.TLS == nil {
			return nil, fmt.Errorf("endpoint %s: ssl needs a TLS configuration", endpoint)
		}
		d := tls.Dialer{Config: cfg.TLS}
		c, err = d.DialContext(ctx, "tcp", addr)
	default:
		var d net.Dialer
		c, err = d.DialContext(ctx, network, addr)
	}
	if err != nil {
		return nil, err
	}
	return NewSession(c, cfg), nil
}

// ParseEndpoint splits an OVSDB endpoint into a Go network and address.
func ParseEndpoint(endpoint string) (network, addr string, err error) {
	scheme, rest, ok := strings.Cut(endpoint, ":")
	switch {
	case !ok || rest == "":
		return "", "", fmt.Errorf("endpoint %q: want tcp:HOST:PORT, ssl:HOST:PORT or unix:PATH", endpoint)
	case scheme == "unix":
		return "unix", rest, nil
	case scheme == "tcp" || scheme == "ssl":
		if _, _, err := net.SplitHostPort(rest); err != nil {
			return "", "", fmt.Errorf("endpoint %q: %w", endpoint, err)
		}
		return scheme, rest, nil
	default:
		return "", "", fmt.Errorf("endpoint %q: unknown scheme %q (want tcp, ssl or unix)", endpoint, scheme)
	}
}

// NewSession runs the session on an established stream (Dial uses it; a
// test can hand it one end of a pipe). The session owns c from now on.
func NewSession(c net.Conn, cfg Config) *Session {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Session{
		conn:     c,
		log:      log,
		bufs:     cfg.Buffers,
		pending:  map[uint64]*call{},
		monitors: map[string]*Cache{},
		lost:     make(chan struct{}),
		prober:   cfg.Prober,
	}
	if s.prober == nil {
		s.prober = NewProber(cfg.ProbeInterval)
	}
	if s.prober != nil {
		s.lastRead.Store(int64(s.prober.elapsed()))
		s.prober.add(s)
	}
	go s.readLoop()
	return s
}

// Lost is closed when the session ends, whatever the reason.
func (s *Session) Lost() <-chan struct{} { return s.lost }

// Err says why the session ended (nil while it runs).
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close ends the session; it is idempotent.
func (s *Session) Close() { s.end(ErrClosed) }

// end records why the session ended, closes the stream, fails every
// pending call and closes Lost. Only the first call has an effect.
func (s *Session) end(why error) {
	s.lostOnce.Do(func() {
		s.mu.Lock()
		s.err = why
		pending := s.pending
		s.pending = map[uint64]*call{}
		s.mu.Unlock()
		if s.prober != nil {
			s.prober.remove(s)
		}
		s.conn.Close()
		for _, c := range pending {
			c.done <- response{err: fmt.Errorf("%w: %w", ErrClosed, why)}
		}
		close(s.lost)
	})
}

// Call sends a request and waits for its response, decoding the result
// into result (unless nil). A JSON-RPC error response is returned as an
// error carrying the server's text.
func (s *Session) Call(ctx context.Context, method string, params []any, result any) error {
	return s.call(ctx, method, params, result, nil)
}

func (s *Session) call(ctx context.Context, method string, params []any, result any, inLoop func([]byte) error) error {
	if params == nil {
		params = []any{}
	}
	c := &call{done: make(chan response, 1), inLoop: inLoop, keep: result != nil}
	s.mu.Lock()
	if s.err != nil {
		err := s.err
		s.mu.Unlock()
		return fmt.Errorf("%s: %w: %w", method, ErrClosed, err)
	}
	s.nextID++
	id := s.nextID
	s.pending[id] = c
	s.mu.Unlock()
	forget := func() {
		s.mu.Lock()
		delete(s.pending, id)
		s.mu.Unlock()
	}
	if err := s.write(ctx, request{ID: id, Method: method, Params: params}); err != nil {
		forget()
		return fmt.Errorf("%s: %w", method, err)
	}
	select {
	case r := <-c.done:
		if r.err != nil {
			return fmt.Errorf("%s: %w", method, r.err)
		}
		if raw, ok := result.(*json.RawMessage); ok {
			// r.result is the caller's own copy, checked by the reader.
			*raw = r.result
			return nil
		}
		if result != nil {
			if err := json.Unmarshal(r.result, result); err != nil {
				return fmt.Errorf("%s: decoding the result: %w", method, err)
			}
		}
		return nil
	case <-ctx.Done():
		forget()
		return fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

// write sends one message; ctx's deadline (if any) bounds the write.
func (s *Session) write(ctx context.Context, v any) error {
	b, err := encode(v)
	if err != nil {
		return err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.writeLocked(ctx, b)
}

// writeLocked is write for an encoded message, with wmu held.
func (s *Session) writeLocked(ctx context.Context, b []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	dl, _ := ctx.Deadline()
	if err := s.conn.SetWriteDeadline(dl); err != nil {
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	if _, err := s.conn.Write(b); err != nil {
		s.end(fmt.Errorf("write: %w", err))
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	return nil
}

// reply answers a request of the server from the reading goroutine.
func (s *Session) reply(id json.RawMessage, result, rpcErr any) {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	_ = s.write(ctx, reply{ID: id, Result: result, Error: rpcErr})
}

// Echo sends an echo request and waits for the reply.
func (s *Session) Echo(ctx context.Context) error {
	return s.Call(ctx, "echo", []any{"nva"}, nil)
}

// GetSchema reads the schema of database db.
func (s *Session) GetSchema(ctx context.Context, db string) (ovsdb.DatabaseSchema, error) {
	var schema ovsdb.DatabaseSchema
	err := s.Call(ctx, "get_schema", []any{db}, &schema)
	return schema, err
}

// Transact runs ops as one transaction on database db and returns the
// server's results, one per operation (plus one for a commit error);
// per-operation errors are in the results.
func (s *Session) Transact(ctx context.Context, db string, ops []ovsdb.Operation) ([]ovsdb.OperationResult, error) {
	params := make([]any, 0, 1+len(ops))
	params = append(params, db)
	for _, op := range ops {
		params = append(params, op)
	}
	var res []ovsdb.OperationResult
	if err := s.Call(ctx, "transact", params, &res); err != nil {
		return nil, err
	}
	return res, nil
}

func (s *Session) readLoop() {
	fr := NewFramerBuffers(s.conn, s.bufs)
	for {
		raw, err := fr.Next()
		if err == nil {
			err = s.handleFramed(raw, fr.spans)
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("the server closed the connection")
			} else if errors.Is(err, net.ErrClosed) {
				err = ErrClosed
			} else {
				err = fmt.Errorf("read: %w", err)
			}
			s.end(err)
			return
		}
	}
}

// handle decodes one message (valid until the next is read) and acts on
// it; the message's parts are slices of raw, copied only where kept.
func (s *Session) handle(raw []byte) error { return s.handleFramed(raw, nil) }

// handleFramed is handle for a message whose members' containers the
// framer found at spans (nil: not known).
func (s *Session) handleFramed(raw []byte, spans []span) error {
	m, err := parseFramed(raw, spans)
	if err != nil {
		return err
	}
	if s.prober != nil {
		s.lastRead.Store(int64(s.prober.elapsed()))
	}
	if m.Method != "" {
		s.handleRequest(&m)
		return nil
	}
	return s.handleResponse(&m)
}

func (s *Session) handleResponse(m *message) error {
	id, err := strconv.ParseUint(string(m.ID), 10, 64)
	if err != nil {
		// not one of ours (e.g. a probe echo answered after all)
		return checkJSON(m.Result)
	}
	s.mu.Lock()
	c := s.pending[id]
	s.mu.Unlock()
	if c == nil || c.inLoop == nil || c.keep {
		// The result's syntax is checked here but for a call that
		// decodes it on this goroutine (inLoop checks it).
		if err := checkJSON(m.Result); err != nil {
			return err
		}
	}
	s.mu.Lock()
	if c == nil || s.pending[id] != c {
		s.mu.Unlock()
		return nil // the caller gave up, or the session ended
	}
	delete(s.pending, id)
	s.mu.Unlock()
	var r response
	if c.keep {
		r.result = append(json.RawMessage(nil), m.Result...)
	}
	if len(m.Error) > 0 && string(m.Error) != "null" {
		r.err = rpcError(m.Error)
	} else if c.inLoop != nil {
		r.err = c.inLoop(m.Result)
	}
	c.done <- r
	return nil
}

// rpcError turns a JSON-RPC error value ({"error":..., "details":...} or a
// string) into an error.
func rpcError(raw json.RawMessage) error {
	var e struct {
		Error   string `json:"error"`
		Details string `json:"details"`
	}
	if err := json.Unmarshal(raw, &e); err == nil && e.Error != "" {
		if e.Details != "" {
			return fmt.Errorf("%s: %s", e.Error, e.Details)
		}
		return errors.New(e.Error)
	}
	var str string
	if err := json.Unmarshal(raw, &str); err == nil {
		return errors.New(str)
	}
	return fmt.Errorf("server error %s", raw)
}

func (s *Session) handleRequest(m *message) {
	isCall := len(m.ID) > 0 && string(m.ID) != "null"
	switch m.Method {
	case "echo":
		var params []any
		_ = json.Unmarshal(m.Params, &params)
		if params == nil {
			params = []any{}
		}
		if isCall {
			s.reply(m.ID, params, nil)
		}
	case "update", "update2":
		// A plain monitor is answered with RFC 7047 table-updates. The
		// server of libovsdb (used in tests and the simulated fleet)
		// names those notifications "update2" and sends them as requests
		// that expect a reply; ovsdb-server sends "update"
		// notifications. Only plain monitors are ever requested here.
		err := s.update(m.Params)
		if err != nil {
			s.log.Warn("OVSDB update not applied; ending the session", "err", err)
		}
		if isCall {
			// An empty result, not null: libovsdb's rpc2 takes a null
			// result for a malformed response and hangs up.
			s.reply(m.ID, []any{}, nil)
		}
		if err != nil {
			s.end(fmt.Errorf("update: %w", err))
		}
	default:
		if isCall {
			s.reply(m.ID, nil, map[string]string{"error": "unknown method", "details": m.Method})
		}
	}
}

// update applies an update notification ([monitor id, table-updates])
// to its monitor's cache; params is valid only during the call.
func (s *Session) update(params []byte) error {
	var id, last []byte
	idIsString, n := false, 0
	sc := scan{b: params}
	err := sc.array(func() error {
		v, err := sc.value()
		if n == 0 {
			id, idIsString = v, len(v) > 0 && v[0] == '"'
		}
		last = v
		n++
		return err
	})
	if err == nil {
		err = sc.end()
	}
	if err != nil || n < 2 {
		return fmt.Errorf("malformed update notification %.100s", params)
	}
	if !idIsString {
		return nil // not a monitor of ours
	}
	idScan := scan{b: id}
	name, err := idScan.strBytes()
	if err != nil {
		return nil
	}
	s.mu.Lock()
	c := s.monitors[string(name)]
	s.mu.Unlock()
	if c == nil {
		return nil
	}
	return c.update(last)
}
