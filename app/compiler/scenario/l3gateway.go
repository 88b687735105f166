package scenario

import (
	"maps"

	"github.com/nva-project/nva/app/model"
)

// Gateway adds an L3 gateway (its uplink interface gets an OpenFlow port
// on its NVE now; its conntrack zone is the store's lowest-free one).
func (d *Domain) Gateway(g model.L3Gateway) *Domain {
	g.Defaults()
	must(g.Validate())
	ofp, ok := d.ofports[g.NVE]
	if !ok {
		panic("scenario: unknown NVE " + g.NVE)
	}
	if _, ok := ofp[g.Uplink]; !ok {
		ofp[g.Uplink] = uint32(len(ofp) + 1)
	}
	if d.Gateways == nil {
		d.Gateways = map[string]*model.L3Gateway{}
	}
	if g.CTZone == 0 {
		g.CTZone = model.GatewayZoneFirst + uint16(len(d.Gateways))
	}
	g.Revision = d.bump()
	d.Gateways[g.Name] = &g
	return d
}

func (d *Domain) gatewaysCopy() map[string]*model.L3Gateway {
	if len(d.Gateways) == 0 {
		return nil
	}
	out := maps.Clone(d.Gateways)
	for k, g := range out {
		c := *g
		out[k] = &c
	}
	return out
}

// GatewaySNAT: TwoTenants (acme and beta, identical subnets, on hv1 and
// hv2) with a gateway per tenant on NVE gw (198.18.0.9, hosting no VN):
// uplinks up-acme and up-beta, external addresses 203.0.113.10 and
// 198.51.100.10, next hops .1; acme's aw (10.1.0.10) has floating IP
// 203.0.113.20.
func GatewaySNAT() *Domain {
	return TwoTenants().NVE("gw", "198.18.0.9").
		Gateway(model.L3Gateway{Name: "acme-gw", Tenant: "acme", L3Domain: "prod", NVE: "gw", Uplink: "up-acme",
			ExternalIP: "203.0.113.10/24", NextHop: "203.0.113.1", NextHopMAC: "02:ee:00:00:00:01",
			FloatingIPs: []model.FloatingIP{{ExternalIP: "203.0.113.20", InternalIP: "10.1.0.10"}}}).
		Gateway(model.L3Gateway{Name: "beta-gw", Tenant: "beta", L3Domain: "prod", NVE: "gw", Uplink: "up-beta",
			ExternalIP: "198.51.100.10/24", NextHop: "198.51.100.1", NextHopMAC: "02:ee:00:00:00:02"})
}
