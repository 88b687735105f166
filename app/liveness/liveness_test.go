package liveness_test

import (
	"testing"
	"time"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/compiler/scenario"
	"github.com/nva-project/nva/app/liveness"
	"github.com/nva-project/nva/app/model"
)

func TestParseBFD(t *testing.T) {
	for _, c := range []struct {
		status map[string]string
		wasUp  bool
		want   model.PathState
		diag   string
	}{
		{nil, false, model.PathUnknown, ""},
		{map[string]string{"state": "up", "forwarding": "true", "diagnostic": "No Diagnostic"}, false, model.PathUp, ""},
		{map[string]string{"state": "down", "forwarding": "false", "diagnostic": "No Diagnostic"}, false, model.PathUnknown, ""},
		{map[string]string{"state": "down", "forwarding": "false", "diagnostic": "No Diagnostic"}, true, model.PathDown, ""},
		{map[string]string{"state": "down", "forwarding": "false", "diagnostic": "Control Detection Time Expired"}, false, model.PathDown, "Control Detection Time Expired"},
		{map[string]string{"state": "init", "forwarding": "false", "diagnostic": "Neighbor Signaled Session Down"}, true, model.PathDown, "Neighbor Signaled Session Down"},
		{map[string]string{"state": "up", "forwarding": "false"}, true, model.PathDown, ""},
	} {
		got, diag := liveness.ParseBFD(c.status, c.wasUp)
		if got != c.want || diag != c.diag {
			t.Errorf("ParseBFD(%v, %v) = %s %q, want %s %q", c.status, c.wasUp, got, diag, c.want, c.diag)
		}
	}
}

// clock is an injected clock the test moves by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time       { return c.t }
func (c *clock) step(d time.Duration) { c.t = c.t.Add(d) }
func up() map[string]string {
	return map[string]string{"state": "up", "forwarding": "true", "diagnostic": "No Diagnostic"}
}
func expired() map[string]string {
	return map[string]string{"state": "down", "forwarding": "false", "diagnostic": "Control Detection Time Expired"}
}
func ports(ps []*model.Port) (out []string) {
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return out
}

// bfdOf gives every path of nve toward remote (or every remote when
// remote is "") the status st.
func bfdOf(snap *model.Snapshot, nve, remote string, st func() map[string]string, into map[string]map[string]string) map[string]map[string]string {
	if into == nil {
		into = map[string]map[string]string{}
	}
	for _, p := range compiler.TunnelPaths(snap, nve) {
		if remote == "" || p.Remote == remote {
			into[p.Port] = st()
		}
	}
	return into
}

func TestTransitionsFaultsAndVAPSignal(t *testing.T) {
	d := scenario.MultihomeFailover()
	snap := d.Snapshot()
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	tr := liveness.New(c.now)
	for _, n := range []string{"hv1", "hv2", "hv3"} {
		tr.Observe(snap, n, true, bfdOf(snap, n, "", up, nil))
	}
	if got := tr.VAPsDown(snap); len(got) != 0 {
		t.Fatalf("all paths up, VAPs down: %v", ports(got))
	}
	for _, ts := range tr.Tunnels(snap) {
		if ts.State != model.PathUp || ts.Fault != model.FaultNone || len(ts.Paths) != 2 {
			t.Fatalf("tunnel %s->%s: %+v, want up with two paths", ts.NVE, ts.Remote, ts)
		}
	}

	// hv1 loses its first path to hv2: a path transition, the pair stays up.
	c.step(time.Second)
	paths := compiler.TunnelPaths(snap, "hv1")
	b := bfdOf(snap, "hv1", "", up, nil)
	b[paths[0].Port] = expired()
	ev := tr.Observe(snap, "hv1", true, b)
	if len(ev) != 1 || ev[0].Port != paths[0].Port || ev[0].To != model.PathDown || !ev[0].At.Equal(c.t) || ev[0].Diagnostic != "Control Detection Time Expired" {
		t.Fatalf("events %+v, want one path %s down at %v", ev, paths[0].Port, c.t)
	}

	// hv1 loses every path: both pairs down, an underlay fault (every NVE
	// is connected), and hv1's VAP b1 goes down; nobody else's.
	c.step(time.Second)
	ev = tr.Observe(snap, "hv1", true, bfdOf(snap, "hv1", "", expired, nil))
	var pairDown int
	for _, e := range ev {
		if e.Port == "" && e.To == model.PathDown && e.Fault == model.FaultUnderlay {
			pairDown++
		}
	}
	if pairDown != 2 {
		t.Fatalf("events %+v, want two pairs down with an underlay fault", ev)
	}
	if got := ports(tr.VAPsDown(snap)); len(got) != 1 || got[0] != "b1" {
		t.Fatalf("VAPs down %v, want [b1]", got)
	}
	for _, ts := range tr.Tunnels(snap) {
		if ts.NVE == "hv1" && (!ts.Since.Equal(c.t) || ts.Paths[1].Transitions != 2) {
			t.Fatalf("tunnel %+v: since %v, want %v and two transitions of the second path (unknown->up->down)", ts, ts.Since, c.t)
		}
	}

	// hv2's OVSDB session drops: its pair with hv1 is an overlay fault.
	tr.Observe(snap, "hv2", false, nil)
	for _, ts := range tr.Tunnels(snap) {
		if ts.NVE == "hv1" && ts.Remote == "hv2" && ts.Fault != model.FaultOverlay {
			t.Fatalf("hv1->hv2 with hv2 disconnected: fault %q, want overlay", ts.Fault)
		}
	}

	// vap_signal off: nothing goes down. Back on and recovered: b1 up.
	d.VNs["blue"].VAPSignal = model.VAPSignalOff
	if got := tr.VAPsDown(d.Snapshot()); len(got) != 0 {
		t.Fatalf("vap_signal off, VAPs down: %v", ports(got))
	}
	c.step(time.Second)
	tr.Observe(snap, "hv1", true, bfdOf(snap, "hv1", "hv3", up, bfdOf(snap, "hv1", "hv2", expired, nil)))
	if got := tr.VAPsDown(snap); len(got) != 0 {
		t.Fatalf("hv1 reaches hv3 again, VAPs down: %v", ports(got))
	}
}
