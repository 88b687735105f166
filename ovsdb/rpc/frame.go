package rpc

import (
	"bufio"
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

// framer splits the stream into JSON texts (OVSDB sends objects back to
// back, without delimiters) by tracking nesting outside strings.
type framer struct {
	r   *bufio.Reader
	buf []byte
}

func newFramer(r io.Reader) *framer { return &framer{r: bufio.NewReaderSize(r, 4096)} }

// next returns the next message; it is valid until the following call.
func (f *framer) next() ([]byte, error) {
	if cap(f.buf) > keepBuffer {
		f.buf = nil
	}
	f.buf = f.buf[:0]
	depth, inStr, esc := 0, false, false
	for {
		b, err := f.r.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) && len(f.buf) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if depth == 0 {
			switch b {
			case ' ', '\t', '\r', '\n':
				continue
			case '{', '[':
			default:
				return nil, fmt.Errorf("unexpected %q between JSON-RPC messages", b)
			}
		}
		if len(f.buf) >= maxMessage {
			return nil, fmt.Errorf("a JSON-RPC message exceeds %d bytes", maxMessage)
		}
		f.buf = append(f.buf, b)
		switch {
		case inStr:
			switch {
			case esc:
				esc = false
			case b == '\\':
				esc = true
			case b == '"':
				inStr = false
			}
		case b == '"':
			inStr = true
		case b == '{' || b == '[':
			depth++
		case b == '}' || b == ']':
			depth--
			if depth == 0 {
				return f.buf, nil
			}
		}
	}
}
