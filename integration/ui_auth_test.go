package integration

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/nva-project/nva/integration/lab"
)

// TestUISignIn: an nva started with --auth writes its bootstrap admin
// token to <data-dir>/admin.token; the API refuses requests without a
// token; the web UI in a real Chromium asks for one, refuses a bad one,
// and with a tenant token draws that tenant's VNs only and follows their
// changes live (its EventSource authenticated by the session cookie).
func TestUISignIn(t *testing.T) {
	requireLab(t)
	chromium := chromiumPath(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	l := lab.New(t, lab.Options{Hypervisors: 1})
	n, err := l.StartNVA(ctx, lab.NVAOptions{Bin: nvaBin, LogLevel: "info", ExtraArgs: []string{"--auth"}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(n.DataDir, "admin.token")
	var admin string
	err = lab.WaitFor(ctx, 30*time.Second, 50*time.Millisecond, func() (bool, error) {
		b, err := os.ReadFile(path)
		admin = strings.TrimSpace(string(b))
		return err == nil && admin != "", nil
	})
	if err != nil {
		t.Fatalf("no bootstrap token in %s: %v", path, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v mode %v", path, err, fi.Mode())
	}
	if st, err := n.Client.Do(ctx, http.MethodGet, "/api/v1/vns", nil, nil); st != http.StatusUnauthorized {
		t.Fatalf("GET /api/v1/vns without a token: %d %v", st, err)
	}
	n.Client.Token = admin
	for _, vn := range []map[string]any{{"name": "blue", "tenant": "acme"}, {"name": "red", "tenant": "beta"}} {
		if _, err := n.Client.Do(ctx, http.MethodPost, "/api/v1/vns", vn, nil); err != nil {
			t.Fatal(err)
		}
	}
	var tok struct {
		Token string `json:"token"`
	}
	if _, err := n.Client.Do(ctx, http.MethodPost, "/api/v1/tokens", map[string]any{"role": "tenant", "tenant": "acme", "name": "ui"}, &tok); err != nil {
		t.Fatal(err)
	}

	u := &uiTest{t: t, ctx: ctx, l: l, nva: n}
	u.openBrowser(chromium)
	u.netOK = true // the 401s before signing in are logged as network errors
	u.do(t, chromedp.Navigate("http://"+n.APIAddr+"/"))
	u.do(t, chromedp.WaitVisible(chromedp.CSS(`[data-testid=signin]`)))
	u.do(t, chromedp.SendKeys(chromedp.CSS(`[data-testid=signin-token]`), "nva_not_a_token"),
		chromedp.Click(chromedp.CSS(`[data-testid=signin-submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=signin-error]`)))
	var live string
	u.mustEval(t, `nvaGraph.liveState()`, &live)
	if live != "connecting" {
		t.Fatalf("the page went %s before signing in", live)
	}
	u.do(t, chromedp.SetValue(chromedp.CSS(`[data-testid=signin-token]`), tok.Token),
		chromedp.Click(chromedp.CSS(`[data-testid=signin-submit]`)))
	u.waitJS(t, "the page goes live after signing in", `nvaGraph.liveState() === 'live' && nvaGraph.loaded() && !document.querySelector('[data-testid=signin]')`, 30*time.Second)
	vnOptions := `Array.from(document.querySelectorAll('#vn-filter option')).map(o => o.value).filter(v => v).join(',')`
	var vns, who string
	u.mustEval(t, vnOptions, &vns)
	u.mustEval(t, `document.getElementById('whoami').textContent`, &who)
	if vns != "blue" || who != "tenant acme (ui)" {
		t.Fatalf("signed in as %q, VNs drawn %q; want tenant acme's blue only", who, vns)
	}
	// Live changes arrive over the cookie-authenticated event stream:
	// the tenant's new VN, and not another tenant's.
	for _, vn := range []map[string]any{{"name": "gold", "tenant": "beta"}, {"name": "green", "tenant": "acme"}} {
		if _, err := n.Client.Do(ctx, http.MethodPost, "/api/v1/vns", vn, nil); err != nil {
			t.Fatal(err)
		}
	}
	u.waitJS(t, "the tenant's new VN is drawn live", vnOptions+` === 'blue,green'`, 30*time.Second)
	u.checkConsole(t)
}
