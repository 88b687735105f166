package fleet

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"antrea.io/libOpenflow/openflow13"
	"antrea.io/libOpenflow/util"
)

// controller is the test's side of one OpenFlow connection.
type controller struct {
	t   *testing.T
	c   net.Conn
	xid uint32
}

// listen returns a loopback listener and a function that accepts the next
// switch connection and exchanges hellos.
func listen(t *testing.T) (string, func() *controller) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String(), func() *controller {
		t.Helper()
		if tl, ok := ln.(*net.TCPListener); ok {
			_ = tl.SetDeadline(time.Now().Add(10 * time.Second))
		}
		c, err := ln.Accept()
		if err != nil {
			t.Fatalf("accept: %v", err)
		}
		t.Cleanup(func() { c.Close() })
		ctl := &controller{t: t, c: c}
		if m := ctl.read(); m[1] != openflow13.Type_Hello {
			t.Fatalf("first message type %d, want hello", m[1])
		}
		ctl.sendRaw(header(openflow13.Type_Hello, 8, 0))
		return ctl
	}
}

func (c *controller) send(m util.Message) uint32 {
	c.t.Helper()
	b, err := m.MarshalBinary()
	if err != nil {
		c.t.Fatal(err)
	}
	c.xid++
	binary.BigEndian.PutUint32(b[4:8], c.xid)
	c.sendRaw(b)
	return c.xid
}

func (c *controller) sendRaw(b []byte) {
	c.t.Helper()
	_ = c.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.c.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

func (c *controller) read() []byte {
	c.t.Helper()
	_ = c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var h [8]byte
	if _, err := io.ReadFull(c.c, h[:]); err != nil {
		c.t.Fatalf("read: %v", err)
	}
	m := make([]byte, binary.BigEndian.Uint16(h[2:4]))
	copy(m, h[:])
	if _, err := io.ReadFull(c.c, m[8:]); err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return m
}

// expect reads until a message of type typ arrives (skipping echo
// requests and port status) and returns it.
func (c *controller) expect(typ uint8) []byte {
	c.t.Helper()
	for {
		m := c.read()
		if m[1] == typ {
			return m
		}
		if m[1] == openflow13.Type_Error {
			c.t.Fatalf("switch sent error type %d code %d, want message type %d", binary.BigEndian.Uint16(m[8:10]), binary.BigEndian.Uint16(m[10:12]), typ)
		}
	}
}

// multipart sends a multipart request and returns the concatenated reply
// bodies and how many messages carried them.
func (c *controller) multipart(mpType uint16, body []byte) ([]byte, int) {
	c.t.Helper()
	b := header(openflow13.Type_MultiPartRequest, 16+len(body), 0)
	binary.BigEndian.PutUint16(b[8:10], mpType)
	copy(b[16:], body)
	c.xid++
	binary.BigEndian.PutUint32(b[4:8], c.xid)
	c.sendRaw(b)
	var out []byte
	for n := 1; ; n++ {
		m := c.expect(openflow13.Type_MultiPartReply)
		if got := binary.BigEndian.Uint32(m[4:8]); got != c.xid {
			c.t.Fatalf("multipart reply xid %d, want %d", got, c.xid)
		}
		out = append(out, m[16:]...)
		if binary.BigEndian.Uint16(m[10:12])&openflow13.OFPMPF_REPLY_MORE == 0 {
			return out, n
		}
	}
}

func flowStatsBody(cookie, mask uint64) []byte {
	b := make([]byte, 40)
	b[0] = openflow13.OFPTT_ALL
	binary.BigEndian.PutUint32(b[4:8], openflow13.P_ANY)
	binary.BigEndian.PutUint32(b[8:12], openflow13.OFPG_ANY)
	binary.BigEndian.PutUint64(b[16:24], cookie)
	binary.BigEndian.PutUint64(b[24:32], mask)
	binary.BigEndian.PutUint16(b[32:34], 1)
	binary.BigEndian.PutUint16(b[34:36], 4)
	return b
}

func countEntries(t *testing.T, body []byte) int {
	t.Helper()
	n := 0
	for off := 0; off < len(body); n++ {
		l := int(binary.BigEndian.Uint16(body[off:]))
		if l == 0 || off+l > len(body) {
			t.Fatalf("entry length %d at offset %d of %d", l, off, len(body))
		}
		off += l
	}
	return n
}

func flowMod(cmd uint8, table uint8, prio uint16, inPort uint32, cookie uint64) *openflow13.FlowMod {
	fm := openflow13.NewFlowMod()
	fm.Command = cmd
	fm.TableId = table
	fm.Priority = prio
	fm.Cookie = cookie
	if cmd == openflow13.FC_DELETE_STRICT || cmd == openflow13.FC_DELETE {
		fm.CookieMask = ^uint64(0)
	}
	fm.Match.AddField(*openflow13.NewInPortField(inPort))
	if cmd == openflow13.FC_ADD || cmd == openflow13.FC_MODIFY_STRICT {
		ins := openflow13.NewInstrApplyActions()
		_ = ins.AddAction(openflow13.NewActionOutput(inPort+1), false)
		fm.AddInstruction(ins)
	}
	return fm
}

// TestSwitch drives a switch as a controller would: handshake, role,
// flow and group mods, barrier, the multiparts (split when large), echo,
// port status, bundles, and how connection ends are counted.
func TestSwitch(t *testing.T) {
	addr, accept := listen(t)
	sw := NewSwitch(0x2a, SwitchOptions{Bundles: true, ProbeInterval: -1})
	defer sw.Close()
	sw.SetPorts([]Port{{1, "tap1"}, {2, "tap2"}})
	sw.SetControllers([]string{"tcp:" + addr})
	c := accept()

	c.send(openflow13.NewFeaturesRequest())
	fr := c.expect(openflow13.Type_FeaturesReply)
	if got := binary.BigEndian.Uint64(fr[8:16]); got != 0x2a {
		t.Fatalf("features reply datapath ID %#x, want 0x2a", got)
	}
	if fr[20] != 254 {
		t.Errorf("n_tables %d, want 254", fr[20])
	}

	role := header(openflow13.Type_RoleRequest, 24, 77)
	binary.BigEndian.PutUint32(role[8:12], roleMaster)
	binary.BigEndian.PutUint64(role[16:24], 9)
	c.sendRaw(role)
	rr := c.expect(openflow13.Type_RoleReply)
	if binary.BigEndian.Uint32(rr[8:12]) != roleMaster || binary.BigEndian.Uint64(rr[16:24]) != 9 || binary.BigEndian.Uint32(rr[4:8]) != 77 {
		t.Errorf("role reply %x", rr)
	}

	// Flows: three adds (one replaced by a second add with the same key),
	// a strict modify, a strict delete with the wrong cookie (no effect)
	// and one with the right cookie.
	c.send(flowMod(openflow13.FC_ADD, 0, 100, 1, 0xaa))
	c.send(flowMod(openflow13.FC_ADD, 0, 100, 2, 0xaa))
	c.send(flowMod(openflow13.FC_ADD, 1, 50, 1, 0xbb))
	c.send(flowMod(openflow13.FC_ADD, 1, 50, 1, 0xbb))
	c.send(flowMod(openflow13.FC_MODIFY_STRICT, 0, 100, 1, 0))
	c.send(flowMod(openflow13.FC_DELETE_STRICT, 0, 100, 2, 0xcc))
	c.send(flowMod(openflow13.FC_DELETE_STRICT, 0, 100, 1, 0xaa))
	g := openflow13.NewGroupMod()
	g.GroupId, g.Type, g.Command = 7, openflow13.OFPGT_ALL, openflow13.OFPGC_ADD
	bk := openflow13.NewBucket()
	bk.AddAction(openflow13.NewActionOutput(1))
	g.AddBucket(*bk)
	c.send(g)
	c.sendRaw(header(openflow13.Type_BarrierRequest, 8, 1))
	c.expect(openflow13.Type_BarrierReply)
	if f, gr := sw.Tables(); f != 2 || gr != 1 {
		t.Fatalf("tables: %d flows, %d groups; want 2 and 1", f, gr)
	}
	if st := sw.Stats(); st.FlowMods != 7 || st.GroupMods != 1 || st.Errors != 0 {
		t.Fatalf("stats %+v: want 7 flow mods, 1 group mod, no errors", st)
	}
	// A second group add is refused.
	gx := c.send(g)
	e := c.read()
	if e[1] != openflow13.Type_Error || binary.BigEndian.Uint16(e[8:10]) != openflow13.ET_GROUP_MOD_FAILED ||
		binary.BigEndian.Uint16(e[10:12]) != openflow13.GMFC_GROUP_EXISTS || binary.BigEndian.Uint32(e[4:8]) != gx {
		t.Fatalf("second group add: got %x, want GROUP_EXISTS for xid %d", e, gx)
	}

	body, _ := c.multipart(openflow13.MultipartType_Flow, flowStatsBody(0xbb, ^uint64(0)))
	if n := countEntries(t, body); n != 1 {
		t.Errorf("flow stats for cookie 0xbb: %d entries, want 1", n)
	}
	fs := openflow13.NewFlowStats()
	if err := fs.UnmarshalBinary(body); err != nil {
		t.Fatalf("libOpenflow cannot decode the flow stats entry: %v", err)
	}
	if fs.TableId != 1 || fs.Priority != 50 || fs.Cookie != 0xbb || len(fs.Instructions) != 1 {
		t.Errorf("flow stats entry: table %d priority %d cookie %#x, %d instructions", fs.TableId, fs.Priority, fs.Cookie, len(fs.Instructions))
	}
	body, _ = c.multipart(openflow13.MultipartType_GroupDesc, nil)
	if n := countEntries(t, body); n != 1 || binary.BigEndian.Uint32(body[4:8]) != 7 {
		t.Errorf("group desc: %d entries (first id %d), want group 7", n, binary.BigEndian.Uint32(body[4:8]))
	}
	body, _ = c.multipart(openflow13.MultipartType_PortDesc, nil)
	if len(body) != 128 {
		t.Fatalf("port desc: %d bytes, want 2 ports", len(body))
	}
	p := openflow13.NewPhyPort()
	if err := p.UnmarshalBinary(body[64:128]); err != nil || p.PortNo != 2 || string(p.Name[:4]) != "tap2" {
		t.Errorf("port desc entry 2: %v %d %q", err, p.PortNo, p.Name)
	}
	body, _ = c.multipart(openflow13.MultipartType_TableFeatures, nil)
	if n := countEntries(t, body); n != 254 {
		t.Errorf("table features: %d tables, want 254", n)
	}

	// A bundle of 1,000 flow adds: applied at commit, all at once; the
	// flow stats then no longer fit one message.
	ctl := func(typ uint16) []byte {
		b := header(openflow13.Type_Experimenter, 24, 0)
		binary.BigEndian.PutUint32(b[8:12], onfExperimenter)
		binary.BigEndian.PutUint32(b[12:16], onftBundleControl)
		binary.BigEndian.PutUint32(b[16:20], 5)
		binary.BigEndian.PutUint16(b[20:22], typ)
		return b
	}
	c.sendRaw(ctl(bundleOpenRequest))
	if r := c.expect(openflow13.Type_Experimenter); binary.BigEndian.Uint16(r[20:22]) != bundleOpenRequest+1 {
		t.Fatalf("bundle open reply type %d", binary.BigEndian.Uint16(r[20:22]))
	}
	for i := 0; i < 1000; i++ {
		inner, err := flowMod(openflow13.FC_ADD, 2, 10, uint32(100+i), 0xdd).MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		add := header(openflow13.Type_Experimenter, 24+len(inner), 0)
		binary.BigEndian.PutUint32(add[8:12], onfExperimenter)
		binary.BigEndian.PutUint32(add[12:16], onftBundleAdd)
		binary.BigEndian.PutUint32(add[16:20], 5)
		copy(add[24:], inner)
		c.sendRaw(add)
	}
	c.sendRaw(header(openflow13.Type_BarrierRequest, 8, 1))
	c.expect(openflow13.Type_BarrierReply)
	if f, _ := sw.Tables(); f != 2 {
		t.Fatalf("%d flows before the commit, want 2", f)
	}
	c.sendRaw(ctl(bundleCommitRequest))
	if r := c.expect(openflow13.Type_Experimenter); binary.BigEndian.Uint16(r[20:22]) != bundleCommitRequest+1 {
		t.Fatalf("bundle commit reply type %d", binary.BigEndian.Uint16(r[20:22]))
	}
	if f, _ := sw.Tables(); f != 1002 {
		t.Fatalf("%d flows after the commit, want 1002", f)
	}
	body, msgs := c.multipart(openflow13.MultipartType_Flow, flowStatsBody(0, 0))
	if n := countEntries(t, body); n != 1002 || msgs < 2 {
		t.Errorf("flow stats: %d entries in %d messages, want 1002 in more than one", n, msgs)
	}

	// Echo, and a port status for a new port.
	c.sendRaw(header(openflow13.Type_EchoRequest, 12, 99))
	if r := c.expect(openflow13.Type_EchoReply); binary.BigEndian.Uint32(r[4:8]) != 99 || len(r) != 12 {
		t.Errorf("echo reply %x", r)
	}
	sw.SetPorts([]Port{{1, "tap1"}, {2, "tap2"}, {3, "tap3"}})
	ps := c.expect(openflow13.Type_PortStatus)
	if ps[8] != openflow13.PR_ADD || binary.BigEndian.Uint32(ps[16:20]) != 3 {
		t.Errorf("port status %x, want port 3 added", ps[:20])
	}

	// The controller closes: a drop. The switch reconnects, keeps its
	// tables, and a close by the fleet is no drop.
	c.c.Close()
	c2 := accept()
	c2.send(openflow13.NewFeaturesRequest())
	c2.expect(openflow13.Type_FeaturesReply)
	if st := sw.Stats(); st.Dropped != 1 || st.Connects != 2 {
		t.Errorf("after the controller closed: %d dropped, %d connects; want 1 and 2", st.Dropped, st.Connects)
	}
	if f, g := sw.Tables(); f != 1002 || g != 1 {
		t.Errorf("tables after reconnect: %d flows %d groups", f, g)
	}
	sw.Close()
	if st := sw.Stats(); st.Dropped != 1 {
		t.Errorf("after Close: %d dropped, want still 1", st.Dropped)
	}
}

// TestStrictSwitchRefusesBundles: a switch without bundles answers an
// experimenter message with BAD_EXPERIMENTER, and flow mods from a slave
// connection are refused.
func TestStrictSwitchRefusesBundles(t *testing.T) {
	addr, accept := listen(t)
	sw := NewSwitch(1, SwitchOptions{ProbeInterval: -1})
	defer sw.Close()
	sw.SetControllers([]string{addr})
	c := accept()
	b := header(openflow13.Type_Experimenter, 24, 3)
	binary.BigEndian.PutUint32(b[8:12], onfExperimenter)
	binary.BigEndian.PutUint32(b[12:16], onftBundleControl)
	c.sendRaw(b)
	e := c.read()
	if e[1] != openflow13.Type_Error || binary.BigEndian.Uint16(e[10:12]) != openflow13.BRC_BAD_EXPERIMENTER {
		t.Fatalf("bundle open on a strict switch: %x, want BAD_EXPERIMENTER", e)
	}
	role := header(openflow13.Type_RoleRequest, 24, 4)
	binary.BigEndian.PutUint32(role[8:12], roleSlave)
	c.sendRaw(role)
	c.expect(openflow13.Type_RoleReply)
	c.send(flowMod(openflow13.FC_ADD, 0, 1, 1, 1))
	e = c.read()
	if e[1] != openflow13.Type_Error || binary.BigEndian.Uint16(e[10:12]) != openflow13.BRC_IS_SLAVE {
		t.Fatalf("flow mod from a slave: %x, want IS_SLAVE", e)
	}
	if f, _ := sw.Tables(); f != 0 {
		t.Errorf("%d flows after a refused flow mod", f)
	}
}

// TestSwitchReadsAnyFraming: messages arrive many in one write, split
// across writes, and longer than the read buffer; each is applied once.
func TestSwitchReadsAnyFraming(t *testing.T) {
	addr, accept := listen(t)
	sw := NewSwitch(3, SwitchOptions{ProbeInterval: -1})
	defer sw.Close()
	sw.SetControllers([]string{addr})
	c := accept()

	var batch []byte
	for i := 0; i < 200; i++ {
		b, err := flowMod(openflow13.FC_ADD, 0, 10, uint32(i), 1).MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		batch = append(batch, b...)
	}
	c.sendRaw(batch)

	big := flowMod(openflow13.FC_ADD, 1, 10, 1, 2)
	ins := openflow13.NewInstrApplyActions()
	for i := 0; i < 1000; i++ {
		_ = ins.AddAction(openflow13.NewActionOutput(uint32(i)), false)
	}
	big.Instructions = nil
	big.AddInstruction(ins)
	b, err := big.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if len(b) <= readBufSize {
		t.Fatalf("the big flow mod has %d bytes, not more than the read buffer", len(b))
	}
	c.sendRaw(b[:5])
	c.sendRaw(b[5:3000])
	c.sendRaw(b[3000:])
	split, err := flowMod(openflow13.FC_ADD, 2, 10, 1, 3).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	c.sendRaw(split[:20])
	c.sendRaw(split[20:])
	c.sendRaw(header(openflow13.Type_BarrierRequest, 8, 1))
	c.expect(openflow13.Type_BarrierReply)
	if f, _ := sw.Tables(); f != 202 {
		t.Fatalf("%d flows, want 202", f)
	}
	if st := sw.Stats(); st.FlowMods != 202 || st.Errors != 0 {
		t.Fatalf("stats %+v, want 202 flow mods and no errors", st)
	}
	body, _ := c.multipart(openflow13.MultipartType_Flow, flowStatsBody(2, ^uint64(0)))
	// The entry: a flow-stats header as long as the flow mod's (48), the
	// in_port match (16), the instructions.
	if len(body) != len(b) {
		t.Fatalf("flow stats of the big flow: %d bytes, want %d", len(body), len(b))
	}
	if !bytes.Equal(body[48+16:], b[48+16:]) {
		t.Errorf("the big flow's instructions differ from the flow mod's")
	}
}
