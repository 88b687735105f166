package web

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/gorilla/mux"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/web/wire"
)

// Authentication, authorization and the cross-site checks of the API.
//
// Every request to /api/ (except health and the session endpoints) and
// to /metrics is made by a principal: the token it presents (an
// "Authorization: Bearer nva_<id>_<secret>" header, or the session
// cookie POST /api/v1/session sets for browsers), mapped to its role.
// When AuthOptions.Enforce is off (a loopback API without --auth) a
// request without a token is made by an anonymous admin; a token that is
// presented is still checked. The route decides the roles that may call
// it (routeAccess); a tenant's requests are further scoped to its VNs and
// their ports (scope.go): it sees nothing else, and an object outside its
// scope answers 404 exactly as if it did not exist.
//
// Cross-site protection is always on: a write must be sent as JSON (a
// web page cannot send that cross-origin without a CORS preflight, which
// nva never grants), an Origin header must name this API (same origin) or
// an allowed origin, and, with AuthOptions.Hostnames, the Host header
// must be one of them (DNS rebinding).

// AuthOptions configures authentication and the cross-site checks.
type AuthOptions struct {
	// Enforce requires a token on every non-public request.
	Enforce bool
	// Tokens is the token store; required with Enforce. Without it no
	// token is accepted and the token endpoints answer 501.
	Tokens TokenStore
	// Hostnames are the names the Host header may carry (the port is not
	// compared); empty: the Host header is not checked.
	Hostnames []string
	// AllowedOrigins are origins (scheme://host[:port]) allowed besides
	// the API's own.
	AllowedOrigins []string
}

// TokenStore is what the API needs of the token store (*store.Store).
type TokenStore interface {
	Token(id string) (*model.Token, bool)
	Tokens() []*model.Token
	CreateToken(ctx context.Context, reqID string, t model.Token) (*model.Token, error)
	RevokeToken(ctx context.Context, reqID, id string) (uint64, error)
}

// authConfig is AuthOptions, checked and indexed.
type authConfig struct {
	enforce   bool
	tokens    TokenStore
	hostnames map[string]bool
	origins   map[string]bool
}

func newAuthConfig(o AuthOptions) (*authConfig, error) {
	if o.Enforce && o.Tokens == nil {
		return nil, errors.New("web: AuthOptions.Enforce needs AuthOptions.Tokens")
	}
	c := &authConfig{enforce: o.Enforce, tokens: o.Tokens, hostnames: map[string]bool{}, origins: map[string]bool{}}
	for _, h := range o.Hostnames {
		c.hostnames[normalHost(h)] = true
	}
	for _, or := range o.AllowedOrigins {
		n, err := NormalizeOrigin(or)
		if err != nil {
			return nil, fmt.Errorf("web: allowed origin %q: %w", or, err)
		}
		c.origins[n] = true
	}
	return c, nil
}

// NormalizeOrigin checks an origin (scheme://host[:port], no path) and
// returns it lowercased without a trailing slash.
func NormalizeOrigin(s string) (string, error) {
	u, err := url.Parse(strings.TrimRight(s, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", errors.New("not an http:// or https:// origin")
	}
	if u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", errors.New("an origin has no path, query, fragment or credentials")
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), nil
}

// normalHost lowercases a hostname and drops IPv6 brackets and a
// trailing dot.
func normalHost(h string) string {
	h = strings.TrimSuffix(strings.Trim(strings.ToLower(h), "[]"), ".")
	return h
}

// hostOf is the hostname of a Host header (without the port).
func hostOf(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return normalHost(h)
	}
	return normalHost(hostport)
}

// principal is who makes a request.
type principal struct {
	// anonymous: no token, on an API that does not require one (admin).
	anonymous bool
	tokenID   string
	name      string
	role      model.Role // "" = no rights
	tenant    string     // RoleTenant
}

func (p principal) scoped() bool  { return p.role == model.RoleTenant }
func (p principal) isAdmin() bool { return p.role == model.RoleAdmin }
func (p principal) mayWrite() bool {
	return p.role == model.RoleAdmin || p.role == model.RoleOperator || p.role == model.RoleTenant
}

type principalKey struct{}

// principalFrom is the request's principal; a request that did not pass
// the middleware is an anonymous admin only when tokens are not required.
func (c *authConfig) principalFrom(ctx context.Context) principal {
	if p, ok := ctx.Value(principalKey{}).(principal); ok {
		return p
	}
	if !c.enforce {
		return principal{anonymous: true, role: model.RoleAdmin}
	}
	return principal{}
}

// access is who may call a route.
type access uint8

const (
	accessPublic access = iota // no token needed
	accessAny                  // every role (a tenant scoped)
	accessRead                 // admin, operator, reader
	accessWrite                // admin, operator, tenant (scoped)
	accessAdmin                // admin
)

func (a access) allows(r model.Role) bool {
	switch a {
	case accessPublic:
		return true
	case accessAny:
		return r.Valid()
	case accessRead:
		return r == model.RoleAdmin || r == model.RoleOperator || r == model.RoleReader
	case accessWrite:
		return r == model.RoleAdmin || r == model.RoleOperator || r == model.RoleTenant
	}
	return r == model.RoleAdmin
}

// routeAccess is the access of every route, by "METHOD template". A
// route missing here is admin-only (TestAuthorizationTable checks that
// every route is listed).
var routeAccess = map[string]access{
	"GET /api/v1/health":                accessPublic,
	"POST /api/v1/session":              accessPublic,
	"DELETE /api/v1/session":            accessPublic,
	"GET /api/v1/session":               accessAny,
	"GET /api/v1/cluster":               accessRead,
	"POST /api/v1/cluster/join":         accessAdmin,
	"DELETE /api/v1/cluster/nodes/{id}": accessAdmin,
	"GET /api/v1/topology":              accessAny,
	"GET /api/v1/events":                accessAny,
	"GET /api/v1/switches/unclaimed":    accessRead,
	// Split NVEs' access links (accesslinks.go): scoped, a tenant sees
	// NVEs reduced, so no links.
	"GET /api/v1/access-links":          accessAny,
	"GET /api/v1/access-links/{tnve}":   accessAny,
	"GET /api/v1/nves/{name}/flows":     accessRead,
	"POST /api/v1/batch":                accessWrite,
	"GET /api/v1/vns":                   accessAny,
	"POST /api/v1/vns":                  accessWrite,
	"GET /api/v1/vns/{name}":            accessAny,
	"PATCH /api/v1/vns/{name}":          accessWrite,
	"DELETE /api/v1/vns/{name}":         accessWrite,
	"GET /api/v1/ports":                 accessAny,
	"POST /api/v1/ports":                accessWrite,
	"GET /api/v1/ports/{name}":          accessAny,
	"PATCH /api/v1/ports/{name}":        accessWrite,
	"DELETE /api/v1/ports/{name}":       accessWrite,
	"GET /api/v1/policies":              accessAny, // scoped like VNs (policy.go)
	"POST /api/v1/policies":             accessWrite,
	"GET /api/v1/policies/{name}":       accessAny,
	"PATCH /api/v1/policies/{name}":     accessWrite,
	"DELETE /api/v1/policies/{name}":    accessWrite,
	"GET /api/v1/nves":                  accessRead,
	"POST /api/v1/nves":                 accessAdmin,
	"GET /api/v1/nves/{name}":           accessRead,
	"PATCH /api/v1/nves/{name}":         accessAdmin,
	"DELETE /api/v1/nves/{name}":        accessAdmin,
	"GET /api/v1/tokens":                accessAdmin,
	"POST /api/v1/tokens":               accessAdmin,
	"DELETE /api/v1/tokens/{id}":        accessAdmin,
	"GET /api/v1/snapshot":              accessAdmin, // a backup of every tenant's objects (backup.go)
	"GET /metrics":                      accessRead,
	"POST /api/v1/traces":               accessAny, // a tenant: from its own ports only (trace.go)
	"GET /api/v1/counters":              accessRead,
	"GET /api/v1/vns/{name}/counters":   accessAny, // scoped (counters.go)
	"GET /api/v1/ports/{name}/counters": accessAny,
	"GET /api/v1/learned":               accessAny, // scoped to the tenant's VNs (learned.go)
	"GET /api/v1/vns/{name}/learned":    accessAny, // scoped (learned.go)
	// multihome (tunnels.go): infrastructure, not for tenant-scoped tokens
	"GET /api/v1/tunnels": accessRead,
	// L3 gateways (l3gateway.go): a tenant reads its own; writes are
	// refused to tenants by the scoped backend.
	"GET /api/v1/l3gateways":           accessAny,
	"POST /api/v1/l3gateways":          accessWrite,
	"GET /api/v1/l3gateways/{name}":    accessAny,
	"PATCH /api/v1/l3gateways/{name}":  accessWrite,
	"DELETE /api/v1/l3gateways/{name}": accessWrite,
}

// routeAccessOf is the access of a matched route. The web UI's files
// and the members' /internal/ endpoints (authenticated by the cluster,
// not by API tokens) are public.
func routeAccessOf(method, template string) access {
	if template == "" || strings.HasPrefix(template, "/internal/") {
		return accessPublic
	}
	if method == http.MethodHead {
		method = http.MethodGet
	}
	if a, ok := routeAccess[method+" "+template]; ok {
		return a
	}
	return accessAdmin
}

func unauthorized(format string, args ...any) *APIError {
	return newAPIError(http.StatusUnauthorized, wire.CodeUnauthorized, "", format, args...)
}

func forbidden(field, format string, args ...any) *APIError {
	return newAPIError(http.StatusForbidden, wire.CodeForbidden, field, format, args...)
}

// credential is the token a request presents: the Authorization header
// first, then the session cookie.
func credential(r *http.Request) (tok string, fromCookie bool, err *APIError) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, rest, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(rest) == "" {
			return "", false, unauthorized("the Authorization header must be \"Bearer <token>\"")
		}
		return strings.TrimSpace(rest), false, nil
	}
	if c, err := r.Cookie(wire.SessionCookie); err == nil && c.Value != "" {
		return c.Value, true, nil
	}
	return "", false, nil
}

// lookup finds the stored token a bearer token names and checks its
// secret (constant time).
func (c *authConfig) lookup(bearer string) (*model.Token, bool) {
	if c.tokens == nil {
		return nil, false
	}
	id, secret, ok := model.ParseToken(bearer)
	if !ok {
		return nil, false
	}
	t, ok := c.tokens.Token(id)
	if !ok {
		return nil, false
	}
	if subtle.ConstantTimeCompare([]byte(model.HashSecret(secret)), []byte(t.Hash)) != 1 {
		return nil, false
	}
	return t, true
}

func principalOf(t *model.Token) principal {
	return principal{tokenID: t.ID, name: t.Name, role: t.Role, tenant: t.Tenant}
}

// authenticate finds the request's principal.
func (c *authConfig) authenticate(r *http.Request) (principal, *APIError) {
	bearer, fromCookie, ae := credential(r)
	if ae != nil {
		return principal{}, ae
	}
	if bearer == "" {
		if c.enforce {
			return principal{}, unauthorized("this API requires a token: send \"Authorization: Bearer <token>\" (nvactl --token or NVA_TOKEN)")
		}
		return principal{anonymous: true, role: model.RoleAdmin}, nil
	}
	t, ok := c.lookup(bearer)
	if !ok {
		if fromCookie && !c.enforce {
			// A stale browser session on an API that needs none.
			return principal{anonymous: true, role: model.RoleAdmin}, nil
		}
		return principal{}, unauthorized("the token is not valid: unknown, revoked or malformed")
	}
	return principalOf(t), nil
}

// authorize is the router middleware: it authenticates the request and
// checks that the principal's role may call the matched route.
func (s *Server) authorize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := routeAccessOf(r.Method, infoFrom(r.Context()).route)
		if a == accessPublic {
			// Public, but a valid token still says who calls (the session).
			if p, ae := s.auth.authenticate(r); ae == nil {
				r = r.WithContext(context.WithValue(r.Context(), principalKey{}, p))
			}
			next.ServeHTTP(w, r)
			return
		}
		p, ae := s.auth.authenticate(r)
		if ae != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="nva"`)
			writeError(w, ae)
			return
		}
		if !a.allows(p.role) {
			writeError(w, forbidden("", "role %s may not %s %s", roleName(p), r.Method, r.URL.Path))
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

func roleName(p principal) string {
	if p.role == model.RoleTenant {
		return fmt.Sprintf("tenant (of %q)", p.tenant)
	}
	if p.role == "" {
		return "(none)"
	}
	return string(p.role)
}

// --- cross-site protection ---

func isWrite(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// hasBody reports whether a request carries a body.
func hasBody(r *http.Request) bool {
	return r.ContentLength > 0 || (r.ContentLength < 0 && r.Body != nil && r.Body != http.NoBody)
}

// isJSONType accepts application/json and application/*+json.
func isJSONType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")))
}

// crossSite refuses what a browser can be made to send from another
// site: a request whose Host is not one of the API's names (DNS
// rebinding), whose Origin is another site's, or a write not sent as
// JSON (a form post). The members' /internal/ requests carry their own
// binary bodies and are exempt from the content type rule.
func (s *Server) crossSite(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(s.auth.hostnames) > 0 && !s.auth.hostnames[hostOf(r.Host)] {
			writeError(w, newAPIError(http.StatusMisdirectedRequest, wire.CodeMisdirected, "Host",
				"Host %q is not a name of this API (add it to --api-hostnames)", r.Host))
			return
		}
		if origin := r.Header.Get("Origin"); origin != "" && !s.originAllowed(origin, r) {
			writeError(w, forbidden("Origin", "cross-origin request from %q refused (add the origin to --allowed-origins)", origin))
			return
		}
		if isWrite(r.Method) && !strings.HasPrefix(r.URL.Path, "/internal/") &&
			(r.Method != http.MethodDelete || hasBody(r)) && !isJSONType(r.Header.Get("Content-Type")) {
			writeError(w, newAPIError(http.StatusUnsupportedMediaType, wire.CodeUnsupportedMedia, "Content-Type",
				"a %s must be sent with Content-Type: application/json, not %q", r.Method, r.Header.Get("Content-Type")))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// originAllowed: the request's own origin (the Origin's host and port
// are the Host header's, default ports filled in), or a configured one.
func (s *Server) originAllowed(origin string, r *http.Request) bool {
	n, err := NormalizeOrigin(origin)
	if err != nil {
		return false // "null" (sandboxed frames, files) and garbage
	}
	if s.auth.origins[n] {
		return true
	}
	u, _ := url.Parse(n)
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return strings.EqualFold(withPort(u.Host, u.Scheme), withPort(r.Host, scheme))
}

// withPort adds the scheme's default port to a host without one.
func withPort(host, scheme string) string {
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	port := "80"
	if scheme == "https" {
		port = "443"
	}
	return net.JoinHostPort(strings.Trim(host, "[]"), port)
}

// --- token and session endpoints ---

func (s *Server) authRoutes(api prefixed) {
	api.HandleFunc("/tokens", s.handleListTokens).Methods(http.MethodGet)
	api.HandleFunc("/tokens", s.handleCreateToken).Methods(http.MethodPost)
	api.HandleFunc("/tokens/{id}", s.handleRevokeToken).Methods(http.MethodDelete)
	api.HandleFunc("/session", s.handleGetSession).Methods(http.MethodGet)
	api.HandleFunc("/session", s.handleCreateSession).Methods(http.MethodPost)
	api.HandleFunc("/session", s.handleDeleteSession).Methods(http.MethodDelete)
}

func (s *Server) noTokenStore(w http.ResponseWriter) bool {
	if s.auth.tokens != nil {
		return false
	}
	writeError(w, newAPIError(http.StatusNotImplemented, wire.CodeNotImplemented, "", "this node has no token store"))
	return true
}

func tokenView(t *model.Token) wire.Token {
	return wire.Token{ID: t.ID, Name: t.Name, Role: t.Role, Tenant: t.Tenant, Created: t.Created, Revision: t.Revision}
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("reading random bytes: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// NewToken makes a token of the given fields: the stored form (hash
// only) and the bearer form, shown once.
func NewToken(name string, role model.Role, tenant string, created func() model.Token) (model.Token, string, error) {
	id, err := randomHex(model.TokenIDLen / 2)
	if err != nil {
		return model.Token{}, "", err
	}
	secret, err := randomHex(model.TokenSecretLen / 2)
	if err != nil {
		return model.Token{}, "", err
	}
	t := created()
	t.ID, t.Name, t.Role, t.Tenant, t.Hash = id, name, role, tenant, model.HashSecret(secret)
	return t, model.FormatToken(id, secret), nil
}

func (s *Server) handleCreateToken(w http.ResponseWriter, r *http.Request) {
	if s.noTokenStore(w) {
		return
	}
	body, err := readBody(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	var req wire.TokenRequest
	if err := decodeStrict(body, &req); err != nil {
		writeError(w, err)
		return
	}
	t, bearer, err := NewToken(req.Name, req.Role, req.Tenant, func() model.Token { return model.Token{Created: s.now()} })
	if err != nil {
		writeError(w, err)
		return
	}
	got, err := s.auth.tokens.CreateToken(r.Context(), requestID(r), t)
	if err != nil {
		writeError(w, err)
		return
	}
	v := tokenView(got)
	v.Secret = bearer
	w.Header().Set("Location", "/api/v1/tokens/"+got.ID)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, v)
}

func (s *Server) handleListTokens(w http.ResponseWriter, r *http.Request) {
	if s.noTokenStore(w) {
		return
	}
	out := wire.TokenList{Items: []wire.Token{}}
	for _, t := range s.auth.tokens.Tokens() {
		out.Items = append(out.Items, tokenView(t))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleRevokeToken(w http.ResponseWriter, r *http.Request) {
	if s.noTokenStore(w) {
		return
	}
	idx, err := s.auth.tokens.RevokeToken(r.Context(), requestID(r), mux.Vars(r)["id"])
	if err != nil {
		writeError(w, err)
		return
	}
	s.finishWrite(w, r, false, 0, http.StatusNoContent, idx, nil, nil) // no NVE realizes a token
}

func (s *Server) session(p principal) wire.Session {
	return wire.Session{Auth: s.auth.enforce, TokenID: p.tokenID, Name: p.name, Role: p.role, Tenant: p.tenant}
}

func (s *Server) handleGetSession(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.session(s.auth.principalFrom(r.Context())))
}

// handleCreateSession checks a token and sets it as the session cookie,
// for the web UI: its EventSource cannot send an Authorization header.
func (s *Server) handleCreateSession(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	var req wire.SessionRequest
	if err := decodeStrict(body, &req); err != nil {
		writeError(w, err)
		return
	}
	t, ok := s.auth.lookup(strings.TrimSpace(req.Token))
	if !ok {
		writeError(w, unauthorized("the token is not valid: unknown, revoked or malformed"))
		return
	}
	http.SetCookie(w, &http.Cookie{Name: wire.SessionCookie, Value: strings.TrimSpace(req.Token), Path: "/",
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, s.session(principalOf(t)))
}

func (s *Server) handleDeleteSession(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: wire.SessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	w.WriteHeader(http.StatusNoContent)
}
