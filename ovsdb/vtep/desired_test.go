package vtep

import (
	"reflect"
	"testing"
	"time"

	"github.com/nva-project/nva/app/model"
)

func TestFromSnapshot(t *testing.T) {
	at := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	port := func(name, vn, nve, iface, mac string, vlan int, ips ...string) *model.Port {
		p := &model.Port{Name: name, VN: vn, NVE: nve, Interface: iface, MAC: mac, VLAN: vlan, IPs: ips}
		p.Parse()
		return p
	}
	snap := &model.Snapshot{
		VNs: map[string]*model.VN{
			"blue":  {Name: "blue", VNI: 5001, Encap: model.EncapVXLAN},
			"green": {Name: "green", VNI: 5003, Encap: model.EncapGENEVE},
		},
		NVEs: map[string]*model.NVE{
			"hv1":  {Name: "hv1", Kind: model.NVEOVS, UnderlayIPs: []string{"198.18.0.1"}},
			"hv2":  {Name: "hv2", Kind: model.NVEOVS, UnderlayIPs: []string{"198.18.0.2"}},
			"tor1": {Name: "tor1", Kind: model.NVEVTEP, UnderlayIPs: []string{"198.18.0.9"}, OVSDB: "tcp:192.0.2.9:6640"},
			"tor2": {Name: "tor2", Kind: model.NVEVTEP, UnderlayIPs: []string{"198.18.0.10"}, OVSDB: "tcp:192.0.2.10:6640"},
		},
		Ports: model.TableOf(map[string]*model.Port{
			"vm1": port("vm1", "blue", "hv1", "tap1", "02:00:00:00:00:01", 0, "10.0.0.1", "2001:db8::1"),
			"vm2": port("vm2", "blue", "hv2", "tap2", "02:00:00:00:00:02", 0),
			"bm":  port("bm", "blue", "tor1", "p1", "", 100),
			"bm2": port("bm2", "blue", "tor1", "p2", "", 0),
			"bm3": port("bm3", "blue", "tor2", "p1", "", 7),
			"gm":  port("gm", "green", "tor1", "p1", "", 200), // refused by the store; warned here
		}),
		Learned: map[string]*model.LearnedEndpoint{
			"blue/02:00:00:00:0b:01": {VN: "blue", MAC: "02:00:00:00:0b:01", NVE: "tor1", Via: model.ViaVTEP, FirstSeen: at, LastSeen: at},
			"blue/02:00:00:00:0b:02": {VN: "blue", MAC: "02:00:00:00:0b:02", NVE: "tor2", Via: model.ViaVTEP, IPs: []string{"10.0.0.50"}, FirstSeen: at, LastSeen: at},
			"blue/02:00:00:00:00:02": {VN: "blue", MAC: "02:00:00:00:00:02", NVE: "tor2", Via: model.ViaVTEP, FirstSeen: at, LastSeen: at}, // vm2's: the port wins
		},
	}
	got, ok := FromSnapshot(snap, "tor1")
	if !ok {
		t.Fatal("tor1 not found")
	}
	want := Desired{NVE: "tor1", Endpoint: "tcp:192.0.2.9:6640", TunnelIP: "198.18.0.9",
		VNs: []VN{{Name: "blue", VNI: 5001,
			Bindings: []Binding{{Port: "p1", VLAN: 100}, {Port: "p2", VLAN: 0}},
			Remote: []RemoteMAC{
				{MAC: "02:00:00:00:00:01", IP: "10.0.0.1", Locator: "198.18.0.1"},
				{MAC: "02:00:00:00:00:02", Locator: "198.18.0.2"},
				{MAC: "02:00:00:00:0b:02", IP: "10.0.0.50", Locator: "198.18.0.10"},
			},
			Flood: []string{"198.18.0.1", "198.18.0.10", "198.18.0.2"},
		}},
		Warnings: []string{"VN green: encap geneve is not vxlan; not put on the VTEP"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("desired\n got %+v\nwant %+v", got, want)
	}
	if !got.Equal(want) {
		t.Fatal("Equal disagrees with DeepEqual")
	}
	want.VNs[0].Flood = want.VNs[0].Flood[:2]
	if got.Equal(want) {
		t.Fatal("Equal ignores the flood list")
	}
	if _, ok := FromSnapshot(snap, "hv1"); ok {
		t.Fatal("an ovs NVE has a VTEP desired state")
	}
}

// TestFromSnapshotSplitNVE: the tenants of a tNVE (a split NVE without
// tunnels of its own) are reached through its nNVE, so the VTEP's remote
// MACs and flood list name the nNVE's tunnel IP, never the tNVE's.
func TestFromSnapshotSplitNVE(t *testing.T) {
	port := func(name, vn, nve, iface, mac string, vlan int) *model.Port {
		p := &model.Port{Name: name, VN: vn, NVE: nve, Interface: iface, MAC: mac, VLAN: vlan}
		p.Parse()
		return p
	}
	snap := &model.Snapshot{
		VNs: map[string]*model.VN{"blue": {Name: "blue", VNI: 5001, Encap: model.EncapVXLAN}},
		NVEs: map[string]*model.NVE{
			"hv1": {Name: "hv1", Kind: model.NVEOVS, UnderlayIPs: []string{"198.18.0.1"}},
			"hv4": {Name: "hv4", Kind: model.NVEOVS, UnderlayIPs: []string{"198.18.0.4"},
				AccessLink: &model.AccessLink{NNVE: "hv1", Uplink: "up0", NNVEPort: "to-hv4", VLANs: map[string]int{"blue": 2001}}},
			"tor1": {Name: "tor1", Kind: model.NVEVTEP, UnderlayIPs: []string{"198.18.0.9"}, OVSDB: "tcp:192.0.2.9:6640"},
		},
		Ports: model.TableOf(map[string]*model.Port{
			"b5": port("b5", "blue", "hv4", "tap5", "02:00:00:00:00:05", 0),
			"bm": port("bm", "blue", "tor1", "p1", "", 100),
		}),
	}
	got, ok := FromSnapshot(snap, "tor1")
	if !ok || len(got.VNs) != 1 {
		t.Fatalf("desired %+v (%v)", got, ok)
	}
	v := got.VNs[0]
	if want := []RemoteMAC{{MAC: "02:00:00:00:00:05", Locator: "198.18.0.1"}}; !reflect.DeepEqual(v.Remote, want) {
		t.Fatalf("remote MACs %+v, want %+v (the nNVE's tunnel IP)", v.Remote, want)
	}
	if want := []string{"198.18.0.1"}; !reflect.DeepEqual(v.Flood, want) {
		t.Fatalf("flood %v, want %v", v.Flood, want)
	}
}
