package compiler

import (
	"fmt"
	"slices"

	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/pipeline"
)

// feature is one piece of what the compiler emits, in a file of its own.
// It writes stage-level flows (Table: a stage it contributes to; Goto:
// pipeline.Next, a stage it must jump to, or "") and reads only what its
// context gives it: the profile's capabilities and realized stages, and
// the VN as this NVE sees it. Adding a feature is a new file and an entry
// in features; it touches no other feature.
type feature interface {
	// Name names the feature in errors.
	Name() string
	// Stages lists the pipeline stages the feature contributes flows to; a
	// flow into another stage is a compiler error.
	Stages() []string
	// NVE emits the feature's NVE-wide flows and groups (the slice of VN
	// "", compiled once per profile and generation).
	NVE(c *nveCtx, out *emitter)
	// VN emits the feature's flows and groups for one VN on the NVE that
	// do not belong to one port (nor to one remote NVE: remoteFeature):
	// the VN's shared part. It may read the VN,
	// its remote NVEs, and of its local VAPs only their OpenFlow ports and
	// VLANs (what the shared part's fingerprint covers).
	VN(c *vnCtx, out *emitter)
	// Port emits what one port of the VN contributes (c.part): its VAP's
	// flows if it is attached here, its answers, its forwarding entry. It
	// may read the port's part, the VN's VNI and the profile only, never
	// the NVE (c.nve): the part of a port not attached here is compiled
	// once for all the NVEs sharing a PartPool (share.go).
	Port(c *portCtx, out *emitter)
}

// remoteFeature is a feature that also emits, for each remote NVE of a VN,
// what the VN needs of that remote alone: one slice per (VN, remote NVE),
// the VN's remote part (Key: VN + "/@" + the remote's name). It may read
// of c only the VN's VNI and tagged and the profile, and the remote as
// this NVE reaches it (remoteFingerprint covers exactly these): never the
// NVE or the VN's other remotes, so the part is compiled once for all
// the NVEs of the VN sharing a PartPool.
type remoteFeature interface {
	Remote(c *vnCtx, r *remoteNVE, out *emitter)
}

// commonFeature is a feature that also emits what a VN needs alike on
// every NVE hosting it: the VN's common part (Key: VN + "/*"). It may read
// of c only the VN itself (c.vn) and the profile (commonFingerprint
// covers exactly these), so the part is compiled once for all the NVEs of
// the VN sharing a PartPool.
type commonFeature interface {
	VNCommon(c *vnCtx, out *emitter)
}

// features are the compiler's features; their order does not matter.
var features = []feature{
	classification{},
	portSecurity{},
	neighborResponder{},
	l2Forwarding{},
	bum{},
	l3Routing{},
	l3Policy{},
	segmentGateway{},
	multipathFeature{},
	l3GatewayFeature{}, // l3gateway.go
}

// nveCtx is what features see of the NVE being compiled.
type nveCtx struct {
	nve  string // the NVE's name
	prof pipeline.Profile
	real *pipeline.Realizer
	pool *PartPool // shares toRemote's actions with other NVEs (nil: none)
	// scratch is compileSlice's, not the features' (nil until a slice
	// is compiled).
	scratch *sliceScratch
}

// has reports whether the profile realizes stage.
func (c *nveCtx) has(stage string) bool { return c.real.Realizes(stage) }

// vnCtx is what features see of one VN on the NVE.
type vnCtx struct {
	*nveCtx
	*vnView
	toward [][]flow.Action // toRemote's answers, by remote
}

// vni is the VN's context ID.
func (c *vnCtx) vni() uint32 { return c.vn.VNI }

// toRemote returns the actions that send a packet of the VN into the
// tunnel to its i-th remote NVE (c.remotes[i]), built once per part and
// shared by the flows and buckets that use them.
func (c *vnCtx) toRemote(i int) []flow.Action {
	if c.toward == nil {
		c.toward = make([][]flow.Action, len(c.remotes))
	}
	if c.toward[i] == nil {
		c.toward[i] = toRemote(c.nveCtx, c.vni(), c.remotes[i])
	}
	return c.toward[i]
}

// portCtx is what features see of one port's part.
type portCtx struct {
	*nveCtx
	vni  uint32
	part *portPart
}

// emitter collects one slice's flows, groups and warnings, feature by
// feature.
type emitter struct {
	cur      feature
	stages   []string // cur's stages
	flows    []flow.Flow
	groups   []flow.GroupEntry
	warnings []string
	err      error
}

func (e *emitter) flow(f flow.Flow) {
	if !slices.Contains(e.stages, f.Table) {
		if e.err == nil {
			e.err = fmt.Errorf("feature %s emitted a flow into stage %q, not one of its stages %v: %s", e.cur.Name(), f.Table, e.cur.Stages(), f)
		}
		return
	}
	e.flows = append(e.flows, f)
}

func (e *emitter) group(g flow.GroupEntry) { e.groups = append(e.groups, g) }

func (e *emitter) warn(format string, args ...any) {
	e.warnings = append(e.warnings, fmt.Sprintf(format, args...))
}
