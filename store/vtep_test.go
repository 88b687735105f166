package store

import (
	"context"
	"testing"

	"github.com/nva-project/nva/app/model"
)

// TestVTEPAdmission: a vtep NVE gets no datapath ID; its VAPs may omit the
// MAC (two of them in one VN too); a VN with VTEP VAPs stays vxlan, and a
// non-vxlan VN refuses a VTEP VAP, naming the field; nothing changes on a
// refusal.
func TestVTEPAdmission(t *testing.T) {
	ctx := context.Background()
	s := openMem(t)
	mustOK := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	wantInvalid := func(err error, field string) {
		t.Helper()
		e, ok := model.AsError(err)
		if !ok || e.Kind != model.KindInvalid || e.Field != field {
			t.Fatalf("err = %v, want invalid on %q", err, field)
		}
	}
	mustOK(s.CreateVN(ctx, "", model.VN{Name: "blue"}))
	mustOK(s.CreateVN(ctx, "", model.VN{Name: "green", Encap: model.EncapGENEVE}))
	tor, err := s.CreateNVE(ctx, "", model.NVE{Name: "tor1", Kind: model.NVEVTEP, UnderlayIPs: []string{"198.18.0.9"}, OVSDB: "tcp:192.0.2.9:6640"})
	if err != nil {
		t.Fatal(err)
	}
	if tor.DatapathID != "" {
		t.Fatalf("vtep got datapath id %q", tor.DatapathID)
	}
	mustOK(s.CreateNVE(ctx, "", testNVE("hv1", "198.18.0.1")))
	mustOK(s.CreatePort(ctx, "", model.Port{Name: "bm1", VN: "blue", NVE: "tor1", Interface: "p1", VLAN: 100}))
	mustOK(s.CreatePort(ctx, "", model.Port{Name: "bm2", VN: "blue", NVE: "tor1", Interface: "p2", VLAN: 100}))
	rev := s.Snapshot().Revision

	_, err = s.CreatePort(ctx, "", model.Port{Name: "bm3", VN: "green", NVE: "tor1", Interface: "p1", VLAN: 200})
	wantInvalid(err, "vn")
	_, err = s.CreatePort(ctx, "", model.Port{Name: "vm1", VN: "blue", NVE: "hv1", Interface: "tap1"})
	wantInvalid(err, "mac")
	blue := s.Snapshot().VNs["blue"]
	upd := *blue
	upd.Encap = model.EncapGRE
	_, err = s.UpdateVN(ctx, "", upd)
	wantInvalid(err, "encap")
	hv := *s.Snapshot().NVEs["tor1"]
	hv.Kind, hv.DatapathType, hv.Bridge = model.NVEOVS, "system", "br-int"
	_, err = s.UpdateNVE(ctx, "", hv)
	wantInvalid(err, "kind")
	if got := s.Snapshot().Revision; got != rev {
		t.Fatalf("refusals changed the store: revision %d, want %d", got, rev)
	}
	// Port on an OVS NVE with a MAC in the VN of the VTEP: fine.
	mustOK(s.CreatePort(ctx, "", model.Port{Name: "vm1", VN: "blue", NVE: "hv1", Interface: "tap1", MAC: "02:00:00:00:00:01"}))
}
