package model

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"
)

// Role is what an API token may do (RFC 8014 §14: each tenant limited to
// its own VNs).
type Role string

const (
	// RoleAdmin may do everything: objects, NVEs, membership, tokens.
	RoleAdmin Role = "admin"
	// RoleOperator reads everything and writes VNs and ports.
	RoleOperator Role = "operator"
	// RoleTenant reads and writes only the VNs of its tenant and the
	// ports in them.
	RoleTenant Role = "tenant"
	// RoleReader reads everything and writes nothing.
	RoleReader Role = "reader"
)

// Roles lists every role, in a fixed order.
var Roles = []Role{RoleAdmin, RoleOperator, RoleTenant, RoleReader}

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	for _, k := range Roles {
		if r == k {
			return true
		}
	}
	return false
}

// TokenPrefix starts every API token: nva_<id>_<secret>.
const TokenPrefix = "nva_"

// Lengths of a token's parts, in hex digits.
const (
	TokenIDLen     = 16 // 8 random bytes
	TokenSecretLen = 64 // 32 random bytes
)

// Token is an API credential as the store keeps it: never the secret,
// only its SHA-256 (Hash), found by ID. The bearer form is
// nva_<ID>_<secret> (FormatToken).
type Token struct {
	ID      string    `json:"id"`
	Name    string    `json:"name,omitempty"`
	Role    Role      `json:"role"`
	Tenant  string    `json:"tenant,omitempty"` // RoleTenant only
	Created time.Time `json:"created"`
	// Hash is the hex SHA-256 of the secret; never served by the API.
	Hash     string `json:"-"`
	Revision uint64 `json:"revision,omitempty"`
}

// Validate checks the token's fields.
func (t *Token) Validate() error {
	var fe FieldErrors
	if !isHex(t.ID, TokenIDLen) {
		fe.Add("id", "must be 16 lowercase hex digits")
	}
	if len(t.Name) > 63 || strings.ContainsFunc(t.Name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		fe.Add("name", "must be at most 63 printable characters")
	}
	switch {
	case !t.Role.Valid():
		fe.Add("role", "must be admin, operator, tenant or reader")
	case t.Role == RoleTenant && t.Tenant == "":
		fe.Add("tenant", "is required for role tenant")
	case t.Role == RoleTenant && !ValidName(t.Tenant):
		fe.Add("tenant", "must be 1-63 characters of letters, digits, '_', '.', '-', starting with a letter or digit")
	case t.Role != RoleTenant && t.Tenant != "":
		fe.Add("tenant", "is only for role tenant")
	}
	if !isHex(t.Hash, 64) {
		fe.Add("hash", "must be a hex SHA-256")
	}
	return fe.Err()
}

// HashSecret is the stored form of a token's secret.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// FormatToken renders the bearer form of a token.
func FormatToken(id, secret string) string { return TokenPrefix + id + "_" + secret }

// ParseToken splits a bearer token into its ID and secret.
func ParseToken(s string) (id, secret string, ok bool) {
	rest, found := strings.CutPrefix(s, TokenPrefix)
	if !found {
		return "", "", false
	}
	id, secret, found = strings.Cut(rest, "_")
	if !found || !isHex(id, TokenIDLen) || !isHex(secret, TokenSecretLen) {
		return "", "", false
	}
	return id, secret, true
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
