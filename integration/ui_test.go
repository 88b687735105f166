package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/nva-project/nva/integration/lab"
)

// TestUI drives nva's web UI in a real headless Chromium against a real
// nva and three real Open vSwitch hypervisors: what the page draws must be
// what the API says, follow changes live (ports, switch failures, an nva
// restart), and its filter, search and flows panel must work. Screenshots
// of the full view, a VN-filtered view and the down state are written on
// every run to $NVA_E2E_OUT (default out/ui/ in the repository).
func TestUI(t *testing.T) {
	requireLab(t)
	chromium := chromiumPath(t)
	out := uiOutDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()

	l := lab.New(t, lab.Options{Hypervisors: 3})
	n, err := l.StartNVA(ctx, lab.NVAOptions{Bin: nvaBin, LogLevel: "info"})
	if err != nil {
		t.Fatal(err)
	}
	ov, err := lab.NewOverlay(ctx, l, n, 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range uiVNs {
		if err := ov.AddVN(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	for _, ts := range uiTenants {
		if err := ov.AddTenant(ctx, ts); err != nil {
			t.Fatal(err)
		}
	}
	u := &uiTest{t: t, ctx: ctx, l: l, nva: n, out: out}
	u.waitAPIInSync(t, 60*time.Second)
	t.Logf("lab of 3 NVEs, %d VNs, %d tenants ready in %v", len(uiVNs), len(uiTenants), time.Since(start).Round(time.Millisecond))

	u.openBrowser(chromium)
	u.open("http://" + n.APIAddr + "/")

	run := func(name string, f func(t *testing.T)) {
		s := time.Now()
		t.Run(name, func(t *testing.T) {
			f(t)
			u.checkConsole(t)
		})
		t.Logf("%s took %v", name, time.Since(s).Round(time.Millisecond))
	}
	run("MatchesTopology", u.testMatchesTopology)
	run("LivePort", u.testLivePort)
	run("FilterAndSearch", u.testFilterAndSearch)
	run("FlowsPanel", u.testFlowsPanel)
	run("SwitchDown", u.testSwitchDown)
	run("RestartNVA", u.testRestartNVA)
}

var uiVNs = []lab.VNSpec{
	{Name: "blue", VNI: 5101, Encap: "vxlan"},
	{Name: "red", VNI: 5102, Encap: "geneve"},
}

// uiTenants: blue on every hypervisor, red on hv1 and hv2, so the
// tunnels are hv1-hv2 (blue, red), hv1-hv3 and hv2-hv3 (blue).
var uiTenants = []lab.TenantSpec{
	{Name: "b1", VN: "blue", HV: 1, IP: "192.0.2.11", MAC: "02:00:00:00:51:01"},
	{Name: "b2", VN: "blue", HV: 2, IP: "192.0.2.12", MAC: "02:00:00:00:51:02"},
	{Name: "b3", VN: "blue", HV: 3, IP: "192.0.2.13", MAC: "02:00:00:00:51:03"},
	{Name: "r1", VN: "red", HV: 1, IP: "192.0.2.21", MAC: "02:00:00:00:52:01"},
	{Name: "r2", VN: "red", HV: 2, IP: "192.0.2.22", MAC: "02:00:00:00:52:02"},
}

// chromiumPath finds Debian's chromium; on a machine that runs labs
// (root) a missing browser is a failure, never a skip:
// scripts/install-deps.sh installs it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("NVA_E2E_CHROMIUM"), "/usr/bin/chromium", "chromium", "chromium-browser"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Fatal("chromium is missing: scripts/install-deps.sh (make deps, part of make test) installs Debian's chromium; or set NVA_E2E_CHROMIUM")
	return ""
}

// uiOutDir is where the screenshots go: $NVA_E2E_OUT, else out/ui/ in the
// repository (ignored by git).
func uiOutDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("NVA_E2E_OUT")
	if dir == "" {
		dir = filepath.Join("..", "out", "ui")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

type uiTest struct {
	t   *testing.T
	ctx context.Context
	l   *lab.Lab
	nva *lab.NVA
	out string

	bctx context.Context // the browser tab

	mu      sync.Mutex
	console []string // unexpected console errors since the last check
	allowed []string // network errors while nva was down (expected)
	netOK   bool     // nva is being restarted: network errors are expected
}

// openBrowser starts headless Chromium with a fresh profile and collects
// the page's console errors and uncaught exceptions.
func (u *uiTest) openBrowser(chromium string) {
	t := u.t
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Headless,
		chromedp.NoFirstRun,
		// This machine's network is closed: without these Chromium's
		// background connections are refused and it logs about them.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 900),
	)
	actx, cancelA := chromedp.NewExecAllocator(u.ctx, opts...)
	t.Cleanup(cancelA)
	bctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(cancelB)
	if err := chromedp.Do(bctx); err != nil { // starts the browser and the tab
		t.Fatalf("starting chromium %s: %v", chromium, err)
	}
	u.bctx = bctx
	msgs := chromedp.Console(bctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.Type != chromedp.ConsoleError && !m.IsException() && m.Type != chromedp.ConsoleWarning {
				continue
			}
			text := fmt.Sprintf("%s (%s %s:%d)", m, m.Source, m.URL, m.Line)
			u.mu.Lock()
			if u.netOK && m.Source == "network" {
				u.allowed = append(u.allowed, text)
			} else if m.Type == chromedp.ConsoleWarning {
				t.Logf("browser console: %s", text)
			} else {
				u.console = append(u.console, text)
			}
			u.mu.Unlock()
		}
	}()
}

// checkConsole fails t for every console error or exception since the
// last check.
func (u *uiTest) checkConsole(t *testing.T) {
	t.Helper()
	u.mu.Lock()
	errs := u.console
	u.console = nil
	u.mu.Unlock()
	for _, e := range errs {
		t.Errorf("browser console: %s", e)
	}
}

// run runs one chromedp action with a timeout.
func (u *uiTest) do(t *testing.T, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(u.bctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("browser: %v", err)
	}
}

// eval evaluates a JavaScript expression in the page into out.
func (u *uiTest) eval(expr string, out any) error {
	ctx, cancel := context.WithTimeout(u.bctx, 10*time.Second)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](expr))
	if err != nil {
		return fmt.Errorf("evaluating %s: %w", expr, err)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("evaluating %s: decoding %s: %w", expr, raw, err)
	}
	return nil
}

func (u *uiTest) mustEval(t *testing.T, expr string, out any) {
	t.Helper()
	if err := u.eval(expr, out); err != nil {
		t.Fatal(err)
	}
}

// waitJS polls a JavaScript condition until it is true.
func (u *uiTest) waitJS(t *testing.T, what, cond string, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var last error
	for time.Since(start) < timeout {
		var ok bool
		if last = u.eval("Boolean("+cond+")", &ok); last == nil && ok {
			return time.Since(start)
		}
		time.Sleep(40 * time.Millisecond)
	}
	var state string
	u.eval(`JSON.stringify({live: nvaGraph.liveState(), rev: nvaGraph.revision(), loaded: nvaGraph.loaded(), nodes: nvaGraph.nodes().map(n => n.id + ' ' + n.classes.join('.')), edges: nvaGraph.edges().map(e => e.id + ' ' + e.classes.join('.'))})`, &state)
	t.Fatalf("%s: not within %v (last error: %v); page: %s", what, timeout, last, state)
	return 0
}

// open loads the page and waits until it is live with a snapshot drawn
// and laid out.
func (u *uiTest) open(url string) {
	t := u.t
	u.do(t, chromedp.Navigate(url))
	var hasGraph bool
	u.mustEval(t, `Boolean(document.getElementById('graph')) && typeof window.nvaGraph === 'object'`, &hasGraph)
	if !hasGraph {
		var body string
		u.eval(`document.body.innerText`, &body)
		t.Fatalf("nva serves no web UI at %s (was it built without it? `make build` runs `make ui` first): %.300s", url, body)
	}
	u.waitJS(t, "the page goes live", `nvaGraph.liveState() === 'live' && nvaGraph.loaded()`, 30*time.Second)
	u.waitIdle(t)
	u.checkConsoleCapture(t)
}

// checkConsoleCapture proves that the console check sees errors: one
// logged on purpose must arrive (and is then dropped).
func (u *uiTest) checkConsoleCapture(t *testing.T) {
	t.Helper()
	const marker = "nva-ui-test: console capture check"
	u.mustEval(t, `(() => { console.error('`+marker+`'); return true; })()`, nil)
	err := lab.WaitFor(u.ctx, 10*time.Second, 20*time.Millisecond, func() (bool, error) {
		u.mu.Lock()
		defer u.mu.Unlock()
		for i, m := range u.console {
			if strings.Contains(m, marker) {
				u.console = slices.Delete(u.console, i, i+1)
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("a console.error of the page did not reach the test: %v", err)
	}
}

// waitIdle waits until no render or layout is pending.
func (u *uiTest) waitIdle(t *testing.T) {
	t.Helper()
	u.waitJS(t, "the page is idle", `!nvaGraph.busy()`, 30*time.Second)
}

// screenshot writes the viewport to the output directory.
func (u *uiTest) screenshot(t *testing.T, name string) {
	t.Helper()
	u.waitIdle(t)
	time.Sleep(300 * time.Millisecond) // let an animated fit or centre finish
	ctx, cancel := context.WithTimeout(u.bctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(u.out, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", path, len(png))
}

// clickNode clicks a drawn node where it is on the screen (fitting the
// graph into the view first when the node is outside it).
func (u *uiTest) clickNode(t *testing.T, id string) {
	t.Helper()
	u.waitIdle(t)
	time.Sleep(400 * time.Millisecond) // an animated centre (300 ms) ends
	rect := u.graphRect(t)
	n := u.drawn(t).node(id)
	if n == nil {
		t.Fatalf("%s not drawn", id)
	}
	if in := func(p point) bool { return p.X > 10 && p.Y > 10 && p.X < rect.Width-10 && p.Y < rect.Height-10 }; !in(n.Rendered) {
		u.fit(t)
		if n = u.drawn(t).node(id); n == nil || !in(n.Rendered) {
			t.Fatalf("%s is not in the view even after fit: %+v in %+v", id, n, rect)
		}
	}
	u.do(t, chromedp.MouseClickXY(rect.Left+n.Rendered.X, rect.Top+n.Rendered.Y))
}

// clickBackground clicks the graph's empty top-left corner (inside the
// fit padding): the selection is cleared.
func (u *uiTest) clickBackground(t *testing.T) {
	t.Helper()
	rect := u.graphRect(t)
	u.do(t, chromedp.MouseClickXY(rect.Left+6, rect.Top+6))
	u.waitJS(t, "selection cleared", `nvaGraph.selected() === null && location.hash === ''`, 5*time.Second)
}

type rect struct{ Left, Top, Width, Height float64 }

func (u *uiTest) graphRect(t *testing.T) rect {
	t.Helper()
	var r rect
	u.mustEval(t, `(() => { const r = document.getElementById('graph').getBoundingClientRect(); return {left: r.left, top: r.top, width: r.width, height: r.height}; })()`, &r)
	return r
}

// fit fits the whole graph into the view (after any animated centring,
// which would otherwise carry on from the fitted view).
func (u *uiTest) fit(t *testing.T) {
	t.Helper()
	time.Sleep(400 * time.Millisecond)
	u.do(t, chromedp.Click(chromedp.ID("fit")))
	time.Sleep(100 * time.Millisecond)
}

// ---- what the API says --------------------------------------------------

type apiStatus struct {
	OVSDB *struct {
		Connected   bool `json:"connected"`
		BridgeReady bool `json:"bridge_ready"`
	} `json:"ovsdb"`
	OpenFlow *struct {
		Connected bool   `json:"connected"`
		Sync      string `json:"sync"`
	} `json:"openflow"`
}

// up is the UI's "up": OpenFlow connected and in sync, OVSDB (when
// reported) connected with the bridge ready.
func (s *apiStatus) up() bool {
	if s == nil || s.OpenFlow == nil || !s.OpenFlow.Connected || s.OpenFlow.Sync != "in_sync" {
		return false
	}
	return s.OVSDB == nil || (s.OVSDB.Connected && s.OVSDB.BridgeReady)
}

type apiTopology struct {
	Revision uint64 `json:"revision"`
	NVEs     []struct {
		Name   string     `json:"name"`
		Status *apiStatus `json:"status"`
	} `json:"nves"`
	Ports []struct {
		Name string `json:"name"`
		VN   string `json:"vn"`
		NVE  string `json:"nve"`
	} `json:"ports"`
	Tunnels []struct {
		A   string   `json:"a"`
		B   string   `json:"b"`
		VNs []string `json:"vns"`
	} `json:"tunnels"`
	Unclaimed []struct {
		DatapathID string `json:"datapath_id"`
	} `json:"unclaimed_switches"`
}

func (u *uiTest) topology(t *testing.T) apiTopology {
	t.Helper()
	var topo apiTopology
	if _, err := u.nva.Client.Do(u.ctx, http.MethodGet, "/api/v1/topology", nil, &topo); err != nil {
		t.Fatal(err)
	}
	return topo
}

// waitAPIInSync waits until the API reports every NVE up.
func (u *uiTest) waitAPIInSync(t *testing.T, timeout time.Duration) {
	t.Helper()
	var down []string
	err := lab.WaitFor(u.ctx, timeout, 100*time.Millisecond, func() (bool, error) {
		topo := u.topology(t)
		down = nil
		for _, n := range topo.NVEs {
			if !n.Status.up() {
				down = append(down, n.Name)
			}
		}
		return len(down) == 0, nil
	})
	if err != nil {
		t.Fatalf("NVEs %v not in sync: %v", down, err)
	}
}

// ---- what the page draws ------------------------------------------------

type point struct{ X, Y float64 }

type drawnNode struct {
	ID       string   `json:"id"`
	Kind     string   `json:"kind"`
	Classes  []string `json:"classes"`
	Position point    `json:"position"`
	Rendered point    `json:"rendered"`
}

type drawnEdge struct {
	ID      string   `json:"id"`
	Kind    string   `json:"kind"`
	Source  string   `json:"source"`
	Target  string   `json:"target"`
	Classes []string `json:"classes"`
}

type drawn struct {
	Nodes []drawnNode `json:"nodes"`
	Edges []drawnEdge `json:"edges"`
}

func (d drawn) node(id string) *drawnNode {
	for i := range d.Nodes {
		if d.Nodes[i].ID == id {
			return &d.Nodes[i]
		}
	}
	return nil
}

func (u *uiTest) drawn(t *testing.T) drawn {
	t.Helper()
	var d drawn
	u.mustEval(t, `({nodes: nvaGraph.nodes().map(n => ({id: n.id, kind: n.kind, classes: n.classes, position: n.position, rendered: n.rendered})),
		edges: nvaGraph.edges().map(e => ({id: e.id, kind: e.kind, source: e.source, target: e.target, classes: e.classes}))})`, &d)
	return d
}

// graphDiff compares what is drawn with what the API's topology implies
// (every NVE, port and unclaimed switch a node; every port an attachment
// edge, every NVE pair sharing a VN a tunnel; health classes from the
// status) and returns the differences.
func graphDiff(topo apiTopology, d drawn) []string {
	wantN := map[string]string{} // id -> health class ("" = not checked)
	for _, n := range topo.NVEs {
		h := "down"
		if n.Status.up() {
			h = "up"
		}
		wantN["nve:"+n.Name] = h
	}
	for _, p := range topo.Ports {
		wantN["port:"+p.Name] = ""
	}
	for _, s := range topo.Unclaimed {
		wantN["sw:"+s.DatapathID] = ""
	}
	up := map[string]bool{}
	for _, n := range topo.NVEs {
		up[n.Name] = n.Status.up()
	}
	type end struct{ src, dst, health string }
	wantE := map[string]end{}
	for _, p := range topo.Ports {
		wantE["att:"+p.Name] = end{"port:" + p.Name, "nve:" + p.NVE, ""}
	}
	for _, tu := range topo.Tunnels {
		h := "down"
		if up[tu.A] && up[tu.B] {
			h = "up"
		}
		wantE["tun:"+tu.A+"|"+tu.B] = end{"nve:" + tu.A, "nve:" + tu.B, h}
	}
	var diffs []string
	seen := map[string]bool{}
	for _, n := range d.Nodes {
		seen[n.ID] = true
		h, ok := wantN[n.ID]
		switch {
		case !ok:
			diffs = append(diffs, "drawn node "+n.ID+" is not in the topology")
		case h == "up" && !slices.Contains(n.Classes, "up"):
			diffs = append(diffs, fmt.Sprintf("node %s has classes %v, the API says up", n.ID, n.Classes))
		case h == "down" && slices.Contains(n.Classes, "up"):
			diffs = append(diffs, fmt.Sprintf("node %s has classes %v, the API says not up", n.ID, n.Classes))
		}
	}
	for id := range wantN {
		if !seen[id] {
			diffs = append(diffs, "node "+id+" is not drawn")
		}
	}
	seen = map[string]bool{}
	for _, e := range d.Edges {
		seen[e.ID] = true
		w, ok := wantE[e.ID]
		switch {
		case !ok:
			diffs = append(diffs, "drawn edge "+e.ID+" is not in the topology")
		case e.Source != w.src || e.Target != w.dst:
			diffs = append(diffs, fmt.Sprintf("edge %s joins %s-%s, want %s-%s", e.ID, e.Source, e.Target, w.src, w.dst))
		case w.health != "" && !slices.Contains(e.Classes, w.health):
			diffs = append(diffs, fmt.Sprintf("edge %s has classes %v, want %s", e.ID, e.Classes, w.health))
		}
	}
	for id := range wantE {
		if !seen[id] {
			diffs = append(diffs, "edge "+id+" is not drawn")
		}
	}
	sort.Strings(diffs)
	return diffs
}

// waitMatchesAPI polls until the drawn graph is what the API's topology
// implies (both may be settling).
func (u *uiTest) waitMatchesAPI(t *testing.T, timeout time.Duration) (apiTopology, drawn) {
	t.Helper()
	start := time.Now()
	for {
		topo := u.topology(t)
		d := u.drawn(t)
		diffs := graphDiff(topo, d)
		if len(diffs) == 0 {
			return topo, d
		}
		if time.Since(start) > timeout {
			t.Fatalf("the page does not match the API's topology (revision %d) after %v:\n  %s", topo.Revision, timeout, strings.Join(diffs, "\n  "))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ---- the subtests -------------------------------------------------------

// testMatchesTopology: nodes and edges drawn equal the API's topology,
// everything up, the revision drawn is the API's.
func (u *uiTest) testMatchesTopology(t *testing.T) {
	topo, d := u.waitMatchesAPI(t, 15*time.Second)
	var rev uint64
	u.mustEval(t, `nvaGraph.revision()`, &rev)
	if rev == 0 || rev > topo.Revision {
		t.Errorf("page revision %d, API revision %d", rev, topo.Revision)
	}
	var tunnels int
	for _, e := range d.Edges {
		if e.Kind == "tunnel" {
			tunnels++
		}
	}
	if len(topo.Tunnels) != 3 || tunnels != 3 {
		t.Errorf("tunnels: API %d, drawn %d; want 3", len(topo.Tunnels), tunnels)
	}
	var live, rtext string
	u.mustEval(t, `document.getElementById('live-state').textContent`, &live)
	u.mustEval(t, `document.getElementById('revision').textContent`, &rtext)
	if live != "live" || rtext != fmt.Sprintf("rev %d", rev) {
		t.Errorf("toolbar: %q, %q", live, rtext)
	}
	u.fit(t)
	u.screenshot(t, "ui-full.png")
}

// testLivePort: a port created with ?wait=realized is drawn within a
// second of the answer without moving the rest; deleted, it disappears.
func (u *uiTest) testLivePort(t *testing.T) {
	u.waitIdle(t)
	before := u.drawn(t)
	if _, err := u.l.AddTenant(u.ctx, 3, "r3", "02:00:00:00:52:03", []string{"192.0.2.23/24"}, 0); err != nil {
		t.Fatal(err)
	}
	// The page records when the node appears (its clock is this
	// machine's).
	u.mustEval(t, `(() => { window.__seen = 0; const poll = () => { if (nvaGraph.element('port:r3')) window.__seen = Date.now(); else setTimeout(poll, 5); }; poll(); return true; })()`, nil)
	var port struct {
		Revision uint64 `json:"revision"`
	}
	if _, err := u.nva.Client.Do(u.ctx, http.MethodPost, lab.Realized("/api/v1/ports", 30*time.Second), map[string]any{
		"name": "r3", "vn": "red", "nve": "hv3", "interface": "vm-r3", "mac": "02:00:00:00:52:03", "ips": []string{"192.0.2.23"},
	}, &port); err != nil {
		t.Fatal(err)
	}
	answered := time.Now()
	u.waitJS(t, "port r3 drawn", `window.__seen > 0`, 10*time.Second)
	var seen int64
	u.mustEval(t, `window.__seen`, &seen)
	after := time.UnixMilli(seen).Sub(answered)
	t.Logf("port r3 drawn %v after the realized answer (negative: before it; revision %d)", after, port.Revision)
	if after > time.Second {
		t.Errorf("port r3 drawn %v after the answer, want within 1s", after)
	}
	// Realized: its NVE reported it (status event), and the new tunnels
	// of red (hv3 joins it) are drawn.
	u.waitJS(t, "port r3 realized", `nvaGraph.element('port:r3').classes.includes('realized')`, 10*time.Second)
	u.waitJS(t, "red's tunnels to hv3", `nvaGraph.element('tun:hv1|hv3').data.vns.includes('red') && nvaGraph.element('tun:hv2|hv3').data.vns.includes('red')`, 10*time.Second)
	u.waitIdle(t)
	now := u.drawn(t)
	var moved []string
	for _, n := range before.Nodes {
		m := now.node(n.ID)
		if m == nil {
			t.Errorf("node %s disappeared", n.ID)
			continue
		}
		dx, dy := m.Position.X-n.Position.X, m.Position.Y-n.Position.Y
		if dx*dx+dy*dy > 25 {
			moved = append(moved, fmt.Sprintf("%s by (%.1f, %.1f)", n.ID, dx, dy))
		}
	}
	if len(moved) > 0 {
		t.Errorf("existing nodes moved more than 5 px: %v", moved)
	}
	u.waitMatchesAPI(t, 10*time.Second)

	if _, err := u.nva.Client.Do(u.ctx, http.MethodDelete, lab.Realized("/api/v1/ports/r3", 30*time.Second), nil, nil); err != nil {
		t.Fatal(err)
	}
	gone := u.waitJS(t, "port r3 removed", `nvaGraph.element('port:r3') === null && nvaGraph.element('att:r3') === null`, 10*time.Second)
	t.Logf("port r3 removed from the page %v after the answer", gone.Round(time.Millisecond))
	u.waitMatchesAPI(t, 10*time.Second)
}

// testFilterAndSearch: the VN filter dims everything outside the VN;
// search finds ports by name and MAC and selects them.
func (u *uiTest) testFilterAndSearch(t *testing.T) {
	u.mustEval(t, `(() => { const s = document.getElementById('vn-filter'); s.value = 'red'; s.dispatchEvent(new Event('change')); return true; })()`, nil)
	u.waitJS(t, "filter red", `nvaGraph.filter() === 'red'`, 5*time.Second)
	u.waitIdle(t)
	d := u.drawn(t)
	inRed := map[string]bool{"nve:hv1": true, "nve:hv2": true, "port:r1": true, "port:r2": true}
	for _, n := range d.Nodes {
		if dimmed := slices.Contains(n.Classes, "dimmed"); dimmed == inRed[n.ID] {
			t.Errorf("filter red: node %s dimmed=%v", n.ID, dimmed)
		}
	}
	var edges map[string][]string
	u.mustEval(t, `Object.fromEntries(nvaGraph.edges().map(e => [e.id, e.classes]))`, &edges)
	for id, want := range map[string]bool{"tun:hv1|hv2": false, "tun:hv1|hv3": true, "tun:hv2|hv3": true, "att:r1": false, "att:b1": true} {
		if got := slices.Contains(edges[id], "dimmed"); got != want {
			t.Errorf("filter red: edge %s dimmed=%v, want %v", id, got, want)
		}
	}
	u.screenshot(t, "ui-filtered-red.png")
	u.mustEval(t, `(() => { const s = document.getElementById('vn-filter'); s.value = ''; s.dispatchEvent(new Event('change')); return true; })()`, nil)
	u.waitJS(t, "filter off", `nvaGraph.filter() === null && !nvaGraph.nodes().some(n => n.classes.includes('dimmed'))`, 5*time.Second)

	// By name: type, the results list, Enter selects the first hit.
	u.do(t, chromedp.Click(chromedp.ID("search")), chromedp.SendKeys(chromedp.ID("search"), "r2"))
	u.waitJS(t, "search results for r2", `!document.getElementById('search-results').hidden && document.getElementById('search-results').textContent.includes('port r2')`, 5*time.Second)
	u.do(t, chromedp.SendKeys(chromedp.ID("search"), kb.Enter))
	u.waitJS(t, "r2 selected", `nvaGraph.selected() && nvaGraph.selected().kind === 'port' && nvaGraph.selected().name === 'r2' && location.hash === '#port/r2'`, 5*time.Second)
	u.waitJS(t, "details of r2", `document.getElementById('details-body').textContent.includes('r2') && document.getElementById('details-body').textContent.includes('02:00:00:00:52:02') && nvaGraph.element('port:r2').classes.includes('selected')`, 5*time.Second)
	// By MAC.
	u.mustEval(t, `(() => { const s = document.getElementById('search'); s.value = ''; s.dispatchEvent(new Event('input')); return true; })()`, nil)
	u.do(t, chromedp.SendKeys(chromedp.ID("search"), "02:00:00:00:51:03"+kb.Enter))
	u.waitJS(t, "b3 selected by MAC", `nvaGraph.selected() && nvaGraph.selected().name === 'b3'`, 5*time.Second)
	u.mustEval(t, `(() => { const s = document.getElementById('search'); s.value = ''; s.blur(); return true; })()`, nil)
	u.fit(t)
	u.clickBackground(t)
}

// testFlowsPanel: clicking an NVE selects it and shows its flows, in sync
// and as many as the API reports.
func (u *uiTest) testFlowsPanel(t *testing.T) {
	u.clickNode(t, "nve:hv1")
	u.waitJS(t, "hv1 selected by a click", `nvaGraph.selected() && nvaGraph.selected().kind === 'nve' && nvaGraph.selected().name === 'hv1'`, 5*time.Second)
	var flows struct {
		Desired []string `json:"desired"`
		Diff    struct {
			InSync bool `json:"in_sync"`
		} `json:"diff"`
	}
	if _, err := u.nva.Client.Do(u.ctx, http.MethodGet, "/api/v1/nves/hv1/flows", nil, &flows); err != nil {
		t.Fatal(err)
	}
	if !flows.Diff.InSync || len(flows.Desired) == 0 {
		t.Fatalf("API: hv1 flows in sync %v, %d desired", flows.Diff.InSync, len(flows.Desired))
	}
	want := fmt.Sprintf("desired %d · installed %d · in sync", len(flows.Desired), len(flows.Desired))
	u.waitJS(t, "flows panel of hv1", fmt.Sprintf(`!document.getElementById('flows').hidden && document.getElementById('flows-body').textContent.includes(%q)`, want), 10*time.Second)
	var text string
	u.mustEval(t, `document.getElementById('flows-body').textContent`, &text)
	if strings.Contains(text, "NOT in sync") {
		t.Errorf("flows panel: %.300s", text)
	}
	var details string
	u.mustEval(t, `document.getElementById('details-body').textContent`, &details)
	if !strings.Contains(details, "hv1") || !strings.Contains(details, "connected and in sync") {
		t.Errorf("details of hv1: %.300s", details)
	}
	u.clickBackground(t)
}

// testSwitchDown: stopping a hypervisor's ovs-vswitchd turns its NVE and
// its tunnels down within seconds, and back up when it restarts.
func (u *uiTest) testSwitchDown(t *testing.T) {
	if err := u.l.StopVswitchd(u.ctx, 2); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	restarted := false
	defer func() {
		if !restarted {
			u.l.StartVswitchd(u.ctx, 2)
		}
	}()
	u.waitJS(t, "hv2 and its tunnels down",
		`nvaGraph.element('nve:hv2').classes.includes('down') && nvaGraph.element('tun:hv1|hv2').classes.includes('down') && nvaGraph.element('tun:hv2|hv3').classes.includes('down')`, 10*time.Second)
	t.Logf("hv2 drawn down %v after ovs-vswitchd stopped", time.Since(stopped).Round(time.Millisecond))
	var up bool
	u.mustEval(t, `nvaGraph.element('nve:hv1').classes.includes('up') && nvaGraph.element('tun:hv1|hv3').classes.includes('up') && nvaGraph.element('port:b2').classes.includes('down')`, &up)
	if !up {
		t.Errorf("with hv2 down: hv1, tunnel hv1-hv3 should stay up and hv2's ports be down: %v", u.drawn(t))
	}
	u.waitMatchesAPI(t, 10*time.Second)
	// hv2 selected: the details panel says why it is down.
	u.fit(t)
	u.clickNode(t, "nve:hv2")
	u.waitJS(t, "hv2's details say down", `document.getElementById('details-body').textContent.includes('OpenFlow not connected')`, 5*time.Second)
	u.screenshot(t, "ui-down-hv2.png")
	u.clickBackground(t)

	if err := u.l.StartVswitchd(u.ctx, 2); err != nil {
		t.Fatal(err)
	}
	restarted = true
	started := time.Now()
	u.waitJS(t, "hv2 and its tunnels up again",
		`nvaGraph.element('nve:hv2').classes.includes('up') && nvaGraph.element('tun:hv1|hv2').classes.includes('up') && nvaGraph.element('tun:hv2|hv3').classes.includes('up')`, 60*time.Second)
	t.Logf("hv2 drawn up %v after ovs-vswitchd started", time.Since(started).Round(time.Millisecond))
	u.waitMatchesAPI(t, 10*time.Second)
}

// testRestartNVA: the page shows "reconnecting" while nva restarts, then
// "live" again, and matches the API.
func (u *uiTest) testRestartNVA(t *testing.T) {
	u.mu.Lock()
	u.netOK = true
	u.mu.Unlock()
	defer func() {
		u.mu.Lock()
		u.netOK = false
		n := len(u.allowed)
		u.mu.Unlock()
		t.Logf("%d network errors while nva was down (expected)", n)
	}()
	var snapBefore uint64
	u.mustEval(t, `nvaGraph.snapshotRevision()`, &snapBefore)
	u.waitIdle(t)
	before := u.drawn(t)
	if err := u.nva.Stop(); err != nil {
		t.Fatalf("stopping nva: %v", err)
	}
	u.waitJS(t, "reconnecting", `nvaGraph.liveState() === 'reconnecting' && document.getElementById('live-state').dataset.state === 'reconnecting'`, 10*time.Second)
	if err := u.nva.Start(u.ctx); err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	u.waitJS(t, "live again", `nvaGraph.liveState() === 'live' && nvaGraph.loaded() && document.getElementById('live-state').textContent === 'live'`, 60*time.Second)
	t.Logf("page live %v after nva answered again", time.Since(started).Round(time.Millisecond))
	var snaps uint64
	u.mustEval(t, `nvaGraph.snapshotRevision()`, &snaps)
	if snaps < snapBefore {
		t.Errorf("snapshot revision after the restart %d < %d before", snaps, snapBefore)
	}
	// The switches reconnect to the new process: wait until all is up.
	u.waitAPIInSync(t, 60*time.Second)
	_, after := u.waitMatchesAPI(t, 30*time.Second)
	// The new snapshot is the whole state (not a half-replayed log), so
	// nothing was forgotten and re-placed.
	for _, n := range before.Nodes {
		if m := after.node(n.ID); m != nil && (m.Position.X-n.Position.X)*(m.Position.X-n.Position.X)+(m.Position.Y-n.Position.Y)*(m.Position.Y-n.Position.Y) > 25 {
			t.Errorf("node %s moved across the restart: %+v -> %+v", n.ID, n.Position, m.Position)
		}
	}
}
