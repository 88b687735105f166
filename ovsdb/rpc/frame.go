package rpc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// maxMessage bounds one JSON-RPC message: a server sending more is broken.
const maxMessage = 64 << 20

// keepBuffer is the largest message buffer kept between messages; a larger
// one (a schema, a big initial monitor reply) is dropped once decoded, so
// an idle session does not hold its largest message's worth of memory as
// encoding/json's stream decoder would.
const keepBuffer = 8 << 10

// Framer splits the stream into JSON texts (OVSDB sends objects back to
// back, without delimiters) by tracking nesting outside strings. Both ends
// use it: nva's sessions, and the fleet's simulated OVSDB servers.
type Framer struct {
	r   *bufio.Reader
	buf []byte
}

// NewFramer returns a Framer reading r through a 4 KiB buffer.
func NewFramer(r io.Reader) *Framer { return &Framer{r: bufio.NewReaderSize(r, 4096)} }

// Next returns the next message; it is valid until the following call.
// It scans what the reader has buffered a chunk at a time, and skips
// through a string's contents to its closing quote (or a backslash)
// with bytes.IndexByte instead of looking at every byte: an Open_vSwitch
// schema (27 KB, read by every session when it connects, 1,000 at once
// after a restart) and monitor replies are mostly strings.
func (f *Framer) Next() ([]byte, error) {
	if cap(f.buf) > keepBuffer {
		f.buf = nil
	}
	f.buf = f.buf[:0]
	depth, inStr, esc := 0, false, false
	for {
		if _, err := f.r.Peek(1); err != nil {
			if errors.Is(err, io.EOF) && len(f.buf) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		chunk, _ := f.r.Peek(f.r.Buffered())
		start := 0
		for i := 0; i < len(chunk); i++ {
			b := chunk[i]
			if depth == 0 {
				switch b {
				case ' ', '\t', '\r', '\n':
					start = i + 1 // between messages
					continue
				case '{', '[':
				default:
					_, _ = f.r.Discard(i + 1)
					return nil, fmt.Errorf("unexpected %q between JSON-RPC messages", b)
				}
			}
			switch {
			case inStr:
				switch {
				case esc:
					esc = false
				case b == '\\':
					esc = true
				case b == '"':
					inStr = false
				default:
					i += stringRun(chunk[i+1:]) // to the byte before the next quote or backslash
				}
			case b == '"':
				inStr = true
			case b == '{' || b == '[':
				depth++
			case b == '}' || b == ']':
				depth--
				if depth == 0 {
					f.grow(i + 1 - start)
					f.buf = append(f.buf, chunk[start:i+1]...)
					_, _ = f.r.Discard(i + 1)
					return f.buf, nil
				}
			}
		}
		if len(f.buf)+len(chunk)-start > maxMessage {
			return nil, fmt.Errorf("a JSON-RPC message exceeds %d bytes", maxMessage)
		}
		f.grow(len(chunk) - start)
		f.buf = append(f.buf, chunk[start:]...)
		_, _ = f.r.Discard(len(chunk))
	}
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

// grow makes room for n more bytes in the message buffer, at least
// doubling it: a message larger than the reader's buffer arrives a
// chunk at a time, and append's growth of large slices (a quarter at a
// time) would copy it several times over.
func (f *Framer) grow(n int) {
	if len(f.buf)+n <= cap(f.buf) {
		return
	}
	b := make([]byte, len(f.buf), max(len(f.buf)+n, 2*cap(f.buf)))
	copy(b, f.buf)
	f.buf = b
}
