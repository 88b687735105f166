package model

import (
	"reflect"
	"strings"
	"testing"
)

func fieldsOf(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	e, ok := AsError(err)
	if !ok {
		t.Fatalf("error %v is not a *model.Error", err)
	}
	if e.Kind != KindInvalid {
		t.Fatalf("kind = %s, want invalid", e.Kind)
	}
	var out []string
	for _, f := range e.Fields {
		out = append(out, f.Field)
	}
	if len(out) > 0 && e.Field != out[0] {
		t.Fatalf("Field = %q, want first field %q", e.Field, out[0])
	}
	return out
}

func TestVNValidate(t *testing.T) {
	tests := []struct {
		name string
		vn   VN
		want []string
	}{
		{"minimal", VN{Name: "blue"}, nil},
		{"full", VN{Name: "red", VNI: MaxVNI, Service: ServiceL2L3, Encap: EncapGENEVE, Tenant: "acme", MTU: 1450, Unknown: UnknownDrop}, nil},
		{"multicast", VN{Name: "m", BUM: BUM{Mode: BUMMulticast, Group: "239.1.1.1"}}, nil},
		{"multicast v6", VN{Name: "m", BUM: BUM{Mode: BUMMulticast, Group: "ff0e::1"}}, nil},
		{"no name", VN{}, []string{"name"}},
		{"bad name", VN{Name: "-x"}, []string{"name"}},
		{"long name", VN{Name: strings.Repeat("a", 64)}, []string{"name"}},
		{"vni too big", VN{Name: "a", VNI: MaxVNI + 1}, []string{"vni"}},
		{"bad service", VN{Name: "a", Service: "l4"}, []string{"service"}},
		{"bad encap", VN{Name: "a", Encap: "nvgre"}, []string{"encap"}},
		{"bad bum mode", VN{Name: "a", BUM: BUM{Mode: "x"}}, []string{"bum.mode"}},
		{"multicast needs group", VN{Name: "a", BUM: BUM{Mode: BUMMulticast}}, []string{"bum.group"}},
		{"multicast unicast group", VN{Name: "a", BUM: BUM{Mode: BUMMulticast, Group: "10.0.0.1"}}, []string{"bum.group"}},
		{"group without multicast", VN{Name: "a", BUM: BUM{Group: "239.1.1.1"}}, []string{"bum.group"}},
		{"mtu", VN{Name: "a", MTU: 100}, []string{"mtu"}},
		{"tenant", VN{Name: "a", Tenant: "a b"}, []string{"tenant"}},
		{"unknown policy", VN{Name: "a", Unknown: "maybe"}, []string{"unknown_arp"}},
		{"several", VN{Name: "", VNI: MaxVNI + 1, Encap: "x"}, []string{"name", "vni", "encap"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := tt.vn
			v.Defaults()
			got := fieldsOf(t, v.Validate())
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("fields = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestVNDefaults(t *testing.T) {
	v := VN{Name: "a"}
	v.Defaults()
	want := VN{Name: "a", Service: ServiceL2, Encap: EncapVXLAN, BUM: BUM{Mode: BUMReplicate}, Unknown: UnknownFlood}
	if !reflect.DeepEqual(v, want) {
		t.Fatalf("got %+v, want %+v", v, want)
	}
}

func TestNVEValidate(t *testing.T) {
	ok := func() NVE {
		return NVE{Name: "hv1", UnderlayIPs: []string{"198.18.0.1"}, OVSDB: "unix:/run/ovs/db.sock"}
	}
	tests := []struct {
		name string
		mod  func(n *NVE)
		want []string
	}{
		{"minimal ovs", func(n *NVE) {}, nil},
		{"tcp ovsdb", func(n *NVE) { n.OVSDB = "tcp:198.18.0.1:6640" }, nil},
		{"ssl ovsdb v6", func(n *NVE) { n.OVSDB = "ssl:[2001:db8::1]:6640" }, nil},
		{"openflow", func(n *NVE) { n.Kind = NVEOpenFlow; n.OVSDB = ""; n.DatapathID = "00:00:00:00:00:00:00:2a" }, nil},
		{"openflow needs dpid", func(n *NVE) { n.Kind = NVEOpenFlow; n.OVSDB = "" }, []string{"datapath_id"}},
		{"openflow no ovsdb", func(n *NVE) { n.Kind = NVEOpenFlow; n.DatapathID = "1" }, []string{"ovsdb"}},
		{"openflow no bridge", func(n *NVE) { n.Kind, n.OVSDB, n.DatapathID, n.Bridge = NVEOpenFlow, "", "1", "br-int" }, []string{"bridge"}},
		{"openflow no bad bridge", func(n *NVE) { n.Kind, n.OVSDB, n.DatapathID, n.Bridge = NVEOpenFlow, "", "1", "x; rm -rf /" }, []string{"bridge"}},
		{"openflow no datapath type", func(n *NVE) { n.Kind, n.OVSDB, n.DatapathID, n.DatapathType = NVEOpenFlow, "", "1", "system" }, []string{"datapath_type"}},
		{"bad kind", func(n *NVE) { n.Kind = "p4" }, []string{"kind"}},
		{"no underlay", func(n *NVE) { n.UnderlayIPs = nil }, []string{"underlay_ips"}},
		{"bad underlay", func(n *NVE) { n.UnderlayIPs = []string{"198.18.0.1", "x", "198.18.0.1", "224.0.0.1"} },
			[]string{"underlay_ips[1]", "underlay_ips[2]", "underlay_ips[3]"}},
		{"v6 underlay", func(n *NVE) { n.UnderlayIPs = []string{"2001:db8::1"} }, []string{"underlay_ips[0]"}},
		{"no ovsdb", func(n *NVE) { n.OVSDB = "" }, []string{"ovsdb"}},
		{"relative unix", func(n *NVE) { n.OVSDB = "unix:db.sock" }, []string{"ovsdb"}},
		{"bad proto", func(n *NVE) { n.OVSDB = "http://x" }, []string{"ovsdb"}},
		{"bad port", func(n *NVE) { n.OVSDB = "tcp:1.2.3.4:99999" }, []string{"ovsdb"}},
		{"bad bridge", func(n *NVE) { n.Bridge = "a-very-long-bridge-name" }, []string{"bridge"}},
		{"bad dp type", func(n *NVE) { n.DatapathType = "dpdk" }, []string{"datapath_type"}},
		{"bad dpid", func(n *NVE) { n.DatapathID = "xyz" }, []string{"datapath_id"}},
		{"zero dpid", func(n *NVE) { n.DatapathID = "0" }, []string{"datapath_id"}},
		{"ovs run as a strict switch", func(n *NVE) { n.Profile = ProfileStrict }, nil},
		{"openflow forced to ovs", func(n *NVE) {
			n.Kind, n.OVSDB, n.DatapathID, n.Profile = NVEOpenFlow, "", "2a", ProfileOVS
		}, nil},
		{"unknown profile", func(n *NVE) { n.Profile = "p4" }, []string{"profile"}},
		{"table ids", func(n *NVE) { n.TableIDs = map[string]uint8{"classify": 0, "l2_forward": 254} }, nil},
		{"table id OFPTT_ALL", func(n *NVE) { n.TableIDs = map[string]uint8{"b": 1, "a": 255} }, []string{"table_ids.a"}},
		{"empty table name", func(n *NVE) { n.TableIDs = map[string]uint8{"": 1} }, []string{"table_ids"}},
		{"tunnel ports", func(n *NVE) {
			n.Profile = ProfileStrict
			n.TunnelPorts = map[string]string{"198.18.0.2": "vx-hv2", "198.18.0.3": "vx-hv3"}
		}, nil},
		{"hardware port names", func(n *NVE) {
			n.Kind, n.OVSDB, n.DatapathID = NVEOpenFlow, "", "2a"
			n.TunnelPorts = map[string]string{"198.18.0.2": "Ethernet1/3"}
		}, nil},
		{"ovs creates its tunnel ports", func(n *NVE) {
			n.TunnelPorts = map[string]string{"198.18.0.2": "Ethernet1/3"}
		}, []string{"tunnel_ports.198.18.0.2"}},
		{"bad tunnel ports", func(n *NVE) {
			n.TunnelPorts = map[string]string{
				"x": "p1", "198.18.0.1": "p2", "2001:db8::1": "p3", "224.0.0.1": "p4",
				"198.18.0.5": "a very long port name", "198.18.0.6": "p6", "198.18.0.7": "p6",
			}
		}, []string{"tunnel_ports.198.18.0.1", "tunnel_ports.198.18.0.5", "tunnel_ports.198.18.0.7",
			"tunnel_ports.2001:db8::1", "tunnel_ports.224.0.0.1", "tunnel_ports.x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := ok()
			tt.mod(&n)
			n.Defaults()
			got := fieldsOf(t, n.Validate())
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("fields = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNVEDefaultsTunnelPorts(t *testing.T) {
	n := NVE{Name: "hv", Kind: NVEOpenFlow, UnderlayIPs: []string{"198.18.0.1"}, DatapathID: "2a",
		TunnelPorts: map[string]string{"2001:DB8::0001": "p1", "198.18.0.2": "p2"}, TableIDs: map[string]uint8{}}
	n.Defaults()
	want := map[string]string{"2001:db8::1": "p1", "198.18.0.2": "p2"}
	if !reflect.DeepEqual(n.TunnelPorts, want) {
		t.Fatalf("tunnel_ports = %v, want %v", n.TunnelPorts, want)
	}
	if n.TableIDs != nil {
		t.Fatalf("an empty table_ids should default to nil (omitted), got %v", n.TableIDs)
	}
	remote := &NVE{Name: "hv2", UnderlayIPs: []string{"198.18.0.9", "198.18.0.2"}}
	if p, ip, ok := n.TunnelPortFor(remote); !ok || p != "p2" || ip != "198.18.0.2" {
		t.Fatalf("TunnelPortFor = %q %q %v, want p2 198.18.0.2 true", p, ip, ok)
	}
	if _, _, ok := n.TunnelPortFor(&NVE{Name: "hv3", UnderlayIPs: []string{"198.18.0.3"}}); ok {
		t.Fatal("TunnelPortFor found a port for a remote without an entry")
	}
}

func TestNVEDefaults(t *testing.T) {
	n := NVE{Name: "hv", UnderlayIPs: []string{"198.18.0.1"}, DatapathID: "0x2A"}
	n.Defaults()
	if n.Kind != NVEOVS || n.Bridge != "br-int" || n.DatapathType != "system" || n.DatapathID != "000000000000002a" {
		t.Fatalf("defaults: %+v", n)
	}
	if n.DPID() != 42 {
		t.Fatalf("DPID = %d", n.DPID())
	}
	hw := NVE{Name: "tor", Kind: NVEOpenFlow, UnderlayIPs: []string{"198.18.0.9"}, DatapathID: "1"}
	hw.Defaults()
	if hw.Bridge != "" || hw.DatapathType != "" {
		t.Fatalf("openflow NVE got OVS defaults: %+v", hw)
	}
}

func TestPortValidate(t *testing.T) {
	ok := func() Port {
		return Port{Name: "p1", VN: "blue", NVE: "hv1", Interface: "veth1", MAC: "02:00:00:00:00:01", IPs: []string{"10.0.0.1", "2001:db8::1"}}
	}
	tests := []struct {
		name string
		mod  func(p *Port)
		want []string
	}{
		{"ok", func(p *Port) {}, nil},
		{"no ips", func(p *Port) { p.IPs = nil }, nil},
		{"vlan", func(p *Port) { p.VLAN = 4094 }, nil},
		{"missing", func(p *Port) { *p = Port{} }, []string{"name", "vn", "nve", "interface"}}, // mac: CheckPortOnNVE
		{"bad iface", func(p *Port) { p.Interface = "has space" }, []string{"interface"}},
		{"bad mac", func(p *Port) { p.MAC = "02:00" }, []string{"mac"}},
		{"multicast mac", func(p *Port) { p.MAC = "01:00:5e:00:00:01" }, []string{"mac"}},
		{"zero mac", func(p *Port) { p.MAC = "00:00:00:00:00:00" }, []string{"mac"}},
		{"bad ips", func(p *Port) { p.IPs = []string{"10.0.0.1", "nope", "224.0.0.5", "10.0.0.1", "0.0.0.0"} },
			[]string{"ips[1]", "ips[2]", "ips[3]", "ips[4]"}},
		{"zone", func(p *Port) { p.IPs = []string{"fe80::1%eth0"} }, []string{"ips[0]"}},
		{"vlan range", func(p *Port) { p.VLAN = 4095 }, []string{"vlan"}},
		{"neg vlan", func(p *Port) { p.VLAN = -1 }, []string{"vlan"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := ok()
			tt.mod(&p)
			p.Defaults()
			got := fieldsOf(t, p.Validate())
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("fields = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPortDefaultsCanonicalize(t *testing.T) {
	p := Port{MAC: "02-AA-BB-CC-DD-EE", IPs: []string{"2001:DB8:0:0::1", "::ffff:10.0.0.1"}}
	p.Defaults()
	if p.MAC != "02:aa:bb:cc:dd:ee" {
		t.Fatalf("mac = %s", p.MAC)
	}
	if !reflect.DeepEqual(p.IPs, []string{"2001:db8::1", "10.0.0.1"}) {
		t.Fatalf("ips = %v", p.IPs)
	}
}

func TestSnapshotQueries(t *testing.T) {
	s := &Snapshot{
		VNs:  map[string]*VN{"a": {Name: "a"}, "b": {Name: "b"}},
		NVEs: map[string]*NVE{"h1": {Name: "h1"}, "h2": {Name: "h2"}, "h3": {Name: "h3"}},
		Ports: TableOf(map[string]*Port{
			"p1": {Name: "p1", VN: "a", NVE: "h1"},
			"p2": {Name: "p2", VN: "a", NVE: "h2"},
			"p3": {Name: "p3", VN: "b", NVE: "h1"},
		}),
	}
	if got := s.VNsOn("h1"); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Fatalf("VNsOn = %v", got)
	}
	if got := s.NVEsHosting("a"); !reflect.DeepEqual(got, []string{"h1", "h2"}) {
		t.Fatalf("NVEsHosting = %v", got)
	}
	if got := s.NVEsHosting("b"); !reflect.DeepEqual(got, []string{"h1"}) {
		t.Fatalf("NVEsHosting(b) = %v", got)
	}
	if got := len(s.PortsOn("h3")); got != 0 {
		t.Fatalf("PortsOn(h3) = %d", got)
	}
	if got := s.PortsIn("a"); len(got) != 2 || got[0].Name != "p1" {
		t.Fatalf("PortsIn = %v", got)
	}
}
