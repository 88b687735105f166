package counters_test

import (
	"testing"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/compiler/scenario"
	"github.com/nva-project/nva/app/counters"
	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/pipeline"
	"github.com/nva-project/nva/app/sim"
)

// stats is a fake switch's flow statistics: the simulator runs packets
// through the compiled flows and every flow they match counts the packet
// (and 100 bytes).
type stats map[uint64]*counters.Stat

func (s stats) run(t *testing.T, sw *sim.Switch, p sim.Packet, n int) sim.Result {
	t.Helper()
	var r sim.Result
	for range n {
		r = sw.Run(p)
		if len(r.Errors) > 0 {
			t.Fatal(r.TraceText())
		}
		for _, st := range r.Steps {
			if st.Flow == nil {
				continue
			}
			c := s[st.Flow.Cookie]
			if c == nil {
				c = &counters.Stat{Cookie: st.Flow.Cookie}
				s[st.Flow.Cookie] = c
			}
			c.Packets++
			c.Bytes += 100
		}
	}
	return r
}

func (s stats) list() []counters.Stat {
	var out []counters.Stat
	for _, c := range s {
		out = append(out, *c)
	}
	return out
}

func TestAttribution(t *testing.T) {
	for _, prof := range []pipeline.Profile{pipeline.OVS(), pipeline.Strict()} {
		t.Run(prof.Name, func(t *testing.T) {
			d := scenario.TwoVNsThreeNVEs()
			snap := d.Snapshot()
			compile := func(nve string) (compiler.Result, *sim.Switch, map[uint32]string) {
				in := d.InputAt(snap, nve)
				res, err := compiler.Compile(in, prof)
				if err != nil {
					t.Fatal(err)
				}
				sw, err := sim.New(prof, res.FlowList(), res.Groups)
				if err != nil {
					t.Fatal(err)
				}
				tp := map[uint32]string{}
				for rt, no := range in.RemoteTunnels {
					tp[no] = rt.NVE
				}
				return res, sw, tp
			}
			res1, sw1, tp1 := compile("hv1")
			res2, sw2, tp2 := compile("hv2")
			s1, s2 := stats{}, stats{}
			b1 := d.OFPort("hv1", "tap-b1")
			good := sim.IPv4(b1, "02:00:00:00:01:01", "02:00:00:00:01:02", "10.0.0.1", "10.0.0.2")
			r := s1.run(t, sw1, good, 5)
			s1.run(t, sw1, good.With(flow.EthSrc, []byte{2, 0, 0, 0, 9, 9}), 2) // spoofed
			if len(r.Outputs) != 1 {
				t.Fatal(r.TraceText())
			}
			// hv2 receives the 5 through the tunnel from hv1.
			o := r.Outputs[0]
			tunPort := scenario.TunnelOFPort("vxlan")
			if !prof.FlowTunnels {
				tunPort = d.RemoteTunnelOFPort("hv1", "vxlan")
			}
			in := o.Packet.With(flow.Metadata, flow.U64(0)).With(flow.TunIPv4Dst, flow.U32(0)).FromTunnel(tunPort, 100, "198.18.0.1")
			s2.run(t, sw2, in, 5)

			c1 := counters.NewIndex(snap, "hv1", prof, res1, tp1).Attribute(s1.list())
			c2 := counters.NewIndex(snap, "hv2", prof, res2, tp2).Attribute(s2.list())
			if got := c1.Ports["b1"].Rx.Packets; got != 7 {
				t.Errorf("b1 rx %d, want 7 (5 good, 2 spoofed)", got)
			}
			if got := c1.VNs["blue"].FromPorts; got.Packets != 7 || got.Bytes != 700 {
				t.Errorf("blue from ports on hv1 %+v, want 7 packets", got)
			}
			if got := c1.Tunnels["hv2"].Tx.Packets; got != 5 {
				t.Errorf("tunnel hv1->hv2 tx %d, want 5", got)
			}
			if got := c1.Drops[pipeline.PortSecurity].Packets; got != 2 {
				t.Errorf("port security drops %d, want 2: %+v", got, c1.Drops)
			}
			if got := c2.Ports["b2"].Tx.Packets; got != 5 {
				t.Errorf("b2 tx %d, want 5", got)
			}
			if got := c2.Tunnels["hv1"].Rx.Packets; got != 5 {
				t.Errorf("tunnel hv2<-hv1 rx %d, want 5: %+v", got, c2.Tunnels)
			}
			if got := c2.VNs["blue"].FromTunnels.Packets; got != 5 {
				t.Errorf("blue from tunnels on hv2 %d, want 5", got)
			}
			if c1.Unattributed.Packets != 0 {
				t.Errorf("unattributed %+v", c1.Unattributed)
			}
			// A cookie the compile does not know is unattributed.
			c := counters.NewIndex(snap, "hv1", prof, res1, tp1).Attribute([]counters.Stat{{Cookie: flow.MakeCookie(9, 1), Packets: 3}})
			if c.Unattributed.Packets != 3 {
				t.Errorf("unknown cookie: %+v", c.Unattributed)
			}
			tot := counters.Sum([]counters.NVE{c1, c2})
			if tot.Tunnels["hv1->hv2"].Tx.Packets != 5 || tot.Tunnels["hv2->hv1"].Rx.Packets != 5 || tot.Ports["b2"].Tx.Packets != 5 {
				t.Errorf("sum %+v", tot)
			}
		})
	}
}

// Drop reasons come from the stage, except TTL expiry; a stage nva adds
// later (e.g. a policy stage) is counted under its own name.
func TestDropReason(t *testing.T) {
	ttl := flow.Flow{Table: "l3_route", Match: flow.M(flow.Exact(flow.EthType, flow.U16(flow.EthTypeIPv4)), flow.Exact(flow.IPTTL, flow.U8(1)))}
	plain := flow.Flow{Table: "t"}
	for _, c := range []struct {
		stages []string
		f      flow.Flow
		want   string
	}{
		{[]string{pipeline.PortSecurity}, plain, counters.ReasonSpoofed},
		{[]string{pipeline.L2Forward}, plain, counters.ReasonUnknownUnicast},
		{[]string{pipeline.L2Forward, pipeline.L3Route}, plain, counters.ReasonUnknownUnicast},
		{[]string{pipeline.Neighbor}, plain, counters.ReasonUnknownNeighbor},
		{[]string{pipeline.Classify}, plain, counters.ReasonUnknownIngress},
		{[]string{pipeline.L3Route}, ttl, counters.ReasonTTLExpired},
		{[]string{"policy"}, plain, "policy"},
		{nil, plain, "t"},
	} {
		if got := counters.DropReason(c.stages, &c.f); got != c.want {
			t.Errorf("%v %s: %q, want %q", c.stages, c.f.String(), got, c.want)
		}
	}
}
