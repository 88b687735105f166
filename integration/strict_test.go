package integration

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nva-project/nva/integration/lab"
	"github.com/nva-project/nva/internal/ofshim"
)

// The acceptance test of issue 8: a hardware OpenFlow 1.3 switch as an NVE
// beside Open vSwitch hypervisors, end to end on the real-OVS lab and only
// through nva's REST API.
//
// Lab hypervisor hv1 plays the hardware switch. The test configures its
// br-int itself, as a switch administrator would (PrepareStrictBridge:
// OpenFlow 1.3 only, fail_mode=secure, a fixed datapath ID, out-of-band
// controller, one VXLAN tunnel port per remote named by nva's convention,
// remote_ip fixed and key=flow) and adds its tenants' interfaces to it; nva
// never touches hv1's OVSDB. hv1's OpenFlow connection goes through the
// strict OpenFlow 1.3 conformance proxy internal/ofshim (4 tables), running
// in the test process on the lab's controller address, which refuses what a
// hardware switch would refuse (Nicira extensions, bundles, tables beyond
// 4). hv1 is registered as kind openflow with that datapath ID; hv2 and hv3
// are kind ovs, managed by nva over OVSDB as in TestOverlay.

// strictHV is the hypervisor that plays the hardware switch, strictDPID its
// datapath ID.
const (
	strictHV   = 1
	strictDPID = "00000000000e8a01"
)

// strictVNs overlap: blue and red use the same tenant subnets and the same
// addresses.
var strictVNs = []lab.VNSpec{
	{Name: "blue", VNI: 2001, Encap: "vxlan"},
	{Name: "red", VNI: 2002, Encap: "vxlan"},
}

// strictTenants: b1, b4 and r1 on the strict switch (b1 and r1 share an
// address, b4 is blue only), one blue and one red tenant on each OVS
// hypervisor; everyone dual-stack.
var strictTenants = []lab.TenantSpec{
	{Name: "b1", VN: "blue", HV: 1, IP: "192.0.2.11", IP6: "2001:db8::11", MAC: "02:00:00:08:01:01", AttachBridge: lab.IntegrationBridge},
	{Name: "b4", VN: "blue", HV: 1, IP: "192.0.2.14", IP6: "2001:db8::14", MAC: "02:00:00:08:01:04", AttachBridge: lab.IntegrationBridge},
	{Name: "r1", VN: "red", HV: 1, IP: "192.0.2.11", IP6: "2001:db8::11", MAC: "02:00:00:08:02:01", AttachBridge: lab.IntegrationBridge},
	{Name: "b2", VN: "blue", HV: 2, IP: "192.0.2.12", IP6: "2001:db8::12", MAC: "02:00:00:08:01:02"},
	{Name: "r2", VN: "red", HV: 2, IP: "192.0.2.12", IP6: "2001:db8::12", MAC: "02:00:00:08:02:02"},
	{Name: "b3", VN: "blue", HV: 3, IP: "192.0.2.13", IP6: "2001:db8::13", MAC: "02:00:00:08:01:03"},
	{Name: "r3", VN: "red", HV: 3, IP: "192.0.2.13", IP6: "2001:db8::13", MAC: "02:00:00:08:02:03"},
}

// strictOverlay is the shared lab of TestStrictNVE.
type strictOverlay struct {
	*lab.Overlay
	t    *testing.T
	ctx  context.Context
	l    *lab.Lab
	nva  *lab.NVA
	shim *ofshim.Shim
}

// TestStrictNVE: issue 8's acceptance test. The subtests share one lab and
// run in order; the restart comes last but for the shim's verdict, which
// is also logged after every subtest.
func TestStrictNVE(t *testing.T) {
	requireLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	start := time.Now()
	s := newStrictOverlay(t, ctx)
	s.waitConverged()
	t.Logf("strict NVE hv%d beside 2 OVS NVEs, %d VNs, %d tenants converged in %v",
		strictHV, len(strictVNs), len(strictTenants), time.Since(start).Round(time.Millisecond))

	for _, st := range []struct {
		name string
		f    func(*testing.T)
	}{
		{"Profile", s.testProfile},
		{"Reachability", s.testReachability},
		{"NeighborAnswers", s.testNeighborAnswers},
		{"Restart", s.testRestart},
	} {
		t0 := time.Now()
		ok := t.Run(st.name, st.f)
		t.Logf("after %s (%v, ok=%v): %s", st.name, time.Since(t0).Round(time.Millisecond), ok, strings.TrimSpace(lab.ShimReport(s.shim)))
	}
	t.Run("ShimRefusedNothing", s.testShimRefusedNothing)
}

func newStrictOverlay(t *testing.T, ctx context.Context) *strictOverlay {
	t.Helper()
	l, n, shim, ov := newStrictLab(t, ctx, 3, strictDPID)
	for _, v := range strictVNs {
		if err := ov.AddVN(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	for _, ts := range strictTenants {
		if err := ov.AddTenant(ctx, ts); err != nil {
			t.Fatal(err)
		}
	}
	return &strictOverlay{Overlay: ov, t: t, ctx: ctx, l: l, nva: n, shim: shim}
}

func (s *strictOverlay) tenant(name string) lab.TenantSpec {
	ts, ok := s.TenantSpec(name)
	if !ok {
		s.t.Fatalf("no tenant %s", name)
	}
	return ts
}

// waitConverged waits until every same-VN pair pings over IPv4.
func (s *strictOverlay) waitConverged() {
	s.t.Helper()
	for _, a := range strictTenants {
		for _, b := range strictTenants {
			if a.Name == b.Name || a.VN != b.VN {
				continue
			}
			d, err := s.ExpectReach(s.ctx, a.Name, b.IP, realizeTimeout)
			if err != nil {
				s.t.Fatalf("overlay did not converge: %v", err)
			}
			if d > time.Second {
				s.t.Logf("%s -> %s (%s) first answered after %v", a.Name, b.Name, b.IP, d.Round(time.Millisecond))
			}
		}
	}
}

// nveView is what the test reads of GET /api/v1/nves/{name} (API.md: the
// NVE, its status, the profile in use and the per-remote tunnel ports).
type nveView struct {
	Name       string `json:"name"`
	Kind       string `json:"kind"`
	DatapathID string `json:"datapath_id"`
	Status     struct {
		Summary string `json:"summary"`
		OVSDB   *struct {
			Connected   bool `json:"connected"`
			BridgeReady bool `json:"bridge_ready"`
		} `json:"ovsdb"`
		OpenFlow *struct {
			Connected      bool     `json:"connected"`
			DatapathID     string   `json:"datapath_id"`
			Sync           string   `json:"sync"`
			LastError      string   `json:"last_error"`
			OpenFlowErrors uint64   `json:"openflow_errors"`
			Warnings       []string `json:"warnings"`
			Awaiting       []string `json:"awaiting"`
			Profile        *struct {
				Name        string `json:"name"`
				Forced      bool   `json:"forced"`
				Extensions  bool   `json:"extensions"`
				FlowTunnels bool   `json:"flow_tunnels"`
				ARPInSwitch bool   `json:"arp_in_switch"`
				NDInSwitch  bool   `json:"nd_in_switch"`
				Bundles     bool   `json:"bundles"`
				Tables      []struct {
					Name   string   `json:"name"`
					Number int      `json:"number"`
					Stages []string `json:"stages"`
				} `json:"tables"`
				Error      string `json:"error"`
				TableCheck string `json:"table_check"`
			} `json:"profile"`
			TunnelPorts []struct {
				Remote   string `json:"remote"`
				RemoteIP string `json:"remote_ip"`
				Encap    string `json:"encap"`
				Port     string `json:"port"`
				Source   string `json:"source"`
				OFPort   uint32 `json:"ofport"`
			} `json:"tunnel_ports"`
		} `json:"openflow"`
	} `json:"status"`
}

func (s *strictOverlay) getNVE(name string) (nveView, error) {
	var v nveView
	_, err := s.nva.Client.Do(s.ctx, http.MethodGet, "/api/v1/nves/"+name, nil, &v)
	return v, err
}

// waitInSync waits until every NVE's OpenFlow side is in_sync and its
// summary says so.
func (s *strictOverlay) waitInSync(t *testing.T, timeout time.Duration) {
	t.Helper()
	var last []string
	err := lab.WaitFor(s.ctx, timeout, 200*time.Millisecond, func() (bool, error) {
		last = nil
		for _, hv := range s.l.Hypervisors() {
			v, err := s.getNVE(hv.Name)
			if err != nil {
				return false, err
			}
			if v.Status.OpenFlow == nil || v.Status.OpenFlow.Sync != "in_sync" || !strings.HasPrefix(v.Status.Summary, "ok: in sync") {
				last = append(last, fmt.Sprintf("%s: %q", hv.Name, v.Status.Summary))
			}
		}
		return len(last) == 0, nil
	})
	if err != nil {
		t.Fatalf("NVEs not in sync: %v: %s", err, strings.Join(last, "; "))
	}
}

// testProfile: the API shows the strict profile on hv1 (its four tables,
// the tunnel ports it found towards hv2 and hv3, in sync) and the ovs
// profile on hv2 and hv3; hv1's flows use tables 0-3 and no Nicira
// extension, while the same scan finds extensions on an OVS NVE.
func (s *strictOverlay) testProfile(t *testing.T) {
	s.waitInSync(t, 30*time.Second)
	v, err := s.getNVE("hv1")
	if err != nil {
		t.Fatal(err)
	}
	of := v.Status.OpenFlow
	if v.Kind != "openflow" || v.Status.OVSDB != nil {
		t.Errorf("hv1: kind %q, ovsdb status %v; want kind openflow and no OVSDB side", v.Kind, v.Status.OVSDB)
	}
	if of == nil || of.Profile == nil {
		t.Fatalf("hv1: no status.openflow.profile: %+v", v.Status)
	}
	p := of.Profile
	t.Logf("hv1: profile %s (forced %v, extensions %v, flow tunnels %v, ARP in switch %v, ND in switch %v, bundles %v), table check %q, sync %s, summary %q",
		p.Name, p.Forced, p.Extensions, p.FlowTunnels, p.ARPInSwitch, p.NDInSwitch, p.Bundles, p.TableCheck, of.Sync, v.Status.Summary)
	if p.Name != "openflow13" || p.Forced || p.Extensions || p.FlowTunnels || p.ARPInSwitch || p.NDInSwitch || p.Bundles || p.Error != "" {
		t.Errorf("hv1: profile %+v; want openflow13 chosen by the kind, without extensions, flow tunnels, in-switch ARP/ND or bundles", *p)
	}
	if p.TableCheck != "ok" {
		t.Errorf("hv1: table check %q, want ok (Open vSwitch answers OFPMP_TABLE_FEATURES)", p.TableCheck)
	}
	var tables []string
	for i, tb := range p.Tables {
		tables = append(tables, fmt.Sprintf("%d:%s%v", tb.Number, tb.Name, tb.Stages))
		if tb.Number != i {
			t.Errorf("hv1: table %d of the profile is numbered %d, want %d", i, tb.Number, i)
		}
	}
	t.Logf("hv1 tables: %s", strings.Join(tables, " "))
	if len(p.Tables) != 4 {
		t.Errorf("hv1: %d tables, want 4", len(p.Tables))
	}
	if of.Sync != "in_sync" || !of.Connected || of.DatapathID != strictDPID || len(of.Awaiting) != 0 || len(of.Warnings) != 0 {
		t.Errorf("hv1: openflow status connected %v, datapath %q, sync %s, awaiting %v, warnings %v; want connected as %s, in_sync, nothing awaited or warned",
			of.Connected, of.DatapathID, of.Sync, of.Awaiting, of.Warnings, strictDPID)
	}
	// The tunnel ports the southbound found, by the naming convention.
	want := map[string]string{}
	for _, r := range []int{2, 3} {
		want[fmt.Sprintf("hv%d", r)] = lab.RemoteTunnelPort("vxlan", s.l.UnderlayIP(r))
	}
	got := map[string]string{}
	for _, tp := range of.TunnelPorts {
		t.Logf("hv1 tunnel port: %s (%s) to %s at %s, source %s, ofport %d", tp.Port, tp.Encap, tp.Remote, tp.RemoteIP, tp.Source, tp.OFPort)
		got[tp.Remote] = tp.Port
		hv := s.hvByName(tp.Remote)
		if hv == nil || tp.RemoteIP != hv.UnderlayIP.String() || tp.Encap != "vxlan" || tp.Source != "convention" {
			t.Errorf("hv1: tunnel port %+v; want vxlan to the remote's underlay address by convention", tp)
		}
		if ofp, err := s.l.OFPort(s.ctx, strictHV, tp.Port); err != nil || uint32(ofp) != tp.OFPort {
			t.Errorf("hv1: tunnel port %s has OpenFlow port %d in the API, %d (%v) on the switch", tp.Port, tp.OFPort, ofp, err)
		}
	}
	if !mapsEqual(got, want) {
		t.Errorf("hv1: tunnel ports %v, want %v", got, want)
	}
	for _, name := range []string{"hv2", "hv3"} {
		v, err := s.getNVE(name)
		if err != nil {
			t.Fatal(err)
		}
		of := v.Status.OpenFlow
		if v.Kind != "ovs" || of == nil || of.Profile == nil || of.Profile.Name != "ovs" || !of.Profile.Extensions || !of.Profile.FlowTunnels || len(of.TunnelPorts) != 0 {
			t.Errorf("%s: kind %q, openflow status %+v; want kind ovs with the ovs profile (extensions, flow tunnels, no per-remote ports)", name, v.Kind, of)
		}
		if v.Status.OVSDB == nil || !v.Status.OVSDB.Connected || !v.Status.OVSDB.BridgeReady {
			t.Errorf("%s: OVSDB status %+v, want connected with the bridge ready", name, v.Status.OVSDB)
		}
	}

	// What is on the switch: nva's flows only in tables 0-3, nothing
	// Nicira; the same scan finds the OVS NVEs' extensions.
	flows, err := s.l.DumpFlows(s.ctx, strictHV, lab.IntegrationBridge)
	if err != nil {
		t.Fatal(err)
	}
	groups, err := s.l.DumpGroups(s.ctx, strictHV, lab.IntegrationBridge)
	if err != nil {
		t.Fatal(err)
	}
	if len(flows) == 0 {
		t.Fatal("no flows on hv1")
	}
	perTable := map[int]int{}
	for _, f := range flows {
		tb := flowTable(f)
		perTable[tb]++
		if tb > 3 {
			t.Errorf("hv1: flow in table %d, beyond the profile's 0-3: %s", tb, f)
		}
	}
	if own := s.nvaFlows(t, strictHV); len(own) != len(flows) {
		t.Errorf("hv1: %d flows, %d of them with nva's cookie; want only nva's:\n%s", len(flows), len(own), diffLines(flows, own))
	}
	t.Logf("hv1: %d flows (per table %v), %d groups", len(flows), perTable, len(groups))
	for _, line := range append(slices.Clone(flows), groups...) {
		if ext := niciraTokens(line); len(ext) != 0 {
			t.Errorf("hv1: Nicira extension %v in: %s", ext, line)
		}
	}
	ovsFlows, err := s.l.DumpFlows(s.ctx, 2, lab.IntegrationBridge)
	if err != nil {
		t.Fatal(err)
	}
	ctl := map[string]bool{}
	for _, f := range ovsFlows {
		for _, x := range niciraTokens(f) {
			ctl[x] = true
		}
	}
	if len(ctl) == 0 {
		t.Errorf("control: the extension scan finds nothing on hv2's ovs-profile flows either: it proves nothing")
	} else {
		t.Logf("control: the same scan finds %v on hv2 (ovs profile)", sortedKeys(ctl))
	}
}

func (s *strictOverlay) hvByName(name string) *lab.Hypervisor {
	for _, hv := range s.l.Hypervisors() {
		if hv.Name == name {
			return hv
		}
	}
	return nil
}

var tableRE = regexp.MustCompile(`(?:^|[ ,])table=(\d+)`)

// flowTable is an ovs-ofctl flow line's table (ovs-ofctl omits table=0).
func flowTable(line string) int {
	if m := tableRE.FindStringSubmatch(line); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
}

// niciraRE finds, in ovs-ofctl's rendering of flows and groups, the
// fields and actions that exist only as Open vSwitch (Nicira) extensions
// in OpenFlow 1.3: tunnel endpoint fields, registers, conntrack, the ND
// reserved/options fields, and the move, load, resubmit, learn, note,
// conjunction and controller() actions.
var niciraRE = regexp.MustCompile(`\b(tun_(?:src|dst|ipv6_src|ipv6_dst|flags|gbp_id|gbp_flags|metadata\d*)|x{0,2}reg\d+|ct_(?:state|zone|mark|label|nw_src|nw_dst|tp_src|tp_dst)|pkt_mark|dp_hash|recirc_id|conj_id|nd_reserved|nd_options_type|tcp_flags|nw_frag)\b|\b(?:move|load|resubmit|learn|note|conjunction|ct|controller|multipath|bundle|bundle_load|set_tunnel|set_tunnel64|sample|clone|push|pop)[(:]|\bNXM_[A-Z0-9_]+`)

func niciraTokens(line string) []string { return niciraRE.FindAllString(line, -1) }

// fileSize is a file's size (0 if it cannot be read).
func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// testReachability: every pair of a VN reaches over IPv4 and IPv6, on the
// strict switch, between it and both OVS NVEs and between the OVS NVEs; no
// pair across VNs does, although both VNs use the same addresses (the
// answer comes from the sender's own VN).
func (s *strictOverlay) testReachability(t *testing.T) {
	names := s.TenantNames()
	cells := s.Matrix(s.ctx, names, 5*time.Second)
	t.Logf("IPv4 reachability (row pings column's IP; yes = column's own answer):\n%s", s.FormatMatrix(names, cells))
	for _, c := range cells {
		if c.Reached != c.Want {
			t.Errorf("IPv4 %s -> %s: reached=%v, want %v: %v", c.From, c.To, c.Reached, c.Want, c.Err)
		} else if c.Err != nil {
			t.Errorf("IPv4 %s -> %s: %v", c.From, c.To, c.Err)
		}
	}
	cells6 := s.matrix6(names, 5*time.Second)
	t.Logf("IPv6 reachability:\n%s", s.FormatMatrix(names, cells6))
	for _, c := range cells6 {
		if c.Reached != c.Want {
			t.Errorf("IPv6 %s -> %s: reached=%v, want %v: %v", c.From, c.To, c.Reached, c.Want, c.Err)
		} else if c.Err != nil {
			t.Errorf("IPv6 %s -> %s: %v", c.From, c.To, c.Err)
		}
	}
}

// owner6 is the tenant of vn with IPv6 address ip, or "".
func (s *strictOverlay) owner6(vn, ip string) string {
	for _, n := range s.TenantNames() {
		if ts := s.tenant(n); ts.VN == vn && ts.IP6 == ip {
			return n
		}
	}
	return ""
}

// expectReach6 checks that from reaches ip over IPv6 and resolved it to
// the MAC of want.
func (s *strictOverlay) expectReach6(from, ip, want string, timeout time.Duration) error {
	if _, err := s.l.Reachable(s.ctx, from, ip, timeout); err != nil {
		return err
	}
	n, err := s.l.Neighbor(s.ctx, from, ip)
	if err != nil {
		return err
	}
	if mac := s.tenant(want).MAC; !strings.Contains(n, mac) {
		return fmt.Errorf("%s reached %s but resolved it to %q; want %s's MAC %s", from, ip, n, want, mac)
	}
	return nil
}

// matrix6 is Overlay.Matrix over the tenants' IPv6 addresses.
func (s *strictOverlay) matrix6(names []string, timeout time.Duration) []lab.Cell {
	var cells []lab.Cell
	for _, a := range names {
		for _, b := range names {
			if a != b {
				cells = append(cells, lab.Cell{From: a, To: b})
			}
		}
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 6)
	for i := range cells {
		wg.Add(1)
		go func(c *lab.Cell) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			ta, tb := s.tenant(c.From), s.tenant(c.To)
			c.Want = ta.VN == tb.VN
			own := s.owner6(ta.VN, tb.IP6)
			switch {
			case c.Want:
				c.Err = s.expectReach6(c.From, tb.IP6, c.To, timeout)
				c.Reached = c.Err == nil
			case own == c.From:
				c.Note = "own IP"
			case own != "":
				if err := s.expectReach6(c.From, tb.IP6, own, timeout); err != nil {
					c.Err = fmt.Errorf("%s cannot reach its own VN's %s: %w", c.From, tb.IP6, err)
				}
				if n, _ := s.l.Neighbor(s.ctx, c.From, tb.IP6); strings.Contains(n, tb.MAC) {
					c.Reached = true
					c.Err = fmt.Errorf("%s resolved %s to %s's MAC across VNs: %s", c.From, tb.IP6, c.To, n)
				}
			default:
				r, err := s.l.Ping(s.ctx, c.From, tb.IP6, 2)
				c.Reached = err == nil && r.Received > 0
				if err != nil {
					c.Err = err
				} else if c.Reached {
					c.Err = fmt.Errorf("%s (%s) reached %s (%s) across VNs over IPv6: %v", c.From, ta.VN, c.To, tb.VN, r)
				}
			}
		}(&cells[i])
	}
	wg.Wait()
	return cells
}

// neighborAnswers reads nva's neighbor-responder counters.
func (s *strictOverlay) neighborAnswers(t *testing.T) (answers float64, detail string) {
	t.Helper()
	m, err := s.nva.Client.Metrics(s.ctx)
	if err != nil {
		t.Fatal(err)
	}
	return lab.MetricSum(m, "nva_neighbor_answers_total"), fmt.Sprintf("answers %v, drops %v, packet-ins %v",
		lab.MetricSum(m, "nva_neighbor_answers_total"), lab.MetricSeries(m, "nva_neighbor_drops_total"),
		lab.MetricSeries(m, "nva_southbound_packet_ins_total"))
}

// testNeighborAnswers: tenants on the strict switch resolving known
// addresses (on the switch itself and behind both tunnel ports, IPv4 and
// IPv6) get their answers from nva's packet-in responder: its answer
// counter grows by at least one per resolution, and no encapsulated ARP
// request or neighbor solicitation for those addresses leaves hv1 on the
// underlay. Control: an ARP request for an address nobody has is flooded
// by the switch and seen by the same capture.
func (s *strictOverlay) testNeighborAnswers(t *testing.T) {
	type res struct{ from, to string }
	v4 := []res{{"b1", "b2"}, {"b1", "b3"}, {"r1", "r2"}, {"r1", "r3"}, {"b4", "b1"}}
	v6 := []res{{"b1", "b2"}, {"r1", "r3"}, {"b4", "b1"}}
	var targets []string
	for _, r := range v4 {
		targets = append(targets, s.tenant(r.to).IP)
	}
	// Forget every neighbour, so that nothing else is being resolved.
	for _, n := range s.TenantNames() {
		if err := s.l.FlushNeighbors(s.ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	before, detail := s.neighborAnswers(t)
	t.Logf("before: %s", detail)
	at := s.l.UnderlayPoint(strictHV)
	arpCap, err := s.l.StartCapture(s.ctx, at, "src host "+s.l.UnderlayIP(strictHV)+" and "+lab.UnderlayARPFilter("vxlan", targets...))
	if err != nil {
		t.Fatal(err)
	}
	// Encapsulated ICMPv6 neighbor solicitations (type 135 after a 40-byte
	// IPv6 header), any VNI.
	nsCap, err := s.l.StartCapture(s.ctx, at, "src host "+s.l.UnderlayIP(strictHV)+" and "+lab.UnderlayFilter("vxlan", 0, 0x86dd, false)+" and udp[36:1] = 58 and udp[70:1] = 135")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range v4 {
		if n, _ := s.l.Neighbor(s.ctx, r.from, s.tenant(r.to).IP); strings.Contains(n, "lladdr") {
			t.Fatalf("%s still has a neighbour entry after the flush: %s", r.from, n)
		}
		if _, err := s.ExpectReach(s.ctx, r.from, s.tenant(r.to).IP, 5*time.Second); err != nil {
			t.Error(err)
		}
	}
	for _, r := range v6 {
		if n, _ := s.l.Neighbor(s.ctx, r.from, s.tenant(r.to).IP6); strings.Contains(n, "lladdr") {
			t.Fatalf("%s still has a neighbour entry after the flush: %s", r.from, n)
		}
		if err := s.expectReach6(r.from, s.tenant(r.to).IP6, r.to, 5*time.Second); err != nil {
			t.Error(err)
		}
	}
	arps, err := arpCap.Stop()
	if err != nil {
		t.Error(err)
	}
	nss, err := nsCap.Stop()
	if err != nil {
		t.Error(err)
	}
	after, detail := s.neighborAnswers(t)
	t.Logf("after %d IPv4 and %d IPv6 resolutions: %s", len(v4), len(v6), detail)
	if grew := after - before; grew < float64(len(v4)+len(v6)) {
		t.Errorf("nva_neighbor_answers_total grew by %v over %d resolutions from the strict switch; want at least one answer each", grew, len(v4)+len(v6))
	}
	if len(arps) != 0 {
		t.Errorf("encapsulated ARP requests for known addresses left hv1:\n%s", strings.Join(arps, "\n"))
	}
	if len(nss) != 0 {
		t.Errorf("encapsulated neighbor solicitations for known addresses left hv1:\n%s", strings.Join(nss, "\n"))
	}

	// Control: ARP for an address nobody has is not answered by nva; the
	// switch floods it in the VN and the same capture sees it.
	ctl, err := s.l.StartCapture(s.ctx, at, "src host "+s.l.UnderlayIP(strictHV)+" and "+lab.UnderlayARPFilter("vxlan", "192.0.2.99"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.l.Ping(s.ctx, "b1", "192.0.2.99", 1); err != nil {
		t.Fatal(err)
	}
	pkts, err := ctl.Stop()
	if err != nil {
		t.Error(err)
	}
	if len(pkts) == 0 {
		t.Errorf("control: no encapsulated ARP request for an unknown address left hv1: the capture filter or flooding is broken")
	} else {
		t.Logf("control: %d encapsulated ARP requests for 192.0.2.99 left hv1 (flooded to both remotes)", len(pkts))
	}
}

// testRestart: continuous 50 packets/s pings from the strict switch's
// tenants (to both OVS NVEs and on the switch itself) lose nothing while
// nva is stopped gracefully and started again, then while it is killed
// and started again; afterwards every NVE is in sync with the same flows
// as before, and nva wrote nothing to any switch (the store did not
// change).
//
// The strict switch cannot answer ARP by itself: a tenant's neighbour
// entry that needs re-confirming while nva is down is not confirmed. That
// is not known traffic, so each round starts from freshly resolved
// neighbours (a Linux entry stays REACHABLE for at least 15 s and is
// used another 5 s before it is probed), and the round lasts 14 s.
func (s *strictOverlay) testRestart(t *testing.T) {
	for _, crash := range []bool{false, true} {
		name := "graceful"
		if crash {
			name = "kill9"
		}
		t.Run(name, func(t *testing.T) { s.restartRound(t, crash) })
	}
}

func (s *strictOverlay) restartRound(t *testing.T, crash bool) {
	s.waitInSync(t, 60*time.Second)
	var before [][]string
	for i := 1; i <= 3; i++ {
		before = append(before, s.nvaFlows(t, i))
	}
	const pps, seconds = 50, 14
	pairs := [][2]string{{"b1", "b2"}, {"r1", "r3"}, {"b4", "b1"}}
	for _, p := range pairs {
		for _, n := range p {
			if err := s.l.FlushNeighbors(s.ctx, n); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, p := range pairs {
		if _, err := s.ExpectReach(s.ctx, p[0], s.tenant(p[1]).IP, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	var streams []*lab.PingStream
	for _, p := range pairs {
		st, err := s.l.StartPingStream(p[0], s.tenant(p[1]).IP, time.Second/pps, pps*seconds)
		if err != nil {
			t.Fatal(err)
		}
		streams = append(streams, st)
	}
	time.Sleep(2 * time.Second)
	logPath := s.nva.Proc().Log
	logFrom := fileSize(logPath)
	if crash {
		s.nva.Kill()
	} else if err := s.nva.Stop(); err != nil {
		t.Error(err)
	}
	time.Sleep(3 * time.Second)
	restart := time.Now()
	if err := s.nva.Start(s.ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("nva healthy %v after the restart", time.Since(restart).Round(time.Millisecond))
	for i, st := range streams {
		r, err := st.Wait(s.ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("continuous ping %s -> %s across the restart: %v", pairs[i][0], pairs[i][1], r)
		if r.Transmitted != pps*seconds || r.Lost() != 0 {
			t.Errorf("ping %s -> %s across the restart: %v; want %d sent, 0 lost\n%s",
				pairs[i][0], pairs[i][1], r, pps*seconds, strings.Join(r.Unanswered(), "\n"))
		}
	}
	s.waitInSync(t, 60*time.Second)
	err := lab.WaitFor(s.ctx, 30*time.Second, 250*time.Millisecond, func() (bool, error) {
		for i := 1; i <= 3; i++ {
			if !slices.Equal(s.nvaFlows(t, i), before[i-1]) {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		for i := 1; i <= 3; i++ {
			if d := diffLines(before[i-1], s.nvaFlows(t, i)); d != "" {
				t.Errorf("hv%d flows after the restart differ from before:\n%s", i, d)
			}
		}
	}
	var writes []string
	for _, line := range logSince(t, logPath, logFrom) {
		if strings.Contains(line, "msg=reconciled ") || strings.Contains(line, `msg="audit repaired drift"`) ||
			strings.Contains(line, `msg="ensuring OVSDB state"`) {
			writes = append(writes, line)
		}
	}
	if len(writes) != 0 {
		t.Errorf("nva changed an NVE across a restart with an unchanged store:\n%s", strings.Join(writes, "\n"))
	}
	if _, err := s.ExpectReach(s.ctx, "b1", s.tenant("b3").IP, 10*time.Second); err != nil {
		t.Error(err)
	}
}

// nvaFlows returns nva's flows (by cookie) on hypervisor hv's br-int.
func (s *strictOverlay) nvaFlows(t *testing.T, hv int) []string {
	t.Helper()
	f, err := s.l.DumpFlows(s.ctx, hv, lab.IntegrationBridge, nvaCookieMatch)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// testShimRefusedNothing: over the whole test, nva sent the strict switch
// nothing a strict OpenFlow 1.3 switch refuses, and the shim did carry
// nva's messages.
func (s *strictOverlay) testShimRefusedNothing(t *testing.T) {
	t.Log(strings.TrimSpace(lab.ShimReport(s.shim)))
	checkShimClean(t, s.shim)
	if v, err := s.getNVE("hv1"); err == nil && v.Status.OpenFlow != nil {
		t.Logf("hv1: %d OpenFlow errors on the current connection (nva's count)", v.Status.OpenFlow.OpenFlowErrors)
		if v.Status.OpenFlow.OpenFlowErrors != 0 {
			t.Errorf("hv1: nva counts %d OpenFlow errors from the switch", v.Status.OpenFlow.OpenFlowErrors)
		}
	}
}

// TestStrictScans checks the flow-line scans of TestStrictNVE on lines as
// ovs-ofctl prints them (no lab needed).
func TestStrictScans(t *testing.T) {
	for _, c := range []struct {
		line  string
		table int
		ext   string
	}{
		{"cookie=0x4e56000000000001, priority=100,in_port=3,tun_id=0x7d1 actions=write_metadata:0x7d1/0x1ffffff,goto_table:1", 0, ""},
		{"cookie=0x1, table=2, priority=200,arp,metadata=0x7d1/0x1ffffff,arp_tpa=192.0.2.12,arp_op=1 actions=CONTROLLER:65535", 2, ""},
		{"cookie=0x1, table=3, priority=100,metadata=0x7d1/0x1ffffff,dl_dst=02:00:00:08:01:02 actions=set_field:0x7d1->tun_id,output:4", 3, ""},
		{"cookie=0x1, table=1, priority=100,in_port=5 actions=push_vlan:0x8100,set_field:4196->vlan_vid,pop_vlan,group:7", 1, ""},
		{"group_id=7,type=all,bucket=bucket_id:0,actions=set_field:0x7d1->tun_id,output:4", 0, ""},
		{"cookie=0x1, table=11, priority=100,ip actions=set_field:198.18.0.2->tun_dst,output:2", 11, "tun_dst"},
		{"cookie=0x1, table=5, priority=100,reg0=0x1 actions=resubmit(,6)", 5, "reg0 resubmit("},
		{"cookie=0x1, table=2, priority=100,arp actions=move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],load:0x2->NXM_OF_ARP_OP[]", 2, "move: NXM_OF_ETH_SRC NXM_OF_ETH_DST load: NXM_OF_ARP_OP"},
		{"cookie=0x1, table=4, priority=100,icmp6,icmp_type=135 actions=set_field:0->nd_reserved,controller(userdata=00)", 4, "nd_reserved controller("},
	} {
		if got := flowTable(c.line); got != c.table {
			t.Errorf("flowTable(%q) = %d, want %d", c.line, got, c.table)
		}
		if got := strings.Join(niciraTokens(c.line), " "); got != c.ext {
			t.Errorf("niciraTokens(%q) = %q, want %q", c.line, got, c.ext)
		}
	}
}
