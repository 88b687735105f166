package rpc

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

// chunkings are readers of b that deliver it whole, a byte at a time and
// in halves of what each read asks for.
func chunkings(b []byte) map[string]io.Reader {
	return map[string]io.Reader{
		"whole":       bytes.NewReader(b),
		"byte a time": iotest.OneByteReader(bytes.NewReader(b)),
		"halves":      iotest.HalfReader(bytes.NewReader(b)),
	}
}

// TestFramerChunks: messages split anywhere by the stream, and larger
// than the reader's buffer, come out whole.
func TestFramerChunks(t *testing.T) {
	big := `{"k":"` + strings.Repeat(`x\"}]{[`, 3000) + `","n":[` + strings.Repeat(`{"a":[1,2]},`, 500) + `{}]}`
	msgs := []string{`{"a":"}{[\"\\"}`, big, `[1,{"b":[]}]`, `{"c":{}}`, big}
	in := " \n" + strings.Join(msgs, "\r\n\t ")
	for name, r := range chunkings([]byte(in)) {
		f := NewFramer(r)
		for i, want := range msgs {
			got, err := f.Next()
			if err != nil || !bytes.Equal(got, []byte(want)) {
				t.Fatalf("%s: message %d: %.60q (%d bytes), %v; want %d bytes", name, i, got, len(got), err, len(want))
			}
		}
		if _, err := f.Next(); !errors.Is(err, io.EOF) {
			t.Fatalf("%s: end: %v", name, err)
		}
	}
	f := NewFramer(iotest.OneByteReader(strings.NewReader(`{"a":1} x`)))
	if _, err := f.Next(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Next(); err == nil {
		t.Fatal("garbage between messages accepted")
	}
}

// BenchmarkFramer frames a 20-port NVE's monitor reply.
func BenchmarkFramer(b *testing.B) {
	raw, _ := nveReply(b)
	msg := []byte(`{"id":3,"result":` + string(raw) + `,"error":null}`)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	r := bytes.NewReader(msg)
	for b.Loop() {
		r.Reset(msg)
		f := NewFramer(r)
		if _, err := f.Next(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFramerSchema frames a message the size of the Open_vSwitch
// schema (27 KB), which every session reads when it connects (1,000 at
// once after a restart), arriving through the reader's 4 KiB buffer.
func BenchmarkFramerSchema(b *testing.B) {
	msg := []byte(`{"id":1,"result":{"tables":[` + strings.Repeat(`{"name":"Interface","columns":{"ofport":{"type":"integer"}}},`, 440) + `{}]},"error":null}`)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	r := bytes.NewReader(msg)
	for b.Loop() {
		r.Reset(msg)
		f := NewFramer(r)
		if m, err := f.Next(); err != nil || len(m) != len(msg) {
			b.Fatal(len(m), err)
		}
	}
}

// plainScan is the JSON structure the plain references follow, a byte at
// a time: the container depth, outside strings (with their escapes).
type plainScan struct {
	depth      int
	inStr, esc bool
}

// step takes byte b and reports a container opened (+1), closed (-1), or
// neither (0); depth is the depth after b.
func (p *plainScan) step(b byte) int {
	switch {
	case p.inStr:
		switch {
		case p.esc:
			p.esc = false
		case b == '\\':
			p.esc = true
		case b == '"':
			p.inStr = false
		}
	case b == '"':
		p.inStr = true
	case b == '{' || b == '[':
		p.depth++
		return 1
	case b == '}' || b == ']':
		p.depth--
		return -1
	}
	return 0
}

// framePlain is the framer's rule, a byte at a time: the reference the
// framer is checked against.
func framePlain(in []byte) (msgs []string, rest int) {
	var sc plainScan
	start := 0
	for i, b := range in {
		if sc.depth == 0 {
			switch b {
			case ' ', '\t', '\r', '\n':
				start = i + 1
				continue
			case '{', '[':
			default:
				return msgs, i
			}
		}
		if sc.step(b) < 0 && sc.depth == 0 {
			msgs = append(msgs, string(in[start:i+1]))
			start = i + 1
		}
	}
	return msgs, len(in)
}

// spansPlain is where the containers at depth 2 of one message are, a
// byte at a time: the reference of the framer's spans.
func spansPlain(msg []byte) []span {
	var out []span
	var sc plainScan
	open := 0
	for i, b := range msg {
		switch sc.step(b) {
		case 1:
			if sc.depth == 2 {
				open = i
			}
		case -1:
			if sc.depth == 1 {
				out = append(out, span{open, i + 1})
			}
		}
	}
	return out
}

// TestFramerRandom: random streams of JSON-ish messages (strings with
// escapes, quotes and brackets inside them, nesting), read through
// readers that return every size of piece, come out as the plain
// byte-at-a-time rule frames them (fixed seed).
func TestFramerRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 8))
	str := func() string {
		var b strings.Builder
		b.WriteByte('"')
		for range r.IntN(40) {
			switch r.IntN(8) {
			case 0:
				b.WriteString([]string{`\"`, `\\`, `\n`, `\u0041`}[r.IntN(4)])
			case 1:
				b.WriteByte("{}[],: "[r.IntN(7)])
			default:
				b.WriteByte(byte('a' + r.IntN(26)))
			}
		}
		b.WriteByte('"')
		return b.String()
	}
	var value func(d int) string
	value = func(d int) string {
		switch k := r.IntN(5); {
		case d > 4 || k == 0:
			return []string{"1", "true", "null", str()}[r.IntN(4)]
		case k < 3:
			var parts []string
			for range r.IntN(6) {
				parts = append(parts, str()+":"+value(d+1))
			}
			return "{" + strings.Join(parts, ",") + "}"
		default:
			var parts []string
			for range r.IntN(6) {
				parts = append(parts, value(d+1))
			}
			return "[" + strings.Join(parts, ", ") + "]"
		}
	}
	pool := NewBuffers()
	for round := range 300 {
		var in strings.Builder
		for range 1 + r.IntN(8) {
			in.WriteString([]string{"", " ", "\n", "\r\n\t"}[r.IntN(4)])
			if r.IntN(2) == 0 {
				in.WriteString("{" + str() + ":" + value(1) + "}")
			} else {
				in.WriteString("[" + value(1) + "]")
			}
		}
		raw := []byte(in.String())
		want, _ := framePlain(raw)
		for name, rd := range chunkings(raw) {
			f := NewFramer(rd)
			if round%2 == 1 { // buffers shared between the framers
				f = NewFramerBuffers(rd, pool)
			}
			for i, w := range want {
				got, err := f.Next()
				if err != nil || string(got) != w {
					t.Fatalf("round %d, %s: message %d: %.80q, %v; want %.80q", round, name, i, got, err, w)
				}
				if want := spansPlain(got); !slices.Equal(f.spans, want) {
					t.Fatalf("round %d, %s: message %d %.80q: spans %v, want %v", round, name, i, got, f.spans, want)
				}
				for _, sp := range f.spans { // container skips to where it would scan to
					s := scan{b: got, i: sp.start}
					if v, err := s.container(); err != nil || len(v) != sp.end-sp.start {
						t.Fatalf("round %d: container at %d: %q, %v; span %v", round, sp.start, v, err, sp)
					}
				}
			}
			if _, err := f.Next(); !errors.Is(err, io.EOF) {
				t.Fatalf("round %d, %s: end: %v", round, name, err)
			}
		}
	}
}

// sizeReader serves its messages in order, one per Read (whole, or as much
// as fits), and records the size of the buffer each Read is given.
type sizeReader struct {
	data  []string
	sizes []int
}

func (r *sizeReader) Read(p []byte) (int, error) {
	r.sizes = append(r.sizes, len(p))
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.data[0])
	if r.data[0] = r.data[0][n:]; r.data[0] == "" {
		r.data = r.data[1:]
	}
	return n, nil
}

// TestFramerIdleBuffer: once a message larger than the idle buffer is
// framed (with the newline a JSON encoder puts after it), the next read
// goes to the small idle buffer again: an idle session does not keep its
// largest message's buffer.
func TestFramerIdleBuffer(t *testing.T) {
	big := `{"k":"` + strings.Repeat("x", 20000) + `"}`
	r := &sizeReader{data: []string{`{"echo":[]}` + "\n", big + "\n", `{"echo":[]}` + "\n"}}
	f := NewFramer(r)
	for i, want := range []string{`{"echo":[]}`, big, `{"echo":[]}`} {
		got, err := f.Next()
		if err != nil || string(got) != want {
			t.Fatalf("message %d: %.40q, %v", i, got, err)
		}
		if i == 1 {
			r.sizes = nil
		}
	}
	if len(r.sizes) != 1 || r.sizes[0] > idleBuffer {
		t.Fatalf("reads after the large message got buffers of %v bytes, want one of at most %d", r.sizes, idleBuffer)
	}
	if _, err := f.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("end: %v", err)
	}
}
