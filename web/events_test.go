package web

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nva-project/nva/app/counters"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/store"
	"github.com/nva-project/nva/web/wire"
)

// sseEvent is one parsed Server-Sent Event.
type sseEvent struct {
	typ, id, data string
}

// sseStream reads an event stream in the background.
type sseStream struct {
	t      *testing.T
	res    *http.Response
	events chan sseEvent
	done   chan struct{} // closed at the end of the stream
	cancel context.CancelFunc
	retry  string
}

func (e *testEnv) openEvents() *sseStream {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.ts.URL+"/api/v1/events", nil)
	if err != nil {
		e.t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	s := &sseStream{t: e.t, res: res, events: make(chan sseEvent, 1000), done: make(chan struct{}), cancel: cancel}
	e.t.Cleanup(func() { cancel(); res.Body.Close() })
	go s.read()
	return s
}

func (s *sseStream) read() {
	defer close(s.done)
	rd := bufio.NewReader(s.res.Body)
	var ev sseEvent
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if ev.typ != "" || ev.data != "" {
				s.events <- ev
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, "event: "):
			ev.typ = line[len("event: "):]
		case strings.HasPrefix(line, "id: "):
			ev.id = line[len("id: "):]
		case strings.HasPrefix(line, "data: "):
			ev.data += line[len("data: "):]
		case strings.HasPrefix(line, "retry: "):
			s.retry = line[len("retry: "):]
		}
	}
}

// next returns the next event other than ping (within 15 s).
func (s *sseStream) next() sseEvent {
	s.t.Helper()
	for {
		select {
		case ev := <-s.events:
			if ev.typ == "ping" {
				continue
			}
			return ev
		case <-s.done:
			select {
			case ev := <-s.events:
				if ev.typ != "ping" {
					return ev
				}
				continue
			default:
			}
			s.t.Fatal("event stream ended")
		case <-time.After(15 * time.Second):
			s.t.Fatal("no event within 15s")
		}
	}
}

// ended waits for the end of the stream.
func (s *sseStream) ended() bool {
	select {
	case <-s.done:
		return true
	case <-time.After(15 * time.Second):
		return false
	}
}

func decodeChange(t *testing.T, ev sseEvent) (kind, op, name string, obj map[string]any) {
	t.Helper()
	if ev.typ != "change" {
		t.Fatalf("got %s event %s, want change", ev.typ, ev.data)
	}
	var c struct {
		Kind, Op, Name string
		Object         map[string]any
	}
	if err := json.Unmarshal([]byte(ev.data), &c); err != nil {
		t.Fatalf("change %s: %v", ev.data, err)
	}
	return c.Kind, c.Op, c.Name, c.Object
}

// TestEventsSnapshotAndChanges: the stream starts with the aggregated
// topology at its revision, then sends every change with its Raft index
// as the id, objects as the topology shows them.
func TestEventsSnapshotAndChanges(t *testing.T) {
	e := newEnv(t, nil)
	e.seed()
	s := e.openEvents()
	if ct := s.res.Header.Get("Content-Type"); ct != "text/event-stream" || s.res.Header.Get("Cache-Control") != "no-cache" ||
		s.res.Header.Get("X-Accel-Buffering") != "no" {
		t.Errorf("headers: %v", s.res.Header)
	}
	ev := s.next()
	if ev.typ != "snapshot" {
		t.Fatalf("first event %q, want snapshot", ev.typ)
	}
	if s.retry != "1000" {
		t.Errorf("retry = %q, want 1000", s.retry)
	}
	var got, want map[string]any
	json.Unmarshal([]byte(ev.data), &got)
	e.must(200, "GET", "/api/v1/topology?tunnels=none", "").decode(t, &want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("snapshot\n%s\nwant GET /api/v1/topology?tunnels=none\n%v", ev.data, want)
	}
	if ev.id != strconv.FormatUint(e.st.AppliedIndex(), 10) || ev.id != strconv.FormatFloat(want["revision"].(float64), 'f', -1, 64) {
		t.Errorf("snapshot id %s, want revision %v", ev.id, want["revision"])
	}

	r := e.must(201, "POST", "/api/v1/ports", `{"name":"p2","vn":"blue","nve":"hv2","interface":"veth2","mac":"02:00:00:00:00:02"}`)
	ev = s.next()
	kind, op, name, obj := decodeChange(t, ev)
	if kind != "port" || op != "put" || name != "p2" || obj["nve"] != "hv2" || obj["vn"] != "blue" || ev.id != r.header.Get(wire.RevisionHeader) {
		t.Errorf("port create: %+v (X-Revision %s)", ev, r.header.Get(wire.RevisionHeader))
	}
	e.must(200, "PATCH", "/api/v1/nves/hv2", `{"underlay_ips":["192.0.2.22"]}`)
	kind, op, name, obj = decodeChange(t, s.next())
	if kind != "nve" || op != "put" || name != "hv2" || obj["underlay_ips"].([]any)[0] != "192.0.2.22" {
		t.Errorf("nve patch: %s %s %s %v", kind, op, name, obj)
	}
	if _, has := obj["status"]; has {
		t.Errorf("nve change carries status: %v", obj)
	}
	r = e.must(204, "DELETE", "/api/v1/ports/p2", "")
	ev = s.next()
	kind, op, name, obj = decodeChange(t, ev)
	if kind != "port" || op != "delete" || name != "p2" || obj != nil || ev.id != r.header.Get(wire.RevisionHeader) {
		t.Errorf("port delete: %+v", ev)
	}
	e.must(201, "POST", "/api/v1/vns", `{"name":"red"}`)
	if kind, op, name, obj := decodeChange(t, s.next()); kind != "vn" || op != "put" || name != "red" || obj["vni"] == nil {
		t.Errorf("vn create: %s %s %s %v", kind, op, name, obj)
	}
}

// fakeStatus is a StatusReporter whose statuses the test sets, and a
// StatusNotifier the test fires.
type fakeStatus struct {
	mu   sync.Mutex
	st   map[string]*model.NVEStatus
	subs []chan struct{}
}

func (f *fakeStatus) NVEStatus(n string) *model.NVEStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st[n]
}

func (f *fakeStatus) SubscribeStatus(ctx context.Context) <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan struct{}, 1)
	f.subs = append(f.subs, ch)
	return ch
}

func (f *fakeStatus) set(n string, st *model.NVEStatus, notify bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.st[n] = st
	if notify {
		for _, ch := range f.subs {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
}

func connected(sync string) *model.NVEStatus {
	return &model.NVEStatus{Summary: "test", OpenFlow: &model.OpenFlowStatus{Connected: sync != model.SyncDisconnected, Sync: sync}}
}

// TestEventsStatus: status changes are pushed as they are notified, only
// for the NVEs whose status changed; a new NVE's status follows its put.
func TestEventsStatus(t *testing.T) {
	fs := &fakeStatus{st: map[string]*model.NVEStatus{"hv1": connected(model.SyncInSync), "hv2": connected(model.SyncInSync)}}
	e := newEnv(t, func(o *Options) {
		o.StatusReporter, o.StatusNotifier = fs, fs
		o.Events.StatusRecheck = -1 // notifications only
	})
	e.seed()
	s := e.openEvents()
	var snap wire.Topology
	json.Unmarshal([]byte(s.next().data), &snap)
	if len(snap.NVEs) != 2 || snap.NVEs[0].Status == nil || snap.NVEs[0].Status.OpenFlow.Sync != model.SyncInSync {
		t.Fatalf("snapshot NVEs: %+v", snap.NVEs)
	}

	fs.set("hv2", connected(model.SyncDisconnected), true)
	ev := s.next()
	var se struct {
		NVE    string
		Status model.NVEStatus
	}
	json.Unmarshal([]byte(ev.data), &se)
	if ev.typ != "status" || se.NVE != "hv2" || se.Status.OpenFlow == nil || se.Status.OpenFlow.Connected || se.Status.Summary != "test" {
		t.Fatalf("got %+v, want hv2's status, disconnected", ev)
	}
	// A notification with nothing changed sends nothing: the next event
	// is hv1's change, not a repeat of hv2.
	fs.set("hv2", connected(model.SyncDisconnected), true)
	fs.set("hv1", connected(model.SyncPending), true)
	ev = s.next()
	json.Unmarshal([]byte(ev.data), &se)
	if ev.typ != "status" || se.NVE != "hv1" || se.Status.OpenFlow.Sync != model.SyncPending {
		t.Fatalf("got %+v, want hv1 pending", ev)
	}
	// A new NVE: its put, then its status.
	fs.set("hv3", connected(model.SyncPending), false)
	e.must(201, "POST", "/api/v1/nves", `{"name":"hv3","underlay_ips":["192.0.2.3"],"ovsdb":"unix:/x"}`)
	if kind, _, name, _ := decodeChange(t, s.next()); kind != "nve" || name != "hv3" {
		t.Fatalf("want hv3's put, got %s %s", kind, name)
	}
	ev = s.next()
	json.Unmarshal([]byte(ev.data), &se)
	if ev.typ != "status" || se.NVE != "hv3" {
		t.Fatalf("got %+v, want hv3's status", ev)
	}
}

// TestEventsStatusRecheck: without a notifier the stream still finds
// status changes by re-reading.
func TestEventsStatusRecheck(t *testing.T) {
	fs := &fakeStatus{st: map[string]*model.NVEStatus{"hv1": connected(model.SyncInSync)}}
	e := newEnv(t, func(o *Options) {
		o.StatusReporter = fs
		o.Events.StatusRecheck = 20 * time.Millisecond
	})
	e.seed()
	s := e.openEvents()
	s.next()
	fs.set("hv1", connected(model.SyncError), false)
	if ev := s.next(); ev.typ != "status" || !strings.Contains(ev.data, `"sync":"error"`) {
		t.Fatalf("got %+v, want hv1's error status", ev)
	}
}

// resettable serves SnapshotAndWatch from the real store but hands the
// test the watch channel's place: events pushed to feed.
type resettable struct {
	*store.Store
	feed chan model.Change
}

func (r resettable) SnapshotAndWatch(ctx context.Context) (*model.Snapshot, <-chan model.Change) {
	return r.Store.Snapshot(), r.feed
}

// TestEventsReset: a reset from the watch is passed on, then the server
// ends the stream; the client's reconnect starts with a new snapshot.
func TestEventsReset(t *testing.T) {
	st := openStore(t, "n1")
	feed := make(chan model.Change, 1)
	e := newEnvWith(t, st, resettable{st, feed}, nil)
	s := e.openEvents()
	if ev := s.next(); ev.typ != "snapshot" {
		t.Fatalf("want snapshot, got %+v", ev)
	}
	feed <- model.Change{Kind: model.ChangeReset, Index: 7}
	if ev := s.next(); ev.typ != "reset" || ev.data != "{}" {
		t.Fatalf("want reset, got %+v", ev)
	}
	if !s.ended() {
		t.Fatal("stream still open after a reset")
	}
	s2 := e.openEvents()
	if ev := s2.next(); ev.typ != "snapshot" {
		t.Fatalf("reconnect: want snapshot, got %+v", ev)
	}
}

// TestEventsKeepAlive: an idle stream sends pings.
func TestEventsKeepAlive(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Events.KeepAlive = 20 * time.Millisecond })
	s := e.openEvents()
	if ev := <-s.events; ev.typ != "snapshot" {
		t.Fatalf("want snapshot, got %+v", ev)
	}
	select {
	case ev := <-s.events:
		if ev.typ != "ping" || ev.data != "{}" || ev.id != "" {
			t.Fatalf("want ping, got %+v", ev)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no ping")
	}
}

// TestEventsServerClose: closing the server ends open streams (so an HTTP
// server's Shutdown does not wait for them) and refuses new ones.
func TestEventsServerClose(t *testing.T) {
	e := newEnv(t, nil)
	s := e.openEvents()
	s.next()
	e.srv.Close()
	if !s.ended() {
		t.Fatal("stream still open after Server.Close")
	}
	r := e.must(503, "GET", "/api/v1/events", "")
	if r.err().Code != wire.CodeUnavailable {
		t.Errorf("after Close: %s", r.body)
	}
	// Everything else still answers.
	e.must(200, "GET", "/api/v1/vns", "")
}

// TestTopologyAggregated: ?tunnels=none omits the pair list and counts
// NVEs, ports and pairs per VN; the default form is unchanged.
func TestTopologyAggregated(t *testing.T) {
	e := newEnv(t, nil)
	e.seed() // blue: p1 on hv1
	e.must(201, "POST", "/api/v1/ports", `{"name":"p2","vn":"blue","nve":"hv2","interface":"v2","mac":"02:00:00:00:00:02"}`)
	e.must(201, "POST", "/api/v1/vns", `{"name":"red"}`)
	var raw map[string]json.RawMessage
	e.must(200, "GET", "/api/v1/topology?tunnels=none", "").decode(t, &raw)
	if _, has := raw["tunnels"]; has {
		t.Errorf("aggregated topology has tunnels: %s", raw["tunnels"])
	}
	var spans []wire.VNSpan
	json.Unmarshal(raw["vn_spans"], &spans)
	want := []wire.VNSpan{{VN: "blue", NVEs: 2, Ports: 2, Pairs: 1}, {VN: "red"}}
	if !reflect.DeepEqual(spans, want) {
		t.Errorf("vn_spans = %+v, want %+v", spans, want)
	}
	raw = nil
	e.must(200, "GET", "/api/v1/topology?tunnels=all", "").decode(t, &raw)
	if string(raw["tunnels"]) != `[{"a":"hv1","b":"hv2","vns":["blue"]}]` || raw["vn_spans"] != nil {
		t.Errorf("full topology: tunnels %s, vn_spans %s", raw["tunnels"], raw["vn_spans"])
	}
	e.must(201, "POST", "/api/v1/vns", `{"name":"green"}`)
	e.must(204, "DELETE", "/api/v1/ports/p2", "")
	raw = nil
	e.must(200, "GET", "/api/v1/topology", "").decode(t, &raw)
	if string(raw["tunnels"]) != `[]` {
		t.Errorf("no pairs: tunnels %s, want []", raw["tunnels"])
	}
	if r := e.must(400, "GET", "/api/v1/topology?tunnels=some", ""); r.err().Field != "tunnels" {
		t.Errorf("bad tunnels: %s", r.body)
	}
}

// switchList is a SwitchReporter whose answer the test changes.
type switchList struct {
	mu sync.Mutex
	u  []model.UnclaimedSwitch
}

func (l *switchList) UnclaimedSwitches() []model.UnclaimedSwitch {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]model.UnclaimedSwitch(nil), l.u...)
}

func (l *switchList) set(u []model.UnclaimedSwitch) { l.mu.Lock(); l.u = u; l.mu.Unlock() }

// TestEventsUnclaimedChange: the unclaimed switches have no event of their
// own, so when they change (a restarted node claims its switches once its
// NVEs are loaded) the stream resets and the next snapshot has the new set.
func TestEventsUnclaimedChange(t *testing.T) {
	fs := &fakeStatus{st: map[string]*model.NVEStatus{"hv1": connected(model.SyncInSync)}}
	sw := &switchList{u: []model.UnclaimedSwitch{{DatapathID: "00000000000abc01", Remote: "198.19.0.1:1"}}}
	e := newEnv(t, func(o *Options) {
		o.StatusReporter = fs
		o.SwitchReporter = sw
		o.Events.StatusRecheck = 20 * time.Millisecond
	})
	e.seed()
	s := e.openEvents()
	if ev := s.next(); ev.typ != "snapshot" || !strings.Contains(ev.data, "00000000000abc01") {
		t.Fatalf("want a snapshot with the unclaimed switch, got %+v", ev)
	}
	sw.set(nil) // claimed
	if ev := s.next(); ev.typ != "reset" {
		t.Fatalf("want reset after the unclaimed switches changed, got %+v", ev)
	}
	s2 := e.openEvents()
	if ev := s2.next(); ev.typ != "snapshot" || strings.Contains(ev.data, "00000000000abc01") {
		t.Fatalf("reconnect: want a snapshot without the switch, got %+v", ev)
	}
}

// TestEventsCounters: after a poll round the stream sends a counters
// event with the totals (once per round).
func TestEventsCounters(t *testing.T) {
	c := func(p uint64) counters.Count { return counters.Count{Packets: p, Bytes: p * 100} }
	fc := fakeCounters{[]counters.NVE{
		{NVE: "hv1", VNs: map[string]counters.VN{"blue": {FromPorts: c(5)}}, Tunnels: map[string]counters.Tunnel{"hv2": {Tx: c(4)}},
			Drops: map[string]counters.Count{"port_security": c(1)}, DropReasons: map[string]counters.Count{counters.ReasonSpoofed: c(1)}},
	}}
	e := newEnv(t, func(o *Options) { o.Counters = fc; o.Events.CountersCheck = 10 * time.Millisecond })
	e.seed()
	s := e.openEvents()
	if ev := s.next(); ev.typ != "snapshot" {
		t.Fatalf("want snapshot, got %+v", ev)
	}
	ev := s.next()
	var ce wire.CountersEvent
	if err := json.Unmarshal([]byte(ev.data), &ce); err != nil || ev.typ != "counters" {
		t.Fatalf("want counters, got %+v (%v)", ev, err)
	}
	if ce.VNs["blue"].FromPorts.Packets != 5 || ce.Tunnels["hv1->hv2"].Tx.Packets != 4 || ce.Drops["port_security"].Packets != 1 ||
		ce.DropReasons[counters.ReasonSpoofed].Packets != 1 || ce.PolledAt == nil {
		t.Fatalf("counters event %s", ev.data)
	}
	// The same round is not sent again: the next event is a change.
	e.must(201, "POST", "/api/v1/ports", `{"name":"p2","vn":"blue","nve":"hv2","interface":"veth2","mac":"02:00:00:00:00:02","ips":["10.0.0.2"]}`)
	if ev := s.next(); ev.typ != "change" {
		t.Fatalf("want the port's change, got %+v", ev)
	}
}
