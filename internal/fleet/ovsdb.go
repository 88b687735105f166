package fleet

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/rpc2"

	"github.com/google/uuid"
	"github.com/ovn-kubernetes/libovsdb/database"
	"github.com/ovn-kubernetes/libovsdb/database/inmemory"
	"github.com/ovn-kubernetes/libovsdb/model"
	"github.com/ovn-kubernetes/libovsdb/ovsdb"
	"github.com/ovn-kubernetes/libovsdb/server"

	"github.com/nva-project/nva/ovsdb/vswitch"
)

const dbName = "Open_vSwitch"

// The LOCAL port: OFPP_LOCAL in OpenFlow 1.3, 65534 in OVSDB's ofport.
const (
	ofppLocal      = 0xfffffffe
	ofppLocalOVSDB = 65534
)

// OVSDB is a simulated hypervisor's database: libovsdb's in-memory OVSDB
// server with Open vSwitch's schema, listening on a unix socket, and the
// part of ovs-vswitchd nva relies on. After every transaction it looks at
// the bridge: it numbers interfaces that have no OpenFlow port yet
// (ofport_request when given, else the lowest free number, the same number
// again for a name seen before) and marks them up, gives the switch the
// bridge's other_config:datapath-id, its ports (and LOCAL, named after the
// bridge) and the tcp: targets of its controllers.
type OVSDB struct {
	srv  *server.OvsdbServer
	db   database.Database
	sw   *Switch
	path string

	kick chan struct{}
	done chan struct{}
	wg   sync.WaitGroup

	sessions, lost atomic.Uint64 // client sessions opened and ended

	mu      sync.Mutex
	ofports map[string]int // interface name -> the number it was given
	err     error          // the last error of the vswitchd part
}

// hookDB is the in-memory database with a callback after every commit.
type hookDB struct {
	database.Database
	onCommit func()
}

func (h hookDB) Commit(db string, id uuid.UUID, u database.Update) error {
	err := h.Database.Commit(db, id, u)
	h.onCommit()
	return err
}

// StartOVSDB serves a fresh Open_vSwitch database (its root row only) on
// the unix socket path and drives sw from it until Close.
func StartOVSDB(path string, sw *Switch) (*OVSDB, error) {
	clientModel, err := vswitch.FullDatabaseModel()
	if err != nil {
		return nil, err
	}
	dbModel, errs := model.NewDatabaseModel(vswitch.Schema(), clientModel)
	if len(errs) > 0 {
		return nil, fmt.Errorf("ovsdb model: %w", errors.Join(errs...))
	}
	o := &OVSDB{sw: sw, path: path, kick: make(chan struct{}, 1), done: make(chan struct{}), ofports: map[string]int{}}
	o.db = hookDB{Database: inmemory.NewDatabase(map[string]model.ClientDBModel{dbName: clientModel}, nil), onCommit: o.poke}
	o.srv, err = server.NewOvsdbServer(o.db, nil, dbModel)
	if err != nil {
		return nil, err
	}
	o.srv.OnConnect(func(*rpc2.Client) { o.sessions.Add(1) })
	o.srv.OnDisConnect(func(*rpc2.Client) { o.lost.Add(1) })
	if err := o.transact(ovsdb.Operation{Op: ovsdb.OperationInsert, Table: vswitch.OpenvSwitchTable, Row: ovsdb.Row{}}); err != nil {
		return nil, fmt.Errorf("ovsdb root row: %w", err)
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- o.srv.Serve("unix", path) }()
	deadline := time.Now().Add(5 * time.Second)
	for !o.srv.Ready() {
		select {
		case err := <-serveErr:
			return nil, fmt.Errorf("ovsdb server on %s: %w", path, err)
		default:
		}
		if time.Now().After(deadline) {
			o.srv.Close()
			return nil, fmt.Errorf("ovsdb server on %s: not ready after 5s", path)
		}
		time.Sleep(5 * time.Millisecond)
	}
	o.wg.Add(1)
	go o.run()
	return o, nil
}

// Endpoint is the address nva is given for this database.
func (o *OVSDB) Endpoint() string { return "unix:" + o.path }

// Err is the last error of the simulated vswitchd (nil: none).
func (o *OVSDB) Err() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.err
}

// Sessions is how many client sessions (nva's) were opened and how many
// ended.
func (o *OVSDB) Sessions() (opened, ended uint64) { return o.sessions.Load(), o.lost.Load() }

// Close stops the server and the vswitchd part (the switch stays as is).
func (o *OVSDB) Close() {
	close(o.done)
	o.wg.Wait()
	o.srv.Close()
}

func (o *OVSDB) poke() {
	select {
	case o.kick <- struct{}{}:
	default:
	}
}

func (o *OVSDB) run() {
	defer o.wg.Done()
	for {
		select {
		case <-o.done:
			return
		case <-o.kick:
			err := o.reconcile()
			o.mu.Lock()
			o.err = err
			o.mu.Unlock()
		}
	}
}

// transact runs operations as a client's transaction would (monitors,
// nva's among them, see the result).
func (o *OVSDB) transact(ops ...ovsdb.Operation) error {
	args := make([]json.RawMessage, 0, 1+len(ops))
	name, _ := json.Marshal(dbName)
	args = append(args, name)
	for _, op := range ops {
		b, err := json.Marshal(op)
		if err != nil {
			return err
		}
		args = append(args, b)
	}
	var reply []*ovsdb.OperationResult
	if err := o.srv.Transact(nil, args, &reply); err != nil {
		return err
	}
	for i, r := range reply {
		if r != nil && r.Error != "" {
			return fmt.Errorf("operation %d: %s: %s", i, r.Error, r.Details)
		}
	}
	return nil
}

// reconcile is vswitchd's turn after a transaction.
func (o *OVSDB) reconcile() error {
	bridges, err := o.db.List(dbName, vswitch.BridgeTable)
	if err != nil {
		return err
	}
	if len(bridges) == 0 {
		o.sw.SetControllers(nil)
		o.sw.SetPorts(nil)
		return nil
	}
	if len(bridges) > 1 {
		return fmt.Errorf("%d bridges: the simulation runs one", len(bridges))
	}
	var br *vswitch.Bridge
	for _, m := range bridges {
		br = m.(*vswitch.Bridge)
	}
	// Interfaces of the bridge's ports, numbered.
	var (
		ports  []Port
		update []ovsdb.Operation
		used   = map[int]bool{}
	)
	type ifc struct {
		uuid string
		row  *vswitch.Interface
	}
	var ifcs []ifc
	for _, pu := range br.Ports {
		pm, err := o.db.Get(dbName, vswitch.PortTable, pu)
		if err != nil {
			return fmt.Errorf("port %s: %w", pu, err)
		}
		for _, iu := range pm.(*vswitch.Port).Interfaces {
			im, err := o.db.Get(dbName, vswitch.InterfaceTable, iu)
			if err != nil {
				return fmt.Errorf("interface %s: %w", iu, err)
			}
			ifcs = append(ifcs, ifc{iu, im.(*vswitch.Interface)})
		}
	}
	sort.Slice(ifcs, func(i, j int) bool { return ifcs[i].row.Name < ifcs[j].row.Name })
	for _, i := range ifcs {
		if i.row.Ofport != nil && *i.row.Ofport > 0 {
			used[*i.row.Ofport] = true
		}
	}
	o.mu.Lock()
	for _, i := range ifcs {
		no := 0
		if i.row.Ofport != nil {
			no = *i.row.Ofport
		}
		if i.row.Name == br.Name { // the bridge's own interface is LOCAL
			if no != ofppLocalOVSDB {
				update = append(update, ovsdb.Operation{
					Op: ovsdb.OperationUpdate, Table: vswitch.InterfaceTable,
					Where: []ovsdb.Condition{ovsdb.NewCondition("_uuid", ovsdb.ConditionEqual, ovsdb.UUID{GoUUID: i.uuid})},
					Row:   ovsdb.Row{"ofport": ofppLocalOVSDB, "link_state": vswitch.InterfaceLinkStateUp, "admin_state": vswitch.InterfaceAdminStateUp},
				})
			}
			continue
		}
		if no <= 0 {
			switch {
			case i.row.OfportRequest != nil && !used[*i.row.OfportRequest]:
				no = *i.row.OfportRequest
			case o.ofports[i.row.Name] > 0 && !used[o.ofports[i.row.Name]]:
				no = o.ofports[i.row.Name]
			default:
				for no = 1; used[no]; no++ {
				}
			}
			used[no] = true
			update = append(update, ovsdb.Operation{
				Op: ovsdb.OperationUpdate, Table: vswitch.InterfaceTable,
				Where: []ovsdb.Condition{ovsdb.NewCondition("_uuid", ovsdb.ConditionEqual, ovsdb.UUID{GoUUID: i.uuid})},
				Row:   ovsdb.Row{"ofport": no, "link_state": vswitch.InterfaceLinkStateUp, "admin_state": vswitch.InterfaceAdminStateUp},
			})
		}
		o.ofports[i.row.Name] = no
		ports = append(ports, Port{No: uint32(no), Name: i.row.Name})
	}
	o.mu.Unlock()
	ports = append(ports, Port{No: ofppLocal, Name: br.Name}) // every bridge has its LOCAL port
	if len(update) > 0 {
		if err := o.transact(update...); err != nil {
			return fmt.Errorf("numbering interfaces: %w", err)
		}
	}
	var dpid uint64
	if s := br.OtherConfig["datapath-id"]; s != "" {
		v, err := strconv.ParseUint(s, 16, 64)
		if err != nil {
			return fmt.Errorf("bridge %s: other_config:datapath-id %q: %w", br.Name, s, err)
		}
		dpid = v
	}
	var targets []string
	for _, cu := range br.Controller {
		cm, err := o.db.Get(dbName, vswitch.ControllerTable, cu)
		if err != nil {
			return fmt.Errorf("controller %s: %w", cu, err)
		}
		if t := cm.(*vswitch.Controller).Target; strings.HasPrefix(t, "tcp:") {
			targets = append(targets, t)
		}
	}
	o.sw.SetPorts(ports)
	if dpid != 0 {
		o.sw.SetDatapathID(dpid)
	}
	o.sw.SetControllers(targets)
	return nil
}
