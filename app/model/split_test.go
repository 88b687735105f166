package model

import (
	"reflect"
	"testing"
)

func TestPortVLANModeValidate(t *testing.T) {
	base := func(f func(*Port)) Port {
		p := Port{Name: "p", VN: "v", NVE: "n", Interface: "tap0", MAC: "02:00:00:00:00:01"}
		f(&p)
		return p
	}
	tests := []struct {
		name string
		p    Port
		want []string
	}{
		{"access default", base(func(p *Port) { p.VLAN = 10 }), nil},
		{"access explicit", base(func(p *Port) { p.VLANMode = VLANAccess; p.VLAN = 10 }), nil},
		{"passthrough", base(func(p *Port) { p.VLANMode = VLANPassthrough; p.AllowedVLANs = []int{10, 20} }), nil},
		{"passthrough untagged only", base(func(p *Port) { p.VLANMode = VLANPassthrough; p.Untagged = true }), nil},
		{"passthrough with vlan", base(func(p *Port) { p.VLANMode = VLANPassthrough; p.VLAN = 5; p.AllowedVLANs = []int{10} }), []string{"vlan"}},
		{"passthrough nothing allowed", base(func(p *Port) { p.VLANMode = VLANPassthrough }), []string{"allowed_vlans"}},
		{"passthrough bad vlans", base(func(p *Port) { p.VLANMode = VLANPassthrough; p.AllowedVLANs = []int{0, 4095} }), []string{"allowed_vlans[0]", "allowed_vlans[1]"}},
		{"access with allowed", base(func(p *Port) { p.AllowedVLANs = []int{10} }), []string{"allowed_vlans"}},
		{"access with untagged", base(func(p *Port) { p.Untagged = true }), []string{"untagged"}},
		{"bad mode", base(func(p *Port) { p.VLANMode = "trunk" }), []string{"vlan_mode"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.p
			p.Defaults()
			if got := fieldsOf(t, p.Validate()); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("fields %v, want %v", got, tt.want)
			}
		})
	}
	// Defaults sorts and dedupes allowed_vlans into a slice of its own.
	in := []int{20, 10, 20}
	p := base(func(p *Port) { p.VLANMode = VLANPassthrough; p.AllowedVLANs = in })
	p.Defaults()
	if !reflect.DeepEqual(p.AllowedVLANs, []int{10, 20}) || !reflect.DeepEqual(in, []int{20, 10, 20}) {
		t.Errorf("defaults: %v (caller's %v)", p.AllowedVLANs, in)
	}
}

func TestAccessLinkValidate(t *testing.T) {
	base := func(f func(*NVE)) NVE {
		n := NVE{Name: "hv1", UnderlayIPs: []string{"192.0.2.1"}, OVSDB: "unix:/run/ovs/db.sock",
			AccessLink: &AccessLink{NNVE: "tor1", Uplink: "eth1", NNVEPort: "Ethernet1/3"}}
		f(&n)
		return n
	}
	tests := []struct {
		name string
		n    NVE
		want []string
	}{
		{"ok", base(func(*NVE) {}), nil},
		{"pool", base(func(n *NVE) { n.AccessLink.VLANPool = "100-199, 300" }), nil},
		{"no nnve", base(func(n *NVE) { n.AccessLink.NNVE = "" }), []string{"access_link.nnve"}},
		{"self", base(func(n *NVE) { n.AccessLink.NNVE = "hv1" }), []string{"access_link.nnve"}},
		{"uplink", base(func(n *NVE) { n.AccessLink.Uplink = "way-too-long-interface" }), []string{"access_link.uplink"}},
		{"nnve port", base(func(n *NVE) { n.AccessLink.NNVEPort = "" }), []string{"access_link.nnve_port"}},
		{"pool range", base(func(n *NVE) { n.AccessLink.VLANPool = "0-10" }), []string{"access_link.vlan_pool"}},
		{"pool syntax", base(func(n *NVE) { n.AccessLink.VLANPool = "a-b" }), []string{"access_link.vlan_pool"}},
		{"pool overlap", base(func(n *NVE) { n.AccessLink.VLANPool = "10-20,15-30" }), []string{"access_link.vlan_pool"}},
		{"openflow tnve", base(func(n *NVE) { n.Kind, n.OVSDB, n.DatapathID = NVEOpenFlow, "", "1" }), []string{"access_link"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := tt.n
			n.Defaults()
			if got := fieldsOf(t, n.Validate()); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("fields %v, want %v", got, tt.want)
			}
		})
	}
}

func TestVLANPool(t *testing.T) {
	pool, err := ParseVLANPool("300,100-102")
	if err != nil {
		t.Fatal(err)
	}
	if want := []VLANRange{{100, 102}, {300, 300}}; !reflect.DeepEqual(pool, want) {
		t.Fatalf("pool %v, want %v", pool, want)
	}
	used := map[int]bool{101: true}
	for _, c := range []struct{ from, want int }{{0, 100}, {101, 102}, {103, 300}, {301, 100}} {
		got, ok := NextFree(pool, c.from, func(v int) bool { return used[v] })
		if !ok || got != c.want {
			t.Errorf("NextFree from %d = %d %v, want %d", c.from, got, ok, c.want)
		}
	}
	full := map[int]bool{100: true, 101: true, 102: true, 300: true}
	if v, ok := NextFree(pool, 200, func(v int) bool { return full[v] }); ok {
		t.Errorf("full pool gave %d", v)
	}
}

// TestSnapshotSplitHosting: an nNVE hosts its tNVEs' VNs, is listed among
// their hosting NVEs, and tunnels for them; a tNVE has no tunnel peers.
func TestSnapshotSplitHosting(t *testing.T) {
	nve := func(name string, link *AccessLink) *NVE { return &NVE{Name: name, AccessLink: link} }
	s := NewSnapshot(1, map[string]*VN{"blue": {Name: "blue"}, "red": {Name: "red"}},
		map[string]*NVE{"tor1": nve("tor1", nil), "hv1": nve("hv1", &AccessLink{NNVE: "tor1"}), "hv3": nve("hv3", nil)},
		map[string]*Port{
			"b1": {Name: "b1", VN: "blue", NVE: "hv1"}, "r1": {Name: "r1", VN: "red", NVE: "hv1"},
			"b3": {Name: "b3", VN: "blue", NVE: "hv3"},
		})
	if got := s.VNsOn("tor1"); !reflect.DeepEqual(got, []string{"blue", "red"}) {
		t.Errorf("VNsOn(tor1) = %v", got)
	}
	if got := s.NVEsHosting("blue"); !reflect.DeepEqual(got, []string{"hv1", "hv3", "tor1"}) {
		t.Errorf("NVEsHosting(blue) = %v", got)
	}
	if got := s.Peers("tor1"); !reflect.DeepEqual(got, []Peer{{NVE: "hv3", VNs: []string{"blue"}}}) {
		t.Errorf("Peers(tor1) = %v", got)
	}
	if got := s.Peers("hv3"); !reflect.DeepEqual(got, []Peer{{NVE: "tor1", VNs: []string{"blue"}}}) {
		t.Errorf("Peers(hv3) = %v", got)
	}
	if got := s.Peers("hv1"); len(got) != 0 {
		t.Errorf("Peers(hv1) = %v, want none", got)
	}
	if got := s.TNVEsOf("tor1"); len(got) != 1 || got[0].Name != "hv1" || s.NNVEOf("hv1") != "tor1" {
		t.Errorf("TNVEsOf(tor1) = %v", got)
	}
}
