package web

import (
	"testing"

	"github.com/nva-project/nva/web/wire"
)

// TestAccessLinksAPI: a tNVE declared over REST gets a VLAN per VN as its
// ports arrive; GET on the NVE, on /access-links and the topology show
// it; bad declarations are 4xx naming the field and change nothing.
func TestAccessLinksAPI(t *testing.T) {
	e := newEnv(t, nil)
	e.seed() // blue, hv1, hv2, p1 on blue/hv1
	e.must(201, "POST", "/api/v1/vns", `{"name":"red","vni":200}`)
	e.must(201, "POST", "/api/v1/nves", `{"name":"hv3","underlay_ips":["192.0.2.3"],"ovsdb":"unix:/run/ovs3.sock",
		"access_link":{"nnve":"hv2","uplink":"eth1","nnve_port":"p3","vlan_pool":"100-199"}}`)
	e.must(201, "POST", "/api/v1/ports", `{"name":"b3","vn":"blue","nve":"hv3","interface":"tap1","mac":"02:00:00:00:00:03"}`)
	e.must(201, "POST", "/api/v1/ports", `{"name":"r3","vn":"red","nve":"hv3","interface":"tap2","mac":"02:00:00:00:00:04",
		"vlan_mode":"passthrough","allowed_vlans":[20,10]}`)

	var nve wire.NVEView
	e.must(200, "GET", "/api/v1/nves/hv3", "").decode(t, &nve)
	if l := nve.AccessLink; l == nil || l.VLANs["blue"] != 100 || l.VLANs["red"] != 101 {
		t.Fatalf("GET nve: access link %+v", nve.AccessLink)
	}
	var list struct{ Items []wire.AccessLink }
	e.must(200, "GET", "/api/v1/access-links", "").decode(t, &list)
	if len(list.Items) != 1 || len(list.Items[0].VLANs) != 2 {
		t.Fatalf("access links: %+v", list.Items)
	}
	red := list.Items[0].VLANs[1]
	if red.VN != "red" || red.VNI != 200 || red.VLAN != 101 || !red.QinQ || len(red.Ports) != 1 {
		t.Errorf("red on the link: %+v", red)
	}
	var one wire.AccessLink
	e.must(200, "GET", "/api/v1/access-links/hv3", "").decode(t, &one)
	if one.NNVE != "hv2" || one.NNVEPort != "p3" || one.VLANPool != "100-199" {
		t.Errorf("GET access link: %+v", one)
	}
	e.must(404, "GET", "/api/v1/access-links/hv1", "")
	var topo wire.Topology
	e.must(200, "GET", "/api/v1/topology", "").decode(t, &topo)
	if len(topo.AccessLinks) != 1 || topo.AccessLinks[0].TNVE != "hv3" {
		t.Errorf("topology access links: %+v", topo.AccessLinks)
	}
	var port struct {
		VLANMode     string `json:"vlan_mode"`
		AllowedVLANs []int  `json:"allowed_vlans"`
	}
	e.must(200, "GET", "/api/v1/ports/r3", "").decode(t, &port)
	if port.VLANMode != "passthrough" || len(port.AllowedVLANs) != 2 || port.AllowedVLANs[0] != 10 {
		t.Errorf("port r3: %+v", port)
	}

	before := state(e.st)
	for _, c := range []struct {
		body  string
		field string
	}{
		{`{"name":"hv4","underlay_ips":["192.0.2.4"],"ovsdb":"unix:/run/o.sock","access_link":{"nnve":"nope","uplink":"eth1","nnve_port":"p1"}}`, "access_link.nnve"},
		{`{"name":"hv4","underlay_ips":["192.0.2.4"],"ovsdb":"unix:/run/o.sock","access_link":{"nnve":"hv2","uplink":"eth1","nnve_port":"p3"}}`, "access_link.nnve_port"},
		{`{"name":"hv4","underlay_ips":["192.0.2.4"],"ovsdb":"unix:/run/o.sock","access_link":{"nnve":"hv2","uplink":"eth1","nnve_port":"p4","vlan_pool":"5000"}}`, "access_link.vlan_pool"},
	} {
		r := e.do("POST", "/api/v1/nves", c.body)
		if r.status < 400 || r.status >= 500 || r.err().Field != c.field {
			t.Errorf("%s: status %d field %q, want 4xx on %s", c.body, r.status, r.err().Field, c.field)
		}
	}
	r := e.do("POST", "/api/v1/ports", `{"name":"x","vn":"blue","nve":"hv1","interface":"tap9","mac":"02:00:00:00:00:09","vlan_mode":"passthrough"}`)
	if r.status != 422 || r.err().Field != "allowed_vlans" {
		t.Errorf("passthrough without VLANs: %d %+v", r.status, r.err())
	}
	if !sameState(before, state(e.st)) {
		t.Error("rejected requests changed the store")
	}
}
