package web

import (
	"context"
	"strings"
	"testing"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/web/wire"
)

const gwBody = `{"name":"acme-gw","tenant":"acme","l3_domain":"prod","nve":"hv1","uplink":"eth-up","external_ip":"203.0.113.10/24","next_hop":"203.0.113.1","next_hop_mac":"02:ee:00:00:00:01","floating_ips":[{"external_ip":"203.0.113.20","internal_ip":"10.1.0.10"}]}`

// TestL3GatewayAPI: create, read, patch and delete an L3 gateway; bad
// fields are 422 naming each; a strict NVE is 422 naming nve; a second
// gateway of one domain and a used external address are 409; nothing
// changes on a refused write.
func TestL3GatewayAPI(t *testing.T) {
	e := newEnv(t, nil)
	e.must(201, "POST", "/api/v1/nves", `{"name":"hv1","underlay_ips":["198.18.0.1"],"ovsdb":"unix:/x"}`)
	e.must(201, "POST", "/api/v1/nves", `{"name":"tor1","kind":"openflow","underlay_ips":["198.18.0.2"],"datapath_id":"0000000000000099"}`)

	r := e.must(201, "POST", "/api/v1/l3gateways", gwBody)
	var g wire.L3Gateway
	r.decode(t, &g)
	if g.CTZone != model.GatewayZoneFirst || g.Revision == 0 || g.NextHopMAC != "02:ee:00:00:00:01" {
		t.Fatalf("created %+v", g)
	}
	e.must(200, "GET", "/api/v1/l3gateways/acme-gw", "")
	var list struct{ Items []wire.L3Gateway }
	e.must(200, "GET", "/api/v1/l3gateways?tenant=acme", "").decode(t, &list)
	if len(list.Items) != 1 {
		t.Fatalf("list: %+v", list)
	}
	e.must(200, "GET", "/api/v1/l3gateways?tenant=beta", "").decode(t, &list)
	if len(list.Items) != 0 {
		t.Fatalf("beta's list: %+v", list)
	}

	for _, c := range []struct {
		body   string
		status int
		fields []string
	}{
		{`{"name":"bad","l3_domain":"","nve":"","uplink":"","external_ip":"203.0.113.5","next_hop":"x","next_hop_mac":"nope"}`, 422,
			[]string{"l3_domain", "nve", "uplink", "external_ip", "next_hop", "next_hop_mac"}},
		{`{"name":"bad","l3_domain":"d","nve":"hv1","uplink":"u","external_ip":"203.0.113.5/24","next_hop":"192.0.2.1","next_hop_mac":"02:00:00:00:00:01","floating_ips":[{"external_ip":"203.0.113.5","internal_ip":"x"}]}`, 422,
			[]string{"next_hop", "floating_ips[0].external_ip", "floating_ips[0].internal_ip"}},
		{`{"name":"bad","l3_domain":"d","nve":"tor1","uplink":"u","external_ip":"203.0.113.5/24","next_hop":"203.0.113.1","next_hop_mac":"02:00:00:00:00:01"}`, 422, []string{"nve"}},
		{`{"name":"bad","l3_domain":"d","nve":"ghost","uplink":"u","external_ip":"203.0.113.5/24","next_hop":"203.0.113.1","next_hop_mac":"02:00:00:00:00:01"}`, 422, []string{"nve"}},
		{strings.Replace(strings.Replace(gwBody, `"acme-gw"`, `"second"`, 1), "203.0.113.10/24", "203.0.113.11/24", 1), 409, []string{"l3_domain"}},
		{strings.Replace(strings.Replace(strings.Replace(gwBody, `"acme-gw"`, `"other"`, 1), `"tenant":"acme"`, `"tenant":"beta"`, 1), `"eth-up"`, `"eth-b"`, 1), 409, []string{"external_ip"}},
		{strings.Replace(strings.Replace(strings.Replace(gwBody, `"acme-gw"`, `"other"`, 1), `"tenant":"acme"`, `"tenant":"beta"`, 1), "203.0.113.", "198.51.100.", -1), 409, []string{"uplink"}},
	} {
		before := state(e.st)
		r := e.do("POST", "/api/v1/l3gateways", c.body)
		if r.status != c.status {
			t.Errorf("%s: status %d, want %d: %s", c.body, r.status, c.status, r.body)
			continue
		}
		got := string(r.body)
		for _, f := range c.fields {
			if !strings.Contains(got, `"`+f+`"`) {
				t.Errorf("%s: error does not name %s: %s", c.body, f, got)
			}
		}
		if after := state(e.st); len(after) != len(before) {
			t.Errorf("%s: a refused write changed the state", c.body)
		}
	}
	if n := len(e.st.Snapshot().L3Gateways); n != 1 {
		t.Fatalf("%d gateways after refused writes", n)
	}

	e.must(200, "PATCH", "/api/v1/l3gateways/acme-gw", `{"next_hop_mac":"02:ee:00:00:00:09"}`)
	if g := e.st.Snapshot().L3Gateways["acme-gw"]; g.NextHopMAC != "02:ee:00:00:00:09" || g.CTZone != model.GatewayZoneFirst {
		t.Fatalf("patched %+v", g)
	}
	e.must(204, "DELETE", "/api/v1/l3gateways/acme-gw", "")
	e.must(404, "GET", "/api/v1/l3gateways/acme-gw", "")
}

// TestL3GatewayTenantScope: a tenant reads its own gateways only and may
// write none.
func TestL3GatewayTenantScope(t *testing.T) {
	e := newAuthEnv(t, nil)
	ctx := context.Background()
	for _, g := range []model.L3Gateway{
		{Name: "gw-a", Tenant: "acme", L3Domain: "prod", NVE: "hv1", Uplink: "up-a", ExternalIP: "203.0.113.10/24", NextHop: "203.0.113.1", NextHopMAC: "02:ee:00:00:00:01"},
		{Name: "gw-b", Tenant: "beta", L3Domain: "prod", NVE: "hv1", Uplink: "up-b", ExternalIP: "198.51.100.10/24", NextHop: "198.51.100.1", NextHopMAC: "02:ee:00:00:00:02"},
	} {
		if _, err := e.st.CreateL3Gateway(ctx, "", g); err != nil {
			t.Fatal(err)
		}
	}
	tenant := []string{"Authorization", "Bearer " + e.bearer["tenant"]}
	var list struct{ Items []wire.L3Gateway }
	e.must(200, "GET", "/api/v1/l3gateways", "", tenant...).decode(t, &list)
	if len(list.Items) != 1 || list.Items[0].Name != "gw-a" {
		t.Fatalf("tenant acme lists %+v", list.Items)
	}
	e.must(200, "GET", "/api/v1/l3gateways/gw-a", "", tenant...)
	e.must(404, "GET", "/api/v1/l3gateways/gw-b", "", tenant...)
	r := e.do("PATCH", "/api/v1/l3gateways/gw-a", `{"uplink":"x"}`, tenant...)
	if r.status != 403 || r.err().Field != "tenant" {
		t.Fatalf("tenant PATCH: %d %s", r.status, r.body)
	}
}
