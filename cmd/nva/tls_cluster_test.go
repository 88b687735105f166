package main

// The production shape end to end: a lab CA made with `nva pki`, three
// nva processes with TLS identities (raft, member API and REST over TLS),
// joins over the member API, the /internal/ API absent from the REST
// listener; a consistent backup restored into a new cluster with the same
// objects and revisions; and the runbook of README "Operating a cluster":
// removing a dead member and replacing a node whose data directory was
// wiped.

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// runCmd runs the nva binary with a subcommand and returns its output.
func runCmd(t *testing.T, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = childEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("nva %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func testTLSCluster(t *testing.T, bin string) {
	sw := newStopwatch(t)
	tc := newCluster(t, bin, 3)
	pki := filepath.Join(tc.dir, "pki")
	runCmd(t, bin, "pki", "init", "--dir", pki)
	for _, n := range tc.nodes {
		runCmd(t, bin, "pki", "issue", "--dir", pki, "--name", n.id, "--host", "127.0.0.1,localhost")
		n.tlsArgs = []string{"--tls-cert", filepath.Join(pki, n.id+".crt"), "--tls-key", filepath.Join(pki, n.id+".key"), "--tls-ca", filepath.Join(pki, "ca.crt")}
	}
	caPEM, err := os.ReadFile(filepath.Join(pki, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	tc.c = &client{hc: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true, TLSClientConfig: &tls.Config{RootCAs: pool}}}}
	n1, n2, n3 := tc.nodes[0], tc.nodes[1], tc.nodes[2]

	// README "Production": n1 bootstraps, the others join through n1's
	// cluster address.
	tc.start(n1, append(n1.baseArgs(), "--bootstrap")...)
	eventually(t, 20*time.Second, "n1 healthy over https", func() error {
		h, r, err := tc.c.health(n1.url())
		if err != nil {
			return err
		}
		if r.status != http.StatusOK || !h.IsLeader {
			return fmt.Errorf("health %s", r)
		}
		return nil
	})
	for _, n := range []*node{n2, n3} {
		tc.start(n, append(n.baseArgs(), "--join", n1.raft)...)
	}
	leader := tc.waitView(40*time.Second, tc.nodes, nil) // every node a voter: promoted after catching up
	sw.lap("TLS cluster of three up")

	f := tc.others(leader)[0]
	tc.create(f, "vns", `{"name":"blue","tenant":"acme"}`)
	tc.create(leader, "vns", `{"name":"red","vni":7001}`)
	tc.create(f, "nves", fmt.Sprintf(`{"name":"hv1","underlay_ips":["198.18.0.1"],"ovsdb":"unix:%s"}`, filepath.Join(tc.dir, "absent.sock")))
	tc.create(f, "ports", `{"name":"p1","vn":"blue","nve":"hv1","interface":"veth1","mac":"02:00:00:00:00:01","ips":["10.0.0.1"]}`)
	for _, n := range tc.nodes {
		tc.mustVerify(n, true)
	}

	// Nothing member-only on the REST listener; plain HTTP is no API; the
	// cluster port answers no one without a node certificate.
	if r, err := tc.c.do("GET", f.url()+"/internal/v1/status", ""); err != nil || r.status != http.StatusNotFound {
		t.Errorf("/internal/ on the REST listener: %v %v, want 404", r, err)
	}
	if r, err := newClient().do("GET", "http://"+f.api+"/api/v1/vns", ""); err == nil && r.status == http.StatusOK {
		t.Errorf("plain HTTP on the TLS REST listener: %s", r)
	}
	if r, err := tc.c.do("GET", "https://"+f.raft+"/internal/v1/status", ""); err == nil {
		t.Errorf("member API without a client certificate: %s", r)
	}
	sw.lap("writes over https, non-members refused")

	// Backup through a follower, restored into a new one-node cluster.
	r, err := tc.c.do("GET", f.url()+"/api/v1/snapshot", "")
	if err != nil || r.status != http.StatusOK {
		t.Fatalf("GET /api/v1/snapshot: %v %v", r, err)
	}
	backup := filepath.Join(tc.dir, "backup.ndjson")
	if err := os.WriteFile(backup, r.body, 0o600); err != nil {
		t.Fatal(err)
	}
	ports := freePorts(t, 3)
	rn := &node{id: "r1", api: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0])), raft: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1])),
		openflow: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[2])), dataDir: filepath.Join(tc.dir, "r1"), logPath: filepath.Join(tc.dir, "r1.log")}
	runCmd(t, bin, "pki", "issue", "--dir", pki, "--name", rn.id, "--host", "127.0.0.1")
	rn.tlsArgs = []string{"--tls-cert", filepath.Join(pki, "r1.crt"), "--tls-key", filepath.Join(pki, "r1.key"), "--tls-ca", filepath.Join(pki, "ca.crt")}
	out := runCmd(t, bin, "restore", "--from", backup, "--data-dir", rn.dataDir, "--node-id", rn.id, "--raft-addr", rn.raft)
	if !strings.Contains(out, "restored revision "+r.header.Get("X-Nva-Revision")) {
		t.Fatalf("nva restore: %s (backup revision %s)", out, r.header.Get("X-Nva-Revision"))
	}
	tc.start(rn, rn.baseArgs()...)
	eventually(t, 30*time.Second, "the restored node serves the backup's objects at their revisions", func() error { return tc.verify(rn, true) })
	rv, err := tc.c.cluster(rn.url())
	if err != nil || len(rv.Nodes) != 1 || rv.Nodes[0].ID != "r1" || !rv.Nodes[0].Voter {
		t.Fatalf("restored cluster: %+v %v", rv, err)
	}
	tc.kill(rn)
	sw.lap("backup restored into a new cluster")

	// Runbook: a member dies for good. Remove it; the two others keep
	// the quorum.
	dead := tc.others(leader)[1]
	tc.kill(dead)
	eventually(t, 30*time.Second, "remove the dead member", func() error {
		r, err := tc.c.do("DELETE", leader.url()+"/api/v1/cluster/nodes/"+dead.id, "")
		if err != nil {
			return err
		}
		if r.status != http.StatusNoContent {
			return fmt.Errorf("%s", r)
		}
		return nil
	})
	cv, err := tc.c.cluster(leader.url())
	if err != nil || len(cv.Nodes) != 2 {
		t.Fatalf("cluster after removing %s: %+v %v", dead.id, cv, err)
	}
	tc.create(leader, "vns", `{"name":"after-removal"}`)
	sw.lap(fmt.Sprintf("dead member %s removed", dead.id))

	// Replace it with a node on a wiped data directory: same name and
	// addresses, joined again; it enters as a non-voter, catches up and
	// is promoted.
	if err := os.RemoveAll(dead.dataDir); err != nil {
		t.Fatal(err)
	}
	tc.start(dead, append(dead.baseArgs(), "--join", leader.raft)...)
	tc.waitView(40*time.Second, tc.nodes, nil)
	for _, n := range tc.nodes {
		tc.mustVerify(n, true)
	}
	var lines bytes.Buffer // whoever led then logged it
	for _, n := range tc.others(dead) {
		if b, err := os.ReadFile(n.logPath); err == nil {
			for _, l := range strings.Split(string(b), "\n") {
				if strings.Contains(l, "non-voter") && strings.Contains(l, "id="+dead.id) {
					lines.WriteString(l + "\n")
				}
			}
		}
	}
	if !strings.Contains(lines.String(), "added non-voter") || !strings.Contains(lines.String(), "promoted") {
		t.Errorf("the logs do not show %s added as a non-voter and promoted:\n%s", dead.id, lines.String())
	}
	sw.lap(fmt.Sprintf("%s replaced with a wiped data dir", dead.id))
}
