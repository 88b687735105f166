// Package nvesync keeps every Open vSwitch NVE's OVSDB configuration in
// step with the store: for each NVE of kind ovs it derives the desired
// bridge, controller targets (every cluster member's advertised OpenFlow
// address), its tunnel ports — one flow-based port per encapsulation its VNs
// use, or, when its profile has no flow-based tunnels (an Open vSwitch run
// as a strict OpenFlow 1.3 switch), one port per remote NVE it shares a VN
// with — and the VAP interfaces of its ports, and hands that to the ovsdb
// manager. It also reports the OVSDB side of each NVE's status and the
// OpenFlow port numbers OVSDB knows.
package nvesync

import (
	"context"
	"github.com/nva-project/nva/app/pipeline"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/ovsdb"
)

// OVSDB is the part of the ovsdb manager nvesync drives.
type OVSDB interface {
	Sync(ctx context.Context, d ovsdb.Desired)
	Remove(ctx context.Context, nve string) error
	Status(nve string) (ovsdb.Status, bool)
	Close()
}

// Source is the part of the replicated store nvesync reads.
type Source interface {
	Snapshot() *model.Snapshot
	SnapshotAndWatch(ctx context.Context) (*model.Snapshot, <-chan model.Change)
	// Nodes are the cluster members: every member's OpenFlow address is
	// a controller target of every bridge.
	Nodes() []model.Member
	IsLeader() bool
	// LeaderReady reports whether this node, the leader, has applied
	// everything committed before its term (one barrier per term): a
	// node that has just won an election (e.g. after a restart) may still
	// be replaying its log, and its snapshot then lacks committed NVEs and
	// ports.
	LeaderReady(ctx context.Context) (term uint64, ready bool, err error)
}

// Syncer is the component. Only the Raft leader manages OVSDB, so that two
// members never fight over one switch's configuration: a node that gains
// leadership first waits until its store has applied everything committed
// before (a barrier, once per term), then opens an ovsdb manager and
// ensures every NVE; one that loses it closes its manager (which leaves the
// switches' configuration as it is). So a restarting node never hands
// OVSDB a half-loaded desired state, which would delete and re-add
// interfaces and tunnel ports.
type Syncer struct {
	newDB   func() OVSDB
	log     *slog.Logger
	tick    time.Duration
	timeout time.Duration // bound on one barrier

	mu        sync.Mutex
	db        OVSDB             // nil while not leader
	applied   map[string]string // NVE name -> fingerprint of the last Desired sent
	readyTerm uint64            // the term in which LeaderReady first said yes (0: none)
	wg        sync.WaitGroup

	dbMu sync.Mutex // guards dbRd, so status readers never wait for apply
	dbRd OVSDB      // == db
}

// New returns a Syncer that opens OVSDB managers with newDB.
func New(newDB func() OVSDB, log *slog.Logger) *Syncer {
	if log == nil {
		log = slog.Default()
	}
	return &Syncer{newDB: newDB, log: log, tick: time.Second, timeout: 10 * time.Second, applied: map[string]string{}}
}

// Start follows src until ctx ends; it does not block.
func (s *Syncer) Start(ctx context.Context, src Source) error {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.run(ctx, src)
		s.mu.Lock()
		if s.db != nil {
			s.db.Close()
			s.setDB(nil)
		}
		s.mu.Unlock()
	}()
	return nil
}

// Close waits until the follow loop has ended (after the daemon's context
// is canceled) and its manager is closed.
func (s *Syncer) Close() error { s.wg.Wait(); return nil }

func (s *Syncer) run(ctx context.Context, src Source) {
	t := time.NewTicker(s.tick)
	defer t.Stop()
	for ctx.Err() == nil {
		_, events := src.SnapshotAndWatch(ctx)
		s.apply(ctx, src)
	follow:
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C: // leadership changes arrive with no event
				s.apply(ctx, src)
			case ev, ok := <-events:
				if !ok || ev.Kind == model.ChangeReset {
					break follow
				}
				s.apply(ctx, src)
			}
		}
	}
}

// Desired derives the OVSDB configuration of one ovs NVE from a snapshot
// and the cluster's members.
func Desired(snap *model.Snapshot, nve *model.NVE, nodes []model.Member) ovsdb.Desired {
	d := ovsdb.Desired{
		NVE:          nve.Name,
		Endpoint:     nve.OVSDB,
		Bridge:       nve.Bridge,
		DatapathType: nve.DatapathType,
		DatapathID:   nve.DatapathID,
		// ssl: endpoints: the server must present the pinned certificate.
		SwitchIdentity: nve.SwitchIdentity,
	}
	seen := map[string]bool{}
	for _, n := range nodes {
		// A member advertises HOST:PORT or an OVS target (tcp:/ssl:);
		// one the validator rejects (nva checks it at startup, so only
		// an old record can be bad) is left out rather than making the
		// whole desired state invalid.
		t, err := ovsdb.ControllerTarget(n.OpenFlowAddr)
		if err != nil {
			continue
		}
		if !seen[t] {
			seen[t] = true
			d.Controllers = append(d.Controllers, t)
		}
	}
	sort.Strings(d.Controllers)
	local := ""
	if ips := nve.UnderlayIPs; len(ips) > 0 {
		local = ips[0]
	}
	if flowTunnels(nve) {
		d.Tunnels = flowBasedTunnels(snap, nve, local)
	} else {
		d.Tunnels = perRemoteTunnels(snap, nve, local)
	}
	for _, p := range snap.PortsOn(nve.Name) {
		d.Interfaces = append(d.Interfaces, p.Interface)
	}
	slices.Sort(d.Interfaces)
	d.Interfaces = slices.Compact(d.Interfaces)
	return d
}

// flowTunnels reports whether NVE nve's switch profile tunnels by flow (an
// NVE whose profile cannot be resolved, which the store refuses, is given
// the flow-based ports of its kind's default).
func flowTunnels(nve *model.NVE) bool {
	p, err := pipeline.ForNVE(string(nve.Kind), nve.Profile, nil)
	return err != nil || p.FlowTunnels
}

// flowBasedTunnels: one flow-based tunnel port per encapsulation of the
// VNs the NVE hosts (the OVS profile sets the remote per flow).
func flowBasedTunnels(snap *model.Snapshot, nve *model.NVE, local string) []ovsdb.Tunnel {
	var out []ovsdb.Tunnel
	encaps := map[model.Encap]bool{}
	for _, name := range snap.VNsOn(nve.Name) {
		if vn, ok := snap.VNs[name]; ok {
			encaps[vn.Encap] = true
		}
	}
	for _, e := range model.Encaps {
		if encaps[e] {
			out = append(out, ovsdb.Tunnel{Name: compiler.TunnelPortName(e), Type: string(e), LocalIP: local})
		}
	}
	return out
}

// perRemoteTunnels: for an Open vSwitch run with a profile without flow
// tunnels (the strict OpenFlow 1.3 profile), one tunnel port per remote
// NVE it shares a VN with (model.Snapshot.TunnelPeers), named as the
// OpenFlow southbound looks for it (the NVE's tunnel_ports, else
// compiler.RemoteTunnelPortName), with remote_ip fixed and key=flow.
// Ports of remotes no longer shared are removed by the manager (it deletes
// the nva-owned ports not listed).
func perRemoteTunnels(snap *model.Snapshot, nve *model.NVE, local string) []ovsdb.Tunnel {
	var out []ovsdb.Tunnel
	for _, peer := range snap.TunnelPeers(nve.Name) {
		if !peer.RemoteIP.IsValid() {
			continue // the southbound reports it
		}
		name := peer.Port
		if name == "" {
			if !peer.RemoteIP.Is4() {
				continue
			}
			name = compiler.RemoteTunnelPortName(peer.Encap, peer.RemoteIP)
		}
		out = append(out, ovsdb.Tunnel{Name: name, Type: string(peer.Encap), LocalIP: local, RemoteIP: peer.RemoteIP.String()})
	}
	return out
}

func fingerprint(d ovsdb.Desired) string {
	var b []byte
	add := func(s string) { b = append(b, s...); b = append(b, 0) }
	add(d.Endpoint)
	add(d.Bridge)
	add(d.DatapathType)
	add(d.DatapathID)
	if id := d.SwitchIdentity; id != nil {
		add("p" + id.Fingerprint + "/" + id.Subject)
	}
	for _, c := range d.Controllers {
		add("c" + c)
	}
	for _, t := range d.Tunnels {
		add("t" + t.Name + "/" + t.Type + "/" + t.LocalIP + "/" + t.RemoteIP)
	}
	for _, i := range d.Interfaces {
		add("i" + i)
	}
	return string(b)
}

func (s *Syncer) setDB(db OVSDB) {
	s.db = db
	s.dbMu.Lock()
	s.dbRd = db
	s.dbMu.Unlock()
}

func (s *Syncer) currentDB() OVSDB {
	s.dbMu.Lock()
	defer s.dbMu.Unlock()
	return s.dbRd
}

// ready reports whether this node may manage OVSDB: it is the leader and
// its store has applied everything committed before its term (one barrier
// per term).
func (s *Syncer) ready(ctx context.Context, src Source) bool {
	start := time.Now()
	bctx, cancel := context.WithTimeout(ctx, s.timeout)
	term, ready, err := src.LeaderReady(bctx)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			s.log.Info("leader, but the store has not caught up yet; OVSDB left alone", "term", term, "error", err)
		}
		return false
	}
	if !ready {
		return false
	}
	s.mu.Lock()
	first := s.readyTerm != term
	s.readyTerm = term
	s.mu.Unlock()
	if first {
		s.log.Info("leader: store caught up with the log", "term", term, "took", time.Since(start))
	}
	return true
}

// apply hands every ovs NVE's desired state to OVSDB when this node leads
// and its store has caught up; the snapshot is read after that check.
func (s *Syncer) apply(ctx context.Context, src Source) {
	leader := s.ready(ctx, src)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !leader {
		if s.db != nil {
			s.log.Info("no longer the leader: leaving OVSDB management to the new leader")
			s.db.Close()
			s.setDB(nil)
			s.applied = map[string]string{}
		}
		return
	}
	snap := src.Snapshot()
	if s.db == nil {
		s.log.Info("leader: managing the NVEs' OVSDB configuration", "revision", snap.Revision)
		s.setDB(s.newDB())
	}
	nodes := src.Nodes()
	want := map[string]bool{}
	for _, nve := range snap.SortedNVEs() {
		if nve.Kind != model.NVEOVS {
			continue
		}
		want[nve.Name] = true
		d := Desired(snap, nve, nodes)
		fp := fingerprint(d)
		if s.applied[nve.Name] == fp {
			continue
		}
		s.applied[nve.Name] = fp
		s.log.Debug("ovsdb sync", "nve", nve.Name, "tunnels", len(d.Tunnels), "interfaces", len(d.Interfaces))
		s.db.Sync(ctx, d)
	}
	for name := range s.applied {
		if want[name] {
			continue
		}
		delete(s.applied, name)
		s.log.Info("nve removed: removing nva's OVSDB configuration", "nve", name)
		if err := s.db.Remove(ctx, name); err != nil {
			s.log.Warn("ovsdb remove", "nve", name, "err", err)
		}
	}
}

// PortNumbers returns the OpenFlow port number of each interface OVSDB
// reports on NVE nve (nil when this node does not manage OVSDB). The
// OpenFlow southbound uses it beside the switch's own port table.
func (s *Syncer) PortNumbers(nve string) map[string]uint32 {
	db := s.currentDB()
	if db == nil {
		return nil
	}
	st, ok := db.Status(nve)
	if !ok {
		return nil
	}
	return st.OFPorts
}

// OVSDBStatus returns the OVSDB side of an NVE's status: nil when this
// node does not manage OVSDB (a follower: the leader has it) or the NVE is
// not an ovs NVE it manages.
func (s *Syncer) OVSDBStatus(nve string) *model.OVSDBStatus {
	db := s.currentDB()
	if db == nil {
		return nil
	}
	st, ok := db.Status(nve)
	if !ok {
		return nil
	}
	o := &model.OVSDBStatus{Connected: st.Connected, BridgeReady: st.BridgeReady, LastError: st.LastError, Ports: map[string]model.PortStatus{}}
	for name, no := range st.OFPorts {
		p := o.Ports[name]
		p.OFPort = no
		o.Ports[name] = p
	}
	for name, up := range st.Links {
		p := o.Ports[name]
		p.LinkUp = up
		o.Ports[name] = p
	}
	for name, e := range st.Errors {
		p := o.Ports[name]
		p.Error = e
		o.Ports[name] = p
	}
	return o
}
