package counters_test

import (
	"testing"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/compiler/scenario"
	"github.com/nva-project/nva/app/counters"
	"github.com/nva-project/nva/app/pipeline"
)

// groupStats fakes a switch's group statistics for res: every bucket of
// the group of frames from local VAPs of VN vni counted n frames, of the
// group from tunnels m frames.
func groupStats(res compiler.Result, vni uint32, n, m uint64) []counters.GroupStat {
	var out []counters.GroupStat
	for _, g := range res.Groups {
		var k uint64
		switch g.ID {
		case compiler.FloodGroupID(vni, false):
			k = n
		case compiler.FloodGroupID(vni, true):
			k = m
		default:
			continue
		}
		st := counters.GroupStat{GroupID: g.ID, Packets: k}
		for range g.Buckets {
			st.Buckets = append(st.Buckets, k)
		}
		out = append(out, st)
	}
	// A group the index does not know (an older compile's) counts nothing.
	return append(out, counters.GroupStat{GroupID: 0x1fffffe, Packets: 99, Buckets: []uint64{99, 99}})
}

func TestBUMAttribution(t *testing.T) {
	cases := []struct {
		name     string
		d        *scenario.Domain
		nve      string
		copies   int    // underlay copies per frame from a local VAP
		local    uint64 // local VAPs of blue on nve
		fromTuns bool   // the NVE has a group of frames from tunnels
		// relayed copies when every flow matched one frame, per profile
		// (a replicator's relay flows; OVS adds one per tunnel source).
		relayedOVS, relayedStrict uint64
	}{
		// Head-end: hv1 copies to hv2 and hv3.
		{"replicate", scenario.TwoVNsThreeNVEs(), "hv1", 2, 1, true, 0, 0},
		// Replicator mode: hv1 sends one copy per replicator (hv4, hv5).
		{"replicator-ingress", scenario.Replicators(), "hv1", 2, 1, true, 0, 0},
		// A replicator copies a local frame to the other replicator and
		// its assigned NVEs (hv4: hv1, hv3 of hv1-hv3 by position); from a
		// tunnel it relays to both (2), and on OVS a frame from hv1 to hv3
		// only and from hv3 to hv1 only (1 + 1).
		{"replicator", scenario.Replicators(), "hv4", -1, 1, true, 4, 2},
	}
	for _, prof := range []pipeline.Profile{pipeline.OVS(), pipeline.Strict()} {
		for _, tc := range cases {
			t.Run(prof.Name+"/"+tc.name, func(t *testing.T) {
				snap := tc.d.Snapshot()
				res, err := compiler.Compile(tc.d.InputAt(snap, tc.nve), prof)
				if err != nil {
					t.Fatal(err)
				}
				want := tc.copies
				for _, st := range compiler.BUMStatus(snap, tc.nve, nil) {
					if st.VN == "blue" {
						if want >= 0 && st.Copies != want {
							t.Fatalf("BUMStatus copies %d, want %d", st.Copies, want)
						}
						want = st.Copies
					}
				}
				if want <= 0 {
					t.Fatalf("no BUM status of blue on %s", tc.nve)
				}
				ix := counters.NewBUMIndex(snap, tc.nve, res)
				vni := snap.VNs["blue"].VNI
				var flows []counters.Stat
				for _, f := range res.FlowList() {
					flows = append(flows, counters.Stat{Cookie: f.Cookie, Packets: 1, Bytes: 100})
				}
				got := ix.Attribute(groupStats(res, vni, 7, 3), flows)
				var b *counters.BUM
				for i := range got {
					if got[i].VN == "blue" {
						b = &got[i]
					}
				}
				if b == nil {
					t.Fatalf("no BUM counters of blue: %+v", got)
				}
				if b.CompiledCopies != want {
					t.Errorf("compiled copies %d, want %d (BUMStatus)", b.CompiledCopies, want)
				}
				if b.Frames != 7 || b.FramesFromTunnels != 3 {
					t.Errorf("frames %d from tunnels %d, want 7 and 3", b.Frames, b.FramesFromTunnels)
				}
				if b.UnderlayCopies != 7*uint64(want) {
					t.Errorf("underlay copies %d, want 7×%d", b.UnderlayCopies, want)
				}
				relayed := tc.relayedOVS
				if prof.Name == pipeline.Strict().Name {
					relayed = tc.relayedStrict
				}
				if b.RelayedCopies != relayed {
					t.Errorf("relayed copies %d, want %d", b.RelayedCopies, relayed)
				}
				if b.LocalCopies != (7+3)*tc.local {
					t.Errorf("local copies %d, want (7+3)×%d", b.LocalCopies, tc.local)
				}
			})
		}
	}
}

func TestBUMAttributionNoStats(t *testing.T) {
	d := scenario.TwoVNsThreeNVEs()
	snap := d.Snapshot()
	res, err := compiler.Compile(d.InputAt(snap, "hv1"), pipeline.OVS())
	if err != nil {
		t.Fatal(err)
	}
	got := counters.NewBUMIndex(snap, "hv1", res).Attribute(nil, nil)
	// Both VNs are bridged on hv1: a zero entry each, with the compiled
	// copies (blue: hv2, hv3; red: hv2).
	if len(got) != 2 || got[0].VN != "blue" || got[0].CompiledCopies != 2 || got[1].VN != "red" || got[1].CompiledCopies != 1 {
		t.Fatalf("got %+v", got)
	}
	if got[0].Frames != 0 || got[0].UnderlayCopies != 0 {
		t.Fatalf("counts without statistics: %+v", got[0])
	}
}
