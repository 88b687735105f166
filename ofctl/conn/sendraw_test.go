package conn

import (
	"bytes"
	"context"
	"encoding/binary"
	"strings"
	"testing"

	"antrea.io/libOpenflow/openflow13"
)

// rawFlowMods marshals n flow-mods (cookie i) back to back into one buffer
// and returns each message as a slice of it.
func rawFlowMods(t testing.TB, n int) [][]byte {
	t.Helper()
	var buf []byte
	var ends []int
	for i := range n {
		b, err := flowMod(uint64(i)).MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		buf = append(buf, b...)
		ends = append(ends, len(buf))
	}
	msgs := make([][]byte, n)
	start := 0
	for i, e := range ends {
		msgs[i], start = buf[start:e], e
	}
	return msgs
}

// SendAllRaw writes messages already in wire form in order with
// consecutive xids, whether they lie back to back in one buffer (written
// from it) or apart (gathered), across several chunks; the bytes arrive as
// given, xid aside.
func TestSendAllRaw(t *testing.T) {
	h := newHarness(t, Options{})
	f, sw := h.connect(7)
	const n = 3000 // > sendAllChunk bytes of flow mods
	msgs := rawFlowMods(t, n)
	for _, i := range []int{1, 2, 1000, 2999} { // some messages elsewhere
		msgs[i] = append([]byte(nil), msgs[i]...)
	}
	want := make([][]byte, n)
	for i, m := range msgs {
		want[i] = append([]byte(nil), m...)
	}
	sent := async(func() error { return sw.SendAllRaw(msgs) })
	var first uint32
	for i := range n {
		m := f.expect(openflow13.Type_FlowMod)
		if i == 0 {
			first = xidOf(m)
		}
		if xidOf(m) != first+uint32(i) {
			t.Fatalf("flow-mod %d arrived with xid %d (first xid %d)", i, xidOf(m), first)
		}
		if xidOf(msgs[i]) != xidOf(m) {
			t.Fatalf("flow-mod %d: xid %d on the wire, %d in the caller's message", i, xidOf(m), xidOf(msgs[i]))
		}
		clear(m[4:8])
		clear(want[i][4:8])
		if !bytes.Equal(m, want[i]) {
			t.Fatalf("flow-mod %d arrived as %x, want %x", i, m, want[i])
		}
	}
	if err := recv(t, sent); err != nil {
		t.Fatal(err)
	}

	// A malformed message is an error and nothing is sent.
	msgs = rawFlowMods(t, 3)
	binary.BigEndian.PutUint16(msgs[1][2:4], 7)
	if err := sw.SendAllRaw(msgs); err == nil || !strings.Contains(err.Error(), "message 2 of 3") {
		t.Fatalf("malformed raw message: %v", err)
	}
	msgs = rawFlowMods(t, 1)
	msgs[0][0] = 1
	if err := sw.SendAllRaw(msgs); err == nil {
		t.Fatal("an OpenFlow 1.0 message was sent")
	}
	b := async(func() error { return sw.Barrier(context.Background()) })
	f.reply(openflow13.Type_BarrierReply, xidOf(f.expect(openflow13.Type_BarrierRequest)))
	if err := recv(t, b); err != nil {
		t.Fatal(err)
	}
}

// BundleRaw wraps messages already in wire form in bundle adds (all
// written before the barrier), leaving the caller's bytes alone.
func TestBundleRaw(t *testing.T) {
	h := newHarness(t, Options{})
	f, sw := h.connect(7)
	const n = 1500 // > sendAllChunk bytes of bundle adds
	msgs := rawFlowMods(t, n)
	before := bytes.Clone(msgs[0][:cap(msgs[0])])
	ch := async(func() error { return sw.BundleRaw(context.Background(), msgs) })
	ctl := func(want uint16) []byte {
		b := f.expect(openflow13.Type_Experimenter)
		if binary.BigEndian.Uint32(b[12:16]) != onftBundleControl || binary.BigEndian.Uint16(b[20:22]) != want {
			t.Fatalf("bundle control %x, want type %d", b, want)
		}
		r := append([]byte(nil), b...)
		binary.BigEndian.PutUint16(r[20:22], want+1) // the reply type
		f.writeRaw(r)
		return b
	}
	open := ctl(bundleOpenRequest)
	id := binary.BigEndian.Uint32(open[16:20])
	var first uint32
	for i := range n {
		add := f.expect(openflow13.Type_Experimenter)
		if binary.BigEndian.Uint32(add[12:16]) != onftBundleAdd || binary.BigEndian.Uint32(add[16:20]) != id ||
			binary.BigEndian.Uint16(add[22:24]) != bundleFlagAtomic|bundleFlagOrdered {
			t.Fatalf("bundle add %d: %x", i, add[:24])
		}
		if i == 0 {
			first = xidOf(add)
		}
		inner := add[24:]
		if xidOf(add) != first+uint32(i) || xidOf(inner) != xidOf(add) ||
			inner[1] != openflow13.Type_FlowMod || int(binary.BigEndian.Uint16(inner[2:4])) != len(inner) ||
			binary.BigEndian.Uint64(inner[8:16]) != uint64(i) {
			t.Fatalf("bundle add %d (xid %d, first %d) inner message %x", i, xidOf(add), first, inner[:16])
		}
	}
	f.reply(openflow13.Type_BarrierReply, xidOf(f.expect(openflow13.Type_BarrierRequest)))
	ctl(bundleCommitRequest)
	if err := recv(t, ch); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, msgs[0][:cap(msgs[0])]) {
		t.Fatal("BundleRaw changed the caller's bytes")
	}
}

func TestAdjacent(t *testing.T) {
	buf := make([]byte, 32)
	for _, c := range []struct {
		a, b []byte
		want bool
	}{
		{buf[0:8], buf[8:16], true},
		{buf[0:8], buf[8:32], true},
		{buf[0:8], buf[9:16], false},
		{buf[8:16], buf[0:8], false},
		{buf[0:8:8], buf[8:16], false}, // a's capacity ends before b
		{buf[0:8], make([]byte, 8), false},
		{buf[0:8], buf[8:8], false},
		{buf[0:32], buf[31:32], false},
	} {
		if got := adjacent(c.a, c.b); got != c.want {
			t.Errorf("adjacent(buf[%d:%d], %d bytes) = %v", cap(buf)-cap(c.a), cap(buf)-cap(c.a)+len(c.a), len(c.b), got)
		}
	}
}
