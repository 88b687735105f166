package compiler

import (
	"net/netip"

	"github.com/nva-project/nva/app/model"
)

// route is one destination the distributed gateway of a VN routes to on
// this NVE: a port of a VN of the same L3 domain (or of the VN itself),
// its addresses inside its VN's subnets, and how it is reached.
type route struct {
	port   *model.Port
	vni    uint32       // the destination VN's VNI (tunnelled with it)
	mac    [6]byte      // the destination port's MAC
	addrs  []netip.Addr // its addresses in its VN's subnets, not routed to before
	vap    *vap         // the destination's VAP when it is attached here
	remote *remoteNVE   // else the NVE hosting it, with the tunnel port of its VN's encapsulation
}

// l3Domains groups the snapshot's routed VNs by model.VN.DomainKey, in
// name order; built once per view, and only when a hosted VN is routed.
func (v *nveView) l3Domains() map[string][]*model.VN {
	if v.domains != nil {
		return v.domains
	}
	v.domains = map[string][]*model.VN{}
	for _, vn := range v.in.Snapshot.SortedVNs() {
		if k := vn.DomainKey(); k != "" && vn.VNI != 0 && vn.VNI <= model.MaxVNI {
			v.domains[k] = append(v.domains[k], vn)
		}
	}
	return v.domains
}

// routedPeers returns the VNs a routed VN's gateway routes to: every VN
// of its L3 domain (itself included), or only itself without a domain.
func (v *nveView) routedPeers(vn *model.VN) []*model.VN {
	if k := vn.DomainKey(); k != "" {
		return v.l3Domains()[k]
	}
	return []*model.VN{vn}
}

// resolveL3 fills every hosted routed VN's routes and route sources, once
// all hosted VNs have their local VAPs (a route to a port attached here
// uses that port's VAP in its own VN).
func (v *nveView) resolveL3() {
	byName := make(map[string]*vnView, len(v.vns))
	for _, st := range v.vns {
		byName[st.name] = st
	}
	for _, st := range v.vns {
		if !st.vn.Routed() || len(st.vn.Subnets) == 0 {
			continue
		}
		v.findRoutes(st, byName)
		v.findRouteSources(st)
		v.findPolicy(st)
	}
}

// findRoutes fills st.routes: for each port of each VN the VN routes to
// (by VN then port name) that owns its MAC, its addresses inside its
// VN's subnets, delivered to its VAP here or tunnelled to its NVE. An
// address is routed to once (the first port binding it).
func (v *nveView) findRoutes(st *vnView, byName map[string]*vnView) {
	seen := map[netip.Addr]bool{}
	warn := func(format string, args ...any) { st.warn(format, args...) }
	for _, dst := range v.routedPeers(st.vn) {
		if !dst.Routed() || len(dst.Subnets) == 0 {
			continue
		}
		for _, p := range v.in.Snapshot.PortsIn(dst.Name) {
			mac, ok := ownMAC(v.in.Snapshot, dst.Name, p)
			if !ok || mac == model.GatewayMAC {
				continue
			}
			var addrs []netip.Addr
			for _, a := range p.Addrs() {
				if seen[a] || (a.Is6() && a.IsLinkLocalUnicast()) || !dst.InSubnets(a) || dst.IsGateway(a) {
					continue
				}
				seen[a] = true
				addrs = append(addrs, a)
			}
			if len(addrs) == 0 {
				continue
			}
			r := route{port: p, vni: dst.VNI, mac: mac, addrs: addrs}
			if p.NVE == v.in.NVE {
				if d := byName[dst.Name]; d != nil {
					for i := range d.local {
						if d.local[i].port == p {
							r.vap = &d.local[i]
						}
					}
				}
				if r.vap == nil {
					continue // not attached here (warned as a local port)
				}
			} else {
				rem, ok := v.tunnelTo(p.NVE, dst.Encap, warn, "VN "+st.name+": route to port "+p.Name)
				if !ok {
					continue
				}
				r.remote = &rem
			}
			st.routes = append(st.routes, r)
		}
	}
}

// findRouteSources fills st.sources: the NVEs that host another VN routed
// to st's VN but not st's VN itself, whose tunnels into it this NVE must
// accept (asymmetric routing: they route, this NVE bridges).
func (v *nveView) findRouteSources(st *vnView) {
	if st.vn.DomainKey() == "" {
		return
	}
	known := map[string]bool{v.in.NVE: true}
	for _, r := range st.remotes {
		known[r.nve.Name] = true
	}
	for _, src := range v.routedPeers(st.vn) {
		if src.Name == st.name || len(src.Subnets) == 0 {
			continue
		}
		for _, n := range v.in.Snapshot.NVEsHosting(src.Name) {
			if known[n] {
				continue
			}
			known[n] = true
			if rem, ok := v.tunnelTo(n, st.vn.Encap, st.warn, "VN "+st.name+": routed traffic from NVE "+n); ok {
				st.sources = append(st.sources, rem)
			}
		}
	}
	// NVEsHosting is in name order per VN; keep sources in name order.
	sortRemotes(st.sources)
}

// tunnelTo resolves the tunnel from this NVE to NVE name with an
// encapsulation, as findRemotes does for a VN's remotes.
func (v *nveView) tunnelTo(name string, encap model.Encap, warn func(string, ...any), what string) (remoteNVE, bool) {
	n, ok := v.in.Snapshot.NVEs[name]
	if !ok {
		warn("%s: NVE %s not in the snapshot; skipped", what, name)
		return remoteNVE{}, false
	}
	ips := v.ipv4Underlay(n)
	if len(ips) == 0 {
		warn("%s: NVE %s has no IPv4 underlay address; skipped", what, name)
		return remoteNVE{}, false
	}
	r := remoteNVE{nve: n, ips: ips}
	if v.prof.FlowTunnels {
		port, ok := v.in.Tunnels[encap]
		if !ok || port == 0 {
			warn("%s: no %s tunnel port (%s) on %s; skipped", what, encap, TunnelPortName(encap), v.in.NVE)
			return remoteNVE{}, false
		}
		r.port = port
		return r, true
	}
	port, ok := v.in.RemoteTunnels[RemoteTunnel{NVE: name, Encap: encap}]
	if !ok || port == 0 {
		warn("%s: no %s tunnel port (%s) to NVE %s on %s; skipped", what, encap, RemoteTunnelPortName(encap, ips[0]), name, v.in.NVE)
		return remoteNVE{}, false
	}
	r.port = port
	return r, true
}

func sortRemotes(rs []remoteNVE) {
	for i := 1; i < len(rs); i++ {
		for j := i; j > 0 && rs[j].nve.Name < rs[j-1].nve.Name; j-- {
			rs[j], rs[j-1] = rs[j-1], rs[j]
		}
	}
}

// hashL3 adds what the shared part's L3 flows read to its fingerprint:
// the routes (destination port by name and revision, VNI, delivery) and
// the route sources.
func (h *fnv64) l3(st *vnView) {
	h.u64(uint64(len(st.routes)))
	for _, r := range st.routes {
		h.port(r.port)
		h.u64(uint64(r.vni))
		h.u64(uint64(len(r.addrs)))
		for _, a := range r.addrs {
			h.addr(a)
		}
		if r.vap != nil {
			h.byte(1)
			h.u64(uint64(r.vap.ofp))
			h.u64(uint64(r.vap.vlan))
		}
		if r.remote != nil {
			h.byte(2)
			h.remote(*r.remote)
		}
	}
	h.u64(uint64(len(st.sources)))
	for _, r := range st.sources {
		h.remote(r)
	}
}

func (h *fnv64) remote(r remoteNVE) {
	h.str(r.nve.Name)
	h.u64(uint64(r.port))
	h.u64(uint64(len(r.ips)))
	for _, ip := range r.ips {
		h.addr(ip)
	}
}
