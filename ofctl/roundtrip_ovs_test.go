package ofctl

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"testing"

	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/pipeline"
	"github.com/nva-project/nva/internal/ovstest"
	"github.com/nva-project/nva/ofctl/codec"
	"github.com/nva-project/nva/ofctl/conn"
)

// connectedHandler hands over the switch a ServeConn announces.
type connectedHandler chan *conn.Switch

func (h connectedHandler) SwitchConnected(sw *conn.Switch)      { h <- sw }
func (connectedHandler) SwitchDisconnected(*conn.Switch, error) {}

// BenchmarkRealOVSRoundTrip measures how long a real Open vSwitch
// (userspace datapath, as in the lab and bench-ovn) takes to answer, as a
// function of the ports on its bridge: a barrier alone, a port attach's
// shape on a remote NVE (two flow adds and a barrier, written together as
// the southbound sends them; undone untimed), and on the port's own NVE
// (the same with the flood group modified: OpenFlow 1.3 has no
// insert-bucket, so the modify carries one bucket per port). No nva in the
// loop: one connection on the bridge's management socket. Every turn of
// ovs-vswitchd's main loop polls each port of a netdev bridge, so the
// answer takes longer the more ports the bridge has, whatever the
// controller sends: a bench whose ramp plugs M ports sees its switches
// slow down with M (README, "Scale and performance").
func BenchmarkRealOVSRoundTrip(b *testing.B) {
	for _, bc := range []struct {
		ports int
		kind  string
	}{{4, "veth"}, {70, "veth"}, {70, "internal"}} {
		ports := bc.ports
		b.Run(fmt.Sprintf("ports=%d/%s", ports, bc.kind), func(b *testing.B) {
			o := ovstest.Start(b, ovstest.Options{Prefix: "nvrt"})
			o.Vsctl("add-br", "br-int", "--", "set", "bridge", "br-int", "datapath_type=netdev", "fail_mode=secure", "protocols=OpenFlow13")
			for i := 1; i <= ports; i++ {
				a, z := fmt.Sprintf("rt%da", i), fmt.Sprintf("rt%dz", i)
				if bc.kind == "internal" {
					// A tap device the datapath reads with one read a
					// poll (nva-lab's -port-type internal).
					o.Vsctl("add-port", "br-int", a, "--", "set", "Interface", a, "type=internal")
					continue
				}
				o.Exec("ip", "link", "add", a, "type", "veth", "peer", "name", z)
				// No IPv6 on either end, as in the lab: no autoconf chatter.
				o.Exec("sysctl", "-qw", "net.ipv6.conf."+a+".disable_ipv6=1", "net.ipv6.conf."+z+".disable_ipv6=1")
				o.Exec("ip", "link", "set", a, "up")
				o.Exec("ip", "link", "set", z, "up")
				o.Vsctl("add-port", "br-int", a)
			}
			c, err := net.Dial("unix", filepath.Join(o.Dir(), "br-int.mgmt"))
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			h := make(connectedHandler, 1)
			go func() { _ = conn.ServeConn(ctx, c, h, conn.Options{}) }()
			sw := <-h
			prof := pipeline.OVS()
			enc := codec.New(codec.Options{AllowNicira: true})
			mods := func(cmd uint8) [][]byte {
				var msgs [][]byte
				for i := range 2 {
					f := flow.Flow{Table: pipeline.L2Forward, Priority: 100,
						Match:   flow.M(flow.Exact(flow.EthDst, []byte{2, 0, 0, 0, 0, byte(i + 1)})),
						Actions: []flow.Action{flow.Output{Port: 1}}}
					f.SetCookie(1)
					m, err := enc.AppendFlowMod(nil, f, prof.Number, cmd)
					if err != nil {
						b.Fatal(err)
					}
					msgs = append(msgs, m)
				}
				return msgs
			}
			b.Run("barrier", func(b *testing.B) {
				for range b.N {
					if err := sw.Barrier(ctx); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("two_flows", func(b *testing.B) {
				for range b.N {
					if err := sw.SendAllRawBarrier(ctx, mods(codec.FlowAdd)); err != nil {
						b.Fatal(err)
					}
					b.StopTimer()
					if err := sw.SendAllRawBarrier(ctx, mods(codec.FlowDeleteStrict)); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
			})
			// The local NVE's shape: the flows and its flood group
			// modified with one bucket per port (OpenFlow 1.3 has no
			// insert-bucket: a modify carries every bucket).
			group := func(n int) []byte {
				g := flow.GroupEntry{ID: 7, Type: flow.GroupAll}
				for i := 1; i <= n; i++ {
					g.Buckets = append(g.Buckets, flow.Bucket{WatchPort: flow.PortAny, Actions: []flow.Action{flow.Output{Port: uint32(i)}}})
				}
				m, err := enc.AppendGroupMod(nil, g, codec.GroupModify)
				if err != nil {
					b.Fatal(err)
				}
				return m
			}
			add, err := enc.AppendGroupMod(nil, flow.GroupEntry{ID: 7, Type: flow.GroupAll}, codec.GroupAdd)
			if err != nil {
				b.Fatal(err)
			}
			if err := sw.SendAllRawBarrier(ctx, [][]byte{add}); err != nil {
				b.Fatal(err)
			}
			for _, n := range []int{1, ports} {
				b.Run(fmt.Sprintf("two_flows_group_buckets=%d", n), func(b *testing.B) {
					for i := range b.N {
						msgs := append(mods(codec.FlowAdd), group(n-i%2))
						if err := sw.SendAllRawBarrier(ctx, msgs); err != nil {
							b.Fatal(err)
						}
						b.StopTimer()
						if err := sw.SendAllRawBarrier(ctx, mods(codec.FlowDeleteStrict)); err != nil {
							b.Fatal(err)
						}
						b.StartTimer()
					}
				})
			}
		})
	}
}
