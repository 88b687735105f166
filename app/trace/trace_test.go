package trace_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/nva-project/nva/app/compiler/scenario"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/pipeline"
	"github.com/nva-project/nva/app/trace"
)

// each runs test with every NVE on each profile.
func each(t *testing.T, test func(t *testing.T, profs trace.Profiles)) {
	for _, name := range []string{"ovs", pipeline.StrictName} {
		t.Run(name, func(t *testing.T) {
			test(t, func(*model.NVE) (pipeline.Profile, error) { return pipeline.ForName(name) })
		})
	}
}

func run(t *testing.T, profs trace.Profiles, req trace.Request) *trace.Result {
	t.Helper()
	r, err := trace.Run(scenario.TwoVNsThreeNVEs().Snapshot(), profs, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Errors) > 0 {
		t.Fatalf("trace errors: %v", r.Errors)
	}
	return r
}

func TestPermittedUnicastCrossesTunnel(t *testing.T) {
	each(t, func(t *testing.T, profs trace.Profiles) {
		r := run(t, profs, trace.Request{Port: "b1", ToPort: "b2", Protocol: "udp", SrcPort: 1000, DstPort: 53})
		if r.Dropped || len(r.Delivered) != 1 || r.Delivered[0] != (trace.Delivery{NVE: "hv2", Port: "b2", Kind: "port"}) {
			t.Fatalf("delivered %+v, want b2 on hv2", r.Delivered)
		}
		if len(r.Hops) != 2 || r.Hops[0].NVE != "hv1" || r.Hops[1].NVE != "hv2" {
			t.Fatalf("hops %+v", r.Hops)
		}
		out := r.Hops[0].Outputs
		if len(out) != 1 || out[0].Tunnel == nil {
			t.Fatalf("hv1 outputs %+v, want one tunnel", out)
		}
		if tun := *out[0].Tunnel; tun.RemoteNVE != "hv2" || tun.VNI != 100 || tun.Encap != "vxlan" || tun.RemoteIP != "198.18.0.2" {
			t.Fatalf("tunnel %+v", tun)
		}
		if !strings.HasPrefix(r.Hops[1].Arrival, "tunnel from hv1 (vxlan, VNI 100)") {
			t.Fatalf("arrival %q", r.Hops[1].Arrival)
		}
		// Each hop starts with classification and every step has a flow.
		for _, h := range r.Hops {
			if len(h.Steps) == 0 || h.Steps[0].Stages[0] != "classify" {
				t.Fatalf("%s: steps %+v", h.NVE, h.Steps)
			}
			for _, s := range h.Steps {
				if s.Flow == "" {
					t.Fatalf("%s: step %+v missed", h.NVE, s)
				}
			}
		}
	})
}

func TestSpoofedSourceDroppedByPortSecurity(t *testing.T) {
	each(t, func(t *testing.T, profs trace.Profiles) {
		r := run(t, profs, trace.Request{Port: "b1", ToPort: "b2", EthSrc: "02:00:00:00:99:99"})
		if !r.Dropped || len(r.Hops) != 1 {
			t.Fatalf("spoofed packet not dropped at hv1: %+v", r)
		}
		h := r.Hops[0]
		last := h.Steps[len(h.Steps)-1]
		if !strings.Contains(strings.Join(last.Stages, ","), "port_security") || h.Drop == "" {
			t.Fatalf("dropped in %+v (%q), want port_security", last, h.Drop)
		}
		// The spoofed IP too.
		r = run(t, profs, trace.Request{Port: "b1", ToPort: "b2", SrcIP: "10.0.0.99"})
		if !r.Dropped || !strings.Contains(r.Hops[0].Drop, "port_security") {
			t.Fatalf("spoofed IP: %+v", r.Hops)
		}
	})
}

func TestCrossVNNotDelivered(t *testing.T) {
	each(t, func(t *testing.T, profs trace.Profiles) {
		// b1 (blue) toward r2 (red, on hv2): the MAC is unknown in blue.
		r := run(t, profs, trace.Request{Port: "b1", ToPort: "r2", Protocol: "tcp"})
		for _, d := range r.Delivered {
			if d.Port == "r2" || d.Port == "r1" {
				t.Fatalf("blue packet delivered into red: %+v", r.Delivered)
			}
		}
		for _, h := range r.Hops {
			for _, o := range h.Outputs {
				if o.Tunnel != nil && o.Tunnel.VNI != 100 {
					t.Fatalf("blue packet tunneled with VNI %d", o.Tunnel.VNI)
				}
			}
		}
		if !r.Dropped {
			t.Fatalf("unknown unicast delivered: %+v", r.Delivered)
		}
		if !strings.Contains(r.Hops[0].Drop, "l2_forward") {
			t.Fatalf("drop: %q, want in l2_forward (unknown unicast)", r.Hops[0].Drop)
		}
	})
}

func TestBroadcastReportsEveryCopy(t *testing.T) {
	each(t, func(t *testing.T, profs trace.Profiles) {
		r := run(t, profs, trace.Request{Port: "b1", Protocol: "arp", DstIP: "10.0.0.77"})
		got := map[string]bool{}
		for _, d := range r.Delivered {
			got[d.NVE+"/"+d.Port] = true
		}
		if !got["hv2/b2"] || !got["hv3/b3"] || len(r.Hops) != 3 {
			t.Fatalf("ARP flood delivered %+v over %d hops", r.Delivered, len(r.Hops))
		}
	})
}

func TestBadInput(t *testing.T) {
	snap := scenario.TwoVNsThreeNVEs().Snapshot()
	for _, c := range []struct {
		req   trace.Request
		field string
	}{
		{trace.Request{Port: "nope"}, "port"},
		{trace.Request{Port: "b1", ToPort: "nope"}, "to_port"},
		{trace.Request{Port: "b1", ToPort: "b2", Protocol: "sctp"}, "protocol"},
		{trace.Request{Port: "b1", ToPort: "b2", EthSrc: "zz"}, "eth_src"},
		{trace.Request{Port: "b1", DstIP: "10.0.0.2"}, "eth_dst"},
		{trace.Request{Port: "b1", ToPort: "b2", SrcIP: "2001:db8::1", DstIP: "10.0.0.2"}, "src_ip"},
	} {
		_, err := trace.Run(snap, nil, c.req)
		var ie *trace.InputError
		if !errors.As(err, &ie) || ie.Field != c.field {
			t.Errorf("%+v: error %v, want one naming %s", c.req, err, c.field)
		}
	}
}

func TestVLANVAP(t *testing.T) {
	each(t, func(t *testing.T, profs trace.Profiles) {
		snap := scenario.OneVNOneNVE().Snapshot() // b is on VLAN 10
		r, err := trace.Run(snap, profs, trace.Request{Port: "b", ToPort: "a"})
		if err != nil || r.Dropped || len(r.Delivered) != 1 || r.Delivered[0].Port != "a" || len(r.Hops) != 1 {
			t.Fatalf("tagged b -> a: %+v %v", r, err)
		}
		if !strings.Contains(r.Packet, "vlan_vid=0x100a") {
			t.Fatalf("b's frame is not tagged with its VLAN: %s", r.Packet)
		}
		untagged := 0
		r, err = trace.Run(snap, profs, trace.Request{Port: "b", ToPort: "a", VLAN: &untagged})
		if err != nil || !r.Dropped || !strings.Contains(r.Hops[0].Drop, "classify") {
			t.Fatalf("untagged frame on b's VLAN VAP: %+v %v", r, err)
		}
	})
}
