package compiler

import (
	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/model"
)

// Split NVE (RFC 8014 §4.2) and VAP VLAN modes (§3.1.1).
//
// A tNVE (model.NVE.AccessLink) does not tunnel: the compiler gives it one
// "remote" per VN, its uplink, which stands for every NVE of the VN that
// is not the tNVE itself. Frames of the VN toward any port elsewhere are
// tagged with the VLAN the store allocated to (access link, VN) and sent
// out of the uplink; frames arriving on the uplink with that VLAN are
// popped and classified into the VN as "from a tunnel" (split horizon:
// they only reach local VAPs). Port security and the ARP/ND responder stay
// on the tNVE, at the edge.
//
// The nNVE (the NVE the link lands on) gets one remote per (tNVE, VN), its
// downlink: frames to the tNVE's ports are tagged with the link's VLAN
// and sent out of the nNVE port; frames from the link with that VLAN are
// popped and classified into the VN as local (not "from a tunnel"), and
// skip port security and the responder (the tNVE did both): so they may be
// switched to another access link (re-tagged with its VLAN), to the
// nNVE's own VAPs, or tunnelled. Frames from tunnels may go down a link
// too. Every other NVE reaches the tNVE's ports through the nNVE's
// underlay address: model.Snapshot lists the nNVE among a VN's hosting
// NVEs and gives a tNVE no tunnel peers.
//
// QinQ (§4.2.1): when a VN has a passthrough VAP on the tNVE, the link
// tag of that VN is an 802.1ad S-tag (TPID 0x88a8), pushed outside the
// tenant's own C-tag, in both directions; otherwise it is an 802.1Q tag.
//
// Passthrough VAPs are classified by (in_port, tenant VLAN) for each
// allowed VLAN (and vlan_vid=none if untagged frames are allowed) without
// popping; their frames keep the tag through forwarding, tunnels and
// access links, and are delivered as they are. Tunnel arrivals are
// therefore classified whatever their inner tag.

// linkKind says what a remoteNVE is.
type linkKind uint8

const (
	linkNone linkKind = iota // a tunnel to another NVE
	linkUp                   // a tNVE's uplink to its nNVE
	linkDown                 // an nNVE's access link to a tNVE
)

// QinQEtherType is the TPID of the 802.1ad S-tag a split NVE's access link
// carries for VNs with passthrough VAPs.
const QinQEtherType uint16 = 0x88a8

// vapKeys are the (OpenFlow port, VLAN) pairs a VAP claims: its access
// VLAN, or every allowed VLAN (and 0 if untagged) of a passthrough VAP.
func vapKeys(out [][2]uint32, ofp uint32, p *model.Port) [][2]uint32 {
	if !p.Passthrough() {
		return append(out, [2]uint32{ofp, uint32(p.VLAN)})
	}
	if p.Untagged {
		out = append(out, [2]uint32{ofp, 0})
	}
	for _, v := range p.AllowedVLANs {
		out = append(out, [2]uint32{ofp, uint32(v)})
	}
	return out
}

// hasDownlinks reports whether this NVE is the nNVE of a tNVE with a port
// of VN vn (then it compiles the VN even without VAPs of its own).
func (v *nveView) hasDownlinks(vn string) bool {
	for _, t := range v.in.Snapshot.TNVEsOf(v.in.NVE) {
		if len(v.in.Snapshot.PortsAt(t.Name, vn)) > 0 {
			return true
		}
	}
	return false
}

// reachedVia names the remote (by NVE name) through which this NVE reaches
// a port on NVE nve.
func (v *nveView) reachedVia(nve string) string {
	if v.self.IsTNVE() {
		return v.self.AccessLink.NNVE
	}
	if nn := v.in.Snapshot.NNVEOf(nve); nn != "" && nn != v.in.NVE {
		return nn
	}
	return nve
}

// uplink makes a tNVE's one remote for a VN: its uplink to the nNVE.
func (v *nveView) uplink(st *vnView, warn func(string, ...any)) {
	l := v.self.AccessLink
	nn, ok := v.in.Snapshot.NVEs[l.NNVE]
	if !ok {
		warn("VN %s: nNVE %s of tNVE %s not in the snapshot; VN local only", st.name, l.NNVE, v.in.NVE)
		return
	}
	ofp, ok := v.in.OFPorts[l.Uplink]
	if !ok || ofp == 0 || ofp >= flow.PortInPort {
		warn("VN %s: uplink %s has no OpenFlow port on %s yet; VN local only", st.name, l.Uplink, v.in.NVE)
		return
	}
	vlan := l.VLANs[st.name]
	if vlan == 0 {
		warn("VN %s: no access-link VLAN allocated on %s yet; VN local only", st.name, v.in.NVE)
		return
	}
	qinq := false
	for _, a := range st.local {
		qinq = qinq || a.pass
	}
	if st.vn.Routed() {
		warn("VN %s: routed (%s) service across a split NVE's access link is not supported: only bridging crosses it", st.name, st.vn.Service)
	}
	st.remotes = append(st.remotes, remoteNVE{nve: nn, port: ofp, link: linkUp, vlan: vlan, qinq: qinq})
}

// downlink adds an nNVE's remote for the access link of tNVE t in a VN.
func (v *nveView) downlink(st *vnView, t *model.NVE, warn func(string, ...any)) {
	l := t.AccessLink
	ofp, ok := v.in.OFPorts[l.NNVEPort]
	if !ok || ofp == 0 || ofp >= flow.PortInPort {
		warn("VN %s: access link port %s (to tNVE %s) has no OpenFlow port on %s yet; tNVE %s unreachable", st.name, l.NNVEPort, t.Name, v.in.NVE, t.Name)
		return
	}
	vlan := l.VLANs[st.name]
	if vlan == 0 {
		warn("VN %s: no access-link VLAN allocated on tNVE %s yet; tNVE %s unreachable", st.name, t.Name, t.Name)
		return
	}
	qinq := false
	for _, p := range v.in.Snapshot.PortsAt(t.Name, st.name) {
		qinq = qinq || p.Passthrough()
	}
	st.remotes = append(st.remotes, remoteNVE{nve: t, port: ofp, link: linkDown, vlan: vlan, qinq: qinq})
}

// toLink returns the actions that send a packet down (or up) an access
// link with the link's tag.
func toLink(r remoteNVE) []flow.Action {
	tpid := flow.EthTypeVLAN
	if r.qinq {
		tpid = QinQEtherType
	}
	return []flow.Action{flow.PushVLAN{EtherType: tpid},
		flow.SetField{Field: flow.VlanVID, Value: flow.U16(flow.VIDPresent | uint16(r.vlan))},
		flow.Output{Port: r.port}}
}

// linkClassify is the classify flow of an access link: (port, link VLAN)
// -> the VN, tag popped, straight to forwarding (the tNVE did port
// security and ARP/ND). From an uplink the packet counts as from a tunnel
// (it only reaches local VAPs); from a downlink as local.
func linkClassify(vni uint32, r remoteNVE) (match flow.Match, actions []flow.Action, metadata uint64) {
	return flow.M(inPort(r.port), vlanTag(r.vlan)), []flow.Action{flow.PopVLAN{}}, metaContext(vni, r.link == linkUp)
}

// passthroughMatches are the classify matches of a passthrough VAP.
func passthroughMatches(v vap) []flow.Match {
	var out []flow.Match
	if v.untagged {
		out = append(out, flow.M(inPort(v.ofp), vlanNone()))
	}
	for _, vid := range v.allowed {
		out = append(out, flow.M(inPort(v.ofp), vlanTag(vid)))
	}
	return out
}

func (h *fnv64) vapMode(a vap) {
	h.bool(a.pass)
	h.bool(a.untagged)
	h.u64(uint64(len(a.allowed)))
	for _, v := range a.allowed {
		h.u64(uint64(v))
	}
}

func (h *fnv64) link(r remoteNVE) {
	h.byte(byte(r.link))
	h.u64(uint64(r.vlan))
	h.bool(r.qinq)
}

// anyPassthrough reports whether a VN's ports include a passthrough VAP.
func anyPassthrough(ports []*model.Port) bool {
	for _, p := range ports {
		if p.Passthrough() {
			return true
		}
	}
	return false
}
