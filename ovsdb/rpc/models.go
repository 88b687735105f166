package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/ovn-kubernetes/libovsdb/model"
	"github.com/ovn-kubernetes/libovsdb/ovsdb"
)

// Models makes the database model (a client model joined with the server's
// schema, what Monitor decodes rows with) of sessions, sharing one model
// between all servers that send the same schema: a decoded Open_vSwitch
// schema takes ~100 KB, more than the rest of a session. The row decoders
// of a monitor are shared the same way. A model is only read once made, so
// sessions share it safely. Safe for concurrent use.
type Models struct {
	client model.ClientDBModel

	mu      sync.Mutex
	schemas []*Schema // every schema read so far (servers of one version send the same bytes)
}

// Schema is a server's database model, shared by the sessions of every
// server with the same schema (Models.Schema).
type Schema struct {
	Model model.DatabaseModel

	raw []byte // the get_schema result it was made of

	intern *interner // shared strings and maps of its sessions' rows

	mu       sync.Mutex
	monitors map[string]*monitorSpec // by the monitored tables and columns
}

// monitorSpec is what the monitors of the same tables and columns share:
// the row decoders and the encoded monitor-requests.
type monitorSpec struct {
	decoders map[string]*tableDecoder
	requests json.RawMessage
}

// NewModels returns the models of client's database.
func NewModels(client model.ClientDBModel) *Models {
	return &Models{client: client}
}

// Get reads the schema of the session's server (get_schema) and returns
// the database model for it.
func (m *Models) Get(ctx context.Context, s *Session) (model.DatabaseModel, error) {
	sc, err := m.Schema(ctx, s)
	if err != nil {
		return model.DatabaseModel{}, err
	}
	return sc.Model, nil
}

// Schema reads the schema of the session's server (get_schema) and returns
// the shared Schema for it.
func (m *Models) Schema(ctx context.Context, s *Session) (*Schema, error) {
	// The reply is compared with the schemas read before on the reading
	// goroutine, and copied out of the message buffer only when it is a
	// schema not seen before (every session reads the same 27 KB).
	var (
		sc  *Schema
		raw []byte
	)
	err := s.call(ctx, "get_schema", []any{m.client.Name()}, nil, func(result []byte) error {
		if sc = m.known(result); sc == nil {
			raw = bytes.Clone(result)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if sc != nil {
		return sc, nil
	}
	var schema ovsdb.DatabaseSchema
	if err := json.Unmarshal(raw, &schema); err != nil {
		return nil, fmt.Errorf("get_schema: decoding the schema: %w", err)
	}
	dbm, errs := model.NewDatabaseModel(schema, m.client)
	if len(errs) > 0 {
		return nil, fmt.Errorf("the server's %s schema %s does not fit nva's model: %w",
			schema.Name, schema.Version, errors.Join(errs...))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, prev := range m.schemas {
		if bytes.Equal(prev.raw, raw) {
			return prev, nil // another session's read it meanwhile
		}
	}
	sc = &Schema{Model: dbm, raw: raw, intern: newInterner()}
	m.schemas = append(m.schemas, sc)
	return sc, nil
}

// known returns the Schema made of the get_schema result raw before (nil:
// none).
func (m *Models) known(raw []byte) *Schema {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, sc := range m.schemas {
		if bytes.Equal(sc.raw, raw) {
			return sc
		}
	}
	return nil
}

// monitorFor returns the (shared, read-only) row decoders and requests of
// a monitor of tables.
func (sc *Schema) monitorFor(tables []TableColumns) (*monitorSpec, error) {
	var key strings.Builder
	for _, t := range tables {
		key.WriteString(t.Table)
		for _, c := range t.Columns {
			key.WriteByte(' ')
			key.WriteString(c)
		}
		key.WriteByte('\n')
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if m, ok := sc.monitors[key.String()]; ok {
		return m, nil
	}
	d, err := newDecoders(sc.Model, tables)
	if err != nil {
		return nil, err
	}
	reqs, err := monitorRequests(tables)
	if err != nil {
		return nil, err
	}
	if sc.monitors == nil {
		sc.monitors = map[string]*monitorSpec{}
	}
	m := &monitorSpec{decoders: d, requests: reqs}
	sc.monitors[key.String()] = m
	return m, nil
}
