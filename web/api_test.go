package web

import (
	"context"
	"errors"
	"fmt"
	"github.com/nva-project/nva/web/wire"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/pipeline"
	"github.com/nva-project/nva/store"
)

func TestVNLifecycle(t *testing.T) {
	e := newEnv(t, nil)
	r := e.must(201, "POST", "/api/v1/vns", `{"name":"blue","encap":"geneve","tenant":"acme"}`)
	if loc := r.header.Get("Location"); loc != "/api/v1/vns/blue" {
		t.Errorf("Location = %q", loc)
	}
	var vn model.VN
	r.decode(t, &vn)
	if vn.VNI == 0 || vn.Encap != model.EncapGENEVE || vn.Service != model.ServiceL2 || vn.BUM.Mode != model.BUMReplicate || vn.Revision == 0 {
		t.Errorf("created VN %+v: want allocated VNI, defaults and a revision", vn)
	}
	if got := r.header.Get(wire.RevisionHeader); got != fmt.Sprint(vn.Revision) {
		t.Errorf("%s = %q, want %d", wire.RevisionHeader, got, vn.Revision)
	}
	e.must(201, "POST", "/api/v1/vns", `{"name":"amber","vni":7}`)

	var got model.VN
	e.must(200, "GET", "/api/v1/vns/blue", "").decode(t, &got)
	if got.Name != "blue" || got.VNI != vn.VNI || got.Tenant != "acme" {
		t.Errorf("GET blue = %+v", got)
	}
	var l struct{ Items []model.VN }
	e.must(200, "GET", "/api/v1/vns", "").decode(t, &l)
	if len(l.Items) != 2 || l.Items[0].Name != "amber" || l.Items[1].Name != "blue" {
		t.Errorf("list = %+v, want amber, blue sorted", l.Items)
	}
	e.must(200, "GET", "/api/v1/vns?tenant=acme", "").decode(t, &l)
	if len(l.Items) != 1 || l.Items[0].Name != "blue" {
		t.Errorf("list ?tenant=acme = %+v", l.Items)
	}
	e.must(200, "GET", "/api/v1/vns?consistent=true", "").decode(t, &l)
	if len(l.Items) != 2 {
		t.Errorf("consistent list has %d items", len(l.Items))
	}

	var patched model.VN
	e.must(200, "PATCH", "/api/v1/vns/blue", `{"mtu":1450}`, "Content-Type", "application/merge-patch+json").decode(t, &patched)
	if patched.MTU != 1450 || patched.VNI != vn.VNI || patched.Encap != model.EncapGENEVE || patched.Tenant != "acme" || patched.Revision <= vn.Revision {
		t.Errorf("patched = %+v", patched)
	}

	d := e.must(204, "DELETE", "/api/v1/vns/blue", "")
	if d.header.Get(wire.RevisionHeader) == "" {
		t.Error("delete has no revision header")
	}
	e.must(404, "GET", "/api/v1/vns/blue", "")
	e.must(200, "GET", "/api/v1/vns", "").decode(t, &l)
	if len(l.Items) != 1 {
		t.Errorf("after delete list = %+v", l.Items)
	}
}

func TestEmptyListIsArray(t *testing.T) {
	e := newEnv(t, nil)
	for _, p := range []string{"vns", "nves", "ports"} {
		r := e.must(200, "GET", "/api/v1/"+p, "")
		if strings.TrimSpace(string(r.body)) != `{"items":[]}` {
			t.Errorf("empty %s list = %s", p, r.body)
		}
	}
}

func TestNVELifecycle(t *testing.T) {
	e := newEnv(t, nil)
	var n model.NVE
	r := e.must(201, "POST", "/api/v1/nves", `{"name":"hv1","underlay_ips":["192.0.2.1"],"ovsdb":"unix:/run/openvswitch/db.sock"}`)
	r.decode(t, &n)
	if n.DatapathID == "" || n.Bridge != "br-int" || n.DatapathType != "system" || n.Kind != model.NVEOVS {
		t.Errorf("created NVE %+v: want assigned datapath ID and defaults", n)
	}
	if r.header.Get("Location") != "/api/v1/nves/hv1" {
		t.Errorf("Location = %q", r.header.Get("Location"))
	}
	e.must(201, "POST", "/api/v1/nves", `{"name":"tor1","kind":"openflow","underlay_ips":["192.0.2.9"],"datapath_id":"00:00:00:00:00:00:00:2a"}`).decode(t, &n)
	if n.DatapathID != "000000000000002a" {
		t.Errorf("openflow datapath_id = %q", n.DatapathID)
	}
	var l struct{ Items []model.NVE }
	e.must(200, "GET", "/api/v1/nves?kind=openflow", "").decode(t, &l)
	if len(l.Items) != 1 || l.Items[0].Name != "tor1" {
		t.Errorf("?kind=openflow = %+v", l.Items)
	}
	var p model.NVE
	e.must(200, "PATCH", "/api/v1/nves/hv1", `{"datapath_type":"netdev","underlay_ips":["192.0.2.1","192.0.2.11"]}`).decode(t, &p)
	if p.DatapathType != "netdev" || len(p.UnderlayIPs) != 2 || p.OVSDB != "unix:/run/openvswitch/db.sock" {
		t.Errorf("patched NVE = %+v", p)
	}
	e.must(204, "DELETE", "/api/v1/nves/tor1", "")
	e.must(404, "GET", "/api/v1/nves/tor1", "")

	// The profile fields: stored, shown, merged by PATCH, removed with null.
	last := pipeline.OVS().Tables[len(pipeline.OVS().Tables)-1].Name
	e.must(201, "POST", "/api/v1/nves", `{"name":"hv2","underlay_ips":["192.0.2.2"],"ovsdb":"unix:/x","profile":"openflow13",`+
		`"tunnel_ports":{"192.0.2.1":"to-hv1"}}`).decode(t, &n)
	if n.Profile != model.ProfileStrict || n.TunnelPorts["192.0.2.1"] != "to-hv1" || n.TableIDs != nil {
		t.Errorf("created NVE %+v", n)
	}
	e.must(200, "PATCH", "/api/v1/nves/hv1", `{"table_ids":{"`+last+`":200}}`).decode(t, &p)
	if p.TableIDs[last] != 200 || p.Profile != "" {
		t.Errorf("patched table_ids: %+v", p)
	}
	var got map[string]any
	e.must(200, "GET", "/api/v1/nves/hv1", "").decode(t, &got)
	if ids, ok := got["table_ids"].(map[string]any); !ok || ids[last] != float64(200) {
		t.Errorf("GET shows table_ids %v", got["table_ids"])
	}
	var unpinned model.NVE
	e.must(200, "PATCH", "/api/v1/nves/hv1", `{"table_ids":{"`+last+`":null}}`).decode(t, &unpinned)
	if unpinned.TableIDs != nil {
		t.Errorf("table_ids after removing the only entry: %v", unpinned.TableIDs)
	}
}

func TestPortLifecycleAndFilters(t *testing.T) {
	e := newEnv(t, nil)
	e.seed()
	e.must(201, "POST", "/api/v1/vns", `{"name":"red","vni":200}`)
	var p model.Port
	r := e.must(201, "POST", "/api/v1/ports", `{"name":"p2","vn":"blue","nve":"hv2","interface":"veth2","mac":"02:00:00:00:00:02","ips":["10.0.0.2"]}`)
	r.decode(t, &p)
	if r.header.Get("Location") != "/api/v1/ports/p2" || p.Revision == 0 {
		t.Errorf("created port %+v, Location %q", p, r.header.Get("Location"))
	}
	// The same IP and MAC in another VN are fine.
	e.must(201, "POST", "/api/v1/ports", `{"name":"p3","vn":"red","nve":"hv1","interface":"veth3","mac":"02:00:00:00:00:01","ips":["10.0.0.1"],"vlan":30}`)

	names := func(q string) string {
		var l struct{ Items []model.Port }
		e.must(200, "GET", "/api/v1/ports"+q, "").decode(t, &l)
		var out []string
		for _, p := range l.Items {
			out = append(out, p.Name)
		}
		return strings.Join(out, ",")
	}
	for q, want := range map[string]string{
		"":                 "p1,p2,p3",
		"?vn=blue":         "p1,p2",
		"?nve=hv1":         "p1,p3",
		"?vn=blue&nve=hv1": "p1",
		"?vn=green":        "",
	} {
		if got := names(q); got != want {
			t.Errorf("ports%s = %q, want %q", q, got, want)
		}
	}
	var got model.Port
	e.must(200, "PATCH", "/api/v1/ports/p3", `{"ips":["10.0.0.3","2001:db8::3"],"vlan":null}`).decode(t, &got)
	if strings.Join(got.IPs, ",") != "10.0.0.3,2001:db8::3" || got.VLAN != 0 || got.MAC != "02:00:00:00:00:01" {
		t.Errorf("patched port = %+v", got)
	}
	e.must(204, "DELETE", "/api/v1/ports/p3", "")
	if got := names(""); got != "p1,p2" {
		t.Errorf("after delete ports = %q", got)
	}
}

func TestPatchSemantics(t *testing.T) {
	e := newEnv(t, nil)
	var vn model.VN
	e.must(201, "POST", "/api/v1/vns", `{"name":"blue","vni":100,"tenant":"acme","mtu":1400}`).decode(t, &vn)

	patch := func(body string) model.VN {
		t.Helper()
		var p model.VN // fresh: omitted members must not survive from an earlier decode
		e.must(200, "PATCH", "/api/v1/vns/blue", body).decode(t, &p)
		return p
	}
	// A nested object merges member by member.
	p := patch(`{"bum":{"mode":"multicast","group":"239.1.1.1"}}`)
	if p.BUM.Mode != model.BUMMulticast || p.BUM.Group != "239.1.1.1" || p.VNI != 100 || p.MTU != 1400 || p.Tenant != "acme" {
		t.Errorf("after bum patch: %+v", p)
	}
	p = patch(`{"bum":{"mode":"replicate","group":null}}`)
	if p.BUM.Mode != model.BUMReplicate || p.BUM.Group != "" || p.Tenant != "acme" {
		t.Errorf("after bum revert: %+v", p)
	}
	// null removes a member; the server default applies again.
	p = patch(`{"tenant":null,"mtu":null}`)
	if p.Tenant != "" || p.MTU != 0 || p.VNI != 100 {
		t.Errorf("after null patch: %+v", p)
	}
	// An empty patch changes nothing but is a valid write.
	p = patch(`{}`)
	if p.VNI != 100 || p.Encap != model.EncapVXLAN {
		t.Errorf("after empty patch: %+v", p)
	}
	// Naming the object itself is allowed; a client-sent revision is ignored.
	p = patch(`{"name":"blue","revision":1,"vni":101}`)
	if p.VNI != 101 || p.Revision <= vn.Revision {
		t.Errorf("after vni patch: %+v", p)
	}
	var stored model.VN
	e.must(200, "GET", "/api/v1/vns/blue", "").decode(t, &stored)
	if stored.VNI != 101 || stored.Revision != p.Revision {
		t.Errorf("stored = %+v, want the patched object", stored)
	}
}

func TestRequestIDEchoAndDedupe(t *testing.T) {
	e := newEnv(t, nil)
	r := e.must(200, "GET", "/api/v1/vns", "")
	if len(r.header.Get(wire.RequestIDHeader)) < 16 {
		t.Errorf("generated request ID %q", r.header.Get(wire.RequestIDHeader))
	}
	var a, b model.VN
	r1 := e.must(201, "POST", "/api/v1/vns", `{"name":"blue"}`, wire.RequestIDHeader, "retry-123")
	r1.decode(t, &a)
	if r1.header.Get(wire.RequestIDHeader) != "retry-123" {
		t.Errorf("echoed request ID %q", r1.header.Get(wire.RequestIDHeader))
	}
	// The retry (same ID) is answered with the first result, not 409.
	e.must(201, "POST", "/api/v1/vns", `{"name":"blue"}`, wire.RequestIDHeader, "retry-123").decode(t, &b)
	if a.VNI != b.VNI || a.Revision != b.Revision {
		t.Errorf("retry returned %+v, first %+v", b, a)
	}
	// A different ID is a new write and conflicts.
	e.must(409, "POST", "/api/v1/vns", `{"name":"blue"}`, wire.RequestIDHeader, "other-456")
	// Reusing an ID for a different request is refused, not silently answered.
	if r := e.must(409, "POST", "/api/v1/vns", `{"name":"green"}`, wire.RequestIDHeader, "retry-123"); !strings.Contains(r.err().Message, "request ID") {
		t.Errorf("reused request ID: %s", r.body)
	}
	if _, ok := e.st.Snapshot().VNs["green"]; ok {
		t.Error("green created under a reused request ID")
	}
	// A retried PATCH (same ID) is applied once: the same revision comes back.
	var p1, p2 model.VN
	e.must(200, "PATCH", "/api/v1/vns/blue", `{"mtu":1400}`, wire.RequestIDHeader, "patch-1").decode(t, &p1)
	e.must(200, "PATCH", "/api/v1/vns/blue", `{"mtu":1400}`, wire.RequestIDHeader, "patch-1").decode(t, &p2)
	if p1.Revision != p2.Revision || p2.MTU != 1400 {
		t.Errorf("retried patch: first %+v, retry %+v", p1, p2)
	}
	// A retried delete is applied once too.
	e.must(204, "DELETE", "/api/v1/vns/blue", "", wire.RequestIDHeader, "del-1")
	e.must(204, "DELETE", "/api/v1/vns/blue", "", wire.RequestIDHeader, "del-1")
	e.must(404, "DELETE", "/api/v1/vns/blue", "", wire.RequestIDHeader, "del-2")
	if n := len(e.st.Snapshot().VNs); n != 0 {
		t.Errorf("%d VNs left", n)
	}
	bad := e.must(400, "GET", "/api/v1/vns", "", wire.RequestIDHeader, "has space")
	if bad.err().Field != wire.RequestIDHeader {
		t.Errorf("bad request ID error = %+v", bad.err())
	}
}

// TestErrors covers every error class; each rejected write must leave the
// store unchanged.
func TestErrors(t *testing.T) {
	e := newEnv(t, nil)
	e.seed()
	big := `{"name":"big","tenant":"` + strings.Repeat("x", MaxBodyBytes) + `"}`
	cases := []struct {
		name               string
		method, path, body string
		hdr                []string
		status             int
		code, field        string
		blocking           string
	}{
		{"malformed json", "POST", "/api/v1/vns", `{"name":`, nil, 400, wire.CodeBadRequest, "", ""},
		{"syntax error", "POST", "/api/v1/vns", `{"name" "x"}`, nil, 400, wire.CodeBadRequest, "", ""},
		{"empty body", "POST", "/api/v1/vns", ``, []string{"Content-Type", "application/json"}, 400, wire.CodeBadRequest, "", ""},
		{"trailing data", "POST", "/api/v1/vns", `{"name":"x"} {"name":"y"}`, nil, 400, wire.CodeBadRequest, "", ""},
		{"unknown field", "POST", "/api/v1/vns", `{"name":"x","colour":"red"}`, nil, 400, wire.CodeBadRequest, "colour", ""},
		{"unknown nested field", "POST", "/api/v1/vns", `{"name":"x","bum":{"mode":"replicate","ttl":3}}`, nil, 400, wire.CodeBadRequest, "bum.ttl", ""},
		{"wrong type", "POST", "/api/v1/vns", `{"name":"x","vni":"ten"}`, nil, 400, wire.CodeBadRequest, "vni", ""},
		{"negative vni", "POST", "/api/v1/vns", `{"name":"x","vni":-1}`, nil, 400, wire.CodeBadRequest, "vni", ""},
		{"patch unknown field", "PATCH", "/api/v1/vns/blue", `{"colour":"red"}`, nil, 400, wire.CodeBadRequest, "colour", ""},
		{"patch null unknown field", "PATCH", "/api/v1/vns/blue", `{"colour":null}`, nil, 400, wire.CodeBadRequest, "colour", ""},
		{"patch not an object", "PATCH", "/api/v1/vns/blue", `[1,2]`, nil, 400, wire.CodeBadRequest, "", ""},
		{"patch malformed", "PATCH", "/api/v1/vns/blue", `{`, nil, 400, wire.CodeBadRequest, "", ""},
		{"bad wait", "POST", "/api/v1/vns?wait=forever", `{"name":"x"}`, nil, 400, wire.CodeBadRequest, "wait", ""},
		{"bad timeout", "POST", "/api/v1/vns?wait=realized&timeout=soon", `{"name":"x"}`, nil, 400, wire.CodeBadRequest, "timeout", ""},
		{"huge timeout", "POST", "/api/v1/vns?wait=realized&timeout=24h", `{"name":"x"}`, nil, 400, wire.CodeBadRequest, "timeout", ""},
		{"array body", "POST", "/api/v1/vns", `[{"name":"x"}]`, nil, 400, wire.CodeBadRequest, "", ""},
		{"bad consistent", "GET", "/api/v1/vns?consistent=maybe", ``, nil, 400, wire.CodeBadRequest, "consistent", ""},
		{"join unknown field", "POST", "/api/v1/cluster/join", `{"id":"n2","raft_addr":"127.0.0.1:1","x":1}`, nil, 400, wire.CodeBadRequest, "x", ""},

		{"get missing vn", "GET", "/api/v1/vns/green", ``, nil, 404, wire.CodeNotFound, "", ""},
		{"get missing nve", "GET", "/api/v1/nves/hv9", ``, nil, 404, wire.CodeNotFound, "", ""},
		{"get missing port", "GET", "/api/v1/ports/p9", ``, nil, 404, wire.CodeNotFound, "", ""},
		{"patch missing vn", "PATCH", "/api/v1/vns/green", `{"mtu":1400}`, nil, 404, wire.CodeNotFound, "", ""},
		{"patch missing port", "PATCH", "/api/v1/ports/p9", `{"vlan":3}`, nil, 404, wire.CodeNotFound, "", ""},
		{"delete missing vn", "DELETE", "/api/v1/vns/green", ``, nil, 404, wire.CodeNotFound, "", ""},
		{"delete missing nve", "DELETE", "/api/v1/nves/hv9", ``, nil, 404, wire.CodeNotFound, "", ""},
		{"delete missing port", "DELETE", "/api/v1/ports/p9", ``, nil, 404, wire.CodeNotFound, "", ""},
		{"flows of missing nve", "GET", "/api/v1/nves/hv9/flows", ``, nil, 404, wire.CodeNotFound, "", ""},
		{"no such endpoint", "GET", "/api/v1/widgets", ``, nil, 404, wire.CodeNotFound, "", ""},
		{"method not allowed", "PUT", "/api/v1/vns/blue", `{"name":"blue"}`, nil, 405, wire.CodeMethodNotAllowed, "", ""},

		{"duplicate vn name", "POST", "/api/v1/vns", `{"name":"blue","vni":300}`, nil, 409, wire.CodeConflict, "name", ""},
		{"duplicate vni", "POST", "/api/v1/vns", `{"name":"green","vni":100}`, nil, 409, wire.CodeConflict, "vni", "blue"},
		{"duplicate nve name", "POST", "/api/v1/nves", `{"name":"hv1","underlay_ips":["192.0.2.7"],"ovsdb":"unix:/x"}`, nil, 409, wire.CodeConflict, "name", ""},
		{"duplicate port name", "POST", "/api/v1/ports", `{"name":"p1","vn":"blue","nve":"hv2","interface":"v9","mac":"02:00:00:00:00:09"}`, nil, 409, wire.CodeConflict, "name", ""},
		{"duplicate mac in vn", "POST", "/api/v1/ports", `{"name":"p9","vn":"blue","nve":"hv2","interface":"v9","mac":"02:00:00:00:00:01"}`, nil, 409, wire.CodeConflict, "mac", "p1"},
		{"duplicate ip in vn", "POST", "/api/v1/ports", `{"name":"p9","vn":"blue","nve":"hv2","interface":"v9","mac":"02:00:00:00:00:09","ips":["10.0.0.1"]}`, nil, 409, wire.CodeConflict, "ips[0]", "p1"},
		{"patch to duplicate vni", "PATCH", "/api/v1/vns/blue", `{"vni":100}`, nil, 0, "", "", ""}, // placeholder replaced below
		{"delete vn with ports", "DELETE", "/api/v1/vns/blue", ``, nil, 409, wire.CodeConflict, "", "p1"},
		{"delete nve with ports", "DELETE", "/api/v1/nves/hv1", ``, nil, 409, wire.CodeConflict, "", "p1"},

		{"body too large", "POST", "/api/v1/vns", big, nil, 413, wire.CodeTooLarge, "", ""},
		{"patch body too large", "PATCH", "/api/v1/vns/blue", big, nil, 413, wire.CodeTooLarge, "", ""},
		{"form content type", "POST", "/api/v1/vns", `name=x`, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, wire.CodeUnsupportedMedia, "", ""},
		{"text content type", "PATCH", "/api/v1/vns/blue", `{"mtu":1400}`, []string{"Content-Type", "text/plain"}, 415, wire.CodeUnsupportedMedia, "", ""},
		{"join xml", "POST", "/api/v1/cluster/join", `<x/>`, []string{"Content-Type", "application/xml"}, 415, wire.CodeUnsupportedMedia, "", ""},

		{"vni out of range", "POST", "/api/v1/vns", `{"name":"x","vni":16777216}`, nil, 422, wire.CodeInvalid, "vni", ""},
		{"bad encap", "POST", "/api/v1/vns", `{"name":"x","encap":"mpls"}`, nil, 422, wire.CodeInvalid, "encap", ""},
		{"bad name", "POST", "/api/v1/vns", `{"name":"-x"}`, nil, 422, wire.CodeInvalid, "name", ""},
		{"missing name", "POST", "/api/v1/vns", `{}`, nil, 422, wire.CodeInvalid, "name", ""},
		{"multicast without group", "POST", "/api/v1/vns", `{"name":"x","bum":{"mode":"multicast"}}`, nil, 422, wire.CodeInvalid, "bum.group", ""},
		{"nve without ovsdb", "POST", "/api/v1/nves", `{"name":"hv3","underlay_ips":["192.0.2.3"]}`, nil, 422, wire.CodeInvalid, "ovsdb", ""},
		{"nve bad underlay", "POST", "/api/v1/nves", `{"name":"hv3","underlay_ips":["nope"],"ovsdb":"unix:/x"}`, nil, 422, wire.CodeInvalid, "underlay_ips[0]", ""},
		{"nve unknown profile", "POST", "/api/v1/nves", `{"name":"hv3","underlay_ips":["192.0.2.3"],"ovsdb":"unix:/x","profile":"p4"}`, nil, 422, wire.CodeInvalid, "profile", ""},
		{"nve unknown table", "POST", "/api/v1/nves", `{"name":"hv3","underlay_ips":["192.0.2.3"],"ovsdb":"unix:/x","table_ids":{"no_such_table":3}}`, nil, 422, wire.CodeInvalid, "table_ids", ""},
		{"nve table OFPTT_ALL", "POST", "/api/v1/nves", `{"name":"hv3","underlay_ips":["192.0.2.3"],"ovsdb":"unix:/x","table_ids":{"x":255}}`, nil, 422, wire.CodeInvalid, "table_ids.x", ""},
		{"nve tunnel ports with flow tunnels", "POST", "/api/v1/nves", `{"name":"hv3","underlay_ips":["192.0.2.3"],"ovsdb":"unix:/x","tunnel_ports":{"192.0.2.1":"t1"}}`, nil, 422, wire.CodeInvalid, "tunnel_ports", ""},
		{"nve bad tunnel port key", "POST", "/api/v1/nves", `{"name":"hv3","kind":"openflow","datapath_id":"7","underlay_ips":["192.0.2.3"],"tunnel_ports":{"hv1":"t1"}}`, nil, 422, wire.CodeInvalid, "tunnel_ports.hv1", ""},
		{"port bad mac", "POST", "/api/v1/ports", `{"name":"p9","vn":"blue","nve":"hv1","interface":"v9","mac":"01:00:5e:00:00:01"}`, nil, 422, wire.CodeInvalid, "mac", ""},
		{"port unknown vn", "POST", "/api/v1/ports", `{"name":"p9","vn":"green","nve":"hv1","interface":"v9","mac":"02:00:00:00:00:09"}`, nil, 422, wire.CodeReference, "vn", ""},
		{"port unknown nve", "POST", "/api/v1/ports", `{"name":"p9","vn":"blue","nve":"hv9","interface":"v9","mac":"02:00:00:00:00:09"}`, nil, 422, wire.CodeReference, "nve", ""},
		{"patch port to unknown vn", "PATCH", "/api/v1/ports/p1", `{"vn":"green"}`, nil, 422, wire.CodeReference, "vn", ""},
		{"patch renames", "PATCH", "/api/v1/vns/blue", `{"name":"navy"}`, nil, 422, wire.CodeInvalid, "name", ""},
		{"patch invalid mtu", "PATCH", "/api/v1/vns/blue", `{"mtu":12}`, nil, 422, wire.CodeInvalid, "mtu", ""},
		{"join invalid", "POST", "/api/v1/cluster/join", `{"id":"","raft_addr":"nowhere"}`, nil, 422, wire.CodeInvalid, "id", ""},
		{"join bad openflow addr", "POST", "/api/v1/cluster/join", `{"id":"n2","raft_addr":"127.0.0.1:1","openflow_addr":"bogus::"}`, nil, 422, wire.CodeInvalid, "openflow_addr", ""},
	}
	// A second VN lets a patch collide on VNI.
	e.must(201, "POST", "/api/v1/vns", `{"name":"red","vni":200}`)
	for i := range cases {
		if cases[i].name == "patch to duplicate vni" {
			cases[i].path, cases[i].body, cases[i].status, cases[i].code, cases[i].field, cases[i].blocking =
				"/api/v1/vns/red", `{"vni":100}`, 409, wire.CodeConflict, "vni", "blue"
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := state(e.st)
			r := e.do(c.method, c.path, c.body, c.hdr...)
			if r.status != c.status {
				t.Fatalf("status %d, want %d; body %s", r.status, c.status, r.body)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			ae := r.err()
			if ae.Code != c.code || ae.Message == "" {
				t.Errorf("error %+v, want code %q and a message", ae, c.code)
			}
			if c.field != "" && ae.Field != c.field {
				t.Errorf("field %q, want %q (error %+v)", ae.Field, c.field, ae)
			}
			if c.blocking != "" && !contains(ae.Blocking, c.blocking) && !strings.Contains(ae.Message, `"`+c.blocking+`"`) {
				t.Errorf("error %+v does not name %q (in blocking or the message)", ae, c.blocking)
			}
			if strings.HasPrefix(c.name, "delete") && c.status == 409 && !contains(ae.Blocking, c.blocking) {
				t.Errorf("blocking %v, want it to list %q", ae.Blocking, c.blocking)
			}
			if after := state(e.st); !sameState(before, after) {
				t.Errorf("rejected request changed the store:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func TestValidationListsEveryField(t *testing.T) {
	e := newEnv(t, nil)
	r := e.must(422, "POST", "/api/v1/vns", `{"name":"x","vni":16777216,"encap":"mpls","mtu":1}`)
	ae := r.err()
	var fields []string
	for _, f := range ae.Fields {
		fields = append(fields, f.Field)
	}
	if got := strings.Join(fields, ","); got != "vni,encap,mtu" || ae.Field != "vni" {
		t.Errorf("fields = %q (field %q), want vni,encap,mtu", got, ae.Field)
	}
}

// failing wraps the real store and fails writes and consistent reads with
// a chosen error, as a store without quorum or a slow one would.
type failing struct {
	*store.Store
	err error
}

func (f failing) ConsistentSnapshot(ctx context.Context) (*model.Snapshot, error) { return nil, f.err }
func (f failing) CreateVN(ctx context.Context, id string, v model.VN) (*model.VN, error) {
	return nil, f.err
}
func (f failing) DeleteVN(ctx context.Context, id, name string) (uint64, error) { return 0, f.err }
func (f failing) Cluster(ctx context.Context) (store.ClusterInfo, error) {
	return store.ClusterInfo{}, f.err
}

func TestUnavailable(t *testing.T) {
	st := openStore(t, "n1")
	noLeader := newEnvWith(t, st, failing{st, fmt.Errorf("apply: %w", store.ErrNoLeader)}, nil)
	noLeader.seed2(st)
	before := state(st)
	for _, req := range [][3]string{
		{"POST", "/api/v1/vns", `{"name":"green"}`},
		{"DELETE", "/api/v1/vns/blue", ``},
		{"PATCH", "/api/v1/vns/blue", `{"mtu":1400}`},
		{"GET", "/api/v1/vns?consistent=true", ``},
		{"GET", "/api/v1/cluster", ``},
	} {
		r := noLeader.do(req[0], req[1], req[2])
		if r.status != 503 || r.err().Code != wire.CodeNoLeader || r.header.Get("Retry-After") == "" {
			t.Errorf("%s %s: %d %s (Retry-After %q), want 503 no_leader with Retry-After", req[0], req[1], r.status, r.body, r.header.Get("Retry-After"))
		}
	}
	h := noLeader.do("GET", "/api/v1/health", "")
	var hb wire.Health
	h.decode(t, &hb)
	if h.status != 503 || hb.LeaderKnown || hb.Status != "no_leader" || h.header.Get("Retry-After") == "" {
		t.Errorf("health without leader: %d %s", h.status, h.body)
	}
	// Local reads still work without a leader.
	noLeader.must(200, "GET", "/api/v1/vns/blue", "")

	slow := newEnvWith(t, st, failing{st, fmt.Errorf("apply: %w", context.DeadlineExceeded)}, nil)
	r := slow.do("POST", "/api/v1/vns", `{"name":"green"}`)
	if r.status != 504 || r.err().Code != wire.CodeTimeout {
		t.Errorf("timeout: %d %s, want 504 timeout", r.status, r.body)
	}
	if !sameState(before, state(st)) {
		t.Error("failed writes changed the store")
	}
}

// seed2 puts VN blue straight into the store behind a failing backend.
func (e *testEnv) seed2(st *store.Store) {
	if _, err := st.CreateVN(context.Background(), "", model.VN{Name: "blue", VNI: 100}); err != nil {
		e.t.Fatal(err)
	}
}

// TestNoQuorum uses a real store that lost its quorum: a second node
// joins, is promoted to voter once caught up, and stops, so the leader
// steps down and writes fail with 503. (A node that never answers is
// never promoted: it cannot take the quorum away.)
func TestNoQuorum(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a raft leader to step down")
	}
	st, err := store.Open(context.Background(), store.Config{NodeID: "n1", InMemory: true, Bootstrap: true,
		RaftAddr: "127.0.0.1:0", ApplyTimeout: 1500 * 1e6})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := newEnvWith(t, st, st, nil)
	waitFor(t, func() bool { return st.IsLeader() })
	e.must(201, "POST", "/api/v1/vns", `{"name":"blue"}`)
	n2, err := store.Open(context.Background(), store.Config{NodeID: "n2", InMemory: true, RaftAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	e.must(200, "POST", "/api/v1/cluster/join", fmt.Sprintf(`{"id":"n2","raft_addr":%q}`, n2.RaftAddr()))
	waitFor(t, func() bool {
		ci, err := st.Cluster(context.Background())
		return err == nil && len(ci.Nodes) == 2 && ci.Nodes[0].Voter && ci.Nodes[1].Voter
	})
	// Two voters need both for a quorum.
	n2.Close()
	waitFor(t, func() bool { return !st.IsLeader() })
	before := state(st)
	r := e.do("POST", "/api/v1/vns", `{"name":"green"}`)
	if r.status != 503 || r.err().Code != wire.CodeNoLeader || r.header.Get("Retry-After") == "" {
		t.Fatalf("write without quorum: %d %s", r.status, r.body)
	}
	if !sameState(before, state(st)) {
		t.Error("rejected write changed the store")
	}
	if h := e.do("GET", "/api/v1/health", ""); h.status != 503 {
		t.Errorf("health without quorum: %d %s", h.status, h.body)
	}
}

// fakeRealizer records the waits; the NVEs in laggards never realize
// anything (stuck), and a wait naming any of them times out naming those
// (the others are never waited for, as in ofctl.WaitRealizedFor).
type fakeRealizer struct {
	mu       sync.Mutex
	indexes  []uint64
	nves     [][]string
	laggards []string
}

func (f *fakeRealizer) WaitRealizedFor(ctx context.Context, index uint64, nves []string) ([]string, error) {
	f.mu.Lock()
	f.indexes = append(f.indexes, index)
	f.nves = append(f.nves, nves)
	var lag []string
	for _, n := range nves {
		if slices.Contains(f.laggards, n) {
			lag = append(lag, n)
		}
	}
	f.mu.Unlock()
	if len(lag) == 0 {
		return nil, nil
	}
	<-ctx.Done()
	return lag, ctx.Err()
}

func TestWaitRealized(t *testing.T) {
	// Without a Realizer, wait=realized returns right after the commit.
	plain := newEnv(t, nil)
	plain.must(201, "POST", "/api/v1/vns?wait=realized", `{"name":"blue"}`)

	fr := &fakeRealizer{}
	e := newEnv(t, func(o *Options) { o.Realizer = fr })
	var vn model.VN
	r := e.must(201, "POST", "/api/v1/vns?wait=realized", `{"name":"blue"}`)
	r.decode(t, &vn)
	if h, ok := r.header[wire.RealizedNVEsHeader]; ok {
		t.Fatalf("a VN no NVE hosts affects none: %s = %q", wire.RealizedNVEsHeader, h)
	}
	e.must(201, "POST", "/api/v1/vns", `{"name":"red"}`) // no wait: not asked
	fr.mu.Lock()
	got := append([]uint64(nil), fr.indexes...)
	fr.mu.Unlock()
	if len(got) != 1 || got[0] != vn.Revision {
		t.Fatalf("WaitRealized called with %v, want [%d]", got, vn.Revision)
	}
	for _, n := range []string{"hv1", "hv2", "hv3"} {
		e.must(201, "POST", "/api/v1/nves", `{"name":"`+n+`","underlay_ips":["192.0.2.`+n[2:]+`"],"ovsdb":"unix:/x"}`)
	}
	e.must(201, "POST", "/api/v1/ports", `{"name":"p2","vn":"blue","nve":"hv2","interface":"veth2","mac":"02:00:00:00:00:02"}`)
	e.must(201, "POST", "/api/v1/ports", `{"name":"p3","vn":"blue","nve":"hv3","interface":"veth3","mac":"02:00:00:00:00:03"}`)
	fr.mu.Lock()
	fr.laggards = []string{"hv2", "hv3"}
	fr.mu.Unlock()
	r = e.do("PATCH", "/api/v1/vns/blue?wait=realized&timeout=50ms", `{"mtu":1400}`)
	ae := r.err()
	if r.status != 504 || ae.Code != wire.CodeNotRealized || strings.Join(ae.Laggards, ",") != "hv2,hv3" || r.header.Get(wire.RealizedNVEsHeader) != "hv2,hv3" {
		t.Fatalf("not realized: %d %s %v", r.status, r.body, r.header)
	}
	// The write itself was committed.
	var stored model.VN
	e.must(200, "GET", "/api/v1/vns/blue", "").decode(t, &stored)
	if stored.MTU != 1400 || r.header.Get(wire.RevisionHeader) != fmt.Sprint(stored.Revision) {
		t.Errorf("after unrealized patch: stored %+v, revision header %q", stored, r.header.Get(wire.RevisionHeader))
	}
	r = e.do("DELETE", "/api/v1/ports/p3?wait=realized&timeout=0.05", "")
	if r.status != 504 || r.err().Code != wire.CodeNotRealized {
		t.Errorf("delete not realized: %d %s", r.status, r.body)
	}
	// hv1 hosts nothing of red: stuck hv2 and hv3 do not hold up its
	// deletion.
	e.must(204, "DELETE", "/api/v1/vns/red?wait=realized&timeout=0.05", "")
}

// TestWaitRealizedAffectedNVEs: ?wait=realized waits only for the NVEs the
// write affects — an attach into a VN: its NVE and the NVEs hosting the VN;
// a port moved: both NVEs; an NVE changed: itself and the NVEs sharing a
// VN with it — reports them in X-Realized-NVEs, and is not held up by a
// stuck NVE outside them; a stuck NVE among them holds it up until the
// timeout, which names it.
func TestWaitRealizedAffectedNVEs(t *testing.T) {
	fr := &fakeRealizer{laggards: []string{"far"}}
	e := newEnv(t, func(o *Options) { o.Realizer = fr })
	e.must(201, "POST", "/api/v1/vns", `{"name":"blue"}`)
	e.must(201, "POST", "/api/v1/vns", `{"name":"red"}`)
	for i, n := range []string{"hv1", "hv2", "hv3", "hv4", "far"} {
		e.must(201, "POST", "/api/v1/nves", fmt.Sprintf(`{"name":%q,"underlay_ips":["192.0.2.%d"],"ovsdb":"unix:/x"}`, n, i+1))
	}
	port := func(name, vn, nve string, mac int) string {
		return fmt.Sprintf(`{"name":%q,"vn":%q,"nve":%q,"interface":"t-%s","mac":"02:00:00:00:00:%02x"}`, name, vn, nve, name, mac)
	}
	e.must(201, "POST", "/api/v1/ports", port("b1", "blue", "hv1", 1))
	e.must(201, "POST", "/api/v1/ports", port("b2", "blue", "hv2", 2))
	e.must(201, "POST", "/api/v1/ports", port("r1", "red", "far", 3))
	e.must(201, "POST", "/api/v1/ports", port("r2", "red", "hv4", 4))

	waited := func(r resp, want string) {
		t.Helper()
		if got := r.header.Get(wire.RealizedNVEsHeader); got != want {
			t.Fatalf("%s = %q, want %q (%d %s)", wire.RealizedNVEsHeader, got, want, r.status, r.body)
		}
		fr.mu.Lock()
		last := fr.nves[len(fr.nves)-1]
		fr.mu.Unlock()
		if strings.Join(last, ",") != want {
			t.Fatalf("waited for %v, want %s", last, want)
		}
	}
	// An attach into blue on hv3: hv3 and blue's hosts; far (stuck,
	// only in red) is not waited for.
	waited(e.must(201, "POST", "/api/v1/ports?wait=realized&timeout=5s", port("b3", "blue", "hv3", 5)), "hv1,hv2,hv3")
	// b3 moves to hv4: the NVE it leaves, the one it joins, blue's hosts.
	waited(e.must(200, "PATCH", "/api/v1/ports/b3?wait=realized&timeout=5s", `{"nve":"hv4","interface":"t-b3b"}`), "hv1,hv2,hv3,hv4")
	// hv1's underlay changes: hv1 and its peers in blue.
	waited(e.must(200, "PATCH", "/api/v1/nves/hv1?wait=realized&timeout=5s", `{"underlay_ips":["192.0.2.101"]}`), "hv1,hv2,hv4")
	// A batch: the union of its items.
	waited(e.must(200, "POST", "/api/v1/batch?wait=realized&timeout=5s", batchBody(t,
		wire.BatchItem{Op: "delete", Kind: "port", Name: "b2"},
		wire.BatchItem{Op: "create", Kind: "vn", Object: obj(`{"name":"green"}`)},
		wire.BatchItem{Op: "create", Kind: "port", Object: obj(port("g1", "green", "hv3", 6))},
	)), "hv1,hv2,hv3,hv4")

	// far is related to a change in red: the wait times out naming it,
	// and only it (hv4, in red too, is not stuck).
	r := e.do("POST", "/api/v1/ports?wait=realized&timeout=50ms", port("r3", "red", "hv2", 7))
	if ae := r.err(); r.status != 504 || ae.Code != wire.CodeNotRealized || strings.Join(ae.Laggards, ",") != "far" {
		t.Fatalf("attach into red with far stuck: %d %s", r.status, r.body)
	}
	waited(r, "far,hv2,hv4")
	if _, ok := e.st.Snapshot().Ports.Lookup("r3"); !ok {
		t.Fatal("the unrealized attach was not committed")
	}
}

type fakeSouthbound struct{}

func (fakeSouthbound) NVEFlows(ctx context.Context, nve string) (*model.FlowReport, error) {
	if nve == "hv2" {
		return nil, errors.New("switch not connected")
	}
	return &model.FlowReport{NVE: nve, Desired: []string{"table=0, priority=0 actions=drop"}}, nil
}

func (fakeSouthbound) NVEStatus(nve string) *model.NVEStatus {
	return &model.NVEStatus{OpenFlow: &model.OpenFlowStatus{Remote: "connected:" + nve}}
}

func TestFlowsAndStatus(t *testing.T) {
	plain := newEnv(t, nil)
	plain.seed()
	r := plain.do("GET", "/api/v1/nves/hv1/flows", "")
	if r.status != 501 || r.err().Code != wire.CodeNotImplemented {
		t.Errorf("flows without reporter: %d %s", r.status, r.body)
	}
	var n map[string]any
	plain.must(200, "GET", "/api/v1/nves/hv1", "").decode(t, &n)
	if _, ok := n["status"]; ok {
		t.Errorf("status present without a reporter: %v", n)
	}

	e := newEnv(t, func(o *Options) { o.FlowReporter = fakeSouthbound{}; o.StatusReporter = fakeSouthbound{} })
	e.seed()
	var flows struct {
		NVE     string
		Desired []string
	}
	e.must(200, "GET", "/api/v1/nves/hv1/flows", "").decode(t, &flows)
	if flows.NVE != "hv1" || len(flows.Desired) != 1 {
		t.Errorf("flows = %+v", flows)
	}
	if r := e.do("GET", "/api/v1/nves/hv2/flows", ""); r.status != 500 || !strings.Contains(r.err().Message, "not connected") {
		t.Errorf("flows error: %d %s", r.status, r.body)
	}
	var nv struct {
		Name   string
		Status struct{ OpenFlow struct{ Remote string } }
	}
	e.must(200, "GET", "/api/v1/nves/hv1", "").decode(t, &nv)
	if nv.Name != "hv1" || nv.Status.OpenFlow.Remote != "connected:hv1" {
		t.Errorf("NVE with status = %+v", nv)
	}
	var l struct {
		Items []struct {
			Name   string
			Status struct{ OpenFlow struct{ Remote string } }
		}
	}
	e.must(200, "GET", "/api/v1/nves", "").decode(t, &l)
	if len(l.Items) != 2 || l.Items[1].Status.OpenFlow.Remote != "connected:hv2" {
		t.Errorf("NVE list with status = %+v", l.Items)
	}
}

func TestTopology(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.StatusReporter = fakeSouthbound{} })
	e.seed() // blue: p1 on hv1
	e.must(201, "POST", "/api/v1/vns", `{"name":"red","vni":200}`)
	e.must(201, "POST", "/api/v1/nves", `{"name":"hv3","underlay_ips":["192.0.2.3"],"ovsdb":"unix:/x"}`)
	for _, p := range []string{
		`{"name":"p2","vn":"blue","nve":"hv2","interface":"v2","mac":"02:00:00:00:00:02"}`,
		`{"name":"p3","vn":"red","nve":"hv2","interface":"v3","mac":"02:00:00:00:00:03"}`,
		`{"name":"p4","vn":"red","nve":"hv1","interface":"v4","mac":"02:00:00:00:00:04"}`,
		`{"name":"p5","vn":"red","nve":"hv3","interface":"v5","mac":"02:00:00:00:00:05"}`,
	} {
		e.must(201, "POST", "/api/v1/ports", p)
	}
	var topo wire.Topology
	var raw struct {
		NVEs []struct {
			Name   string
			VNs    []string
			Status struct{ OpenFlow struct{ Remote string } }
		}
	}
	r := e.must(200, "GET", "/api/v1/topology", "")
	r.decode(t, &topo)
	r.decode(t, &raw)
	if len(topo.VNs) != 2 || len(topo.Ports) != 5 || len(raw.NVEs) != 3 || topo.Revision == 0 {
		t.Fatalf("topology: %s", r.body)
	}
	if raw.NVEs[1].Name != "hv2" || strings.Join(raw.NVEs[1].VNs, ",") != "blue,red" || raw.NVEs[1].Status.OpenFlow.Remote != "connected:hv2" {
		t.Errorf("hv2 in topology = %+v", raw.NVEs[1])
	}
	var tunnels []string
	for _, tu := range topo.Tunnels {
		tunnels = append(tunnels, tu.A+"-"+tu.B+":"+strings.Join(tu.VNs, "+"))
	}
	want := "hv1-hv2:blue+red,hv1-hv3:red,hv2-hv3:red"
	if got := strings.Join(tunnels, ","); got != want {
		t.Errorf("tunnels = %s, want %s", got, want)
	}
}

func TestClusterRoutes(t *testing.T) {
	e := newEnv(t, nil)
	var h wire.Health
	e.must(200, "GET", "/api/v1/health", "").decode(t, &h)
	if h.Status != "ok" || h.NodeID != "n1" || h.Leader != "n1" || !h.LeaderKnown || !h.IsLeader {
		t.Errorf("health = %+v", h)
	}
	var cv wire.ClusterView
	e.must(200, "GET", "/api/v1/cluster", "").decode(t, &cv)
	if cv.Leader != "n1" || cv.Term == 0 || len(cv.Nodes) != 1 || cv.Nodes[0].ID != "n1" || cv.Nodes[0].State != "leader" || !cv.Nodes[0].Leader || cv.Nodes[0].RaftAddr == "" {
		t.Errorf("cluster = %+v", cv)
	}

	// A real second node over TCP joins through the API and is removed.
	n2, err := store.Open(context.Background(), store.Config{NodeID: "n2", InMemory: true, RaftAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n2.Close() })
	body := fmt.Sprintf(`{"id":"n2","raft_addr":%q,"openflow_addr":"tcp:127.0.0.2:6653"}`, n2.RaftAddr())
	e.must(200, "POST", "/api/v1/cluster/join", body).decode(t, &cv)
	if len(cv.Nodes) != 2 || cv.Nodes[1].ID != "n2" || cv.Nodes[1].RaftAddr != n2.RaftAddr() {
		t.Errorf("after join = %+v", cv)
	}
	// It joined as a non-voter; the leader promotes it once caught up.
	waitFor(t, func() bool {
		e.must(200, "GET", "/api/v1/cluster", "").decode(t, &cv)
		return len(cv.Nodes) == 2 && cv.Nodes[1].Voter
	})
	// The joined node catches up with the cluster's state.
	e.must(201, "POST", "/api/v1/vns", `{"name":"blue"}`)
	waitFor(t, func() bool { _, ok := n2.Snapshot().VNs["blue"]; return ok })

	e.must(204, "DELETE", "/api/v1/cluster/nodes/n2", "")
	e.must(200, "GET", "/api/v1/cluster", "").decode(t, &cv)
	if len(cv.Nodes) != 1 || cv.Nodes[0].ID != "n1" {
		t.Errorf("after remove = %+v", cv)
	}
}

// TestNoInternalRoutes: the members' API is never served on the REST
// listener (issue 13: it was, unauthenticated).
func TestNoInternalRoutes(t *testing.T) {
	e := newEnv(t, nil)
	e.must(404, "GET", "/internal/v1/status", "")
	e.must(404, "POST", "/internal/v1/join", `{"id":"evil","raft_addr":"127.0.0.1:1"}`)
	e.must(404, "POST", "/internal/v1/apply", "x")
}

func TestMetrics(t *testing.T) {
	e := newEnv(t, nil)
	e.must(201, "POST", "/api/v1/vns", `{"name":"blue"}`)
	e.must(409, "POST", "/api/v1/vns", `{"name":"blue"}`)
	e.must(200, "GET", "/api/v1/vns/blue", "")
	e.must(404, "GET", "/api/v1/nowhere", "")
	r := e.must(200, "GET", "/metrics", "")
	body := string(r.body)
	for _, want := range []string{
		`nva_api_requests_total{code="201",method="POST",route="/api/v1/vns"} 1`,
		`nva_api_requests_total{code="409",method="POST",route="/api/v1/vns"} 1`,
		`nva_api_requests_total{code="200",method="GET",route="/api/v1/vns/{name}"} 1`,
		`nva_api_requests_total{code="404",method="GET",route="unmatched"} 1`,
		`nva_api_request_duration_seconds_count{method="POST",route="/api/v1/vns"} 2`,
		`nva_raft_is_leader 1`,
		`nva_raft_term`,
		`nva_raft_commit_index`,
		`nva_store_apply_duration_seconds_count`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// Two servers have independent registries (no globals).
	other := newEnv(t, nil)
	if b := string(other.must(200, "GET", "/metrics", "").body); strings.Contains(b, `route="/api/v1/vns/{name}"`) {
		t.Error("second server's metrics show the first server's requests")
	}
}

func TestMergePatch(t *testing.T) {
	cases := []struct{ target, patch, want string }{
		{`{"a":"b"}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"b"}`, `{"b":"c"}`, `{"a":"b","b":"c"}`},
		{`{"a":"b"}`, `{"a":null}`, `{}`},
		{`{"a":"b","b":"c"}`, `{"a":null}`, `{"b":"c"}`},
		{`{"a":["b"]}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":{"b":"c"}}`, `{"a":{"b":"d","c":null}}`, `{"a":{"b":"d"}}`},
		{`{"a":[{"b":"c"}]}`, `{"a":[1]}`, `{"a":[1]}`},
		{`{}`, `{"a":{"bb":{"ccc":null}}}`, `{"a":{"bb":{}}}`},
	}
	for _, c := range cases {
		var target, patch map[string]any
		if err := decodeStrictAny(c.target, &target); err != nil {
			t.Fatal(err)
		}
		if err := decodeStrictAny(c.patch, &patch); err != nil {
			t.Fatal(err)
		}
		got, _ := jsonBytes(mergePatch(target, patch))
		if string(got) != c.want {
			t.Errorf("merge(%s, %s) = %s, want %s", c.target, c.patch, got, c.want)
		}
	}
}

func decodeStrictAny(s string, v any) error { return decodeStrict([]byte(s), v) }

type fakeSwitches []model.UnclaimedSwitch

func (f fakeSwitches) UnclaimedSwitches() []model.UnclaimedSwitch { return f }

func TestUnclaimedSwitches(t *testing.T) {
	plain := newEnv(t, nil)
	if r := plain.do("GET", "/api/v1/switches/unclaimed", ""); r.status != 501 || r.err().Code != wire.CodeNotImplemented {
		t.Errorf("unclaimed without a southbound: %d %s", r.status, r.body)
	}
	var topo map[string]any
	plain.must(200, "GET", "/api/v1/topology", "").decode(t, &topo)
	if _, ok := topo["unclaimed_switches"]; ok {
		t.Errorf("topology lists unclaimed switches without a southbound: %v", topo)
	}

	sw := fakeSwitches{{DatapathID: "00000000000abc01", Remote: "198.19.0.10:40000"}}
	e := newEnv(t, func(o *Options) { o.SwitchReporter = sw })
	var l struct{ Items []map[string]string }
	e.must(200, "GET", "/api/v1/switches/unclaimed", "").decode(t, &l)
	if len(l.Items) != 1 || l.Items[0]["datapath_id"] != "00000000000abc01" {
		t.Errorf("unclaimed = %+v", l)
	}
	var tp struct {
		Unclaimed []map[string]string `json:"unclaimed_switches"`
	}
	e.must(200, "GET", "/api/v1/topology", "").decode(t, &tp)
	if len(tp.Unclaimed) != 1 || tp.Unclaimed[0]["remote"] != "198.19.0.10:40000" {
		t.Errorf("topology unclaimed = %+v", tp.Unclaimed)
	}
}
