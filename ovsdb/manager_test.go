package ovsdb

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nva-project/nva/internal/ovstest"
)

// Integration tests against a real ovsdb-server and ovs-vswitchd.

const waitLong = 15 * time.Second

type statusLog struct {
	mu  sync.Mutex
	all []Status
}

func (s *statusLog) record(st Status) {
	s.mu.Lock()
	s.all = append(s.all, st)
	s.mu.Unlock()
}

func (s *statusLog) seen(f func(Status) bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.ContainsFunc(s.all, f)
}

func newTestManager(t *testing.T) (*Manager, *statusLog) {
	t.Helper()
	log := &statusLog{}
	h := slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo})
	m := NewManager(slog.New(h), log.record, WithBackoff(50*time.Millisecond, time.Second), WithProbeInterval(time.Second))
	t.Cleanup(m.Close)
	return m, log
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func labDesired(l *ovsLab) Desired {
	return Desired{
		NVE:          "hv1",
		Endpoint:     l.Endpoint(),
		Bridge:       "br-nva",
		DatapathType: DatapathNetdev,
		DatapathID:   "00000000000000A1",
		Controllers:  []string{"tcp:198.18.255.1:6653", "tcp:198.18.255.2:6653"},
		Tunnels: []Tunnel{
			{Name: "nva-vxlan", Type: TunnelVXLAN},
			{Name: "nva-gnv", Type: TunnelGENEVE, LocalIP: "198.18.0.1"},
		},
		Interfaces: []string{"vap0"},
	}
}

// waitReady waits until the NVE's bridge is ready and every named interface
// has an ofport.
func waitReady(t *testing.T, m *Manager, nve string, ifaces ...string) Status {
	t.Helper()
	var st Status
	waitFor(t, waitLong, nve+" ready", func() (bool, string) {
		var ok bool
		st, ok = m.Status(nve)
		if !ok || !st.Connected || !st.BridgeReady {
			return false, fmt.Sprintf("status %+v", st)
		}
		for _, i := range ifaces {
			if st.OFPorts[i] == 0 {
				return false, fmt.Sprintf("no ofport for %s yet: %+v", i, st)
			}
		}
		return true, ""
	})
	return st
}

// unquote strips ovs-vsctl's quoting of a string value.
func unquote(s string) string {
	if u, err := strconv.Unquote(s); err == nil {
		return u
	}
	return s
}

// controllers lists the Controller rows of a bridge as "target mode probe
// backoff external_ids". One ovs-vsctl run reads the bridge and the rows in
// one transaction, so it is consistent even while nva rewrites them.
func (l *ovsLab) controllers(bridge string) []string {
	l.t.Helper()
	out := l.Vsctl("--format=csv", "--data=bare", "--no-headings", "get", "Bridge", bridge, "controller",
		"--", "--columns=_uuid,target,connection_mode,inactivity_probe,max_backoff,external_ids", "list", "Controller")
	lines := strings.Split(out, "\n")
	onBridge := map[string]bool{}
	for _, u := range strings.Split(strings.Trim(lines[0], "[]"), ",") {
		onBridge[strings.TrimSpace(u)] = true
	}
	var rows []string
	for _, line := range lines[1:] {
		uuid, rest, _ := strings.Cut(line, ",")
		if onBridge[uuid] {
			rows = append(rows, strings.ReplaceAll(rest, ",", " "))
		}
	}
	sort.Strings(rows)
	return rows
}

func (l *ovsLab) ports(bridge string) []string {
	l.t.Helper()
	out := l.Vsctl("list-ports", bridge)
	if out == "" {
		return nil
	}
	p := strings.Split(out, "\n")
	sort.Strings(p)
	return p
}

func TestSyncConfiguresBridgeAndIsIdempotent(t *testing.T) {
	l := newOVSLab(t)
	l.addVeth("vap0", "vap0-peer")
	m, _ := newTestManager(t)
	d := labDesired(l)
	m.Sync(context.Background(), d)
	st := waitReady(t, m, "hv1", "nva-vxlan", "nva-gnv", "vap0")
	if ports, ok := m.OFPorts("hv1"); !ok || len(ports) < 3 || ports["vap0"] != st.OFPorts["vap0"] {
		t.Errorf("OFPorts = %v, %v; the status says %v", ports, ok, st.OFPorts)
	}
	if _, ok := m.OFPorts("nope"); ok {
		t.Error("OFPorts of an unknown NVE")
	}

	// Every bridge property, read back with ovs-vsctl.
	for _, c := range []struct{ col, want string }{
		{"datapath_type", "netdev"},
		{"fail_mode", "secure"},
		{"protocols", "[OpenFlow13]"},
		{"other_config:datapath-id", "00000000000000a1"},
		{"external_ids:nva-owned", "true"},
	} {
		if got := unquote(l.Vsctl("get", "Bridge", "br-nva", c.col)); got != c.want {
			t.Errorf("Bridge br-nva %s = %q, want %q", c.col, got, c.want)
		}
	}
	// ovs-vswitchd applied the datapath ID.
	waitFor(t, waitLong, "datapath_id applied", func() (bool, string) {
		got := unquote(l.Vsctl("get", "Bridge", "br-nva", "datapath_id"))
		return got == "00000000000000a1", got
	})
	wantCtl := []string{
		"tcp:198.18.255.1:6653 out-of-band 5000 1000 nva-owned=true",
		"tcp:198.18.255.2:6653 out-of-band 5000 1000 nva-owned=true",
	}
	if got := l.controllers("br-nva"); !slices.Equal(got, wantCtl) {
		t.Errorf("controllers = %q, want %q", got, wantCtl)
	}
	if got, want := l.ports("br-nva"), []string{"nva-gnv", "nva-vxlan", "vap0"}; !slices.Equal(got, want) {
		t.Errorf("ports = %q, want %q", got, want)
	}
	for _, c := range []struct{ iface, col, want string }{
		{"nva-vxlan", "type", "vxlan"},
		{"nva-vxlan", "options", `{key=flow, remote_ip=flow}`},
		{"nva-gnv", "type", "geneve"},
		{"nva-gnv", "options", `{key=flow, local_ip="198.18.0.1", remote_ip=flow}`},
		{"vap0", "type", `""`},
		{"vap0", "external_ids:nva-owned", "true"},
		{"nva-vxlan", "external_ids:nva-owned", "true"},
	} {
		if got := l.Vsctl("get", "Interface", c.iface, c.col); unquote(got) != unquote(c.want) {
			t.Errorf("Interface %s %s = %s, want %s", c.iface, c.col, got, c.want)
		}
	}
	// Status carries the real ofports and link states.
	for _, i := range []string{"nva-vxlan", "nva-gnv", "vap0"} {
		want, err := strconv.Atoi(l.Vsctl("get", "Interface", i, "ofport"))
		if err != nil {
			t.Fatal(err)
		}
		if st.OFPorts[i] != uint32(want) {
			t.Errorf("status ofport of %s = %d, OVSDB says %d", i, st.OFPorts[i], want)
		}
	}
	waitFor(t, waitLong, "vap0 link up", func() (bool, string) {
		st, _ := m.Status("hv1")
		return st.Links["vap0"], fmt.Sprintf("%+v", st.Links)
	})
	if st.LastError != "" {
		t.Errorf("LastError = %q", st.LastError)
	}

	// A second identical Sync compares and writes nothing.
	before, _ := m.Stats("hv1")
	m.Sync(context.Background(), d)
	waitFor(t, waitLong, "second ensure", func() (bool, string) {
		s, _ := m.Stats("hv1")
		return s.Ensures > before.Ensures, fmt.Sprintf("%+v", s)
	})
	after, _ := m.Stats("hv1")
	if after.Transactions != before.Transactions {
		t.Errorf("idempotent Sync sent %d transaction(s)", after.Transactions-before.Transactions)
	}

	// Changing the desired state applies just the difference: GENEVE is
	// dropped, GRE added, the VAP goes, one controller goes.
	d2 := d
	d2.Tunnels = []Tunnel{{Name: "nva-vxlan", Type: TunnelVXLAN}, {Name: "nva-gre", Type: TunnelGRE}}
	d2.Interfaces = nil
	d2.Controllers = []string{"tcp:198.18.255.2:6653"}
	m.Sync(context.Background(), d2)
	waitFor(t, waitLong, "updated ports", func() (bool, string) {
		got := l.ports("br-nva")
		return slices.Equal(got, []string{"nva-gre", "nva-vxlan"}), fmt.Sprint(got)
	})
	waitFor(t, waitLong, "updated controllers", func() (bool, string) {
		got := l.controllers("br-nva")
		return slices.Equal(got, []string{"tcp:198.18.255.2:6653 out-of-band 5000 1000 nva-owned=true"}), fmt.Sprint(got)
	})
	st = waitReady(t, m, "hv1", "nva-gre", "nva-vxlan")
	if _, ok := st.OFPorts["vap0"]; ok {
		t.Errorf("status still lists removed port vap0: %+v", st.OFPorts)
	}
}

func TestDriftIsRepaired(t *testing.T) {
	l := newOVSLab(t)
	m, _ := newTestManager(t)
	d := labDesired(l)
	d.Interfaces = nil
	m.Sync(context.Background(), d)
	waitReady(t, m, "hv1", "nva-vxlan")

	l.Vsctl("del-port", "br-nva", "nva-vxlan")
	waitFor(t, waitLong, "tunnel port restored", func() (bool, string) {
		out, err := l.TryVsctl("get", "Interface", "nva-vxlan", "options")
		return err == nil && out == "{key=flow, remote_ip=flow}", out
	})
	waitReady(t, m, "hv1", "nva-vxlan")

	l.Vsctl("set-fail-mode", "br-nva", "standalone")
	l.Vsctl("set", "Interface", "nva-gnv", "options:remote_ip=192.0.2.1")
	l.Vsctl("set-controller", "br-nva", "tcp:192.0.2.50:6653")
	waitFor(t, waitLong, "fail_mode, tunnel options and controllers restored", func() (bool, string) {
		fm := l.Vsctl("get", "Bridge", "br-nva", "fail_mode")
		opts := l.Vsctl("get", "Interface", "nva-gnv", "options")
		ctl := l.controllers("br-nva")
		ok := fm == "secure" && opts == `{key=flow, local_ip="198.18.0.1", remote_ip=flow}` && len(ctl) == 2 &&
			strings.HasPrefix(ctl[0], "tcp:198.18.255.1:6653 out-of-band") && strings.HasPrefix(ctl[1], "tcp:198.18.255.2:6653 out-of-band")
		return ok, fmt.Sprintf("fail_mode=%s options=%s controllers=%q", fm, opts, ctl)
	})
	uuid := strings.Split(strings.Trim(l.Vsctl("get", "Bridge", "br-nva", "controller"), "[]"), ",")[0]
	l.Vsctl("set", "Controller", uuid, "connection_mode=in-band")
	waitFor(t, waitLong, "connection_mode restored", func() (bool, string) {
		got := l.Vsctl("get", "Controller", uuid, "connection_mode")
		return got == "out-of-band", got
	})
}

func TestReconnectsAfterServerRestart(t *testing.T) {
	l := newOVSLab(t)
	m, slog := newTestManager(t)
	d := labDesired(l)
	d.Interfaces = nil
	m.Sync(context.Background(), d)
	waitReady(t, m, "hv1", "nva-vxlan", "nva-gnv")

	// Plain restart: same database file, same socket.
	l.StopDB()
	waitFor(t, waitLong, "disconnect noticed", func() (bool, string) {
		st, _ := m.Status("hv1")
		return !st.Connected, fmt.Sprintf("%+v", st)
	})
	l.StartDB()
	waitFor(t, waitLong, "reconnected", func() (bool, string) {
		s, _ := m.Stats("hv1")
		st, _ := m.Status("hv1")
		return s.Connects >= 2 && st.Connected && st.BridgeReady, fmt.Sprintf("%+v %+v", s, st)
	})
	// The new monitor is live: drift is still repaired.
	l.Vsctl("del-port", "br-nva", "nva-gnv")
	waitFor(t, waitLong, "tunnel port restored after reconnect", func() (bool, string) {
		out, err := l.TryVsctl("get", "Interface", "nva-gnv", "type")
		return err == nil && out == "geneve", out
	})

	// Restart with the database lost (a reinstalled hypervisor): nva
	// rebuilds everything, including the Open_vSwitch root row.
	l.StopDB()
	if err := os.Rename(l.DB(), l.DB()+".old"); err != nil {
		t.Fatal(err)
	}
	l.Run("ovsdb-tool", "create", l.DB(), ovstest.Schema)
	l.StartDB()
	waitFor(t, waitLong, "bridge rebuilt in the new database", func() (bool, string) {
		st, _ := m.Status("hv1")
		fm, err := l.TryVsctl("get", "Bridge", "br-nva", "fail_mode")
		return err == nil && fm == "secure" && st.BridgeReady && st.OFPorts["nva-vxlan"] > 0 && st.OFPorts["nva-gnv"] > 0,
			fmt.Sprintf("fail_mode=%q err=%v status=%+v", fm, err, st)
	})
	if got, want := l.ports("br-nva"), []string{"nva-gnv", "nva-vxlan"}; !slices.Equal(got, want) {
		t.Errorf("ports after rebuild = %q, want %q", got, want)
	}
	if len(l.controllers("br-nva")) != 2 {
		t.Errorf("controllers after rebuild = %q", l.controllers("br-nva"))
	}
	if !slog.seen(func(s Status) bool { return !s.Connected && s.LastError != "" }) {
		t.Error("no disconnected status with an error was pushed")
	}
}

func TestRemoveDeletesOnlyNvaRows(t *testing.T) {
	l := newOVSLab(t)
	l.addVeth("vap0", "vap0-peer")
	// An operator's bridge with its own port and controller.
	l.Vsctl("add-br", "br-user", "--", "set", "Bridge", "br-user", "datapath_type=netdev", "fail_mode=standalone",
		"other_config:datapath-id=00000000000000ff",
		"--", "add-port", "br-user", "userport", "--", "set", "Interface", "userport", "type=internal",
		"--", "set-controller", "br-user", "tcp:192.0.2.7:6653")
	m, _ := newTestManager(t)
	a := Desired{
		NVE: "hv-a", Endpoint: l.Endpoint(), Bridge: "br-user", DatapathType: DatapathNetdev,
		DatapathID:  "00000000000000a1",
		Controllers: []string{"tcp:198.18.255.1:6653"},
		Tunnels:     []Tunnel{{Name: "nva-vxlan", Type: TunnelVXLAN}},
		Interfaces:  []string{"vap0", "userport"},
	}
	b := Desired{
		NVE: "hv-b", Endpoint: l.Endpoint(), Bridge: "br-nvb", DatapathType: DatapathNetdev,
		Controllers: []string{"tcp:198.18.255.1:6653"},
		Tunnels:     []Tunnel{{Name: "nvb-gre", Type: TunnelGRE}},
	}
	m.Sync(context.Background(), a)
	m.Sync(context.Background(), b)
	waitReady(t, m, "hv-a", "nva-vxlan", "vap0", "userport")
	waitReady(t, m, "hv-b", "nvb-gre")
	if got := l.Vsctl("get", "Bridge", "br-user", "fail_mode"); got != "secure" {
		t.Fatalf("br-user fail_mode = %s, want secure", got)
	}
	if got := unquote(l.Vsctl("get", "Bridge", "br-user", "other_config:datapath-id")); got != "00000000000000a1" {
		t.Fatalf("br-user datapath-id = %s, want nva's 00000000000000a1", got)
	}
	if got := unquote(l.Vsctl("get", "Bridge", "br-user", "external_ids:nva-orig-datapath-id")); got != "00000000000000ff" {
		t.Fatalf("br-user recorded original datapath-id = %s, want 00000000000000ff", got)
	}
	if got := l.controllers("br-user"); len(got) != 1 || !strings.HasPrefix(got[0], "tcp:198.18.255.1:6653 ") {
		t.Fatalf("br-user controllers = %q", got)
	}
	if _, err := l.TryVsctl("get", "Bridge", "br-user", "external_ids:nva-owned"); err == nil {
		t.Error("nva marked the operator's bridge as its own")
	}

	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	if err := m.Remove(ctx, "hv-a"); err != nil {
		t.Fatalf("Remove hv-a: %v", err)
	}
	if _, ok := m.Status("hv-a"); ok {
		t.Error("hv-a still has a status after Remove")
	}
	// The operator's bridge, port, controller and settings are back as they were.
	if got, want := l.ports("br-user"), []string{"userport"}; !slices.Equal(got, want) {
		t.Errorf("br-user ports after Remove = %q, want %q", got, want)
	}
	if got := l.controllers("br-user"); len(got) != 1 || !strings.HasPrefix(got[0], "tcp:192.0.2.7:6653 ") {
		t.Errorf("br-user controllers after Remove = %q, want the operator's tcp:192.0.2.7:6653", got)
	}
	for _, c := range []struct{ col, want string }{
		{"fail_mode", "standalone"},
		{"protocols", "[]"},
		{"other_config:datapath-id", "00000000000000ff"},
		{"external_ids", "{}"},
	} {
		if got := unquote(l.Vsctl("get", "Bridge", "br-user", c.col)); got != c.want {
			t.Errorf("br-user %s after Remove = %q, want %q", c.col, got, c.want)
		}
	}
	// The other NVE's bridge is untouched until it is removed, then gone.
	if got := l.ports("br-nvb"); !slices.Equal(got, []string{"nvb-gre"}) {
		t.Errorf("br-nvb ports = %q", got)
	}
	if err := m.Remove(ctx, "hv-b"); err != nil {
		t.Fatalf("Remove hv-b: %v", err)
	}
	if out, err := l.TryVsctl("br-exists", "br-nvb"); err == nil {
		t.Errorf("nva-created bridge br-nvb survived Remove: %s", out)
	}
	if got := strings.Fields(l.Vsctl("list-br")); !slices.Equal(got, []string{"br-user"}) {
		t.Errorf("bridges after Remove = %q, want [br-user]", got)
	}
	if n := l.Vsctl("--columns=_uuid", "--format=csv", "--no-headings", "list", "Controller"); len(strings.Fields(n)) != 1 {
		t.Errorf("Controller rows after Remove: %q, want only the operator's", n)
	}
}

// A VAP interface named before its device exists is added anyway; its error
// shows in the status, and its ofport appears once the device is created.
func TestVAPInterfaceCreatedLater(t *testing.T) {
	l := newOVSLab(t)
	m, _ := newTestManager(t)
	d := labDesired(l)
	d.Interfaces = []string{"vap-late"}
	m.Sync(context.Background(), d)
	waitFor(t, waitLong, "missing device reported", func() (bool, string) {
		st, _ := m.Status("hv1")
		return st.BridgeReady && st.Errors["vap-late"] != "" && st.OFPorts["vap-late"] == 0, fmt.Sprintf("%+v", st)
	})
	l.addVeth("vap-late", "vap-late-p")
	st := waitReady(t, m, "hv1", "vap-late")
	if st.Errors["vap-late"] != "" {
		t.Errorf("error still reported after the device appeared: %q", st.Errors["vap-late"])
	}
	waitFor(t, waitLong, "vap-late link up", func() (bool, string) {
		st, _ := m.Status("hv1")
		return st.Links["vap-late"], fmt.Sprintf("%+v", st.Links)
	})
}

// TestPerRemoteTunnelPorts: switching a bridge from a flow-based tunnel
// port to per-remote ports (an Open vSwitch run with the strict OpenFlow
// 1.3 profile) creates one port per remote with its remote_ip, key=flow
// and local_ip, removes the flow-based one, and removes a remote's port
// when it is no longer wanted.
func TestPerRemoteTunnelPorts(t *testing.T) {
	l := newOVSLab(t)
	m, _ := newTestManager(t)
	d := labDesired(l)
	d.Interfaces = nil
	d.Tunnels = d.Tunnels[:1]
	m.Sync(context.Background(), d)
	waitReady(t, m, "hv1", "nva-vxlan")

	d2 := d
	d2.Tunnels = []Tunnel{
		{Name: "nvxc6120002", Type: TunnelVXLAN, LocalIP: "198.18.0.1", RemoteIP: "198.18.0.2"},
		{Name: "nvxc6120003", Type: TunnelVXLAN, LocalIP: "198.18.0.1", RemoteIP: "198.18.0.3"},
	}
	m.Sync(context.Background(), d2)
	st := waitReady(t, m, "hv1", "nvxc6120002", "nvxc6120003")
	if got, want := l.ports("br-nva"), []string{"nvxc6120002", "nvxc6120003"}; !slices.Equal(got, want) {
		t.Fatalf("ports = %q, want %q", got, want)
	}
	for _, c := range []struct{ iface, col, want string }{
		{"nvxc6120002", "type", "vxlan"},
		{"nvxc6120002", "options", `{key=flow, local_ip="198.18.0.1", remote_ip="198.18.0.2"}`},
		{"nvxc6120003", "options", `{key=flow, local_ip="198.18.0.1", remote_ip="198.18.0.3"}`},
		{"nvxc6120003", "external_ids:nva-owned", "true"},
	} {
		if got := l.Vsctl("get", "Interface", c.iface, c.col); unquote(got) != unquote(c.want) {
			t.Errorf("Interface %s %s = %s, want %s", c.iface, c.col, got, c.want)
		}
	}
	if _, ok := st.OFPorts["nva-vxlan"]; ok {
		t.Errorf("status still lists the flow-based port: %+v", st.OFPorts)
	}

	d3 := d2
	d3.Tunnels = d2.Tunnels[:1]
	m.Sync(context.Background(), d3)
	waitFor(t, waitLong, "the remote's port removed", func() (bool, string) {
		got := l.ports("br-nva")
		return slices.Equal(got, []string{"nvxc6120002"}), fmt.Sprint(got)
	})
}
