package reconcile

import (
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"

	"github.com/nva-project/nva/app/flow"
)

// The typed equalities know every field of a group and a bucket: a field
// added to either must be compared there too.
func TestEqualKnowsEveryField(t *testing.T) {
	if n := reflect.TypeFor[flow.GroupEntry]().NumField(); n != 3 {
		t.Errorf("flow.GroupEntry has %d fields; groupEqual compares 3", n)
	}
	if n := reflect.TypeFor[flow.Bucket]().NumField(); n != 4 {
		t.Errorf("flow.Bucket has %d fields; bucketEqual compares 4", n)
	}
}

// randomAction is one of a small set of actions of every type, so two
// draws are often equal (and often equal in value but distinct in
// memory: SetField's bytes are copied).
func randomAction(r *rand.Rand) flow.Action {
	switch r.IntN(10) {
	case 0:
		return flow.Output{Port: uint32(r.IntN(3)), MaxLen: uint16(r.IntN(2))}
	case 1:
		v := [][]byte{nil, {}, {1}, {1, 2}, {2, 1}}[r.IntN(5)]
		if v != nil {
			v = append([]byte{}, v...)
		}
		return flow.SetField{Field: []string{"tun_dst", "tun_id"}[r.IntN(2)], Value: v}
	case 2:
		return flow.Move{Src: "reg0", Dst: []string{"reg1", "reg2"}[r.IntN(2)], Bits: r.IntN(2)}
	case 3:
		return flow.PushVLAN{EtherType: uint16(0x8100 + r.IntN(2))}
	case 4:
		return flow.PopVLAN{}
	case 5:
		return flow.Group{ID: uint32(r.IntN(3))}
	case 6:
		return flow.DecTTL{}
	case 7:
		return flow.CT{Zone: uint16(r.IntN(2)), NAT: flow.NATKind(r.IntN(2)), NATAddr: []netip.Addr{{}, netip.MustParseAddr("10.0.0.1")}[r.IntN(2)]}
	case 8:
		return &flow.Output{Port: uint32(r.IntN(2))} // a type actionEqual does not know
	default:
		return flow.Output{Port: 1}
	}
}

func randomActions(r *rand.Rand) []flow.Action {
	n := r.IntN(4) - 1
	if n < 0 {
		return nil
	}
	out := make([]flow.Action, n)
	for i := range out {
		out[i] = randomAction(r)
	}
	return out
}

func randomGroup(r *rand.Rand) flow.GroupEntry {
	g := flow.GroupEntry{ID: uint32(r.IntN(2)), Type: flow.GroupType(r.IntN(2))}
	if n := r.IntN(4) - 1; n >= 0 {
		g.Buckets = make([]flow.Bucket, n)
		for i := range g.Buckets {
			g.Buckets[i] = flow.Bucket{Weight: uint16(r.IntN(2)), WatchPort: uint32(r.IntN(2)), WatchGroup: uint32(r.IntN(2)), Actions: randomActions(r)}
		}
	}
	return g
}

// groupEqual, bucketEqual and actionsEqual answer as reflect.DeepEqual
// does, over random groups (fixed seed) drawn from a small set of values
// so that equal pairs are common.
func TestEqualMatchesDeepEqual(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var equal, differ int
	for i := range 200000 {
		a, b := randomGroup(r), randomGroup(r)
		if r.IntN(4) == 0 { // a deep copy: equal unless the copy differs
			b = a
			b.Buckets = append([]flow.Bucket(nil), a.Buckets...)
			if a.Buckets == nil {
				b.Buckets = nil
			}
		}
		want := reflect.DeepEqual(a, b)
		if got := groupEqual(a, b); got != want {
			t.Fatalf("case %d: groupEqual(%+v, %+v) = %v, DeepEqual %v", i, a, b, got, want)
		}
		if len(a.Buckets) > 0 && len(b.Buckets) > 0 {
			x, y := a.Buckets[0], b.Buckets[0]
			if got, want := bucketEqual(x, y), reflect.DeepEqual(x, y); got != want {
				t.Fatalf("case %d: bucketEqual(%+v, %+v) = %v, DeepEqual %v", i, x, y, got, want)
			}
			if got, want := actionsEqual(x.Actions, y.Actions), reflect.DeepEqual(x.Actions, y.Actions); got != want {
				t.Fatalf("case %d: actionsEqual(%v, %v) = %v, DeepEqual %v", i, x.Actions, y.Actions, got, want)
			}
		}
		if want {
			equal++
		} else {
			differ++
		}
	}
	if equal < 1000 || differ < 1000 {
		t.Fatalf("too few cases of one kind: %d equal, %d differ", equal, differ)
	}
	t.Logf("%d equal, %d differ", equal, differ)
}
