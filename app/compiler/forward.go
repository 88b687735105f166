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
	remote := make(map[string]int, len(c.remotes))
	for i, r := range c.remotes {
		remote[r.nve.Name] = i
	}
	for _, p := range c.ports {
		if p.NVE == c.nve {
			continue
		}
		i, ok := remote[p.NVE]
		if !ok {
			continue // NVE unknown, without underlay, or no tunnel port (warned)
		}
		out.flow(flow.Flow{Table: pipeline.L2Forward, Priority: PrioNormal,
			Match:   flow.M(metaVNFrom(vni, false), flow.Exact(flow.EthDst, flow.MAC(p.HardwareAddr()))),
			Actions: toRemote(c.nveCtx, vni, c.remotes[i])})
	}
}
