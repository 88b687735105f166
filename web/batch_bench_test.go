package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/store"
	"github.com/nva-project/nva/web/wire"
)

// The bulk load of the scale: 100 VNs, 1,000 NVEs and 20,000
// ports (20 per NVE, 200 per VN), through the REST API of an in-memory
// single-node store.
const (
	bulkVNs   = 100
	bulkNVEs  = 1000
	bulkPorts = 20000
	bulkBatch = 1000
)

func bulkObjects() (vns, nves, ports []wire.BatchItem) {
	for i := range bulkVNs {
		vns = append(vns, wire.BatchItem{Op: wire.OpCreate, Kind: wire.KindVN,
			Object: json.RawMessage(fmt.Sprintf(`{"name":"vn%d"}`, i))})
	}
	for i := range bulkNVEs {
		nves = append(nves, wire.BatchItem{Op: wire.OpCreate, Kind: wire.KindNVE,
			Object: json.RawMessage(fmt.Sprintf(`{"name":"hv%d","underlay_ips":["10.%d.%d.1"],"ovsdb":"tcp:10.%d.%d.1:6640"}`, i, 200+i/250, i%250, 200+i/250, i%250))})
	}
	for i := range bulkPorts {
		ports = append(ports, wire.BatchItem{Op: wire.OpCreate, Kind: wire.KindPort,
			Object: json.RawMessage(fmt.Sprintf(`{"name":"p%d","vn":"vn%d","nve":"hv%d","interface":"tap%d","mac":"02:00:00:00:%02x:%02x","ips":["10.%d.%d.%d"]}`,
				i, i%bulkVNs, i%bulkNVEs, i, byte(i>>8), byte(i), i%bulkVNs, byte(i>>8), byte(i)))})
	}
	return
}

func bulkServer(b *testing.B) (*httptest.Server, func()) {
	st, err := store.Open(context.Background(), store.Config{NodeID: "n1", InMemory: true, Bootstrap: true, RaftAddr: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	for !st.IsLeader() {
		time.Sleep(10 * time.Millisecond)
	}
	srv, err := New(Options{Backend: st, NodeID: "n1", OVSDBAllow: model.MustOVSDBPolicy("tcp:10.0.0.0/8:6640")})
	if err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	return ts, func() { ts.Close(); st.Close() }
}

func post(b *testing.B, url string, body []byte) {
	resp, err := http.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b.Fatalf("POST %s: %d %.300s", url, resp.StatusCode, msg)
	}
}

// BenchmarkBulkLoad loads 100 VNs, 1,000 NVEs and 20,000 ports into a
// fresh in-memory single node, once through POST /api/v1/batch in batches
// of 1,000 items and once one POST per object, and reports the rate of
// the port phase (ports/s) and of the whole load (objects/s). Run it with
// -benchtime=1x: one iteration is a whole load.
func BenchmarkBulkLoad(b *testing.B) {
	vns, nves, ports := bulkObjects()
	batches := func(b *testing.B, url string, items []wire.BatchItem) {
		for len(items) > 0 {
			n := min(bulkBatch, len(items))
			body, _ := json.Marshal(wire.BatchRequest{Items: items[:n]})
			post(b, url+"/api/v1/batch", body)
			items = items[n:]
		}
	}
	singles := func(b *testing.B, url string, items []wire.BatchItem) {
		for _, it := range items {
			post(b, url+"/api/v1/"+it.Kind+"s", it.Object)
		}
	}
	b.Run(fmt.Sprintf("batch%d", bulkBatch), func(b *testing.B) {
		bulkLoad(b, vns, nves, ports, batches)
	})
	b.Run("single", func(b *testing.B) {
		bulkLoad(b, vns, nves, ports, singles)
	})
}

// bulkLoad loads vns and nves, then ports, into a fresh node per
// iteration with send, and reports the rates.
func bulkLoad(b *testing.B, vns, nves, ports []wire.BatchItem, send func(b *testing.B, url string, items []wire.BatchItem)) {
	for range b.N {
		b.StopTimer()
		ts, stop := bulkServer(b)
		b.StartTimer()
		start := time.Now()
		send(b, ts.URL, append(append([]wire.BatchItem{}, vns...), nves...))
		portStart := time.Now()
		send(b, ts.URL, ports)
		reportBulk(b, start, portStart)
		b.StopTimer()
		stop()
		b.StartTimer()
	}
}

func reportBulk(b *testing.B, start, portStart time.Time) {
	end := time.Now()
	portRate := bulkPorts / end.Sub(portStart).Seconds()
	objRate := (bulkVNs + bulkNVEs + bulkPorts) / end.Sub(start).Seconds()
	b.ReportMetric(portRate, "ports/s")
	b.ReportMetric(objRate, "objects/s")
	b.Logf("%s: %d ports in %.2fs (%.0f ports/s); whole load of %d objects in %.2fs (%.0f objects/s)",
		b.Name(), bulkPorts, end.Sub(portStart).Seconds(), portRate, bulkVNs+bulkNVEs+bulkPorts, end.Sub(start).Seconds(), objRate)
}
