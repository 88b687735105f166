package web

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/nva-project/nva/app/counters"
	"github.com/nva-project/nva/web/wire"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
)

// CounterReporter supplies the traffic counters (app/counters) the
// southbound last read from the NVEs connected to this node, when its
// last poll round ended (zero: none yet) and whether polling is on.
type CounterReporter interface {
	TrafficCounters() (nves []counters.NVE, at time.Time, enabled bool)
}

// CounterDemand is implemented by a CounterReporter that reads the
// counters only while they are wanted (ofctl: polling on demand). The
// server signals demand on every read of the counters API (waiting, at
// most freshCountersWait, for fresh counters when they are stale), on
// every /metrics scrape that includes the counter metrics, and while an
// events stream carries counters events.
type CounterDemand interface {
	WantCounters(ctx context.Context, fresh bool)
}

// freshCountersWait bounds how long a read of the counters API waits for
// the first poll round after idle; past it, the answer has the counters
// as last read, and polled_at says how old they are.
const freshCountersWait = 10 * time.Second

// wantCounters signals demand for the counters (see CounterDemand).
func (s *Server) wantCounters(ctx context.Context, fresh bool) {
	d, ok := s.counters.(CounterDemand)
	if !ok {
		return
	}
	if fresh {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, freshCountersWait)
		defer cancel()
	}
	d.WantCounters(ctx, fresh)
}

func (s *Server) counterData(w http.ResponseWriter, r *http.Request) ([]counters.NVE, *time.Time, bool, bool) {
	if s.counters == nil {
		writeError(w, newAPIError(http.StatusNotImplemented, wire.CodeNotImplemented, "",
			"traffic counters are not available on this node (no southbound configured)"))
		return nil, nil, false, false
	}
	s.wantCounters(r.Context(), true)
	nves, at, enabled := s.counters.TrafficCounters()
	var atp *time.Time
	if !at.IsZero() {
		atp = &at
	}
	return nves, atp, enabled, true
}

func countWire(c counters.Count) wire.Count { return wire.Count{Packets: c.Packets, Bytes: c.Bytes} }

func countsWire(m map[string]counters.Count) map[string]wire.Count {
	out := make(map[string]wire.Count, len(m))
	for k, v := range m {
		out[k] = countWire(v)
	}
	return out
}

// countersEvent is the events stream's counters event: the totals.
func countersEvent(nves []counters.NVE, at *time.Time) wire.CountersEvent {
	tot := counters.Sum(nves)
	ev := wire.CountersEvent{PolledAt: at, VNs: map[string]wire.VNCounters{}, Tunnels: map[string]wire.TunnelCounters{},
		Drops: countsWire(tot.Drops), DropReasons: countsWire(tot.DropReasons)}
	for k, v := range tot.VNs {
		ev.VNs[k] = vnWire(v)
	}
	for k, v := range tot.Tunnels {
		ev.Tunnels[k] = tunnelWire(v)
	}
	return ev
}

func vnWire(v counters.VN) wire.VNCounters {
	return wire.VNCounters{FromPorts: countWire(v.FromPorts), FromTunnels: countWire(v.FromTunnels)}
}

func portWire(p counters.Port) wire.PortCounters {
	return wire.PortCounters{VN: p.VN, Rx: countWire(p.Rx), Tx: countWire(p.Tx)}
}

func tunnelWire(t counters.Tunnel) wire.TunnelCounters {
	return wire.TunnelCounters{Tx: countWire(t.Tx), Rx: countWire(t.Rx)}
}

// handleCounters answers GET /api/v1/counters (admin, operator, reader).
func (s *Server) handleCounters(w http.ResponseWriter, r *http.Request) {
	nves, at, enabled, ok := s.counterData(w, r)
	if !ok {
		return
	}
	tot := counters.Sum(nves)
	out := wire.Counters{Enabled: enabled, PolledAt: at, NVEs: []wire.NVECounters{},
		VNs: map[string]wire.VNCounters{}, Ports: map[string]wire.PortCounters{}, Tunnels: map[string]wire.TunnelCounters{}, Drops: map[string]wire.Count{},
		DropReasons: countsWire(tot.DropReasons)}
	for _, n := range nves {
		wn := wire.NVECounters{NVE: n.NVE, VNs: map[string]wire.VNCounters{}, Ports: map[string]wire.PortCounters{},
			Tunnels: map[string]wire.TunnelCounters{}, Drops: map[string]wire.Count{}, Unattributed: countWire(n.Unattributed),
			DropReasons: countsWire(n.DropReasons), Interfaces: map[string]wire.InterfaceCounters{}, BUM: []wire.BUMCounters{}}
		for _, b := range n.BUM {
			wn.BUM = append(wn.BUM, wire.BUMCounters{VN: b.VN, Frames: b.Frames, FramesFromTunnels: b.FramesFromTunnels,
				UnderlayCopies: b.UnderlayCopies, LocalCopies: b.LocalCopies, CompiledCopies: b.CompiledCopies, RelayedCopies: b.RelayedCopies})
		}
		for k, i := range n.Interfaces {
			wn.Interfaces[k] = wire.InterfaceCounters{Kind: i.Kind, Rx: countWire(i.Rx), Tx: countWire(i.Tx),
				RxDropped: i.RxDropped, TxDropped: i.TxDropped, RxErrors: i.RxErrors, TxErrors: i.TxErrors}
		}
		for k, v := range n.VNs {
			wn.VNs[k] = vnWire(v)
		}
		for k, v := range n.Ports {
			wn.Ports[k] = portWire(v)
		}
		for k, v := range n.Tunnels {
			wn.Tunnels[k] = tunnelWire(v)
		}
		for k, v := range n.Drops {
			wn.Drops[k] = countWire(v)
		}
		out.NVEs = append(out.NVEs, wn)
	}
	for k, v := range tot.VNs {
		out.VNs[k] = vnWire(v)
	}
	for k, v := range tot.Ports {
		out.Ports[k] = portWire(v)
	}
	for k, v := range tot.Tunnels {
		out.Tunnels[k] = tunnelWire(v)
	}
	for k, v := range tot.Drops {
		out.Drops[k] = countWire(v)
	}
	writeJSON(w, http.StatusOK, out)
}

// handleVNCounters answers GET /api/v1/vns/{name}/counters (any role; a
// tenant for its own VNs).
func (s *Server) handleVNCounters(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["name"]
	snap, err := s.snapshot(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if _, ok := snap.VNs[name]; !ok {
		writeError(w, newAPIError(http.StatusNotFound, wire.CodeNotFound, "", "vn %q not found", name))
		return
	}
	nves, at, enabled, ok := s.counterData(w, r)
	if !ok {
		return
	}
	tot := counters.Sum(nves)
	out := wire.VNCountersReport{VN: name, Enabled: enabled, PolledAt: at, Counters: vnWire(tot.VNs[name]), Ports: map[string]wire.PortCounters{}}
	for _, p := range snap.PortsIn(name) {
		out.Ports[p.Name] = portWire(tot.Ports[p.Name])
	}
	writeJSON(w, http.StatusOK, out)
}

// handlePortCounters answers GET /api/v1/ports/{name}/counters (any
// role; a tenant for the ports of its VNs).
func (s *Server) handlePortCounters(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["name"]
	snap, err := s.snapshot(r)
	if err != nil {
		writeError(w, err)
		return
	}
	p, ok := snap.Ports.Lookup(name)
	if !ok {
		writeError(w, newAPIError(http.StatusNotFound, wire.CodeNotFound, "", "port %q not found", name))
		return
	}
	nves, at, enabled, ok := s.counterData(w, r)
	if !ok {
		return
	}
	c := counters.Sum(nves).Ports[name]
	c.VN = p.VN
	writeJSON(w, http.StatusOK, wire.PortCountersReport{Port: name, Enabled: enabled, PolledAt: at, Counters: portWire(c)})
}

// counterMetricPrefixes name the traffic counters' metric families
// (ofctl's counter collector); a /metrics scrape that includes any of
// them wants the counters.
var counterMetricPrefixes = []string{"nva_vn_", "nva_tunnel_", "nva_drop_", "nva_bum_"}

func isCounterMetric(name string) bool {
	for _, p := range counterMetricPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// metricsHandler serves /metrics from the server's registry. A scrape
// may keep only some metric families with name[] parameters (Prometheus'
// convention, e.g. /metrics?name[]=go_goroutines); a scrape that includes
// the traffic counters' families signals demand for them (without
// waiting: a scrape answers with the counters as last read).
func (s *Server) metricsHandler() http.Handler {
	all := promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		names := r.URL.Query()["name[]"]
		if len(names) == 0 {
			if s.counters != nil {
				s.wantCounters(r.Context(), false)
			}
			all.ServeHTTP(w, r)
			return
		}
		keep := map[string]bool{}
		for _, n := range names {
			keep[n] = true
			if s.counters != nil && isCounterMetric(n) {
				s.wantCounters(r.Context(), false)
			}
		}
		g := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
			mfs, err := s.reg.Gather()
			out := mfs[:0]
			for _, mf := range mfs {
				if keep[mf.GetName()] {
					out = append(out, mf)
				}
			}
			return out, err
		})
		promhttp.HandlerFor(g, promhttp.HandlerOpts{Registry: s.reg}).ServeHTTP(w, r)
	})
}
