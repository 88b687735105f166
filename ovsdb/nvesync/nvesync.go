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
	"crypto/sha256"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/pipeline"
	"github.com/nva-project/nva/ovsdb"
)

// OVSDB is the part of the ovsdb manager nvesync drives.
type OVSDB interface {
	Sync(ctx context.Context, d ovsdb.Desired)
	Remove(ctx context.Context, nve string) error
	Status(nve string) (ovsdb.Status, bool)
	// OFPorts is Status's OFPorts alone (read only: it may be shared).
	OFPorts(nve string) (map[string]uint32, bool)
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
//
// Work follows change: after the first full pass, a store change has the
// desired state derived again only for the NVEs it can touch (see note),
// and an NVE whose derived state has the fingerprint last sent is not sent
// again. The tick only checks leadership and re-derives a slice of the
// NVEs (a safety net against a missed change, each NVE once per
// recheckEvery), never all of them at once.
type Syncer struct {
	newDB   func() OVSDB
	log     *slog.Logger
	tick    time.Duration
	timeout time.Duration // bound on one barrier
	// recheckEvery is how long a full round of the safety re-check takes:
	// each tick re-derives len(NVEs)*tick/recheckEvery of them.
	recheckEvery time.Duration

	mu        sync.Mutex
	db        OVSDB                        // nil while not leader
	applied   map[string][sha256.Size]byte // NVE name -> fingerprint of the last Desired sent
	readyTerm uint64                       // the term in which LeaderReady first said yes (0: none)
	dirty     dirtySet                     // what the changes since the last pass touched
	ctrls     []string                     // the controller targets of the last pass
	recheck   string                       // the safety re-check resumes after this NVE name
	tunMode   map[[2]string]bool
	stats     Stats
	wg        sync.WaitGroup

	dbMu sync.Mutex // guards dbRd, so status readers never wait for apply
	dbRd OVSDB      // == db
}

// Stats counts the syncer's work (tests and benchmarks read it).
type Stats struct {
	Passes   uint64 // passes over dirty NVEs (events, leadership, ticks)
	Derived  uint64 // desired states derived
	Synced   uint64 // desired states handed to OVSDB (fingerprint changed)
	Repaired uint64 // of those, found by the safety re-check (a missed change)
}

// dirtySet is what the changes since the last pass touched, by the
// question the next pass must ask the snapshot: all (every NVE: the first
// pass, a reset, a member change), nves (these NVEs themselves), hostsOf
// (every NVE hosting the VN: a VN changed, so their tunnel encapsulations
// may have), peerHostsOf (the NVEs hosting the VN that tunnel per remote:
// a port came or went, so their peers may have) and peersOf (the NVEs
// sharing a VN with the NVE that tunnel per remote: its underlay or
// tunnel ports changed).
type dirtySet struct {
	all                       bool
	nves, hostsOf, peerHostOf map[string]bool
	peersOf                   map[string]bool
}

func (d *dirtySet) add(m *map[string]bool, k string) {
	if *m == nil {
		*m = map[string]bool{}
	}
	(*m)[k] = true
}

func (d *dirtySet) empty() bool {
	return !d.all && len(d.nves) == 0 && len(d.hostsOf) == 0 && len(d.peerHostOf) == 0 && len(d.peersOf) == 0
}

// New returns a Syncer that opens OVSDB managers with newDB.
func New(newDB func() OVSDB, log *slog.Logger) *Syncer {
	if log == nil {
		log = slog.Default()
	}
	return &Syncer{newDB: newDB, log: log, tick: time.Second, timeout: 10 * time.Second, recheckEvery: time.Minute,
		applied: map[string][sha256.Size]byte{}, tunMode: map[[2]string]bool{}}
}

// Stats returns the work counted so far.
func (s *Syncer) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
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
		s.markAll()
		s.apply(ctx, src, false)
	follow:
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C: // leadership changes arrive with no event
				s.apply(ctx, src, true)
			case ev, ok := <-events:
				if !ok || ev.Kind == model.ChangeReset {
					break follow
				}
				s.note(ev)
				// Take whatever else is queued into the same pass.
				for more := true; more; {
					select {
					case ev, ok := <-events:
						if !ok || ev.Kind == model.ChangeReset {
							break follow
						}
						s.note(ev)
					default:
						more = false
					}
				}
				s.apply(ctx, src, false)
			}
		}
	}
}

func (s *Syncer) markAll() {
	s.mu.Lock()
	s.dirty = dirtySet{all: true}
	s.mu.Unlock()
}

// note records what one store change can touch (its Old and New objects;
// a VN, NVE or port change of an unexpected shape marks everything).
func (s *Syncer) note(ev model.Change) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := &s.dirty
	if d.all {
		return
	}
	switch ev.Kind {
	case model.ChangePort:
		old, _ := ev.Old.(*model.Port)
		cur, _ := ev.New.(*model.Port)
		if old == nil && cur == nil {
			d.all = true
			return
		}
		// The port's NVE(s): its interfaces and VNs (flow-based tunnel
		// encapsulations); the VN's hosts that tunnel per remote: the
		// port may make or end the NVE's membership of the VN.
		for _, p := range []*model.Port{old, cur} {
			if p != nil {
				d.add(&d.nves, p.NVE)
				d.add(&d.peerHostOf, p.VN)
			}
		}
	case model.ChangeVN:
		if ev.Name == "" {
			d.all = true
			return
		}
		d.add(&d.hostsOf, ev.Name)
	case model.ChangeNVE:
		if ev.Name == "" {
			d.all = true
			return
		}
		d.add(&d.nves, ev.Name)
		d.add(&d.peersOf, ev.Name)
		// A tNVE's change (its link, or a VN's VLAN coming or going on it)
		// changes its nNVE's access ports and tunnel encapsulations.
		for _, o := range []any{ev.Old, ev.New} {
			if n, _ := o.(*model.NVE); n != nil && n.AccessLink != nil {
				d.add(&d.nves, n.AccessLink.NNVE)
			}
		}
	case model.ChangeNode: // every bridge's controllers
		d.all = true
	case model.ChangeL3Gateway: // uplink interfaces, and per-remote tunnels to gateway NVEs (rare)
		d.all = true
	default:
		// Other kinds of state (none of it is an input of Desired) change
		// no NVE's OVSDB configuration.
	}
}

// Desired derives the OVSDB configuration of one ovs NVE from a snapshot
// and the cluster's members.
func Desired(snap *model.Snapshot, nve *model.NVE, nodes []model.Member) ovsdb.Desired {
	return desired(snap, nve, controllers(nodes), flowTunnels(nve))
}

// controllers are the members' OpenFlow addresses as controller targets,
// sorted and without repeats.
func controllers(nodes []model.Member) []string {
	var out []string
	for _, n := range nodes {
		// A member advertises HOST:PORT or an OVS target (tcp:/ssl:);
		// one the validator rejects (nva checks it at startup, so only
		// an old record can be bad) is left out rather than making the
		// whole desired state invalid.
		t, err := ovsdb.ControllerTarget(n.OpenFlowAddr)
		if err != nil {
			continue
		}
		out = append(out, t)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// desired is Desired with the controllers and the NVE's tunnel mode
// already known. It reads only the snapshot's indexes for the NVE (its
// ports, its VNs, its tunnel peers).
func desired(snap *model.Snapshot, nve *model.NVE, ctrls []string, flowTun bool) ovsdb.Desired {
	d := ovsdb.Desired{
		NVE:          nve.Name,
		Endpoint:     nve.OVSDB,
		Bridge:       nve.Bridge,
		DatapathType: nve.DatapathType,
		DatapathID:   nve.DatapathID,
		Controllers:  slices.Clone(ctrls),
		// ssl: endpoints: the server must present the pinned certificate.
		SwitchIdentity: nve.SwitchIdentity,
	}
	local := ""
	if ips := nve.UnderlayIPs; len(ips) > 0 {
		local = ips[0]
	}
	if flowTun {
		d.Tunnels = flowBasedTunnels(snap, nve, local)
		d.Tunnels = append(d.Tunnels, pathTunnels(snap, nve)...)
	} else {
		d.Tunnels = perRemoteTunnels(snap, nve, local)
	}
	ports := snap.PortsOn(nve.Name)
	if len(ports) > 0 {
		d.Interfaces = make([]string, 0, len(ports))
	}
	for _, p := range ports {
		d.Interfaces = append(d.Interfaces, p.Interface)
	}
	for _, g := range snap.SortedL3Gateways() { // an L3 gateway's uplink is a port of its NVE's bridge
		if g.NVE == nve.Name {
			d.Interfaces = append(d.Interfaces, g.Uplink)
		}
	}
	d.Interfaces = append(d.Interfaces, accessLinkPorts(snap, nve)...)
	if nve.IsTNVE() {
		d.Tunnels = nil // a tNVE does not tunnel: its nNVE does
	}
	slices.Sort(d.Interfaces)
	d.Interfaces = slices.Compact(d.Interfaces)
	return d
}

// accessLinkPorts are the split-NVE access-link ports on NVE nve: its
// uplink if it is a tNVE, the ports its tNVEs' links land on if it is an
// nNVE.
func accessLinkPorts(snap *model.Snapshot, nve *model.NVE) []string {
	var out []string
	if l := nve.AccessLink; l != nil {
		out = append(out, l.Uplink)
	}
	for _, t := range snap.TNVEsOf(nve.Name) {
		out = append(out, t.AccessLink.NNVEPort)
	}
	return out
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
	for _, p := range snap.GatewayPeers(nve.Name) { // an L3 gateway NVE tunnels with its domains' VNs (model/l3gateway.go)
		for _, name := range p.VNs {
			if vn, ok := snap.VNs[name]; ok {
				encaps[vn.Encap] = true
			}
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

// fingerprint identifies a desired state by a digest of everything in it
// (a collision is as likely as SHA-256's): the syncer keeps one per NVE
// to send only states that changed, 32 bytes instead of the state's text.
func fingerprint(d ovsdb.Desired) [sha256.Size]byte {
	b := make([]byte, 0, 512)
	add := func(parts ...string) {
		for _, p := range parts {
			b = append(b, p...)
		}
		b = append(b, 0)
	}
	add(d.Endpoint)
	add(d.Bridge)
	add(d.DatapathType)
	add(d.DatapathID)
	if id := d.SwitchIdentity; id != nil {
		add("p", id.Fingerprint, "/", id.Subject)
	}
	for _, c := range d.Controllers {
		add("c", c)
	}
	for _, t := range d.Tunnels {
		add("t", t.Name, "/", t.Type, "/", t.LocalIP, "/", t.RemoteIP)
		for _, k := range slices.Sorted(maps.Keys(t.BFD)) {
			add("b", k, "=", t.BFD[k])
		}
	}
	for _, i := range d.Interfaces {
		add("i", i)
	}
	return sha256.Sum256(b)
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

// apply brings OVSDB in line with the store when this node leads and its
// store has caught up (the snapshot is read after that check): it derives
// the desired state of the NVEs the changes since the last pass touched
// (every ovs NVE when it has just become the manager), and on a tick
// (recheck) a slice of the others as well. Only a fingerprint that
// differs from the one last sent is handed to OVSDB.
func (s *Syncer) apply(ctx context.Context, src Source, recheck bool) {
	leader := s.ready(ctx, src)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !leader {
		if s.db != nil {
			s.log.Info("no longer the leader: leaving OVSDB management to the new leader")
			s.db.Close()
			s.setDB(nil)
			s.applied = map[string][sha256.Size]byte{}
		}
		// Whatever changes meanwhile, the next manager starts with a
		// full pass.
		s.dirty = dirtySet{all: true}
		return
	}
	snap := src.Snapshot()
	if s.db == nil {
		s.log.Info("leader: managing the NVEs' OVSDB configuration", "revision", snap.Revision)
		s.setDB(s.newDB())
		s.dirty.all = true
	}
	ctrls := controllers(src.Nodes())
	if !slices.Equal(ctrls, s.ctrls) {
		s.ctrls = ctrls
		s.dirty.all = true
	}
	if s.dirty.empty() && !recheck {
		return
	}
	s.stats.Passes++
	d := s.dirty
	s.dirty = dirtySet{}
	if d.all {
		s.applyAll(ctx, snap)
		return
	}
	for _, name := range s.expand(snap, d) {
		s.applyOne(ctx, snap, name, false)
	}
	if recheck {
		s.recheckSome(ctx, snap)
	}
}

// expand answers the dirty set's questions from the snapshot's indexes:
// the names of the NVEs to derive again, sorted.
func (s *Syncer) expand(snap *model.Snapshot, d dirtySet) []string {
	out := map[string]bool{}
	for n := range d.nves {
		out[n] = true
	}
	for vn := range d.hostsOf {
		for _, n := range snap.NVEsHosting(vn) {
			out[n] = true
		}
	}
	for vn := range d.peerHostOf {
		for _, n := range snap.NVEsHosting(vn) {
			if nve := snap.NVEs[n]; nve != nil && nve.Kind == model.NVEOVS && !s.flowTunnels(nve) {
				out[n] = true
			}
		}
	}
	for name := range d.peersOf {
		for _, p := range snap.Peers(name) {
			if nve := snap.NVEs[p.NVE]; nve != nil && nve.Kind == model.NVEOVS && !s.flowTunnels(nve) {
				out[p.NVE] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(out))
}

// applyAll derives every ovs NVE and removes the configuration of NVEs
// sent before that are gone (or no longer ovs).
func (s *Syncer) applyAll(ctx context.Context, snap *model.Snapshot) {
	for _, nve := range snap.SortedNVEs() {
		if nve.Kind == model.NVEOVS {
			s.applyOne(ctx, snap, nve.Name, false)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(s.applied)) {
		if n := snap.NVEs[name]; n == nil || n.Kind != model.NVEOVS {
			s.applyOne(ctx, snap, name, false)
		}
	}
}

// applyOne derives NVE name's desired state and hands it to OVSDB if it
// differs from the one last sent; an NVE that is gone or no longer of
// kind ovs has nva's configuration removed. recheck says the safety
// re-check asks: a difference it finds is a change no event announced,
// counted and logged as such.
func (s *Syncer) applyOne(ctx context.Context, snap *model.Snapshot, name string, recheck bool) {
	nve := snap.NVEs[name]
	if nve == nil || nve.Kind != model.NVEOVS {
		if _, ok := s.applied[name]; !ok {
			return
		}
		delete(s.applied, name)
		s.log.Info("nve removed: removing nva's OVSDB configuration", "nve", name)
		if err := s.db.Remove(ctx, name); err != nil {
			s.log.Warn("ovsdb remove", "nve", name, "err", err)
		}
		return
	}
	s.stats.Derived++
	d := desired(snap, nve, s.ctrls, s.flowTunnels(nve))
	fp := fingerprint(d)
	if prev, ok := s.applied[name]; ok && prev == fp {
		return
	}
	if recheck {
		s.stats.Repaired++
		s.log.Warn("ovsdb sync: the periodic re-check found a change no store event announced", "nve", name)
	}
	s.applied[name] = fp
	s.stats.Synced++
	s.log.Debug("ovsdb sync", "nve", name, "tunnels", len(d.Tunnels), "interfaces", len(d.Interfaces))
	s.db.Sync(ctx, d)
}

// recheckSome re-derives the next slice of the NVEs in name order (so
// each once per recheckEvery), a safety net against a change no event
// announced; a gone NVE the events missed is removed the same way.
func (s *Syncer) recheckSome(ctx context.Context, snap *model.Snapshot) {
	nves := snap.SortedNVEs()
	if len(nves) == 0 || s.recheckEvery <= 0 {
		return
	}
	k := int((int64(len(nves))*int64(s.tick) + int64(s.recheckEvery) - 1) / int64(s.recheckEvery))
	i, _ := slices.BinarySearchFunc(nves, s.recheck, func(n *model.NVE, name string) int { return strings.Compare(n.Name, name) })
	if i < len(nves) && nves[i].Name == s.recheck {
		i++
	}
	for j := 0; j < k && j < len(nves); j++ {
		if i >= len(nves) {
			i = 0
			// The round wraps: NVEs sent before that the snapshot no
			// longer has are removed here.
			for _, name := range slices.Sorted(maps.Keys(s.applied)) {
				if snap.NVEs[name] == nil {
					s.applyOne(ctx, snap, name, true)
				}
			}
		}
		if nves[i].Kind == model.NVEOVS {
			s.applyOne(ctx, snap, nves[i].Name, true)
		}
		s.recheck = nves[i].Name
		i++
	}
}

// flowTunnels is the package's flowTunnels, remembered per (kind,
// profile): resolving a profile builds it (s.mu held).
func (s *Syncer) flowTunnels(nve *model.NVE) bool {
	k := [2]string{string(nve.Kind), nve.Profile}
	ft, ok := s.tunMode[k]
	if !ok {
		ft = flowTunnels(nve)
		s.tunMode[k] = ft
	}
	return ft
}

// PortNumbers returns the OpenFlow port number of each interface OVSDB
// reports on NVE nve (nil when this node does not manage OVSDB). The
// OpenFlow southbound uses it beside the switch's own port table. The
// map may be shared: read only.
func (s *Syncer) PortNumbers(nve string) map[string]uint32 {
	db := s.currentDB()
	if db == nil {
		return nil
	}
	ports, ok := db.OFPorts(nve)
	if !ok {
		return nil
	}
	return ports
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
