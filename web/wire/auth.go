package wire

import (
	"time"

	"github.com/nva-project/nva/app/model"
)

// Error codes of authentication, authorization and the cross-site checks.
const (
	CodeUnauthorized = "unauthorized" // 401: no token, or one nva does not know
	CodeForbidden    = "forbidden"    // 403: the token's role may not do this, or a cross-site request
	CodeMisdirected  = "misdirected"  // 421: the Host header names no configured API hostname
)

// SessionCookie is the cookie POST /api/v1/session sets: the token, for
// clients that cannot send an Authorization header (the browser's
// EventSource). HttpOnly and SameSite=Strict.
const SessionCookie = "nva_session"

// TokenRequest is the body of POST /api/v1/tokens.
type TokenRequest struct {
	Name   string     `json:"name,omitempty"`
	Role   model.Role `json:"role"`
	Tenant string     `json:"tenant,omitempty"`
}

// Token is a token as the API shows it: never its secret or hash, except
// Secret in the answer of the create that made it (the only time it is
// shown).
type Token struct {
	ID       string     `json:"id"`
	Name     string     `json:"name,omitempty"`
	Role     model.Role `json:"role"`
	Tenant   string     `json:"tenant,omitempty"`
	Created  time.Time  `json:"created"`
	Revision uint64     `json:"revision,omitempty"`
	// Secret is the bearer token (nva_<id>_<secret>), in the create's
	// answer only.
	Secret string `json:"token,omitempty"`
}

// TokenList is the body of GET /api/v1/tokens.
type TokenList struct {
	Items []Token `json:"items"`
}

// SessionRequest is the body of POST /api/v1/session.
type SessionRequest struct {
	Token string `json:"token"`
}

// Session says who the caller is: the body of GET and POST
// /api/v1/session. Auth is false when the node does not require tokens
// (a loopback API without --auth): the caller then has the admin role.
type Session struct {
	Auth    bool       `json:"auth"`
	TokenID string     `json:"token_id,omitempty"`
	Name    string     `json:"name,omitempty"`
	Role    model.Role `json:"role"`
	Tenant  string     `json:"tenant,omitempty"`
}
