package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Sweep removes every lab left behind by processes that are gone (their
// namespaces, links, OVS daemons, spawned processes and state). Labs of
// live processes are left alone. Create calls it; the demo's "down"
// command calls it too.
func Sweep(ctx context.Context, logf func(string, ...any)) error {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	base := BaseDir()
	if err := os.MkdirAll(base, 0o755); err != nil {
		return err
	}
	unlock, err := lockBase(base)
	if err != nil {
		return err
	}
	defer unlock()
	return sweep(ctx, base, logf)
}

// sweep does Sweep's work with the base lock held.
func sweep(ctx context.Context, base string, logf func(string, ...any)) error {
	live := map[string]bool{} // prefixes of labs whose owner is alive
	stale := map[string]string{}
	entries, err := os.ReadDir(base)
	if err != nil {
		return err
	}
	for _, e := range entries {
		m := prefixRE.FindStringSubmatch(e.Name())
		if !e.IsDir() || m == nil || m[1] != e.Name() {
			continue
		}
		dir := filepath.Join(base, e.Name())
		b, err := os.ReadFile(filepath.Join(dir, "owner"))
		if err == nil {
			if id, err := parseProcID(strings.TrimSpace(string(b))); err == nil && id.alive() {
				live[e.Name()] = true
				continue
			}
		}
		stale[e.Name()] = dir
	}
	// Namespaces and root links with a lab prefix but no live owner.
	nss, err := listNamespaces(ctx)
	if err != nil {
		return err
	}
	links, err := listLinks(ctx, "")
	if err != nil {
		return err
	}
	for _, n := range append(nss, links...) {
		if m := prefixRE.FindStringSubmatch(n); m != nil && !live[m[1]] {
			if _, ok := stale[m[1]]; !ok {
				stale[m[1]] = ""
			}
		}
	}
	var errs []error
	for p, dir := range stale {
		logf("lab: sweeping stale lab %s", p)
		if err := cleanPrefix(ctx, p, dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// cleanPrefix removes everything of the lab with prefix p: processes
// recorded in its state dir, OVS daemons, processes left in its namespaces,
// its namespaces and root-namespace links, and the state dir.
func cleanPrefix(ctx context.Context, p, dir string) error {
	var errs []error
	if dir != "" {
		if b, err := os.ReadFile(filepath.Join(dir, "procs")); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				f := strings.Fields(line)
				if len(f) < 2 {
					continue
				}
				if id, err := parseProcID(f[0] + " " + f[1]); err == nil {
					id.terminate(3 * time.Second)
				}
			}
		}
		hvDirs, _ := filepath.Glob(filepath.Join(dir, "hv*"))
		for _, d := range hvDirs {
			stopOVS(d)
		}
	}
	nss, err := listNamespaces(ctx)
	if err != nil {
		errs = append(errs, err)
	}
	var mine []string
	for _, n := range nss {
		if strings.HasPrefix(n, p) {
			mine = append(mine, n)
		}
	}
	// Kill whatever still runs inside (tcpdump, ping, stray daemons), then
	// delete the namespaces; their veths go with them.
	for _, n := range mine {
		out, _ := run(ctx, nil, "ip", "netns", "pids", n)
		for _, f := range strings.Fields(out) {
			if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
				killPID(pid, 2*time.Second)
			}
		}
	}
	for _, n := range mine {
		if _, err := run(ctx, nil, "ip", "netns", "del", n); err != nil {
			errs = append(errs, err)
		}
	}
	links, err := listLinks(ctx, "")
	if err != nil {
		errs = append(errs, err)
	}
	for _, n := range links {
		if strings.HasPrefix(n, p) {
			if _, err := ipCmd(ctx, "", "link", "del", n); err != nil && !strings.Contains(err.Error(), "Cannot find device") {
				errs = append(errs, err)
			}
		}
	}
	if dir != "" {
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("lab: cleaning %s: %w", p, errors.Join(errs...))
	}
	return nil
}

// listNamespaces returns the names of the network namespaces.
func listNamespaces(ctx context.Context) ([]string, error) {
	out, err := run(ctx, nil, "ip", "netns", "list")
	if err != nil {
		return nil, err
	}
	var names []string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	return names, nil
}

// listLinks returns the link names in a namespace ("" = root).
func listLinks(ctx context.Context, ns string) ([]string, error) {
	out, err := ipCmd(ctx, ns, "-o", "link", "show")
	if err != nil {
		return nil, err
	}
	var names []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		name := strings.TrimSuffix(f[1], ":")
		if i := strings.IndexByte(name, '@'); i >= 0 {
			name = name[:i]
		}
		names = append(names, name)
	}
	return names, nil
}
