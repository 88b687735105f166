package ui

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

type resp struct {
	code int
	hdr  http.Header
	body string
}

func do(t *testing.T, h http.Handler, method, target string, hdr map[string]string) resp {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return resp{w.Code, w.Result().Header, w.Body.String()}
}

func TestUnbuiltServesMakeUIPageAndFavicon(t *testing.T) {
	h := NewHandler(fstest.MapFS{".placeholder": {Data: []byte("placeholder")}})
	for _, p := range []string{"/", "/index.html", "/nves/hv1"} {
		r := do(t, h, "GET", p, nil)
		if r.code != 200 || !strings.HasPrefix(r.hdr.Get("Content-Type"), "text/html") {
			t.Fatalf("GET %s: %d %q, want 200 text/html", p, r.code, r.hdr.Get("Content-Type"))
		}
		if !strings.Contains(r.body, "The web UI is not built: run <code>make ui</code>") {
			t.Errorf("GET %s: body does not say to run make ui:\n%s", p, r.body)
		}
		if r.hdr.Get("Cache-Control") != "no-cache" {
			t.Errorf("GET %s: Cache-Control %q, want no-cache", p, r.hdr.Get("Cache-Control"))
		}
	}
	r := do(t, h, "GET", "/favicon.svg", nil)
	if r.code != 200 || r.hdr.Get("Content-Type") != "image/svg+xml" || !strings.HasPrefix(r.body, "<svg") {
		t.Errorf("GET /favicon.svg: %d %q %.20q", r.code, r.hdr.Get("Content-Type"), r.body)
	}
	for _, p := range []string{"/.placeholder", "/assets/index-abc.js", "/api/v1/topology"} {
		if r := do(t, h, "GET", p, nil); r.code != 404 {
			t.Errorf("GET %s: %d, want 404", p, r.code)
		}
	}
	if r := do(t, h, "POST", "/", nil); r.code != 405 || r.hdr.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /: %d Allow %q, want 405 with Allow: GET, HEAD", r.code, r.hdr.Get("Allow"))
	}
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestServesBuiltBundle(t *testing.T) {
	index := `<!doctype html><html><head><script type="module" src="/assets/index-abc123.js"></script></head><body>nva ui</body></html>`
	js := "console.log('nva');\n" + strings.Repeat("export const x = 'a fairly compressible line of javascript';\n", 100)
	dir := writeFiles(t, map[string]string{
		".placeholder":            "placeholder",
		"index.html":              index,
		"favicon.svg":             `<svg xmlns="http://www.w3.org/2000/svg"></svg>`,
		"assets/index-abc123.js":  js,
		"assets/index-def456.css": "body{margin:0}",
	})
	h := NewHandler(os.DirFS(dir))

	for _, p := range []string{"/", "/index.html", "/nves/hv1", "/vn/blue/details"} {
		r := do(t, h, "GET", p, nil)
		if r.code != 200 || r.body != index {
			t.Fatalf("GET %s: %d %q, want index.html", p, r.code, r.body)
		}
		if ct := r.hdr.Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("GET %s: Content-Type %q", p, ct)
		}
		if cc := r.hdr.Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("GET %s: Cache-Control %q, want no-cache", p, cc)
		}
	}

	r := do(t, h, "GET", "/assets/index-abc123.js", nil)
	if r.code != 200 || r.body != js {
		t.Fatalf("GET js: %d, %d bytes", r.code, len(r.body))
	}
	if ct := r.hdr.Get("Content-Type"); ct != "text/javascript; charset=utf-8" {
		t.Errorf("js Content-Type %q", ct)
	}
	if cc := r.hdr.Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
		t.Errorf("js Cache-Control %q", cc)
	}
	etag := r.hdr.Get("ETag")
	if etag == "" || r.hdr.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("js: ETag %q, X-Content-Type-Options %q", etag, r.hdr.Get("X-Content-Type-Options"))
	}
	if r := do(t, h, "GET", "/assets/index-abc123.js", map[string]string{"If-None-Match": etag}); r.code != 304 || r.body != "" {
		t.Errorf("conditional GET: %d, %d bytes, want 304 and no body", r.code, len(r.body))
	}
	if r := do(t, h, "HEAD", "/assets/index-abc123.js", nil); r.code != 200 || r.body != "" {
		t.Errorf("HEAD: %d, %d bytes", r.code, len(r.body))
	}

	gz := do(t, h, "GET", "/assets/index-abc123.js", map[string]string{"Accept-Encoding": "br, gzip"})
	if gz.hdr.Get("Content-Encoding") != "gzip" || !strings.Contains(gz.hdr.Get("Vary"), "Accept-Encoding") {
		t.Fatalf("gzip: Content-Encoding %q Vary %q", gz.hdr.Get("Content-Encoding"), gz.hdr.Get("Vary"))
	}
	if gz.hdr.Get("ETag") == etag {
		t.Errorf("gzip answer has the identity ETag %s", etag)
	}
	zr, err := gzip.NewReader(bytes.NewReader([]byte(gz.body)))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil || string(plain) != js || len(gz.body) >= len(js) {
		t.Errorf("gzip body: %v, %d bytes of %d decompressed to the original: %v", err, len(gz.body), len(js), string(plain) == js)
	}
	if r := do(t, h, "GET", "/assets/index-abc123.js", map[string]string{"Accept-Encoding": "gzip;q=0"}); r.hdr.Get("Content-Encoding") != "" {
		t.Errorf("gzip;q=0 got Content-Encoding %q", r.hdr.Get("Content-Encoding"))
	}
	if r := do(t, h, "GET", "/assets/index-abc123.js", map[string]string{"Range": "bytes=0-6", "Accept-Encoding": "gzip"}); r.code != 206 || r.body != "console" {
		t.Errorf("range: %d %q, want 206 \"console\"", r.code, r.body)
	}

	if r := do(t, h, "GET", "/assets/index-def456.css", nil); r.hdr.Get("Content-Type") != "text/css; charset=utf-8" || r.body != "body{margin:0}" {
		t.Errorf("css: %q %q", r.hdr.Get("Content-Type"), r.body)
	}
	if r := do(t, h, "GET", "/favicon.svg", nil); r.code != 200 || r.hdr.Get("Content-Type") != "image/svg+xml" || r.hdr.Get("Cache-Control") != "no-cache" {
		t.Errorf("favicon: %d %q %q", r.code, r.hdr.Get("Content-Type"), r.hdr.Get("Cache-Control"))
	}
	// Missing files with an extension are 404, never the page; dot files and
	// the API's paths are never served; directories are SPA routes.
	for _, p := range []string{"/assets/index-gone.js", "/.placeholder", "/assets/.x", "/api/v1/nope", "/api", "/robots.txt"} {
		if r := do(t, h, "GET", p, nil); r.code != 404 {
			t.Errorf("GET %s: %d, want 404", p, r.code)
		}
	}
	if r := do(t, h, "GET", "/assets", nil); r.code != 200 || r.body != index {
		t.Errorf("GET /assets: %d, want the SPA page", r.code)
	}
	if r := do(t, h, "GET", "/../index.html", nil); r.code != 200 || r.body != index {
		t.Errorf("GET /../index.html: %d", r.code)
	}
	if r := do(t, h, "DELETE", "/index.html", nil); r.code != 405 {
		t.Errorf("DELETE: %d, want 405", r.code)
	}
}

// The embedded bundle is whatever dist/ held at build time: the real UI
// after `make ui`, the placeholder before. Either way the handler serves
// the right thing for it.
func TestEmbeddedBundle(t *testing.T) {
	r := do(t, Handler(), "GET", "/", nil)
	if r.code != 200 {
		t.Fatalf("GET /: %d", r.code)
	}
	built, err := fs.ReadFile(dist, "dist/index.html")
	switch {
	case err == nil:
		if r.body != string(built) {
			t.Errorf("GET / did not serve the embedded dist/index.html")
		}
		if !strings.Contains(r.body, `id="live-state"`) || !strings.Contains(r.body, `href="/favicon.svg"`) {
			t.Errorf("the embedded index.html lacks #live-state or the favicon link")
		}
		if _, err := fs.Stat(dist, "dist/favicon.svg"); err != nil {
			t.Errorf("built bundle without favicon.svg: %v", err)
		}
	case errors.Is(err, fs.ErrNotExist):
		if !strings.Contains(r.body, "make ui") {
			t.Errorf("unbuilt: GET / does not say to run make ui")
		}
		if _, err := fs.Stat(dist, "dist/.placeholder"); err != nil {
			t.Errorf("dist/.placeholder missing from the embedded files: %v", err)
		}
	default:
		t.Fatal(err)
	}
	if r := do(t, Handler(), "GET", "/favicon.svg", nil); r.code != 200 || r.hdr.Get("Content-Type") != "image/svg+xml" {
		t.Errorf("GET /favicon.svg: %d %q", r.code, r.hdr.Get("Content-Type"))
	}
}
