package rpc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
)

// maxMessage bounds one JSON-RPC message: a server sending more is broken.
const maxMessage = 64 << 20

// idleBuffer is the buffer a Framer reads into while it has nothing
// buffered: enough for an echo request or a one-row update. A message that
// does not fit moves to a buffer of its own (readBuffer, doubled while the
// message is larger), which is dropped again as soon as everything read has
// been framed, so an idle session holds idleBuffer bytes, not the largest
// message it ever read (a schema, a monitor reply), nor a reader's buffer
// beside it.
const (
	idleBuffer = 512
	readBuffer = 4096
)

// maxPooled is the largest message buffer Buffers keeps for reuse.
const maxPooled = 64 << 10

// Buffers lends message buffers to the framers of many sessions, so that
// the buffers of the schemas and monitor replies 1,000 sessions read when
// they connect (and of the updates they read later) are reused instead of
// allocated for each message; a framer gives its buffer back as soon as
// everything it read is framed. Safe for concurrent use.
type Buffers struct{ pool sync.Pool }

// NewBuffers returns an empty pool of message buffers.
func NewBuffers() *Buffers { return &Buffers{} }

// get returns a buffer of at least n bytes (its whole capacity).
func (b *Buffers) get(n int) []byte {
	if b != nil {
		if p, _ := b.pool.Get().(*[]byte); p != nil && cap(*p) >= n {
			return (*p)[:cap(*p)]
		}
	}
	return make([]byte, n)
}

// put takes back a buffer no longer used.
func (b *Buffers) put(buf []byte) {
	if b != nil && cap(buf) <= maxPooled {
		b.pool.Put(&buf)
	}
}

// Framer splits the stream into JSON texts (OVSDB sends objects back to
// back, without delimiters) by tracking nesting outside strings. It reads
// straight into the buffer it returns messages from (no copy). Both ends
// use it: nva's sessions, and the fleet's simulated OVSDB servers.
type Framer struct {
	r    io.Reader
	bufs *Buffers // where message buffers come from and go back to (nil: allocated)
	err  error    // the reader's error, returned once what came before it is framed

	buf      []byte // buf[off:end] is read but not yet returned
	off, end int

	// the scan of the message starting at off: buf[off:pos] is scanned
	pos        int
	depth      int
	inStr, esc bool
	// spans are where the message's members' objects and arrays are
	// (the containers at depth 2), relative to its start; open is where
	// the current one starts.
	spans []span
	open  int

	idle      [idleBuffer]byte // the buffer while nothing larger is needed
	idleInUse bool             // buf is idle[:]
}

// NewFramer returns a Framer reading r.
func NewFramer(r io.Reader) *Framer { return NewFramerBuffers(r, nil) }

// NewFramerBuffers returns a Framer reading r whose message buffers
// come from bufs.
func NewFramerBuffers(r io.Reader, bufs *Buffers) *Framer {
	f := &Framer{r: r, bufs: bufs}
	f.buf = f.idle[:]
	f.idleInUse = true
	return f
}

// Next returns the next message; it is valid until the following call.
// It skips through a string's contents to its closing quote (or a
// backslash) with bytes.IndexByte instead of looking at every byte: an
// Open_vSwitch schema (27 KB, read by every session when it connects,
// 1,000 at once after a restart) and monitor replies are mostly strings.
func (f *Framer) Next() ([]byte, error) {
	f.pos, f.depth, f.inStr, f.esc = f.off, 0, false, false
	f.spans = f.spans[:0]
	for {
		if msg, err, done := f.scan(); done {
			return msg, err
		}
		if err := f.fill(); err != nil {
			return nil, err
		}
	}
}

// scan continues the scan of the message at off through what is read;
// done reports a message (or an error) found. (The state is kept in
// locals while scanning: the loop runs over every byte outside strings.)
func (f *Framer) scan() (msg []byte, err error, done bool) {
	b := f.buf[:f.end]
	off, depth, inStr, esc := f.off, f.depth, f.inStr, f.esc
	for i := f.pos; i < len(b); i++ {
		c := b[i]
		if depth == 0 {
			switch c {
			case ' ', '\t', '\r', '\n':
				off = i + 1 // between messages
				continue
			case '{', '[':
			default:
				f.off, f.pos = i+1, i+1
				return nil, fmt.Errorf("unexpected %q between JSON-RPC messages", c), true
			}
		}
		switch {
		case inStr:
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			default:
				i += stringRun(b[i+1:]) // to the byte before the next quote or backslash
			}
		case c == '"':
			inStr = true
		case c == '{' || c == '[':
			if depth++; depth == 2 {
				f.open = i - off
			}
		case c == '}' || c == ']':
			switch depth--; depth {
			case 0:
				f.off, f.pos, f.depth = i+1, i+1, 0
				return b[off : i+1 : i+1], nil, true
			case 1:
				f.spans = append(f.spans, span{f.open, i + 1 - off})
			}
		}
	}
	f.off, f.pos, f.depth, f.inStr, f.esc = off, len(b), depth, inStr, esc
	return nil, nil, false
}

// span is where a JSON value is in a message: msg[start:end].
type span struct{ start, end int }

// fill reads more of the stream after what is buffered, making room for
// it: the partial message moves to the front of the buffer, or to a larger
// one (at least double: a message larger than the buffer arrives a read at
// a time, and growing it a little at a time would copy it many times).
func (f *Framer) fill() error {
	if f.err != nil {
		return f.endErr()
	}
	if f.off == f.end {
		// Everything read is framed (but white space): the next read
		// starts a message, in the idle buffer.
		f.off, f.end, f.pos = 0, 0, 0
		if !f.idleInUse {
			f.bufs.put(f.buf)
			f.buf, f.idleInUse = f.idle[:], true
		}
	}
	if f.end == len(f.buf) {
		n := f.end - f.off
		if n >= maxMessage {
			return fmt.Errorf("a JSON-RPC message exceeds %d bytes", maxMessage)
		}
		if n > len(f.buf)/2 {
			buf := f.bufs.get(max(readBuffer, 2*len(f.buf)))
			copy(buf, f.buf[f.off:f.end])
			if !f.idleInUse {
				f.bufs.put(f.buf)
			}
			f.buf, f.idleInUse = buf, false
		} else {
			copy(f.buf, f.buf[f.off:f.end])
		}
		f.pos -= f.off
		f.off, f.end = 0, n
	}
	for range 100 {
		k, err := f.r.Read(f.buf[f.end:])
		f.end += k
		if err != nil {
			f.err = err
			if k == 0 {
				return f.endErr()
			}
		}
		if k > 0 {
			return nil
		}
	}
	return io.ErrNoProgress
}

// endErr is the reader's error once everything before it is framed: an
// end of the stream within a message is unexpected.
func (f *Framer) endErr() error {
	if errors.Is(f.err, io.EOF) && f.end > f.off {
		return io.ErrUnexpectedEOF
	}
	return f.err
}

// stringRun is how many bytes at the start of b (inside a string) are
// neither a quote nor a backslash.
func stringRun(b []byte) int {
	n := bytes.IndexByte(b, '"')
	if n < 0 {
		n = len(b)
	}
	if k := bytes.IndexByte(b[:n], '\\'); k >= 0 {
		return k
	}
	return n
}
