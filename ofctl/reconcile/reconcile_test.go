package reconcile

import (
	"net"
	"testing"

	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/ofctl/codec"
)

func mac(s string) []byte { m, _ := net.ParseMAC(s); return flow.MAC(m) }

// l2 builds an nva flow forwarding a MAC to a port.
func l2(m string, port uint32) flow.Flow {
	f := flow.Flow{Table: "l2_forward", Priority: 100,
		Match:   flow.M(flow.Masked(flow.Metadata, flow.U64(5001), flow.U64(0xffffff)), flow.Exact(flow.EthDst, mac(m))),
		Actions: []flow.Action{flow.Output{Port: port}}}
	f.SetCookie(1)
	return f
}

func classify(port uint32) flow.Flow {
	f := flow.Flow{Table: "classify", Priority: 100, Match: flow.M(flow.Exact(flow.InPort, flow.U32(port))),
		WriteMetadata: 5001, MetadataMask: 0xffffff, Goto: "port_security"}
	f.SetCookie(1)
	return f
}

func bum(id uint32, ports ...uint32) flow.GroupEntry {
	g := flow.GroupEntry{ID: id, Type: flow.GroupAll}
	for _, p := range ports {
		g.Buckets = append(g.Buckets, flow.Bucket{WatchPort: flow.PortAny, WatchGroup: 0xffffffff, Actions: []flow.Action{flow.Output{Port: p}}})
	}
	return g
}

func TestNothingToDo(t *testing.T) {
	desired := []flow.Flow{l2("02:00:00:00:00:01", 1), l2("02:00:00:00:00:02", 2), classify(1)}
	// The switch reports the same flows in another order, with the
	// representation differences a switch introduces: an all-ones mask
	// spelled out, a max_len on a plain output, unused watch ports as 0.
	inst := []flow.Flow{classify(1), l2("02:00:00:00:00:02", 2), l2("02:00:00:00:00:01", 1)}
	inst[1].Match = flow.M(inst[1].Match.Slice()[0], flow.Masked(flow.EthDst, mac("02:00:00:00:00:02"), mac("ff:ff:ff:ff:ff:ff")))
	inst[2].Actions = []flow.Action{flow.Output{Port: 1, MaxLen: 0xffff}}
	g := bum(10010, 1, 2)
	ig := bum(10010, 1, 2)
	ig.Buckets[0].WatchPort, ig.Buckets[0].WatchGroup = 0, 0
	p := Diff(desired, inst, []flow.GroupEntry{g}, []flow.GroupEntry{ig})
	if !p.Empty() || p.Unchanged != 3 {
		t.Fatalf("plan %s, want empty with 3 unchanged", p)
	}
	if len(p.Steps()) != 0 {
		t.Fatal("empty plan has steps")
	}
}

func TestAddModifyDelete(t *testing.T) {
	a, b, c := l2("02:00:00:00:00:01", 1), l2("02:00:00:00:00:02", 2), l2("02:00:00:00:00:03", 3)
	moved := l2("02:00:00:00:00:02", 7) // same key as b, new port
	stale := l2("02:00:00:00:00:09", 9)
	p := Diff([]flow.Flow{a, moved, c}, []flow.Flow{a, b, stale}, nil, nil)
	if len(p.FlowAdds) != 1 || !p.FlowAdds[0].Match.Equal(c.Match) {
		t.Fatalf("adds: %+v", p.FlowAdds)
	}
	if len(p.FlowModifies) != 1 || p.FlowModifies[0].CookieChanged || p.FlowModifies[0].New.Actions[0] != (flow.Output{Port: 7}) ||
		p.FlowModifies[0].Old.Actions[0] != (flow.Output{Port: 2}) {
		t.Fatalf("modifies: %+v", p.FlowModifies)
	}
	if len(p.FlowDeletes) != 1 || p.FlowDeletes[0].Cookie != stale.Cookie || !p.FlowDeletes[0].Match.Equal(stale.Match) {
		t.Fatalf("deletes: %+v", p.FlowDeletes)
	}
	if p.Unchanged != 1 || p.Len() != 3 {
		t.Fatalf("plan %s", p)
	}
}

func TestInstructionDifferences(t *testing.T) {
	base := classify(1)
	for name, mut := range map[string]func(*flow.Flow){
		"goto":           func(f *flow.Flow) { f.Goto = "l2_forward" },
		"write metadata": func(f *flow.Flow) { f.WriteMetadata = 5002 },
		"metadata mask":  func(f *flow.Flow) { f.MetadataMask = 0x1ffffff },
		"actions":        func(f *flow.Flow) { f.Actions = []flow.Action{flow.PopVLAN{}} },
	} {
		d := base
		mut(&d)
		p := Diff([]flow.Flow{d}, []flow.Flow{base}, nil, nil)
		if len(p.FlowModifies) != 1 || p.FlowModifies[0].CookieChanged || p.Len() != 1 {
			t.Errorf("%s: plan %s", name, p)
		}
	}
	// A new cookie (e.g. a new generation) with identical instructions is
	// a replace, not a modify-strict: OF1.3 modify cannot change cookies.
	d := base
	d.SetCookie(2)
	p := Diff([]flow.Flow{d}, []flow.Flow{base}, nil, nil)
	if len(p.FlowModifies) != 1 || !p.FlowModifies[0].CookieChanged {
		t.Fatalf("cookie change: plan %s", p)
	}
	if s := p.Steps(); len(s) != 1 || s[0].Kind != ReplaceFlow || s[0].Flow.Cookie != d.Cookie {
		t.Fatalf("cookie change steps: %+v", s)
	}
}

func TestForeignFlowsUntouched(t *testing.T) {
	mine := l2("02:00:00:00:00:01", 1)
	foreign := flow.Flow{Table: "#200", Priority: 10, Cookie: 0x1234, Actions: []flow.Action{flow.Output{Port: 1}}}
	// A foreign flow that shadows a desired key does not satisfy it.
	shadow := mine
	shadow.Cookie = 0xdead
	p := Diff([]flow.Flow{mine}, []flow.Flow{foreign, shadow}, nil, nil)
	if p.Foreign != 2 || len(p.FlowDeletes) != 0 || len(p.FlowModifies) != 0 || len(p.FlowAdds) != 1 {
		t.Fatalf("plan %s", p)
	}
	// Nothing desired: still only nva's flows are deleted.
	p = Diff(nil, []flow.Flow{foreign, mine}, nil, nil)
	if len(p.FlowDeletes) != 1 || p.FlowDeletes[0].Cookie != mine.Cookie || p.Foreign != 1 {
		t.Fatalf("plan %s", p)
	}
	// A custom ownership predicate.
	o := Options{OwnsCookie: func(c uint64) bool { return c == 0x1234 }}
	p = o.Diff(nil, []flow.Flow{foreign, mine}, nil, nil)
	if len(p.FlowDeletes) != 1 || p.FlowDeletes[0].Cookie != 0x1234 {
		t.Fatalf("custom owner plan %s", p)
	}
}

func TestGroups(t *testing.T) {
	keep, change, add, gone, foreign := bum(2, 1), bum(4, 1, 2), bum(6, 3), bum(8, 4), bum(0x80000000, 5)
	changed := bum(4, 1, 2, 3)
	o := Options{OwnsGroup: func(id uint32) bool { return id < 0x80000000 }}
	p := o.Diff(nil, nil, []flow.GroupEntry{changed, keep, add}, []flow.GroupEntry{keep, change, gone, foreign})
	if len(p.GroupAdds) != 1 || p.GroupAdds[0].ID != 6 {
		t.Fatalf("group adds %+v", p.GroupAdds)
	}
	if len(p.GroupModifies) != 1 || p.GroupModifies[0].New.ID != 4 || len(p.GroupModifies[0].New.Buckets) != 3 {
		t.Fatalf("group modifies %+v", p.GroupModifies)
	}
	if len(p.GroupDeletes) != 1 || p.GroupDeletes[0].ID != 8 {
		t.Fatalf("group deletes %+v (the foreign group must stay)", p.GroupDeletes)
	}
	// Type change is a modify too.
	sel := keep
	sel.Type = flow.GroupSelect
	if p := Diff(nil, nil, []flow.GroupEntry{sel}, []flow.GroupEntry{keep}); len(p.GroupModifies) != 1 {
		t.Fatalf("type change: %s", p)
	}
}

// Steps order: groups a new flow uses exist before it; a group is deleted
// only after the flows that used it.
func TestStepOrder(t *testing.T) {
	newG, oldG := bum(20, 1), bum(30, 2)
	newF := l2("02:00:00:00:00:01", 1)
	newF.Actions = []flow.Action{flow.Group{ID: 20}}
	newF.SetCookie(1)
	oldF := l2("02:00:00:00:00:02", 1)
	oldF.Actions = []flow.Action{flow.Group{ID: 30}}
	modG := bum(40, 1)
	p := Diff([]flow.Flow{newF}, []flow.Flow{oldF}, []flow.GroupEntry{newG, bum(40, 1, 2)}, []flow.GroupEntry{oldG, modG})
	steps := p.Steps()
	pos := map[StepKind]int{}
	for i, s := range steps {
		pos[s.Kind] = i
	}
	if len(steps) != 5 {
		t.Fatalf("steps %+v", steps)
	}
	if !(pos[AddGroup] < pos[AddFlow] && pos[ModifyGroup] < pos[AddFlow] && pos[AddFlow] < pos[DeleteFlow] && pos[DeleteFlow] < pos[DeleteGroup]) {
		t.Fatalf("bad order: %+v", pos)
	}
	if steps[pos[DeleteGroup]].Group.ID != 30 || steps[pos[AddGroup]].Group.ID != 20 {
		t.Fatalf("steps %+v", steps)
	}
}

func TestConflicts(t *testing.T) {
	a := l2("02:00:00:00:00:01", 1)
	b := l2("02:00:00:00:00:01", 2)
	p := Diff([]flow.Flow{a, b}, nil, []flow.GroupEntry{bum(1, 1), bum(1, 2)}, nil)
	if len(p.Conflicts) != 2 || len(p.FlowAdds) != 1 || p.FlowAdds[0].Actions[0] != (flow.Output{Port: 1}) || len(p.GroupAdds) != 1 {
		t.Fatalf("plan %s conflicts %v", p, p.Conflicts)
	}
}

// Deterministic output whatever the input order.
func TestDeterministic(t *testing.T) {
	var inst []flow.Flow
	for i := 0; i < 20; i++ {
		inst = append(inst, l2(net.HardwareAddr{2, 0, 0, 0, 0, byte(i)}.String(), uint32(i)))
	}
	first := Diff(nil, inst, nil, nil)
	for i := 0; i < 5; i++ {
		rev := append([]flow.Flow(nil), inst...)
		for a, b := 0, len(rev)-1; a < b; a, b = a+1, b-1 {
			rev[a], rev[b] = rev[b], rev[a]
		}
		p := Diff(nil, rev, nil, nil)
		for j := range p.FlowDeletes {
			if Key(p.FlowDeletes[j]) != Key(first.FlowDeletes[j]) {
				t.Fatal("delete order depends on input order")
			}
		}
	}
}

// TestKeyIsCanonical: the flow key pairs a desired flow with its
// installed form however the switch reports the match (field order,
// all-ones masks, bits outside the mask, zero masks), like codec.Canonical.
func TestKeyIsCanonical(t *testing.T) {
	md := flow.Masked(flow.Metadata, flow.U64(0x64), flow.U64(0xffffff))
	want := flow.Flow{Table: "l2_forward", Priority: 100, Match: flow.M(md, flow.Exact(flow.EthDst, []byte{2, 0, 0, 0, 0, 1}))}
	for name, m := range map[string][]flow.MatchField{
		"reordered":     {flow.Exact(flow.EthDst, []byte{2, 0, 0, 0, 0, 1}), md},
		"all-ones mask": {md, flow.Masked(flow.EthDst, []byte{2, 0, 0, 0, 0, 1}, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})},
		"value outside mask": {flow.Masked(flow.Metadata, flow.U64(0x7f000064), flow.U64(0xffffff)),
			flow.Exact(flow.EthDst, []byte{2, 0, 0, 0, 0, 1})},
		"zero mask": {md, flow.Exact(flow.EthDst, []byte{2, 0, 0, 0, 0, 1}), flow.Masked(flow.InPort, flow.U32(7), flow.U32(0))},
	} {
		f := flow.Flow{Table: want.Table, Priority: want.Priority, Match: flow.M(m...)}
		if Key(f) != Key(want) {
			t.Errorf("%s: key differs", name)
		}
		if Key(codec.Canonical(f)) != Key(f) {
			t.Errorf("%s: key differs from its canonical form's", name)
		}
	}
}

// A flood group that only gains buckets (a port attaching) is additive;
// losing, changing or reordering a bucket is not, and neither is any
// change of a select or fast-failover group, or of the group's type.
func TestOnlyAddsBuckets(t *testing.T) {
	withType := func(g flow.GroupEntry, typ flow.GroupType) flow.GroupEntry { g.Type = typ; return g }
	for _, tc := range []struct {
		name     string
		old, new flow.GroupEntry
		want     bool
	}{
		{"appended", bum(1, 1, 2), bum(1, 1, 2, 3), true},
		{"inserted", bum(1, 1, 3), bum(1, 1, 2, 3), true},
		{"first to an empty group", bum(1), bum(1, 4), true},
		{"several added", bum(1, 2), bum(1, 1, 2, 3, 4), true},
		{"removed", bum(1, 1, 2, 3), bum(1, 1, 3), false},
		{"replaced", bum(1, 1, 2), bum(1, 1, 3), false},
		{"replaced and added", bum(1, 1, 2), bum(1, 1, 3, 4), false},
		{"reordered", bum(1, 1, 2), bum(1, 2, 1, 3), false},
		{"select gains a bucket", withType(bum(1, 1, 2), flow.GroupSelect), withType(bum(1, 1, 2, 3), flow.GroupSelect), false},
		{"fast failover gains a bucket", withType(bum(1, 1), flow.GroupFastFailover), withType(bum(1, 1, 2), flow.GroupFastFailover), false},
		{"type changes", withType(bum(1, 1), flow.GroupSelect), bum(1, 1, 2), false},
	} {
		if got := (GroupModify{Old: tc.old, New: tc.new}).OnlyAddsBuckets(); got != tc.want {
			t.Errorf("%s: OnlyAddsBuckets = %v, want %v", tc.name, got, tc.want)
		}
	}
}
