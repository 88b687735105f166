package conn

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"testing"

	"antrea.io/libOpenflow/openflow13"
)

// countingConn counts the writes made on a connection.
type countingConn struct {
	net.Conn
	mu     sync.Mutex
	writes int
}

func (c *countingConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	c.writes++
	c.mu.Unlock()
	return c.Conn.Write(b)
}

func (c *countingConn) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes
}

// pipeSwitch connects a fake switch to ServeConn over a loopback TCP
// connection whose controller side counts its writes.
func pipeSwitch(t *testing.T) (*fakeSwitch, *Switch, *countingConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	sw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	ctrl, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctrl.Close(); sw.Close() })
	cc := &countingConn{Conn: ctrl}
	rec := newRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { _ = ServeConn(ctx, cc, rec, Options{Logger: testLogger(t)}) }()
	f := &fakeSwitch{t: t, c: sw}
	f.handshake(7)
	return f, rec.waitConnected(t), cc
}

// SendAllRawBarrier writes the messages and the barrier in one write, with
// consecutive xids, never into the caller's spare capacity, and returns
// the errors the switch sent for the messages.
func TestSendAllRawBarrierOneWrite(t *testing.T) {
	f, sw, cc := pipeSwitch(t)
	msgs := rawFlowMods(t, 3)
	spare := msgs[2][len(msgs[2]):cap(msgs[2])]
	spareBefore := bytes.Clone(spare)
	before := cc.count()
	ch := async(func() error { return sw.SendAllRawBarrier(context.Background(), msgs) })
	var xids []uint32
	for range 3 {
		xids = append(xids, xidOf(f.expect(openflow13.Type_FlowMod)))
	}
	barrier := xidOf(f.expect(openflow13.Type_BarrierRequest))
	if xids[1] != xids[0]+1 || xids[2] != xids[0]+2 || barrier != xids[0]+3 {
		t.Fatalf("xids %v then barrier %d, want consecutive", xids, barrier)
	}
	f.sendError(xids[1], openflow13.ET_BAD_ACTION, openflow13.BAC_BAD_OUT_PORT)
	f.reply(openflow13.Type_BarrierReply, barrier)
	var be *BatchError
	if err := recv(t, ch); !errors.As(err, &be) || len(be.Errors) != 1 || be.Errors[0].Xid != xids[1] {
		t.Fatalf("SendAllRawBarrier = %v, want the error for the second message", err)
	}
	if n := cc.count() - before; n != 1 {
		t.Errorf("SendAllRawBarrier made %d writes, want 1", n)
	}
	if !bytes.Equal(spare, spareBefore) {
		t.Error("SendAllRawBarrier wrote into the caller's spare capacity")
	}
}

// A small bundle leaves in one write: open, adds and barrier; the commit
// follows once the barrier shows every add accepted.
func TestBundleOneWriteThenCommit(t *testing.T) {
	f, sw, cc := pipeSwitch(t)
	before := cc.count()
	ch := async(func() error { return sw.BundleRaw(context.Background(), rawFlowMods(t, 3)) })
	open := f.expect(openflow13.Type_Experimenter)
	if binary.BigEndian.Uint16(open[20:22]) != bundleOpenRequest {
		t.Fatalf("first message %x, want a bundle open", open)
	}
	for i := range 3 {
		if add := f.expect(openflow13.Type_Experimenter); binary.BigEndian.Uint32(add[12:16]) != onftBundleAdd {
			t.Fatalf("message %d after the open: %x, want a bundle add", i+1, add[:24])
		}
	}
	barrier := xidOf(f.expect(openflow13.Type_BarrierRequest))
	if n := cc.count() - before; n != 1 {
		t.Errorf("open, adds and barrier took %d writes, want 1", n)
	}
	r := bytes.Clone(open)
	binary.BigEndian.PutUint16(r[20:22], bundleOpenReply)
	f.writeRaw(r)
	f.reply(openflow13.Type_BarrierReply, barrier)
	commit := f.expect(openflow13.Type_Experimenter)
	if binary.BigEndian.Uint16(commit[20:22]) != bundleCommitRequest {
		t.Fatalf("after the barrier: %x, want the commit", commit)
	}
	r = bytes.Clone(commit)
	binary.BigEndian.PutUint16(r[20:22], bundleCommitReply)
	f.writeRaw(r)
	if err := recv(t, ch); err != nil {
		t.Fatal(err)
	}
}

// A switch that does not know bundles refuses the open (and the adds):
// Bundle returns the open's error, which says so, and sends no discard
// and no commit.
func TestBundleOpenRefused(t *testing.T) {
	f, sw, _ := pipeSwitch(t)
	ch := async(func() error { return sw.BundleRaw(context.Background(), rawFlowMods(t, 2)) })
	open := f.expect(openflow13.Type_Experimenter)
	f.sendError(xidOf(open), openflow13.ET_BAD_REQUEST, openflow13.BRC_BAD_EXPERIMENTER)
	for range 2 {
		f.sendError(xidOf(f.expect(openflow13.Type_Experimenter)), openflow13.ET_BAD_REQUEST, openflow13.BRC_BAD_EXPERIMENTER)
	}
	f.reply(openflow13.Type_BarrierReply, xidOf(f.expect(openflow13.Type_BarrierRequest)))
	var oe *OFError
	if err := recv(t, ch); !errors.As(err, &oe) || oe.Type != openflow13.ET_BAD_REQUEST || oe.Xid != xidOf(open) {
		t.Fatalf("bundle on a switch without bundles: %v, want the open's BAD_REQUEST", err)
	}
	// The next message is the test's own barrier: no discard, no commit.
	b := async(func() error { return sw.Barrier(context.Background()) })
	f.reply(openflow13.Type_BarrierReply, xidOf(f.expect(openflow13.Type_BarrierRequest)))
	if err := recv(t, b); err != nil {
		t.Fatal(err)
	}
}

// An open refused for another reason (the switch knows bundles) is
// followed by a discard, since the adds may have opened the bundle.
func TestBundleOpenFailedIsDiscarded(t *testing.T) {
	f, sw, _ := pipeSwitch(t)
	ch := async(func() error { return sw.BundleRaw(context.Background(), rawFlowMods(t, 1)) })
	open := f.expect(openflow13.Type_Experimenter)
	const bundleFailed, badID = 17, 1 // OFPET_BUNDLE_FAILED, OFPBFC_BAD_ID
	f.sendError(xidOf(open), bundleFailed, badID)
	f.expect(openflow13.Type_Experimenter) // the add
	f.reply(openflow13.Type_BarrierReply, xidOf(f.expect(openflow13.Type_BarrierRequest)))
	disc := f.expect(openflow13.Type_Experimenter)
	if binary.BigEndian.Uint16(disc[20:22]) != bundleDiscardRequest {
		t.Fatalf("after a failed open: %x, want a discard", disc)
	}
	r := bytes.Clone(disc)
	binary.BigEndian.PutUint16(r[20:22], bundleDiscardReply)
	f.writeRaw(r)
	var oe *OFError
	if err := recv(t, ch); !errors.As(err, &oe) || oe.Type != bundleFailed {
		t.Fatalf("bundle with a failed open: %v", err)
	}
}
