package daemon

import (
	"errors"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"time"
)

// debugHandler serves the net/http/pprof endpoints under /debug/pprof/ on
// a mux of its own: the REST API never serves them, and nothing here
// uses http.DefaultServeMux (on which importing net/http/pprof also
// registers them; nva never serves that mux).
func debugHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index) // and the named profiles: heap, goroutine, allocs, block, mutex, threadcreate
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("/{$}", http.RedirectHandler("/debug/pprof/", http.StatusFound))
	return mux
}

// serveDebug serves the profiling endpoints on the --debug-addr listener
// until Close. No write timeout: a CPU profile or trace streams for as
// long as its ?seconds= asks.
func (d *Daemon) serveDebug() {
	if d.debugLn == nil {
		return
	}
	d.debugHTTP = &http.Server{
		Handler:           debugHandler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(d.log.Handler(), slog.LevelWarn),
	}
	d.log.Info("serving net/http/pprof", "addr", "http://"+d.debugLn.Addr().String()+"/debug/pprof/")
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := d.debugHTTP.Serve(d.debugLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Warn("debug server stopped", "err", err)
		}
	}()
}

// DebugAddr is the bound address of the profiling endpoints ("" when
// --debug-addr is off).
func (d *Daemon) DebugAddr() string {
	if d.debugLn == nil {
		return ""
	}
	return d.debugLn.Addr().String()
}
