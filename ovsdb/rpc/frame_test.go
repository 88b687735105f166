package rpc

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// TestFramerChunks: messages split anywhere by the stream, and larger
// than the reader's buffer, come out whole.
func TestFramerChunks(t *testing.T) {
	big := `{"k":"` + strings.Repeat(`x\"}]{[`, 3000) + `","n":[` + strings.Repeat(`{"a":[1,2]},`, 500) + `{}]}`
	msgs := []string{`{"a":"}{[\"\\"}`, big, `[1,{"b":[]}]`, `{"c":{}}`, big}
	in := " \n" + strings.Join(msgs, "\r\n\t ")
	for name, r := range map[string]io.Reader{
		"whole":       strings.NewReader(in),
		"byte a time": iotest.OneByteReader(strings.NewReader(in)),
		"halves":      iotest.HalfReader(strings.NewReader(in)),
	} {
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
	f := NewFramer(r)
	for b.Loop() {
		r.Reset(msg)
		f.r.Reset(r)
		if _, err := f.Next(); err != nil {
			b.Fatal(err)
		}
	}
}
