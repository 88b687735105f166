package ofctl

import (
	"context"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/counters"
	"github.com/nva-project/nva/app/model"
)

// interfaceCounters reads the switch's port statistics (one
// OFPMP_PORT_STATS round trip) and keeps nva's interfaces: the tunnel
// ports (flow-based per encapsulation, or per remote) and the VAP
// interfaces of the NVE's ports. Port statistics count every frame,
// flooded copies included, and the interface's own drops and errors,
// which the flow statistics cannot show (e.g. a tunnel port whose
// underlay drops what it sends).
func (s *Southbound) interfaceCounters(ctx context.Context, w *worker, nve string, c *compiledNVE, snap *model.Snapshot) (map[string]counters.Iface, error) {
	stats, err := w.sw.PortStats(ctx)
	if err != nil {
		return nil, err
	}
	kinds := map[uint32]string{}
	names := map[uint32]string{}
	for _, e := range model.Encaps {
		name := compiler.TunnelPortName(e)
		if no, ok := c.ports.ports[name]; ok {
			kinds[no], names[no] = counters.IfaceTunnel, name
		}
	}
	for _, tp := range c.ports.tunnels {
		if tp.OFPort != 0 {
			kinds[tp.OFPort], names[tp.OFPort] = counters.IfaceTunnel, tp.Port
		}
	}
	for _, p := range snap.PortsOn(nve) {
		if no, ok := c.ports.ports[p.Interface]; ok && kinds[no] == "" {
			kinds[no], names[no] = counters.IfaceVAP, p.Interface
		}
	}
	out := map[string]counters.Iface{}
	for _, st := range stats {
		k := kinds[st.PortNo]
		if k == "" {
			continue
		}
		out[names[st.PortNo]] = counters.Iface{Kind: k,
			Rx:        counters.Count{Packets: st.RxPackets, Bytes: st.RxBytes},
			Tx:        counters.Count{Packets: st.TxPackets, Bytes: st.TxBytes},
			RxDropped: st.RxDropped, TxDropped: st.TxDropped, RxErrors: st.RxErrors, TxErrors: st.TxErrors}
	}
	return out, nil
}
