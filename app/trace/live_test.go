package trace_test

import (
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/nva-project/nva/app/compiler/scenario"
	"github.com/nva-project/nva/app/trace"
)

// onesSum is the Internet checksum of b (0 when b carries a valid one).
func onesSum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

func TestLiveFrameIsMarkedIPv4(t *testing.T) {
	snap := scenario.TwoVNsThreeNVEs().Snapshot()
	nonce := []byte("nvatrace-123")
	p, err := trace.LiveFrame(snap, trace.Request{Port: "b1", ToPort: "b2"}, 0x1234, nonce)
	if err != nil {
		t.Fatal(err)
	}
	f := p.Frame
	if p.NVE != "hv1" || p.Interface != "tap-b1" || p.IPv6 {
		t.Fatalf("packet %+v", p)
	}
	if got := f[0:12]; string(got) != string([]byte{2, 0, 0, 0, 1, 2, 2, 0, 0, 0, 1, 1}) {
		t.Fatalf("MACs % x", got)
	}
	if et := binary.BigEndian.Uint16(f[12:14]); et != 0x0800 {
		t.Fatalf("ethertype %#x", et)
	}
	ip := f[14:34]
	if ip[1]>>2 != trace.TraceDSCP || binary.BigEndian.Uint16(ip[4:6]) != 0x1234 || ip[8] != 64 || ip[9] != 1 {
		t.Fatalf("IPv4 header % x", ip)
	}
	if onesSum(ip) != 0 || onesSum(f[34:]) != 0 {
		t.Fatalf("bad checksums: header %#x, icmp %#x", onesSum(ip), onesSum(f[34:]))
	}
	if f[34] != 8 || !strings.HasSuffix(string(f), string(nonce)) {
		t.Fatalf("ICMP % x", f[34:])
	}
	if !p.Is(f) {
		t.Fatal("the frame is not its own trace packet")
	}
	// The answer (addresses swapped) and a frame without the nonce are not.
	ans := slices.Clone(f)
	copy(ans[26:30], f[30:34])
	copy(ans[30:34], f[26:30])
	if p.Is(ans) || p.Is(f[:len(f)-1]) {
		t.Fatal("an answer or a frame without the nonce taken for the trace packet")
	}
}

func TestLiveFrameTaggedUDPAndIPv6(t *testing.T) {
	snap := scenario.TwoVNsThreeNVEs().Snapshot()
	vlan := 7
	p, err := trace.LiveFrame(snap, trace.Request{Port: "b1", ToPort: "b2", VLAN: &vlan, Protocol: "udp", SrcPort: 1000, DstPort: 53}, 1, []byte("nvatrace-xyz"))
	if err != nil {
		t.Fatal(err)
	}
	f := p.Frame
	if binary.BigEndian.Uint16(f[12:14]) != 0x8100 || binary.BigEndian.Uint16(f[14:16]) != 7 || binary.BigEndian.Uint16(f[16:18]) != 0x0800 {
		t.Fatalf("tag % x", f[12:18])
	}
	udp := f[38:]
	if binary.BigEndian.Uint16(udp[0:2]) != 1000 || binary.BigEndian.Uint16(udp[2:4]) != 53 || int(binary.BigEndian.Uint16(udp[4:6])) != len(udp) {
		t.Fatalf("UDP % x", udp)
	}
	if !p.Is(f) {
		t.Fatal("tagged frame not recognized")
	}
	p6, err := trace.LiveFrame(snap, trace.Request{Port: "b1", EthDst: "02:00:00:00:01:02", SrcIP: "2001:db8::1", DstIP: "2001:db8::2"}, 1, []byte("nvatrace-v6v"))
	if err != nil {
		t.Fatal(err)
	}
	h := p6.Frame[14:54]
	if !p6.IPv6 || binary.BigEndian.Uint32(h[0:4])>>22&0x3f != trace.TraceDSCP || h[6] != 58 || p6.Frame[54] != 128 {
		t.Fatalf("IPv6 % x", p6.Frame[14:])
	}
	// ARP cannot be marked.
	var ie *trace.InputError
	if _, err := trace.LiveFrame(snap, trace.Request{Port: "b1", Protocol: "arp", DstIP: "10.0.0.2"}, 1, []byte("n")); !errors.As(err, &ie) || ie.Field != "live" {
		t.Fatalf("arp: %v", err)
	}
}

func step(table, verdict string) trace.Step {
	s := trace.Step{Table: table, Stages: []string{table}, Verdict: verdict}
	if verdict != "miss" {
		s.Flow = "table=" + table + ",priority=1"
	}
	return s
}

// The live result is assembled per NVE in causal order (a remote NVE's
// observations arriving first), and compared with the simulation:
// agreement, then a drop in another stage, an NVE the simulation does
// not reach, and an unobserved NVE (not compared).
func TestAssembleAndCompare(t *testing.T) {
	snap := scenario.TwoVNsThreeNVEs().Snapshot()
	req := trace.Request{Port: "b1", ToPort: "b2"}
	sim, err := trace.Run(snap, nil, req)
	if err != nil {
		t.Fatal(err)
	}
	tun := &trace.Tunnel{Encap: "vxlan", RemoteNVE: "hv2", RemoteIP: "198.18.0.2", VNI: 100}
	obs := &trace.Observed{Complete: true, Observations: []trace.Observation{
		{NVE: "hv2", Arrival: "tunnel (vxlan, VNI 100)", Step: step("classify", "goto")},
		{NVE: "hv2", Step: step("l2_forward", "output"), Outputs: []trace.Output{{Port: "b2"}}},
		{NVE: "hv1", Arrival: "port b1 (interface tap-b1)", Step: step("classify", "goto")},
		{NVE: "hv1", Step: step("port_security", "goto")},
		{NVE: "hv1", Step: step("neighbor", "goto")},
		{NVE: "hv1", Step: step("l2_forward", "output"), Outputs: []trace.Output{{Tunnel: tun}}},
	}}
	live := trace.Assemble(obs)
	if len(live.Hops) != 2 || live.Hops[0].NVE != "hv1" || live.Hops[1].NVE != "hv2" {
		t.Fatalf("hops %+v", live.Hops)
	}
	if live.Dropped || len(live.Delivered) != 1 || live.Delivered[0] != (trace.Delivery{NVE: "hv2", Port: "b2", Kind: "port"}) {
		t.Fatalf("delivered %+v", live.Delivered)
	}
	if m := trace.Compare(sim, live); len(m) != 0 {
		t.Fatalf("mismatches %v", m)
	}

	// Dropped in port security on hv1 instead.
	drop := &trace.Observed{Complete: true, Observations: []trace.Observation{
		{NVE: "hv1", Arrival: "port b1 (interface tap-b1)", Step: step("classify", "goto")},
		{NVE: "hv1", Step: step("port_security", "drop")},
	}}
	live = trace.Assemble(drop)
	if !live.Dropped || !strings.Contains(live.Hops[0].Drop, "port_security") {
		t.Fatalf("drop %+v", live.Hops)
	}
	m := trace.Compare(sim, live)
	want := []string{
		"NVE hv1: simulated tables classify -> port_security -> neighbor -> l2_forward, live classify -> port_security",
		"NVE hv1: simulated drop none, live drop port_security",
		"NVE hv1: simulated outputs tunnel to hv2 (vxlan, VNI 100), live none",
		"NVE hv2: the simulation reaches it; the live packet was not seen there",
	}
	if !slices.Equal(m, want) {
		t.Fatalf("mismatches\n%s\nwant\n%s", strings.Join(m, "\n"), strings.Join(want, "\n"))
	}
	// hv2 unobserved: not compared.
	live.Unobserved = map[string]string{"hv2": "strict"}
	if m := trace.Compare(sim, live); len(m) != 3 {
		t.Fatalf("with hv2 unobserved: %v", m)
	}
	// A live packet reaching an NVE the simulation does not.
	extra := &trace.Observed{Complete: true, Observations: append(slices.Clone(obs.Observations),
		trace.Observation{NVE: "hv3", Arrival: "tunnel (vxlan, VNI 100)", Step: step("classify", "miss")})}
	live = trace.Assemble(extra)
	if m := trace.Compare(sim, live); len(m) != 1 || m[0] != "NVE hv3: the live packet reached it; the simulation does not" {
		t.Fatalf("extra NVE: %v", m)
	}
}

// Buckets of a select or fast-failover group are candidates: the live
// result keeps the one the packet was seen taking.
func TestAssembleKeepsTheBucketTaken(t *testing.T) {
	to := func(nve string) trace.Output {
		return trace.Output{Candidate: true, Tunnel: &trace.Tunnel{Encap: "vxlan", RemoteNVE: nve, VNI: 100}}
	}
	obs := &trace.Observed{Complete: true, Observations: []trace.Observation{
		{NVE: "hv1", Arrival: "port b1", Step: step("l2_forward", "output"), Outputs: []trace.Output{to("hv2"), to("hv3")}},
		{NVE: "hv3", Arrival: "tunnel (vxlan, VNI 100)", Step: step("l2_forward", "output"), Outputs: []trace.Output{{Port: "b3"}}},
	}}
	live := trace.Assemble(obs)
	if o := live.Hops[0].Outputs; len(o) != 1 || o[0].Tunnel.RemoteNVE != "hv3" {
		t.Fatalf("outputs %+v", o)
	}
}
