package compiler

import (
	"net/netip"

	"github.com/nva-project/nva/app/model"
)

// What the L3 gateway feature (l3gateway.go) reads, resolved once per
// compile by resolveGateways: for every hosted VN of a domain with a
// gateway, its gwLink (in the VN's shared part, covered by its
// fingerprint); on a gateway NVE, one slice per gateway (gwSlice) of its
// own, keyed "l3gw:<name>", with its own fingerprint.

// gwSlicePrefix starts the slice key (and Slice.VN) of a gateway slice.
const gwSlicePrefix = "l3gw:"

// gwLink is what a VN's shared part needs of its domain's gateway.
type gwLink struct {
	gw       *model.L3Gateway
	prefixes []netip.Prefix // the domain's IPv4 subnets: never sent to the gateway
	here     bool           // this NVE is the gateway NVE
	toward   *remoteNVE     // else the tunnel to the gateway NVE (VN's encapsulation)
	accept   *remoteNVE     // the gateway NVE's tunnel into the VN, when no other flow accepts it
}

// gwSource is a VN of a gateway's domain and the NVEs tunnelling its
// external traffic to the gateway NVE.
type gwSource struct {
	vni  uint32
	from []remoteNVE
}

// gwSlice is one gateway on its gateway NVE.
type gwSlice struct {
	gw       *model.L3Gateway
	uplink   uint32
	ext      netip.Addr
	nhMAC    [6]byte
	floating [][2]netip.Addr
	vnis     []uint32   // the domain's VNIs
	sources  []gwSource // by VNI
}

// resolveGateways fills the gateway links of the hosted VNs and the
// gateway slices of this NVE (after resolveL3: routes to the domain's
// ports use the hosted VNs' VAPs).
func (v *nveView) resolveGateways() {
	if len(v.in.Snapshot.L3Gateways) == 0 {
		return
	}
	byName := make(map[string]*vnView, len(v.vns))
	for _, st := range v.vns {
		byName[st.name] = st
	}
	for _, st := range v.vns {
		g := v.in.Snapshot.GatewayFor(st.vn.DomainKey())
		if g == nil || len(st.vn.Subnets) == 0 {
			continue
		}
		link := &gwLink{gw: g, here: g.NVE == v.in.NVE}
		for _, dv := range v.routedPeers(st.vn) {
			for _, p := range dv.Prefixes() {
				if p.Addr().Is4() {
					link.prefixes = append(link.prefixes, p)
				}
			}
		}
		if !link.here {
			what := "VN " + st.name + ": L3 gateway " + g.Name
			r, ok := v.tunnelTo(g.NVE, st.vn.Encap, st.warn, what)
			if !ok {
				continue
			}
			link.toward = &r
			known := false
			for _, o := range append(append([]remoteNVE(nil), st.remotes...), st.sources...) {
				known = known || o.nve.Name == g.NVE
			}
			if !known {
				a := r
				link.accept = &a
			}
		}
		st.gw = link
	}
	for _, g := range v.in.Snapshot.SortedL3Gateways() {
		if g.NVE != v.in.NVE {
			continue
		}
		v.gatewaySlice(g, byName)
	}
}

// gatewaySlice builds the slice of gateway g on this NVE.
func (v *nveView) gatewaySlice(g *model.L3Gateway, byName map[string]*vnView) {
	st := &vnView{name: gwSlicePrefix + g.Name}
	gs := &gwSlice{gw: g, floating: g.Floating()}
	st.gwSlice = gs
	warn := func(format string, args ...any) { st.warn(format, args...) }
	ext, _ := g.External()
	_, mac, ok := g.NextHopAddr()
	port, hasPort := v.in.OFPorts[g.Uplink]
	switch {
	case !ext.IsValid() || !ok:
		warn("L3 gateway %s: invalid external address or next hop; not compiled", g.Name)
	case !hasPort || port == 0:
		warn("L3 gateway %s: uplink %s has no OpenFlow port on %s yet; not compiled", g.Name, g.Uplink, v.in.NVE)
	case !v.prof.Extensions:
		warn("L3 gateway %s: profile %s has no conntrack; not compiled", g.Name, v.prof.Name)
	default:
		gs.ext, gs.nhMAC, gs.uplink = ext, mac, port
	}
	var first *model.VN
	for _, name := range v.in.Snapshot.L3Domains()[g.DomainKey()] {
		vn := v.in.Snapshot.VNs[name]
		if vn == nil {
			continue
		}
		if first == nil {
			first = vn
		}
		gs.vnis = append(gs.vnis, vn.VNI)
		src := gwSource{vni: vn.VNI}
		for _, n := range v.in.Snapshot.NVEsHosting(name) {
			if n == v.in.NVE {
				continue
			}
			if r, ok := v.tunnelTo(n, vn.Encap, warn, "L3 gateway "+g.Name+": VN "+name+" on NVE "+n); ok {
				src.from = append(src.from, r)
			}
		}
		gs.sources = append(gs.sources, src)
	}
	if first != nil && gs.uplink != 0 {
		// Routes back to every port of the domain, as its gateway routes.
		tmp := &vnView{name: st.name, vn: first}
		v.findRoutes(tmp, byName)
		st.routes = tmp.routes
		st.warnings = append(st.warnings, tmp.warnings...)
	}
	h := newFNV()
	h.u64(v.keyHash)
	h.str(st.name)
	h.u64(g.Revision)
	h.u64(uint64(gs.uplink))
	h.u64(uint64(len(gs.sources)))
	for _, s := range gs.sources {
		h.u64(uint64(s.vni))
		h.u64(uint64(len(s.from)))
		for _, r := range s.from {
			h.remote(r)
		}
	}
	h.l3(st)
	h.strs(st.warnings)
	st.fp = uint64(h)
	v.gws = append(v.gws, st)
}

// gwLink adds a VN's gateway link to its shared part's fingerprint.
func (h *fnv64) gwLink(st *vnView) {
	l := st.gw
	if l == nil {
		h.byte(0)
		return
	}
	h.byte(1)
	h.str(l.gw.Name)
	h.u64(l.gw.Revision)
	h.bool(l.here)
	h.u64(uint64(len(l.prefixes)))
	for _, p := range l.prefixes {
		h.addr(p.Addr())
		h.u64(uint64(p.Bits()))
	}
	for _, r := range []*remoteNVE{l.toward, l.accept} {
		if r == nil {
			h.byte(0)
			continue
		}
		h.byte(1)
		h.remote(*r)
	}
}
