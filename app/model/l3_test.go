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
