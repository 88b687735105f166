package daemon

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/ofctl"
	"github.com/nva-project/nva/ovsdb"
	"github.com/nva-project/nva/ovsdb/nvesync"
	"github.com/nva-project/nva/store"
	"github.com/nva-project/nva/web"
	"github.com/prometheus/client_golang/prometheus"
)

// Southbound is what the daemon runs beside the store to program the NVEs,
// as typed parts: how to start and stop it, and what it gives the REST API.
// A nil reporter means the node has no such part (its endpoints answer 501).
type Southbound struct {
	// Start must not block; ctx is canceled when the daemon stops, after
	// which Close is called (either may be nil).
	Start func(ctx context.Context) error
	Close func() error

	Realizer web.Realizer
	Flows    web.FlowReporter
	Status   web.StatusReporter
	Switches web.SwitchReporter
	// Notifier tells the events streams when Status may have changed.
	Notifier web.StatusNotifier
	// Counters are the traffic counters (OAM).
	Counters web.CounterReporter
	// LiveTracer runs live packet traces (OAM, oam.go).
	LiveTracer web.LiveTracer
	// Tunnels are tunnel liveness and VAP signalling (multihome.go).
	Tunnels web.TunnelReporter
	// Metrics registers the southbound's collectors on the API's registry.
	Metrics func(prometheus.Registerer) error
}

// NewSouthbound builds a node's southbound on its opened store.
type NewSouthbound func(st *store.Store, s Settings, log *slog.Logger) (*Southbound, error)

// OpenFlowAndOVSDB is the production southbound: the OpenFlow 1.3
// southbound (ofctl) listening on Settings.OpenFlowAddr, and OVSDB
// management of ovs NVEs (nvesync over ovsdb managers).
//
// The two halves share what OVSDB learns about OpenFlow port numbers: the
// southbound compiles an NVE with its switch's port table completed by the
// ofports OVSDB reports (nvesync's PortNumbers), and an OVSDB status whose
// ofports changed has the NVE recompiled at once (PortsChanged). So a VAP
// interface nva attaches is compiled in as soon as either the switch's
// port-status event or OVSDB reports its port. An NVE's status joins the
// OVSDB side (known on the leader; a follower with an events stream open
// reads it from the leader, see leaderOVSDB) and the OpenFlow side.
//
// Status changes are pushed to the events streams (Notifier): the OpenFlow
// southbound's StatusChanged, every OVSDB status the manager reports, and
// the manager closing when the node loses leadership.
func OpenFlowAndOVSDB(st *store.Store, s Settings, log *slog.Logger) (*Southbound, error) {
	hub := newStatusHub()
	var syncer *nvesync.Syncer
	// Switch TLS (switchtls.go): the OpenFlow listener's and the OVSDB
	// client's configurations; nil without a TLS identity.
	ofTLS, ovsdbTLS, err := s.SwitchTLS()
	if err != nil {
		return nil, err
	}
	var ovsdbOpts []ovsdb.Option
	if ovsdbTLS != nil {
		ovsdbOpts = append(ovsdbOpts, ovsdb.WithClientTLS(ovsdbTLS))
	}
	of := ofctl.New(ofctl.Config{ListenAddr: s.OpenFlowAddr, TLS: ofTLS, Logger: log,
		PortNumbers:     func(nve string) map[string]uint32 { return syncer.PortNumbers(nve) },
		CounterInterval: s.CounterPollInterval(),
		AuditInterval:   s.AuditPeriod(), // --audit-interval (rest-cpu)
		// L2 gateway learning (learned.go): reports go to the store, MACs
		// still sending are re-reported every third of --learned-age.
		Learn: st, LearnRefresh: s.LearnedMaxAge() / 3})
	var mu sync.Mutex
	last := map[string]map[string]uint32{} // NVE -> ofports last reported
	// Tunnel liveness and VAP signalling (multihome.go).
	mh := newMultihome(st, func(nve string) map[string]uint32 { return syncer.PortNumbers(nve) }, of.SetPortDown,
		log.With("component", "multihome"), hub.notify)
	mh.portsDown = of.PortsAdminDown
	onStatus := func(st ovsdb.Status) {
		mh.observe(st)
		mu.Lock()
		changed := !maps.Equal(last[st.NVE], st.OFPorts)
		if changed {
			last[st.NVE] = maps.Clone(st.OFPorts)
		}
		mu.Unlock()
		if changed {
			of.PortsChanged(st.NVE)
		}
		hub.notify()
	}
	syncer = nvesync.New(func() nvesync.OVSDB {
		return closeNotifier{OVSDB: ovsdb.NewManager(log.With("component", "ovsdb"), onStatus, append(ovsdbOpts, ovsdb.WithWriteGate(st.VerifyLeader))...), onClose: hub.notify}
	}, log.With("component", "nvesync"))
	// Node-to-node traffic has no TLS yet; once it has, this client takes
	// the daemon's.
	fill := &leaderOVSDB{src: st, client: &http.Client{Timeout: leaderPollTimeout}, hub: hub,
		log: log.With("component", "status"), now: time.Now}
	vteps := newVTEPSyncer(log, ovsdbTLS, vtepLearned{st: st, now: time.Now}, s.LearnedMaxAge(), hub.notify)
	var wg sync.WaitGroup
	return &Southbound{
		Start: func(ctx context.Context) error {
			if err := syncer.Start(ctx, st); err != nil {
				return err
			}
			if err := vteps.Start(ctx, st); err != nil {
				return err
			}
			if err := of.Start(ctx, st); err != nil {
				return err
			}
			wg.Add(4)
			go func() { defer wg.Done(); expireLearned(ctx, st, s.LearnedMaxAge(), time.Now, log) }() // learned.go
			go func() { defer wg.Done(); mh.run(ctx) }()
			go func() { defer wg.Done(); followStatusChanges(ctx, of.StatusChanged, hub) }()
			go func() { defer wg.Done(); fill.run(ctx) }()
			return nil
		},
		Close: func() error {
			err := errors.Join(of.Close(), syncer.Close(), vteps.Close())
			wg.Wait()
			return err
		},
		Realizer:   of,
		Flows:      of,
		Status:     nveStatus{src: st, ovsdb: syncer, leader: fill, openflow: of, vtep: vteps, multihome: mh},
		Switches:   of,
		Notifier:   hub,
		Counters:   of,
		LiveTracer: liveTracer{of},
		Tunnels:    mh,
		Metrics: func(r prometheus.Registerer) error {
			return errors.Join(of.RegisterMetrics(r), of.RegisterCounterMetrics(r), r.Register(mh))
		},
	}, nil
}

// nveStatus joins the two sides of an NVE's status and summarizes them.
type nveStatus struct {
	src interface {
		Snapshot() *model.Snapshot
		Nodes() []model.Member
		IsLeader() bool
	}
	ovsdb interface {
		OVSDBStatus(string) *model.OVSDBStatus
	}
	// leader is the leader's OVSDB side as a follower last read it (nil:
	// none); used on a follower only.
	leader interface {
		OVSDBStatus(string) *model.OVSDBStatus
	}
	openflow interface {
		OpenFlowStatus(string) *model.OpenFlowStatus
	}
	// vtep is the management of vtep NVEs (nil: none).
	vtep interface {
		Status(string) (*model.OVSDBStatus, *model.VTEPStatus)
	}
	// multihome adds tunnel liveness and signalled VAPs (nil: none).
	multihome interface {
		fill(name string, st *model.NVEStatus)
	}
}

func (n nveStatus) NVEStatus(name string) *model.NVEStatus {
	isLeader := n.src.IsLeader()
	st := &model.NVEStatus{OVSDB: n.ovsdb.OVSDBStatus(name), OpenFlow: n.openflow.OpenFlowStatus(name)}
	if st.OVSDB == nil && !isLeader && n.leader != nil {
		st.OVSDB = n.leader.OVSDBStatus(name)
	}
	if n.multihome != nil {
		n.multihome.fill(name, st)
	}
	nve, ok := n.src.Snapshot().NVEs[name]
	if ok && nve.Kind == model.NVEVTEP && n.vtep != nil {
		// Only the leader manages VTEPs: a follower shows none (the
		// summary says the leader manages it).
		st.OVSDB, st.VTEP = n.vtep.Status(name)
		st.OpenFlow = nil // nva speaks no OpenFlow to a VTEP
	}
	if ok {
		st.Summary = model.SummarizeNVE(nve, st, model.SummaryContext{
			OVSDBOnLeader: !isLeader,
			Controllers:   controllerTargets(n.src.Nodes()),
		})
	}
	return st
}

// controllerTargets are the OpenFlow targets the NVEs are told to connect
// to: every member's advertised address, as nvesync writes them.
func controllerTargets(nodes []model.Member) []string {
	var out []string
	for _, m := range nodes {
		if t, err := ovsdb.ControllerTarget(m.OpenFlowAddr); err == nil && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out
}
