package web

import (
	"testing"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/web/wire"
)

type fakeTunnels struct {
	ts   []model.TunnelStatus
	vaps []model.VAPSignalStatus
	ok   bool
}

func (f fakeTunnels) TunnelLiveness() ([]model.TunnelStatus, []model.VAPSignalStatus, bool) {
	return f.ts, f.vaps, f.ok
}

// TestTunnelsAPI: GET /api/v1/tunnels lists the pairs and signalled VAPs,
// ?nve= keeps those from or to that NVE; without a reporter it is 501.
func TestTunnelsAPI(t *testing.T) {
	e := newEnv(t, nil)
	e.must(501, "GET", "/api/v1/tunnels", "")

	ft := fakeTunnels{ok: true,
		ts: []model.TunnelStatus{
			{NVE: "hv1", Remote: "hv2", Mode: model.MultipathFailover, State: model.PathDown, Fault: model.FaultUnderlay,
				Paths: []model.TunnelPathStatus{{Port: "nmxc61200020", State: model.PathDown, Diagnostic: "Control Detection Time Expired"}}},
			{NVE: "hv2", Remote: "hv3", Mode: model.MultipathFailover, State: model.PathUp},
		},
		vaps: []model.VAPSignalStatus{{Port: "p1", VN: "blue", NVE: "hv1", Down: true}},
	}
	e = newEnv(t, func(o *Options) { o.Tunnels = ft })
	var all wire.Tunnels
	e.must(200, "GET", "/api/v1/tunnels", "").decode(t, &all)
	if !all.Available || len(all.Items) != 2 || len(all.VAPs) != 1 || all.Items[0].Fault != model.FaultUnderlay ||
		all.Items[0].Paths[0].Diagnostic == "" {
		t.Fatalf("tunnels %+v", all)
	}
	var one wire.Tunnels
	e.must(200, "GET", "/api/v1/tunnels?nve=hv3", "").decode(t, &one)
	if len(one.Items) != 1 || one.Items[0].NVE != "hv2" || len(one.VAPs) != 0 {
		t.Fatalf("tunnels of hv3 %+v", one)
	}
}
