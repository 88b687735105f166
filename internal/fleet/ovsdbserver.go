package fleet

import (
	"encoding/json"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"github.com/nva-project/nva/ovsdb/rpc"
)

// dbServer is a minimal OVSDB server (RFC 7047) of one database on a
// stream listener: the JSON-RPC methods list_dbs, get_schema, echo,
// transact, monitor (version 1, with "update" notifications) and
// monitor_cancel; unknown methods get the error "unknown method" (a
// string, as ovsdb-server and libovsdb's client have it). It answers a
// client's echo but sends no probes of its own.
type dbServer struct {
	db *memDB
	ln net.Listener

	onConnect, onDisconnect func()

	mu     sync.Mutex
	conns  map[*dbConn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// serveDB serves db on ln until close.
func serveDB(db *memDB, ln net.Listener, onConnect, onDisconnect func()) *dbServer {
	s := &dbServer{db: db, ln: ln, onConnect: onConnect, onDisconnect: onDisconnect, conns: map[*dbConn]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	return s
}

func (s *dbServer) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		dc := &dbConn{srv: s, c: c, wake: make(chan struct{}, 1), monitors: map[string]*dbMonitor{}}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[dc] = struct{}{}
		s.wg.Add(2)
		s.mu.Unlock()
		if s.onConnect != nil {
			s.onConnect()
		}
		go dc.readLoop()
		go dc.writeLoop()
	}
}

// close stops accepting, ends every session and waits for their
// goroutines.
func (s *dbServer) close() {
	s.mu.Lock()
	s.closed = true
	conns := make([]*dbConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	s.ln.Close()
	for _, c := range conns {
		c.end()
	}
	s.wg.Wait()
}

// dbConn is one client session: a reading goroutine that handles
// requests in order and a writing goroutine that sends what they and the
// database's commits queue, in the order queued.
type dbConn struct {
	srv *dbServer
	c   net.Conn

	wmu      sync.Mutex
	out      []byte // queued, not yet written
	spare    []byte
	wake     chan struct{}
	ended    atomic.Bool
	dropping atomic.Bool // the backlog overflowed: the session is being ended
	endOnce  sync.Once

	monitors map[string]*dbMonitor // by compacted id; db.mu held
}

// maxBacklog bounds what a session may have queued and unsent: a client
// that stops reading is disconnected (ovsdb-server has such a limit too)
// rather than growing the queue without end.
const maxBacklog = 64 << 20

// send queues a message; it never blocks on the client. The connection
// owns msg from now on.
func (c *dbConn) send(msg []byte) {
	if c.ended.Load() {
		return
	}
	c.wmu.Lock()
	if len(c.out) == 0 && cap(msg) > cap(c.out) {
		c.out = msg // the common case: nothing queued, no copy
	} else {
		c.out = append(c.out, msg...)
	}
	over := len(c.out) > maxBacklog
	c.wmu.Unlock()
	if over && c.dropping.CompareAndSwap(false, true) {
		go c.end() // not here: the caller may hold the database lock
		return
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *dbConn) writeLoop() {
	defer c.srv.wg.Done()
	for range c.wake {
		c.wmu.Lock()
		buf := c.out
		c.out = c.spare[:0]
		c.wmu.Unlock()
		if len(buf) > 0 {
			if _, err := c.c.Write(buf); err != nil {
				c.end()
			}
		}
		c.wmu.Lock()
		c.spare = nil // c.out may be the old spare: never share it
		if cap(buf) <= keepBuffer {
			c.spare = buf[:0]
		}
		c.wmu.Unlock()
		if c.ended.Load() {
			return
		}
	}
}

// end closes the session once: its monitors stop, its goroutines end.
func (c *dbConn) end() {
	c.endOnce.Do(func() {
		c.ended.Store(true)
		c.c.Close()
		db := c.srv.db
		db.mu.Lock()
		for _, m := range c.monitors {
			delete(db.monitors, m)
		}
		c.monitors = nil
		db.mu.Unlock()
		select {
		case c.wake <- struct{}{}:
		default:
		}
		s := c.srv
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		if s.onDisconnect != nil {
			s.onDisconnect()
		}
	})
}

func (c *dbConn) readLoop() {
	defer c.srv.wg.Done()
	defer c.end()
	fr := rpc.NewFramer(c.c)
	for {
		msg, err := fr.Next()
		if err != nil {
			return
		}
		if err := c.handle(msg); err != nil {
			return
		}
	}
}

// handle answers one JSON-RPC message; an error ends the session.
func (c *dbConn) handle(raw []byte) error {
	v, err := parseJSON(raw)
	if err != nil {
		return fmt.Errorf("malformed JSON-RPC message: %w", err)
	}
	m, _ := v.(map[string]any)
	method, _ := m["method"].(string)
	if method == "" {
		return nil // a response (to nothing we sent) or junk
	}
	idv := m["id"]
	id, err := json.Marshal(idv)
	if err != nil {
		return fmt.Errorf("JSON-RPC id: %w", err)
	}
	params, _ := m["params"].([]any)
	db := c.srv.db
	switch method {
	case "echo":
		if idv != nil {
			if params == nil {
				params = []any{}
			}
			b, _ := json.Marshal(params)
			c.reply(id, b, nil)
		}
	case "list_dbs":
		b, _ := json.Marshal([]string{db.schema.name})
		c.reply(id, b, nil)
	case "get_schema":
		if err := c.checkDB(params); err != nil {
			c.reply(id, nil, err)
			return nil
		}
		c.reply(id, db.schema.json, nil)
	case "transact":
		if err := c.checkDB(params); err != nil {
			c.reply(id, nil, err)
			return nil
		}
		c.replyWith(id, 64*len(params), func(b []byte) []byte { return db.transact(b, params[1:], c) }, nil)
	case "monitor":
		c.monitor(id, params)
	case "monitor_cancel":
		if len(params) != 1 {
			c.reply(id, nil, errorf("syntax error", "monitor_cancel takes one parameter"))
			return nil
		}
		kb, _ := json.Marshal(params[0])
		key := string(kb)
		db.mu.Lock()
		mon := c.monitors[key]
		if mon != nil {
			delete(c.monitors, key)
			delete(db.monitors, mon)
		}
		db.mu.Unlock()
		if mon == nil {
			c.reply(id, nil, errorf("unknown monitor", "%s", key))
			return nil
		}
		c.reply(id, []byte("{}"), nil)
	default:
		if idv != nil {
			c.send(append(append([]byte(`{"id":`), id...), `,"result":null,"error":"unknown method"}`...))
		}
	}
	return nil
}

// checkDB checks that params name the served database first.
func (c *dbConn) checkDB(params []any) *dbError {
	var name string
	if len(params) > 0 {
		name, _ = params[0].(string)
	}
	if name == "" {
		return errorf("syntax error", "the first parameter must be a database name")
	}
	if name != c.srv.db.schema.name {
		return errorf("unknown database", "%s", name)
	}
	return nil
}

// reply queues the response to a request: result (JSON) or an error.
func (c *dbConn) reply(id []byte, result []byte, e *dbError) {
	c.replyWith(id, len(result), func(b []byte) []byte { return append(b, result...) }, e)
}

// replyWith is reply with the result appended by appendResult (about
// size bytes).
func (c *dbConn) replyWith(id []byte, size int, appendResult func([]byte) []byte, e *dbError) {
	b := make([]byte, 0, size+64+len(id))
	b = append(b, `{"id":`...)
	b = append(b, id...)
	if e != nil {
		b = append(b, `,"result":null,"error":`...)
		b = appendError(b, e)
	} else {
		b = append(b, `,"result":`...)
		b = appendResult(b)
		b = append(b, `,"error":null`...)
	}
	c.send(append(b, '}'))
}

// monitor registers a monitor and answers with its initial rows, under
// the database lock so that no commit's update overtakes the reply.
func (c *dbConn) monitor(id []byte, params []any) {
	if err := c.checkDB(params); err != nil {
		c.reply(id, nil, err)
		return
	}
	if len(params) != 3 {
		c.reply(id, nil, errorf("syntax error", "monitor takes three parameters"))
		return
	}
	db := c.srv.db
	tables, err := parseMonitorRequests(db, params[2])
	if err != nil {
		c.reply(id, nil, err)
		return
	}
	monID, _ := json.Marshal(params[1])
	mon := &dbMonitor{conn: c, id: monID, key: string(monID), tables: tables}
	db.mu.Lock()
	defer db.mu.Unlock()
	if c.monitors == nil { // the session ended
		return
	}
	if c.monitors[mon.key] != nil {
		c.reply(id, nil, errorf("duplicate monitor ID", "%s", monID))
		return
	}
	c.monitors[mon.key] = mon
	db.monitors[mon] = struct{}{}
	size := 0
	for _, mt := range tables {
		size += len(mt.tb.rows) * (64 + 48*len(mt.cols))
	}
	c.replyWith(id, size, mon.appendInitial, nil)
}

// keepBuffer is the largest write buffer a session keeps between
// messages: an idle session does not hold its largest message's worth of
// memory (its reads go through rpc.Framer, which does the same).
const keepBuffer = 8 << 10
