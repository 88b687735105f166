package daemon

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/nva-project/nva/app/liveness"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/ovsdb"
	"github.com/prometheus/client_golang/prometheus"
)

// multihome joins tunnel liveness and VAP error signalling (RFC 8014
// §4.4, §4.5, §12) on the node that manages the NVEs' OVSDB (the
// leader): every OVSDB status the manager reports feeds the BFD states of
// the NVE's path ports to the liveness tracker; a loop takes down (and
// brings back up) the VAPs whose NVE lost every path to the other NVEs of
// their VN, by OpenFlow port-mod through the southbound. Liveness shows in
// GET /api/v1/tunnels, in the NVEs' status (and so in the topology and the
// events stream's status events) and in Prometheus metrics.
type multihome struct {
	src interface {
		Snapshot() *model.Snapshot
		IsLeader() bool
	}
	tracker *liveness.Tracker
	// ports are an NVE's OpenFlow port numbers by interface name (OVSDB).
	ports func(nve string) map[string]uint32
	// setDown takes a port of an NVE's switch down or up.
	setDown func(ctx context.Context, nve string, port uint32, down bool) error
	// portsDown lists the admin-down ports of an NVE's switch (false: not
	// connected here); nil: no adoption.
	portsDown func(nve string) ([]uint32, bool)
	log       *slog.Logger
	notify    func()
	now       func() time.Time

	kick chan struct{}

	mu      sync.Mutex
	vaps    map[string]*model.VAPSignalStatus // port name -> what nva applied (Down) or tries to
	signals uint64                            // port-mods that took a VAP down
	adopted map[string]bool                   // NVEs whose admin-down VAPs were adopted since leading
	// inUse caches signalling's use (some NVE multipath) for the
	// snapshot inUseOf.
	inUseOf *model.Snapshot
	inUse   bool
}

func newMultihome(src interface {
	Snapshot() *model.Snapshot
	IsLeader() bool
}, ports func(string) map[string]uint32, setDown func(context.Context, string, uint32, bool) error, log *slog.Logger, notify func()) *multihome {
	return &multihome{src: src, tracker: liveness.New(time.Now), ports: ports, setDown: setDown, log: log,
		notify: notify, now: time.Now, kick: make(chan struct{}, 1), vaps: map[string]*model.VAPSignalStatus{},
		adopted: map[string]bool{}}
}

// observe feeds one OVSDB status to the tracker (from the manager's
// goroutine: it does not block).
func (m *multihome) observe(st ovsdb.Status) {
	snap := m.src.Snapshot()
	if snap == nil {
		return
	}
	evs := m.tracker.Observe(snap, st.NVE, st.Connected, st.BFD)
	if len(evs) == 0 {
		return
	}
	for _, e := range evs {
		if e.Port != "" {
			m.log.Info("tunnel path", "nve", e.NVE, "remote", e.Remote, "port", e.Port, "from", e.From, "to", e.To, "diagnostic", e.Diagnostic)
		} else {
			m.log.Info("tunnel", "nve", e.NVE, "remote", e.Remote, "from", e.From, "to", e.To, "fault", e.Fault)
		}
	}
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// run applies VAP signalling until ctx ends: on every liveness change and
// once a second (snapshot changes, retries of failed port-mods).
func (m *multihome) run(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.kick:
		case <-tick.C:
		}
		if m.src.IsLeader() {
			m.apply(ctx)
		} else {
			m.mu.Lock()
			clear(m.adopted) // a later term adopts again
			m.inUseOf = nil  // no old snapshot kept while following
			m.mu.Unlock()
		}
	}
}

// apply brings the VAPs' admin state to what the tracker wants. With
// VAP signalling not in use (no multipath NVE) and no VAP taken down, it
// has nothing to do and costs nothing per NVE.
func (m *multihome) apply(ctx context.Context) {
	snap := m.src.Snapshot()
	if snap == nil || m.idle(snap) {
		return
	}
	want := map[string]*model.Port{}
	for _, p := range m.tracker.VAPsDown(snap) {
		want[p.Name] = p
	}
	m.adopt(snap)
	m.mu.Lock()
	type op struct {
		port *model.Port
		down bool
	}
	var ops []op
	for name, p := range want {
		if v := m.vaps[name]; v == nil || !v.Down || v.Error != "" {
			ops = append(ops, op{p, true})
		}
	}
	for name, v := range m.vaps {
		if want[name] == nil {
			if p := snap.Ports.Get(name); p != nil && p.NVE == v.NVE {
				ops = append(ops, op{p, false})
			} else {
				delete(m.vaps, name) // the port is gone or moved: nothing to restore here
			}
		}
	}
	m.mu.Unlock()
	changed := false
	for _, o := range ops {
		err := m.setPort(ctx, o.port, o.down)
		m.mu.Lock()
		switch {
		case err != nil:
			m.log.Warn("VAP signalling", "port", o.port.Name, "nve", o.port.NVE, "down", o.down, "err", err)
			v := m.vaps[o.port.Name]
			if v == nil {
				v = &model.VAPSignalStatus{Port: o.port.Name, VN: o.port.VN, NVE: o.port.NVE}
				m.vaps[o.port.Name] = v
			}
			v.Error = err.Error()
		case o.down:
			m.log.Info("VAP taken down: its NVE has no live path to the other NVEs of its VN", "port", o.port.Name, "nve", o.port.NVE, "vn", o.port.VN)
			m.vaps[o.port.Name] = &model.VAPSignalStatus{Port: o.port.Name, VN: o.port.VN, NVE: o.port.NVE, Down: true, Since: m.now()}
			m.signals++
		default:
			m.log.Info("VAP brought back up: a path recovered", "port", o.port.Name, "nve", o.port.NVE, "vn", o.port.VN)
			delete(m.vaps, o.port.Name)
		}
		m.mu.Unlock()
		changed = true
	}
	if changed {
		m.notify()
	}
}

// idle reports whether apply has nothing to do on snap: no NVE is
// multipath (so the tracker takes no VAP down and no admin state is
// adopted) and no VAP is down by nva or waiting to be brought back up.
func (m *multihome) idle(snap *model.Snapshot) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.inUseOf != snap {
		m.inUseOf, m.inUse = snap, slices.ContainsFunc(snap.SortedNVEs(), func(n *model.NVE) bool { return n.Multipath != model.MultipathNone })
	}
	return !m.inUse && len(m.vaps) == 0
}

// adopt records, once per NVE and term, the VAPs its switch shows
// administratively down as taken down by nva: a VAP a previous leader (or
// this node before a restart) took down is brought back up once its NVE
// has a live path again. nva treats a VAP's admin state as its own.
func (m *multihome) adopt(snap *model.Snapshot) {
	if m.portsDown == nil || !slices.ContainsFunc(snap.SortedNVEs(), func(n *model.NVE) bool { return n.Multipath != model.MultipathNone }) {
		return // VAP signalling is not in use: leave every admin state alone
	}
	for _, n := range snap.SortedNVEs() {
		m.mu.Lock()
		done := m.adopted[n.Name]
		m.mu.Unlock()
		if done {
			continue
		}
		down, ok := m.portsDown(n.Name)
		if !ok {
			continue // not connected yet: adopt when it is
		}
		isDown := map[uint32]bool{}
		for _, no := range down {
			isDown[no] = true
		}
		nums := m.ports(n.Name)
		m.mu.Lock()
		m.adopted[n.Name] = true
		for _, p := range snap.PortsOn(n.Name) {
			vn := snap.VNs[p.VN]
			if no := nums[p.Interface]; no != 0 && isDown[no] && m.vaps[p.Name] == nil && vn != nil && vn.SignalsVAP() {
				m.vaps[p.Name] = &model.VAPSignalStatus{Port: p.Name, VN: p.VN, NVE: p.NVE, Down: true, Since: m.now()}
			}
		}
		m.mu.Unlock()
	}
}

func (m *multihome) setPort(ctx context.Context, p *model.Port, down bool) error {
	no := m.ports(p.NVE)[p.Interface]
	if no == 0 {
		return errNoOFPort
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return m.setDown(cctx, p.NVE, no, down)
}

var errNoOFPort = errors.New("the VAP's interface has no OpenFlow port yet")

// TunnelLiveness implements web.TunnelReporter.
func (m *multihome) TunnelLiveness() ([]model.TunnelStatus, []model.VAPSignalStatus, bool) {
	snap := m.src.Snapshot()
	if snap == nil || !m.src.IsLeader() {
		return nil, nil, false
	}
	return m.tracker.Tunnels(snap), m.signalled(), true
}

func (m *multihome) signalled() []model.VAPSignalStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]model.VAPSignalStatus, 0, len(m.vaps))
	for _, v := range m.vaps {
		out = append(out, *v)
	}
	sortVAPs(out)
	return out
}

func sortVAPs(v []model.VAPSignalStatus) {
	for i := 1; i < len(v); i++ {
		for j := i; j > 0 && v[j].Port < v[j-1].Port; j-- {
			v[j], v[j-1] = v[j-1], v[j]
		}
	}
}

// fill adds an NVE's tunnels and signalled VAPs to its status.
func (m *multihome) fill(name string, st *model.NVEStatus) {
	snap := m.src.Snapshot()
	if snap == nil || !m.src.IsLeader() {
		return
	}
	st.Tunnels = m.tracker.TunnelsOf(snap, name)
	if st.OVSDB == nil {
		return
	}
	for _, v := range m.signalled() {
		p := snap.Ports.Get(v.Port)
		if v.NVE != name || !v.Down || p == nil {
			continue
		}
		ps := st.OVSDB.Ports[p.Interface]
		ps.SignalledDown = true
		if st.OVSDB.Ports == nil {
			st.OVSDB.Ports = map[string]model.PortStatus{}
		}
		st.OVSDB.Ports[p.Interface] = ps
	}
}

// Metrics.
var (
	pathUpDesc = prometheus.NewDesc("nva_tunnel_path_up",
		"Liveness of a tunnel path by its BFD session: 1 up, 0 down, -1 unknown.",
		[]string{"nve", "remote", "port", "local_ip", "remote_ip"}, nil)
	pathTransitionsDesc = prometheus.NewDesc("nva_tunnel_path_transitions_total",
		"State changes of a tunnel path's BFD session seen by nva.",
		[]string{"nve", "remote", "port"}, nil)
	pathSinceDesc = prometheus.NewDesc("nva_tunnel_path_last_transition_timestamp_seconds",
		"When a tunnel path's state last changed (Unix time).",
		[]string{"nve", "remote", "port"}, nil)
	tunnelUpDesc = prometheus.NewDesc("nva_tunnel_up",
		"Liveness of an NVE's multipath tunnel to a remote NVE: 1 some path up, 0 every path down, -1 unknown.",
		[]string{"nve", "remote", "mode"}, nil)
	tunnelFaultDesc = prometheus.NewDesc("nva_tunnel_fault",
		"1 when an NVE pair's tunnel is down with a fault of this kind (underlay: both NVEs connected; overlay: an NVE not connected).",
		[]string{"nve", "remote", "fault"}, nil)
	vapDownDesc = prometheus.NewDesc("nva_vap_signalled_down",
		"VAPs nva has taken down because their NVE lost every path of their VN, by NVE.",
		[]string{"nve"}, nil)
	vapSignalsDesc = prometheus.NewDesc("nva_vap_signals_total",
		"Port-mods that took a VAP down (VAP error signalling).", nil, nil)
)

// Describe implements prometheus.Collector.
func (m *multihome) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{pathUpDesc, pathTransitionsDesc, pathSinceDesc, tunnelUpDesc, tunnelFaultDesc, vapDownDesc, vapSignalsDesc} {
		ch <- d
	}
}

func stateValue(s model.PathState) float64 {
	switch s {
	case model.PathUp:
		return 1
	case model.PathDown:
		return 0
	}
	return -1
}

// Collect implements prometheus.Collector.
func (m *multihome) Collect(ch chan<- prometheus.Metric) {
	ts, vaps, ok := m.TunnelLiveness()
	if !ok {
		return
	}
	for _, t := range ts {
		ch <- prometheus.MustNewConstMetric(tunnelUpDesc, prometheus.GaugeValue, stateValue(t.State), t.NVE, t.Remote, string(t.Mode))
		if t.Fault != model.FaultNone {
			ch <- prometheus.MustNewConstMetric(tunnelFaultDesc, prometheus.GaugeValue, 1, t.NVE, t.Remote, string(t.Fault))
		}
		for _, p := range t.Paths {
			ch <- prometheus.MustNewConstMetric(pathUpDesc, prometheus.GaugeValue, stateValue(p.State), t.NVE, t.Remote, p.Port, p.LocalIP, p.RemoteIP)
			ch <- prometheus.MustNewConstMetric(pathTransitionsDesc, prometheus.CounterValue, float64(p.Transitions), t.NVE, t.Remote, p.Port)
			if !p.Since.IsZero() {
				ch <- prometheus.MustNewConstMetric(pathSinceDesc, prometheus.GaugeValue, float64(p.Since.UnixNano())/1e9, t.NVE, t.Remote, p.Port)
			}
		}
	}
	down := map[string]int{}
	for _, v := range vaps {
		if v.Down {
			down[v.NVE]++
		}
	}
	for nve, n := range down {
		ch <- prometheus.MustNewConstMetric(vapDownDesc, prometheus.GaugeValue, float64(n), nve)
	}
	m.mu.Lock()
	signals := m.signals
	m.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(vapSignalsDesc, prometheus.CounterValue, float64(signals))
}
