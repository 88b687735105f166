package ofctl

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/pipeline"
	"github.com/nva-project/nva/app/trace"
	"github.com/nva-project/nva/ofctl/codec"
)

// liveShadows decodes the bridge's live trace flows.
func (b *fakeBridge) liveShadows(t *testing.T) []flow.Flow {
	t.Helper()
	prof := pipeline.OVS()
	names := func(n uint8) string { s, _ := prof.NameOf(n); return s }
	var out []flow.Flow
	for _, e := range b.statsEntries() {
		f, _, err := codec.DecodeFlowStatsEntry(e, names)
		if err != nil {
			t.Fatal(err)
		}
		if isLiveCookie(f.Cookie) {
			out = append(out, f)
		}
	}
	return out
}

// TestLiveTraceFakeSwitch: a live trace on a fake OVS bridge installs a
// shadow of the pipeline (above nva's priorities, marked by DSCP, with a
// hard timeout), sends the packet out to OFPP_TABLE from the source VAP,
// turns the packet-ins of the shadow flows into observations (ignoring
// packets without the trace's nonce or with its addresses reversed),
// reports the NVE that is not connected as unobserved, and removes the
// shadow flows when done. The observations, assembled, agree with the
// simulation.
func TestLiveTraceFakeSwitch(t *testing.T) {
	snap := overlaySnap(10, true)
	br := newFakeBridge(t, 1, map[uint32]string{1: "v1", 2: "v2", 100: "nva-vxlan"})
	st := newFakeStore(snap, true)
	sb := startFake(t, st, Config{})
	sb.live.settle = time.Millisecond
	br.connect(sb.cfg.ListenAddr)
	if _, err := waitRealized(t, sb, 10, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	waitCond(t, 5*time.Second, "leadership", func() bool { sb.mu.Lock(); defer sb.mu.Unlock(); return sb.leader })
	nvaFlows := br.flowCount()

	req := trace.Request{Port: "p1", ToPort: "p2"}
	nonce := []byte("nvatrace-abc")
	pkt, err := trace.LiveFrame(snap, req, 7, nonce)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		obs *trace.Observed
		err error
	}
	done := make(chan result, 1)
	go func() {
		obs, err := sb.LiveTrace(context.Background(), snap, pkt, []string{"hv1", "hv2"}, 5*time.Second)
		done <- result{obs, err}
	}()
	waitCond(t, 5*time.Second, "the packet-out", func() bool { return len(br.packetOutsReceived()) == 1 })
	po := br.packetOutsReceived()[0]
	wantActs := []byte{0, 0, 0, 16, 0xff, 0xff, 0xff, 0xf9, 0xff, 0xe5, 0, 0, 0, 0, 0, 0} // output:TABLE
	if po.inPort != 1 || !bytes.Equal(po.data, pkt.Frame) || !bytes.Equal(po.actions[:8], wantActs[:8]) {
		t.Fatalf("packet-out in_port %d actions % x", po.inPort, po.actions)
	}

	shadows := br.liveShadows(t)
	prof := pipeline.OVS()
	if want := nvaFlows + len(prof.Tables); len(shadows) == 0 || len(shadows) > want {
		t.Fatalf("%d shadow flows for %d nva flows", len(shadows), nvaFlows)
	}
	br.mu.Lock()
	for _, f := range br.flows {
		if isLiveCookie(f.cookie) && (f.hard != liveFlowTimeout || f.priority < liveBase) {
			t.Errorf("shadow flow hard timeout %d priority %#x", f.hard, f.priority)
		}
	}
	br.mu.Unlock()
	// The shadow flows the packet matches, table by table.
	find := func(table string, pred func(flow.Flow) bool) flow.Flow {
		t.Helper()
		for _, f := range shadows {
			if f.Table == table && f.Priority > liveBase && pred(f) {
				if d, ok := f.Match.Get(flow.IPDSCP); !ok || d.Value[0] != trace.TraceDSCP {
					t.Fatalf("shadow flow without the mark: %s", f)
				}
				if o, ok := f.Actions[0].(flow.Output); !ok || o.Port != flow.PortController {
					t.Fatalf("shadow flow does not copy to the controller first: %s", f)
				}
				return f
			}
		}
		t.Fatalf("no shadow flow in %s", table)
		return flow.Flow{}
	}
	matchHas := func(field string, v []byte) func(flow.Flow) bool {
		return func(f flow.Flow) bool { m, ok := f.Match.Get(field); return ok && bytes.Equal(m.Value, v) }
	}
	path := []flow.Flow{
		find(pipeline.Classify, matchHas(flow.InPort, flow.U32(1))),
		find(pipeline.PortSecurity, matchHas(flow.InPort, flow.U32(1))),
		find(pipeline.Neighbor, func(f flow.Flow) bool { _, ok := f.Match.Get(flow.ARPOp); return !ok && f.Goto == pipeline.L2Forward }),
		find(pipeline.L2Forward, matchHas(flow.EthDst, []byte{2, 0, 0, 0, 1, 2})),
	}
	// Noise first: a packet without the nonce, and the answer (addresses
	// reversed), from the trace's own flows.
	br.sendPacketIn(path[0].Cookie, 0, 1, 0, pkt.Frame[:len(pkt.Frame)-4])
	answer := append([]byte(nil), pkt.Frame...)
	copy(answer[14+12:14+16], pkt.DstIP)
	copy(answer[14+16:14+20], pkt.SrcIP)
	br.sendPacketIn(path[0].Cookie, 0, 1, 0, answer)
	for _, f := range path {
		n, _ := prof.Number(f.Table)
		br.sendPacketIn(f.Cookie, n, 1, 0, pkt.Frame)
	}
	var r result
	select {
	case r = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the live trace did not end")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	obs := r.obs
	if !obs.Complete || len(obs.Observations) != 4 || obs.Unobserved["hv2"] != "not connected to this node" {
		t.Fatalf("observed %+v", obs)
	}
	if a := obs.Observations[0].Arrival; a != "port p1 (interface v1)" {
		t.Errorf("arrival %q", a)
	}
	last := obs.Observations[3]
	if last.Step.Table != pipeline.L2Forward || len(last.Outputs) != 1 || last.Outputs[0].Port != "p2" {
		t.Errorf("last observation %+v", last)
	}
	if n := len(br.liveShadows(t)); n != 0 {
		t.Errorf("%d shadow flows left", n)
	}
	if n := br.flowCount(); n != nvaFlows {
		t.Errorf("%d flows after the trace, %d before", n, nvaFlows)
	}

	sim, err := trace.Run(snap, nil, req)
	if err != nil {
		t.Fatal(err)
	}
	live := trace.Assemble(obs)
	if m := trace.Compare(sim, live); len(m) != 0 {
		t.Errorf("simulated and live differ: %v", m)
	}
	if live.Dropped || len(live.Delivered) != 1 || live.Delivered[0].Port != "p2" {
		t.Errorf("live %+v", live)
	}

	// A packet never seen: a second one is sent, then the trace ends
	// incomplete (and its shadows are removed all the same).
	obs2, err := sb.LiveTrace(context.Background(), snap, pkt, []string{"hv1"}, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if obs2.Complete || len(obs2.Observations) != 0 || len(obs2.Errors) != 2 || len(br.packetOutsReceived()) != 3 {
		t.Errorf("unseen packet: %+v, %d packet-outs", obs2, len(br.packetOutsReceived()))
	}
	if n := len(br.liveShadows(t)); n != 0 {
		t.Errorf("%d shadow flows left after the incomplete trace", n)
	}

	// A follower runs no live trace.
	st.mu.Lock()
	st.leader = false
	st.mu.Unlock()
	waitCond(t, 5*time.Second, "followership", func() bool { sb.mu.Lock(); defer sb.mu.Unlock(); return !sb.leader })
	if _, err := sb.LiveTrace(context.Background(), snap, pkt, []string{"hv1"}, time.Second); !errors.Is(err, ErrLiveNotLeader) {
		t.Errorf("follower: %v", err)
	}
}

// liveDone waits for the source, for every tunnel copy to arrive, for one
// bucket of a select/fast-failover group to be taken, and for every NVE's
// path to end.
func TestLiveDone(t *testing.T) {
	goto_ := trace.Step{Verdict: "goto"}
	out := trace.Step{Verdict: "output"}
	tun := func(nve string, cand bool) trace.Output {
		return trace.Output{Candidate: cand, Tunnel: &trace.Tunnel{RemoteNVE: nve}}
	}
	src := trace.Observation{NVE: "hv1", Arrival: "port p1", Step: goto_}
	srcOut := trace.Observation{NVE: "hv1", Step: out, Outputs: []trace.Output{tun("hv2", false)}}
	remote := trace.Observation{NVE: "hv2", Arrival: "tunnel", Step: out}
	watch := []string{"hv1", "hv2", "hv3"}
	for _, c := range []struct {
		name       string
		obs        []trace.Observation
		unobserved map[string]string
		want       bool
	}{
		{"nothing", nil, nil, false},
		{"remote first", []trace.Observation{remote}, nil, false},
		{"source mid-pipeline", []trace.Observation{src}, nil, false},
		{"tunnel copy not arrived", []trace.Observation{src, srcOut}, nil, false},
		{"tunnel copy to an unobserved NVE", []trace.Observation{src, srcOut}, map[string]string{"hv2": "strict"}, true},
		{"arrived", []trace.Observation{remote, src, srcOut}, nil, true},
		{"one bucket taken", []trace.Observation{src, {NVE: "hv1", Step: out, Outputs: []trace.Output{tun("hv2", true), tun("hv3", true)}}, remote}, nil, true},
		{"no bucket taken yet", []trace.Observation{src, {NVE: "hv1", Step: out, Outputs: []trace.Output{tun("hv2", true), tun("hv3", true)}}}, nil, false},
	} {
		if got := liveDone(c.obs, "hv1", c.unobserved, watch); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
