package fleet

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/nva-project/nva/ovsdb/vswitch"
)

const dbName = "Open_vSwitch"

// The LOCAL port: OFPP_LOCAL in OpenFlow 1.3, 65534 in OVSDB's ofport.
const (
	ofppLocal      = 0xfffffffe
	ofppLocalOVSDB = 65534
)

// OVSDB is a simulated hypervisor's database: a small in-memory OVSDB
// server of our own (dbServer, RFC 7047) with Open vSwitch's schema,
// listening on a unix socket, and the part of ovs-vswitchd nva relies on.
// After every client transaction it looks at the bridge (in-process, in a
// transaction of its own that notifies the monitors once): it numbers
// interfaces that have no OpenFlow port yet (ofport_request when given,
// else the lowest free number, the same number again for a name seen
// before) and marks them up, gives the switch the bridge's
// other_config:datapath-id, its ports (and LOCAL, named after the bridge)
// and the tcp: targets of its controllers.
type OVSDB struct {
	db   *memDB
	srv  *dbServer
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

// vswitchSchema is Open vSwitch's schema compiled once for every
// simulated database (read-only once made).
var vswitchSchema = sync.OnceValues(func() (*dbSchema, error) { return compileSchema(vswitch.Schema()) })

// StartOVSDB serves a fresh Open_vSwitch database (its root row only) on
// the unix socket path and drives sw from it until Close.
func StartOVSDB(path string, sw *Switch) (*OVSDB, error) {
	schema, err := vswitchSchema()
	if err != nil {
		return nil, fmt.Errorf("ovsdb schema: %w", err)
	}
	o := &OVSDB{sw: sw, path: path, kick: make(chan struct{}, 1), done: make(chan struct{}), ofports: map[string]int{}}
	o.db = newMemDB(schema)
	if err := o.db.edit(o, func(t *txn) error {
		_, err := t.insert(o.db.tables[vswitch.OpenvSwitchTable], newUUID(), nil)
		if err != nil {
			return err
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("ovsdb root row: %w", err)
	}
	o.db.onCommit = func(by any) {
		if by != o { // the vswitchd part's own edits need no second look
			o.poke()
		}
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("ovsdb server on %s: %w", path, err)
	}
	o.srv = serveDB(o.db, ln, func() { o.sessions.Add(1) }, func() { o.lost.Add(1) })
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
	o.srv.close()
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

// reconcile is vswitchd's turn after a transaction: one transaction of its
// own that numbers the interfaces and marks them up, then the switch's
// ports, datapath ID and controllers.
func (o *OVSDB) reconcile() error {
	var (
		ports   []Port
		dpid    uint64
		targets []string
		bridge  bool
	)
	err := o.db.edit(o, func(t *txn) error {
		var err error
		ports, dpid, targets, bridge, err = o.vswitchd(t)
		return err
	})
	if err != nil {
		return err
	}
	if !bridge {
		o.sw.SetControllers(nil)
		o.sw.SetPorts(nil)
		return nil
	}
	o.sw.SetPorts(ports)
	if dpid != 0 {
		o.sw.SetDatapathID(dpid)
	}
	o.sw.SetControllers(targets)
	return nil
}

// vswitchd reads the bridge in t and numbers its interfaces there.
func (o *OVSDB) vswitchd(t *txn) (ports []Port, dpid uint64, targets []string, bridge bool, err error) {
	tables := o.db.tables
	brT, portT, ifT, ctlT := tables[vswitch.BridgeTable], tables[vswitch.PortTable], tables[vswitch.InterfaceTable], tables[vswitch.ControllerTable]
	col := func(tb *dbTable, name string) *column { return tb.schema.byName[name] }
	var (
		brName, brPorts, brCtl, brOther = col(brT, "name"), col(brT, "ports"), col(brT, "controller"), col(brT, "other_config")
		pIfs                            = col(portT, "interfaces")
		ifName, ifOfport, ifRequest     = col(ifT, "name"), col(ifT, "ofport"), col(ifT, "ofport_request")
		ifLink, ifAdmin                 = col(ifT, "link_state"), col(ifT, "admin_state")
		ctlTarget                       = col(ctlT, "target")
	)
	var brs []*dbRow
	t.each(brT, func(r *dbRow) bool { brs = append(brs, r); return true })
	if len(brs) == 0 {
		return nil, 0, nil, false, nil
	}
	if len(brs) > 1 {
		return nil, 0, nil, false, fmt.Errorf("%d bridges: the simulation runs one", len(brs))
	}
	br := brs[0]
	name := br.vals[brName.idx].keys[0].s
	type ifc struct {
		row     *dbRow
		name    string
		ofport  int // 0: none
		request int // 0: none
	}
	optInt := func(d datum) int {
		if len(d.keys) == 0 {
			return 0
		}
		return int(d.keys[0].n)
	}
	var ifcs []ifc
	for _, pu := range br.vals[brPorts.idx].keys {
		p := t.get(portT, pu.s)
		if p == nil {
			return nil, 0, nil, false, fmt.Errorf("port %s: no such row", pu.s)
		}
		for _, iu := range p.vals[pIfs.idx].keys {
			i := t.get(ifT, iu.s)
			if i == nil {
				return nil, 0, nil, false, fmt.Errorf("interface %s: no such row", iu.s)
			}
			ifcs = append(ifcs, ifc{row: i, name: i.vals[ifName.idx].keys[0].s, ofport: optInt(i.vals[ifOfport.idx]), request: optInt(i.vals[ifRequest.idx])})
		}
	}
	sort.Slice(ifcs, func(i, j int) bool { return ifcs[i].name < ifcs[j].name })
	used := map[int]bool{}
	for _, i := range ifcs {
		if i.ofport > 0 {
			used[i.ofport] = true
		}
	}
	up := datum{keys: []atom{{s: "up"}}}
	number := func(i ifc, no int) {
		t.modify(ifT, i.row, func(vals []datum) {
			vals[ifOfport.idx] = datum{keys: []atom{{n: int64(no)}}}
			vals[ifLink.idx] = up
			vals[ifAdmin.idx] = up
		})
	}
	o.mu.Lock()
	for _, i := range ifcs {
		no := i.ofport
		if i.name == name { // the bridge's own interface is LOCAL
			if no != ofppLocalOVSDB {
				number(i, ofppLocalOVSDB)
			}
			continue
		}
		if no <= 0 {
			switch {
			case i.request > 0 && !used[i.request]:
				no = i.request
			case o.ofports[i.name] > 0 && !used[o.ofports[i.name]]:
				no = o.ofports[i.name]
			default:
				for no = 1; used[no]; no++ {
				}
			}
			used[no] = true
			number(i, no)
		}
		o.ofports[i.name] = no
		ports = append(ports, Port{No: uint32(no), Name: i.name})
	}
	o.mu.Unlock()
	ports = append(ports, Port{No: ofppLocal, Name: name}) // every bridge has its LOCAL port
	other := br.vals[brOther.idx]
	if j := brOther.find(other, atom{s: "datapath-id"}); j >= 0 {
		s := other.vals[j].s
		v, err := strconv.ParseUint(s, 16, 64)
		if err != nil {
			return nil, 0, nil, false, fmt.Errorf("bridge %s: other_config:datapath-id %q: %w", name, s, err)
		}
		dpid = v
	}
	for _, cu := range br.vals[brCtl.idx].keys {
		c := t.get(ctlT, cu.s)
		if c == nil {
			return nil, 0, nil, false, fmt.Errorf("controller %s: no such row", cu.s)
		}
		if tg := c.vals[ctlTarget.idx].keys[0].s; strings.HasPrefix(tg, "tcp:") {
			targets = append(targets, tg)
		}
	}
	return ports, dpid, targets, true, nil
}
