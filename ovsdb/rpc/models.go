package rpc

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/ovn-kubernetes/libovsdb/model"
	"github.com/ovn-kubernetes/libovsdb/ovsdb"
)

// Models makes the database model (a client model joined with the server's
// schema, what Monitor decodes rows with) of sessions, sharing one model
// between all servers that send the same schema: a decoded Open_vSwitch
// schema takes ~100 KB, more than the rest of a session. A model is only
// read once made, so sessions share it safely. Safe for concurrent use.
type Models struct {
	client model.ClientDBModel

	mu       sync.Mutex
	byDigest map[[sha256.Size]byte]model.DatabaseModel
}

// NewModels returns the models of client's database.
func NewModels(client model.ClientDBModel) *Models {
	return &Models{client: client, byDigest: map[[sha256.Size]byte]model.DatabaseModel{}}
}

// Get reads the schema of the session's server (get_schema) and returns
// the database model for it.
func (m *Models) Get(ctx context.Context, s *Session) (model.DatabaseModel, error) {
	var raw json.RawMessage
	if err := s.Call(ctx, "get_schema", []any{m.client.Name()}, &raw); err != nil {
		return model.DatabaseModel{}, err
	}
	digest := sha256.Sum256(raw)
	m.mu.Lock()
	dbm, ok := m.byDigest[digest]
	m.mu.Unlock()
	if ok {
		return dbm, nil
	}
	var schema ovsdb.DatabaseSchema
	if err := json.Unmarshal(raw, &schema); err != nil {
		return model.DatabaseModel{}, fmt.Errorf("get_schema: decoding the schema: %w", err)
	}
	dbm, errs := model.NewDatabaseModel(schema, m.client)
	if len(errs) > 0 {
		return model.DatabaseModel{}, fmt.Errorf("the server's %s schema %s does not fit nva's model: %w",
			schema.Name, schema.Version, errors.Join(errs...))
	}
	m.mu.Lock()
	if prev, ok := m.byDigest[digest]; ok {
		dbm = prev
	} else {
		m.byDigest[digest] = dbm
	}
	m.mu.Unlock()
	return dbm, nil
}
