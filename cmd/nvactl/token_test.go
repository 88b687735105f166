package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/store"
	"github.com/nva-project/nva/web"
	"github.com/nva-project/nva/web/wire"
)

// adminToken stores an admin token and returns its bearer form.
func adminToken(t *testing.T, st *store.Store) string {
	t.Helper()
	tok, bearer, err := web.NewToken("admin", model.RoleAdmin, "", func() model.Token { return model.Token{Created: time.Now()} })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateToken(context.Background(), "", tok); err != nil {
		t.Fatal(err)
	}
	return bearer
}

// TestTokenCommands: create/list/revoke against an API that requires
// tokens, the token from NVA_TOKEN or --token, and a tenant token scoped.
func TestTokenCommands(t *testing.T) {
	// The real API over a real store, requiring tokens from it.
	_, st := server(t)
	srv, err := web.New(web.Options{Backend: st, NodeID: "n1", Auth: web.AuthOptions{Enforce: true, Tokens: st}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	admin := adminToken(t, st)

	anon := cli{t, map[string]string{"NVA_SERVER": ts.URL}}
	anon.fails("requires a token", "vn", "list")
	c := cli{t, map[string]string{"NVA_SERVER": ts.URL, "NVA_TOKEN": admin}}
	c.ok("vn", "create", "blue", "--tenant", "acme")
	c.ok("vn", "create", "red", "--tenant", "beta")

	var created wire.Token
	if err := json.Unmarshal([]byte(c.ok("token", "create", "--role", "tenant", "--tenant", "acme", "--name", "acme ci", "-o", "json")), &created); err != nil {
		t.Fatal(err)
	}
	if created.Secret == "" || created.Tenant != "acme" {
		t.Fatalf("created %+v", created)
	}
	out := c.ok("token", "create", "--role", "reader")
	if !strings.Contains(out, "nva_") || !strings.Contains(out, "shown only now") {
		t.Fatalf("create output %q", out)
	}
	c.fails("--tenant is required", "token", "create", "--role", "tenant")
	c.fails("--role must be", "token", "create", "--role", "root")

	list := c.ok("token", "list")
	if r := row(t, list, created.ID); r[len(r)-2] != "acme" || !strings.Contains(list, "reader") {
		t.Fatalf("token list:\n%s", list)
	}
	if strings.Contains(list, created.Secret) {
		t.Fatal("token list shows a secret")
	}

	// The tenant token, by flag, sees its VN only and may not manage tokens.
	tenant := cli{t, map[string]string{"NVA_SERVER": ts.URL}}
	if out := tenant.ok("--token", created.Secret, "vn", "list"); !strings.Contains(out, "blue") || strings.Contains(out, "red") {
		t.Fatalf("tenant vn list:\n%s", out)
	}
	tenant.fails("403", "--token", created.Secret, "token", "list")
	tenant.fails("not found", "--token", created.Secret, "vn", "get", "red")

	if out := c.ok("token", "revoke", created.ID); !strings.Contains(out, "revoked") {
		t.Fatalf("revoke output %q", out)
	}
	tenant.fails("not valid", "--token", created.Secret, "vn", "list")
	c.fails("not found", "token", "revoke", created.ID)
}

// TestCACert: nvactl trusts the CA of --ca-cert / NVA_CACERT for an
// https:// server, and refuses it otherwise.
func TestCACert(t *testing.T) {
	ts, _ := server(t)
	tls := httptest.NewTLSServer(ts.Config.Handler)
	t.Cleanup(tls.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	cert, err := x509.ParseCertificate(tls.TLS.Certificates[0].Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	plain := cli{t, map[string]string{"NVA_SERVER": tls.URL}}
	plain.fails("certificate", "vn", "list")
	plain.ok("--ca-cert", ca, "vn", "list")
	cli{t, map[string]string{"NVA_SERVER": tls.URL, "NVA_CACERT": ca}}.ok("vn", "list")
	bad := filepath.Join(t.TempDir(), "bad.pem")
	os.WriteFile(bad, []byte("nothing"), 0o600)
	plain.fails("no PEM certificate", "--ca-cert", bad, "vn", "list")
}
