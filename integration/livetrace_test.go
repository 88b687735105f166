package integration

import (
	"context"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nva-project/nva/integration/lab"
	"github.com/nva-project/nva/web/wire"
)

// TestLiveTrace: on two real OVS hypervisors, a live trace sends a real
// packet, marked, from a VAP and observes it on both NVEs. For a
// permitted packet (c1 -> c2 across the tunnel), a spoofed one (dropped
// by port security on hv1) and a cross-VN one (c1 to a port of another
// VN: never delivered there), the simulated and the live trace agree on
// the NVEs crossed, the tables, the dropping stage and the outputs. With
// hv2's underlay link cut, the live trace sees the packet leave hv1 into
// the tunnel and never arrive, and flags hv2. The temporary flows are
// gone afterwards.
func TestLiveTrace(t *testing.T) {
	requireLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	l := lab.New(t, lab.Options{Hypervisors: 2})
	n, err := l.StartNVA(ctx, lab.NVAOptions{Bin: nvaBin})
	if err != nil {
		t.Fatal(err)
	}
	ov, err := lab.NewOverlay(ctx, l, n, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, vn := range []lab.VNSpec{{Name: "blue", VNI: 1101, Encap: "vxlan"}, {Name: "red", VNI: 1102, Encap: "vxlan"}} {
		if err := ov.AddVN(ctx, vn); err != nil {
			t.Fatal(err)
		}
	}
	for _, ts := range []lab.TenantSpec{
		{Name: "c1", VN: "blue", HV: 1, IP: "192.0.2.41", MAC: "02:00:00:00:41:01"},
		{Name: "c2", VN: "blue", HV: 2, IP: "192.0.2.42", MAC: "02:00:00:00:41:02"},
		{Name: "r2", VN: "red", HV: 2, IP: "192.0.2.43", MAC: "02:00:00:00:41:03"},
	} {
		if err := ov.AddTenant(ctx, ts); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ov.ExpectReach(ctx, "c1", "192.0.2.42", realizeTimeout); err != nil {
		t.Fatal(err)
	}

	traceLive := func(req wire.TraceRequest) wire.TraceResult {
		t.Helper()
		req.Live = true
		var tr wire.TraceResult
		if _, err := n.Client.Do(ctx, http.MethodPost, "/api/v1/traces", req, &tr); err != nil {
			t.Fatalf("trace %+v: %v", req, err)
		}
		if tr.Live == nil {
			t.Fatalf("trace %+v: no live result", req)
		}
		return tr
	}
	path := func(hops []wire.TraceHop) string {
		var s []string
		for _, h := range hops {
			var tables []string
			for _, st := range h.Steps {
				tables = append(tables, st.Table)
			}
			s = append(s, h.NVE+"["+strings.Join(tables, ",")+"]")
		}
		return strings.Join(s, " ")
	}
	lastTable := func(hops []wire.TraceHop) string {
		if len(hops) == 0 || len(hops[len(hops)-1].Steps) == 0 {
			return ""
		}
		st := hops[len(hops)-1].Steps
		return st[len(st)-1].Table
	}
	agree := func(what string, tr wire.TraceResult) {
		t.Helper()
		lv := tr.Live
		t.Logf("%s: simulated %s (dropped %v); live %s (dropped %v, complete %v, errors %v)", what,
			path(tr.Hops), tr.Dropped, path(lv.Hops), lv.Dropped, lv.Complete, lv.Errors)
		if !lv.Match || len(lv.Mismatches) > 0 || !lv.Complete {
			t.Errorf("%s: live trace does not match: %v (errors %v, unobserved %v)", what, lv.Mismatches, lv.Errors, lv.Unobserved)
		}
		if a, b := path(tr.Hops), path(lv.Hops); a != b {
			t.Errorf("%s: simulated path %s, live %s", what, a, b)
		}
		if tr.Dropped != lv.Dropped {
			t.Errorf("%s: simulated dropped %v, live %v", what, tr.Dropped, lv.Dropped)
		}
	}

	// Permitted: delivered to c2 on hv2 through the tunnel, in both.
	tr := traceLive(wire.TraceRequest{Port: "c1", ToPort: "c2"})
	agree("c1 -> c2", tr)
	delivered := func(ds []wire.TraceDelivery) []string {
		var out []string
		for _, d := range ds {
			out = append(out, d.NVE+"/"+d.Port)
		}
		return out
	}
	if got := delivered(tr.Live.Delivered); !slices.Equal(got, []string{"hv2/c2"}) {
		t.Errorf("c1 -> c2 live delivered %v, want hv2/c2", got)
	}
	if len(tr.Live.Hops) != 2 || len(tr.Live.Hops[0].Outputs) != 1 || tr.Live.Hops[0].Outputs[0].Tunnel == nil ||
		tr.Live.Hops[0].Outputs[0].Tunnel.RemoteNVE != "hv2" || tr.Live.Hops[0].Outputs[0].Tunnel.VNI != 1101 {
		t.Errorf("c1 -> c2 live: want hv1 tunnelling to hv2 with VNI 1101: %+v", tr.Live.Hops)
	}

	// Spoofed source MAC: port security drops it on hv1, in both.
	tr = traceLive(wire.TraceRequest{Port: "c1", ToPort: "c2", EthSrc: "02:00:00:00:99:99"})
	agree("spoofed", tr)
	if !tr.Live.Dropped || len(tr.Live.Hops) != 1 || lastTable(tr.Live.Hops) != "port_security" || tr.Live.Hops[0].Drop == "" {
		t.Errorf("spoofed live: want a drop in port_security on hv1: %+v", tr.Live.Hops)
	}

	// Cross-VN: c1 (blue) to r2's MAC and address (red): never delivered
	// to r2.
	tr = traceLive(wire.TraceRequest{Port: "c1", ToPort: "r2"})
	agree("cross-VN", tr)
	for _, d := range tr.Live.Delivered {
		if d.Port == "r2" {
			t.Errorf("cross-VN live: delivered to r2: %+v", tr.Live.Delivered)
		}
	}

	// Underlay fault: hv2's underlay link is cut on the fabric. The
	// simulation still delivers; the real packet leaves hv1 into the
	// tunnel and never reaches hv2: the live trace is incomplete and the
	// mismatch names hv2.
	if out, err := exec.CommandContext(ctx, "ip", "-n", l.FabricNS(), "link", "set", "hv2", "down").CombinedOutput(); err != nil {
		t.Fatalf("cutting hv2's underlay: %v %s", err, out)
	}
	tr = traceLive(wire.TraceRequest{Port: "c1", ToPort: "c2", WaitMS: 1500})
	t.Logf("underlay cut: live %s (complete %v), mismatches %v", path(tr.Live.Hops), tr.Live.Complete, tr.Live.Mismatches)
	if tr.Live.Match || tr.Live.Complete || !slices.Contains(tr.Live.Mismatches, "NVE hv2: the simulation reaches it; the live packet was not seen there") {
		t.Errorf("underlay cut: want an incomplete live trace that misses hv2: %+v", tr.Live)
	}
	if len(tr.Live.Hops) != 1 || len(tr.Live.Hops[0].Outputs) != 1 || tr.Live.Hops[0].Outputs[0].Tunnel == nil {
		t.Errorf("underlay cut: want hv1 sending into the tunnel: %+v", tr.Live.Hops)
	}
	if out, err := exec.CommandContext(ctx, "ip", "-n", l.FabricNS(), "link", "set", "hv2", "up").CombinedOutput(); err != nil {
		t.Fatalf("restoring hv2's underlay: %v %s", err, out)
	}

	// The temporary flows are gone.
	for hv := 1; hv <= 2; hv++ {
		left, err := l.DumpFlows(ctx, hv, "br-int", "cookie=0x4e54000000000000/0xffff000000000000")
		if err != nil {
			t.Fatal(err)
		}
		if len(left) > 0 {
			t.Errorf("hv%d: live trace flows left: %v", hv, left)
		}
	}
}
