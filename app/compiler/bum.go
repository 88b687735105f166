package compiler

import (
	"slices"

	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/pipeline"
)

// bum delivers broadcast and multicast (BUM) frames of a VN, and known
// unicast to dual-homed tenant systems on other NVEs (RFC 8014 §4.3,
// §4.4).
//
// Head-end replication (mode replicate): a group of type all per VN with
// a bucket per local VAP and per remote NVE hosting the VN, used for
// frames from local VAPs; and, when the VN has remotes, a group of local
// VAPs only for frames from tunnels (split horizon). OpenFlow never sends
// a bucket's copy back to the ingress port.
//
// Two-tier replication (mode replicator): the VN's replicator NVEs that
// host it and are healthy (Input.Down) are R, sorted by name; every other
// NVE hosting the VN is assigned to R[i mod |R|] by its position i in
// name order. A non-replicator sends a BUM frame from a local VAP to its
// local VAPs and one copy to each replicator (|R| copies instead of one
// per remote). A replicator delivers a frame from a tunnel to its local
// VAPs and re-replicates it to the NVEs assigned to it, except the one it
// came from (matched by tunnel source address with flow-based tunnels;
// with per-remote tunnel ports OpenFlow skips the ingress port itself);
// from its own VAPs it sends to the other replicators and to its assigned
// NVEs. Loop freedom: a non-replicator never sends a frame from a tunnel
// into a tunnel, and a replicator sends a frame from a tunnel only to
// non-replicators, so every copy crosses at most two tunnels. Without a
// healthy replicator the VN falls back to head-end replication, with a
// warning.
//
// Underlay multicast (mode multicast): no NVE kind nva drives today can
// send encapsulated frames to an underlay group (Open vSwitch cannot), so
// BUM reaches local VAPs only and the NVE's status says "unsupported":
// never a silent head-end fallback.
//
// Dual-homing: a port and its Pair attach one tenant system to two NVEs.
// Its designated forwarder (DF) for BUM is one of the two NVEs whose
// switch is connected (not in Input.Down), chosen by a hash of the VN and
// the system's MAC (dfOf): the other NVE leaves its VAP out of both BUM
// groups, so the system gets one copy. The DF delivers frames from tunnels
// whose source MAC is the system's own to its other local VAPs only
// (split horizon: the system's frames do not come back to it through the
// other NVE). Every other NVE reaches the system over both NVEs: a select
// group over the two tunnels (active-active), or the one whose switch is
// connected when the other's is not.
type bum struct{}

func (bum) Name() string     { return "BUM" }
func (bum) Stages() []string { return []string{pipeline.L2Forward} }

func (bum) NVE(*nveCtx, *emitter) {}

func (bum) Port(*portCtx, *emitter) {}

var mcastBit = []byte{1, 0, 0, 0, 0, 0}

// Group IDs of the features outside FloodGroupID's range: per dual-homed
// system (at most MaxDualHomedPerVN per VN) a select group toward its two
// NVEs and a split-horizon group of local VAPs.
const (
	dualGroupBase = 0x2000_0000
	// MaxDualHomedPerVN is how many dual-homed systems a VN may have
	// (the group ID space: 3 bits per VN).
	MaxDualHomedPerVN = 8
)

// DualGroupID is the ID of the group of the k-th dual-homed system (in
// port name order) of VN vni: toward its NVEs (split false) or the
// split-horizon group of local VAPs (split true).
func DualGroupID(vni uint32, k int, split bool) uint32 {
	id := dualGroupBase | vni<<4 | uint32(k)<<1
	if split {
		id |= 1
	}
	return id
}

// OwnsGroup reports whether group id is one the compiler emits (the
// southbound deletes stale groups in this range only).
func OwnsGroup(id uint32) bool {
	return id <= 0x1ffffff || (id >= dualGroupBase && id < dualGroupBase+1<<28)
}

// dualHome is a dual-homed tenant system of a VN as this NVE sees it.
type dualHome struct {
	k      int // index in the VN's dual-homed systems (group IDs)
	mac    [6]byte
	ports  [2]*model.Port // by name
	df     string         // the designated forwarder NVE ("" none connected)
	local  int            // index in ports of the attachment here (-1: none)
	vapOF  uint32         // the local VAP's OpenFlow port (local >= 0)
	toward []int          // the remotes (st.remotes indices) unicast goes to
}

// replication is a replicator-mode VN's plan on this NVE.
type replication struct {
	reps     []string // healthy replicators hosting the VN, by name
	self     bool     // this NVE is one of reps
	assigned []string // (self) the NVEs this replicator copies to
	fallback bool     // no healthy replicator: head-end replication
}

// dfOf elects the designated forwarder of a dual-homed system among its
// NVEs whose switch is connected: a hash of the VN's name and the MAC
// picks one of them (in name order). "" when neither is connected.
func dfOf(vn string, mac [6]byte, nves [2]string, down map[string]bool) string {
	var up []string
	for _, n := range nves {
		if !down[n] {
			up = append(up, n)
		}
	}
	if len(up) == 0 {
		return ""
	}
	slices.Sort(up)
	h := newFNV()
	h.str(vn)
	for _, b := range mac {
		h.byte(b)
	}
	return up[uint64(h)%uint64(len(up))]
}

// dualHomes lists VN vn's dual-homed systems: its ports with a valid pair
// (model.Snapshot.PairPartner), as pairs in name order.
func dualHomes(s *model.Snapshot, vn string) [][2]*model.Port {
	var out [][2]*model.Port
	for _, p := range s.PortsIn(vn) {
		if p.Pair == "" {
			continue
		}
		q := s.PairPartner(p)
		if q == nil {
			continue
		}
		pair := [2]*model.Port{p, q}
		if q.Name < p.Name {
			pair = [2]*model.Port{q, p}
		}
		if !slices.Contains(out, pair) {
			out = append(out, pair)
		}
	}
	slices.SortFunc(out, func(a, b [2]*model.Port) int {
		switch {
		case a[0].Name < b[0].Name:
			return -1
		case a[0].Name > b[0].Name:
			return 1
		}
		return 0
	})
	return out
}

// replicatorPlan computes VN vn's replicators and this NVE's assignment.
func replicatorPlan(s *model.Snapshot, vn *model.VN, self string, down map[string]bool) replication {
	// A tNVE is reached through its nNVE (also listed): split.go.
	hosting := slices.DeleteFunc(slices.Clone(s.NVEsHosting(vn.Name)), func(n string) bool { return s.NVEs[n].IsTNVE() })
	var r replication
	for _, n := range hosting {
		if vn.IsReplicator(n) && !down[n] {
			r.reps = append(r.reps, n)
		}
	}
	if len(r.reps) == 0 {
		r.fallback = true
		return r
	}
	r.self = slices.Contains(r.reps, self)
	i := 0
	for _, n := range hosting {
		if slices.Contains(r.reps, n) {
			continue // a replicator whose switch is down is an ordinary receiver
		}
		if r.self && r.reps[i%len(r.reps)] == self {
			r.assigned = append(r.assigned, n)
		}
		i++
	}
	return r
}

// planBUM fills st's dual-homed systems and replication plan (warnings
// into st.warn, which the shared fingerprint covers).
func (v *nveView) planBUM(st *vnView) {
	down := v.in.Down
	remoteIdx := func(nve string) int {
		for i := range st.remotes {
			if st.remotes[i].nve.Name == nve {
				return i
			}
		}
		return -1
	}
	for k, pair := range dualHomes(v.in.Snapshot, st.name) {
		if k >= MaxDualHomedPerVN {
			st.warn("VN %s: more than %d dual-homed systems; port %s and %s compiled as single-homed", st.name, MaxDualHomedPerVN, pair[0].Name, pair[1].Name)
			continue
		}
		mac, _ := pair[0].MACAddr()
		d := dualHome{k: k, mac: mac, ports: pair, local: -1,
			df: dfOf(st.name, mac, [2]string{pair[0].NVE, pair[1].NVE}, down)}
		for i, p := range pair {
			if p.NVE != v.in.NVE {
				continue
			}
			for _, a := range st.local {
				if a.port == p {
					d.local, d.vapOF = i, a.ofp
				}
			}
		}
		if d.local < 0 {
			var up, all []int
			for _, p := range pair {
				if i := remoteIdx(p.NVE); i >= 0 {
					all = append(all, i)
					if !down[p.NVE] {
						up = append(up, i)
					}
				}
			}
			d.toward = up
			if len(up) == 0 {
				d.toward = all // neither switch connected: their flows may still forward
			}
		}
		st.dual = append(st.dual, d)
	}
	switch st.vn.BUM.Mode {
	case model.BUMReplicator:
		r := replicatorPlan(v.in.Snapshot, st.vn, v.in.NVE, down)
		if r.fallback {
			st.warn("VN %s: no replicator NVE of %v hosts the VN with its switch connected; head-end replication", st.name, st.vn.BUM.Replicators)
		}
		st.repl = &r
	case model.BUMMulticast:
		st.warn("VN %s: BUM mode multicast: NVE %s cannot send to underlay multicast group %s (Open vSwitch and OpenFlow switches cannot); BUM reaches local VAPs only", st.name, v.in.NVE, st.vn.BUM.Group)
	}
}

// hashBUM adds the BUM plan to a shared fingerprint.
func (h *fnv64) bum(st *vnView) {
	h.u64(uint64(len(st.dual)))
	for _, d := range st.dual {
		h.str(d.ports[0].Name)
		h.str(d.ports[1].Name)
		h.str(d.ports[0].NVE)
		h.str(d.ports[1].NVE)
		h.str(d.df)
		h.u64(uint64(d.local + 1))
		h.u64(uint64(d.vapOF))
		for _, b := range d.mac {
			h.byte(b)
		}
		h.u64(uint64(len(d.toward)))
		for _, i := range d.toward {
			h.u64(uint64(i))
		}
	}
	if r := st.repl; r != nil {
		h.byte(1)
		h.strs(r.reps)
		h.strs(r.assigned)
		h.bool(r.self)
	}
}

func (bum) VN(c *vnCtx, out *emitter) {
	if !c.vn.Bridged() {
		return // an l3 VN floods nothing: its ARP/ND is answered, its IP unicast
	}
	vni := c.vni()
	bucket := func(acts []flow.Action) flow.Bucket {
		return flow.Bucket{WatchPort: flow.PortAny, WatchGroup: flow.PortAny, Actions: acts}
	}
	// Dual-homed systems this NVE is not the DF of: their VAP gets no BUM.
	skip := map[uint32]bool{}
	for _, d := range c.dual {
		if d.local >= 0 && d.df != c.nve {
			skip[d.vapOF] = true
		}
	}
	local := make([]flow.Bucket, 0, len(c.local))
	for _, v := range c.local {
		if !skip[v.ofp] {
			local = append(local, bucket(toVAP(v, v.ofp)))
		}
	}
	// The remotes a frame from a local VAP is copied to.
	targets := make([]int, 0, len(c.remotes))
	repl := c.repl
	if repl != nil && repl.fallback {
		repl = nil
	}
	for i, r := range c.remotes {
		if r.link == linkDown { // split.go: a tNVE's ports are local to its nNVE
			local = append(local, bucket(c.toRemote(i)))
		}
	}
	for i := range c.remotes {
		n := c.remotes[i].nve.Name
		switch {
		case c.remotes[i].link == linkDown: // in local above
		case c.remotes[i].link == linkUp: // a tNVE floods up its uplink; its nNVE replicates
			targets = append(targets, i)
		case c.vn.BUM.Mode == model.BUMMulticast:
		case repl == nil:
			targets = append(targets, i)
		case slices.Contains(repl.reps, n): // another replicator
			targets = append(targets, i)
		case repl.self && slices.Contains(repl.assigned, n):
			targets = append(targets, i)
		}
	}
	all := append(make([]flow.Bucket, 0, len(local)+len(targets)), local...)
	local = all[:len(local):len(local)] // the from-tunnel group's buckets: all's first ones, not a copy
	for _, i := range targets {
		all = append(all, bucket(c.toRemote(i)))
	}
	gl, gt := FloodGroupID(vni, false), FloodGroupID(vni, true)
	out.group(flow.GroupEntry{ID: gl, Type: flow.GroupAll, Buckets: all})
	out.flow(flow.Flow{Table: pipeline.L2Forward, Priority: PrioBUM,
		Match: flow.M(metaVNFrom(vni, false), mcastMatch()), Actions: []flow.Action{flow.Group{ID: gl}}})
	if len(c.remotes) == 0 {
		c.dualHomed(out, bucket)
		return
	}
	out.group(flow.GroupEntry{ID: gt, Type: flow.GroupAll, Buckets: local})
	fromTunnel := []flow.Action{flow.Group{ID: gt}}
	if repl != nil && repl.self {
		c.replicate(out, repl, gt)
	} else {
		out.flow(flow.Flow{Table: pipeline.L2Forward, Priority: PrioBUM,
			Match: flow.M(metaVNFrom(vni, true), mcastMatch()), Actions: fromTunnel})
	}
	c.dualHomed(out, bucket)
}

func mcastMatch() flow.MatchField { return flow.Masked(flow.EthDst, mcastBit, mcastBit) }

// replicate emits a replicator's flows for BUM from tunnels: its local
// VAPs (group gt) and a copy to each NVE assigned to it but the ingress.
// Frames of a dual-homed system this replicator is the DF of go to the
// system's split-horizon group instead of gt (and are re-replicated all
// the same), at priorities above the ordinary ones.
func (c *vnCtx) replicate(out *emitter, r *replication, gt uint32) {
	vni := c.vni()
	idx := map[string]int{}
	for i := range c.remotes {
		idx[c.remotes[i].nve.Name] = i
	}
	// copies returns the actions copying to the assigned NVEs but except,
	// then delivering to the local VAPs of group local.
	copies := func(except string, local uint32) []flow.Action {
		var acts []flow.Action
		for _, n := range r.assigned {
			i, ok := idx[n]
			if !ok || n == except {
				continue
			}
			rem := c.remotes[i]
			if rem.link != linkNone {
				continue // an access link: in the local group (split.go)
			}
			if c.prof.FlowTunnels {
				// The copy leaves by the port it came in on: OpenFlow
				// sends to the ingress port only through IN_PORT.
				acts = append(acts,
					flow.SetField{Field: flow.TunID, Value: flow.U64(uint64(vni))},
					flow.SetField{Field: flow.TunIPv4Dst, Value: flow.IP(rem.ips[0])},
					flow.Output{Port: flow.PortInPort})
			} else {
				acts = append(acts, c.toRemote(i)...)
			}
		}
		return append(acts, flow.Group{ID: local})
	}
	type split struct {
		src   *flow.MatchField // eth_src of the dual-homed system (nil: every frame)
		local uint32
		prio  uint16 // added to PrioBUM
	}
	splits := []split{{nil, gt, 0}}
	for _, d := range c.dual {
		if d.local >= 0 && d.df == c.nve {
			mac := d.mac
			src := flow.Exact(flow.EthSrc, mac[:])
			splits = append(splits, split{&src, DualGroupID(vni, d.k, true), 1})
		}
	}
	for _, sp := range splits {
		m := flow.M(metaVNFrom(vni, true), mcastMatch())
		if sp.src != nil {
			m = flow.M(metaVNFrom(vni, true), mcastMatch(), *sp.src)
		}
		out.flow(flow.Flow{Table: pipeline.L2Forward, Priority: PrioBUM + sp.prio, Match: m, Actions: copies("", sp.local)})
		if !c.prof.FlowTunnels {
			continue // per-remote ports: OpenFlow skips the ingress's own port
		}
		for _, n := range r.assigned {
			i, ok := idx[n]
			if !ok {
				continue
			}
			acts := copies(n, sp.local)
			for _, ip := range c.remotes[i].ips {
				mm := flow.M(metaVNFrom(vni, true), mcastMatch(), flow.Exact(flow.TunIPv4Src, flow.IP(ip)))
				if sp.src != nil {
					mm = flow.M(metaVNFrom(vni, true), mcastMatch(), flow.Exact(flow.TunIPv4Src, flow.IP(ip)), *sp.src)
				}
				out.flow(flow.Flow{Table: pipeline.L2Forward, Priority: PrioBUM + 2 + sp.prio, Match: mm, Actions: acts})
			}
		}
	}
}

// dualHomed emits the flows of the VN's dual-homed systems: the DF's
// split horizon, and unicast toward systems attached elsewhere.
func (c *vnCtx) dualHomed(out *emitter, bucket func([]flow.Action) flow.Bucket) {
	vni := c.vni()
	for _, d := range c.dual {
		mac := d.mac
		if d.local >= 0 {
			if d.df != c.nve || len(c.remotes) == 0 {
				continue
			}
			var others []flow.Bucket
			for _, v := range c.local {
				if v.ofp != d.vapOF {
					others = append(others, bucket(toVAP(v, v.ofp)))
				}
			}
			id := DualGroupID(vni, d.k, true)
			out.group(flow.GroupEntry{ID: id, Type: flow.GroupAll, Buckets: others})
			if c.repl != nil && !c.repl.fallback && c.repl.self {
				continue // replicate's flows use the group
			}
			out.flow(flow.Flow{Table: pipeline.L2Forward, Priority: PrioBUM + 1,
				Match:   flow.M(metaVNFrom(vni, true), mcastMatch(), flow.Exact(flow.EthSrc, mac[:])),
				Actions: []flow.Action{flow.Group{ID: id}}})
			continue
		}
		toward := d.toward
		if len(toward) > 1 && !slices.Contains(c.prof.Groups.Types, flow.GroupSelect) {
			// No select groups on this profile: active-standby through
			// the designated forwarder.
			toward = toward[:1]
			for _, i := range d.toward {
				if c.remotes[i].nve.Name == d.df {
					toward = []int{i}
				}
			}
		}
		var acts []flow.Action
		switch len(toward) {
		case 0:
			continue
		case 1:
			acts = c.toRemote(toward[0])
		default:
			id := DualGroupID(vni, d.k, false)
			bs := make([]flow.Bucket, 0, len(toward))
			for _, i := range toward {
				b := bucket(c.toRemote(i))
				b.Weight = 1
				bs = append(bs, b)
			}
			out.group(flow.GroupEntry{ID: id, Type: flow.GroupSelect, Buckets: bs})
			acts = []flow.Action{flow.Group{ID: id}}
		}
		out.flow(flow.Flow{Table: pipeline.L2Forward, Priority: PrioNormal,
			Match: flow.M(metaVNFrom(vni, false), flow.Exact(flow.EthDst, mac[:])), Actions: acts})
	}
}

// BUMStatus is how NVE nve delivers each VN's BUM it hosts, given the
// NVEs whose switches are not connected (down): what the compiler emits
// for it, as a report (model.BUMStatus). Remotes are counted as hosting
// NVEs; the compile's warnings say which of them are unreachable.
func BUMStatus(s *model.Snapshot, nve string, down map[string]bool) []model.BUMStatus {
	var out []model.BUMStatus
	for _, name := range s.VNsOn(nve) {
		vn := s.VNs[name]
		if vn == nil || !vn.Bridged() {
			continue
		}
		st := model.BUMStatus{VN: name, Mode: vn.BUM.Mode}
		remotes := 0
		for _, n := range s.NVEsHosting(name) {
			if n != nve {
				remotes++
			}
		}
		switch vn.BUM.Mode {
		case model.BUMMulticast:
			st.Unsupported = "NVE cannot send encapsulated frames to an underlay multicast group (Open vSwitch and OpenFlow 1.3 switches cannot); BUM reaches local VAPs only"
		case model.BUMReplicator:
			r := replicatorPlan(s, vn, nve, down)
			switch {
			case r.fallback:
				st.Copies = remotes
				st.Unsupported = "no replicator with a connected switch hosts the VN: head-end replication"
			case r.self:
				st.Replicator = true
				st.ReplicatesTo = r.assigned
				st.Copies = len(r.reps) - 1 + len(r.assigned)
			default:
				st.Copies = len(r.reps)
			}
		default:
			st.Copies = remotes
		}
		for _, pair := range dualHomes(s, name) {
			for _, p := range pair {
				if p.NVE != nve {
					continue
				}
				mac, _ := p.MACAddr()
				if dfOf(name, mac, [2]string{pair[0].NVE, pair[1].NVE}, down) == nve {
					st.DesignatedFor = append(st.DesignatedFor, p.Name)
				} else {
					st.NotDesignatedFor = append(st.NotDesignatedFor, p.Name)
				}
			}
		}
		out = append(out, st)
	}
	return out
}
