package ovsdb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/ovn-kubernetes/libovsdb/cache"
	"github.com/ovn-kubernetes/libovsdb/client"
	"github.com/ovn-kubernetes/libovsdb/model"
	wire "github.com/ovn-kubernetes/libovsdb/ovsdb"

	"github.com/nva-project/nva/ovsdb/vswitch"
)

type opLike = wire.Operation

// dbModel is the part of the Open_vSwitch database nva reads and writes.
func dbModel() (model.ClientDBModel, error) {
	return model.NewClientDBModel("Open_vSwitch", map[string]model.Model{
		vswitch.OpenvSwitchTable: &vswitch.OpenvSwitch{},
		vswitch.BridgeTable:      &vswitch.Bridge{},
		vswitch.PortTable:        &vswitch.Port{},
		vswitch.InterfaceTable:   &vswitch.Interface{},
		vswitch.ControllerTable:  &vswitch.Controller{},
	})
}

// conn is one OVSDB session with its monitor cache. A lost session is never
// revived: the worker dials a new one, whose fresh monitor makes the next
// ensure start from the server's real state.
type conn struct {
	client client.Client
	kick   chan struct{} // a monitored row changed (capacity 1, coalescing)
	lost   chan struct{} // closed when the session drops
	done   chan struct{} // closed by close()
}

// dial connects to d.Endpoint and starts a monitor of the columns nva uses
// (not the statistics, which change every few seconds).
func dial(ctx context.Context, d Desired, log *slog.Logger) (*conn, error) {
	dbm, err := dbModel()
	if err != nil {
		return nil, fmt.Errorf("OVSDB model: %w", err)
	}
	lr := logr.FromSlogHandler(log.Handler())
	opts := []client.Option{client.WithEndpoint(d.Endpoint), client.WithLogger(&lr)}
	if d.TLS != nil {
		opts = append(opts, client.WithTLSConfig(d.TLS))
	}
	cl, err := client.NewOVSDBClient(dbm, opts...)
	if err != nil {
		return nil, fmt.Errorf("OVSDB client for %s: %w", d.Endpoint, err)
	}
	c := &conn{client: cl, kick: make(chan struct{}, 1), lost: make(chan struct{}), done: make(chan struct{})}
	// Listen for the disconnect notification before connecting: libovsdb
	// sends it without blocking, so a late listener would miss it.
	notify := cl.DisconnectNotify()
	go func() {
		select {
		case <-notify:
			close(c.lost)
		case <-c.done:
		}
	}()
	if err := cl.Connect(ctx); err != nil {
		c.close()
		return nil, connectError(d.Endpoint, err)
	}
	cl.Cache().AddEventHandler(&cache.EventHandlerFuncs{
		AddFunc:    func(string, model.Model) { c.poke() },
		UpdateFunc: func(string, model.Model, model.Model) { c.poke() },
		DeleteFunc: func(string, model.Model) { c.poke() },
	})
	var (
		ovs vswitch.OpenvSwitch
		br  vswitch.Bridge
		pt  vswitch.Port
		ifc vswitch.Interface
		ctl vswitch.Controller
	)
	mon := cl.NewMonitor(
		client.WithTable(&ovs, &ovs.Bridges),
		client.WithTable(&br, &br.Name, &br.Ports, &br.Controller, &br.DatapathType, &br.FailMode,
			&br.Protocols, &br.OtherConfig, &br.ExternalIDs),
		client.WithTable(&pt, &pt.Name, &pt.Interfaces, &pt.ExternalIDs),
		client.WithTable(&ifc, &ifc.Name, &ifc.Type, &ifc.Options, &ifc.Ofport, &ifc.LinkState,
			&ifc.Error, &ifc.ExternalIDs, &ifc.BFD, &ifc.BFDStatus),
		client.WithTable(&ctl, &ctl.Target, &ctl.ConnectionMode, &ctl.InactivityProbe, &ctl.MaxBackoff,
			&ctl.ExternalIDs),
	)
	if len(mon.Errors) > 0 {
		c.close()
		return nil, fmt.Errorf("OVSDB monitor request: %w", errors.Join(mon.Errors...))
	}
	if _, err := cl.Monitor(ctx, mon); err != nil {
		c.close()
		return nil, fmt.Errorf("monitor %s: %w", d.Endpoint, err)
	}
	return c, nil
}

// connectError is what a failed connect reports in the NVE's status while
// the worker retries: the dial error an operator acts on ("dial unix
// /run/openvswitch/db.sock: no such file or directory") rather than
// libovsdb's nested prefixes; other failures (TLS, the handshake) keep
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
	c.client.Close()
}

// errConflict means the database changed between reading the cache and
// the transaction (a guard failed); the ensure is simply recomputed.
var errConflict = errors.New("database changed concurrently")

// errInconsistent means the cache kept changing while it was being read.
var errInconsistent = errors.New("OVSDB cache did not settle to a consistent state")

// snapshot copies the monitored rows out of the cache, re-reading while an
// update is half applied.
func (c *conn) snapshot() (*snapshot, error) {
	for i := 0; i < 200; i++ {
		s, err := c.read()
		if err != nil {
			return nil, err
		}
		if s.consistent() {
			return s, nil
		}
		time.Sleep(time.Millisecond)
	}
	return nil, errInconsistent
}

func (c *conn) read() (*snapshot, error) {
	tc := c.client.Cache()
	if tc == nil || !c.client.Connected() {
		return nil, errNotConnected
	}
	s := newSnapshot()
	if t := tc.Table(vswitch.InterfaceTable); t != nil {
		for u, m := range t.Rows() {
			s.ifaces[u] = m.(*vswitch.Interface)
		}
	}
	if t := tc.Table(vswitch.PortTable); t != nil {
		for u, m := range t.Rows() {
			s.ports[u] = m.(*vswitch.Port)
		}
	}
	if t := tc.Table(vswitch.ControllerTable); t != nil {
		for u, m := range t.Rows() {
			s.controllers[u] = m.(*vswitch.Controller)
		}
	}
	if t := tc.Table(vswitch.BridgeTable); t != nil {
		for u, m := range t.Rows() {
			s.bridges[u] = m.(*vswitch.Bridge)
		}
	}
	if t := tc.Table(vswitch.OpenvSwitchTable); t != nil {
		for _, m := range t.Rows() {
			s.root = m.(*vswitch.OpenvSwitch)
			break
		}
	}
	return s, nil
}

// transact sends ops as one transaction and turns per-operation failures into
// one error.
func (c *conn) transact(ctx context.Context, ops []wire.Operation) error {
	res, err := c.client.Transact(ctx, ops...)
	if err != nil {
		if errors.Is(err, client.ErrNotConnected) {
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
