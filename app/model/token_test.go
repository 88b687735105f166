package model

import (
	"strings"
	"testing"
	"time"
)

func TestTokenFormat(t *testing.T) {
	id, secret := "0123456789abcdef", strings.Repeat("5a", 32)
	bearer := FormatToken(id, secret)
	if bearer != "nva_0123456789abcdef_"+secret {
		t.Fatalf("FormatToken: %q", bearer)
	}
	gotID, gotSecret, ok := ParseToken(bearer)
	if !ok || gotID != id || gotSecret != secret {
		t.Fatalf("ParseToken(%q) = %q %q %v", bearer, gotID, gotSecret, ok)
	}
	for _, bad := range []string{
		"", "nva_", "nva_0123456789abcdef", "nva_0123456789abcdef_",
		"xyz_0123456789abcdef_" + secret,
		"nva_0123456789ABCDEF_" + secret,        // uppercase id
		"nva_0123456789abcde_" + secret + "0",   // short id
		"nva_0123456789abcdef_" + secret[:63],   // short secret
		"nva_0123456789abcdef_" + secret + "_x", // trailing part
		"nva_0123456789abcdef_" + strings.Repeat("g", 64),
	} {
		if _, _, ok := ParseToken(bad); ok {
			t.Errorf("ParseToken accepted %q", bad)
		}
	}
	if HashSecret(secret) == HashSecret(secret+"0") || len(HashSecret(secret)) != 64 {
		t.Fatal("HashSecret")
	}
}

func TestTokenValidate(t *testing.T) {
	ok := Token{ID: "0123456789abcdef", Role: RoleTenant, Tenant: "acme", Created: time.Now(), Hash: HashSecret("x")}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for field, mod := range map[string]func(*Token){
		"id":     func(t *Token) { t.ID = "short" },
		"name":   func(t *Token) { t.Name = "bad\nname" },
		"role":   func(t *Token) { t.Role = "root" },
		"tenant": func(t *Token) { t.Tenant = "" },
		"hash":   func(t *Token) { t.Hash = "secret" },
	} {
		tok := ok
		mod(&tok)
		e, isErr := AsError(tok.Validate())
		if !isErr || e.Field != field {
			t.Errorf("%s: %v", field, tok.Validate())
		}
	}
	reader := ok
	reader.Role = RoleReader
	if e, _ := AsError(reader.Validate()); e == nil || e.Field != "tenant" {
		t.Errorf("a reader with a tenant: %v", reader.Validate())
	}
}
