package main

import (
	"strings"
	"testing"
)

// TestAccessLinkCommands: a tNVE and a passthrough port created with
// flags; access-links shows the VLAN per VN (QinQ for the passthrough
// VN), for all links and for one.
func TestAccessLinkCommands(t *testing.T) {
	ts, st := server(t)
	c := cli{t, map[string]string{"NVA_SERVER": ts.URL}}
	c.ok("vn", "create", "blue", "--vni", "100")
	c.ok("vn", "create", "red", "--vni", "200")
	c.ok("nve", "create", "tor1", "--underlay-ip", "192.0.2.9", "--ovsdb", "unix:/run/tor1.sock")
	c.ok("nve", "create", "hv1", "--underlay-ip", "192.0.2.1", "--ovsdb", "unix:/run/hv1.sock",
		"--access-nnve", "tor1", "--access-uplink", "eth1", "--access-nnve-port", "p1", "--access-vlan-pool", "100-199")
	c.ok("port", "create", "b1", "--vn", "blue", "--nve", "hv1", "--interface", "tap1", "--mac", "02:00:00:00:00:01")
	c.ok("port", "create", "r1", "--vn", "red", "--nve", "hv1", "--interface", "tap2", "--mac", "02:00:00:00:00:02",
		"--vlan-mode", "passthrough", "--allowed-vlans", "10,20", "--untagged")
	r1 := st.Snapshot().Ports.Get("r1")
	if r1 == nil || !r1.Passthrough() || len(r1.AllowedVLANs) != 2 || !r1.Untagged {
		t.Fatalf("r1 = %+v", r1)
	}
	out := c.ok("access-links")
	var blue, red []string
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) >= 9 && f[5] == "blue" {
			blue = f
		}
		if len(f) >= 9 && f[5] == "red" {
			red = f
		}
	}
	if blue == nil || blue[0] != "hv1" || blue[2] != "tor1" || blue[3] != "p1" || blue[7] != "100" || blue[8] != "-" {
		t.Errorf("blue row %v in\n%s", blue, out)
	}
	if red == nil || red[7] != "101" || red[8] != "yes" || red[9] != "r1" {
		t.Errorf("red row %v in\n%s", red, out)
	}
	if out := c.ok("access-links", "hv1", "-o", "json"); !strings.Contains(out, `"vlan": 101`) {
		t.Errorf("json: %s", out)
	}
	c.fails("not a tNVE", "access-links", "tor1")
}
