package store

import (
	"context"
	"sort"
	"time"

	"github.com/nva-project/nva/app/model"
)

// API tokens (model.Token) are replicated state like the objects, kept
// apart from them: they are in no model.Snapshot and publish no watch
// event (nothing downstream of the store programs anything from them).
// The store holds only each token's SHA-256; the secret never reaches the
// log. Three commands change them: create-token, revoke-token, and
// bootstrap-token, which creates the cluster's first admin token at most
// once in the cluster's life (the "bootstrapped" fact is replicated, so a
// revoked bootstrap token is not recreated by a restart).

// tokenState is the tokens part of the replicated state. Its zero value is
// empty; tokens are never mutated after insertion.
type tokenState struct {
	byID         map[string]*model.Token
	bootstrapped bool
}

func (ts *tokenState) put(t *model.Token) {
	if ts.byID == nil {
		ts.byID = map[string]*model.Token{}
	}
	ts.byID[t.ID] = t
}

// sorted lists the tokens by ID.
func (ts *tokenState) sorted() []*model.Token {
	out := make([]*model.Token, 0, len(ts.byID))
	for _, t := range ts.byID {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// prepareToken is the stateless rule of a stored token: valid fields, and
// the creation time in UTC at second precision (what the log keeps).
func prepareToken(t *model.Token) error {
	t.Revision = 0
	t.Created = t.Created.UTC().Truncate(time.Second)
	return t.Validate()
}

// createToken stores a new token.
type createToken struct {
	ReqID string
	Token model.Token
}

func (c *createToken) cmdType() cmdType  { return cmdCreateToken }
func (c *createToken) requestID() string { return c.ReqID }
func (c *createToken) prepare() error    { return prepareToken(&c.Token) }

func (c *createToken) check(st *state) *model.Error {
	if st.tokens.byID[c.Token.ID] != nil {
		return model.Errorf(model.KindConflict, "id", "token %q already exists", c.Token.ID)
	}
	return nil
}

func (c *createToken) apply(st *state, idx uint64) (*result, []Event) {
	if e := c.check(st); e != nil {
		return &result{Index: idx, Err: e}, nil
	}
	t := c.Token
	t.Revision = idx
	st.tokens.put(&t)
	return &result{Index: idx}, nil
}

// bootstrapToken stores the cluster's first admin token, once: a second
// one is a conflict, whether or not the first still exists.
type bootstrapToken struct {
	ReqID string
	Token model.Token
}

func (c *bootstrapToken) cmdType() cmdType  { return cmdBootstrapToken }
func (c *bootstrapToken) requestID() string { return c.ReqID }

func (c *bootstrapToken) prepare() error {
	if err := prepareToken(&c.Token); err != nil {
		return err
	}
	if c.Token.Role != model.RoleAdmin {
		return model.Errorf(model.KindInvalid, "role", "the bootstrap token must have role admin")
	}
	return nil
}

func (c *bootstrapToken) check(st *state) *model.Error {
	if st.tokens.bootstrapped {
		return model.Errorf(model.KindConflict, "", "the cluster's bootstrap token was already created")
	}
	return (&createToken{Token: c.Token}).check(st)
}

func (c *bootstrapToken) apply(st *state, idx uint64) (*result, []Event) {
	if e := c.check(st); e != nil {
		return &result{Index: idx, Err: e}, nil
	}
	t := c.Token
	t.Revision = idx
	st.tokens.put(&t)
	st.tokens.bootstrapped = true
	return &result{Index: idx}, nil
}

// revokeToken deletes a token.
type revokeToken struct {
	ReqID string
	ID    string
}

func (c *revokeToken) cmdType() cmdType  { return cmdRevokeToken }
func (c *revokeToken) requestID() string { return c.ReqID }

func (c *revokeToken) prepare() error {
	if c.ID == "" {
		return model.Errorf(model.KindInvalid, "id", "token id is required")
	}
	return nil
}

func (c *revokeToken) check(st *state) *model.Error {
	if st.tokens.byID[c.ID] == nil {
		return model.Errorf(model.KindNotFound, "", "token %q not found", c.ID)
	}
	return nil
}

func (c *revokeToken) apply(st *state, idx uint64) (*result, []Event) {
	if e := c.check(st); e != nil {
		return &result{Index: idx, Err: e}, nil
	}
	delete(st.tokens.byID, c.ID)
	return &result{Index: idx}, nil
}

// --- version-1 log format ---

// logToken is a token as the log and snapshots keep it.
type logToken struct {
	ID       string `json:"id"`
	Name     string `json:"name,omitempty"`
	Role     string `json:"role"`
	Tenant   string `json:"tenant,omitempty"`
	Created  int64  `json:"created"` // Unix seconds
	Hash     string `json:"hash"`
	Revision uint64 `json:"revision,omitempty"`
}

func toLogToken(t *model.Token) *logToken {
	if t == nil {
		return nil
	}
	return &logToken{ID: t.ID, Name: t.Name, Role: string(t.Role), Tenant: t.Tenant,
		Created: t.Created.Unix(), Hash: t.Hash, Revision: t.Revision}
}

func (t *logToken) model() *model.Token {
	if t == nil {
		return nil
	}
	return &model.Token{ID: t.ID, Name: t.Name, Role: model.Role(t.Role), Tenant: t.Tenant,
		Created: time.Unix(t.Created, 0).UTC(), Hash: t.Hash, Revision: t.Revision}
}

func (c *createToken) v1() *bodyV1    { return &bodyV1{ReqID: c.ReqID, Token: toLogToken(&c.Token)} }
func (c *bootstrapToken) v1() *bodyV1 { return &bodyV1{ReqID: c.ReqID, Token: toLogToken(&c.Token)} }
func (c *revokeToken) v1() *bodyV1    { return &bodyV1{ReqID: c.ReqID, Name: c.ID} }

func decodeCreateToken(b *bodyV1) (command, error) {
	if b.Token == nil {
		return nil, errNoField("token")
	}
	return &createToken{ReqID: b.ReqID, Token: *b.Token.model()}, nil
}

func decodeBootstrapToken(b *bodyV1) (command, error) {
	if b.Token == nil {
		return nil, errNoField("token")
	}
	return &bootstrapToken{ReqID: b.ReqID, Token: *b.Token.model()}, nil
}

func decodeRevokeToken(b *bodyV1) (command, error) {
	if b.Name == "" {
		return nil, errNoField("name")
	}
	return &revokeToken{ReqID: b.ReqID, ID: b.Name}, nil
}

// tokenSpecs registers the token commands (registry.go).
var tokenSpecs = []cmdSpec{
	{cmdCreateToken, 1, "create-token", decodeV1(decodeCreateToken)},
	{cmdRevokeToken, 1, "revoke-token", decodeV1(decodeRevokeToken)},
	{cmdBootstrapToken, 1, "bootstrap-token", decodeV1(decodeBootstrapToken)},
}

// --- snapshots ---

// tokenRecords are the snapshot records of the token state, in ID order.
func tokenRecords(ts *tokenState) []snapRecord {
	var out []snapRecord
	if ts.bootstrapped {
		out = append(out, snapRecord{TokensBootstrapped: true})
	}
	for _, t := range ts.sorted() {
		out = append(out, snapRecord{Token: toLogToken(t)})
	}
	return out
}

// restoreTokenRecord takes a snapshot record of the token state; false:
// the record is not one.
func restoreTokenRecord(ts *tokenState, rec *snapRecord) bool {
	switch {
	case rec.Token != nil:
		ts.put(rec.Token.model())
	case rec.TokensBootstrapped:
		ts.bootstrapped = true
	default:
		return false
	}
	return true
}

// --- the Store's methods ---

// CreateToken stores a new API token (its secret's hash; see model.Token).
func (s *Store) CreateToken(ctx context.Context, reqID string, t model.Token) (*model.Token, error) {
	c := &createToken{ReqID: orNewReqID(reqID), Token: t}
	res, err := s.write(ctx, c)
	if err != nil {
		return nil, err
	}
	out := c.Token
	out.Revision = res.Index
	return &out, nil
}

// BootstrapToken stores the cluster's first admin token. It fails with a
// KindConflict *model.Error once the cluster has one (TokensBootstrapped),
// even if that token was revoked since; retried with the same reqID after
// an error it answers what the first attempt did, if that was committed.
func (s *Store) BootstrapToken(ctx context.Context, reqID string, t model.Token) error {
	_, err := s.write(ctx, &bootstrapToken{ReqID: orNewReqID(reqID), Token: t})
	return err
}

// RevokeToken deletes a token; it returns the raft index.
func (s *Store) RevokeToken(ctx context.Context, reqID, id string) (uint64, error) {
	res, err := s.write(ctx, &revokeToken{ReqID: orNewReqID(reqID), ID: id})
	if err != nil {
		return 0, err
	}
	return res.Index, nil
}

// Token returns a token by ID from this node's state.
func (s *Store) Token(id string) (*model.Token, bool) {
	s.fsm.mu.RLock()
	defer s.fsm.mu.RUnlock()
	t := s.fsm.st.tokens.byID[id]
	return t, t != nil
}

// Tokens lists this node's tokens by ID.
func (s *Store) Tokens() []*model.Token {
	s.fsm.mu.RLock()
	defer s.fsm.mu.RUnlock()
	return s.fsm.st.tokens.sorted()
}

// TokensBootstrapped reports whether the cluster's bootstrap token was
// created (as far as this node has applied).
func (s *Store) TokensBootstrapped() bool {
	s.fsm.mu.RLock()
	defer s.fsm.mu.RUnlock()
	return s.fsm.st.tokens.bootstrapped
}
