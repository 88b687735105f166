package counters_test

import (
	"testing"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/compiler/scenario"
	"github.com/nva-project/nva/app/counters"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/pipeline"
	"github.com/nva-project/nva/app/sim"
)

// TestPolicyAndTTLDrops: packets the inter-VN policy denies are counted
// as drops of the stage that denies them (l3_policy on OVS, neighbor on
// the strict profile); on OVS, expired TTLs (sent to the controller for
// the ICMP time-exceeded) as ttl_expired drops of l3_route.
func TestPolicyAndTTLDrops(t *testing.T) {
	for _, prof := range []pipeline.Profile{pipeline.OVS(), pipeline.Strict()} {
		t.Run(prof.Name, func(t *testing.T) {
			d := scenario.PolicyDomain()
			snap := d.Snapshot()
			in := d.InputAt(snap, "hv1")
			res, err := compiler.Compile(in, prof)
			if err != nil {
				t.Fatal(err)
			}
			sw, err := sim.New(prof, res.FlowList(), res.Groups)
			if err != nil {
				t.Fatal(err)
			}
			s := stats{}
			w1, gw := d.OFPort("hv1", "tap-w1"), model.GatewayMACText
			tcp := func(port uint16) sim.Packet {
				return sim.TCP4(w1, "02:00:00:00:04:01", gw, "10.1.0.11", "10.2.0.12", 40000, port)
			}
			s.run(t, sw, tcp(22), 3)  // denied by a rule
			s.run(t, sw, tcp(443), 2) // no rule
			s.run(t, sw, tcp(80).WithTTL(1), 4)
			c := counters.NewIndex(snap, "hv1", prof, res, nil).Attribute(s.list())
			stage := pipeline.L3Policy
			if !prof.Extensions {
				stage = pipeline.Neighbor
			}
			if got := c.Drops[stage].Packets; got != 5 {
				t.Errorf("%s drops %d, want 5: %+v", stage, got, c.Drops)
			}
			if prof.Extensions {
				if got := c.Drops[pipeline.L3Route].Packets; got != 4 {
					t.Errorf("l3_route (TTL) drops %d, want 4: %+v", got, c.Drops)
				}
				// The TTL flows punt for the ICMP time-exceeded: still drops.
				if got := c.DropReasons[counters.ReasonTTLExpired].Packets; got != 4 {
					t.Errorf("ttl_expired drops %d, want 4: %+v", got, c.DropReasons)
				}
			}
		})
	}
}
