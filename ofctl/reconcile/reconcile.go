// Package reconcile owns the pure diff between the flows and groups nva
// wants on a switch and the ones the switch reports: which entries to add,
// modify or delete, in an order that never leaves a flow pointing at a
// missing group. It does no I/O; package ofctl sends the plan.
//
// Flows are identified the way OpenFlow identifies them: by (table,
// priority, match), compared in canonical form (ofctl/codec.Canonical).
// An installed flow whose cookie does not carry nva's tag is foreign: it is
// never modified or deleted, and never counts as satisfying a desired flow.
// Groups are identified by ID; only groups the Options say nva owns are
// ever deleted.
package reconcile

import (
	"fmt"
	"sort"

	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/ofctl/codec"
)

// Options tune the diff. The zero value uses nva's cookie tag
// (flow.IsNVACookie) and owns every group.
type Options struct {
	// OwnsCookie reports whether an installed flow with this cookie is
	// nva's; nil means flow.IsNVACookie.
	OwnsCookie func(cookie uint64) bool
	// OwnsGroup reports whether an installed group not in the desired
	// state may be deleted; nil means every group on the bridge is nva's.
	OwnsGroup func(id uint32) bool
}

// FlowModify is one installed flow to change into a desired one with the
// same key.
type FlowModify struct {
	Old, New flow.Flow
	// CookieChanged says the cookie differs: OpenFlow 1.3 modify commands
	// cannot change a cookie, so the change is sent as an add that
	// replaces the entry (counters are kept by OVS).
	CookieChanged bool
}

// GroupModify is one installed group to change into a desired one.
type GroupModify struct{ Old, New flow.GroupEntry }

// OnlyAddsBuckets reports whether the change only adds buckets to an ALL
// group (a flood group gaining a port): every old bucket is still there,
// in the same order. Every packet the old group delivered somewhere is
// still delivered there, whichever of the two a packet meets, so the
// change may be applied apart from the plan's other additive steps. A
// select, indirect or fast-failover group is never additive: a new bucket
// changes which bucket existing traffic takes.
func (m GroupModify) OnlyAddsBuckets() bool {
	if m.Old.Type != flow.GroupAll || m.New.Type != flow.GroupAll || len(m.New.Buckets) < len(m.Old.Buckets) {
		return false
	}
	i := 0 // next old bucket to find
	for j := range m.New.Buckets {
		if i == len(m.Old.Buckets) {
			break
		}
		if len(m.New.Buckets)-j < len(m.Old.Buckets)-i {
			return false
		}
		if bucketEqual(m.Old.Buckets[i], m.New.Buckets[j]) {
			i++
		}
	}
	return i == len(m.Old.Buckets)
}

// Plan is the minimal set of changes that makes installed equal desired.
// Apply it in the order of Steps.
type Plan struct {
	GroupAdds     []flow.GroupEntry
	GroupModifies []GroupModify
	FlowAdds      []flow.Flow
	FlowModifies  []FlowModify
	FlowDeletes   []flow.Flow // installed flows (with their installed cookie)
	GroupDeletes  []flow.GroupEntry
	// Foreign counts installed flows left alone because their cookie is
	// not nva's.
	Foreign int
	// Unchanged counts desired flows already installed as wanted.
	Unchanged int
	// Conflicts lists desired flows dropped because an earlier desired
	// flow has the same key (a compiler bug; the first one wins).
	Conflicts []string
}

// Len is the number of messages the plan needs (without the barrier).
func (p Plan) Len() int {
	return len(p.GroupAdds) + len(p.GroupModifies) + len(p.FlowAdds) + len(p.FlowModifies) + len(p.FlowDeletes) + len(p.GroupDeletes)
}

// Empty reports whether nothing needs to change.
func (p Plan) Empty() bool { return p.Len() == 0 }

// String summarizes the plan for logs.
func (p Plan) String() string {
	return fmt.Sprintf("groups +%d ~%d -%d, flows +%d ~%d -%d (unchanged %d, foreign %d)",
		len(p.GroupAdds), len(p.GroupModifies), len(p.GroupDeletes),
		len(p.FlowAdds), len(p.FlowModifies), len(p.FlowDeletes), p.Unchanged, p.Foreign)
}

// StepKind is what one step of a plan does.
type StepKind int

// Step kinds, in the order Steps emits them.
const (
	AddGroup StepKind = iota
	ModifyGroup
	AddFlow
	ModifyFlow  // modify-strict: same cookie, new instructions
	ReplaceFlow // add over an existing entry: the cookie changes
	DeleteFlow  // delete-strict, matching the installed cookie exactly
	DeleteGroup
)

func (k StepKind) String() string {
	return [...]string{"add-group", "modify-group", "add-flow", "modify-flow", "replace-flow", "delete-flow", "delete-group"}[k]
}

// Step is one change. Flow is set for flow steps, Group for group steps.
type Step struct {
	Kind  StepKind
	Flow  flow.Flow
	Group flow.GroupEntry
}

// Steps returns the plan's changes in a safe order: groups are added and
// modified before the flows that use them; flows are added and modified
// before stale ones are deleted (make before break); groups are deleted
// last, after the flows that used them (deleting a group removes the flows
// that point to it).
func (p Plan) Steps() []Step {
	out := make([]Step, 0, p.Len())
	for _, g := range p.GroupAdds {
		out = append(out, Step{Kind: AddGroup, Group: g})
	}
	for _, g := range p.GroupModifies {
		out = append(out, Step{Kind: ModifyGroup, Group: g.New})
	}
	for _, f := range p.FlowAdds {
		out = append(out, Step{Kind: AddFlow, Flow: f})
	}
	for _, m := range p.FlowModifies {
		k := ModifyFlow
		if m.CookieChanged {
			k = ReplaceFlow
		}
		out = append(out, Step{Kind: k, Flow: m.New})
	}
	for _, f := range p.FlowDeletes {
		out = append(out, Step{Kind: DeleteFlow, Flow: f})
	}
	for _, g := range p.GroupDeletes {
		out = append(out, Step{Kind: DeleteGroup, Group: g})
	}
	return out
}

// Key is a flow's OpenFlow identity: table, priority and canonical match
// (flow.KeyOf: binary, no text; the same canonical form as
// codec.Canonical's match).
func Key(f flow.Flow) flow.Key { return flow.KeyOf(f) }

// SameInstructions reports whether two canonical flows with the same key
// do the same thing (actions, metadata write, goto).
func SameInstructions(a, b flow.Flow) bool {
	return a.Goto == b.Goto && a.WriteMetadata == b.WriteMetadata && a.MetadataMask == b.MetadataMask &&
		actionsEqual(a.Actions, b.Actions)
}

// Diff computes the plan with the default Options.
func Diff(desired, installed []flow.Flow, desiredGroups, installedGroups []flow.GroupEntry) Plan {
	return Options{}.Diff(desired, installed, desiredGroups, installedGroups)
}

// Diff computes the plan that turns installed into desired. Inputs need
// not be canonical or sorted; the plan's lists are in a deterministic order
// (desired order for adds and modifies, key order for deletes, ID order for
// groups). Flows in the plan are canonical.
func (o Options) Diff(desired, installed []flow.Flow, desiredGroups, installedGroups []flow.GroupEntry) Plan {
	owns := o.OwnsCookie
	if owns == nil {
		owns = flow.IsNVACookie
	}
	var p Plan

	inst := make(map[flow.Key]flow.Flow, len(installed))
	for _, f := range installed {
		if !owns(f.Cookie) {
			p.Foreign++
			continue
		}
		inst[Key(f)] = codec.Canonical(f)
	}
	seen := make(map[flow.Key]bool, len(desired))
	for _, d := range desired {
		k := Key(d)
		if seen[k] {
			p.Conflicts = append(p.Conflicts, fmt.Sprintf("table %s priority %d: %s appears twice", d.Table, d.Priority, flow.FormatMatch(d.Match)))
			continue
		}
		seen[k] = true
		d = codec.Canonical(d)
		cur, ok := inst[k]
		switch {
		case !ok:
			p.FlowAdds = append(p.FlowAdds, d)
		case cur.Cookie != d.Cookie:
			p.FlowModifies = append(p.FlowModifies, FlowModify{Old: cur, New: d, CookieChanged: true})
		case !SameInstructions(cur, d):
			p.FlowModifies = append(p.FlowModifies, FlowModify{Old: cur, New: d})
		default:
			p.Unchanged++
		}
	}
	var stale []flow.Key
	for k := range inst {
		if !seen[k] {
			stale = append(stale, k)
		}
	}
	sort.Slice(stale, func(i, j int) bool { return stale[i].Compare(stale[j]) < 0 })
	for _, k := range stale {
		p.FlowDeletes = append(p.FlowDeletes, inst[k])
	}

	ig := make(map[uint32]flow.GroupEntry, len(installedGroups))
	for _, g := range installedGroups {
		ig[g.ID] = codec.CanonicalGroup(g)
	}
	dg := make(map[uint32]flow.GroupEntry, len(desiredGroups))
	for _, g := range desiredGroups {
		if _, dup := dg[g.ID]; dup {
			p.Conflicts = append(p.Conflicts, fmt.Sprintf("group %d appears twice", g.ID))
			continue
		}
		dg[g.ID] = codec.CanonicalGroup(g)
	}
	for _, id := range sortedIDs(dg) {
		d := dg[id]
		cur, ok := ig[id]
		switch {
		case !ok:
			p.GroupAdds = append(p.GroupAdds, d)
		case !groupEqual(cur, d):
			p.GroupModifies = append(p.GroupModifies, GroupModify{Old: cur, New: d})
		}
	}
	for _, id := range sortedIDs(ig) {
		if _, want := dg[id]; want {
			continue
		}
		if o.OwnsGroup == nil || o.OwnsGroup(id) {
			p.GroupDeletes = append(p.GroupDeletes, ig[id])
		}
	}
	return p
}

func sortedIDs(m map[uint32]flow.GroupEntry) []uint32 {
	ids := make([]uint32, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}
