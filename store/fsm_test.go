package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/nva-project/nva/app/model"
)

// harness drives an fsm directly with encoded commands at increasing
// indexes, as raft would.
type harness struct {
	t   *testing.T
	f   *fsm
	idx uint64
}

func newHarness(t *testing.T) *harness {
	return &harness{t: t, f: newFSM(nil, DedupPolicy{})}
}

func encode(t *testing.T, c command) []byte {
	t.Helper()
	data, err := encodeCommand(c)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// raw applies an encoded command and returns the FSM's response.
func (h *harness) raw(data []byte) any {
	h.idx++
	return h.f.Apply(&raft.Log{Index: h.idx, Type: raft.LogCommand, Data: data})
}

// do applies one command, as logged (not prepared), and returns its
// result.
func (h *harness) do(c command) *result {
	h.t.Helper()
	r, ok := h.raw(encode(h.t, c)).(*result)
	if !ok {
		h.t.Fatalf("%s: FSM did not return a result", c.cmdType())
	}
	return r
}

// ok applies one command that must succeed.
func (h *harness) ok(c command) *result {
	h.t.Helper()
	r := h.do(c)
	if r.Err != nil {
		h.t.Fatalf("%s: unexpected error %v", c.cmdType(), r.Err)
	}
	return r
}
func ofNVE(name, ip, dpid string) model.NVE {
	return model.NVE{Name: name, Kind: model.NVEOpenFlow, UnderlayIPs: []string{ip}, DatapathID: dpid}
}

func port(name, vn, nve, iface, mac string, vlan int, ips ...string) model.Port {
	return model.Port{Name: name, VN: vn, NVE: nve, Interface: iface, MAC: mac, VLAN: vlan, IPs: ips}
}

// cloneState copies the state's maps. Objects are immutable, so this is a
// full copy for comparison purposes.
func cloneState(s *state) *state {
	sets := func(m map[string]map[string]struct{}) map[string]map[string]struct{} {
		out := make(map[string]map[string]struct{}, len(m))
		for k, v := range m {
			out[k] = maps.Clone(v)
		}
		return out
	}
	return &state{
		vns: maps.Clone(s.vns), nves: maps.Clone(s.nves), ports: maps.Clone(s.ports), nodes: maps.Clone(s.nodes),
		byVNI: maps.Clone(s.byVNI), byDPID: maps.Clone(s.byDPID), byUnderlay: maps.Clone(s.byUnderlay),
		byMAC: maps.Clone(s.byMAC), byIP: maps.Clone(s.byIP), byAttach: maps.Clone(s.byAttach),
		portsOfVN: sets(s.portsOfVN), portsOfNVE: sets(s.portsOfNVE), pairedBy: maps.Clone(s.pairedBy),
	}
}

// checkIndexes rebuilds every index from the primary maps and compares.
func checkIndexes(t *testing.T, s *state) {
	t.Helper()
	r := newState()
	for _, v := range s.vns {
		r.putVN(v)
	}
	for _, n := range s.nves {
		r.putNVE(n)
	}
	for _, p := range s.ports {
		r.putPort(p)
	}
	r.nodes = s.nodes
	if !reflect.DeepEqual(r, s) {
		t.Fatalf("indexes out of sync with the objects:\nhave %+v\nwant %+v", s, r)
	}
}

// seed builds a state with two VNs, two NVEs and two ports.
func seed(h *harness) {
	h.ok(&createVN{Obj: model.VN{Name: "blue"}})          // vni 1
	h.ok(&createVN{Obj: model.VN{Name: "red", VNI: 100}}) // vni 100
	h.ok(&createNVE{Obj: testNVE("hv1", "192.0.2.1")})    // dpid ...01
	h.ok(&createNVE{Obj: ofNVE("tor1", "192.0.2.9", "00:00:00:00:00:00:00:99")})
	h.ok(&createPort{Obj: port("p1", "blue", "hv1", "tap1", "02:00:00:00:00:01", 0, "10.0.0.1", "2001:db8::1")})
	h.ok(&createPort{Obj: port("p2", "red", "tor1", "eth1", "02:00:00:00:00:02", 10, "10.0.0.2")})
}

// TestApplyRejections covers the guards the FSM keeps, judged in log
// order; the leader's early check gives the same verdict on the same state.
func TestApplyRejections(t *testing.T) {
	cases := []struct {
		name     string
		cmd      command
		kind     model.ErrorKind
		field    string
		blocking []string
	}{
		{"vn duplicate name", &createVN{Obj: model.VN{Name: "blue", VNI: 7}}, model.KindConflict, "name", nil},
		{"vn duplicate vni", &createVN{Obj: model.VN{Name: "green", VNI: 100}}, model.KindConflict, "vni", nil},
		{"vn update missing", &updateVN{Obj: model.VN{Name: "green"}}, model.KindNotFound, "", nil},
		{"vn update to taken vni", &updateVN{Obj: model.VN{Name: "blue", VNI: 100}}, model.KindConflict, "vni", nil},
		{"vn delete missing", &deleteVN{Name: "green"}, model.KindNotFound, "", nil},
		{"vn delete with ports", &deleteVN{Name: "blue"}, model.KindConflict, "", []string{"p1", "p3"}},
		{"nve duplicate name", &createNVE{Obj: testNVE("hv1", "192.0.2.50")}, model.KindConflict, "name", nil},
		{"nve duplicate datapath id", &createNVE{Obj: ofNVE("tor2", "192.0.2.10", "00004e5600000001")}, model.KindConflict, "datapath_id", nil},
		{"nve duplicate underlay ip", &createNVE{Obj: model.NVE{Name: "hv2", UnderlayIPs: []string{"192.0.2.2", "192.0.2.1"}, OVSDB: "tcp:192.0.2.2:6640"}}, model.KindConflict, "underlay_ips[1]", nil},
		{"nve update missing", &updateNVE{Obj: testNVE("hv9", "192.0.2.99")}, model.KindNotFound, "", nil},
		{"nve update to taken underlay", &updateNVE{Obj: testNVE("hv1", "192.0.2.9")}, model.KindConflict, "underlay_ips[0]", nil},
		{"nve delete missing", &deleteNVE{Name: "hv9"}, model.KindNotFound, "", nil},
		{"nve delete with ports", &deleteNVE{Name: "hv1"}, model.KindConflict, "", []string{"p1", "p3"}},
		{"port duplicate name", &createPort{Obj: port("p1", "blue", "hv1", "tap9", "02:00:00:00:00:09", 0)}, model.KindConflict, "name", nil},
		{"port missing vn", &createPort{Obj: port("p9", "green", "hv1", "tap9", "02:00:00:00:00:09", 0)}, model.KindReference, "vn", nil},
		{"port missing nve", &createPort{Obj: port("p9", "blue", "hv9", "tap9", "02:00:00:00:00:09", 0)}, model.KindReference, "nve", nil},
		{"port duplicate mac in vn", &createPort{Obj: port("p9", "blue", "hv1", "tap9", "02:00:00:00:00:01", 0)}, model.KindConflict, "mac", nil},
		{"port duplicate mac other spelling", &createPort{Obj: port("p9", "blue", "hv1", "tap9", "02-00-00-00-00-01", 0)}, model.KindConflict, "mac", nil},
		{"port duplicate ip in vn", &createPort{Obj: port("p9", "blue", "hv1", "tap9", "02:00:00:00:00:09", 0, "10.0.0.9", "10.0.0.1")}, model.KindConflict, "ips[1]", nil},
		{"port duplicate ipv6 other spelling", &createPort{Obj: port("p9", "blue", "hv1", "tap9", "02:00:00:00:00:09", 0, "2001:DB8:0::1")}, model.KindConflict, "ips[0]", nil},
		{"port duplicate attachment", &createPort{Obj: port("p9", "red", "tor1", "eth1", "02:00:00:00:00:09", 10)}, model.KindConflict, "interface", nil},
		{"port update missing", &updatePort{Obj: port("p9", "blue", "hv1", "tap9", "02:00:00:00:00:09", 0)}, model.KindNotFound, "", nil},
		{"port update to taken ip", &updatePort{Obj: port("p3", "blue", "hv1", "tap3", "02:00:00:00:00:03", 0, "10.0.0.1")}, model.KindConflict, "ips[0]", nil},
		{"port update to missing vn", &updatePort{Obj: port("p3", "green", "hv1", "tap3", "02:00:00:00:00:03", 0)}, model.KindReference, "vn", nil},
		{"port delete missing", &deletePort{Name: "p9"}, model.KindNotFound, "", nil},
		{"node remove missing", &removeNode{ID: "n9"}, model.KindNotFound, "", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			seed(h)
			h.ok(&createPort{Obj: port("p3", "blue", "hv1", "tap3", "02:00:00:00:00:03", 0, "10.0.0.3")})
			before := cloneState(h.f.st)
			_, events := h.f.snapshotAndWatch(t.Context())
			early := leaderCheck(t, h.f, tc.cmd)
			r := h.do(tc.cmd)
			if r.Err == nil {
				t.Fatalf("accepted: %+v", r)
			}
			if !reflect.DeepEqual(early, r.Err) {
				t.Fatalf("the leader's early check said %v, the FSM %v", early, r.Err)
			}
			if r.Err.Kind != tc.kind || r.Err.Field != tc.field || !reflect.DeepEqual(r.Err.Blocking, tc.blocking) {
				t.Fatalf("error = %#v (%v), want kind %s field %q blocking %v", r.Err, r.Err, tc.kind, tc.field, tc.blocking)
			}
			if r.VN != nil || r.NVE != nil || r.Port != nil {
				t.Fatalf("rejected command returned an object: %+v", r)
			}
			if !reflect.DeepEqual(before, h.f.st) {
				t.Fatal("a rejected command changed the state")
			}
			select {
			case ev := <-events:
				t.Fatalf("a rejected command produced event %+v", ev)
			default:
			}
			if h.f.appliedIndex() != h.idx {
				t.Fatalf("applied index %d, want %d (rejections still consume their index)", h.f.appliedIndex(), h.idx)
			}
		})
	}
}

// leaderCheck judges c as the leader does before appending it: decoded
// from its encoding, prepared, checked against f's state.
func leaderCheck(t *testing.T, f *fsm, c command) *model.Error {
	t.Helper()
	d, err := decodeCommand(encode(t, c))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.prepare(); err != nil {
		return asModelError(err)
	}
	return f.check(d)
}

// TestPrepareRejectsInvalidInput: the stateless rules run before a command
// is proposed (on the node that takes the request, and on the leader),
// whatever the state and the expected revision; the FSM never runs them.
func TestPrepareRejectsInvalidInput(t *testing.T) {
	cases := []struct {
		name  string
		cmd   command
		field string
	}{
		{"vn invalid vni", &createVN{Obj: model.VN{Name: "green", VNI: model.MaxVNI + 1}}, "vni"},
		{"vn invalid encap", &createVN{Obj: model.VN{Name: "green", Encap: "stt"}}, "encap"},
		{"vn invalid conditional update", &updateVN{Obj: model.VN{Name: "red", MTU: 12}, ExpectRevision: 1}, "mtu"},
		{"nve openflow without dpid", &createNVE{Obj: ofNVE("tor2", "192.0.2.10", "")}, "datapath_id"},
		{"port invalid mac", &createPort{Obj: port("p9", "blue", "hv1", "tap9", "01:00:00:00:00:09", 0)}, "mac"},
		{"delete without name", &deletePort{}, "name"},
		{"node without id", &putNode{Node: NodeInfo{APIAddr: "http://127.0.0.1:1"}}, "id"},
		{"remove node without id", &removeNode{}, "id"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cmd.prepare()
			if e, ok := model.AsError(err); !ok || e.Kind != model.KindInvalid || e.Field != tc.field {
				t.Fatalf("prepare: %v, want invalid %q", err, tc.field)
			}
			if _, err := decodeCommand(encode(t, tc.cmd)); err != nil {
				return // the leader refuses it undecoded (handleApply: 400)
			}
			h := newHarness(t)
			seed(h)
			if e := leaderCheck(t, h.f, tc.cmd); e == nil || e.Kind != model.KindInvalid || e.Field != tc.field {
				t.Fatalf("leader's check: %v, want invalid %q", e, tc.field)
			}
		})
	}
	// Prepare fills the defaults into the command, leaving the caller's
	// slices alone.
	ips := []string{"2001:DB8::1"}
	c := &createPort{Obj: port("p1", "blue", "hv1", "tap1", "02-AA-00-00-00-01", 0, ips...)}
	c.Obj.IPs = ips
	if err := c.prepare(); err != nil {
		t.Fatal(err)
	}
	if c.Obj.MAC != "02:aa:00:00:00:01" || c.Obj.IPs[0] != "2001:db8::1" || ips[0] != "2001:DB8::1" {
		t.Fatalf("prepared %+v (caller's IPs now %v)", c.Obj, ips)
	}
	v := &createVN{Obj: model.VN{Name: "blue"}}
	if err := v.prepare(); err != nil || v.Obj.Encap != model.EncapVXLAN || v.Obj.BUM.Mode != model.BUMReplicate {
		t.Fatalf("prepared VN %+v, %v", v.Obj, err)
	}
}

// TestApplyTakesTheLoggedObjectAsIs: the FSM runs no defaults and no
// validation; it stores the logged object, adding only its revision and
// the allocations that are part of the command. (Objects the model would
// refuse never reach the log through the Store; here they are logged
// directly, to show that the model's rules play no part in apply.)
func TestApplyTakesTheLoggedObjectAsIs(t *testing.T) {
	h := newHarness(t)
	seed(h)
	vn := model.VN{Name: "odd", Service: "l9", Encap: "stt", BUM: model.BUM{Mode: "replicate", Group: "239.0.0.1"},
		Tenant: "not a tenant!", MTU: 12, Unknown: "maybe"}
	r := h.ok(&createVN{Obj: vn})
	want := vn
	want.VNI, want.Revision = 2, h.idx // the lowest free VNI
	if got := *h.f.st.vns["odd"]; !reflect.DeepEqual(got, want) {
		t.Fatalf("stored %+v, want %+v", got, want)
	}
	if !reflect.DeepEqual(*r.VN, want) {
		t.Fatalf("result %+v, want %+v", r.VN, want)
	}
	nve := model.NVE{Name: "odd", Kind: "p4", UnderlayIPs: []string{"not-an-ip"}, OVSDB: "http://x", Bridge: "a bridge name far too long", DatapathType: "dpdk"}
	h.ok(&createNVE{Obj: nve})
	wantNVE := nve
	wantNVE.DatapathID, wantNVE.Revision = "00004e5600000002", h.idx // hv1 has ...01
	if got := *h.f.st.nves["odd"]; !reflect.DeepEqual(got, wantNVE) {
		t.Fatalf("stored %+v, want %+v", got, wantNVE)
	}
	p := model.Port{Name: "odd", VN: "odd", NVE: "odd", Interface: "has space", MAC: "01:00:5e:00:00:01", IPs: []string{"224.0.0.5"}, VLAN: 5000}
	h.ok(&createPort{Obj: p})
	wantPort := p
	wantPort.Revision = h.idx
	// Compared as JSON: the stored port also carries its parsed MAC and
	// IPs (a cache the model keeps beside the logged text).
	gotJSON, _ := json.Marshal(h.f.st.ports["odd"])
	wantJSON, _ := json.Marshal(wantPort)
	if string(gotJSON) != string(wantJSON) {
		t.Fatalf("stored %s, want %s", gotJSON, wantJSON)
	}
	checkIndexes(t, h.f.st)
}

func TestApplyAcceptsWhatIsNotAConflict(t *testing.T) {
	h := newHarness(t)
	seed(h)
	// The same MAC and IP in a different VN, the same interface on another
	// VLAN, and a port updated onto its own values are all fine.
	h.ok(&createPort{Obj: port("p4", "red", "hv1", "tap1", "02:00:00:00:00:01", 20, "10.0.0.1")})
	h.ok(&updatePort{Obj: port("p1", "blue", "hv1", "tap1", "02:00:00:00:00:01", 0, "10.0.0.1", "2001:db8::1")})
	// Moving p1 to a new IP frees the old one for another port.
	h.ok(&updatePort{Obj: port("p1", "blue", "hv1", "tap1", "02:00:00:00:00:01", 0, "10.0.0.11")})
	h.ok(&createPort{Obj: port("p5", "blue", "hv1", "tap5", "02:00:00:00:00:05", 0, "10.0.0.1", "2001:db8::1")})
	// Updating an NVE keeps its assigned datapath ID and may change underlay.
	r := h.ok(&updateNVE{Obj: testNVE("hv1", "192.0.2.11")})
	if r.NVE.DatapathID != "00004e5600000001" {
		t.Fatalf("update lost the datapath id: %q", r.NVE.DatapathID)
	}
	h.ok(&createNVE{Obj: testNVE("hv3", "192.0.2.1")}) // freed underlay IP
	// Updating a VN with VNI 0 keeps its VNI.
	r = h.ok(&updateVN{Obj: model.VN{Name: "red", MTU: 1400}})
	if r.VN.VNI != 100 || r.VN.MTU != 1400 || r.VN.Revision != h.idx {
		t.Fatalf("updated VN = %+v", r.VN)
	}
	checkIndexes(t, h.f.st)
	// Deleting everything leaves every index empty.
	for _, p := range []string{"p1", "p2", "p4", "p5"} {
		h.ok(&deletePort{Name: p})
	}
	for _, n := range []string{"hv1", "hv3", "tor1"} {
		h.ok(&deleteNVE{Name: n})
	}
	for _, v := range []string{"blue", "red"} {
		h.ok(&deleteVN{Name: v})
	}
	if !reflect.DeepEqual(h.f.st, newState()) {
		t.Fatalf("state not empty after deleting everything: %+v", h.f.st)
	}
}

func TestAllocation(t *testing.T) {
	h := newHarness(t)
	h.ok(&createVN{Obj: model.VN{Name: "a", VNI: 1}})
	h.ok(&createVN{Obj: model.VN{Name: "b", VNI: 3}})
	for _, want := range []struct {
		name string
		vni  uint32
	}{{"c", 2}, {"d", 4}, {"e", 5}} {
		r := h.ok(&createVN{Obj: model.VN{Name: want.name}})
		if r.VN.VNI != want.vni {
			t.Fatalf("vn %s got VNI %d, want %d", want.name, r.VN.VNI, want.vni)
		}
	}
	h.ok(&deleteVN{Name: "a"})
	if r := h.ok(&createVN{Obj: model.VN{Name: "f"}}); r.VN.VNI != 1 {
		t.Fatalf("freed VNI 1 not reused: got %d", r.VN.VNI)
	}

	// Datapath IDs: lowest unused from 0x00004e5600000001; user-given
	// openflow IDs in the range are skipped.
	h.ok(&createNVE{Obj: ofNVE("tor", "192.0.2.100", "0x00004e5600000002")})
	want := []string{"00004e5600000001", "00004e5600000003", "00004e5600000004"}
	for i, w := range want {
		r := h.ok(&createNVE{Obj: testNVE(fmt.Sprintf("hv%d", i), fmt.Sprintf("192.0.2.%d", i+1))})
		if r.NVE.DatapathID != w {
			t.Fatalf("hv%d got datapath id %s, want %s", i, r.NVE.DatapathID, w)
		}
		if r.NVE.Bridge != "br-int" || r.NVE.DatapathType != "system" {
			t.Fatalf("defaults not applied: %+v", r.NVE)
		}
	}
	h.ok(&deleteNVE{Name: "hv0"})
	if r := h.ok(&createNVE{Obj: testNVE("hv9", "192.0.2.9")}); r.NVE.DatapathID != want[0] {
		t.Fatalf("freed datapath id not reused: %s", r.NVE.DatapathID)
	}
	checkIndexes(t, h.f.st)
}

func TestRequestIDDedupe(t *testing.T) {
	h := newHarness(t)
	_, events := h.f.snapshotAndWatch(t.Context())
	body := &createVN{ReqID: "req-1", Obj: model.VN{Name: "blue"}}
	first := h.ok(body)
	again := h.do(body) // a retry: applied once, original result
	if again != first && !reflect.DeepEqual(again, first) {
		t.Fatalf("retry result %+v, want the original %+v", again, first)
	}
	if again.Err != nil || again.Index != first.Index {
		t.Fatalf("retry got %+v", again)
	}
	if n := len(h.f.st.vns); n != 1 {
		t.Fatalf("%d VNs after a retried create", n)
	}
	if ev := <-events; ev.Name != "blue" || ev.Index != first.Index {
		t.Fatalf("event %+v", ev)
	}
	select {
	case ev := <-events:
		t.Fatalf("a deduplicated retry produced event %+v", ev)
	default:
	}
	// A rejected command is remembered too: its retry gets the same error
	// even after the state would allow it.
	bad := &createPort{ReqID: "req-2", Obj: port("p1", "blue", "hv1", "tap1", "02:00:00:00:00:01", 0)}
	r1 := h.do(bad)
	h.ok(&createNVE{Obj: testNVE("hv1", "192.0.2.1")})
	r2 := h.do(bad)
	if r1.Err == nil || !reflect.DeepEqual(r1, r2) {
		t.Fatalf("retry of a rejected command: %+v then %+v", r1, r2)
	}
	// The same ID on a different request is refused.
	other := &createVN{ReqID: "req-1", Obj: model.VN{Name: "red"}}
	if r := h.do(other); r.Err == nil || r.Err.Kind != model.KindConflict || !strings.Contains(r.Err.Message, "request ID") {
		t.Fatalf("reused request ID: %+v", r)
	}
	if _, ok := h.f.st.vns["red"]; ok {
		t.Fatal("a request with a reused ID was applied")
	}
}

func TestDedupeTableIsBounded(t *testing.T) {
	h := &harness{t: t, f: newFSM(nil, DedupPolicy{Keep: 3, Max: 3})}
	for i := range 4 {
		h.ok(&createVN{ReqID: fmt.Sprintf("r%d", i), Obj: model.VN{Name: fmt.Sprintf("vn%d", i)}})
	}
	if got := len(h.f.dedup.byID); got != 3 {
		t.Fatalf("table holds %d entries, want 3", got)
	}
	// r0 was evicted: its retry is applied again (and conflicts); r3 is
	// still remembered.
	if r := h.do(&createVN{ReqID: "r0", Obj: model.VN{Name: "vn0"}}); r.Err == nil || r.Err.Kind != model.KindConflict {
		t.Fatalf("evicted request: %+v", r)
	}
	if r := h.do(&createVN{ReqID: "r3", Obj: model.VN{Name: "vn3"}}); r.Err != nil {
		t.Fatalf("remembered request: %+v", r.Err)
	}
	ids := []string{}
	for _, e := range h.f.dedup.entries() {
		ids = append(ids, e.ReqID)
	}
	if want := []string{"r2", "r3", "r0"}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("table order %v, want %v", ids, want)
	}
}

type bufSink struct {
	bytes.Buffer
	canceled, closed bool
}

func (b *bufSink) ID() string    { return "test" }
func (b *bufSink) Cancel() error { b.canceled = true; return nil }
func (b *bufSink) Close() error  { b.closed = true; return nil }

func persist(t *testing.T, f *fsm) []byte {
	t.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var sink bufSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	snap.Release()
	if !sink.closed || sink.canceled {
		t.Fatalf("sink closed=%v canceled=%v", sink.closed, sink.canceled)
	}
	return sink.Bytes()
}

func TestSnapshotRestoreRoundTrip(t *testing.T) {
	h := newHarness(t)
	seed(h)
	h.ok(&putNode{ReqID: "node-1", Node: NodeInfo{ID: "n1", APIAddr: "http://127.0.0.1:8080", RaftAddr: "127.0.0.1:7000", OpenFlowAddr: "127.0.0.1:6653"}})
	dup := &createVN{ReqID: "green-1", Obj: model.VN{Name: "green"}}
	created := h.ok(dup)
	h.ok(&updatePort{Obj: port("p1", "blue", "hv1", "tap1", "02:00:00:00:00:01", 0, "10.0.0.5")})
	h.ok(&deleteVN{Name: "green"})

	data := persist(t, h.f)
	// The stream is one JSON value per object, not one blob.
	if lines := bytes.Count(data, []byte("\n")); lines < 2+6+1+1 {
		t.Fatalf("snapshot has %d records:\n%s", lines, data)
	}

	g := newFSM(nil, DedupPolicy{})
	_, events := g.snapshotAndWatch(t.Context())
	if err := g.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g.st, h.f.st) {
		t.Fatalf("restored state differs:\nhave %+v\nwant %+v", g.st, h.f.st)
	}
	if !reflect.DeepEqual(g.dedup.entries(), h.f.dedup.entries()) {
		t.Fatal("restored request-ID table differs")
	}
	if g.appliedIndex() != h.idx {
		t.Fatalf("restored applied index %d, want %d", g.appliedIndex(), h.idx)
	}
	if a, b := g.snapshot(), h.f.snapshot(); a.Revision != b.Revision || !reflect.DeepEqual(a.VNs, b.VNs) || !reflect.DeepEqual(a.NVEs, b.NVEs) ||
		!reflect.DeepEqual(a.Ports.Map(), b.Ports.Map()) || !reflect.DeepEqual(a.Policies, b.Policies) ||
		!reflect.DeepEqual(a.Learned, b.Learned) || !reflect.DeepEqual(a.L3Gateways, b.L3Gateways) {
		t.Fatal("restored snapshot view differs")
	}
	checkIndexes(t, g.st)
	if ev, ok := <-events; !ok || ev.Kind != KindReset {
		t.Fatalf("watcher got %+v (open=%v) on restore, want a reset", ev, ok)
	}
	if _, ok := <-events; ok {
		t.Fatal("watch channel not closed after reset")
	}
	// Equal states give equal streams.
	if again := persist(t, g); !bytes.Equal(again, data) {
		t.Fatalf("snapshot of the restored state differs:\n%s\n---\n%s", again, data)
	}
	// The request-ID table survived: the retried create returns its
	// original result instead of creating green again.
	h2 := &harness{t: t, f: g, idx: h.idx}
	if r := h2.do(dup); r.Err != nil || r.Index != created.Index {
		t.Fatalf("retry after restore: %+v", r)
	}
	if _, ok := g.st.vns["green"]; ok {
		t.Fatal("retried create after restore was applied again")
	}
}

func TestRestoreRejectsTruncatedSnapshot(t *testing.T) {
	h := newHarness(t)
	seed(h)
	data := persist(t, h.f)
	cut := data[:bytes.LastIndex(data[:len(data)-1], []byte("\n"))+1] // drop the trailer
	g := newFSM(nil, DedupPolicy{})
	if err := g.Restore(io.NopCloser(bytes.NewReader(cut))); err == nil {
		t.Fatal("truncated snapshot restored without error")
	}
	if len(g.st.vns) != 0 {
		t.Fatal("a failed restore changed the state")
	}
}

func TestWatchEventsInOrder(t *testing.T) {
	h := newHarness(t)
	h.ok(&createVN{Obj: model.VN{Name: "blue"}})
	snap, events := h.f.snapshotAndWatch(t.Context())
	if snap.Revision != 1 || len(snap.VNs) != 1 {
		t.Fatalf("snapshot %+v", snap)
	}
	h.ok(&updateVN{Obj: model.VN{Name: "blue", MTU: 1500}})
	h.ok(&createNVE{Obj: testNVE("hv1", "192.0.2.1")})
	h.ok(&deleteVN{Name: "blue"})
	h.ok(&putNode{Node: NodeInfo{ID: "n1"}})
	want := []struct {
		idx            uint64
		kind, op, name string
		hasOld, hasNew bool
	}{
		{2, KindVN, OpPut, "blue", true, true},
		{3, KindNVE, OpPut, "hv1", false, true},
		{4, KindVN, OpDelete, "blue", true, false},
		{5, KindNode, OpPut, "n1", false, true},
	}
	for _, w := range want {
		ev := <-events
		if ev.Index != w.idx || ev.Kind != w.kind || ev.Op != w.op || ev.Name != w.name || (ev.Old != nil) != w.hasOld || (ev.New != nil) != w.hasNew {
			t.Fatalf("event %+v, want %+v", ev, w)
		}
	}
	if old := (<-chan Event)(events); len(old) != 0 {
		t.Fatalf("%d unexpected extra events", len(old))
	}
}

func TestWatchOverflowResets(t *testing.T) {
	h := newHarness(t)
	_, events := h.f.snapshotAndWatch(t.Context())
	for i := range watchBuffer + 1 {
		h.ok(&putNode{Node: NodeInfo{ID: fmt.Sprintf("n%d", i)}})
	}
	ev, ok := <-events
	if !ok || ev.Kind != KindReset || ev.Index != h.idx {
		t.Fatalf("slow consumer got %+v (open=%v), want a reset at %d", ev, ok, h.idx)
	}
	if _, ok := <-events; ok {
		t.Fatal("channel not closed after the reset")
	}
	if len(h.f.hub.subs) != 0 {
		t.Fatal("reset watcher still registered")
	}
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// TestSkippedCommands: a command this node cannot decode that carries the
// ignore flag is skipped: the state is unchanged, its index is consumed,
// and the skip is counted.
func TestSkippedCommands(t *testing.T) {
	h := newHarness(t)
	seed(h)
	before := cloneState(h.f.st)
	body := []byte(`{"req_id":"x"}`)
	for _, data := range [][]byte{
		append([]byte{0xff, 1}, body...),                                      // unknown type
		append([]byte{byte(cmdCreateVN | flagIgnoreUnknown), 9}, body...),     // known type, unknown version
		append([]byte{byte(cmdCreateVN | flagIgnoreUnknown), 1}, `{"vn":`...), // a body it cannot read
	} {
		if r := h.raw(data); r != nil {
			t.Fatalf("ignorable command %x returned %v", data, r)
		}
	}
	if !reflect.DeepEqual(before, h.f.st) {
		t.Fatal("skipped commands changed the state")
	}
	if h.f.appliedIndex() != h.idx {
		t.Fatalf("applied index %d, want %d", h.f.appliedIndex(), h.idx)
	}
	if got := counterValue(t, h.f.skipped); got != 3 {
		t.Fatalf("skipped counter = %v, want 3", got)
	}
	// A known command with the flag is applied as usual.
	if r := h.raw(append([]byte{byte(cmdCreateVN | flagIgnoreUnknown), 1}, `{"req_id":"y","vn":{"name":"green"}}`...)); r.(*result).Err != nil {
		t.Fatalf("known command with the flag: %+v", r)
	}
}

// TestUndecodableCommandStopsTheFSM: a command that cannot be decoded and
// lacks the ignore flag stops the FSM with a fatal error: nothing is
// applied from it on, the applied index stays, every later command gets
// the same error, snapshots and restores are refused, and the hook runs.
func TestUndecodableCommandStopsTheFSM(t *testing.T) {
	body := []byte(`{"req_id":"x"}`)
	for name, data := range map[string][]byte{
		"unknown type":    append([]byte{0x7f, 1}, body...),
		"unknown version": append([]byte{byte(cmdCreateVN), 2}, body...),
		"too short":       {byte(cmdCreateVN)},
		"missing object":  append([]byte{byte(cmdCreateVN), 1}, body...),
		"bad body":        append([]byte{byte(cmdCreateVN), 1}, `{"vn":`...),
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			fatal := make(chan error, 1)
			h.f.onFatal = func(err error) { fatal <- err }
			seed(h)
			applied := h.idx
			before := cloneState(h.f.st)
			_, events := h.f.snapshotAndWatch(t.Context())

			r := h.raw(data)
			var fe *FatalError
			if err, ok := r.(error); !ok || !errors.As(err, &fe) {
				t.Fatalf("got %v, want a *FatalError", r)
			}
			if fe.Index != h.idx || fe.Type != data[0] || fe.Applied != applied || fe.Err == nil {
				t.Fatalf("fatal error %+v", fe)
			}
			for _, want := range []string{fmt.Sprintf("index %d", h.idx), fmt.Sprintf("type 0x%02x", data[0]), "upgrade this node"} {
				if !strings.Contains(fe.Error(), want) {
					t.Errorf("%q does not say %q", fe.Error(), want)
				}
			}
			select {
			case err := <-fatal:
				if err != fe {
					t.Fatalf("OnFatal got %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("OnFatal not called")
			}
			select {
			case <-h.f.haltCh:
			default:
				t.Fatal("halt channel not closed")
			}
			if h.f.err() != fe {
				t.Fatalf("err() = %v", h.f.err())
			}

			// Frozen: a valid command after it is not applied either.
			if r := h.raw(encode(t, &createVN{ReqID: "later", Obj: model.VN{Name: "green"}})); r != fe {
				t.Fatalf("command after the halt: %v", r)
			}
			if !reflect.DeepEqual(before, h.f.st) {
				t.Fatal("the state changed")
			}
			if h.f.appliedIndex() != applied {
				t.Fatalf("applied index %d, want %d (frozen)", h.f.appliedIndex(), applied)
			}
			select {
			case ev := <-events:
				t.Fatalf("event %+v after the halt", ev)
			default:
			}
			if _, err := h.f.Snapshot(); err != fe {
				t.Fatalf("snapshot of a halted FSM: %v", err)
			}
			if err := h.f.Restore(io.NopCloser(strings.NewReader(""))); err != fe {
				t.Fatalf("restore of a halted FSM: %v", err)
			}
		})
	}
}

// TestConditionalUpdate covers updates that carry an expected revision: they
// apply only while the object is still at that revision; any other
// expectation is a conflict on field "revision" that changes nothing.
func TestConditionalUpdate(t *testing.T) {
	type target struct {
		cmd  func(expect uint64) command
		rev  func(*state) uint64
		kind string
		name string
	}
	vn := target{func(e uint64) command {
		return &updateVN{Obj: model.VN{Name: "red", VNI: 100, MTU: 1400}, ExpectRevision: e}
	}, func(s *state) uint64 { return s.vns["red"].Revision }, "vn", "red"}
	nve := target{func(e uint64) command {
		return &updateNVE{Obj: testNVE("hv1", "192.0.2.11"), ExpectRevision: e}
	}, func(s *state) uint64 { return s.nves["hv1"].Revision }, "nve", "hv1"}
	prt := target{func(e uint64) command {
		return &updatePort{Obj: port("p2", "red", "tor1", "eth1", "02:00:00:00:00:02", 20, "10.0.0.2"), ExpectRevision: e}
	}, func(s *state) uint64 { return s.ports["p2"].Revision }, "port", "p2"}

	cases := []struct {
		name   string
		tgt    target
		expect func(cur uint64) uint64
		ok     bool
	}{
		{"vn current revision", vn, func(c uint64) uint64 { return c }, true},
		{"vn unconditional", vn, func(uint64) uint64 { return 0 }, true},
		{"vn older revision", vn, func(c uint64) uint64 { return c - 1 }, false},
		{"vn newer revision", vn, func(c uint64) uint64 { return c + 100 }, false},
		{"nve current revision", nve, func(c uint64) uint64 { return c }, true},
		{"nve unconditional", nve, func(uint64) uint64 { return 0 }, true},
		{"nve older revision", nve, func(c uint64) uint64 { return 1 }, false},
		{"port current revision", prt, func(c uint64) uint64 { return c }, true},
		{"port unconditional", prt, func(uint64) uint64 { return 0 }, true},
		{"port older revision", prt, func(c uint64) uint64 { return c - 1 }, false},
		{"port newer revision", prt, func(c uint64) uint64 { return c + 1 }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			seed(h)
			cur := tc.tgt.rev(h.f.st)
			expect := tc.expect(cur)
			before := cloneState(h.f.st)
			_, events := h.f.snapshotAndWatch(t.Context())
			r := h.do(tc.tgt.cmd(expect))
			if tc.ok {
				if r.Err != nil {
					t.Fatalf("expecting revision %d of %d: %v", expect, cur, r.Err)
				}
				if got := tc.tgt.rev(h.f.st); got != h.idx {
					t.Fatalf("revision after the update = %d, want %d", got, h.idx)
				}
				if ev := <-events; ev.Name != tc.tgt.name || ev.Index != h.idx {
					t.Fatalf("event %+v", ev)
				}
				checkIndexes(t, h.f.st)
				return
			}
			if r.Err == nil || r.Err.Kind != model.KindConflict || r.Err.Field != "revision" {
				t.Fatalf("expecting revision %d of %d: got %+v, want a conflict on revision", expect, cur, r)
			}
			if !IsRevisionConflict(r.Err) {
				t.Fatalf("IsRevisionConflict(%v) = false", r.Err)
			}
			for _, want := range []string{tc.tgt.kind, tc.tgt.name, fmt.Sprintf("revision %d", cur), fmt.Sprintf("revision %d", expect)} {
				if !strings.Contains(r.Err.Message, want) {
					t.Errorf("message %q does not name %q", r.Err.Message, want)
				}
			}
			if r.VN != nil || r.NVE != nil || r.Port != nil {
				t.Fatalf("rejected update returned an object: %+v", r)
			}
			if !reflect.DeepEqual(before, h.f.st) {
				t.Fatal("a rejected conditional update changed the state")
			}
			select {
			case ev := <-events:
				t.Fatalf("a rejected update produced event %+v", ev)
			default:
			}
		})
	}

	// The object's existence is judged first: a missing object is not
	// found, whatever the expectation. (A bad body is invalid before the
	// command is proposed: TestPrepareRejectsInvalidInput.)
	h := newHarness(t)
	seed(h)
	if r := h.do(&updateVN{Obj: model.VN{Name: "green"}, ExpectRevision: 1}); r.Err == nil || r.Err.Kind != model.KindNotFound {
		t.Fatalf("conditional update of a missing VN: %+v", r)
	}
	// Other conflicts still apply to a conditional update at the right
	// revision.
	b := &updateVN{Obj: model.VN{Name: "red", VNI: 1}, ExpectRevision: h.f.st.vns["red"].Revision}
	if r := h.do(b); r.Err == nil || r.Err.Kind != model.KindConflict || r.Err.Field != "vni" {
		t.Fatalf("conditional update to a taken VNI: %+v", r)
	}
}

// TestConditionalUpdateRequestIDs: a conditional update rejected for its
// revision is not remembered, so its retry under the same request ID, at
// the newer revision, applies; a successful one is remembered without its
// expected revision, so a client's retry that re-read the object gets the
// first result.
func TestConditionalUpdateRequestIDs(t *testing.T) {
	h := newHarness(t)
	seed(h)
	rev := h.f.st.vns["red"].Revision
	// Someone else changes red.
	h.ok(&updateVN{Obj: model.VN{Name: "red", VNI: 100, Tenant: "acme"}})

	stale := &updateVN{ReqID: "patch-1", Obj: model.VN{Name: "red", VNI: 100, Tenant: "acme", MTU: 1400}, ExpectRevision: rev}
	if r := h.do(stale); !isRevisionConflict(r.Err) {
		t.Fatalf("stale update: %+v", r)
	}
	if _, ok := h.f.dedup.byID["patch-1"]; ok {
		t.Fatal("a revision conflict was remembered")
	}
	// The retry re-read the object and expects its current revision.
	retry := *stale
	retry.ExpectRevision = h.f.st.vns["red"].Revision
	first := h.ok(&retry)
	if first.VN.MTU != 1400 || first.VN.Tenant != "acme" || first.VN.Revision != h.idx {
		t.Fatalf("retried update = %+v", first.VN)
	}
	_, events := h.f.snapshotAndWatch(t.Context())
	before := cloneState(h.f.st)
	// The client, not having seen the answer, sends its PATCH again: the
	// server re-reads red (now at first.Index) and sends the same object.
	again := retry
	again.ExpectRevision = first.Index
	r := h.do(&again)
	if r.Err != nil || r.Index != first.Index || !reflect.DeepEqual(r.VN, first.VN) {
		t.Fatalf("client retry = %+v, want the first result %+v", r, first)
	}
	if !reflect.DeepEqual(before, h.f.st) {
		t.Fatal("a deduplicated retry changed the state")
	}
	select {
	case ev := <-events:
		t.Fatalf("a deduplicated retry produced event %+v", ev)
	default:
	}
	// The same request ID with different content is still refused.
	other := again
	other.Obj = model.VN{Name: "red", VNI: 100, MTU: 1300}
	if r := h.do(&other); r.Err == nil || !strings.Contains(r.Err.Message, "request ID") {
		t.Fatalf("reused request ID: %+v", r)
	}
	// An unconditional command's entry hashes its encoding as before.
	data := encode(t, &updateVN{ReqID: "plain-1", Obj: model.VN{Name: "blue", MTU: 1300}})
	h.raw(data)
	sum := sha256.Sum256(data)
	if e := h.f.dedup.byID["plain-1"]; e == nil || e.Hash != hex.EncodeToString(sum[:]) {
		t.Fatalf("entry %+v, want the sha256 of the encoded command", e)
	}
}

// TestWatchersNeverReadAStaleSnapshot: a watcher woken by a change's event
// reads a snapshot that holds the change. (The events went out before the
// cached snapshot was dropped, so a watcher could read the snapshot of
// before the change from the lock-free cache, then wait for an event that
// had already come: the fleet harness saw a southbound stuck at revision
// 0 with every switch unclaimed.)
func TestWatchersNeverReadAStaleSnapshot(t *testing.T) {
	h := newHarness(t)
	h.ok(&createVN{Obj: model.VN{Name: "blue"}})
	_, events := h.f.snapshotAndWatch(t.Context())
	const n = 300
	stale := make(chan string, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < n; i++ {
			ev := <-events
			if s := h.f.snapshot(); s.Revision < ev.Index {
				select {
				case stale <- fmt.Sprintf("event at %d, snapshot at %d", ev.Index, s.Revision):
				default:
				}
			}
		}
	}()
	for i := 0; i < n; i++ {
		h.f.snapshot() // a cached snapshot exists when the next change applies
		h.ok(&updateVN{Obj: model.VN{Name: "blue", MTU: 1000 + i}})
	}
	<-done
	select {
	case s := <-stale:
		t.Fatal(s)
	default:
	}
}
