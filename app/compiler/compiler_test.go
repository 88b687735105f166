package compiler_test

import (
	"fmt"
	"net/netip"
	"reflect"
	"slices"
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
	s, err := flow.FormatFlows(r.FlowList(), flow.TextOptions{Cookie: true})
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
	for _, f := range r.FlowList() {
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
	if got, want := r.NumFlows(), base.NumFlows()+2; got != want {
		t.Errorf("remote port added %d flows, want 2:\n%s", got-base.NumFlows(), lineDiff(baseText, text(t, r)))
	}
	if len(r.Groups) != len(base.Groups) {
		t.Errorf("remote port on a known NVE changed the group count")
	}
	// A local port is also bounded: classify (its own source MAC, and
	// the rest), l2 unicast, ARP responder, own-address exemption, and
	// its port-security flows (4 for one IPv4: ARP probe, ARP, IPv4,
	// link-local NA with its MAC as TLL; what names neither its MAC nor
	// its addresses is NVE-wide, and an untagged VAP's answers use the
	// NVE's reply default).
	before := r.NumFlows()
	d.Port("b3x", "blue", "hv3", "tap-b3x", "02:00:00:00:01:33", 0, "10.0.0.33")
	r2 := compile(t, d.Input("hv3"))
	if got := r2.NumFlows() - before; got != 9 {
		t.Errorf("local port added %d flows, want 9:\n%s", got, lineDiff(text(t, r), text(t, r2)))
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
		"VN blue: service l2l3 without subnets: no gateway, nothing routed",
		"VN mc: BUM mode multicast: NVE hv1 cannot send to underlay multicast group 239.1.1.1",
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
	// A profile that cannot do what it claims is refused, naming why.
	bad := pipeline.OVS()
	bad.Name, bad.Extensions = "bad", false
	if _, err := compiler.Compile(d.Input("hv1"), bad); err == nil || !strings.Contains(err.Error(), "need extensions") {
		t.Errorf("invalid profile: %v", err)
	}
	if _, err := compiler.Compile(compiler.Input{NVE: "hv1"}, pipeline.OVS()); err == nil {
		t.Error("nil snapshot compiled")
	}
	// The strict profile compiles (it used to be refused).
	if _, err := compiler.Compile(d.Input("hv1"), pipeline.Strict()); err != nil {
		t.Errorf("strict profile: %v", err)
	}
}

// TestStrictUsesStandardOpenFlowOnly: what the strict profile compiles
// uses OXM fields of the specification and standard actions only, in at
// most four tables, with tunnels through per-remote ports.
func TestStrictUsesStandardOpenFlowOnly(t *testing.T) {
	prof := pipeline.Strict()
	std := func(field string) bool {
		s, ok := flow.Spec(field)
		return ok && !s.Nicira && s.Class == flow.ClassOpenFlow13
	}
	checkActs := func(where string, acts []flow.Action) {
		for _, a := range acts {
			switch a := a.(type) {
			case flow.Move:
				t.Errorf("%s: move (Nicira)", where)
			case flow.SetField:
				if !std(a.Field) {
					t.Errorf("%s: set_field %s", where, a.Field)
				}
			case flow.Output, flow.Group, flow.PushVLAN, flow.PopVLAN, flow.DecTTL: // dec_ttl is OFPAT_DEC_NW_TTL
			default:
				t.Errorf("%s: action %T", where, a)
			}
		}
	}
	for name, mk := range scenarios {
		d := mk()
		for _, nve := range d.NVENames() {
			r, err := compiler.Compile(d.Input(nve), prof)
			if err != nil {
				t.Fatal(err)
			}
			tables := map[string]bool{}
			for _, f := range r.FlowList() {
				tables[f.Table] = true
				for m := range f.Match.Fields() {
					if !std(m.Field) {
						t.Errorf("%s/%s: %s matches %s", name, nve, f, m.Field)
					}
				}
				checkActs(name+"/"+nve+": "+f.String(), f.Actions)
				if n, _ := prof.Number(f.Table); n > 3 {
					t.Errorf("%s: table %d", f, n)
				}
			}
			for _, g := range r.Groups {
				for _, b := range g.Buckets {
					checkActs(fmt.Sprintf("%s/%s group %d", name, nve, g.ID), b.Actions)
				}
			}
			if len(tables) > 4 {
				t.Errorf("%s/%s: %d tables", name, nve, len(tables))
			}
		}
	}
}

// TestStrictMissingRemoteTunnel: a remote without a per-remote tunnel
// port for the VN's encapsulation is skipped with a warning: no unicast
// to its ports, no bucket, no classification from it.
func TestStrictMissingRemoteTunnel(t *testing.T) {
	d := scenario.TwoVNsThreeNVEs()
	in := d.Input("hv1")
	delete(in.RemoteTunnels, compiler.RemoteTunnel{NVE: "hv3", Encap: model.EncapVXLAN})
	r, err := compiler.Compile(in, pipeline.Strict())
	if err != nil {
		t.Fatal(err)
	}
	want := "VN blue: no vxlan tunnel port (nvxc6120003) to NVE hv3 on hv1; NVE hv3 unreachable"
	if !slices.Contains(r.Warnings, want) {
		t.Errorf("warnings %q lack %q", r.Warnings, want)
	}
	hv3 := fmt.Sprintf("output:%d", d.RemoteTunnelOFPort("hv3", model.EncapVXLAN))
	hv2 := fmt.Sprintf("output:%d", d.RemoteTunnelOFPort("hv2", model.EncapVXLAN))
	txt := text(t, r)
	if strings.Contains(txt, hv3) || strings.Contains(txt, "02:00:00:00:01:03,actions") || !strings.Contains(txt, hv2) {
		t.Errorf("hv3 still used, or hv2 lost:\n%s", txt)
	}
}

func TestRemoteTunnelPortName(t *testing.T) {
	ip := netip.MustParseAddr("198.18.0.2")
	for e, want := range map[model.Encap]string{model.EncapVXLAN: "nvxc6120002", model.EncapGENEVE: "nvgc6120002", model.EncapGRE: "nvrc6120002"} {
		if got := compiler.RemoteTunnelPortName(e, ip); got != want || len(got) > 15 {
			t.Errorf("%s: %s", e, got)
		}
	}
	if got := compiler.RemoteTunnelPortName(model.EncapVXLAN, netip.MustParseAddr("::ffff:10.0.0.1")); got != "nvx0a000001" {
		t.Errorf("mapped IPv4: %s", got)
	}
	if got := compiler.RemoteTunnelPortName(model.EncapVXLAN, netip.MustParseAddr("2001:db8::1")); got != "" {
		t.Errorf("IPv6: %q", got)
	}
	// RemoteTunnelPorts finds them by name among a switch's ports, for
	// the NVEs sharing a VN only.
	d := scenario.PartialVN()
	ports := map[string]uint32{"tap-b1": 1, "nvxc6120002": 7, "nvgc6120002": 8, "nvxc6120003": 9, "nva-vxlan": 100}
	got := compiler.RemoteTunnelPorts(d.Snapshot(), "hv1", ports)
	want := map[compiler.RemoteTunnel]uint32{{NVE: "hv2", Encap: model.EncapVXLAN}: 7, {NVE: "hv2", Encap: model.EncapGENEVE}: 8}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("RemoteTunnelPorts = %v, want %v", got, want)
	}
}

// TestCacheRecompilesOnlyChangedVN: a change to one port recompiles only
// that port's part of its VN, on the NVEs that host the VN; the result
// equals a from-scratch compile.
func TestCacheRecompilesOnlyChangedVN(t *testing.T) {
	for _, prof := range profiles {
		d := scenario.TwoVNsThreeNVEs()
		caches := map[string]*compiler.Cache{}
		for _, nve := range d.NVENames() {
			caches[nve] = compiler.NewCache()
			r, err := caches[nve].Compile(d.Input(nve), prof)
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range r.Slices {
				if !r.Recompiled(i) {
					t.Errorf("%s: first compile reused slice %q", nve, s.VN)
				}
			}
		}
		// Red (hv1, hv2) gets a new address on r2.
		d.Update("r2", func(p *model.Port) { p.IPs = append(p.IPs, "10.0.0.22") })
		for _, nve := range d.NVENames() {
			in := d.Input(nve)
			r, err := caches[nve].Compile(in, prof)
			if err != nil {
				t.Fatal(err)
			}
			var recompiled []string
			for i, s := range r.Slices {
				if r.Recompiled(i) {
					recompiled = append(recompiled, s.Key)
				}
			}
			want := []string{"red/r2"}
			if nve == "hv3" {
				want = nil
			}
			if !slices.Equal(recompiled, want) {
				t.Errorf("%s/%s: recompiled %q, want %q", prof.Name, nve, recompiled, want)
			}
			fresh, err := compiler.Compile(in, prof)
			if err != nil {
				t.Fatal(err)
			}
			if text(t, r) != text(t, fresh) {
				t.Errorf("%s/%s: memoized result differs:\n%s", prof.Name, nve, lineDiff(text(t, fresh), text(t, r)))
			}
		}
		// Another generation recompiles everything (cookies change).
		in := d.Input("hv1")
		in.Generation = 9
		r, err := caches["hv1"].Compile(in, prof)
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range r.Slices {
			if !r.Recompiled(i) {
				t.Errorf("%s: new generation reused slice %q", prof.Name, s.VN)
			}
		}
		if flow.CookieGeneration(r.FlowList()[0].Cookie) != 9 {
			t.Errorf("cookie generation %d", flow.CookieGeneration(r.FlowList()[0].Cookie))
		}
	}
}

// TestVAPOfPuntedPacket: the VAP a packet-in came from is named by
// (in_port, VNI), including a trunk's VLAN.
func TestVAPOfPuntedPacket(t *testing.T) {
	d := scenario.New().VN("blue", 100).VN("red", 200).NVE("hv1", "198.18.0.1").
		Port("tb", "blue", "hv1", "trunk0", "02:00:00:00:01:01", 10, "10.0.0.1").
		Port("tr", "red", "hv1", "trunk0", "02:00:00:00:02:01", 20, "10.0.0.1")
	in := d.Input("hv1")
	c := compiler.NewCache()
	if _, err := c.Compile(in, pipeline.Strict()); err != nil {
		t.Fatal(err)
	}
	trunk := d.OFPort("hv1", "trunk0")
	for vni, want := range map[uint32]string{100: "tb", 200: "tr"} {
		p, ok := c.VAP(trunk, vni)
		q, ok2 := compiler.VAPOf(in, trunk, vni)
		if !ok || !ok2 || p.Name != want || q != p {
			t.Errorf("VNI %d: %v %v", vni, p, q)
		}
	}
	if _, ok := c.VAP(trunk, 300); ok {
		t.Error("VAP of an unknown VN")
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
	sw, err := sim.New(prof, r.FlowList(), r.Groups)
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
	sw, err := sim.New(prof, r.FlowList(), r.Groups)
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
			b.ReportMetric(float64(r.NumFlows()), "flows")
		}
	}
}

// TestDuplicateAcrossSlices: two VNs with one VNI would give two slices
// the same flows; the compile fails naming both, as a from-scratch check
// of the whole NVE did, and the cache recovers once fixed.
func TestDuplicateAcrossSlices(t *testing.T) {
	d := scenario.New().VN("blue", 100).VN("teal", 101).NVE("hv1", "198.18.0.1").NVE("hv2", "198.18.0.2").
		Port("a", "blue", "hv1", "tap-a", "02:00:00:00:00:01", 0, "10.0.0.1").
		Port("b", "teal", "hv1", "tap-b", "02:00:00:00:00:02", 0, "10.0.0.1").
		Port("c", "blue", "hv2", "tap-c", "02:00:00:00:00:03", 0)
	c := compiler.NewCache()
	if _, err := c.Compile(d.Input("hv1"), pipeline.OVS()); err != nil {
		t.Fatal(err)
	}
	d.VN("teal", 100) // now blue's VNI too
	_, err := c.Compile(d.Input("hv1"), pipeline.OVS())
	if err == nil || !strings.Contains(err.Error(), `in the slices of "blue" and "teal"`) {
		t.Fatalf("duplicate VNI: %v", err)
	}
	if _, err := compiler.Compile(d.Input("hv1"), pipeline.OVS()); err == nil {
		t.Fatal("from scratch: duplicate VNI compiled")
	}
	d.VN("teal", 102)
	r, err := c.Compile(d.Input("hv1"), pipeline.OVS())
	if err != nil {
		t.Fatal(err)
	}
	want, _ := compiler.Compile(d.Input("hv1"), pipeline.OVS())
	if text(t, r) != text(t, want) {
		t.Error("cache did not recover after the fix")
	}
}

// TestFingerprintsCoverProfileAndGeneration: a reconciler diffing slices
// by fingerprint must see a new generation (new cookies) or profile.
func TestFingerprintsCoverProfileAndGeneration(t *testing.T) {
	d := scenario.TwoVNsThreeNVEs()
	fps := func(in compiler.Input, prof pipeline.Profile) map[string]uint64 {
		r, err := compiler.Compile(in, prof)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]uint64{}
		for _, s := range r.Slices {
			out[s.Key] = s.Fingerprint
		}
		return out
	}
	in := d.Input("hv1")
	base := fps(in, pipeline.OVS())
	in.Generation = 2
	gen := fps(in, pipeline.OVS())
	in.Generation = 0
	strict := fps(in, pipeline.Strict())
	again := fps(d.Input("hv1"), pipeline.OVS())
	for vn, fp := range base {
		if gen[vn] == fp || strict[vn] == fp {
			t.Errorf("slice %q: fingerprint unchanged by generation or profile", vn)
		}
		if again[vn] != fp {
			t.Errorf("slice %q: fingerprint not deterministic", vn)
		}
	}
}
