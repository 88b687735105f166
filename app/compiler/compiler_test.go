package compiler_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/compiler/scenario"
	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/pipeline"
	"github.com/nva-project/nva/app/sim"
)

func compile(t *testing.T, in compiler.Input) compiler.Result {
	t.Helper()
	r, err := compiler.Compile(in, pipeline.OVS())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func text(t *testing.T, r compiler.Result) string {
	t.Helper()
	s, err := flow.FormatFlows(r.Flows, flow.TextOptions{Cookie: true})
	if err != nil {
		t.Fatal(err)
	}
	return s + flow.FormatGroups(r.Groups) + strings.Join(r.Warnings, "\n")
}

func TestDeterministic(t *testing.T) {
	d := scenario.TwoVNsThreeNVEs()
	first := text(t, compile(t, d.Input("hv1")))
	for i := 0; i < 20; i++ { // map iteration order differs between runs
		if got := text(t, compile(t, d.Input("hv1"))); got != first {
			t.Fatalf("run %d differs:\n%s", i, lineDiff(first, got))
		}
	}
}

func TestCookies(t *testing.T) {
	d := scenario.TwoVNsThreeNVEs()
	in := d.Input("hv1")
	in.Generation = 3
	r := compile(t, in)
	ids := map[uint32]string{}
	for _, f := range r.Flows {
		if !flow.IsNVACookie(f.Cookie) || flow.CookieGeneration(f.Cookie) != 3 || flow.CookieID(f.Cookie) != flow.ID(f) {
			t.Errorf("flow %s: cookie %#x", f, f.Cookie)
		}
		if o, dup := ids[flow.CookieID(f.Cookie)]; dup {
			t.Errorf("flows %s and %s share cookie ID", o, f)
		}
		ids[flow.CookieID(f.Cookie)] = f.String()
	}
}

// TestStateOnlyForHostedVNs: an NVE's state does not change when VNs it
// does not host grow, and grows by a fixed amount per port of its own VNs.
func TestStateOnlyForHostedVNs(t *testing.T) {
	d := scenario.TwoVNsThreeNVEs() // hv3 hosts only blue
	base := compile(t, d.Input("hv3"))
	baseText := text(t, base)
	if strings.Contains(baseText, "0xc8") || strings.Contains(baseText, "02:00:00:00:02:") {
		t.Fatalf("hv3 got state of red, which it does not host:\n%s", baseText)
	}
	// A big new VN on hv1 and hv2 only, and more red ports: hv3 unchanged.
	d.VN("purple", 700)
	for i := 0; i < 100; i++ {
		nve := []string{"hv1", "hv2"}[i%2]
		d.Port(fmt.Sprintf("p%d", i), "purple", nve, fmt.Sprintf("tap-p%d", i), fmt.Sprintf("02:00:00:07:%02x:%02x", i/256, i%256), 0, fmt.Sprintf("10.7.%d.%d", i/200, 1+i%200))
		d.Port(fmt.Sprintf("rr%d", i), "red", nve, fmt.Sprintf("tap-rr%d", i), fmt.Sprintf("02:00:00:08:%02x:%02x", i/256, i%256), 0)
	}
	if got := text(t, compile(t, d.Input("hv3"))); got != baseText {
		t.Fatalf("hv3 changed when VNs it does not host grew:\n%s", lineDiff(baseText, got))
	}
	// One more remote blue port with one IPv4: +1 unicast flow, +1 ARP
	// responder; no new groups.
	d.Port("b2x", "blue", "hv2", "tap-b2x", "02:00:00:00:01:22", 0, "10.0.0.22")
	r := compile(t, d.Input("hv3"))
	if got, want := len(r.Flows), len(base.Flows)+2; got != want {
		t.Errorf("remote port added %d flows, want 2:\n%s", got-len(base.Flows), lineDiff(baseText, text(t, r)))
	}
	if len(r.Groups) != len(base.Groups) {
		t.Errorf("remote port on a known NVE changed the group count")
	}
	// A local port is also bounded: classify, reply, l2 unicast, ARP
	// responder, own-address exemption, and its port-security flows (10
	// for one IPv4: ARP probe, DHCP, ARP, IPv4, link-local, DAD NS, MLD,
	// link-local NA with and without TLL, other NAs dropped).
	before := len(r.Flows)
	d.Port("b3x", "blue", "hv3", "tap-b3x", "02:00:00:00:01:33", 0, "10.0.0.33")
	r2 := compile(t, d.Input("hv3"))
	if got := len(r2.Flows) - before; got != 15 {
		t.Errorf("local port added %d flows, want 15:\n%s", got, lineDiff(text(t, r), text(t, r2)))
	}
}

func TestWarningsAndSkips(t *testing.T) {
	d := scenario.New().VN("blue", 100, func(v *model.VN) { v.Service = model.ServiceL2L3 }).
		VN("mc", 101, func(v *model.VN) { v.BUM = model.BUM{Mode: model.BUMMulticast, Group: "239.1.1.1"} }).
		NVE("hv1", "198.18.0.1").NVE("hv2", "198.18.0.2").
		Port("a", "blue", "hv1", "tap-a", "02:00:00:00:00:01", 0, "10.0.0.1").
		Port("a2", "blue", "hv1", "tap-a2", "02:00:00:00:00:02", 0, "10.0.0.2").
		Port("b", "blue", "hv2", "tap-b", "02:00:00:00:00:03", 0, "10.0.0.3").
		Port("m", "mc", "hv1", "tap-m", "02:00:00:00:00:04", 0).
		Port("m2", "mc", "hv2", "tap-m2", "02:00:00:00:00:05", 0)
	in := d.Input("hv1")
	delete(in.OFPorts, "tap-a2")
	delete(in.Tunnels, model.EncapVXLAN)
	r := compile(t, in)
	all := strings.Join(r.Warnings, "\n")
	for _, w := range []string{
		"port a2: interface tap-a2 has no OpenFlow port",
		"VN blue: service l2l3: only the L2 part is compiled",
		"VN mc: BUM mode multicast is not compiled yet",
		"no vxlan tunnel port (nva-vxlan)",
	} {
		if !strings.Contains(all, w) {
			t.Errorf("missing warning %q in:\n%s", w, all)
		}
	}
	txt := text(t, r)
	if strings.Contains(txt, "02:00:00:00:00:02,actions=output") || strings.Contains(txt, "output:100") {
		t.Errorf("skipped port or missing tunnel still used:\n%s", txt)
	}
	// a2's address is still answered (it is known in the VN).
	if !strings.Contains(txt, "arp_tpa=10.0.0.2,actions=move") {
		t.Errorf("known address of an unattached port not answered")
	}
}

func TestCompileErrors(t *testing.T) {
	d := scenario.OneVNOneNVE()
	in := d.Input("hv1")
	in.NVE = "nope"
	_, err := compiler.Compile(in, pipeline.OVS())
	if e, ok := model.AsError(err); !ok || e.Kind != model.KindNotFound {
		t.Errorf("unknown NVE: %v", err)
	}
	strict := pipeline.OVS()
	strict.Name, strict.Extensions = "strict", false
	if _, err := compiler.Compile(d.Input("hv1"), strict); err == nil {
		t.Error("profile without extensions compiled")
	}
	if _, err := compiler.Compile(compiler.Input{NVE: "hv1"}, pipeline.OVS()); err == nil {
		t.Error("nil snapshot compiled")
	}
}

// TestNDToControllerWithoutInSwitchND: a profile that cannot build NAs
// sends known solicitations to the controller, never floods them.
func TestNDToControllerWithoutInSwitchND(t *testing.T) {
	prof := pipeline.OVS()
	prof.NDInSwitch = false
	d := scenario.IPv6Ports()
	r, err := compiler.Compile(d.Input("hv1"), prof)
	if err != nil {
		t.Fatal(err)
	}
	sw, err := sim.New(prof, r.Flows, r.Groups)
	if err != nil {
		t.Fatal(err)
	}
	res := sw.Run(sim.NeighborSolicitation(d.OFPort("hv1", "tap-s1"), "02:00:00:00:06:01", "fe80::1", "2001:db8:6::2"))
	if len(res.Outputs) != 1 || res.Outputs[0].Port != flow.PortController {
		t.Fatalf("known NS not sent to the controller only:\n%s", res.TraceText())
	}
}

// TestARPToControllerWithoutInSwitchARP: a profile that cannot build ARP
// replies sends known requests to the controller, never floods them.
func TestARPToControllerWithoutInSwitchARP(t *testing.T) {
	prof := pipeline.OVS()
	prof.ARPInSwitch = false
	d := scenario.TwoVNsThreeNVEs()
	r, err := compiler.Compile(d.Input("hv1"), prof)
	if err != nil {
		t.Fatal(err)
	}
	sw, err := sim.New(prof, r.Flows, r.Groups)
	if err != nil {
		t.Fatal(err)
	}
	res := sw.Run(sim.ARPRequest(d.OFPort("hv1", "tap-b1"), "02:00:00:00:01:01", "10.0.0.1", "10.0.0.3"))
	if len(res.Outputs) != 1 || res.Outputs[0].Port != flow.PortController {
		t.Fatalf("known ARP request not sent to the controller only:\n%s", res.TraceText())
	}
}

func TestTunnelPortName(t *testing.T) {
	for e, want := range map[model.Encap]string{model.EncapVXLAN: "nva-vxlan", model.EncapGENEVE: "nva-geneve", model.EncapGRE: "nva-gre"} {
		if got := compiler.TunnelPortName(e); got != want {
			t.Errorf("%s: %s", e, got)
		}
	}
	if compiler.FloodGroupID(100, false) == compiler.FloodGroupID(100, true) || compiler.FloodGroupID(100, true) == compiler.FloodGroupID(101, false) {
		t.Error("flood group IDs collide")
	}
}

// BenchmarkCompileLargeDomain compiles one NVE of a domain with 100 NVEs,
// 200 VNs and 4000 ports, where the NVE hosts 10 VNs.
func BenchmarkCompileLargeDomain(b *testing.B) {
	d := scenario.New()
	for n := 0; n < 100; n++ {
		d.NVE(fmt.Sprintf("hv%d", n), fmt.Sprintf("198.18.%d.%d", n/200, 1+n%200))
	}
	for v := 0; v < 200; v++ {
		d.VN(fmt.Sprintf("vn%d", v), uint32(1000+v))
	}
	for i := 0; i < 4000; i++ {
		v, n := i%200, (i/200+i)%100
		d.Port(fmt.Sprintf("p%d", i), fmt.Sprintf("vn%d", v), fmt.Sprintf("hv%d", n), fmt.Sprintf("tap%d", i),
			fmt.Sprintf("02:00:00:%02x:%02x:%02x", i>>16&0xff, i>>8&0xff, i&0xff), 0, fmt.Sprintf("10.%d.%d.%d", v/250, v%250, 1+i/200))
	}
	in := d.Input("hv0")
	prof := pipeline.OVS()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, err := compiler.Compile(in, prof)
		if err != nil {
			b.Fatal(err)
		}
		if i == 0 {
			b.ReportMetric(float64(len(r.Flows)), "flows")
		}
	}
}
