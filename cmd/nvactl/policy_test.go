package main

import (
	"strings"
	"testing"

	"github.com/nva-project/nva/app/model"
)

// TestPolicyCommands: nvactl policy create/list/update/delete, port
// ranges, and a 4xx naming the field.
func TestPolicyCommands(t *testing.T) {
	ts, st := server(t)
	c := cli{t, map[string]string{"NVA_SERVER": ts.URL}}
	for _, vn := range []string{"web", "db"} {
		c.ok("vn", "create", vn, "--service", "l3", "--tenant", "acme", "--l3-domain", "prod",
			"--subnet", map[string]string{"web": "10.10.1.0/24=10.10.1.1", "db": "10.10.2.0/24=10.10.2.1"}[vn])
	}
	out := c.ok("policy", "create", "web-db", "--tenant", "acme", "--l3-domain", "prod", "--priority", "200",
		"--src-vn", "web", "--dst-cidr", "10.10.2.0/24", "--protocol", "tcp", "--port", "5432", "--port", "8000-8080")
	if r := row(t, out, "web-db"); r[4] != "allow" || r[5] != "vn:web" || r[6] != "10.10.2.0/24" || r[8] != "5432,8000-8080" {
		t.Errorf("create row %v", r)
	}
	got := st.Snapshot().Policies["web-db"]
	if got == nil || len(got.Ports) != 2 || got.Ports[1] != (model.PortRange{From: 8000, To: 8080}) {
		t.Fatalf("stored %+v", got)
	}
	c.fails("ports[0]", "policy", "create", "bad", "--tenant", "acme", "--l3-domain", "prod", "--priority", "5",
		"--protocol", "tcp", "--port", "90-80")
	c.fails("LO-HI", "policy", "create", "bad", "--tenant", "acme", "--l3-domain", "prod", "--priority", "5", "--port", "x")
	c.ok("policy", "update", "web-db", "--action", "deny")
	if st.Snapshot().Policies["web-db"].Action != model.PolicyDeny {
		t.Error("update did not deny")
	}
	if out := c.ok("policy", "list", "--l3_domain", "prod"); !strings.Contains(out, "web-db") {
		t.Errorf("list:\n%s", out)
	}
	c.ok("policy", "delete", "web-db")
	if st.Snapshot().Policies["web-db"] != nil {
		t.Error("still stored")
	}
}
