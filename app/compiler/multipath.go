package compiler

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"

	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/pipeline"
)

// Multihomed NVEs (RFC 8014 §4.4): an Open vSwitch NVE with several
// underlay addresses and NVE.Multipath set reaches every remote NVE of
// the ovs profile over several tunnel paths, one per pair of underlay
// addresses paired by index (path i joins the NVE's address i mod n to
// the remote's address i mod m, for i below the larger count: uplink i
// of one NVE talks to uplink i of the other, the usual dual-plane
// fabric). Each path is a tunnel port of its own on both NVEs
// (PathPortName) with local_ip and remote_ip fixed, key=flow and BFD
// enabled, so Open vSwitch knows each path's liveness. A pair of NVEs is
// multipath when either has Multipath set (the other needs the ports too,
// or BFD never comes up); it uses its own mode, else the peer's.
//
// A VN's unicast (and BUM copies) toward such a remote sets tun_id and
// goes to a group of the VN's shared part (PathGroupID) with one bucket
// per path, output to the path's port, each watching that port: a
// select group (active-active, the switch hashes the flow over the live
// buckets) or a fast_failover group (failover: the first live bucket).
// When a path's BFD session goes down the port goes not-live and the
// switch moves traffic within the BFD detection time, without the
// controller. Arrivals on a path port are classified like those on the
// flow-based port (in_port identifies the sending NVE, tun_id the VN).
// Routed traffic into a VN the NVE does not host keeps the flow-based
// port (first addresses); it is accepted on the path ports all the same.

// multipathFeature emits the path groups and the classification of
// arrivals on path ports.
type multipathFeature struct{}

func (multipathFeature) Name() string     { return "multipath" }
func (multipathFeature) Stages() []string { return []string{pipeline.Classify} }

func (multipathFeature) NVE(*nveCtx, *emitter) {}

func (multipathFeature) Port(*portCtx, *emitter) {}

func (multipathFeature) VN(c *vnCtx, out *emitter) {
	vni := c.vni()
	tunID := flow.Exact(flow.TunID, flow.U64(uint64(vni)))
	classify := func(rs []remoteNVE) {
		for _, r := range rs {
			for _, p := range r.paths {
				out.flow(flow.Flow{Table: pipeline.Classify, Priority: PrioNormal, Match: flow.M(inPort(p), vlanNone(), tunID),
					WriteMetadata: metaContext(vni, true), MetadataMask: pipeline.MetaContext, Goto: pipeline.L2Forward})
			}
		}
	}
	classify(c.remotes)
	classify(c.sources)
	for _, r := range c.remotes {
		if r.group == 0 {
			continue
		}
		g := flow.GroupEntry{ID: r.group, Type: flow.GroupFastFailover}
		if r.mode == model.MultipathActiveActive {
			g.Type = flow.GroupSelect
		}
		for _, p := range r.paths {
			g.Buckets = append(g.Buckets, flow.Bucket{Weight: 100, WatchPort: p, WatchGroup: flow.PortAny,
				Actions: []flow.Action{flow.Output{Port: p}}})
		}
		out.group(g)
	}
}

// Path is one tunnel path from an NVE to a remote NVE.
type Path struct {
	Remote string
	Encap  model.Encap
	// Mode is how the NVE uses the pair's paths.
	Mode model.Multipath
	// Index is the path's number (0 first: the fast_failover order).
	Index    int
	LocalIP  netip.Addr
	RemoteIP netip.Addr
	// Port is the tunnel port's interface name (PathPortName).
	Port string
}

// MultipathMode returns the multipath mode of the pair of NVEs self and
// remote (self's if set, else remote's), and whether the pair is
// multipath at all: both Open vSwitch NVEs of the ovs profile, one of
// them with Multipath set.
func MultipathMode(self, remote *model.NVE) (model.Multipath, bool) {
	if !flowTunnelNVE(self) || !flowTunnelNVE(remote) {
		return "", false
	}
	switch {
	case self.Multipath != model.MultipathNone:
		return self.Multipath, true
	case remote.Multipath != model.MultipathNone:
		return remote.Multipath, true
	}
	return "", false
}

func flowTunnelNVE(n *model.NVE) bool {
	return n.Kind == model.NVEOVS && (n.Profile == "" || n.Profile == model.ProfileOVS)
}

// PathsTo returns the tunnel paths from NVE self to NVE remote with
// encapsulation e (nil when the pair is not multipath or either has no
// IPv4 underlay address), in path order.
func PathsTo(self, remote *model.NVE, e model.Encap) []Path {
	mode, ok := MultipathMode(self, remote)
	if !ok {
		return nil
	}
	local, far := ipv4s(self), ipv4s(remote)
	if len(local) == 0 || len(far) == 0 {
		return nil
	}
	n := max(len(local), len(far))
	out := make([]Path, 0, n)
	for i := 0; i < n; i++ {
		li, ri := i%len(local), i%len(far)
		out = append(out, Path{Remote: remote.Name, Encap: e, Mode: mode, Index: i,
			LocalIP: local[li], RemoteIP: far[ri], Port: PathPortName(e, li, far[ri])})
	}
	return out
}

func ipv4s(n *model.NVE) []netip.Addr {
	var out []netip.Addr
	for _, a := range n.UnderlayAddrs() {
		if a = a.Unmap(); a.Is4() {
			out = append(out, a)
		}
	}
	return out
}

// TunnelPaths returns every tunnel path of NVE nve: for each NVE it
// shares a VN with or routes to (model.Snapshot.Peers, RoutePeers; by
// name) and each encapsulation of the VNs between them (in model.Encaps
// order) whose pair is multipath, PathsTo. Without any multipath NVE in
// the snapshot it costs one look at each NVE.
func TunnelPaths(snap *model.Snapshot, nve string) []Path {
	self, ok := snap.NVEs[nve]
	if !ok || !flowTunnelNVE(self) {
		return nil
	}
	if self.Multipath == model.MultipathNone && !anyMultipathNVE(snap) {
		return nil
	}
	byPeer := map[string]map[model.Encap]bool{}
	for _, l := range [][]model.Peer{snap.Peers(nve), snap.RoutePeers(nve)} {
		for _, p := range l {
			for _, vn := range p.VNs {
				if v, ok := snap.VNs[vn]; ok {
					if byPeer[p.NVE] == nil {
						byPeer[p.NVE] = map[model.Encap]bool{}
					}
					byPeer[p.NVE][v.Encap] = true
				}
			}
		}
	}
	var out []Path
	for _, name := range slices.Sorted(maps.Keys(byPeer)) {
		remote, ok := snap.NVEs[name]
		if !ok {
			continue
		}
		for _, e := range model.Encaps {
			if byPeer[name][e] {
				out = append(out, PathsTo(self, remote, e)...)
			}
		}
	}
	return out
}

// anyMultipathNVE reports whether an NVE of snap has Multipath set.
func anyMultipathNVE(snap *model.Snapshot) bool {
	for _, n := range snap.NVEs {
		if n.Multipath != model.MultipathNone {
			return true
		}
	}
	return false
}

// PathPortName is the interface name of the tunnel port of a path with
// encapsulation e from the NVE's underlay address number local (its index
// in underlay_ips, IPv4 only) to remote: "nmx" (VXLAN), "nmg" (GENEVE) or
// "nmr" (GRE), the remote address in 8 hex digits, then local in hex
// ("nmxc61201020" for VXLAN from the first address to 198.18.1.2), at
// most 15 characters.
func PathPortName(e model.Encap, local int, remote netip.Addr) string {
	letter := 'x'
	switch e {
	case model.EncapGENEVE:
		letter = 'g'
	case model.EncapGRE:
		letter = 'r'
	}
	a := remote.Unmap().As4()
	return fmt.Sprintf("nm%c%02x%02x%02x%02x%x", letter, a[0], a[1], a[2], a[3], local&0xfff)
}

// pathGroupBase is the first path group ID: above every flood group ID
// (FloodGroupID < 1<<25).
const pathGroupBase = 1 << 25

// MaxPathRemotes is how many multipath remotes of one VN get a path group
// on an NVE; the others use the flow-based tunnel (warned).
const MaxPathRemotes = 128

// PathGroupID is the ID of VN vni's path group toward its i-th multipath
// remote (in name order, i < MaxPathRemotes) on an NVE.
func PathGroupID(vni uint32, i int) uint32 {
	return pathGroupBase + vni*MaxPathRemotes + uint32(i)
}

// withPaths fills r.paths and r.mode: the OpenFlow ports of the paths to
// r's NVE with encapsulation e that have one (in path order). A path
// whose port has no number yet is left out; without any, r uses the
// flow-based tunnel.
func (v *nveView) withPaths(r *remoteNVE, e model.Encap) {
	if !v.prof.FlowTunnels {
		return
	}
	for _, p := range PathsTo(v.self, r.nve, e) {
		if no := v.in.OFPorts[p.Port]; no != 0 {
			r.paths = append(r.paths, no)
			r.mode = p.Mode
		}
	}
}

// assignPathGroups gives the VN's remotes that have paths their group
// IDs, in name order.
func (v *nveView) assignPathGroups(st *vnView, warn func(string, ...any)) {
	n := 0
	for i := range st.remotes {
		r := &st.remotes[i]
		if len(r.paths) == 0 {
			continue
		}
		if n >= MaxPathRemotes {
			warn("VN %s: more than %d multipath remote NVEs; NVE %s reached over the flow-based tunnel", st.name, MaxPathRemotes, r.nve.Name)
			continue
		}
		r.group = PathGroupID(st.vn.VNI, n)
		n++
	}
}

// paths adds a remote's paths and group to a fingerprint.
func (h *fnv64) paths(r remoteNVE) {
	h.u64(uint64(r.group))
	h.str(string(r.mode))
	h.u64(uint64(len(r.paths)))
	for _, p := range r.paths {
		h.u64(uint64(p))
	}
}

// isPathGroup reports whether id is in the path groups' range.
func isPathGroup(id uint32) bool {
	return id >= pathGroupBase && id < PathGroupID(model.MaxVNI, MaxPathRemotes)
}
