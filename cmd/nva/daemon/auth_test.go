package daemon

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nva-project/nva/app/model"
)

func TestAuthSettings(t *testing.T) {
	load := func(args ...string) (Settings, error) {
		return LoadSettings(append([]string{"--data-dir", t.TempDir()}, args...), nil, nil)
	}
	s, err := load()
	if err != nil {
		t.Fatal(err)
	}
	if s.AuthEnforced() {
		t.Fatal("the loopback default requires tokens")
	}
	if got := strings.Join(s.Hostnames(), ","); got != "localhost,127.0.0.1,::1" {
		t.Fatalf("default hostnames %q", got)
	}
	if s, _ = load("--auth"); !s.AuthEnforced() {
		t.Fatal("--auth does not require tokens")
	}
	s, err = load("--api-addr", "10.0.0.1:8080", "--insecure-listen")
	if err != nil || !s.AuthEnforced() {
		t.Fatalf("a non-loopback API without tokens: %v", err)
	}
	if got := s.Hostnames(); !contains(got, "10.0.0.1") {
		t.Fatalf("hostnames %v lack the listen host", got)
	}
	s, err = load("--api-addr", ":8080", "--api-advertise", "https://nva.example:8443", "--insecure-listen")
	if err != nil || !s.AuthEnforced() || !contains(s.Hostnames(), "nva.example") {
		t.Fatalf("all interfaces: %v %v", err, s.Hostnames())
	}
	if _, err := load("--api-addr", ":8080", "--auth=false", "--insecure-listen"); err == nil || !strings.Contains(err.Error(), "--auth") {
		t.Fatalf("--auth=false on all interfaces: %v", err)
	}
	s, err = load("--allowed-origins", "https://Console.example/, http://10.0.0.9:3000", "--api-hostnames", "NVA.example,[::1]")
	if err != nil {
		t.Fatal(err)
	}
	if s.AllowedOrigins != "https://console.example,http://10.0.0.9:3000" || strings.Join(s.Hostnames(), ",") != "nva.example,::1" {
		t.Fatalf("origins %q hostnames %v", s.AllowedOrigins, s.Hostnames())
	}
	for _, bad := range [][]string{
		{"--allowed-origins", "console.example"},
		{"--allowed-origins", "https://console.example/app"},
		{"--api-hostnames", "a/b"},
	} {
		if _, err := load(bad...); err == nil || !strings.Contains(err.Error(), bad[0]) {
			t.Fatalf("%v: %v", bad, err)
		}
	}
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// TestBootstrapTokenFile: a new cluster's first node writes its admin
// token to <data-dir>/admin.token, mode 0600; the token is an admin's;
// a restart makes no other; with --auth the API refuses requests without
// it.
func TestBootstrapTokenFile(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, "n1", dir, freeAddr(t))
	cfg.Auth = true
	d, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, BootstrapTokenFile)
	waitUntil(t, func() bool { _, err := os.Stat(path); return err == nil })
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s has mode %v, want 0600", path, fi.Mode().Perm())
	}
	raw, _ := os.ReadFile(path)
	bearer := strings.TrimSpace(string(raw))
	id, _, ok := model.ParseToken(bearer)
	if !ok {
		t.Fatalf("%s holds %q", path, raw)
	}
	if tok, ok := d.Store().Token(id); !ok || tok.Role != model.RoleAdmin {
		t.Fatalf("stored token %+v", tok)
	}
	if st, _ := call(t, "GET", d.APIURL()+"/api/v1/vns", ""); st != http.StatusUnauthorized {
		t.Fatalf("no token: %d", st)
	}
	req, _ := http.NewRequest("GET", d.APIURL()+"/api/v1/vns", nil)
	req.Header.Set("Authorization", "Bearer "+bearer)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("bootstrap token: %d", res.StatusCode)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}

	// A restart keeps the token and makes none other, even once the
	// bootstrap token is revoked.
	cfg = testConfig(t, "n1", dir, cfg.RaftAddr)
	d, err = Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	waitUntil(t, func() bool { _, ok := d.Store().Token(id); return ok })
	if _, err := d.Store().RevokeToken(context.Background(), "", id); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d, err = Start(context.Background(), testConfig(t, "n1", dir, cfg.RaftAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	waitUntil(t, func() bool { return d.Store().IsLeader() && d.Store().TokensBootstrapped() })
	if n := len(d.Store().Tokens()); n != 0 {
		t.Fatalf("%d tokens after the bootstrap token was revoked and nva restarted", n)
	}
	if raw2, _ := os.ReadFile(path); string(raw2) != string(raw) {
		t.Fatal("the token file was rewritten")
	}
}

// TestTokenFile: --token-file must hold a token.
func TestTokenFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "tok")
	os.WriteFile(p, []byte("not a token\n"), 0o600)
	if _, err := readTokenFile(p); err == nil || !strings.Contains(err.Error(), "--token-file") {
		t.Fatalf("bad file: %v", err)
	}
	tok := model.FormatToken("0123456789abcdef", strings.Repeat("a", 64))
	os.WriteFile(p, []byte(tok+"\n"), 0o600)
	if got, err := readTokenFile(p); err != nil || got != tok {
		t.Fatalf("%q %v", got, err)
	}
	if _, err := readTokenFile(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("missing file accepted")
	}
}

// fakeBootstrapper is a store whose bootstrap proposals fail as told.
type fakeBootstrapper struct {
	answers []error // one per BootstrapToken call; then nil
	reqIDs  []string
	toks    []model.Token
	stored  map[string]*model.Token
	done    bool
}

func (f *fakeBootstrapper) LeaderReady(context.Context) (uint64, bool, error) { return 1, true, nil }
func (f *fakeBootstrapper) TokensBootstrapped() bool                          { return f.done }
func (f *fakeBootstrapper) Token(id string) (*model.Token, bool) {
	t, ok := f.stored[id]
	return t, ok
}
func (f *fakeBootstrapper) BootstrapToken(_ context.Context, reqID string, t model.Token) error {
	f.reqIDs, f.toks = append(f.reqIDs, reqID), append(f.toks, t)
	var err error
	if len(f.answers) > 0 {
		err, f.answers = f.answers[0], f.answers[1:]
	}
	if err == nil {
		f.stored[t.ID], f.done = &t, true
	}
	var me *model.Error
	if errors.As(err, &me) && me.Kind == model.KindConflict {
		f.done = true // another node's token
	}
	return err
}

// TestBootstrapAdminTokenRetries: a proposal that fails is retried with
// the same token and request ID (a committed first attempt then answers
// success), so the file always holds the stored token; a conflict (the
// cluster has its token from elsewhere) removes the file this node wrote.
func TestBootstrapAdminTokenRetries(t *testing.T) {
	dir := t.TempDir()
	f := &fakeBootstrapper{answers: []error{errors.New("timeout"), errors.New("no leader")}, stored: map[string]*model.Token{}}
	bootstrapAdminToken(context.Background(), f, dir, time.Now, func(string, ...any) {})
	if len(f.reqIDs) != 3 || f.reqIDs[0] != f.reqIDs[2] || f.toks[0].ID != f.toks[2].ID || f.toks[0].Hash != f.toks[2].Hash {
		t.Fatalf("attempts %v with tokens %v", f.reqIDs, f.toks)
	}
	raw, err := os.ReadFile(filepath.Join(dir, BootstrapTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	id, secret, ok := model.ParseToken(strings.TrimSpace(string(raw)))
	if !ok || f.stored[id] == nil || f.stored[id].Hash != model.HashSecret(secret) || f.stored[id].Role != model.RoleAdmin {
		t.Fatalf("file %q does not hold the stored token %+v", raw, f.stored)
	}

	if _, err := os.Stat(filepath.Join(dir, BootstrapTokenFile+".new")); !os.IsNotExist(err) {
		t.Fatalf("the pending file is left: %v", err)
	}

	dir = t.TempDir()
	f = &fakeBootstrapper{answers: []error{model.Errorf(model.KindConflict, "", "already")}, stored: map[string]*model.Token{}}
	bootstrapAdminToken(context.Background(), f, dir, time.Now, func(string, ...any) {})
	for _, name := range []string{BootstrapTokenFile, BootstrapTokenFile + ".new"} {
		if _, err := os.Stat(filepath.Join(dir, name)); !os.IsNotExist(err) {
			t.Fatalf("%s of a token that lost the race is there: %v", name, err)
		}
	}

	// A crash after the token was stored, before the rename: the next
	// start moves the pending file into place and proposes nothing.
	dir = t.TempDir()
	id, secret = "00000000000000aa", strings.Repeat("1", 64)
	os.WriteFile(filepath.Join(dir, BootstrapTokenFile+".new"), []byte(model.FormatToken(id, secret)+"\n"), 0o600)
	f = &fakeBootstrapper{stored: map[string]*model.Token{id: {ID: id, Role: model.RoleAdmin, Hash: model.HashSecret(secret)}}, done: true}
	bootstrapAdminToken(context.Background(), f, dir, time.Now, func(string, ...any) {})
	if raw, err := os.ReadFile(filepath.Join(dir, BootstrapTokenFile)); err != nil || !strings.Contains(string(raw), id) || len(f.reqIDs) != 0 {
		t.Fatalf("after a crash: %q %v, %d proposals", raw, err, len(f.reqIDs))
	}
	// A crash before it was stored: the pending token is proposed.
	dir = t.TempDir()
	os.WriteFile(filepath.Join(dir, BootstrapTokenFile+".new"), []byte(model.FormatToken(id, secret)+"\n"), 0o600)
	f = &fakeBootstrapper{stored: map[string]*model.Token{}}
	bootstrapAdminToken(context.Background(), f, dir, time.Now, func(string, ...any) {})
	if len(f.toks) != 1 || f.toks[0].ID != id || f.toks[0].Hash != model.HashSecret(secret) {
		t.Fatalf("the pending token was not proposed: %+v", f.toks)
	}
	if _, err := os.Stat(filepath.Join(dir, BootstrapTokenFile)); err != nil {
		t.Fatal(err)
	}
}

// TestJoinWithToken: members that require tokens refuse a join without
// one (not retried: a configuration error) and accept one with
// --token-file's admin token; the joined member then authenticates the
// cluster's tokens too.
func TestJoinWithToken(t *testing.T) {
	if testing.Short() {
		t.Skip("two-node cluster")
	}
	ctx := context.Background()
	c1 := testConfig(t, "n1", t.TempDir(), freeAddr(t))
	c1.Bootstrap, c1.Auth = true, true
	d1, err := Start(ctx, c1)
	if err != nil {
		t.Fatal(err)
	}
	defer d1.Close()
	tokenFile := filepath.Join(c1.DataDir, BootstrapTokenFile)
	waitUntil(t, func() bool { _, err := os.Stat(tokenFile); return err == nil })

	c2 := testConfig(t, "n2", t.TempDir(), freeAddr(t))
	c2.Join, c2.Auth = d1.APIURL(), true
	var logs lockedBuffer
	c2.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	refused, err := Start(ctx, c2)
	if err != nil {
		t.Fatal(err)
	}
	// The join loop gives up on the 401 at once.
	waitUntil(t, func() bool { return strings.Contains(logs.String(), "not retrying") })
	if !strings.Contains(logs.String(), "401") || !strings.Contains(logs.String(), "--token-file") {
		t.Fatalf("refused join logged:\n%s", logs.String())
	}
	refused.Close()
	if ci, err := d1.Store().Cluster(ctx); err != nil || len(ci.Nodes) != 1 {
		t.Fatalf("the cluster after a refused join: %+v %v", ci, err)
	}

	c2 = testConfig(t, "n2", t.TempDir(), freeAddr(t))
	c2.Join, c2.Auth, c2.TokenFile = d1.APIURL(), true, tokenFile
	d2, err := Start(ctx, c2)
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	select {
	case <-d2.Joined():
	case <-time.After(20 * time.Second):
		t.Fatal("n2 did not join within 20s")
	}
	raw, _ := os.ReadFile(tokenFile)
	id, _, _ := model.ParseToken(strings.TrimSpace(string(raw)))
	waitUntil(t, func() bool { _, ok := d2.Store().Token(id); return ok })
	req, _ := http.NewRequest("POST", d2.APIURL()+"/api/v1/vns", strings.NewReader(`{"name":"blue"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(raw)))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 201 {
		t.Fatalf("write through the joined follower with the admin token: %d", res.StatusCode)
	}
	if st, _ := call(t, "GET", d2.APIURL()+"/api/v1/vns", ""); st != 401 {
		t.Fatalf("the follower answers without a token: %d", st)
	}
}

// lockedBuffer is a bytes.Buffer safe for a logger and a reader.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
