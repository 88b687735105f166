package ovsdb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"
	"weak"

	"github.com/ovn-kubernetes/libovsdb/model"
	wire "github.com/ovn-kubernetes/libovsdb/ovsdb"

	"github.com/nva-project/nva/ovsdb/rpc"
	"github.com/nva-project/nva/ovsdb/vswitch"
)

const dbName = "Open_vSwitch"

type opLike = wire.Operation

// dbModel is the part of the Open_vSwitch database nva reads and writes.
func dbModel() (model.ClientDBModel, error) {
	return model.NewClientDBModel(dbName, map[string]model.Model{
		vswitch.OpenvSwitchTable: &rootRow{},
		vswitch.BridgeTable:      &bridgeRow{},
		vswitch.PortTable:        &portRow{},
		vswitch.InterfaceTable:   &ifaceRow{},
		vswitch.ControllerTable:  &ctlRow{},
	})
}

// mustDBModel is dbModel, whose tables are fixed: an error is a bug.
func mustDBModel() model.ClientDBModel {
	m, err := dbModel()
	if err != nil {
		panic(fmt.Sprintf("OVSDB client model: %v", err))
	}
	return m
}

// monitored is what nva reads of the Open_vSwitch database: the columns it
// plans with and reports (not the statistics, which change every few
// seconds).
func monitored() []rpc.TableColumns {
	return []rpc.TableColumns{
		{Table: vswitch.OpenvSwitchTable, Columns: []string{"bridges"}},
		{Table: vswitch.BridgeTable, Columns: []string{"name", "ports", "controller", "datapath_type", "fail_mode",
			"protocols", "other_config", "external_ids"}},
		{Table: vswitch.PortTable, Columns: []string{"name", "interfaces", "external_ids"}},
		{Table: vswitch.InterfaceTable, Columns: []string{"name", "type", "options", "ofport", "link_state",
			"error", "external_ids", "bfd", "bfd_status"}},
		{Table: vswitch.ControllerTable, Columns: []string{"target", "connection_mode", "inactivity_probe", "max_backoff",
			"external_ids"}},
	}
}

// conn is one OVSDB session (ovsdb/rpc) with its monitor cache. A lost
// session is never revived: the worker dials a new one, whose fresh monitor
// makes the next ensure start from the server's real state.
type conn struct {
	sess  *rpc.Session
	cache *rpc.Cache
	kick  chan struct{}   // a monitored row changed (capacity 1, coalescing)
	lost  <-chan struct{} // closed when the session ends
	done  chan struct{}   // closed by close()

	// The last consistent snapshot and the cache generation it was read
	// at: the next snapshot of the same generation is the same rows, so it
	// is reused with its interface index, as long as somebody still holds
	// it (weak: an idle connection keeps no copy of its rows).
	memoMu  sync.Mutex
	memo    weak.Pointer[snapshot]
	memoGen uint64
}

// shared is what the sessions of a Manager share: the prober, which
// probes all of them on one timer, the database models made of the
// schemas they read, and the buffers they read messages into (rpc.Config).
type shared struct {
	prober *rpc.Prober
	models *rpc.Models
	bufs   *rpc.Buffers
}

// dial connects to d.Endpoint, reads the schema (sh.models shares the
// model made of it between sessions) and starts a monitor of the columns
// nva uses. probe is the session's inactivity probe.
func dial(ctx context.Context, d Desired, probe time.Duration, sh shared, log *slog.Logger) (*conn, error) {
	sess, err := rpc.Dial(ctx, d.Endpoint, rpc.Config{TLS: d.TLS, ProbeInterval: probe, Prober: sh.prober, Buffers: sh.bufs, Logger: log})
	if err != nil {
		return nil, connectError(d.Endpoint, err)
	}
	return open(ctx, sess, d.Endpoint, sh)
}

// open reads the schema over a new session to endpoint and starts the
// monitor (dial's part after the connect).
func open(ctx context.Context, sess *rpc.Session, endpoint string, sh shared) (*conn, error) {
	c := &conn{sess: sess, kick: make(chan struct{}, 1), lost: sess.Lost(), done: make(chan struct{})}
	sc, err := sh.models.Schema(ctx, sess)
	if err != nil {
		c.close()
		return nil, connectError(endpoint, err)
	}
	c.cache, err = sess.MonitorSchema(ctx, sc, monitored(), c.poke)
	if err != nil {
		c.close()
		return nil, fmt.Errorf("monitor %s: %w", endpoint, err)
	}
	// The initial rows poked the connection; whoever dialled reads them
	// next (a snapshot taken after this sees them and any update since,
	// which pokes again), so that poke would only ask for a second look
	// at the same rows.
	select {
	case <-c.kick:
	default:
	}
	return c, nil
}

// connectError is what a failed connect reports in the NVE's status while
// the worker retries: the dial error an operator acts on ("dial unix
// /run/openvswitch/db.sock: no such file or directory") without nested
// prefixes; other failures (TLS, the handshake) keep
// their full text.
func connectError(endpoint string, err error) error {
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "dial" {
		return fmt.Errorf("connect %s: %w", endpoint, err)
	}
	cause := op.Err
	var sc *os.SyscallError
	if errors.As(cause, &sc) {
		cause = sc.Err
	}
	addr := strings.TrimPrefix(strings.TrimPrefix(endpoint, "tcp:"), "unix:")
	if op.Addr != nil {
		addr = op.Addr.String()
	}
	return fmt.Errorf("dial %s %s: %w", op.Net, addr, cause)
}

func (c *conn) poke() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *conn) close() {
	select {
	case <-c.done:
		return
	default:
	}
	close(c.done)
	c.sess.Close()
}

// errConflict means the database changed between reading the cache and
// the transaction (a guard failed); the ensure is simply recomputed.
var errConflict = errors.New("database changed concurrently")

// errInconsistent means a snapshot's rows referred to rows it lacked.
var errInconsistent = errors.New("OVSDB cache is not consistent")

// snapshot copies the monitored rows out of the cache: the rows between two
// updates, since the cache applies each update at once. While the cache has
// not changed, it returns the last snapshot again (callers must not modify
// a snapshot).
func (c *conn) snapshot() (*snapshot, error) {
	select {
	case <-c.lost:
		return nil, errNotConnected
	default:
	}
	c.memoMu.Lock()
	defer c.memoMu.Unlock()
	if s := c.memo.Value(); s != nil && c.memoGen == c.cache.Generation() {
		return s, nil
	}
	s, gen := c.read()
	if !s.consistent() {
		return nil, errInconsistent
	}
	c.memo, c.memoGen = weak.Make(s), gen
	return s, nil
}

// rowsByUUID maps a table's rows (ReadRows's) by UUID.
func rowsByUUID[T any](uuids []string, rows []model.Model) map[string]*T {
	m := make(map[string]*T, len(rows))
	for i, r := range rows {
		m[uuids[i]] = r.(*T)
	}
	return m
}

// read copies the cache's rows into a snapshot, and returns the cache
// generation it read.
func (c *conn) read() (*snapshot, uint64) {
	// (every table is monitored; a map is empty, not nil, regardless)
	s := &snapshot{ifaces: map[string]*ifaceRow{}, ports: map[string]*portRow{},
		controllers: map[string]*ctlRow{}, bridges: map[string]*bridgeRow{}}
	gen := c.cache.ReadRows(func(table string, uuids []string, rows []model.Model) {
		switch table {
		case vswitch.InterfaceTable:
			s.ifaces = rowsByUUID[ifaceRow](uuids, rows)
		case vswitch.PortTable:
			s.ports = rowsByUUID[portRow](uuids, rows)
		case vswitch.ControllerTable:
			s.controllers = rowsByUUID[ctlRow](uuids, rows)
		case vswitch.BridgeTable:
			s.bridges = rowsByUUID[bridgeRow](uuids, rows)
		case vswitch.OpenvSwitchTable:
			if len(rows) > 0 {
				s.root = rows[0].(*rootRow)
			}
		}
	})
	return s, gen
}

// transact sends ops as one transaction and turns per-operation failures into
// one error.
func (c *conn) transact(ctx context.Context, ops []wire.Operation) error {
	res, err := c.sess.Transact(ctx, dbName, ops)
	if err != nil {
		if errors.Is(err, rpc.ErrClosed) {
			return fmt.Errorf("transact: %w", errNotConnected)
		}
		return fmt.Errorf("transact: %w", err)
	}
	opErrs, err := wire.CheckOperationResults(res, ops)
	if err != nil {
		msgs := make([]string, 0, len(opErrs))
		for _, e := range opErrs {
			if _, ok := e.(*wire.TimedOut); ok && e.Operation() != nil && e.Operation().Op == wire.OperationWait {
				return fmt.Errorf("transact: %w", errConflict)
			}
			msgs = append(msgs, e.Error())
		}
		if len(msgs) == 0 {
			return fmt.Errorf("transact: %w", err)
		}
		return fmt.Errorf("transact: %s", strings.Join(msgs, "; "))
	}
	return nil
}
