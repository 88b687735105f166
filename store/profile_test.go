package store

import (
	"github.com/nva-project/nva/app/pipeline"
	"reflect"
	"testing"

	"github.com/nva-project/nva/app/model"
)

// TestNVEProfileChecked: the store refuses, before proposing and naming
// the field, an NVE whose table_ids do not fit its profile or whose
// tunnel_ports its profile cannot use; valid profile fields pass through.
func TestNVEProfileChecked(t *testing.T) {
	strict, err := pipeline.ForNVE(string(model.NVEOpenFlow), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(strict.Tables) < 2 {
		t.Fatalf("strict profile has %d tables", len(strict.Tables))
	}
	first, last := strict.Tables[0].Name, strict.Tables[len(strict.Tables)-1].Name
	ovs := func() model.NVE {
		return model.NVE{Name: "hv1", UnderlayIPs: []string{"198.18.0.1"}, OVSDB: "unix:/run/ovs/db.sock"}
	}
	tor := func() model.NVE {
		return model.NVE{Name: "tor1", Kind: model.NVEOpenFlow, UnderlayIPs: []string{"198.18.0.9"}, DatapathID: "2a"}
	}
	tests := []struct {
		name string
		nve  model.NVE
		mod  func(n *model.NVE)
		want []string
	}{
		{"kind default", tor(), func(n *model.NVE) {}, nil},
		{"pinned table ids in order", tor(), func(n *model.NVE) {
			n.TableIDs = map[string]uint8{first: 0, last: 250}
			n.TunnelPorts = map[string]string{"198.18.0.1": "Ethernet1/1"}
		}, nil},
		{"unknown table", tor(), func(n *model.NVE) { n.TableIDs = map[string]uint8{"no_such_table": 3} }, []string{"table_ids"}},
		{"tables out of packet order", tor(), func(n *model.NVE) { n.TableIDs = map[string]uint8{first: 251} }, []string{"table_ids"}},
		{"ovs run strict with tunnel ports", ovs(), func(n *model.NVE) {
			n.Profile = model.ProfileStrict
			n.TunnelPorts = map[string]string{"198.18.0.2": "vx-hv2"}
		}, nil},
		{"tunnel ports with flow tunnels", ovs(), func(n *model.NVE) { n.TunnelPorts = map[string]string{"198.18.0.2": "vx-hv2"} }, []string{"tunnel_ports"}},
		{"syntax first", ovs(), func(n *model.NVE) { n.Profile = "p4"; n.TableIDs = map[string]uint8{"x": 1} }, []string{"profile"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := tt.nve
			tt.mod(&n)
			got, err := nveKind{}.prepare(n)
			var fields []string
			if err != nil {
				e, ok := model.AsError(err)
				if !ok || e.Kind != model.KindInvalid {
					t.Fatalf("error %v is not an invalid-value error", err)
				}
				for _, f := range e.Fields {
					fields = append(fields, f.Field)
				}
			}
			if !reflect.DeepEqual(fields, tt.want) {
				t.Fatalf("fields = %v (%v), want %v", fields, err, tt.want)
			}
			if err == nil && !reflect.DeepEqual(got.TableIDs, n.TableIDs) {
				t.Fatalf("table_ids = %v, want %v", got.TableIDs, n.TableIDs)
			}
		})
	}
}

// TestNVEProfileFieldsRoundTrip: the log types carry the profile fields
// both ways, and an NVE without them decodes with them absent (nil maps).
func TestNVEProfileFieldsRoundTrip(t *testing.T) {
	n := &model.NVE{Name: "tor1", Kind: model.NVEOpenFlow, UnderlayIPs: []string{"198.18.0.9"}, DatapathID: "000000000000002a",
		Profile: model.ProfileStrict, TableIDs: map[string]uint8{"a": 1}, TunnelPorts: map[string]string{"198.18.0.1": "p1"}, Revision: 7}
	if got := toLogNVE(n).model(); !reflect.DeepEqual(got, n) {
		t.Fatalf("round trip = %+v, want %+v", got, n)
	}
	plain := &model.NVE{Name: "hv1", Kind: model.NVEOVS, UnderlayIPs: []string{"198.18.0.1"}, TableIDs: map[string]uint8{}}
	got := toLogNVE(plain).model()
	if got.TableIDs != nil || got.TunnelPorts != nil || got.Profile != "" {
		t.Fatalf("an NVE without profile fields came back with %+v", got)
	}
}
