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

func (l2Forwarding) VN(*vnCtx, *emitter) {}

func (l2Forwarding) Port(c *portCtx, out *emitter) {
	if v := c.part.vap; v != nil {
		out.flow(flow.Flow{Table: pipeline.L2Forward, Priority: PrioNormal,
			Match:   flow.M(metaVN(c.vni), flow.Exact(flow.EthDst, flow.MAC(v.mac))),
			Actions: toVAP(*v, v.ofp)})
		return
	}
	r := c.part.remote
	if c.part.paired {
		return // dual-homed and remote: bum.go forwards over both its NVEs
	}
	if r == nil {
		return // on this NVE without a VAP, or its NVE unknown, without underlay, or no tunnel port (warned)
	}
	mac, _ := c.part.port.MACAddr()
	out.flow(flow.Flow{Table: pipeline.L2Forward, Priority: PrioNormal,
		Match: flow.M(metaVNFrom(c.vni, false), flow.Exact(flow.EthDst, mac[:])), Actions: toRemote(c.nveCtx, c.vni, *r)})
}
