package compiler

import (
	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/pipeline"
)

// l2Forwarding delivers known unicast within the VN: to a local VAP
// (re-tagged with its VLAN), or, for frames from local VAPs, into the
// tunnel to the NVE hosting the destination (frames from a tunnel never
// go back into one: split horizon). Unknown unicast is dropped by the
// stage's miss.
type l2Forwarding struct{}

func (l2Forwarding) Name() string     { return "L2 forwarding" }
func (l2Forwarding) Stages() []string { return []string{pipeline.L2Forward} }

func (l2Forwarding) NVE(*nveCtx, *emitter) {}

func (l2Forwarding) VN(c *vnCtx, out *emitter) {
	vni := c.vni()
	for _, v := range c.local {
		out.flow(flow.Flow{Table: pipeline.L2Forward, Priority: PrioNormal,
			Match:   flow.M(metaVN(vni), flow.Exact(flow.EthDst, flow.MAC(v.mac))),
			Actions: toVAP(v, v.ofp)})
	}
	if len(c.remotes) == 0 {
		return
	}
	// One action list per remote NVE, shared by the flows to its ports.
	toward := make(map[string][]flow.Action, len(c.remotes))
	for i, r := range c.remotes {
		toward[r.nve.Name] = c.toRemote(i)
	}
	fromLocal := metaVNFrom(vni, false)
	for _, p := range c.ports {
		if p.NVE == c.nve {
			continue
		}
		acts, ok := toward[p.NVE]
		if !ok {
			continue // NVE unknown, without underlay, or no tunnel port (warned)
		}
		mac, _ := p.MACAddr()
		out.flow(flow.Flow{Table: pipeline.L2Forward, Priority: PrioNormal,
			Match: flow.M(fromLocal, flow.Exact(flow.EthDst, mac[:])), Actions: acts})
	}
}
