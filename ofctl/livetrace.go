package ofctl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"antrea.io/libOpenflow/openflow13"
	"antrea.io/libOpenflow/util"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/pipeline"
	"github.com/nva-project/nva/app/trace"
	"github.com/nva-project/nva/ofctl/codec"
	"github.com/nva-project/nva/ofctl/conn"
)

// Live packet traces (app/trace live.go says what they are). For each
// observed NVE the southbound reads the installed nva flows and groups
// (the switch's, not the compiler's: a live trace shows what the switch
// really does) and adds a shadow of every flow, matching the trace's
// DSCP too, at priority liveBase+1+p (above every nva flow, in the same
// order), doing what the flow does after a copy to the controller, plus
// a catch-all at liveBase per table (a miss). The shadow flows' cookies
// carry liveCookieTag (not nva's tag: the reconciliation neither reads
// nor deletes them), the trace's ID and the index of the flow they
// shadow, so a packet-in names the table and the very flow that matched.
// They have a hard timeout (liveFlowTimeout) in case nva stops before it
// deletes them. Then the packet goes out (packet-out, in_port the source
// VAP, output to OFPP_TABLE) and the southbound collects the packet-ins
// that carry the trace's nonce until every path it saw has ended (a
// drop, a miss, an output to a port, or a tunnel copy seen at the remote
// NVE) or the wait runs out. One live trace runs at a time per node;
// only the leader (the node that writes to switches) runs them.
//
// Strict OpenFlow 1.3 NVEs are not observed (shadowing every flow would
// double a hardware switch's TCAM use for the trace): the result names
// them as unobserved, and a live trace cannot start at one.

const (
	// liveCookieTag marks the shadow flows ("NT"); bits 47..32 carry the
	// trace ID and 31..0 the shadowed flow's index (liveMissBit|table for
	// a table's catch-all).
	liveCookieTag   uint64 = 0x4e54
	liveMissBit     uint32 = 0x80000000
	liveBase        uint16 = 0x8000
	liveFlowTimeout        = 30 // seconds
	// DefaultLiveWait bounds how long a live trace waits for its packet.
	DefaultLiveWait = 2 * time.Second
	// liveSettleDefault is the wait between installing the shadow flows
	// and sending the packet (OVS's default max-revalidator).
	liveSettleDefault = 500 * time.Millisecond
)

func (s *Southbound) liveSettle() time.Duration {
	if s.live.settle != 0 {
		return s.live.settle
	}
	return liveSettleDefault
}

// ErrLiveNotLeader: live traces write to switches, which only the leader
// does.
var ErrLiveNotLeader = errors.New("live traces run on the leader (the node that writes to the switches)")

// LiveSourceError is a live trace that cannot start at its source VAP
// (strict NVE, not connected, interface not on the switch).
type LiveSourceError struct{ Msg string }

func (e *LiveSourceError) Error() string { return e.Msg }

func liveCookie(id uint16, index uint32) uint64 {
	return liveCookieTag<<48 | uint64(id)<<32 | uint64(index)
}

func isLiveCookie(c uint64) bool { return c>>48 == liveCookieTag }

// liveState is the southbound's live trace state.
type liveState struct {
	slot   chan struct{} // one trace at a time
	settle time.Duration // tests: the wait before the packet (0: liveSettleDefault)
	cur    atomic.Pointer[liveSession]
	ids    atomic.Uint32
}

// liveSession is one running trace.
type liveSession struct {
	id   uint16
	pkt  *trace.LivePacket
	snap *model.Snapshot
	nves map[uint64]*liveNVE // by datapath ID

	mu   sync.Mutex
	obs  []trace.Observation
	wake chan struct{}
}

// liveNVE is one observed NVE's switch and what the shadow flows copy.
type liveNVE struct {
	nve    string
	sw     *conn.Switch
	prof   pipeline.Profile
	flows  []flow.Flow // installed flows, by shadow index
	groups map[uint32]flow.GroupEntry
	ifaces map[uint32]string // OpenFlow port -> interface
	ports  map[string]string // interface -> tenant port name (first by name)
	tuns   map[uint32]model.Encap
	// remotes are the per-remote tunnel ports' remote NVEs.
	remotes map[uint32]model.TunnelPortStatus
	added   []flow.Flow // shadow flows installed
}

// LiveTrace injects pkt at its source VAP and observes it on the NVEs
// named in observe (see the comment above). wait bounds the wait for the
// packet (0: DefaultLiveWait).
func (s *Southbound) LiveTrace(ctx context.Context, snap *model.Snapshot, pkt *trace.LivePacket, observe []string, wait time.Duration) (*trace.Observed, error) {
	if wait <= 0 {
		wait = DefaultLiveWait
	}
	s.mu.Lock()
	leader := s.leader
	byNVE := map[string]*worker{}
	for _, w := range s.switches {
		if w.nve != "" {
			byNVE[w.nve] = w
		}
	}
	s.mu.Unlock()
	if !leader {
		return nil, ErrLiveNotLeader
	}
	select {
	case s.live.slot <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-s.live.slot }()

	if len(pkt.Nonce) < 8 {
		return nil, fmt.Errorf("live trace: a nonce of at least 8 bytes is required")
	}
	sess := &liveSession{id: uint16(s.live.ids.Add(1)), pkt: pkt, snap: snap,
		nves: map[uint64]*liveNVE{}, wake: make(chan struct{}, 1)}
	out := &trace.Observed{Unobserved: map[string]string{}}

	// The source must be observable.
	srcW := byNVE[pkt.NVE]
	if srcW == nil {
		return nil, &LiveSourceError{fmt.Sprintf("NVE %s (the source port's) is not connected to this node", pkt.NVE)}
	}
	if p, err := profileOf(snap, pkt.NVE); err != nil || !p.FlowTunnels || !p.Extensions {
		return nil, &LiveSourceError{fmt.Sprintf("NVE %s is not an OVS-profile NVE: live traces start at OVS NVEs only", pkt.NVE)}
	}
	inPort, ok := s.portNumbers(srcW.sw, pkt.NVE)[pkt.Interface]
	if !ok {
		return nil, &LiveSourceError{fmt.Sprintf("interface %s is not on NVE %s's switch", pkt.Interface, pkt.NVE)}
	}

	// Shadow the pipelines. Deleted at the end whatever happens.
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.OpTimeout)
		defer cancel()
		for _, ln := range sess.nves {
			if err := s.liveRemove(dctx, ln); err != nil {
				s.log.Warn("live trace: removing shadow flows (they expire by themselves)", "nve", ln.nve, "err", err)
			}
		}
	}()
	if !slices.Contains(observe, pkt.NVE) {
		observe = append([]string{pkt.NVE}, observe...)
	}
	fam := flow.EthTypeIPv4
	if pkt.IPv6 {
		fam = flow.EthTypeIPv6
	}
	for _, name := range observe {
		w := byNVE[name]
		if w == nil {
			out.Unobserved[name] = "not connected to this node"
			continue
		}
		prof, err := profileOf(snap, name)
		if err != nil {
			out.Unobserved[name] = err.Error()
			continue
		}
		if !prof.FlowTunnels || !prof.Extensions {
			out.Unobserved[name] = "strict OpenFlow 1.3 profile: live traces observe OVS-profile NVEs only"
			continue
		}
		ln, err := s.liveShadow(ctx, sess, w, name, prof, fam)
		if ln != nil {
			sess.nves[w.dpid] = ln
		}
		if err != nil {
			if name == pkt.NVE {
				return nil, fmt.Errorf("live trace: shadowing NVE %s: %w", name, err)
			}
			out.Unobserved[name] = "shadow flows not installed: " + err.Error()
		}
	}

	// OVS applies a flow table change to the flows its datapath has
	// cached by revalidating them, asynchronously (the barrier does not
	// wait for it): a cached flow that does not look at the DSCP would
	// carry the marked packet past the shadow flows. Revalidation starts
	// at once on a table change and runs at least every max-revalidator
	// (500 ms by default); wait that long.
	select {
	case <-time.After(s.liveSettle()):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	s.live.cur.Store(sess)
	defer s.live.cur.Store(nil)
	// A second packet when the first one's path did not finish: a
	// datapath flow cached before the shadows may still have carried the
	// first one past them on a remote NVE (revalidation is asynchronous).
	// The result says so; a path that does not finish twice is reported
	// incomplete.
	for attempt := 1; ; attempt++ {
		complete, err := s.liveSend(ctx, sess, srcW.sw, inPort, observe, out.Unobserved, wait)
		if err != nil {
			return nil, err
		}
		if complete || attempt == liveAttempts {
			out.Complete = complete
			break
		}
		out.Errors = append(out.Errors, fmt.Sprintf("the first packet's path did not finish within %s; sent another", wait))
		sess.mu.Lock()
		sess.obs = nil
		sess.mu.Unlock()
	}
	sess.mu.Lock()
	out.Observations = slices.Clone(sess.obs)
	sess.mu.Unlock()
	if !out.Complete {
		out.Errors = append(out.Errors, fmt.Sprintf("the packet's path did not finish within %s, twice (a copy lost in the underlay, or packet-ins lost)", wait))
	}
	return out, nil
}

// liveAttempts is how many packets a live trace sends at most.
const liveAttempts = 2

// liveSend sends the trace's packet and waits until its path has ended
// (true) or wait has passed (false).
func (s *Southbound) liveSend(ctx context.Context, sess *liveSession, sw *conn.Switch, inPort uint32, observe []string, unobserved map[string]string, wait time.Duration) (bool, error) {
	if err := sw.PacketOut(ctx, inPort, []conn.Action{conn.OutputAction(conn.PortTable)}, sess.pkt.Frame); err != nil {
		return false, fmt.Errorf("live trace: packet-out on NVE %s: %w", sess.pkt.NVE, err)
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		sess.mu.Lock()
		done := liveDone(sess.obs, sess.pkt.NVE, unobserved, observe)
		sess.mu.Unlock()
		if done {
			return true, nil
		}
		select {
		case <-sess.wake:
		case <-timer.C:
			return false, nil
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
}

// liveDone reports whether every path seen has ended: the packet was seen
// entering the source NVE, each NVE's last observation is terminal, and
// every tunnel copy toward an observed NVE was seen arriving there. (The
// switches' packet-ins come in on separate connections: the remote NVE's
// may come before the source's.)
func liveDone(obs []trace.Observation, source string, unobserved map[string]string, observe []string) bool {
	if !slices.ContainsFunc(obs, func(o trace.Observation) bool { return o.NVE == source && o.Arrival != "" }) {
		return false
	}
	last := map[string]trace.Observation{}
	arrivals := map[string]int{}
	for _, o := range obs {
		last[o.NVE] = o
		if o.Arrival != "" {
			arrivals[o.NVE]++
		}
	}
	watched := map[string]bool{}
	for _, n := range observe {
		if _, skip := unobserved[n]; !skip {
			watched[n] = true
		}
	}
	want := map[string]int{}
	for _, o := range obs {
		var oneOf []string // buckets of a select/fast-failover group: one is taken
		for _, x := range o.Outputs {
			switch {
			case x.Tunnel == nil || !watched[x.Tunnel.RemoteNVE]:
			case x.Candidate:
				oneOf = append(oneOf, x.Tunnel.RemoteNVE)
			default:
				want[x.Tunnel.RemoteNVE]++
			}
		}
		if len(oneOf) > 0 && !slices.ContainsFunc(oneOf, func(n string) bool { return arrivals[n] > 0 }) {
			return false
		}
	}
	for n, k := range want {
		if arrivals[n] < k {
			return false
		}
	}
	for _, o := range last {
		if !o.Step.Terminal() {
			return false
		}
	}
	return true
}

// liveShadow installs the shadow flows on one NVE.
func (s *Southbound) liveShadow(ctx context.Context, sess *liveSession, w *worker, name string, prof pipeline.Profile, fam uint16) (*liveNVE, error) {
	octx, cancel := context.WithTimeout(ctx, s.cfg.OpTimeout)
	defer cancel()
	raw, err := s.readRaw(octx, w.sw)
	if err != nil {
		return nil, err
	}
	installed, groups := s.decodeInstalled(raw, prof)
	ln := &liveNVE{nve: name, sw: w.sw, prof: prof, groups: map[uint32]flow.GroupEntry{},
		ifaces: map[uint32]string{}, ports: map[string]string{}, tuns: map[uint32]model.Encap{}, remotes: map[uint32]model.TunnelPortStatus{}}
	for _, g := range groups {
		ln.groups[g.ID] = g
	}
	for iface, no := range s.portNumbers(w.sw, name) {
		ln.ifaces[no] = iface
		for _, e := range model.Encaps {
			if iface == compiler.TunnelPortName(e) {
				ln.tuns[no] = e
			}
		}
	}
	if c := w.lastCompile(name); c != nil { // per-remote tunnel ports, as the reconciliation saw them
		for _, tp := range c.ports.tunnels {
			if tp.OFPort != 0 {
				ln.tuns[tp.OFPort], ln.remotes[tp.OFPort] = tp.Encap, tp
			}
		}
	}
	for _, p := range sess.snap.PortsOn(name) { // by name: the first port of an interface names it
		if _, ok := ln.ports[p.Interface]; !ok {
			ln.ports[p.Interface] = p.Name
		}
	}
	var shadows []flow.Flow
	for _, f := range installed {
		if f.Flow.Goto == undecodable {
			continue
		}
		sh, ok := shadowOf(f.Flow, fam)
		if !ok {
			continue
		}
		if f.Flow.Priority > 0xffff-liveBase-1 {
			return nil, fmt.Errorf("flow of priority %d: above the live trace range", f.Flow.Priority)
		}
		sh.Priority = liveBase + 1 + f.Flow.Priority
		sh.Cookie = liveCookie(sess.id, uint32(len(ln.flows)))
		ln.flows = append(ln.flows, f.Flow)
		shadows = append(shadows, sh)
	}
	for _, t := range prof.Tables {
		shadows = append(shadows, flow.Flow{Table: t.Name, Priority: liveBase,
			Match:   flow.M(flow.Exact(flow.EthType, flow.U16(fam)), flow.Exact(flow.IPDSCP, flow.U8(trace.TraceDSCP))),
			Actions: []flow.Action{flow.Output{Port: flow.PortController, MaxLen: 0xffff}},
			Cookie:  liveCookie(sess.id, liveMissBit|uint32(t.Number))})
	}
	c := codec.New(codec.Options{AllowNicira: prof.Extensions})
	msgs := make([]util.Message, 0, len(shadows))
	for _, sh := range shadows {
		fm, err := c.EncodeFlowMod(sh, prof.Number, codec.FlowAdd)
		if err != nil {
			return nil, err
		}
		fm.HardTimeout = liveFlowTimeout
		msgs = append(msgs, fm)
	}
	ln.added = shadows
	if err := w.sw.SendAll(msgs); err != nil {
		return ln, err
	}
	if err := w.sw.Barrier(octx); err != nil {
		return ln, err
	}
	return ln, nil
}

// shadowOf is f matching the trace's mark too, with a copy to the
// controller before its actions; false when f cannot match the trace's
// family (it matches another ethertype).
func shadowOf(f flow.Flow, fam uint16) (flow.Flow, bool) {
	m := f.Match.Slice()
	if et, ok := f.Match.Get(flow.EthType); ok {
		if !bytes.Equal(et.Value, flow.U16(fam)) || et.Mask != nil {
			return flow.Flow{}, false
		}
	} else {
		m = append(m, flow.Exact(flow.EthType, flow.U16(fam)))
	}
	if _, ok := f.Match.Get(flow.IPDSCP); ok {
		return flow.Flow{}, false
	}
	m = append(m, flow.Exact(flow.IPDSCP, flow.U8(trace.TraceDSCP)))
	sh := f
	sh.Match = flow.M(m...)
	sh.Actions = append([]flow.Action{flow.Output{Port: flow.PortController, MaxLen: 0xffff}}, f.Actions...)
	return sh, true
}

// liveRemove deletes one NVE's shadow flows (strict deletes by their
// exact cookies, so nothing else can go).
func (s *Southbound) liveRemove(ctx context.Context, ln *liveNVE) error {
	if len(ln.added) == 0 {
		return nil
	}
	c := codec.New(codec.Options{AllowNicira: ln.prof.Extensions})
	msgs := make([]util.Message, 0, len(ln.added))
	for _, sh := range ln.added {
		fm, err := c.EncodeFlowMod(sh, ln.prof.Number, codec.FlowDeleteStrict)
		if err != nil {
			return err
		}
		fm.OutPort, fm.OutGroup = openflow13.P_ANY, openflow13.OFPG_ANY
		msgs = append(msgs, fm)
	}
	if err := ln.sw.SendAll(msgs); err != nil {
		return err
	}
	return ln.sw.Barrier(ctx)
}

// liveObserve handles a packet-in from a shadow flow.
func (s *Southbound) liveObserve(sw *conn.Switch, pi conn.PacketIn) {
	sess := s.live.cur.Load()
	if sess == nil || uint16(pi.Cookie>>32) != sess.id || !sess.pkt.Is(pi.Data) {
		s.m.packetIns.WithLabelValues(packetInTraceOther).Inc()
		return
	}
	ln := sess.nves[sw.DPID()]
	if ln == nil || ln.sw != sw {
		s.m.packetIns.WithLabelValues(packetInTraceOther).Inc()
		return
	}
	s.m.packetIns.WithLabelValues(packetInTrace).Inc()
	ob := trace.Observation{NVE: ln.nve}
	table, ok := ln.prof.NameOf(pi.TableID)
	if !ok {
		table = codec.UnnamedTable(pi.TableID)
	}
	idx := uint32(pi.Cookie)
	if idx&liveMissBit != 0 {
		ob.Step = trace.StepOf(ln.prof, table, nil)
	} else if int(idx) < len(ln.flows) {
		f := ln.flows[idx]
		ob.Step = trace.StepOf(ln.prof, table, &f)
		if ob.Step.Terminal() {
			ob.Outputs = ln.resolve(sess.snap, f.Actions, pi.Match.InPort, liveTun{}, 0)
		}
	} else {
		return
	}
	if len(ln.prof.Tables) > 0 && pi.TableID == ln.prof.Tables[0].Number {
		ob.Arrival = ln.arrival(pi)
	}
	sess.mu.Lock()
	sess.obs = append(sess.obs, ob)
	sess.mu.Unlock()
	select {
	case sess.wake <- struct{}{}:
	default:
	}
}

func (ln *liveNVE) arrival(pi conn.PacketIn) string {
	iface := ln.ifaces[pi.Match.InPort]
	if e, ok := ln.tuns[pi.Match.InPort]; ok {
		if pi.Match.HasTunnelID {
			return fmt.Sprintf("tunnel (%s, VNI %d)", e, pi.Match.TunnelID)
		}
		return fmt.Sprintf("tunnel (%s)", e)
	}
	if p := ln.ports[iface]; p != "" {
		return fmt.Sprintf("port %s (interface %s)", p, iface)
	}
	return fmt.Sprintf("OpenFlow port %d (%s)", pi.Match.InPort, iface)
}

// liveTun is the tunnel fields an action list has set so far.
type liveTun struct {
	dst netip.Addr
	id  uint64
}

// resolve lists where actions send the packet: tenant ports by name,
// tunnels with the remote NVE and VNI, the controller; groups through
// their buckets.
func (ln *liveNVE) resolve(snap *model.Snapshot, acts []flow.Action, inPort uint32, tun liveTun, depth int) []trace.Output {
	var out []trace.Output
	for _, a := range acts {
		switch a := a.(type) {
		case flow.SetField:
			switch a.Field {
			case flow.TunIPv4Dst:
				if ad, ok := netip.AddrFromSlice(a.Value); ok {
					tun.dst = ad
				}
			case flow.TunID:
				var v uint64
				for _, x := range a.Value {
					v = v<<8 | uint64(x)
				}
				tun.id = v
			}
		case flow.Group:
			g, ok := ln.groups[a.ID]
			if !ok || depth > 4 {
				continue
			}
			for _, b := range g.Buckets {
				bo := ln.resolve(snap, b.Actions, inPort, tun, depth+1)
				if g.Type == flow.GroupSelect || g.Type == flow.GroupFastFailover {
					for i := range bo {
						bo[i].Candidate = true
					}
				}
				out = append(out, bo...)
			}
		case flow.Output:
			port := a.Port
			toIn := port == flow.PortInPort
			if toIn {
				port = inPort
			}
			switch {
			case a.Port == flow.PortController:
				out = append(out, trace.Output{Controller: true})
			case ln.tuns[port] != "":
				t := &trace.Tunnel{Encap: string(ln.tuns[port]), VNI: tun.id}
				if tp, ok := ln.remotes[port]; ok {
					t.RemoteNVE, t.RemoteIP = tp.Remote, tp.RemoteIP
				} else if tun.dst.IsValid() {
					t.RemoteIP = tun.dst.String()
					t.RemoteNVE = trace.UnderlayNVE(snap, t.RemoteIP)
				}
				out = append(out, trace.Output{Tunnel: t})
			default:
				iface := ln.ifaces[port]
				name := ln.ports[iface]
				if name == "" {
					name = fmt.Sprintf("OpenFlow port %d (%s)", port, iface)
				}
				out = append(out, trace.Output{Port: name, ToInPort: toIn})
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Port < out[j].Port })
	return out
}
