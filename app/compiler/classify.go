package compiler

import (
	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/pipeline"
)

// classification maps ingress to VNs: a local VAP (in_port [+VLAN,
// popped]) or a tunnel from a remote NVE hosting the VN (flow-based:
// the encapsulation's port, tun_id and tun_src; strict: the per-remote
// port and tunnel_id). It writes the VN context to metadata; local
// traffic goes on to the next stage, tunnel arrivals jump to forwarding.
type classification struct{}

func (classification) Name() string     { return "classification" }
func (classification) Stages() []string { return []string{pipeline.Classify} }

func (classification) NVE(*nveCtx, *emitter) {}

func (classification) Port(c *portCtx, out *emitter) {
	v := c.part.vap
	if v == nil {
		return
	}
	f := flow.Flow{Table: pipeline.Classify, Priority: PrioNormal,
		WriteMetadata: metaContext(c.vni, false), MetadataMask: pipeline.MetaContext, Goto: pipeline.Next}
	// Frames with the port's own source MAC also get pipeline.MetaOwnSrc,
	// which port security's flows require (portsec.go); the others are
	// classified all the same (they count as the port's) and dropped
	// there.
	own := f
	own.Priority = PrioOwnSrc
	own.WriteMetadata |= pipeline.MetaOwnSrc.Put(1)
	own.MetadataMask |= pipeline.MetaOwnSrc.Mask()
	ownSrc := len(v.mac) == 6 && c.has(pipeline.PortSecurity)
	emit := func(m flow.Match) {
		f.Match = m
		out.flow(f)
		if ownSrc {
			own.Match = m.With(flow.Exact(flow.EthSrc, flow.MAC(v.mac)))
			out.flow(own)
		}
	}
	if v.pass { // split.go: the tenant's tags stay on
		for _, m := range passthroughMatches(*v) {
			emit(m)
		}
		return
	}
	if v.vlan == 0 {
		emit(flow.M(inPort(v.ofp), vlanNone()))
	} else {
		f.Actions = []flow.Action{flow.PopVLAN{}}
		own.Actions = f.Actions
		emit(flow.M(inPort(v.ofp), vlanTag(v.vlan)))
	}
}

// PrioOwnSrc is classify's priority for a local VAP's frames with the
// port's own source MAC, above the VAP's other frames (PrioNormal).
const PrioOwnSrc = PrioNormal + 10

// VN emits nothing: a VN's tunnel classification is per remote NVE
// (Remote), in the VN's remote parts.
func (classification) VN(*vnCtx, *emitter) {}

// Remote classifies the VN's traffic from remote NVE r: it reads the
// VNI, whether the VN is tagged, the profile and r (see remoteFeature).
func (classification) Remote(c *vnCtx, r *remoteNVE, out *emitter) {
	vni := c.vni()
	tunnel := func(m ...flow.MatchField) {
		out.flow(flow.Flow{Table: pipeline.Classify, Priority: PrioNormal, Match: flow.M(m...),
			WriteMetadata: metaContext(vni, true), MetadataMask: pipeline.MetaContext, Goto: pipeline.L2Forward})
	}
	tunID := flow.Exact(flow.TunID, flow.U64(uint64(vni)))
	if r.link != linkNone { // split.go: an access link
		m, acts, meta := linkClassify(vni, *r)
		out.flow(flow.Flow{Table: pipeline.Classify, Priority: PrioNormal, Match: m, Actions: acts,
			WriteMetadata: meta, MetadataMask: pipeline.MetaContext, Goto: pipeline.L2Forward})
		return
	}
	// Inner frames are untagged, unless the VN has passthrough VAPs
	// (split.go): then they may carry the tenant's tag.
	var buf [4]flow.MatchField // flow.M keeps no field: no heap slice per flow
	vlan := buf[3:3]
	if !c.tagged {
		buf[3] = vlanNone()
		vlan = buf[3:4]
	}
	if !c.prof.FlowTunnels {
		// The port is the remote's own: it identifies the sender.
		var ms [3]flow.MatchField
		tunnel(append(append(ms[:0], inPort(r.port), tunID), vlan...)...)
		return
	}
	for _, ip := range r.ips {
		var ms [4]flow.MatchField
		tunnel(append(append(ms[:0], inPort(r.port), tunID, flow.Exact(flow.TunIPv4Src, flow.IP(ip))), vlan...)...)
	}
}
