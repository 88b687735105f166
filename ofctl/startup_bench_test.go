package ofctl

import (
	"testing"

	"github.com/nva-project/nva/app/model"
)

// BenchmarkAffectedFromEmpty is the southbound's first refresh after a
// restart's log replay (leaderReady): from the empty store it started
// with to the 1,000-NVE fleet, every NVE is affected.
func BenchmarkAffectedFromEmpty(b *testing.B) {
	cur := fleetSnap(1000)
	empty := &model.Snapshot{}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if got := affectedNVEs(empty, cur); len(got) != len(cur.NVEs) {
			b.Fatalf("%d affected, want %d", len(got), len(cur.NVEs))
		}
	}
}
