package conn

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"antrea.io/libOpenflow/openflow13"
)

// discardConn is a net.Conn that swallows writes (echo replies) and is
// never read: the fuzz target feeds frames to the dispatcher directly.
type discardConn struct{}

func (discardConn) Read([]byte) (int, error)    { return 0, net.ErrClosed }
func (discardConn) Write(b []byte) (int, error) { return len(b), nil }
func (discardConn) Close() error                { return nil }
func (discardConn) LocalAddr() net.Addr         { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 6653} }
func (discardConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
}
func (discardConn) SetDeadline(time.Time) error      { return nil }
func (discardConn) SetReadDeadline(time.Time) error  { return nil }
func (discardConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzReader feeds arbitrary bytes through the per-switch reader: framing
// (readFrame), dispatch (handleFrame, with pending requests of every kind so
// that replies reach the futures) and the decoders the callers run on reply
// bodies. Any panic is a bug; an error is the "close this switch" outcome.
func FuzzReader(f *testing.F) {
	// The committed corpus in testdata/fuzz/FuzzReader holds the seeds
	// (regenerate with -update-fuzz-seeds); a few more are added here.
	f.Add([]byte{4, 0, 0, 8, 0, 0, 0, 1})
	f.Add([]byte{4, 2, 0, 8, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		wd := time.AfterFunc(10*time.Second, func() { panic(fmt.Sprintf("FuzzReader stuck on %q", data)) })
		defer wd.Stop()
		s := newSwitch(discardConn{}, Options{Logger: slog.New(slog.DiscardHandler),
			OnPacketIn: func(*Switch, PacketIn) {}, PacketInQueue: 2}) // decoded, queued, then dropped
		// Pending calls at the xids the seeds use.
		calls := []*call{
			{kind: kindMultipart, mpType: openflow13.MultipartType_Flow, done: make(chan struct{})},
			{kind: kindMultipart, mpType: openflow13.MultipartType_PortDesc, done: make(chan struct{})},
			{kind: kindBarrier, done: make(chan struct{})},
			{kind: kindReply, want: openflow13.Type_FeaturesReply, done: make(chan struct{})},
		}
		calls[1].onComplete = func(c *call) {
			if ports, err := parsePortDesc(c.body()); err == nil {
				s.setPorts(ports)
			}
		}
		for i, c := range calls {
			if err := s.register(c, fuzzXids[i]); err != nil {
				t.Fatal(err)
			}
		}
		r := bytes.NewReader(data)
		for {
			b, err := readFrame(r, 0)
			if err != nil {
				break
			}
			_, _ = negotiate(b)
			_, _ = safeParse(b)
			if err := s.handleFrame(b); err != nil {
				break
			}
		}
		// What callers do with completed replies.
		for _, c := range calls {
			select {
			case <-c.done:
			default:
				continue
			}
			if c.err != nil {
				continue
			}
			switch {
			case c.kind == kindMultipart && c.mpType == openflow13.MultipartType_Flow:
				if entries, err := splitFlowStats(c.body()); err == nil {
					_, _ = decodeFlowStats(entries)
				}
			case c.kind == kindReply:
				_, _ = decodeFeatures(c.raw)
			}
		}
		// The body decoders on raw input too.
		if entries, err := splitFlowStats(data); err == nil {
			_, _ = decodeFlowStats(entries)
		}
		_, _ = parseGroupDesc(data)
		_, _ = parsePortDesc(data)
		s.closeWith(fmt.Errorf("fuzz done"))
	})
}

// fuzzXids are the xids of the pending flow-stats, port-desc, barrier and
// features calls; the seeds' error message has xid 3, a Send'ed message
// before the barrier.
var fuzzXids = []uint32{1, 2, 10, 4}

var updateFuzzSeeds = flag.Bool("update-fuzz-seeds", false, "rewrite testdata/fuzz/FuzzReader")

// TestFuzzSeeds writes the FuzzReader seed corpus (with -update-fuzz-seeds)
// and checks that the committed corpus is there.
func TestFuzzSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzReader")
	seeds := fuzzSeeds(t)
	if *updateFuzzSeeds {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, b := range seeds {
			content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
			if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name := range seeds {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("seed %s missing (run go test -run TestFuzzSeeds -update-fuzz-seeds): %v", name, err)
		}
	}
}

func fuzzSeeds(t *testing.T) map[string][]byte {
	hello := helloMsg(1)
	features := header(openflow13.Type_FeaturesReply, 32, 4)
	binary.BigEndian.PutUint64(features[8:16], 0xabc01)
	features[20] = 254
	entries := append(flowStatsEntry(t, 0xab01, 10), flowStatsEntry(t, 0xab02, 20)...)
	flowMore := mpReply(openflow13.MultipartType_Flow, 1, true, entries)
	flowLast := mpReply(openflow13.MultipartType_Flow, 1, false, flowStatsEntry(t, 0xab03, 30))
	ports := make([]byte, 0, 128)
	for _, p := range []*openflow13.PhyPort{phyPort(1, "vm1", false), phyPort(openflow13.P_LOCAL, "br-int", true)} {
		b, _ := p.MarshalBinary()
		ports = append(ports, b...)
	}
	portDesc := mpReply(openflow13.MultipartType_PortDesc, 2, false, ports)
	errMsg := header(openflow13.Type_Error, 20, 3)
	binary.BigEndian.PutUint16(errMsg[8:10], openflow13.ET_FLOW_MOD_FAILED)
	copy(errMsg[12:], []byte{4, 14, 0, 8, 0, 0, 0, 3})
	bundleErr := header(openflow13.Type_Error, 24, 9)
	binary.BigEndian.PutUint16(bundleErr[8:10], openflow13.ET_EXPERIMENTER)
	binary.BigEndian.PutUint16(bundleErr[10:12], openflow13.BEC_MSG_FAILD)
	binary.BigEndian.PutUint32(bundleErr[12:16], openflow13.ONF_EXPERIMENTER_ID)
	ps := openflow13.NewPortStatus()
	ps.Header.Type = openflow13.Type_PortStatus
	ps.Desc = *phyPort(3, "vm3", false)
	portStatus, _ := ps.MarshalBinary()
	barrier := header(openflow13.Type_BarrierReply, 8, 10)
	echo := header(openflow13.Type_EchoRequest, 12, 7)
	copy(echo[8:], "ping")
	groupDesc := []byte{0, 40, openflow13.OFPGT_ALL, 0, 0, 0, 0, 7,
		0, 32, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0,
		0, 0, 0, 16, 0, 0, 0, 5, 0xff, 0xff, 0, 0, 0, 0, 0, 0}

	packetIn := packetInMsg(0, ReasonAction, 1, 0x4e56, [][]byte{oxm(oxmClassBasic, oxmInPort, u32(5)),
		oxm(0x0001, 0, u32(1)), oxm(oxmClassBasic, oxmTunnelID, u64(4242))}, testFrame)

	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	return map[string][]byte{
		"hello":                   hello,
		"features_reply":          features,
		"flow_stats_reply":        cat(flowMore, flowLast),
		"port_desc_reply":         portDesc,
		"error":                   cat(errMsg, barrier),
		"bundle_error":            bundleErr,
		"port_status":             portStatus,
		"echo_request":            echo,
		"group_desc_body":         groupDesc,
		"session":                 cat(features, portDesc, echo, portStatus, flowMore, errMsg, flowLast, barrier),
		"truncated_hello":         hello[:12],
		"truncated_features":      features[:20],
		"truncated_flow_stats":    cat(flowMore[:len(flowMore)-9]),
		"truncated_flow_entry":    mpReply(openflow13.MultipartType_Flow, 1, false, entries[:60]),
		"truncated_error":         errMsg[:10],
		"short_port_status":       portStatus[:40],
		"bad_header_length":       []byte{4, 0, 0, 3, 0, 0, 0, 1},
		"garbage":                 []byte("\x00\xff\x13\x37garbage that is not openflow at all"),
		"flow_entry_bad_length":   mpReply(openflow13.MultipartType_Flow, 1, false, append([]byte{0, 8}, entries[2:]...)),
		"group_desc_bucket_short": groupDesc[:20],
		"packet_in":               packetIn,
	}
}

// TestReaderSessionSeed checks that the "session" seed really drives the
// dispatcher through its paths (so the fuzzer starts from meaningful input).
func TestReaderSessionSeed(t *testing.T) {
	s := newSwitch(discardConn{}, Options{Logger: testLogger(t)})
	flow := &call{kind: kindMultipart, mpType: openflow13.MultipartType_Flow, done: make(chan struct{})}
	pd := &call{kind: kindMultipart, mpType: openflow13.MultipartType_PortDesc, done: make(chan struct{})}
	pd.onComplete = func(c *call) {
		ports, err := parsePortDesc(c.body())
		if err != nil {
			t.Error(err)
		}
		s.setPorts(ports)
	}
	bar := &call{kind: kindBarrier, done: make(chan struct{})}
	feat := &call{kind: kindReply, want: openflow13.Type_FeaturesReply, done: make(chan struct{})}
	for i, c := range []*call{flow, pd, bar, feat} {
		if err := s.register(c, fuzzXids[i]); err != nil {
			t.Fatal(err)
		}
	}
	r := bytes.NewReader(fuzzSeeds(t)["session"])
	for r.Len() > 0 {
		b, err := readFrame(r, ofVersion)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.handleFrame(b); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range []*call{flow, pd, bar, feat} {
		select {
		case <-c.done:
		default:
			t.Fatalf("call %d not completed", i)
		}
	}
	entries, err := splitFlowStats(flow.body())
	if err != nil || len(entries) != 3 {
		t.Fatalf("flow entries %d, %v", len(entries), err)
	}
	if f, err := decodeFeatures(feat.raw); err != nil || f.DPID != 0xabc01 {
		t.Fatalf("features %+v %v", f, err)
	}
	if len(bar.errs) != 1 || bar.errs[0].Type != openflow13.ET_FLOW_MOD_FAILED {
		t.Fatalf("barrier errors %v", bar.errs)
	}
	if ports := s.Ports(); len(ports) != 3 || ports[3].Name != "vm3" || ports[1].Name != "vm1" {
		t.Fatalf("ports %v", ports)
	}
}
