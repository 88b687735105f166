package model

import (
	"slices"
	"testing"
)

func TestVNL3Validate(t *testing.T) {
	sn := func(c, g string) Subnet { return Subnet{CIDR: c, Gateway: g} }
	cases := []struct {
		name string
		vn   VN
		want []string // fields at fault
	}{
		{"dual stack domain", VN{Name: "a", Service: ServiceL2L3, L3Domain: "prod", Tenant: "acme",
			Subnets: []Subnet{sn("10.0.1.0/24", "10.0.1.1"), sn("2001:db8:1::/64", "2001:db8:1::1")}}, nil},
		{"l2 with subnets", VN{Name: "a", Subnets: []Subnet{sn("10.0.1.0/24", "10.0.1.254")}}, nil},
		{"bad cidr", VN{Name: "a", Subnets: []Subnet{sn("10.0.1.0/33", "10.0.1.1")}}, []string{"subnets[0].cidr"}},
		{"gateway outside", VN{Name: "a", Subnets: []Subnet{sn("10.0.1.0/24", "10.0.2.1")}}, []string{"subnets[0].gateway"}},
		{"gateway network", VN{Name: "a", Subnets: []Subnet{sn("10.0.1.0/24", "10.0.1.0")}}, []string{"subnets[0].gateway"}},
		{"gateway broadcast", VN{Name: "a", Subnets: []Subnet{sn("10.0.1.0/24", "10.0.1.255")}}, []string{"subnets[0].gateway"}},
		{"gateway missing", VN{Name: "a", Subnets: []Subnet{sn("10.0.1.0/24", "")}}, []string{"subnets[0].gateway"}},
		{"overlap in VN", VN{Name: "a", Subnets: []Subnet{sn("10.0.0.0/16", "10.0.0.1"), sn("10.0.1.0/24", "10.0.1.1")}}, []string{"subnets[1].cidr"}},
		{"duplicate gateway", VN{Name: "a", Subnets: []Subnet{sn("10.0.0.0/16", "10.0.0.1"), sn("10.0.0.0/16", "10.0.0.1")}}, []string{"subnets[1].cidr", "subnets[1].gateway"}},
		{"domain on l2", VN{Name: "a", L3Domain: "prod", Subnets: []Subnet{sn("10.0.1.0/24", "10.0.1.1")}}, []string{"l3_domain"}},
		{"domain without subnets", VN{Name: "a", Service: ServiceL3, L3Domain: "prod"}, []string{"l3_domain"}},
		{"bad domain", VN{Name: "a", Service: ServiceL3, L3Domain: "no way", Subnets: []Subnet{sn("10.0.1.0/24", "10.0.1.1")}}, []string{"l3_domain"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := tc.vn
			v.Defaults()
			err := v.Validate()
			var got []string
			if e, ok := AsError(err); ok {
				for _, f := range e.Fields {
					got = append(got, f.Field)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("fields at fault %v, want %v (%v)", got, tc.want, err)
			}
		})
	}
}

func TestVNL3Defaults(t *testing.T) {
	v := VN{Name: "a", Subnets: []Subnet{{CIDR: "10.0.1.7/24", Gateway: "::ffff:10.0.1.1"}, {CIDR: "2001:DB8::/64", Gateway: "2001:DB8::1"}}}
	v.Defaults()
	want := []Subnet{{"10.0.1.0/24", "10.0.1.1"}, {"2001:db8::/64", "2001:db8::1"}}
	if !slices.Equal(v.Subnets, want) {
		t.Fatalf("subnets %v, want %v", v.Subnets, want)
	}
}

func TestCheckPortInVN(t *testing.T) {
	vn := &VN{Name: "a", Service: ServiceL3, Subnets: []Subnet{{"10.0.1.0/24", "10.0.1.1"}, {"2001:db8:1::/64", "2001:db8:1::1"}}}
	for _, tc := range []struct {
		name  string
		port  Port
		field string
	}{
		{"fits", Port{MAC: "02:00:00:00:00:01", IPs: []string{"10.0.1.5", "2001:db8:1::5", "fe80::1"}}, ""},
		{"outside", Port{MAC: "02:00:00:00:00:01", IPs: []string{"10.0.1.5", "10.0.2.5"}}, "ips[1]"},
		{"gateway ip", Port{MAC: "02:00:00:00:00:01", IPs: []string{"10.0.1.1"}}, "ips[0]"},
		{"gateway mac", Port{MAC: GatewayMACText}, "mac"},
	} {
		err := CheckPortInVN(&tc.port, vn)
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.field != "" && (err == nil || err.Field != tc.field):
			t.Errorf("%s: got %v, want an error naming %s", tc.name, err, tc.field)
		}
	}
	// Without subnets any address fits.
	if err := CheckPortInVN(&Port{MAC: "02:00:00:00:00:01", IPs: []string{"192.0.2.1"}}, &VN{Name: "b"}); err != nil {
		t.Fatal(err)
	}
}

// TestRoutePeers: NVEs hosting VNs of one L3 domain are tunnel peers even
// when they share no VN (the routing NVE tunnels in the destination VN);
// VNs of another domain, or of none, make no peers.
func TestRoutePeers(t *testing.T) {
	sn := func(c, g string) []Subnet { return []Subnet{{CIDR: c, Gateway: g}} }
	vns := map[string]*VN{
		"web":   {Name: "web", VNI: 1, Service: ServiceL2L3, Encap: EncapVXLAN, Tenant: "acme", L3Domain: "prod", Subnets: sn("10.1.0.0/24", "10.1.0.1")},
		"db":    {Name: "db", VNI: 2, Service: ServiceL3, Encap: EncapGENEVE, Tenant: "acme", L3Domain: "prod", Subnets: sn("10.2.0.0/24", "10.2.0.1")},
		"other": {Name: "other", VNI: 3, Service: ServiceL2L3, Encap: EncapVXLAN, Tenant: "beta", L3Domain: "prod", Subnets: sn("10.2.0.0/24", "10.2.0.1")},
	}
	nves := map[string]*NVE{}
	for i, n := range []string{"hv1", "hv2", "hv3"} {
		nves[n] = &NVE{Name: n, UnderlayIPs: []string{[]string{"198.18.0.1", "198.18.0.2", "198.18.0.3"}[i]}}
	}
	ports := map[string]*Port{
		"w1": {Name: "w1", VN: "web", NVE: "hv1", MAC: "02:00:00:00:00:01"},
		"d2": {Name: "d2", VN: "db", NVE: "hv2", MAC: "02:00:00:00:00:02"},
		"o3": {Name: "o3", VN: "other", NVE: "hv3", MAC: "02:00:00:00:00:03"},
	}
	s := NewSnapshot(1, vns, nves, ports)
	rp := s.RoutePeers("hv1")
	if len(rp) != 1 || rp[0].NVE != "hv2" || !slices.Equal(rp[0].VNs, []string{"db", "web"}) {
		t.Fatalf("route peers of hv1: %+v", rp)
	}
	var got []string
	for _, p := range s.TunnelPeers("hv2") {
		got = append(got, p.Remote.Name+"/"+string(p.Encap)+"/"+p.VNs[0])
	}
	// hv1 -> hv2 carries db (geneve), hv2 -> hv1 carries web (vxlan).
	if want := []string{"hv1/vxlan/web", "hv1/geneve/db"}; !slices.Equal(got, want) {
		t.Fatalf("tunnel peers of hv2: %v, want %v", got, want)
	}
	if p := s.TunnelPeers("hv3"); len(p) != 0 {
		t.Fatalf("hv3 (another tenant's domain) has tunnel peers: %+v", p)
	}
}
