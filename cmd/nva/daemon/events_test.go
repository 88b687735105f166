package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nva-project/nva/app/model"
)

// event is one Server-Sent Event of GET /api/v1/events.
type event struct{ typ, data string }

// openEvents opens base's event stream; events arrive on the channel,
// which is closed at the end of the stream.
func openEvents(t *testing.T, base string) <-chan event {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/events", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		cancel()
		t.Fatalf("GET /api/v1/events: %s", res.Status)
	}
	t.Cleanup(func() { cancel(); res.Body.Close() })
	ch := make(chan event, 1000)
	go func() {
		defer close(ch)
		rd := bufio.NewReader(res.Body)
		var ev event
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimSuffix(line, "\n")
			switch {
			case line == "" && ev.typ != "":
				ch <- ev
				ev = event{}
			case strings.HasPrefix(line, "event: "):
				ev.typ = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.data = strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return ch
}

// TestCloseEndsEventStreams: Close ends open event streams, so the HTTP
// server's graceful shutdown does not wait for them until its timeout
// (which would make Close fail).
func TestCloseEndsEventStreams(t *testing.T) {
	cfg := testConfig(t, "n1", t.TempDir(), freeAddr(t))
	cfg.InMemory = true
	cfg.ShutdownTimeout = 3 * time.Second
	d, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	events := openEvents(t, d.APIURL())
	if ev := <-events; ev.typ != "snapshot" {
		t.Fatalf("first event %+v, want snapshot", ev)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("Close with an open event stream: %v", err)
	}
	for range events {
	}
}

// TestFollowerEventsShowLeaderOVSDB: OVSDB status exists only on the
// leader, which manages OVSDB; a follower's event stream still shows it,
// read from the leader's API. The NVE's OVSDB socket does not exist, so
// the leader's OVSDB side says why it cannot connect.
func TestFollowerEventsShowLeaderOVSDB(t *testing.T) {
	if testing.Short() {
		t.Skip("two-node cluster")
	}
	ctx := context.Background()
	c1 := testConfig(t, "n1", t.TempDir(), freeAddr(t))
	c1.Bootstrap, c1.OpenFlowAddr, c1.Southbound = true, freeAddr(t), OpenFlowAndOVSDB
	d1, err := Start(ctx, c1)
	if err != nil {
		t.Fatal(err)
	}
	defer d1.Close()
	c2 := testConfig(t, "n2", t.TempDir(), freeAddr(t))
	c2.Join, c2.OpenFlowAddr, c2.Southbound = d1.APIURL(), freeAddr(t), OpenFlowAndOVSDB
	d2, err := Start(ctx, c2)
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	select {
	case <-d2.Joined():
	case <-time.After(20 * time.Second):
		t.Fatal("n2 did not join within 20s")
	}
	sock := "unix:" + t.TempDir() + "/missing.sock"
	if code, body := call(t, "POST", d1.APIURL()+"/api/v1/nves", `{"name":"hv1","underlay_ips":["192.0.2.1"],"ovsdb":"`+sock+`"}`); code != 201 {
		t.Fatalf("create NVE: %d %s", code, body)
	}
	// The follower has the NVE, but no OVSDB status of its own.
	waitUntil(t, func() bool { return d2.Store().Snapshot().NVEs["hv1"] != nil })
	if d2.Store().IsLeader() {
		t.Fatal("n2 leads")
	}

	events := openEvents(t, d2.APIURL())
	deadline := time.After(20 * time.Second)
	for {
		var ev event
		select {
		case ev = <-events:
		case <-deadline:
			t.Fatal("the follower's stream never showed the leader's OVSDB status of hv1")
		}
		var st *model.NVEStatus
		switch ev.typ {
		case "snapshot":
			var topo struct {
				NVEs []struct {
					Name   string
					Status *model.NVEStatus
				}
			}
			json.Unmarshal([]byte(ev.data), &topo)
			for _, n := range topo.NVEs {
				if n.Name == "hv1" {
					st = n.Status
				}
			}
		case "status":
			var se struct {
				NVE    string
				Status *model.NVEStatus
			}
			json.Unmarshal([]byte(ev.data), &se)
			if se.NVE == "hv1" {
				st = se.Status
			}
		case "":
			t.Fatal("the follower's stream ended")
		}
		if st == nil || st.OVSDB == nil {
			continue
		}
		if st.OVSDB.Connected || !strings.Contains(st.OVSDB.LastError, "missing.sock") || !strings.HasPrefix(st.Summary, "ovsdb: connecting (") || st.OpenFlow == nil {
			t.Fatalf("follower's status of hv1: %+v (ovsdb %+v)", st, st.OVSDB)
		}
		return
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 15s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestStatusHub: a notification wakes every subscriber once (coalesced),
// and a subscription ends with its context.
func TestStatusHub(t *testing.T) {
	h := newStatusHub()
	ctx1, cancel1 := context.WithCancel(context.Background())
	a := h.SubscribeStatus(ctx1)
	b := h.SubscribeStatus(context.Background())
	h.notify()
	h.notify() // coalesced with the first
	for _, ch := range []<-chan struct{}{a, b} {
		select {
		case <-ch:
		default:
			t.Fatal("subscriber not notified")
		}
		select {
		case <-ch:
			t.Fatal("two wake-ups for coalesced notifications")
		default:
		}
	}
	cancel1()
	waitUntil(t, func() bool { return h.subscribers() == 1 })
}

// TestEventsAfterRestart: a stream opened right after a restart starts
// from the replayed state, not from the empty state of a node that is
// still replaying its log.
func TestEventsAfterRestart(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, "n1", dir, freeAddr(t))
	d, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, vn := range []string{"blue", "red", "green"} {
		if code, body := call(t, "POST", d.APIURL()+"/api/v1/vns", `{"name":"`+vn+`"}`); code != 201 {
			d.Close()
			t.Fatalf("create VN: %d %s", code, body)
		}
	}
	rev := d.Store().AppliedIndex()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d, err = Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ev := <-openEvents(t, d.APIURL())
	var topo struct {
		Revision uint64
		VNs      []struct{ Name string }
	}
	if err := json.Unmarshal([]byte(ev.data), &topo); err != nil || ev.typ != "snapshot" {
		t.Fatalf("first event %+v: %v", ev, err)
	}
	if topo.Revision < rev || len(topo.VNs) != 3 {
		t.Errorf("snapshot after restart: revision %d (before: %d), %d VNs, want 3", topo.Revision, rev, len(topo.VNs))
	}
}
