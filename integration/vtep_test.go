package integration

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/integration/lab"
)

// TestVTEPBareMetal: a hardware VTEP (Open vSwitch's ovs-vtep emulator,
// managed by nva over OVSDB with the hardware_vtep schema) joins VN blue:
// a bare-metal host on VLAN 100 behind its physical port p1 pings a VM of
// blue on an OVS hypervisor; it does not reach red (another VN on the same
// hypervisor); a broadcast in blue reaches it and one in red does not; the
// VTEP's database holds what nva wants; the MAC it learned is in the
// NVE's status and becomes a learned endpoint that the hypervisor forwards
// to the VTEP's tunnel IP.
func TestVTEPBareMetal(t *testing.T) {
	requireLab(t)
	if reason := lab.VTEPRequirements(); reason != "" {
		t.Skip("lab: " + reason)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	l := lab.New(t, lab.Options{Hypervisors: 1})
	n, err := l.StartNVA(ctx, lab.NVAOptions{Bin: nvaBin})
	if err != nil {
		t.Fatal(err)
	}
	ov, err := lab.NewOverlay(ctx, l, n, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ov.RealizeTimeout = realizeTimeout
	for _, v := range []lab.VNSpec{{Name: "blue", VNI: 3001, Encap: "vxlan"}, {Name: "red", VNI: 3002, Encap: "vxlan"}} {
		if err := ov.AddVN(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	for _, ts := range []lab.TenantSpec{
		{Name: "b1", VN: "blue", HV: 1, IP: "192.0.2.11", MAC: "02:00:00:00:0a:01"},
		{Name: "r1", VN: "red", HV: 1, IP: "192.0.2.12", MAC: "02:00:00:00:0a:02"},
	} {
		if err := ov.AddTenant(ctx, ts); err != nil {
			t.Fatal(err)
		}
	}
	v, err := l.AddVTEP(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.AddPhysicalPort(ctx, v, "p1"); err != nil {
		t.Fatal(err)
	}
	const bmMAC, bmIP = "02:00:00:00:0b:01", "192.0.2.30"
	if _, err := l.AddBareMetal(ctx, v, "bm1", "p1", 100, bmMAC, []string{bmIP + "/24"}); err != nil {
		t.Fatal(err)
	}
	if err := ov.Post(ctx, "/api/v1/nves", map[string]any{"name": v.Name, "kind": "vtep",
		"underlay_ips": []string{v.TunnelIP.String()}, "ovsdb": v.Endpoint()}); err != nil {
		t.Fatal(err)
	}
	if err := ov.Post(ctx, "/api/v1/ports", bareMetalPort(v.Name)); err != nil {
		t.Fatal(err)
	}
	// A VTEP VAP in a VN of another encapsulation is refused, naming the
	// field.
	if err := ov.AddVN(ctx, lab.VNSpec{Name: "green", VNI: 3003, Encap: "geneve"}); err != nil {
		t.Fatal(err)
	}
	code, err := n.Client.Do(ctx, http.MethodPost, "/api/v1/ports",
		map[string]any{"name": "bm9", "vn": "green", "nve": v.Name, "interface": "p1", "vlan": 300}, nil)
	if code != http.StatusUnprocessableEntity || err == nil || !strings.Contains(err.Error(), "vxlan") {
		t.Fatalf("VTEP VAP in a geneve VN: %d %v, want 422 about vxlan", code, err)
	}

	// The VTEP's database holds blue's logical switch and binding, and
	// b1's MAC behind hv1.
	err = lab.WaitFor(ctx, 60*time.Second, 200*time.Millisecond, func() (bool, error) {
		out, err := v.VTEPCtl(ctx, "list-remote-macs", "blue")
		return err == nil && strings.Contains(out, "02:00:00:00:0a:01 -> vxlan_over_ipv4/"+l.UnderlayIP(1)), nil
	})
	if err != nil {
		out, _ := v.VTEPCtl(ctx, "list-remote-macs", "blue")
		t.Fatalf("remote MACs of blue on the VTEP: %v\n%s", err, out)
	}
	if out, err := v.VTEPCtl(ctx, "list-bindings", v.Name, "p1"); err != nil || !strings.Contains(out, "0100 blue") {
		t.Fatalf("bindings of p1: %q %v, want vlan 100 bound to blue", out, err)
	}

	if d, err := l.Reachable(ctx, "bm1", "192.0.2.11", 60*time.Second); err != nil {
		t.Fatalf("bare-metal host does not reach VM b1: %v", err)
	} else {
		t.Logf("bm1 -> b1 (192.0.2.11): first reply after %v", d)
	}
	if r, err := l.Ping(ctx, "b1", bmIP, 3); err != nil || r.Received == 0 {
		t.Fatalf("b1 -> bm1: %v %v", r, err)
	}
	// Another VN: red's r1 is not reachable from the bare-metal host, nor
	// the bare-metal host from r1.
	if r, err := l.Ping(ctx, "bm1", "192.0.2.12", 3); err != nil || r.Received != 0 {
		t.Fatalf("bm1 -> r1 (red): %v %v, want no reply", r, err)
	}
	if r, err := l.Ping(ctx, "r1", bmIP, 3); err != nil || r.Received != 0 {
		t.Fatalf("r1 (red) -> bm1: %v %v, want no reply", r, err)
	}

	// BUM: broadcasts from b1 (blue) reach the bare-metal host; those
	// from r1 (red) do not.
	capt, err := l.StartCapture(ctx, l.TenantPoint("bm1"), "ether broadcast and icmp")
	if err != nil {
		t.Fatal(err)
	}
	for _, from := range []string{"b1", "r1"} {
		// Broadcast pings get no answer (Linux ignores them): the exit
		// status says nothing here, the capture does.
		_, _ = l.Exec(ctx, from, "ping", "-b", "-c", "3", "-i", "0.2", "-W", "1", "192.0.2.255")
	}
	pkts, err := capt.Stop()
	if err != nil {
		t.Fatal(err)
	}
	var fromBlue, fromRed int
	for _, p := range pkts {
		switch {
		case strings.Contains(p, "02:00:00:00:0a:01 >"):
			fromBlue++
		case strings.Contains(p, "02:00:00:00:0a:02 >"):
			fromRed++
		}
	}
	t.Logf("broadcasts seen by bm1: %d from b1 (blue), %d from r1 (red)", fromBlue, fromRed)
	// Three were sent from each; the userspace datapath may drop one
	// under load, but none from red may arrive.
	if fromBlue == 0 || fromRed != 0 {
		t.Fatalf("broadcasts at bm1: %d from blue (want 3), %d from red (want 0):\n%s", fromBlue, fromRed, strings.Join(pkts, "\n"))
	}

	// The VTEP learned bm1's MAC in blue; nva's status of the NVE says so.
	err = lab.WaitFor(ctx, 30*time.Second, 200*time.Millisecond, func() (bool, error) {
		var got struct {
			Status *model.NVEStatus `json:"status"`
		}
		if _, err := n.Client.Do(ctx, http.MethodGet, "/api/v1/nves/"+v.Name, nil, &got); err != nil {
			return false, err
		}
		if got.Status == nil || got.Status.VTEP == nil {
			return false, nil
		}
		return slices.Contains(got.Status.VTEP.Learned, model.VTEPLearned{VN: "blue", MAC: bmMAC}) &&
			strings.HasPrefix(got.Status.Summary, "ok: vtep in sync"), nil
	})
	if err != nil {
		var raw map[string]any
		_, _ = n.Client.Do(ctx, http.MethodGet, "/api/v1/nves/"+v.Name, nil, &raw)
		t.Fatalf("learned MAC in the VTEP's status: %v (%v)", err, fmt.Sprint(raw["status"]))
	}
	if out, err := v.VTEPCtl(ctx, "list-local-macs", "blue"); err != nil || !strings.Contains(out, bmMAC+" -> vxlan_over_ipv4/"+v.TunnelIP.String()) {
		t.Fatalf("local MACs of blue on the VTEP: %q %v", out, err)
	}
	var topo struct {
		Learned []model.LearnedEndpoint `json:"learned"`
		VTEPs   []struct {
			NVE     string `json:"nve"`
			Learned []struct{ VN, MAC string }
		} `json:"vteps"`
	}
	if _, err := n.Client.Do(ctx, http.MethodGet, "/api/v1/topology", nil, &topo); err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(topo.Learned, func(e model.LearnedEndpoint) bool {
		return e.VN == "blue" && e.MAC == bmMAC && e.NVE == v.Name && e.Via == model.ViaVTEP
	}) || len(topo.VTEPs) != 1 || len(topo.VTEPs[0].Learned) != 1 {
		t.Fatalf("topology: learned %+v, vteps %+v; want %s learned at %s via vtep", topo.Learned, topo.VTEPs, bmMAC, v.Name)
	}
	err = lab.WaitFor(ctx, 30*time.Second, 200*time.Millisecond, func() (bool, error) {
		flows, err := l.DumpFlows(ctx, 1, lab.IntegrationBridge, "dl_dst="+bmMAC)
		if err != nil {
			return false, err
		}
		for _, f := range flows {
			if strings.Contains(f, "tun_dst="+v.TunnelIP.String()) || strings.Contains(f, v.TunnelIP.String()+"->tun_dst") {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		flows, _ := l.DumpFlows(ctx, 1, lab.IntegrationBridge)
		t.Fatalf("hv1 does not forward the learned MAC %s to the VTEP: %v\n%s", bmMAC, err, strings.Join(flows, "\n"))
	}
}

// bareMetalPort is the VAP of bm1 on the VTEP: physical port p1, VLAN 100,
// no MAC (the host behind it is learned).
func bareMetalPort(nve string) map[string]any {
	return map[string]any{"name": "bm1", "vn": "blue", "nve": nve, "interface": "p1", "vlan": 100}
}
