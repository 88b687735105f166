package web

import (
	"reflect"
	"testing"
	"time"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/web/wire"
)

type vtepStatus struct{}

func (vtepStatus) NVEStatus(name string) *model.NVEStatus {
	return &model.NVEStatus{VTEP: &model.VTEPStatus{InSync: name == "tor1"}}
}

// TestTopologyVTEPs: the topology lists the VTEPs with their VAPs and the
// MACs learned behind them; other NVEs and learned entries are not.
func TestTopologyVTEPs(t *testing.T) {
	at := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	snap := &model.Snapshot{
		VNs: map[string]*model.VN{"blue": {Name: "blue", VNI: 1}},
		NVEs: map[string]*model.NVE{
			"hv1":  {Name: "hv1", Kind: model.NVEOVS, UnderlayIPs: []string{"198.18.0.1"}},
			"tor1": {Name: "tor1", Kind: model.NVEVTEP, UnderlayIPs: []string{"198.18.0.9"}},
		},
		Ports: model.TableOf(map[string]*model.Port{
			"vm1": {Name: "vm1", VN: "blue", NVE: "hv1", Interface: "tap1", MAC: "02:00:00:00:00:01"},
			"bmb": {Name: "bmb", VN: "blue", NVE: "tor1", Interface: "p2"},
			"bma": {Name: "bma", VN: "blue", NVE: "tor1", Interface: "p1", VLAN: 100},
		}),
		Learned: map[string]*model.LearnedEndpoint{
			"blue/02:00:00:00:0b:01": {VN: "blue", MAC: "02:00:00:00:0b:01", NVE: "tor1", Via: model.ViaVTEP, FirstSeen: at, LastSeen: at},
			"blue/02:00:00:00:0c:01": {VN: "blue", MAC: "02:00:00:00:0c:01", NVE: "hv1", Via: "seg1", FirstSeen: at, LastSeen: at},
		},
	}
	got := BuildTopology(snap, vtepStatus{}).VTEPs
	want := []wire.TopologyVTEP{{NVE: "tor1", TunnelIP: "198.18.0.9", InSync: true,
		Bindings: []wire.VTEPBinding{{Port: "bma", PhysicalPort: "p1", VLAN: 100, VN: "blue"}, {Port: "bmb", PhysicalPort: "p2", VN: "blue"}},
		Learned:  []wire.VTEPLearnedMAC{{VN: "blue", MAC: "02:00:00:00:0b:01"}},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("vteps\n got %+v\nwant %+v", got, want)
	}
	delete(snap.NVEs, "tor1")
	if got := BuildTopology(&model.Snapshot{VNs: snap.VNs, NVEs: snap.NVEs}, nil).VTEPs; got == nil || len(got) != 0 {
		t.Fatalf("no VTEP: %#v, want []", got)
	}
}
