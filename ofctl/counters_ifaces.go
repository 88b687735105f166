package ofctl

import (
	"context"

	"github.com/nva-project/nva/app/counters"
)

// interfaceCounters reads the switch's port statistics (one
// OFPMP_PORT_STATS round trip) and keeps nva's interfaces (ci.kinds,
// from the worker's last compile): the tunnel ports (flow-based per
// encapsulation, or per remote) and the VAP interfaces of the NVE's
// ports. Port statistics count every frame, flooded copies included,
// and the interface's own drops and errors, which the flow statistics
// cannot show (e.g. a tunnel port whose underlay drops what it sends).
func (s *Southbound) interfaceCounters(ctx context.Context, w *worker, ci *counterIndex) (map[string]counters.Iface, error) {
	stats, err := w.sw.PortStats(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]counters.Iface{}
	for _, st := range stats {
		k := ci.kinds[st.PortNo]
		if k == "" {
			continue
		}
		out[ci.names[st.PortNo]] = counters.Iface{Kind: k,
			Rx:        counters.Count{Packets: st.RxPackets, Bytes: st.RxBytes},
			Tx:        counters.Count{Packets: st.TxPackets, Bytes: st.TxBytes},
			RxDropped: st.RxDropped, TxDropped: st.TxDropped, RxErrors: st.RxErrors, TxErrors: st.TxErrors}
	}
	return out, nil
}
