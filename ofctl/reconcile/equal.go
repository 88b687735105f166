package reconcile

import (
	"bytes"
	"reflect"

	"github.com/nva-project/nva/app/flow"
)

// Typed equality of actions and groups, with reflect.DeepEqual's answers
// (nil and empty lists differ) but without its cost: DeepEqual allocates
// a map to track visited pointers for every list it walks, which made
// comparing the groups of a switch's report with the desired ones most
// of a warm restart's diff (1,000 switches, 20 groups each).

// groupEqual reports whether two groups are equal, as reflect.DeepEqual
// would.
func groupEqual(a, b flow.GroupEntry) bool {
	if a.ID != b.ID || a.Type != b.Type || (a.Buckets == nil) != (b.Buckets == nil) || len(a.Buckets) != len(b.Buckets) {
		return false
	}
	for i := range a.Buckets {
		if !bucketEqual(a.Buckets[i], b.Buckets[i]) {
			return false
		}
	}
	return true
}

// bucketEqual reports whether two group buckets are equal, as
// reflect.DeepEqual would.
func bucketEqual(x, y flow.Bucket) bool {
	return x.Weight == y.Weight && x.WatchPort == y.WatchPort && x.WatchGroup == y.WatchGroup && actionsEqual(x.Actions, y.Actions)
}

// actionsEqual reports whether two action lists are equal, as
// reflect.DeepEqual would.
func actionsEqual(a, b []flow.Action) bool {
	if (a == nil) != (b == nil) || len(a) != len(b) {
		return false
	}
	for i := range a {
		if !actionEqual(a[i], b[i]) {
			return false
		}
	}
	return true
}

// actionEqual compares the action types of app/flow by value (SetField's
// value by its bytes); any other type as reflect.DeepEqual does.
func actionEqual(a, b flow.Action) bool {
	switch x := a.(type) {
	case flow.SetField:
		y, ok := b.(flow.SetField)
		return ok && x.Field == y.Field && (x.Value == nil) == (y.Value == nil) && bytes.Equal(x.Value, y.Value)
	case flow.Output, flow.Move, flow.PushVLAN, flow.PopVLAN, flow.Group, flow.DecTTL, flow.CT:
		return a == b // comparable types: equal dynamic type and value
	}
	return reflect.DeepEqual(a, b)
}
