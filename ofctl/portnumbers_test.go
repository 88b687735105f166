package ofctl

import (
	"maps"
	"reflect"
	"testing"
)

// TestPortNumbersMemo: a worker's merged port map is kept while the
// switch's and the outside source's maps are the same maps, and made
// anew when either source hands out a new one.
func TestPortNumbersMemo(t *testing.T) {
	outside := map[string]uint32{"vap0": 3, "br-int": 65534, "reserved": 0xfffffffe}
	s := New(Config{PortNumbers: func(string) map[string]uint32 { return outside }})
	var memo portMemo
	first := s.portNumbersMemo(nil, "hv1", &memo)
	if want := map[string]uint32{"vap0": 3, "br-int": 65534}; !maps.Equal(first, want) {
		t.Fatalf("merged %v, want %v", first, want)
	}
	if again := s.portNumbersMemo(nil, "hv1", &memo); reflect.ValueOf(again).UnsafePointer() != reflect.ValueOf(first).UnsafePointer() {
		t.Error("same sources: a new merged map")
	}
	outside = map[string]uint32{"vap0": 4}
	if next := s.portNumbersMemo(nil, "hv1", &memo); !maps.Equal(next, outside) {
		t.Errorf("after the source changed: %v, want %v", next, outside)
	}
	// Without a memo (another goroutine's compile) the answer is the same.
	if got := s.portNumbers(nil, "hv1"); !maps.Equal(got, outside) {
		t.Errorf("portNumbers %v, want %v", got, outside)
	}
}
