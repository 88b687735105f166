//go:build unix

package conn

import (
	"net"
	"syscall"
)

// nbWriter writes to an operating system socket without waiting: as much
// as the socket takes at once. Its user holds the switch's write lock;
// it allocates nothing per write.
type nbWriter struct {
	rc  syscall.RawConn
	fn  func(fd uintptr) bool // w.do, bound once
	b   []byte
	n   int
	err error
}

// newNBWriter is c's non-waiting writer when c is an operating system
// socket (TCP, unix); nil otherwise (TLS, pipes).
func newNBWriter(c net.Conn) *nbWriter {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	w := &nbWriter{rc: rc}
	w.fn = w.do
	return w
}

// write writes as much of b as the socket takes without waiting and
// returns how much that was.
func (w *nbWriter) write(b []byte) (int, error) {
	w.b, w.n, w.err = b, 0, nil
	err := w.rc.Write(w.fn)
	n, werr := w.n, w.err
	w.b, w.err = nil, nil
	if err != nil {
		return n, err
	}
	return n, werr
}

func (w *nbWriter) do(fd uintptr) bool {
	for w.n < len(w.b) {
		m, e := syscall.Write(int(fd), w.b[w.n:])
		if m > 0 {
			w.n += m
		}
		switch {
		case e == syscall.EINTR:
			continue
		case e == syscall.EAGAIN:
			return true // the socket is full: the rest waits
		case e != nil:
			w.err = e
			return true
		case m <= 0:
			return true
		}
	}
	return true
}
