package model

import (
	"reflect"
	"testing"
)

func TestVTEPNVEValidate(t *testing.T) {
	ok := func() NVE {
		return NVE{Name: "tor1", Kind: NVEVTEP, UnderlayIPs: []string{"198.18.0.9"}, OVSDB: "tcp:192.0.2.9:6640"}
	}
	tests := []struct {
		name string
		mod  func(n *NVE)
		want []string
	}{
		{"ok", func(n *NVE) {}, nil},
		{"no ovsdb", func(n *NVE) { n.OVSDB = "" }, []string{"ovsdb"}},
		{"bad ovsdb", func(n *NVE) { n.OVSDB = "http://x" }, []string{"ovsdb"}},
		{"no tunnel ip", func(n *NVE) { n.UnderlayIPs = nil }, []string{"underlay_ips"}},
		{"two tunnel ips", func(n *NVE) { n.UnderlayIPs = append(n.UnderlayIPs, "198.18.0.10") }, []string{"underlay_ips"}},
		{"bridge", func(n *NVE) { n.Bridge = "br-int" }, []string{"bridge"}},
		{"datapath id", func(n *NVE) { n.DatapathID = "0000000000000001" }, []string{"datapath_id"}},
		{"profile", func(n *NVE) { n.Profile = ProfileOVS }, []string{"profile"}},
		{"tunnel ports", func(n *NVE) { n.TunnelPorts = map[string]string{"198.18.0.1": "t1"} }, []string{"tunnel_ports"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := ok()
			tt.mod(&n)
			n.Defaults()
			if got := fieldsOf(t, n.Validate()); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("fields = %v, want %v", got, tt.want)
			}
		})
	}
	// Defaults gives a vtep no bridge settings (they are ovs-only).
	n := ok()
	n.Defaults()
	if n.Bridge != "" || n.DatapathType != "" {
		t.Fatalf("defaults gave a vtep bridge %q datapath_type %q", n.Bridge, n.DatapathType)
	}
}

func TestCheckPortOnNVE(t *testing.T) {
	vtep := &NVE{Name: "tor1", Kind: NVEVTEP}
	hv := &NVE{Name: "hv1", Kind: NVEOVS}
	vx := &VN{Name: "blue", Encap: EncapVXLAN}
	gn := &VN{Name: "green", Encap: EncapGENEVE}
	bare := &Port{Name: "bm1", Interface: "p1", VLAN: 100}
	withMAC := &Port{Name: "bm2", Interface: "p1", VLAN: 101, MAC: "02:00:00:00:00:02"}
	ipsNoMAC := &Port{Name: "bm3", Interface: "p1", VLAN: 102, IPs: []string{"10.0.0.3"}}
	tests := []struct {
		name  string
		p     *Port
		nve   *NVE
		vn    *VN
		field string // "" : accepted
	}{
		{"vtep vap without mac", bare, vtep, vx, ""},
		{"vtep vap with mac", withMAC, vtep, vx, ""},
		{"vtep in geneve vn", bare, vtep, gn, "vn"},
		{"ips without mac", ipsNoMAC, vtep, vx, "ips"},
		{"hypervisor port needs mac", bare, hv, vx, "mac"},
		{"hypervisor port in geneve", withMAC, hv, gn, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckPortOnNVE(tt.p, tt.nve, tt.vn)
			switch {
			case tt.field == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.field != "" && (err == nil || err.Field != tt.field || err.Kind != KindInvalid):
				t.Fatalf("err = %v, want invalid on %q", err, tt.field)
			}
		})
	}
}
