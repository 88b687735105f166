package pipeline

import (
	"fmt"

	"github.com/nva-project/nva/app/flow"
)

// Realizer maps stage-level flows (Table: a stage; Goto: a stage, Next or
// "") onto one profile's tables. Build it once per profile.
type Realizer struct {
	prof Profile
	loc  map[string]stageLoc
	// plain: every table realizes one stage and is named after it, so
	// realizing a flow only resolves Next.
	plain bool
}

type stageLoc struct {
	table  string // the table's name
	shared bool   // the table realizes several stages
	sel    uint64 // the stage's MetaStage selector in a shared table
	next   string // the stage's next realized stage ("" if none)
	miss   Miss
}

// Realizer returns the profile's realizer.
func (p Profile) Realizer() *Realizer {
	r := &Realizer{prof: p, loc: map[string]stageLoc{}, plain: true}
	realized := map[string]bool{}
	for _, t := range p.Tables {
		for _, s := range t.Stages {
			realized[s] = true
		}
	}
	for _, t := range p.Tables {
		for i, s := range t.Stages {
			st, _ := StageByName(s)
			r.loc[s] = stageLoc{table: t.Name, shared: t.Shared(), sel: uint64(i), next: nextRealized(s, realized), miss: st.Miss}
			if t.Shared() || t.Name != s {
				r.plain = false
			}
		}
	}
	return r
}

// Profile returns the profile the realizer maps onto.
func (r *Realizer) Profile() Profile { return r.prof }

// Realizes reports whether the profile realizes stage.
func (r *Realizer) Realizes(stage string) bool {
	_, ok := r.loc[stage]
	return ok
}

// Flow realizes a stage-level flow in place: its table becomes the table
// realizing its stage, Next becomes the table of the stage's next
// realized stage, and a flow in (or going to) a table shared by several
// stages matches (writes) its stage's MetaStage selector. It fails on a
// stage the profile does not realize, Next from a stage without one, or
// a flow that already uses MetaStage bits.
func (r *Realizer) Flow(f *flow.Flow) error {
	loc, ok := r.loc[f.Table]
	if !ok {
		return fmt.Errorf("stage %q is not realized in profile %s", f.Table, r.prof.Name)
	}
	target := f.Goto
	if target == Next {
		if target = loc.next; target == "" {
			return fmt.Errorf("stage %s has no next stage in profile %s", f.Table, r.prof.Name)
		}
	}
	var to stageLoc
	if target != "" {
		if to, ok = r.loc[target]; !ok {
			return fmt.Errorf("stage %s: goto stage %q, which profile %s does not realize", f.Table, target, r.prof.Name)
		}
	}
	if r.plain {
		f.Goto = target
		return nil
	}
	sel := MetaStage.Mask()
	if loc.shared {
		if err := matchSelector(f, MetaStage.Put(loc.sel), sel); err != nil {
			return err
		}
	}
	f.Table = loc.table
	f.Goto = ""
	if target != "" {
		f.Goto = to.table
		if to.shared {
			if f.MetadataMask&sel != 0 {
				return fmt.Errorf("stage %s: flow already writes the metadata stage selector", loc.table)
			}
			f.WriteMetadata |= MetaStage.Put(to.sel)
			f.MetadataMask |= sel
		}
	}
	return nil
}

// matchSelector adds metadata=value/mask to f's match, merged into its
// metadata match if it has one.
func matchSelector(f *flow.Flow, value, mask uint64) error {
	m := make([]flow.MatchField, 0, f.Match.Len()+1)
	merged := false
	for mf := range f.Match.Fields() {
		if mf.Field == flow.Metadata {
			v, mk := be64(mf.Value), ^uint64(0)
			if mf.Mask != nil {
				mk = be64(mf.Mask)
			}
			if mk&mask != 0 {
				return fmt.Errorf("stage %s: flow already matches the metadata stage selector", f.Table)
			}
			mf = flow.Masked(flow.Metadata, flow.U64(v|value), flow.U64(mk|mask))
			merged = true
		}
		m = append(m, mf)
	}
	if !merged {
		m = append(m, flow.Masked(flow.Metadata, flow.U64(value), flow.U64(mask)))
	}
	f.Match = flow.M(m...)
	return nil
}

func be64(b []byte) uint64 {
	var v uint64
	for _, x := range b {
		v = v<<8 | uint64(x)
	}
	return v
}

// MissFlows returns the realized priority-0 flows that carry out each
// realized stage's miss policy (in a shared table, one per stage, matching
// its selector), in table order.
func (r *Realizer) MissFlows() ([]flow.Flow, error) {
	var out []flow.Flow
	for _, t := range r.prof.Tables {
		for _, s := range t.Stages {
			loc := r.loc[s]
			f := flow.Flow{Table: s, Priority: 0}
			switch loc.miss {
			case MissNext:
				f.Goto = Next
			case MissController:
				f.Actions = []flow.Action{flow.Output{Port: flow.PortController, MaxLen: 0xffff}}
			}
			if err := r.Flow(&f); err != nil {
				return nil, err
			}
			out = append(out, f)
		}
	}
	return out, nil
}
