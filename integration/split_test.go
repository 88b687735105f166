package integration

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nva-project/nva/integration/lab"
	"github.com/nva-project/nva/web/wire"
)

// TestSplitNVE runs split NVEs (RFC 8014 §4.2) on real Open vSwitch: hv1
// is the nNVE (an OVS switch standing in for the top-of-rack), hv2 and
// hv3 are tNVEs whose uplinks are veths cabled into hv1, hv4 is an
// ordinary hypervisor. Everything is declared through the REST API: nva
// allocates a VLAN per (access link, VN), puts both link ends on br-int
// and programs both ends.
//
//   - Reach: tenants of blue reach each other across all of them (tNVE to
//     tNVE through the nNVE, tNVE to the nNVE's own VAP, tNVE to a normal
//     hypervisor over VXLAN from the nNVE); red reuses blue's addresses
//     and answers as itself, never as blue; an address only blue has is
//     unreachable from red; a capture on hv2's access link shows the
//     VLANs nva allocated.
//   - Move: a tenant moves from tNVE hv2 to hv4 and back and keeps its
//     reach; blue's VLAN on hv2's link is freed and a new one allocated.
//   - QinQ: passthrough ports on tNVE hv2 and normal hv4 carry tenant
//     VLAN 10 and 20 frames with their tags; on the access link they ride
//     inside an 802.1ad S-tag with the link VLAN.
func TestSplitNVE(t *testing.T) {
	requireLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	l := lab.New(t, lab.Options{Hypervisors: 4})
	n, err := l.StartNVA(ctx, lab.NVAOptions{Bin: nvaBin})
	if err != nil {
		t.Fatal(err)
	}
	ov, err := lab.NewOverlay(ctx, l, n, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ov.RealizeTimeout = realizeTimeout
	for hv := 1; hv <= 4; hv++ {
		if err := l.SetVLANLimit(ctx, hv, 2); err != nil {
			t.Fatal(err)
		}
	}
	for _, tn := range []int{2, 3} {
		uplink, port, err := l.AddAccessLink(ctx, tn, 1)
		if err != nil {
			t.Fatal(err)
		}
		if err := ov.Patch(ctx, fmt.Sprintf("/api/v1/nves/hv%d", tn), map[string]any{
			"access_link": map[string]any{"nnve": "hv1", "uplink": uplink, "nnve_port": port, "vlan_pool": "100-199"},
		}); err != nil {
			t.Fatal(err)
		}
	}
	for _, v := range []lab.VNSpec{{Name: "blue", VNI: 3001, Encap: "vxlan"}, {Name: "red", VNI: 3002, Encap: "vxlan"}, {Name: "green", VNI: 3003, Encap: "vxlan"}} {
		if err := ov.AddVN(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	for _, ts := range []lab.TenantSpec{
		{Name: "b1", VN: "blue", HV: 1, IP: "192.0.2.11", MAC: "02:00:00:00:31:01"},
		{Name: "b2", VN: "blue", HV: 2, IP: "192.0.2.12", MAC: "02:00:00:00:31:02"},
		{Name: "b3", VN: "blue", HV: 3, IP: "192.0.2.13", MAC: "02:00:00:00:31:03"},
		{Name: "b4", VN: "blue", HV: 4, IP: "192.0.2.14", MAC: "02:00:00:00:31:04"},
		{Name: "r2", VN: "red", HV: 2, IP: "192.0.2.13", MAC: "02:00:00:00:32:02"}, // b3's address
		{Name: "r3", VN: "red", HV: 3, IP: "192.0.2.12", MAC: "02:00:00:00:32:03"}, // b2's address
		{Name: "r4", VN: "red", HV: 4, IP: "192.0.2.14", MAC: "02:00:00:00:32:04"}, // b4's address
	} {
		if err := ov.AddTenant(ctx, ts); err != nil {
			t.Fatal(err)
		}
	}
	// Passthrough tenants of green (their own IPs are the frames' sources).
	for _, g := range []struct {
		name, mac, ip string
		hv            int
	}{{"g2", "02:00:00:00:33:02", "198.51.100.2", 2}, {"g4", "02:00:00:00:33:04", "198.51.100.4", 4}} {
		if _, err := l.AddTenant(ctx, g.hv, g.name, g.mac, []string{g.ip + "/24"}, 0); err != nil {
			t.Fatal(err)
		}
		if err := ov.Post(ctx, "/api/v1/ports", map[string]any{"name": g.name, "vn": "green", "nve": fmt.Sprintf("hv%d", g.hv),
			"interface": "vm-" + g.name, "mac": g.mac, "ips": []string{g.ip},
			"vlan_mode": "passthrough", "allowed_vlans": []int{10, 20}}); err != nil {
			t.Fatal(err)
		}
	}
	var link wire.AccessLink
	if _, err := n.Client.Do(ctx, http.MethodGet, "/api/v1/access-links/hv2", nil, &link); err != nil {
		t.Fatal(err)
	}
	vlans := map[string]wire.AccessVLAN{}
	for _, v := range link.VLANs {
		vlans[v.VN] = v
	}
	if len(vlans) != 3 || vlans["blue"].VLAN == 0 || vlans["red"].VLAN == 0 || !vlans["green"].QinQ {
		t.Fatalf("hv2's access link: %+v", link)
	}
	t.Logf("split lab (nNVE hv1, tNVEs hv2 hv3, normal hv4) built in %v; hv2's link VLANs: blue %d, red %d, green %d (QinQ)",
		time.Since(start).Round(time.Millisecond), vlans["blue"].VLAN, vlans["red"].VLAN, vlans["green"].VLAN)

	t.Run("Reach", func(t *testing.T) {
		capt, err := l.StartCapture(ctx, l.HVPoint(2, lab.AccessUplink), "vlan and icmp")
		if err != nil {
			t.Fatal(err)
		}
		names := []string{"b1", "b2", "b3", "b4"}
		cells := ov.Matrix(ctx, names, 20*time.Second)
		t.Logf("blue across nNVE, two tNVEs and a normal hypervisor:\n%s", ov.FormatMatrix(names, cells))
		for _, c := range cells {
			if c.Err != nil {
				t.Errorf("%s -> %s: %v", c.From, c.To, c.Err)
			}
		}
		// red: its own 192.0.2.12 (r3, behind the other tNVE) and .14 (r4
		// on hv4) answer with red's MACs; blue's .11 (b1) is not in red.
		for _, c := range []struct{ from, ip, mac string }{{"r2", "192.0.2.12", "02:00:00:00:32:03"}, {"r2", "192.0.2.14", "02:00:00:00:32:04"}, {"r3", "192.0.2.13", "02:00:00:00:32:02"}} {
			if _, err := l.Reachable(ctx, c.from, c.ip, 20*time.Second); err != nil {
				t.Errorf("red %s -> %s: %v", c.from, c.ip, err)
				continue
			}
			if mac, err := l.Neighbor(ctx, c.from, c.ip); err != nil || !strings.Contains(strings.ToLower(mac), c.mac) {
				t.Errorf("red %s resolved %s to %q (%v), want red's %s", c.from, c.ip, mac, err, c.mac)
			}
		}
		if r, err := l.Ping(ctx, "r2", "192.0.2.11", 3); err == nil && r.Received > 0 {
			t.Errorf("red r2 reached blue's 192.0.2.11: %s", r)
		}
		pkts, err := capt.Stop()
		if err != nil {
			t.Fatal(err)
		}
		seen := map[int]int{}
		for _, p := range pkts {
			for _, vn := range []string{"blue", "red"} {
				if strings.Contains(p, fmt.Sprintf("vlan %d,", vlans[vn].VLAN)) {
					seen[vlans[vn].VLAN]++
				}
			}
		}
		if seen[vlans["blue"].VLAN] == 0 || seen[vlans["red"].VLAN] == 0 {
			t.Errorf("capture on hv2's access link: %d packets, VLAN counts %v, want blue's %d and red's %d; first: %q",
				len(pkts), seen, vlans["blue"].VLAN, vlans["red"].VLAN, first(pkts, 3))
		}
		t.Logf("hv2 access link: %d tagged ICMP frames, by VLAN %v; e.g. %q", len(pkts), seen, first(pkts, 1))
	})

	// A port moving from a split hypervisor to a normal one and back works
	// like any move; blue's VLAN on hv2's link is freed and allocated anew.
	t.Run("Move", func(t *testing.T) {
		for _, hv := range []int{4, 2} {
			if _, _, err := ov.MoveTenant(ctx, "b2", hv); err != nil {
				t.Fatal(err)
			}
			for _, to := range []string{"192.0.2.11", "192.0.2.13", "192.0.2.14"} {
				if _, err := l.Reachable(ctx, "b2", to, 20*time.Second); err != nil {
					t.Errorf("b2 on hv%d -> %s: %v", hv, to, err)
				}
			}
		}
		var after wire.AccessLink
		if _, err := n.Client.Do(ctx, http.MethodGet, "/api/v1/access-links/hv2", nil, &after); err != nil {
			t.Fatal(err)
		}
		for _, v := range after.VLANs {
			if v.VN == "blue" && (v.VLAN == vlans["blue"].VLAN || len(v.Ports) != 1) {
				t.Errorf("blue on hv2's link after leaving and coming back: %+v (before: VLAN %d; next fit hands out another)", v, vlans["blue"].VLAN)
			}
		}
	})

	t.Run("QinQ", func(t *testing.T) {
		for _, vid := range []int{10, 20} {
			marker := fmt.Sprintf("nva-qinq-%d", vid)
			at4, err := l.StartCapture(ctx, l.TenantPoint("g4"), fmt.Sprintf("vlan %d and udp port 4242", vid))
			if err != nil {
				t.Fatal(err)
			}
			link, err := l.StartCapture(ctx, l.HVPoint(2, lab.AccessUplink), "vlan")
			if err != nil {
				t.Fatal(err)
			}
			if err := l.SendTagged(ctx, "g2", "02:00:00:00:33:04", "198.51.100.4", vid, 3, marker); err != nil {
				t.Fatal(err)
			}
			at2, err := l.StartCapture(ctx, l.TenantPoint("g2"), fmt.Sprintf("vlan %d and udp port 4242", vid))
			if err != nil {
				t.Fatal(err)
			}
			if err := l.SendTagged(ctx, "g4", "02:00:00:00:33:02", "198.51.100.2", vid, 3, marker); err != nil {
				t.Fatal(err)
			}
			got4, err4 := at4.Stop()
			got2, err2 := at2.Stop()
			onLink, errL := link.Stop()
			for _, err := range []error{err4, err2, errL} {
				if err != nil {
					t.Fatal(err)
				}
			}
			if len(got4) == 0 || len(got2) == 0 {
				t.Errorf("tenant VLAN %d: g4 got %d tagged frames, g2 got %d (want 3 each)", vid, len(got4), len(got2))
			}
			qinq := 0
			want := fmt.Sprintf("vlan %d,", vlans["green"].VLAN)
			for _, p := range onLink {
				if strings.Contains(p, "0x88a8") && strings.Contains(p, want) && strings.Contains(p, fmt.Sprintf("vlan %d,", vid)) && strings.Contains(p, ".4242") {
					qinq++
				}
			}
			if qinq == 0 {
				t.Errorf("tenant VLAN %d on hv2's access link: no S-tag %d (0x88a8) over C-tag %d in %q", vid, vlans["green"].VLAN, vid, first(onLink, 4))
			}
			t.Logf("tenant VLAN %d: g2->g4 %d, g4->g2 %d frames tagged; access link: %d QinQ frames, e.g. %q", vid, len(got4), len(got2), qinq, first(onLink, 1))
		}
		// A tenant VLAN not allowed does not cross.
		at4, err := l.StartCapture(ctx, l.TenantPoint("g4"), "udp port 4242")
		if err != nil {
			t.Fatal(err)
		}
		if err := l.SendTagged(ctx, "g2", "02:00:00:00:33:04", "198.51.100.4", 30, 3, "nva-qinq-30"); err != nil {
			t.Fatal(err)
		}
		if got, err := at4.Stop(); err != nil || len(got) != 0 {
			t.Errorf("tenant VLAN 30 (not allowed) reached g4: %q %v", got, err)
		}
	})
}

func first(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
