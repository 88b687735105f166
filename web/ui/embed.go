// Package ui serves nva's web topology UI: the single-page application
// that `make ui` builds from this directory (npm ci, tsc, vite) into dist/,
// embedded into the binary. It owns only the static files; the UI reads
// the REST API under /api/v1/ (topology, events, flows).
//
// Before the first build dist/ holds only the committed .placeholder, so
// the package still compiles; the handler then answers every page with a
// short note saying how to build the UI (and still serves a favicon).
package ui

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

//go:embed all:dist
var dist embed.FS

// Handler serves the embedded UI bundle (see NewHandler). Mount it at "/"
// after the /api/ routes.
func Handler() http.Handler {
	sub, err := fs.Sub(dist, "dist")
	if err != nil { // cannot happen: "dist" is a valid path
		panic(err)
	}
	return NewHandler(sub)
}

// NewHandler serves the built UI in fsys (the contents of dist/: index.html,
// assets/, favicon.svg):
//   - GET and HEAD only (405 otherwise); paths under /api/ are 404, so a
//     mistyped API URL never gets the page;
//   - a file that exists is served with its content type, an ETag, gzip
//     when the client accepts it, and Cache-Control "immutable" for the
//     content-hashed assets/ and "no-cache" for everything else
//     (index.html must never be stale after an upgrade);
//   - a missing path with a file extension is 404; any other path is the
//     single-page application's: it gets index.html;
//   - dot files (.placeholder) are never served.
//
// When fsys has no index.html (the UI was not built), every page path gets
// a small HTML note to run `make ui`, with status 200, and /favicon.svg
// still answers.
func NewHandler(fsys fs.FS) http.Handler {
	h := &handler{fsys: fsys, files: map[string]*file{}}
	if st, err := fs.Stat(fsys, "index.html"); err == nil && !st.IsDir() {
		h.built = true
	}
	return h
}

type handler struct {
	fsys  fs.FS
	built bool

	mu    sync.Mutex
	files map[string]*file // read once: the bundle is immutable
}

type file struct {
	name  string
	data  []byte
	gz    []byte // nil when not worth compressing
	etag  string
	ctype string
}

// immutableAge is how long browsers may keep a content-hashed asset.
const immutableAge = "public, max-age=31536000, immutable"

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := path.Clean("/" + r.URL.Path)
	if p == "/api" || strings.HasPrefix(p, "/api/") {
		http.NotFound(w, r)
		return
	}
	name := strings.TrimPrefix(p, "/")
	for _, el := range strings.Split(name, "/") {
		if strings.HasPrefix(el, ".") {
			http.NotFound(w, r)
			return
		}
	}
	if !h.built {
		h.serveUnbuilt(w, r, name)
		return
	}
	if name == "" {
		name = "index.html"
	}
	f, err := h.open(name)
	if errors.Is(err, fs.ErrNotExist) {
		if path.Ext(name) != "" {
			http.NotFound(w, r)
			return
		}
		f, err = h.open("index.html") // a route of the single-page application
	}
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			http.NotFound(w, r)
			return
		}
		http.Error(w, "ui: "+err.Error(), http.StatusInternalServerError)
		return
	}
	cache := "no-cache"
	if strings.HasPrefix(f.name, "assets/") {
		cache = immutableAge
	}
	serveFile(w, r, f, cache)
}

// open reads name from the bundle once (a directory is ErrNotExist).
func (h *handler) open(name string) (*file, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if f, ok := h.files[name]; ok {
		return f, nil
	}
	st, err := fs.Stat(h.fsys, name)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, fs.ErrNotExist
	}
	data, err := fs.ReadFile(h.fsys, name)
	if err != nil {
		return nil, err
	}
	f := newFile(name, data)
	h.files[name] = f
	return f, nil
}

func newFile(name string, data []byte) *file {
	sum := sha256.Sum256(data)
	f := &file{name: name, data: data, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
	f.ctype = mime.TypeByExtension(path.Ext(name))
	if f.ctype == "" {
		f.ctype = http.DetectContentType(data)
	}
	if compressible(f.ctype) && len(data) >= 1024 {
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
		_, _ = zw.Write(data)
		_ = zw.Close()
		if b.Len() < len(data)*9/10 {
			f.gz = b.Bytes()
		}
	}
	return f
}

func compressible(ctype string) bool {
	for _, p := range []string{"text/", "application/javascript", "application/json", "image/svg+xml", "application/wasm"} {
		if strings.HasPrefix(ctype, p) {
			return true
		}
	}
	return false
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, params, _ := strings.Cut(part, ";")
		if strings.TrimSpace(enc) != "gzip" {
			continue
		}
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
				q = f
			}
		}
		return q > 0
	}
	return false
}

// serveFile writes f (gzip-encoded when the client takes it and no range
// was asked for); http.ServeContent answers conditional and range requests.
func serveFile(w http.ResponseWriter, r *http.Request, f *file, cache string) {
	hd := w.Header()
	hd.Set("Content-Type", f.ctype)
	hd.Set("Cache-Control", cache)
	hd.Set("X-Content-Type-Options", "nosniff")
	body, etag := f.data, f.etag
	if f.gz != nil {
		hd.Add("Vary", "Accept-Encoding")
		if r.Header.Get("Range") == "" && acceptsGzip(r) {
			hd.Set("Content-Encoding", "gzip")
			body, etag = f.gz, strings.TrimSuffix(f.etag, `"`)+`-gz"`
		}
	}
	hd.Set("ETag", etag)
	http.ServeContent(w, r, f.name, time.Time{}, bytes.NewReader(body))
}

// favicon is served while the UI is not built (public/favicon.svg is the
// built UI's); a missing favicon is an error in the browser's console.
var favicon = newFile("favicon.svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">`+
	`<rect width="32" height="32" rx="6" fill="#1f3a5f"/><g stroke="#7fb3ff" stroke-width="2">`+
	`<line x1="9" y1="10" x2="23" y2="10"/><line x1="9" y1="10" x2="16" y2="23"/><line x1="23" y1="10" x2="16" y2="23"/></g>`+
	`<circle cx="9" cy="10" r="4" fill="#4caf50"/><circle cx="23" cy="10" r="4" fill="#4caf50"/>`+
	`<circle cx="16" cy="23" r="4" fill="#ffb300"/></svg>`))

var unbuiltPage = newFile("index.html", []byte(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>nva — web UI not built</title>
<link rel="icon" type="image/svg+xml" href="/favicon.svg">
<style>body{font-family:system-ui,sans-serif;margin:3em auto;max-width:40em;color:#1d2733;line-height:1.5}code{background:#eef1f4;padding:.1em .3em;border-radius:3px}</style>
</head>
<body>
<h1>nva</h1>
<p id="ui-not-built">The web UI is not built: run <code>make ui</code> (it needs Node.js 20.19 or later and npm), then rebuild nva.</p>
<p>The REST API is served under <a href="/api/v1/topology"><code>/api/v1/</code></a>.</p>
</body>
</html>
`))

func (h *handler) serveUnbuilt(w http.ResponseWriter, r *http.Request, name string) {
	switch {
	case name == "favicon.svg" || name == "favicon.ico":
		serveFile(w, r, favicon, "no-cache")
	case path.Ext(name) != "" && path.Ext(name) != ".html":
		http.NotFound(w, r)
	default:
		serveFile(w, r, unbuiltPage, "no-cache")
	}
}
