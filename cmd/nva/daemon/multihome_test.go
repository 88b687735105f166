package daemon

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/compiler/scenario"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/ovsdb"
)

type fixedSrc struct{ snap *model.Snapshot }

func (f fixedSrc) Snapshot() *model.Snapshot { return f.snap }
func (fixedSrc) IsLeader() bool              { return true }

type portMods struct {
	mu   sync.Mutex
	mods []string
	fail bool
}

func (p *portMods) set(_ context.Context, nve string, port uint32, down bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail {
		return errors.New("switch not connected")
	}
	s := "up"
	if down {
		s = "down"
	}
	p.mods = append(p.mods, nve+"/"+strconv.FormatUint(uint64(port), 10)+"/"+s)
	return nil
}

func (p *portMods) take() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.mods
	p.mods = nil
	return out
}

func bfdAll(snap *model.Snapshot, nve string, state string) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, p := range compiler.TunnelPaths(snap, nve) {
		if state == "up" {
			out[p.Port] = map[string]string{"state": "up", "forwarding": "true"}
		} else {
			out[p.Port] = map[string]string{"state": "down", "forwarding": "false", "diagnostic": "Control Detection Time Expired"}
		}
	}
	return out
}

// TestVAPSignalling: hv1 losing every path takes its VAP (OpenFlow port
// 1) down once, reports it in hv1's status, retries a failed port-mod,
// and brings it back up when a path recovers.
func TestVAPSignalling(t *testing.T) {
	d := scenario.MultihomeFailover()
	snap := d.Snapshot()
	mods := &portMods{}
	ports := func(nve string) map[string]uint32 {
		return map[string]uint32{"tap-" + map[string]string{"hv1": "b1", "hv2": "b2", "hv3": "b3"}[nve]: 1}
	}
	m := newMultihome(fixedSrc{snap}, ports, mods.set, slog.New(slog.DiscardHandler), func() {})
	ctx := context.Background()
	for _, n := range []string{"hv1", "hv2", "hv3"} {
		m.observe(ovsdb.Status{NVE: n, Connected: true, BFD: bfdAll(snap, n, "up")})
	}
	m.apply(ctx)
	if got := mods.take(); len(got) != 0 {
		t.Fatalf("every path up: port-mods %v", got)
	}

	mods.fail = true
	m.observe(ovsdb.Status{NVE: "hv1", Connected: true, BFD: bfdAll(snap, "hv1", "down")})
	m.apply(ctx)
	_, vaps, _ := m.TunnelLiveness()
	if len(vaps) != 1 || vaps[0].Port != "b1" || vaps[0].Down || vaps[0].Error == "" {
		t.Fatalf("failed port-mod: signalled %+v, want b1 with the error", vaps)
	}
	mods.fail = false
	m.apply(ctx)
	m.apply(ctx) // applied once only
	if got := mods.take(); !slices.Equal(got, []string{"hv1/1/down"}) {
		t.Fatalf("port-mods %v, want hv1 port 1 down once", got)
	}
	st := &model.NVEStatus{OVSDB: &model.OVSDBStatus{Ports: map[string]model.PortStatus{"tap-b1": {OFPort: 1}}}}
	m.fill("hv1", st)
	if !st.OVSDB.Ports["tap-b1"].SignalledDown || len(st.Tunnels) != 2 {
		t.Fatalf("hv1 status %+v", st)
	}

	m.observe(ovsdb.Status{NVE: "hv1", Connected: true, BFD: bfdAll(snap, "hv1", "up")})
	m.apply(ctx)
	if got := mods.take(); !slices.Equal(got, []string{"hv1/1/up"}) {
		t.Fatalf("port-mods %v, want hv1 port 1 up", got)
	}
	if _, vaps, _ := m.TunnelLiveness(); len(vaps) != 0 {
		t.Fatalf("signalled after recovery: %+v", vaps)
	}
}

// TestVAPSignallingAdoptsDownPorts: a VAP its switch shows admin-down
// when this node starts leading (taken down by a previous leader) is
// brought back up when its NVE has live paths.
func TestVAPSignallingAdoptsDownPorts(t *testing.T) {
	d := scenario.MultihomeFailover()
	snap := d.Snapshot()
	mods := &portMods{}
	ports := func(nve string) map[string]uint32 {
		return map[string]uint32{"tap-" + map[string]string{"hv1": "b1", "hv2": "b2", "hv3": "b3"}[nve]: 1}
	}
	m := newMultihome(fixedSrc{snap}, ports, mods.set, slog.New(slog.DiscardHandler), func() {})
	m.portsDown = func(nve string) ([]uint32, bool) {
		if nve == "hv1" {
			return []uint32{1}, true
		}
		return nil, true
	}
	for _, n := range []string{"hv1", "hv2", "hv3"} {
		m.observe(ovsdb.Status{NVE: n, Connected: true, BFD: bfdAll(snap, n, "up")})
	}
	m.apply(context.Background())
	m.apply(context.Background())
	if got := mods.take(); !slices.Equal(got, []string{"hv1/1/up"}) {
		t.Fatalf("port-mods %v, want hv1's adopted port 1 brought up once", got)
	}
}

// With no multipath NVE (VAP signalling not in use) and no VAP down,
// apply has nothing to do: it sends no port-mod and does not even ask the
// switches for their admin-down ports.
func TestVAPSignallingIdleWithoutMultipath(t *testing.T) {
	snap := scenario.New().VN("blue", 100).
		NVE("hv1", "198.18.0.1").NVE("hv2", "198.18.0.2").
		Port("b1", "blue", "hv1", "tap-b1", "02:00:00:00:01:01", 0, "10.0.0.1").
		Port("b2", "blue", "hv2", "tap-b2", "02:00:00:00:01:02", 0, "10.0.0.2").
		Snapshot()
	mods := &portMods{}
	m := newMultihome(fixedSrc{snap}, func(string) map[string]uint32 { return map[string]uint32{"tap-b1": 1} },
		mods.set, slog.New(slog.DiscardHandler), func() {})
	asked := 0
	m.portsDown = func(string) ([]uint32, bool) { asked++; return []uint32{1}, true }
	if !m.idle(snap) {
		t.Fatal("not idle with no multipath NVE and no VAP down")
	}
	m.apply(context.Background())
	if got := mods.take(); len(got) != 0 || asked != 0 {
		t.Fatalf("idle apply: port-mods %v, admin state asked %d times", got, asked)
	}
	// A VAP nva took down while signalling was in use is still brought
	// back up.
	m.vaps["b1"] = &model.VAPSignalStatus{Port: "b1", VN: "blue", NVE: "hv1", Down: true}
	if m.idle(snap) {
		t.Fatal("idle with a VAP down")
	}
	m.apply(context.Background())
	if got := mods.take(); !slices.Equal(got, []string{"hv1/1/up"}) {
		t.Fatalf("port-mods %v, want b1 brought back up", got)
	}
	if !m.idle(snap) {
		t.Fatal("not idle once every VAP is back up")
	}
}
