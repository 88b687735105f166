package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// ArtifactsBase is where failure artifacts go: $NVA_TEST_ARTIFACTS, or
// <temp dir>/nva-test-artifacts.
func ArtifactsBase() string {
	if d := os.Getenv("NVA_TEST_ARTIFACTS"); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), "nva-test-artifacts")
}

var unsafeRE = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// DumpArtifacts writes the lab's state into a new directory named after
// label under ArtifactsBase and returns its path: per hypervisor the
// OpenFlow flows, groups and ports of every bridge, ovs-vsctl show, OVS
// routes and tunnel neighbours, addresses, and the OVS logs; tenants'
// addresses and neighbours; the fabric's forwarding table; every
// registered artifact (nva logs) and whatever OnDump hooks write.
func (l *Lab) DumpArtifacts(label string) (string, error) {
	dir := filepath.Join(ArtifactsBase(),
		unsafeRE.ReplaceAllString(label, "_")+"-"+time.Now().UTC().Format("20060102-150405.000"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return dir, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmdOut := func(name string, args ...string) string {
		out, err := run(ctx, nil, name, args...)
		if err != nil {
			return fmt.Sprintf("$ %s %s\n%s\nERROR: %v\n", name, strings.Join(args, " "), out, err)
		}
		return fmt.Sprintf("$ %s %s\n%s\n", name, strings.Join(args, " "), out)
	}
	for _, hv := range l.hvs {
		var b strings.Builder
		db := "--db=unix:" + filepath.Join(hv.Dir, "db.sock")
		b.WriteString(cmdOut("ovs-vsctl", db, "show"))
		brs, _ := run(ctx, nil, "ovs-vsctl", db, "list-br")
		for _, br := range strings.Fields(brs) {
			t := "unix:" + filepath.Join(hv.Dir, br+".mgmt")
			b.WriteString(cmdOut("ovs-ofctl", "-O", "OpenFlow13", "--names", "dump-flows", t))
			b.WriteString(cmdOut("ovs-ofctl", "-O", "OpenFlow13", "dump-groups", t))
			b.WriteString(cmdOut("ovs-ofctl", "-O", "OpenFlow13", "dump-group-stats", t))
			b.WriteString(cmdOut("ovs-ofctl", "-O", "OpenFlow13", "dump-ports-desc", t))
		}
		ctl := filepath.Join(hv.Dir, "ovs-vswitchd.ctl")
		for _, c := range []string{"ovs/route/show", "tnl/neigh/show", "dpif/show", "dpctl/dump-flows"} {
			b.WriteString(cmdOut("ovs-appctl", "-t", ctl, c))
		}
		b.WriteString(cmdOut("ovs-vsctl", db, "list", "controller"))
		b.WriteString(cmdOut("ovs-vsctl", db, "list", "interface"))
		for _, c := range [][]string{{"addr"}, {"route"}, {"neigh"}} {
			b.WriteString(cmdOut("ip", append([]string{"-n", hv.NS}, c...)...))
		}
		_ = os.WriteFile(filepath.Join(dir, hv.Name+"-ovs.txt"), []byte(b.String()), 0o644)
		for _, f := range []string{"ovs-vswitchd.log", "ovsdb-server.log"} {
			_ = copyFile(filepath.Join(hv.Dir, f), filepath.Join(dir, hv.Name+"-"+f))
		}
	}
	var b strings.Builder
	ts := l.Tenants()
	sort.Slice(ts, func(i, j int) bool { return ts[i].Name < ts[j].Name })
	for _, t := range ts {
		fmt.Fprintf(&b, "## tenant %s on hv%d (%s) mac %s ips %v\n", t.Name, t.HV, t.If, t.MAC, t.IPs)
		b.WriteString(cmdOut("ip", "-n", t.NS, "addr"))
		b.WriteString(cmdOut("ip", "-n", t.NS, "neigh"))
	}
	_ = os.WriteFile(filepath.Join(dir, "tenants.txt"), []byte(b.String()), 0o644)
	_ = os.WriteFile(filepath.Join(dir, "fabric.txt"), []byte(
		cmdOut("ip", "-n", l.fabricNS, "link")+cmdOut("bridge", "-n", l.fabricNS, "fdb", "show", "br", "br0")), 0o644)

	l.mu.Lock()
	arts := append([]string(nil), l.artifacts...)
	hooks := append([]func(string){}, l.hooks...)
	l.mu.Unlock()
	for _, a := range arts {
		_ = copyFile(a, filepath.Join(dir, filepath.Base(a)))
	}
	for _, h := range hooks {
		h(dir)
	}
	return dir, nil
}
