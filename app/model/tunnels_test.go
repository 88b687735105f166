package model

import (
	"net/netip"
	"reflect"
	"testing"
)

// TestTunnelPeers: every NVE sharing a VN is a peer once per encapsulation
// of the shared VNs, with the address from tunnel_ports or the remote's
// first underlay IP, the explicit port name if any, and the oldest
// revision involved.
func TestTunnelPeers(t *testing.T) {
	s := NewSnapshot(30,
		map[string]*VN{
			"blue":  {Name: "blue", VNI: 1, Encap: EncapVXLAN, Revision: 5},
			"green": {Name: "green", VNI: 2, Encap: EncapGENEVE, Revision: 3},
		},
		map[string]*NVE{
			"tor1": {Name: "tor1", UnderlayIPs: []string{"198.18.0.1"}, Revision: 10, TunnelPorts: map[string]string{"198.18.0.33": "Tunnel3"}},
			"hv2":  {Name: "hv2", UnderlayIPs: []string{"198.18.0.2"}, Revision: 8},
			"hv3":  {Name: "hv3", UnderlayIPs: []string{"198.18.0.3", "198.18.0.33"}, Revision: 9},
			"hv4":  {Name: "hv4", UnderlayIPs: []string{"198.18.0.4"}, Revision: 1},
		},
		map[string]*Port{
			"a": {Name: "a", VN: "blue", NVE: "tor1", Revision: 20},
			"b": {Name: "b", VN: "green", NVE: "tor1", Revision: 21},
			"c": {Name: "c", VN: "blue", NVE: "hv2", Revision: 22},
			"d": {Name: "d", VN: "green", NVE: "hv2", Revision: 23},
			"e": {Name: "e", VN: "blue", NVE: "hv3", Revision: 4},
			"f": {Name: "f", VN: "other", NVE: "hv4", Revision: 2},
			"g": {Name: "g", VN: "blue", NVE: "ghost", Revision: 24},
		})
	got := s.TunnelPeers("tor1")
	want := []TunnelPeer{
		{Remote: s.NVEs["hv2"], Encap: EncapVXLAN, VNs: []string{"blue"}, RemoteIP: netip.MustParseAddr("198.18.0.2"), Since: 4},
		{Remote: s.NVEs["hv2"], Encap: EncapGENEVE, VNs: []string{"green"}, RemoteIP: netip.MustParseAddr("198.18.0.2"), Since: 3},
		{Remote: s.NVEs["hv3"], Encap: EncapVXLAN, VNs: []string{"blue"}, RemoteIP: netip.MustParseAddr("198.18.0.33"), Port: "Tunnel3", Since: 4},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("TunnelPeers\n got %+v\nwant %+v", got, want)
	}
	if s.TunnelPeers("nope") != nil || s.TunnelPeers("hv4") != nil {
		t.Fatal("peers of an unknown or lonely NVE")
	}
}
