package integration

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nva-project/nva/integration/lab"
)

// TestFailover proves leader failover on the data plane: three nva
// members (real processes), two hypervisors whose bridges list every
// member as a controller, and continuous pings at 50 packets/s in both
// directions between tenants on different hypervisors, which must lose
// nothing while the leader is killed with SIGKILL and, in a second round,
// paused with SIGSTOP (then continued). In each round the new leader must
// hold the OpenFlow master role on every switch with its Raft term as a
// generation higher than the old leader's (read from the switch itself),
// a port attached right after the failover is realized (the time is
// printed, not asserted), and a role request carrying the deposed
// leader's generation is refused by every switch as stale. After the
// paused leader continues, the flow tables stay exactly as the new leader
// left them: the deposed leader changed nothing.
func TestFailover(t *testing.T) {
	requireLab(t)
	ctx := context.Background()
	f := newFailoverLab(t, ctx)
	// The ports written right after each failover go to hv3, which carries
	// no pinged tenant: adding an interface to a bridge makes Open
	// vSwitch's userspace datapath reconfigure, which can drop a packet in
	// flight on that hypervisor (seen once under CI load: one request
	// each way, at the port's addition) — an artifact of the datapath,
	// not of the failover this test is about.
	f.round(t, "SIGKILL", "f3", 3, "192.0.2.13", "02:00:00:00:0f:03")
	f.round(t, "SIGSTOP", "f4", 3, "192.0.2.14", "02:00:00:00:0f:04")
}

type failoverLab struct {
	ctx context.Context
	l   *lab.Lab
	cl  *lab.Cluster
	ov  *lab.Overlay
}

const failoverPPS = 50

func newFailoverLab(t *testing.T, ctx context.Context) *failoverLab {
	start := time.Now()
	l := lab.New(t, lab.Options{Hypervisors: 3})
	cl, err := l.StartCluster(ctx, lab.ClusterOptions{Bin: nvaBin})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, m := range cl.Members {
			_ = m.Resume() // a paused member would hold up the lab's SIGTERM
		}
	})
	lead, err := cl.WaitLeader(ctx, 30*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	ov, err := lab.NewOverlay(ctx, l, cl.NVA(lead), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ov.RealizeTimeout = realizeTimeout
	if err := ov.AddVN(ctx, lab.VNSpec{Name: "fo", VNI: 3001, Encap: "vxlan"}); err != nil {
		t.Fatal(err)
	}
	for _, ts := range []lab.TenantSpec{
		{Name: "f1", VN: "fo", HV: 1, IP: "192.0.2.11", MAC: "02:00:00:00:0f:01"},
		{Name: "f2", VN: "fo", HV: 2, IP: "192.0.2.12", MAC: "02:00:00:00:0f:02"},
	} {
		if err := ov.AddTenant(ctx, ts); err != nil {
			t.Fatal(err)
		}
	}
	f := &failoverLab{ctx: ctx, l: l, cl: cl, ov: ov}
	for _, p := range [][2]string{{"f1", "192.0.2.12"}, {"f2", "192.0.2.11"}} {
		if _, err := ov.ExpectReach(ctx, p[0], p[1], realizeTimeout); err != nil {
			t.Fatalf("overlay did not converge: %v", err)
		}
	}
	h, err := lead.Health(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f.waitMaster(t, lead, h.Term)
	t.Logf("3-member cluster (leader %s, term %d), %d hypervisors, overlay up in %v", lead.ID, h.Term, len(l.Hypervisors()), time.Since(start).Round(time.Millisecond))
	return f
}

// controllers returns hypervisor i's br-int controllers as target -> role
// ("master", "slave", "other") for the connected ones.
func (f *failoverLab) controllers(i int) (map[string]string, error) {
	out, err := f.l.Vsctl(f.ctx, i, "--format=csv", "--no-headings", "--columns=target,role,is_connected", "list", "Controller")
	if err != nil {
		return nil, err
	}
	roles := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		parts := strings.Split(line, ",")
		if len(parts) != 3 {
			continue
		}
		target := strings.Trim(parts[0], `"`)
		if parts[2] == "true" {
			roles[target] = parts[1]
		}
	}
	return roles, nil
}

// waitGeneration waits until every switch's master election generation
// (read with a no-change role request) is term.
func (f *failoverLab) waitGeneration(t *testing.T, term uint64) time.Duration {
	t.Helper()
	start := time.Now()
	var state string
	err := lab.WaitFor(f.ctx, 30*time.Second, 20*time.Millisecond, func() (bool, error) {
		for _, hv := range f.l.Hypervisors() {
			a, err := f.l.RoleRequest(f.ctx, hv.Index, lab.IntegrationBridge, lab.RoleNoChange, 0)
			if err != nil {
				return false, err
			}
			if !a.HasGeneration || a.Generation != term {
				state = fmt.Sprintf("%s: master election generation %d (known %v), want %d", hv.Name, a.Generation, a.HasGeneration, term)
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("the switches did not reach generation %d: %v (%s)", term, err, state)
	}
	return time.Since(start)
}

// waitMaster waits until every switch lists every member as a controller
// target and reports leader's target as its master, and until the
// switch's master election generation (read with a no-change role
// request) is term.
func (f *failoverLab) waitMaster(t *testing.T, leader *lab.Member, term uint64) time.Duration {
	t.Helper()
	start := time.Now()
	var state string
	err := lab.WaitFor(f.ctx, 30*time.Second, 50*time.Millisecond, func() (bool, error) {
		for _, hv := range f.l.Hypervisors() {
			out, err := f.l.Vsctl(f.ctx, hv.Index, "--bare", "--columns=controller", "list", "Bridge", lab.IntegrationBridge)
			if err != nil {
				return false, err
			}
			if n := len(strings.Fields(out)); n != len(f.cl.Members) {
				state = fmt.Sprintf("%s: %d controllers on %s, want one per member (%d)", hv.Name, n, lab.IntegrationBridge, len(f.cl.Members))
				return false, nil
			}
			roles, err := f.controllers(hv.Index)
			if err != nil {
				return false, err
			}
			if roles[leader.OpenFlowTarget()] != "master" {
				state = fmt.Sprintf("%s: connected controllers and roles %v, want %s master", hv.Name, roles, leader.OpenFlowTarget())
				return false, nil
			}
			a, err := f.l.RoleRequest(f.ctx, hv.Index, lab.IntegrationBridge, lab.RoleNoChange, 0)
			if err != nil {
				return false, err
			}
			if !a.HasGeneration || a.Generation != term {
				state = fmt.Sprintf("%s: master election generation %d (known %v), want %d", hv.Name, a.Generation, a.HasGeneration, term)
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("%s (term %d) did not become every switch's master: %v (%s)", leader.ID, term, err, state)
	}
	return time.Since(start)
}

// nvaFlows is every hypervisor's nva flows.
func (f *failoverLab) nvaFlows(t *testing.T) [][]string {
	t.Helper()
	var out [][]string
	for _, hv := range f.l.Hypervisors() {
		fl, err := f.l.DumpFlows(f.ctx, hv.Index, lab.IntegrationBridge, nvaCookieMatch)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fl)
	}
	return out
}

// round fails the current leader (SIGKILL, or SIGSTOP then SIGCONT) under
// continuous pings between f1 (hv1) and f2 (hv2), and attaches tenant
// name on hypervisor hv right after the failover.
func (f *failoverLab) round(t *testing.T, how, name string, hv int, ip, mac string) {
	ctx := f.ctx
	old, err := f.cl.WaitLeader(ctx, 30*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	oh, err := old.Health(ctx)
	if err != nil {
		t.Fatal(err)
	}
	oldTerm := oh.Term
	logFrom := fileSize(old.Proc().Log)

	pairs := [][2]string{{"f1", "192.0.2.12"}, {"f2", "192.0.2.11"}}
	var streams []*lab.PingStream
	for _, p := range pairs {
		// Far more requests than the round takes: the stream is stopped
		// once the round is over.
		s, err := f.l.StartPingStream(p[0], p[1], time.Second/failoverPPS, failoverPPS*600)
		if err != nil {
			t.Fatal(err)
		}
		streams = append(streams, s)
	}
	time.Sleep(2 * time.Second)

	failedAt := time.Now()
	switch how {
	case "SIGKILL":
		old.Kill()
	case "SIGSTOP":
		if err := old.Pause(); err != nil {
			t.Fatal(err)
		}
	}
	lead, err := f.cl.WaitLeader(ctx, 30*time.Second, []*lab.Member{old})
	if err != nil {
		t.Fatal(err)
	}
	elected := time.Since(failedAt)
	h, err := lead.Health(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if h.Term <= oldTerm {
		t.Fatalf("new leader %s has term %d, not above the old leader's %d", lead.ID, h.Term, oldTerm)
	}
	// A write right after the failover, through a surviving follower
	// (which forwards it to the new leader): the tenant's namespace is
	// made and its port POSTed with ?wait=realized, so it returns once
	// every switch has the port's flows.
	via := f.cl.Others(old, lead)[0]
	f.ov.NVA = f.cl.NVA(via)
	wrote := time.Now()
	if err := f.ov.AddTenant(ctx, lab.TenantSpec{Name: name, VN: "fo", HV: hv, IP: ip, MAC: mac}); err != nil {
		t.Fatalf("attaching %s after the failover: %v", name, err)
	}
	realized := time.Since(wrote)

	gen := f.waitGeneration(t, h.Term)
	master := f.waitMaster(t, lead, h.Term)
	t.Logf("%s of leader %s (term %d): %s elected %v later (term %d); generation %d on every switch at most %v after that, and OVSDB's role column shows it master %v after that",
		how, old.ID, oldTerm, lead.ID, elected.Round(time.Millisecond), h.Term, h.Term, (wrote.Sub(failedAt) - elected + realized + gen).Round(time.Millisecond), master.Round(time.Millisecond))
	reach, err := f.ov.ExpectReach(ctx, "f1", ip, realizeTimeout)
	if err != nil {
		t.Fatalf("f1 -> %s (%s) after the failover: %v", name, ip, err)
	}
	t.Logf("%s: port %s attached through %s right after the election (%v after the failure): realized on the switches in %v; f1 reached it %v later",
		how, name, via.ID, wrote.Sub(failedAt).Round(time.Millisecond), realized.Round(time.Millisecond), reach.Round(time.Millisecond))

	// The switches refuse the deposed leader's generation.
	for _, x := range f.l.Hypervisors() {
		for _, role := range []uint32{lab.RoleMaster, lab.RoleSlave} {
			a, err := f.l.RoleRequest(ctx, x.Index, lab.IntegrationBridge, role, oldTerm)
			if err != nil {
				t.Fatal(err)
			}
			if !a.Stale() {
				t.Fatalf("%s: a role request (role %d) with the deposed leader's generation %d was answered %+v, want refused as stale", x.Name, role, oldTerm, a)
			}
		}
	}

	switch how {
	case "SIGKILL":
		restart := time.Now()
		if err := old.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := f.cl.WaitLeader(ctx, 30*time.Second, nil); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s restarted and rejoined in %v", old.ID, time.Since(restart).Round(time.Millisecond))
	case "SIGSTOP":
		// The deposed leader continues believing it leads in term
		// oldTerm until it hears the new term; whatever it tries to
		// write meanwhile, the switches must refuse. Its view lacks
		// the port just attached: a write of its stale state would
		// remove that port's flows.
		want := f.nvaFlows(t)
		if err := old.Resume(); err != nil {
			t.Fatal(err)
		}
		resumed := time.Now()
		if _, err := f.cl.WaitLeader(ctx, 30*time.Second, nil); err != nil {
			t.Fatal(err)
		}
		if err := lab.WaitFor(ctx, 30*time.Second, 50*time.Millisecond, func() (bool, error) {
			oh, err := old.Health(ctx)
			return err == nil && !oh.IsLeader && oh.Term >= h.Term && oh.Leader == lead.ID, err
		}); err != nil {
			t.Fatal(err)
		}
		// Give a stale write every chance to land (its OpenFlow
		// connections reconnect and resync within seconds), then
		// compare.
		time.Sleep(3 * time.Second)
		got := f.nvaFlows(t)
		for i := range want {
			if d := diffLines(want[i], got[i]); d != "" {
				t.Errorf("hv%d flows changed after the deposed leader %s continued:\n%s", i+1, old.ID, d)
			}
		}
		// The new leader is still every switch's master, in its own
		// generation: the deposed one took nothing back.
		f.waitMaster(t, lead, h.Term)
		t.Logf("%s continued %v after its pause and rejoined as a follower; the flow tables stayed as the new leader left them and it is still master", old.ID, resumed.Sub(failedAt).Round(time.Millisecond))
		// What the deposed leader tried meanwhile, and what the switches
		// refused (information: the assertions are on the switches).
		for _, line := range logSince(t, old.Proc().Log, logFrom) {
			if strings.Contains(line, "msg=reconciled ") || strings.Contains(line, "reconcile failed") ||
				strings.Contains(line, "openflow error from switch") || strings.Contains(line, "refused the master role") ||
				strings.Contains(line, "OVSDB sync failed") || strings.Contains(line, "ensuring OVSDB state") {
				t.Logf("deposed leader %s: %s", old.ID, line)
			}
		}
	}
	if reach, err := f.ov.ExpectReach(ctx, "f2", ip, realizeTimeout); err != nil {
		t.Fatalf("f2 -> %s after %s recovered: %v", name, old.ID, err)
	} else if reach > time.Second {
		t.Logf("f2 -> %s first answered after %v", name, reach.Round(time.Millisecond))
	}

	time.Sleep(time.Second)
	for i, s := range streams {
		r, err := s.Stop()
		if err != nil {
			t.Fatal(err)
		}
		missing := unanswered(r.Output, r.Transmitted, failoverPPS)
		t.Logf("%s: continuous ping %s -> %s across the failover: %d requests at %d/s, %d without a reply before the last second (in flight when stopped: %d)",
			how, pairs[i][0], pairs[i][1], r.Transmitted, failoverPPS, len(missing), r.Lost()-len(missing))
		if r.Transmitted < failoverPPS*5 || len(missing) > 0 {
			t.Errorf("%s: ping %s -> %s: %v; requests without a reply: %v", how, pairs[i][0], pairs[i][1], r, missing)
		}
	}
}

var pingReplyRE = regexp.MustCompile(`icmp_seq=(\d+) ttl=`)

// unanswered lists the sequence numbers of requests without a reply,
// except the last window (one second's worth at pps) before the stream
// was stopped: those may still have been in flight.
func unanswered(out string, transmitted, pps int) []int {
	got := map[int]bool{}
	for _, m := range pingReplyRE.FindAllStringSubmatch(out, -1) {
		n, _ := strconv.Atoi(m[1])
		got[n] = true
	}
	var missing []int
	for seq := 1; seq <= transmitted-pps; seq++ {
		if !got[seq] {
			missing = append(missing, seq)
		}
	}
	return missing
}
