package store

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/nva-project/nva/app/model"
)

// The v1 fixtures under testdata/fixtures/v1 are a Raft log, a snapshot
// stream and the state they lead to, written once by the store's first log
// format (commit "store: commit v1 log and snapshot fixtures written by the
// current format"). They are frozen bytes: every later version of the
// store must replay them to the same state; they are never regenerated.
const fixtureDir = "testdata/fixtures/v1"

var genFixtures = flag.Bool("gen-fixtures", false, "write the v1 log and snapshot fixtures (only ever run by the commit that froze them)")

// fixtureEntry is one line of log.jsonl: a command at its raft index, as
// the log stored it, and what applying it returned (null: skipped).
type fixtureEntry struct {
	Index  uint64          `json:"index"`
	Note   string          `json:"note"`
	Data   string          `json:"data"` // base64 of the log entry's bytes
	Result json.RawMessage `json:"result"`
}

// fixtureState is the canonical form of an FSM's state in state.json:
// every object and node in name order, and the request-ID table oldest
// first.
type fixtureState struct {
	Revision uint64        `json:"revision"`
	VNs      []*model.VN   `json:"vns"`
	NVEs     []*model.NVE  `json:"nves"`
	Ports    []*model.Port `json:"ports"`
	Nodes    []*NodeInfo   `json:"nodes"`
	Requests []*dedupEntry `json:"requests"`
}

func canonicalState(f *fsm) fixtureState {
	out := fixtureState{Revision: f.applied, VNs: []*model.VN{}, NVEs: []*model.NVE{}, Ports: []*model.Port{}, Nodes: []*NodeInfo{}}
	for _, v := range f.st.vns {
		out.VNs = append(out.VNs, v)
	}
	for _, n := range f.st.nves {
		out.NVEs = append(out.NVEs, n)
	}
	for _, p := range f.st.ports {
		out.Ports = append(out.Ports, p)
	}
	for _, n := range f.st.nodes {
		out.Nodes = append(out.Nodes, n)
	}
	sort.Slice(out.VNs, func(i, j int) bool { return out.VNs[i].Name < out.VNs[j].Name })
	sort.Slice(out.NVEs, func(i, j int) bool { return out.NVEs[i].Name < out.NVEs[j].Name })
	sort.Slice(out.Ports, func(i, j int) bool { return out.Ports[i].Name < out.Ports[j].Name })
	sort.Slice(out.Nodes, func(i, j int) bool { return out.Nodes[i].ID < out.Nodes[j].ID })
	out.Requests = f.dedup.entries()
	return out
}

// responseJSON renders what Apply returned for one entry.
func responseJSON(t *testing.T, r any) json.RawMessage {
	t.Helper()
	if r == nil {
		return json.RawMessage("null")
	}
	js, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// TestGenFixtures writes the v1 fixtures with the code of the commit that
// froze them. It is kept for the record of how they were made; later code
// must not run it (the fixtures would then prove nothing).
func TestGenFixtures(t *testing.T) {
	if !*genFixtures {
		t.Skip("the v1 fixtures are frozen; -gen-fixtures wrote them once")
	}
	vnCreate := func(req string, v model.VN) (cmdType, cmdBody) { return cmdCreateVN, cmdBody{ReqID: req, VN: &v} }
	vnUpdate := func(req string, v model.VN, expect uint64) (cmdType, cmdBody) {
		return cmdUpdateVN, cmdBody{ReqID: req, VN: &v, ExpectRevision: expect}
	}
	nveCreate := func(req string, n model.NVE) (cmdType, cmdBody) { return cmdCreateNVE, cmdBody{ReqID: req, NVE: &n} }
	nveUpdate := func(req string, n model.NVE) (cmdType, cmdBody) { return cmdUpdateNVE, cmdBody{ReqID: req, NVE: &n} }
	portCreate := func(req string, p model.Port) (cmdType, cmdBody) { return cmdCreatePort, cmdBody{ReqID: req, Port: &p} }
	portUpdate := func(req string, p model.Port, expect uint64) (cmdType, cmdBody) {
		return cmdUpdatePort, cmdBody{ReqID: req, Port: &p, ExpectRevision: expect}
	}
	del := func(typ cmdType, req, name string) (cmdType, cmdBody) { return typ, cmdBody{ReqID: req, Name: name} }
	node := func(req string, n NodeInfo) (cmdType, cmdBody) { return cmdPutNode, cmdBody{ReqID: req, Node: &n} }
	raw := func(b ...byte) func() []byte {
		return func() []byte { return append(b, `{"req_id":"from-the-future"}`...) }
	}
	cmd := func(typ cmdType, b cmdBody) func() []byte {
		return func() []byte { return encode(t, typ, b) }
	}
	hv := func(name, ip string) model.NVE {
		return model.NVE{Name: name, UnderlayIPs: []string{ip}, OVSDB: "unix:/run/openvswitch/db.sock"}
	}
	n1 := NodeInfo{ID: "n1", APIAddr: "http://10.0.0.1:8080", RaftAddr: "10.0.0.1:7000", OpenFlowAddr: "10.0.0.1:6653"}
	n2 := NodeInfo{ID: "n2", APIAddr: "http://10.0.0.2:8080", RaftAddr: "10.0.0.2:7000", OpenFlowAddr: "10.0.0.2:6653"}
	n1moved := n1
	n1moved.APIAddr = "http://10.0.1.1:8080"

	// Objects are logged as the store logged them: as the client sent
	// them, without defaults, in any accepted spelling. Indexes 1 and 2
	// (bootstrap configuration, first term's no-op) and 12 (the
	// configuration change adding n2) are not commands.
	log := []struct {
		index uint64
		note  string
		data  func() []byte
	}{
		{3, "put-node: the bootstrap node records itself", cmd(node("r-node-n1", n1))},
		{4, "create-vn without VNI: allocates VNI 1; defaults", cmd(vnCreate("r-vn-blue", model.VN{Name: "blue"}))},
		{5, "create-vn with every field", cmd(vnCreate("r-vn-red", model.VN{Name: "red", VNI: 100, Service: model.ServiceL2L3, Encap: model.EncapGENEVE, Tenant: "acme", MTU: 1450, Unknown: model.UnknownDrop}))},
		{6, "create-vn without VNI: allocates VNI 2; multicast BUM", cmd(vnCreate("r-vn-green", model.VN{Name: "green", BUM: model.BUM{Mode: model.BUMMulticast, Group: "239.1.1.1"}}))},
		{7, "create-vn rejected: the name exists (remembered)", cmd(vnCreate("r-vn-blue-again", model.VN{Name: "blue", VNI: 7}))},
		{8, "create-vn retried under its request ID: the first result", cmd(vnCreate("r-vn-blue", model.VN{Name: "blue"}))},
		{9, "create-nve ovs: allocates datapath ID ...01; defaults", cmd(nveCreate("r-nve-hv1", hv("hv1", "192.0.2.1")))},
		{10, "create-nve openflow with a datapath ID in the allocation range, non-canonical spelling", cmd(nveCreate("r-nve-tor1", model.NVE{Name: "tor1", Kind: model.NVEOpenFlow, UnderlayIPs: []string{"192.0.2.9"}, DatapathID: "0x00004E5600000002"}))},
		{11, "create-nve ovs: allocates datapath ID ...03 (skips tor1's)", cmd(nveCreate("r-nve-hv2", model.NVE{Name: "hv2", UnderlayIPs: []string{"192.0.2.2"}, OVSDB: "tcp:192.0.2.2:6640", DatapathType: "netdev"}))},
		{13, "put-node: n2 joins", cmd(node("r-node-n2", n2))},
		{14, "create-port with a non-canonical MAC and IPv6", cmd(portCreate("r-port-p1", model.Port{Name: "p1", VN: "blue", NVE: "hv1", Interface: "tap1", MAC: "02-AA-BB-CC-DD-01", IPs: []string{"10.0.0.1", "2001:DB8:0::1"}}))},
		{15, "create-port on a VLAN with an IPv4-mapped IPv6 address", cmd(portCreate("r-port-p2", model.Port{Name: "p2", VN: "red", NVE: "tor1", Interface: "eth1", MAC: "02:00:00:00:00:02", IPs: []string{"::ffff:10.0.0.2"}, VLAN: 10}))},
		{16, "create-port rejected: p1's MAC in another spelling", cmd(portCreate("r-port-p3", model.Port{Name: "p3", VN: "blue", NVE: "hv2", Interface: "tap3", MAC: "02:aa:bb:cc:dd:01"}))},
		{17, "update-vn conditional at the current revision", cmd(vnUpdate("r-patch-red-1", model.VN{Name: "red", VNI: 100, Service: model.ServiceL2L3, Encap: model.EncapGENEVE, Tenant: "acme", MTU: 1400, Unknown: model.UnknownDrop}, 5))},
		{18, "update-vn conditional at a stale revision: revision conflict (not remembered)", cmd(vnUpdate("r-patch-red-2", model.VN{Name: "red", VNI: 100, MTU: 1300}, 5))},
		{19, "update-vn: the client's retry of index 17, expecting the newer revision: the first result", cmd(vnUpdate("r-patch-red-1", model.VN{Name: "red", VNI: 100, Service: model.ServiceL2L3, Encap: model.EncapGENEVE, Tenant: "acme", MTU: 1400, Unknown: model.UnknownDrop}, 17))},
		{20, "update-nve without datapath ID keeps it; new underlay IP", cmd(nveUpdate("r-nve-hv1-move", hv("hv1", "192.0.2.11")))},
		{21, "update-port unconditional: new IPs", cmd(portUpdate("r-port-p1-ips", model.Port{Name: "p1", VN: "blue", NVE: "hv1", Interface: "tap1", MAC: "02:aa:bb:cc:dd:01", IPs: []string{"10.0.0.11"}}, 0))},
		{22, "delete-vn rejected: blue has a port", cmd(del(cmdDeleteVN, "r-del-blue-1", "blue"))},
		{23, "delete-port", cmd(del(cmdDeletePort, "r-del-p1", "p1"))},
		{24, "delete-vn", cmd(del(cmdDeleteVN, "r-del-blue-2", "blue"))},
		{25, "delete-nve", cmd(del(cmdDeleteNVE, "r-del-hv2", "hv2"))},
		{26, "create-nve reuses the freed datapath ID ...03", cmd(nveCreate("r-nve-hv3", hv("hv3", "192.0.2.2")))},
		{27, "create-vn reuses the freed VNI 1", cmd(vnCreate("r-vn-blue2", model.VN{Name: "blue2"}))},
		{28, "unknown type with the ignore flag: skipped", raw(0xff, 1)},
		{29, "known type, unknown version, with the ignore flag: skipped", raw(byte(cmdCreateVN|flagIgnoreUnknown), 9)},
		{30, "put-node: n1 moved its API address", cmd(node("r-node-n1-moved", n1moved))},
		{31, "remove-node", cmd(del(cmdRemoveNode, "r-rm-n2", "n2"))},
		{32, "remove-node rejected: unknown node", cmd(del(cmdRemoveNode, "r-rm-n9", "n9"))},
		{33, "a request ID reused for a different request: refused", cmd(vnCreate("r-vn-red", model.VN{Name: "purple"}))},
		{34, "update-vn unconditional without VNI keeps it; fields back to defaults", cmd(vnUpdate("r-vn-red-reset", model.VN{Name: "red"}, 0))},
		{35, "delete-nve rejected: tor1 has a port", cmd(del(cmdDeleteNVE, "r-del-tor1", "tor1"))},
		{36, "update-port conditional at the current revision", cmd(portUpdate("r-port-p2-vlan", model.Port{Name: "p2", VN: "red", NVE: "tor1", Interface: "eth1", MAC: "02:00:00:00:00:02", IPs: []string{"10.0.0.2"}, VLAN: 20}, 15))},
	}

	f := newFSM(nil, 0)
	var lines bytes.Buffer
	for _, e := range log {
		data := e.data()
		r := f.Apply(&raft.Log{Index: e.index, Type: raft.LogCommand, Data: data})
		if err, ok := r.(error); ok {
			t.Fatalf("index %d: %v", e.index, err)
		}
		line, err := json.Marshal(fixtureEntry{Index: e.index, Note: e.note, Data: base64.StdEncoding.EncodeToString(data), Result: responseJSON(t, r)})
		if err != nil {
			t.Fatal(err)
		}
		lines.Write(append(line, '\n'))
	}
	state, err := json.MarshalIndent(canonicalState(f), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(fixtureDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"log.jsonl":      lines.Bytes(),
		"snapshot.jsonl": persist(t, f),
		"state.json":     append(state, '\n'),
	} {
		if err := os.WriteFile(filepath.Join(fixtureDir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func readFixtureLog(t *testing.T) []fixtureEntry {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(fixtureDir, "log.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var out []fixtureEntry
	dec := json.NewDecoder(bytes.NewReader(raw))
	for dec.More() {
		var e fixtureEntry
		if err := dec.Decode(&e); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	if len(out) == 0 {
		t.Fatal("empty fixture log")
	}
	return out
}

// sameJSON compares two JSON documents by value.
func sameJSON(t *testing.T, what string, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("%s: fixture: %v", what, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("%s differs from the fixture:\n got %s\nwant %s", what, got, want)
	}
}

func stateJSON(t *testing.T, f *fsm) []byte {
	t.Helper()
	js, err := json.Marshal(canonicalState(f))
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// TestReplayV1Fixtures: the frozen v1 log replays, entry by entry, to the
// same responses and the same state, and the frozen v1 snapshot restores to
// that state.
func TestReplayV1Fixtures(t *testing.T) {
	wantState, err := os.ReadFile(filepath.Join(fixtureDir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	wantSnap, err := os.ReadFile(filepath.Join(fixtureDir, "snapshot.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	entries := readFixtureLog(t)

	replayed := newFSM(nil, 0)
	for _, e := range entries {
		data, err := base64.StdEncoding.DecodeString(e.Data)
		if err != nil {
			t.Fatalf("index %d: %v", e.Index, err)
		}
		r := replayed.Apply(&raft.Log{Index: e.Index, Type: raft.LogCommand, Data: data})
		if err, ok := r.(error); ok {
			t.Fatalf("index %d (%s): %v", e.Index, e.Note, err)
		}
		sameJSON(t, "response at index "+e.Note, responseJSON(t, r), e.Result)
	}
	if last := entries[len(entries)-1].Index; replayed.appliedIndex() != last {
		t.Fatalf("applied index %d after the log, want %d", replayed.appliedIndex(), last)
	}
	sameJSON(t, "state after replaying the log", stateJSON(t, replayed), wantState)
	checkIndexes(t, replayed.st)

	restored := newFSM(nil, 0)
	if err := restored.Restore(io.NopCloser(bytes.NewReader(wantSnap))); err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "state restored from the snapshot", stateJSON(t, restored), wantState)
	checkIndexes(t, restored.st)
	if !reflect.DeepEqual(restored.st, replayed.st) {
		t.Fatal("the restored and the replayed state differ")
	}

	// While snapshot format 1 is the one written, the replayed state
	// snapshots to the very same bytes.
	if got := persist(t, replayed); snapshotFormat == 1 && !bytes.Equal(got, wantSnap) {
		t.Fatalf("snapshot of the replayed state differs from the fixture:\n%s\n---\n%s", got, wantSnap)
	}

	// The request-ID table came through both ways: a retry of an applied
	// request answers with its first result and changes nothing.
	for _, f := range []*fsm{replayed, restored} {
		h := &harness{t: t, f: f, idx: f.appliedIndex()}
		r := h.do(cmdCreateVN, cmdBody{ReqID: "r-vn-blue2", VN: &model.VN{Name: "blue2"}})
		if r.Err != nil || r.Index != 27 {
			t.Fatalf("retry of index 27: %+v", r)
		}
	}
}
