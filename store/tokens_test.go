package store

import (
	"bytes"
	"context"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nva-project/nva/app/model"
)

func testToken(id string, role model.Role, tenant string) model.Token {
	return model.Token{ID: id, Name: "t-" + id[:4], Role: role, Tenant: tenant,
		Created: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Hash: model.HashSecret("s-" + id)}
}

// TestTokenCommandsApply: create, revoke and bootstrap in log order, their
// guards, no watch events, and the token state through a snapshot.
func TestTokenCommandsApply(t *testing.T) {
	h := newHarness(t)
	_, events := h.f.snapshotAndWatch(t.Context())
	seed(h)
	for range 6 {
		<-events // seed's
	}
	a := testToken("0000000000000001", model.RoleTenant, "acme")
	r := h.ok(&createToken{ReqID: "c1", Token: a})
	if got := h.f.st.tokens.byID[a.ID]; got == nil || got.Revision != r.Index || got.Hash != a.Hash || got.Tenant != "acme" {
		t.Fatalf("stored token %+v, result %+v", got, r)
	}
	if r := h.do(&createToken{ReqID: "c2", Token: a}); r.Err == nil || r.Err.Kind != model.KindConflict {
		t.Fatalf("duplicate ID: %+v", r)
	}
	if r := h.do(&revokeToken{ReqID: "r1", ID: "00000000000000ff"}); r.Err == nil || r.Err.Kind != model.KindNotFound {
		t.Fatalf("revoke unknown: %+v", r)
	}
	boot := testToken("0000000000000002", model.RoleAdmin, "")
	h.ok(&bootstrapToken{ReqID: "b1", Token: boot})
	if !h.f.st.tokens.bootstrapped {
		t.Fatal("bootstrap not recorded")
	}
	h.ok(&revokeToken{ReqID: "r2", ID: boot.ID})
	// Once bootstrapped, never again, even with the first one revoked.
	again := testToken("0000000000000003", model.RoleAdmin, "")
	if r := h.do(&bootstrapToken{ReqID: "b2", Token: again}); r.Err == nil || r.Err.Kind != model.KindConflict {
		t.Fatalf("second bootstrap: %+v", r)
	}
	if e := (&bootstrapToken{Token: again}).check(h.f.st); e == nil {
		t.Fatal("the early check accepts a second bootstrap")
	}
	if got := len(h.f.st.tokens.byID); got != 1 {
		t.Fatalf("%d tokens, want 1", got)
	}
	// Tokens are not objects of the topology: no events, not in the view.
	select {
	case ev := <-events:
		t.Fatalf("token command published %+v", ev)
	default:
	}

	data := persist(t, h.f)
	if !bytes.Contains(data, []byte(`"tokens_bootstrapped":true`)) || !bytes.Contains(data, []byte(a.Hash)) {
		t.Fatalf("snapshot lacks the token state:\n%s", data)
	}
	if bytes.Contains(data, []byte("s-0000000000000001")) {
		t.Fatal("a secret reached the snapshot")
	}
	g := newFSM(nil, DedupPolicy{})
	if err := g.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g.st.tokens, h.f.st.tokens) {
		t.Fatalf("restored tokens %+v, want %+v", g.st.tokens, h.f.st.tokens)
	}
	if again := persist(t, g); !bytes.Equal(again, data) {
		t.Fatal("snapshot of the restored state differs")
	}
}

func TestTokenPrepare(t *testing.T) {
	ok := testToken("00000000000000aa", model.RoleReader, "")
	ok.Created = time.Date(2026, 1, 2, 3, 4, 5, 999, time.FixedZone("x", 3600))
	c := &createToken{Token: ok}
	if err := c.prepare(); err != nil {
		t.Fatal(err)
	}
	if c.Token.Created.Location() != time.UTC || c.Token.Created.Nanosecond() != 0 {
		t.Fatalf("created %v not normalised", c.Token.Created)
	}
	for name, tc := range map[string]struct {
		tok   model.Token
		field string
	}{
		"bad id":          {testToken("XYZ0000000000000", model.RoleAdmin, ""), "id"},
		"bad role":        {testToken("00000000000000aa", "root", ""), "role"},
		"tenant missing":  {testToken("00000000000000aa", model.RoleTenant, ""), "tenant"},
		"tenant on admin": {testToken("00000000000000aa", model.RoleAdmin, "acme"), "tenant"},
		"no hash":         {func() model.Token { t := testToken("00000000000000aa", model.RoleAdmin, ""); t.Hash = ""; return t }(), "hash"},
	} {
		t.Run(name, func(t *testing.T) {
			err := (&createToken{Token: tc.tok}).prepare()
			e, isModel := model.AsError(err)
			if !isModel || e.Field != tc.field {
				t.Fatalf("got %v, want an error on %s", err, tc.field)
			}
		})
	}
	if err := (&bootstrapToken{Token: testToken("00000000000000aa", model.RoleReader, "")}).prepare(); err == nil {
		t.Fatal("a non-admin bootstrap token was accepted")
	}
}

// TestStoreTokens: the Store's token methods through Raft, and the
// bootstrap token surviving a restart from disk as "bootstrapped".
func TestStoreTokens(t *testing.T) {
	dir := t.TempDir()
	cfg := fastConfig(t, "n1")
	cfg.DataDir, cfg.Bootstrap, cfg.RaftAddr = dir, true, "127.0.0.1:0"
	s, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "leadership", s.IsLeader)
	ctx := context.Background()
	if s.TokensBootstrapped() || len(s.Tokens()) != 0 {
		t.Fatal("a new store has tokens")
	}
	boot := testToken("00000000000000b0", model.RoleAdmin, "")
	if err := s.BootstrapToken(ctx, "", boot); err != nil {
		t.Fatal(err)
	}
	if err := s.BootstrapToken(ctx, "", testToken("00000000000000b1", model.RoleAdmin, "")); !isKind(err, model.KindConflict) {
		t.Fatalf("second bootstrap: %v", err)
	}
	got, err := s.CreateToken(ctx, "", testToken("00000000000000c0", model.RoleTenant, "acme"))
	if err != nil || got.Revision == 0 {
		t.Fatalf("create: %+v %v", got, err)
	}
	if _, err := s.CreateToken(ctx, "", testToken("00000000000000c1", model.RoleTenant, "")); !isKind(err, model.KindInvalid) {
		t.Fatalf("invalid token: %v", err)
	}
	if tok, ok := s.Token("00000000000000c0"); !ok || tok.Tenant != "acme" {
		t.Fatalf("Token: %+v %v", tok, ok)
	}
	if _, err := s.RevokeToken(ctx, "", boot.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RevokeToken(ctx, "", boot.ID); !isKind(err, model.KindNotFound) {
		t.Fatalf("revoke twice: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	cfg.RaftAddr = s.RaftAddr()
	s2, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	waitFor(t, 5*time.Second, "replay", func() bool { _, ok := s2.Token("00000000000000c0"); return ok })
	if !s2.TokensBootstrapped() {
		t.Fatal("bootstrapped lost across a restart")
	}
	var ids []string
	for _, tok := range s2.Tokens() {
		ids = append(ids, tok.ID)
	}
	if strings.Join(ids, ",") != "00000000000000c0" {
		t.Fatalf("tokens after restart: %v", ids)
	}
}
