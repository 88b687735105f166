package store

import (
	"bytes"
	"testing"

	"github.com/nva-project/nva/app/model"
)

// goldenGateway is the gateway of the command golden files.
var goldenGateway = model.L3Gateway{Name: "acme-gw", Tenant: "acme", L3Domain: "prod", NVE: "hv1", Uplink: "eth-up",
	ExternalIP: "203.0.113.10/24", NextHop: "203.0.113.1", NextHopMAC: "02:ee:00:00:00:01",
	FloatingIPs: []model.FloatingIP{{ExternalIP: "203.0.113.20", InternalIP: "10.1.0.10"}}, CTZone: 0xf000}

// TestFSML3Gateway: through the FSM, a gateway needs an ovs NVE on the OVS
// profile, gets the lowest free conntrack zone and keeps it on update,
// one per L3 domain, external addresses unique; delete frees the zone;
// the FSM's snapshot stream restores them and the model snapshot shows
// them.
func TestFSML3Gateway(t *testing.T) {
	f := newFSM(nil, DedupPolicy{})
	apply := func(c command) *result {
		t.Helper()
		if err := c.prepare(); err != nil {
			e, ok := model.AsError(err)
			if !ok {
				t.Fatalf("%T: %v", c, err)
			}
			return &result{Err: e}
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		f.applied++
		res, evs := c.apply(f.st, f.applied)
		for _, ev := range evs {
			f.views.changed(ev)
		}
		f.cache.Store(nil)
		return res
	}
	mustOK := func(c command) *result {
		t.Helper()
		r := apply(c)
		if r.Err != nil {
			t.Fatalf("%T: %v", c, r.Err)
		}
		return r
	}
	mustOK(&createNVE{Obj: model.NVE{Name: "hv1", UnderlayIPs: []string{"198.18.0.1"}, OVSDB: "unix:/x"}})
	mustOK(&createNVE{Obj: model.NVE{Name: "tor1", Kind: model.NVEOpenFlow, UnderlayIPs: []string{"198.18.0.2"}, DatapathID: "0000000000000099"}})
	mustOK(&createVN{Obj: model.VN{Name: "blue"}})
	mustOK(&createPort{Obj: model.Port{Name: "p1", VN: "blue", NVE: "hv1", Interface: "tap1", MAC: "02:00:00:00:00:01"}})
	gw := goldenGateway
	gw.CTZone = 0
	type gwCreate = createCmd[model.L3Gateway, l3GatewayKind]
	r := mustOK(&gwCreate{Obj: gw})
	if r.L3Gateway.CTZone != model.GatewayZoneFirst {
		t.Fatalf("zone %d", r.L3Gateway.CTZone)
	}
	// other is a valid gateway of another domain with other addresses.
	other := func(g *model.L3Gateway) {
		g.Name, g.Tenant, g.ExternalIP, g.NextHop, g.FloatingIPs = "x", "beta", "198.51.100.10/24", "198.51.100.1", nil
	}
	for name, c := range map[string]struct {
		g     func(g *model.L3Gateway)
		field string
	}{
		"strict NVE":     {func(g *model.L3Gateway) { other(g); g.NVE = "tor1" }, "nve"},
		"missing NVE":    {func(g *model.L3Gateway) { other(g); g.NVE = "ghost" }, "nve"},
		"second gateway": {func(g *model.L3Gateway) { other(g); g.Tenant = "acme" }, "l3_domain"},
		"used address":   {func(g *model.L3Gateway) { g.Name, g.Tenant, g.Uplink, g.FloatingIPs = "x", "beta", "eth-x", nil }, "external_ip"},
		"used floating": {func(g *model.L3Gateway) {
			g.Name, g.Tenant, g.Uplink, g.ExternalIP = "x", "beta", "eth-x", "203.0.113.11/24"
		}, "floating_ips[0].external_ip"},
		"zone given here":  {func(g *model.L3Gateway) { other(g); g.CTZone = 5 }, "ct_zone"},
		"same uplink":      {func(g *model.L3Gateway) { other(g) }, "uplink"},
		"port's interface": {func(g *model.L3Gateway) { other(g); g.Uplink = "tap1" }, "uplink"},
	} {
		g := gw
		g.FloatingIPs = append([]model.FloatingIP(nil), gw.FloatingIPs...)
		c.g(&g)
		res := apply(&gwCreate{Obj: g})
		if res.Err == nil || !bytes.Contains([]byte(res.Err.Error()+" "+res.Err.Field+gwFieldNames(res.Err)), []byte(c.field)) {
			t.Errorf("%s: %v, want an error naming %s", name, res.Err, c.field)
		}
	}
	if r := apply(&createPort{Obj: model.Port{Name: "p2", VN: "blue", NVE: "hv1", Interface: "eth-up", MAC: "02:00:00:00:00:02"}}); r.Err == nil || r.Err.Field != "interface" {
		t.Fatalf("a port on the uplink: %v", r.Err)
	}
	beta := gw
	other(&beta)
	beta.Name, beta.Uplink = "beta-gw", "eth-beta"
	if z := mustOK(&gwCreate{Obj: beta}).L3Gateway.CTZone; z != model.GatewayZoneFirst+1 {
		t.Fatalf("second zone %d", z)
	}
	upd := gw
	upd.Uplink = "eth-new"
	if z := mustOK(&updateCmd[model.L3Gateway, l3GatewayKind]{Obj: upd}).L3Gateway.CTZone; z != model.GatewayZoneFirst {
		t.Fatalf("update moved the zone to %d", z)
	}

	f.mu.RLock()
	snap := f.snapshotLocked()
	f.mu.RUnlock()
	if len(snap.L3Gateways) != 2 || snap.GatewayFor("acme/prod").Uplink != "eth-new" {
		t.Fatalf("snapshot gateways %v", snap.L3Gateways)
	}
	fs, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := fs.(*fsmSnapshot).write(&buf); err != nil {
		t.Fatal(err)
	}
	st, _, _, err := readSnapshot(&buf, DedupPolicy{})
	if err != nil {
		t.Fatal(err)
	}
	if got := st.gateways["acme-gw"]; got == nil || got.Uplink != "eth-new" || got.CTZone != model.GatewayZoneFirst || len(st.gateways) != 2 {
		t.Fatalf("restored %v", st.gateways)
	}

	mustOK(&deleteCmd[model.L3Gateway, l3GatewayKind]{Name: "acme-gw"})
	again := gw
	again.Name = "acme-gw2"
	if z := mustOK(&gwCreate{Obj: again}).L3Gateway.CTZone; z != model.GatewayZoneFirst {
		t.Fatalf("freed zone not reused: %d", z)
	}
}

func gwFieldNames(e *model.Error) string {
	var s string
	for _, f := range e.Fields {
		s += " " + f.Field
	}
	return s
}
