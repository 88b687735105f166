package conn

import (
	"context"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"antrea.io/libOpenflow/openflow13"
	"antrea.io/libOpenflow/util"
)

// SendAll writes many messages in order with consecutive xids (in more
// than one chunk here), and an error for one of them is returned by the
// next Barrier, as for Send.
func TestSendAll(t *testing.T) {
	h := newHarness(t, Options{})
	f, sw := h.connect(7)
	const n = 3000 // > sendAllChunk bytes of flow mods
	msgs := make([]util.Message, n)
	for i := range msgs {
		msgs[i] = flowMod(uint64(i))
	}
	sent := async(func() error { return sw.SendAll(msgs) })
	var first, bad uint32
	for i := range n {
		m := f.expect(openflow13.Type_FlowMod)
		if i == 0 {
			first = xidOf(m)
		}
		if xidOf(m) != first+uint32(i) || binary.BigEndian.Uint64(m[8:16]) != uint64(i) {
			t.Fatalf("flow-mod %d arrived with xid %d cookie %x (first xid %d)", i, xidOf(m), m[8:16], first)
		}
		if i == 1234 {
			bad = xidOf(m)
		}
	}
	if err := recv(t, sent); err != nil {
		t.Fatal(err)
	}
	b := async(func() error { return sw.Barrier(context.Background()) })
	bar := f.expect(openflow13.Type_BarrierRequest)
	f.sendError(bad, openflow13.ET_FLOW_MOD_FAILED, openflow13.FMFC_TABLE_FULL)
	f.reply(openflow13.Type_BarrierReply, xidOf(bar))
	var be *BatchError
	if err := recv(t, b); !errors.As(err, &be) || len(be.Errors) != 1 || be.Errors[0].Xid != bad {
		t.Fatalf("barrier after SendAll: %v, want the error of xid %d", err, bad)
	}
}

// The reader never waits for the write lock: with a writer holding it
// (a large batch going out), an echo request is queued for its reply and
// the messages after it are still read and delivered; the reply goes out
// once the lock is free.
func TestReaderNotBehindWriter(t *testing.T) {
	events := make(chan PortEvent, 4)
	h := newHarness(t, Options{OnPortStatus: func(sw *Switch, ev PortEvent) { events <- ev }})
	f, sw := h.connect(7)
	sw.wmu.Lock()
	locked := true
	defer func() {
		if locked {
			sw.wmu.Unlock()
		}
	}()
	req := openflow13.NewEchoRequest()
	req.Xid = 0xbeef
	f.write(req)
	ps := openflow13.NewPortStatus()
	ps.Header.Type = openflow13.Type_PortStatus
	ps.Reason = openflow13.PR_ADD
	ps.Desc = *phyPort(3, "vm3", false)
	f.write(ps)
	select {
	case ev := <-events:
		if ev.Port.Name != "vm3" {
			t.Fatalf("event for %s", ev.Port.Name)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the reader stopped behind the write lock: the port status after an echo request was not delivered")
	}
	sw.wmu.Unlock()
	locked = false
	if r := f.expect(openflow13.Type_EchoReply); xidOf(r) != 0xbeef {
		t.Fatalf("echo reply xid %x", xidOf(r))
	}
}

// The dead interval gives a starved process's reader until twice the
// interval, and no longer.
func TestDeadIntervalWhenLate(t *testing.T) {
	const dead = time.Second
	for _, c := range []struct {
		idle       time.Duration
		late, want bool
	}{
		{dead - time.Millisecond, false, false},
		{dead, false, true},
		{dead, true, false},
		{2*dead - time.Millisecond, true, false},
		{2 * dead, true, true},
	} {
		if got := expired(c.idle, dead, c.late); got != c.want {
			t.Errorf("expired(%v, %v, late=%v) = %v, want %v", c.idle, dead, c.late, got, c.want)
		}
	}
}
