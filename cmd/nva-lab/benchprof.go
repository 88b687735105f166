package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
)

// profiler collects CPU profiles of nva (its --debug-addr pprof endpoint)
// over the attach ramps of the bench: consecutive 2-second profiles, one
// file each, until the ramp ends (go tool pprof merges several files).
type profiler struct {
	dir  string
	addr string // nva's --debug-addr
}

// newProfiler makes dir and picks a free loopback port for nva's pprof
// endpoint.
func newProfiler(dir string) (*profiler, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("-cpuprofile: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("-cpuprofile: a free port for nva's --debug-addr: %w", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return &profiler{dir: dir, addr: addr}, nil
}

// start collects profiles named prefix-<k>.pprof until the returned stop
// is called; stop waits for the profile in progress. A nil profiler
// collects nothing.
func (p *profiler) start(ctx context.Context, prefix string, logger *log.Logger) (stop func()) {
	if p == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for k := 0; ctx.Err() == nil; k++ {
			path := filepath.Join(p.dir, fmt.Sprintf("%s-%d.pprof", prefix, k))
			if err := p.fetch(context.WithoutCancel(ctx), path); err != nil {
				logger.Printf("cpu profile %s: %v", path, err)
				return
			}
		}
	}()
	return func() { cancel(); wg.Wait() }
}

// fetch writes one 2-second CPU profile of nva to path.
func (p *profiler) fetch(ctx context.Context, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.addr+"/debug/pprof/profile?seconds=2", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s", resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
