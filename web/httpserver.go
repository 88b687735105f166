package web

import (
	"context"
	"log"
	"net"
	"net/http"
	"sync"
	"time"
)

// Defaults of HTTPOptions: what the REST listener allows one connection.
const (
	// DefaultReadHeaderTimeout bounds reading a request's headers.
	DefaultReadHeaderTimeout = 10 * time.Second
	// DefaultReadTimeout bounds reading a whole request, body included
	// (a body trickled a byte at a time is cut off).
	DefaultReadTimeout = 60 * time.Second
	// DefaultWriteTimeout bounds a request from the end of its headers to
	// the end of its response. Two kinds of request set their own
	// deadlines instead: the events stream (each batch of events has its
	// own write deadline) and a write with ?wait=realized (its ?timeout=
	// plus this).
	DefaultWriteTimeout = 60 * time.Second
	// DefaultIdleTimeout closes a keep-alive connection idle this long.
	DefaultIdleTimeout = 120 * time.Second
	// DefaultMaxConns caps the connections the REST listener holds open at
	// once; further clients wait in the kernel's accept queue.
	DefaultMaxConns = 1024
)

// HTTPOptions tunes the REST API's http.Server; zero values take the
// defaults above.
type HTTPOptions struct {
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	// ErrorLog receives the http.Server's own errors (nil: the log
	// package's standard logger).
	ErrorLog *log.Logger
}

func (o HTTPOptions) withDefaults() HTTPOptions {
	if o.ReadHeaderTimeout <= 0 {
		o.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = DefaultReadTimeout
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	return o
}

// NewHTTPServer returns the http.Server that serves the REST API (a
// *Server, or anything wrapping one) with the read, write and idle
// timeouts of opts. Serve it on a listener capped by LimitListener.
//
// The events stream and ?wait=realized writes outlive WriteTimeout: they
// move their connection's deadlines themselves (http.ResponseController),
// which works for any handler served by this server.
func NewHTTPServer(handler http.Handler, opts HTTPOptions) *http.Server {
	opts = opts.withDefaults()
	return &http.Server{
		Handler:           &deadlines{next: handler, write: opts.WriteTimeout},
		ReadHeaderTimeout: opts.ReadHeaderTimeout,
		ReadTimeout:       opts.ReadTimeout,
		WriteTimeout:      opts.WriteTimeout,
		IdleTimeout:       opts.IdleTimeout,
		ErrorLog:          opts.ErrorLog,
	}
}

// deadlines tells the handlers below the server's write timeout (see
// extendDeadlines).
type deadlines struct {
	next  http.Handler
	write time.Duration
}

func (d *deadlines) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.next.ServeHTTP(w, r.WithContext(withWriteTimeout(r.Context(), d.write)))
}

// LimitListener returns a listener that holds at most max accepted
// connections open at once: Accept waits until one of them is closed. A
// max of 0 or less means DefaultMaxConns.
func LimitListener(ln net.Listener, max int) net.Listener {
	if max <= 0 {
		max = DefaultMaxConns
	}
	return &limitListener{Listener: ln, sem: make(chan struct{}, max), done: make(chan struct{})}
}

type limitListener struct {
	net.Listener
	sem       chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// limitConn gives its slot back once, on the first Close.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

type writeTimeoutKey struct{}

func withWriteTimeout(ctx context.Context, d time.Duration) context.Context {
	return context.WithValue(ctx, writeTimeoutKey{}, d)
}

// writeTimeout is the serving http.Server's WriteTimeout (0 when it was
// not built by NewHTTPServer: no timeouts are known).
func writeTimeout(ctx context.Context) time.Duration {
	d, _ := ctx.Value(writeTimeoutKey{}).(time.Duration)
	return d
}

// holdOpen lets a request outlive the server's write timeout: it sets
// the connection's write deadline to now+write, or clears it when write
// is 0. The events stream and ?wait=realized use it; every other request
// keeps the server's timeouts. (The read timeout bounds reading the
// request only: once its body is read, net/http clears the read deadline.)
func holdOpen(w http.ResponseWriter, write time.Duration) {
	var dl time.Time
	if write > 0 {
		dl = time.Now().Add(write)
	}
	_ = http.NewResponseController(w).SetWriteDeadline(dl)
}
