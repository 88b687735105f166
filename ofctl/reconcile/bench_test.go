package reconcile

import (
	"net"
	"testing"

	"github.com/nva-project/nva/app/flow"
)

// BenchmarkDiff10k: an NVE with 10,000 flows of which 1% changed, 1% are
// new and 1% are stale (the shape of an incremental update).
func BenchmarkDiff10k(b *testing.B) {
	const n = 10000
	var desired, installed []flow.Flow
	for i := 0; i < n; i++ {
		m := net.HardwareAddr{2, 0, 0, byte(i >> 16), byte(i >> 8), byte(i)}.String()
		f := l2(m, uint32(i%48+1))
		switch {
		case i%100 == 0: // changed
			installed = append(installed, l2(m, 99))
			desired = append(desired, f)
		case i%100 == 1: // new
			desired = append(desired, f)
		case i%100 == 2: // stale
			installed = append(installed, f)
		default:
			desired = append(desired, f)
			installed = append(installed, f)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p := Diff(desired, installed, nil, nil)
		if len(p.FlowModifies) != n/100 || len(p.FlowAdds) != n/100 || len(p.FlowDeletes) != n/100 {
			b.Fatalf("plan %s", p)
		}
	}
}

// BenchmarkDiffGroupsSame: a switch's 20 flood groups of 10 buckets each
// (set the tunnel destination, output), read back equal to the desired
// ones: a warm restart's group diff, once per switch.
func BenchmarkDiffGroupsSame(b *testing.B) {
	groups := func() []flow.GroupEntry {
		var out []flow.GroupEntry
		for g := range 20 {
			e := flow.GroupEntry{ID: uint32(g + 1), Type: flow.GroupAll}
			for k := range 10 {
				e.Buckets = append(e.Buckets, flow.Bucket{WatchPort: flow.PortAny, WatchGroup: 0xffffffff, Actions: []flow.Action{
					flow.SetField{Field: "tun_dst", Value: []byte{198, 18, byte(g), byte(k)}},
					flow.Output{Port: 10},
				}})
			}
			out = append(out, e)
		}
		return out
	}
	desired, installed := groups(), groups()
	b.ReportAllocs()
	for b.Loop() {
		if p := Diff(nil, nil, desired, installed); len(p.GroupModifies) != 0 || len(p.GroupAdds) != 0 {
			b.Fatalf("plan %s", p)
		}
	}
}
