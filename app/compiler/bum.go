package compiler

import (
	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/pipeline"
)

// bum delivers broadcast and multicast (BUM) by head-end replication: a
// group of type all per VN with a bucket per local VAP and per remote NVE
// hosting the VN (through the flow-based tunnel port or the remote's own
// port), used for frames from local VAPs; and, when the VN has remotes, a
// group of local VAPs only for frames from tunnels (split horizon).
// OpenFlow never sends a bucket's copy back to the ingress port.
type bum struct{}

func (bum) Name() string     { return "BUM" }
func (bum) Stages() []string { return []string{pipeline.L2Forward} }

func (bum) NVE(*nveCtx, *emitter) {}

func (bum) Port(*portCtx, *emitter) {}

var mcastBit = []byte{1, 0, 0, 0, 0, 0}

func (bum) VN(c *vnCtx, out *emitter) {
	if !c.vn.Bridged() {
		return // an l3 VN floods nothing: its ARP/ND is answered, its IP unicast
	}
	vni := c.vni()
	mcast := flow.Masked(flow.EthDst, mcastBit, mcastBit)
	bucket := func(acts []flow.Action) flow.Bucket {
		return flow.Bucket{WatchPort: flow.PortAny, WatchGroup: flow.PortAny, Actions: acts}
	}
	local := make([]flow.Bucket, 0, len(c.local))
	for _, v := range c.local {
		local = append(local, bucket(toVAP(v, v.ofp)))
	}
	for i, r := range c.remotes {
		if r.link == linkDown { // split.go: a tNVE's ports are local to its nNVE
			local = append(local, bucket(c.toRemote(i)))
		}
	}
	all := append(make([]flow.Bucket, 0, len(local)+len(c.remotes)), local...)
	for i, r := range c.remotes {
		if r.link != linkDown {
			all = append(all, bucket(c.toRemote(i)))
		}
	}
	gl, gt := FloodGroupID(vni, false), FloodGroupID(vni, true)
	out.group(flow.GroupEntry{ID: gl, Type: flow.GroupAll, Buckets: all})
	out.flow(flow.Flow{Table: pipeline.L2Forward, Priority: PrioBUM,
		Match: flow.M(metaVNFrom(vni, false), mcast), Actions: []flow.Action{flow.Group{ID: gl}}})
	if len(c.remotes) > 0 {
		out.group(flow.GroupEntry{ID: gt, Type: flow.GroupAll, Buckets: local})
		out.flow(flow.Flow{Table: pipeline.L2Forward, Priority: PrioBUM,
			Match: flow.M(metaVNFrom(vni, true), mcast), Actions: []flow.Action{flow.Group{ID: gt}}})
	}
}
