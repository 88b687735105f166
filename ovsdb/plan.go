package ovsdb

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"

	wire "github.com/ovn-kubernetes/libovsdb/ovsdb"

	"github.com/nva-project/nva/ovsdb/vswitch"
)

// snapshot is a consistent copy of the monitored rows of one OVSDB, keyed by
// row UUID. Planning is a pure function of a snapshot and a Desired value.
type snapshot struct {
	root        *rootRow
	bridges     map[string]*bridgeRow
	ports       map[string]*portRow
	ifaces      map[string]*ifaceRow
	controllers map[string]*ctlRow

	// ifaceIndex's answer, made once: a snapshot is never modified, and
	// conn reuses it until the cache changes.
	idxOnce sync.Once
	idx     map[string]ifaceHome
}

func newSnapshot() *snapshot {
	return &snapshot{
		bridges:     map[string]*bridgeRow{},
		ports:       map[string]*portRow{},
		ifaces:      map[string]*ifaceRow{},
		controllers: map[string]*ctlRow{},
	}
}

func (s *snapshot) bridgeByName(name string) *bridgeRow {
	for _, b := range s.bridges {
		if b.Name == name {
			return b
		}
	}
	return nil
}

// ifaceHome is where an interface lives: its port and that port's bridge
// (either may be nil if the rows are not referenced).
type ifaceHome struct {
	iface  *ifaceRow
	port   *portRow
	bridge *bridgeRow
}

// ifaceIndex maps every interface name to where it lives (callers must
// not modify the map).
func (s *snapshot) ifaceIndex() map[string]ifaceHome {
	s.idxOnce.Do(func() { s.idx = s.buildIfaceIndex() })
	return s.idx
}

func (s *snapshot) buildIfaceIndex() map[string]ifaceHome {
	portBridge := make(map[string]*bridgeRow, len(s.ports))
	for _, b := range s.bridges {
		for _, pu := range b.Ports {
			portBridge[pu] = b
		}
	}
	idx := make(map[string]ifaceHome, len(s.ifaces))
	for pu, p := range s.ports {
		for _, iu := range p.Interfaces {
			if i := s.ifaces[iu]; i != nil {
				idx[i.Name] = ifaceHome{iface: i, port: p, bridge: portBridge[pu]}
			}
		}
	}
	for _, i := range s.ifaces {
		if _, ok := idx[i.Name]; !ok {
			idx[i.Name] = ifaceHome{iface: i}
		}
	}
	return idx
}

// consistent reports whether every reference between the snapshot's rows
// resolves and every non-root row is referenced. The monitor cache
// (ovsdb/rpc) swaps each update in at once, so every snapshot should pass;
// the check guards the plans against a cache that does not.
func (s *snapshot) consistent() bool {
	refPorts := make(map[string]bool, len(s.ports))
	refIfaces := make(map[string]bool, len(s.ifaces))
	refCtls := make(map[string]bool, len(s.controllers))
	if s.root != nil {
		for _, bu := range s.root.Bridges {
			if s.bridges[bu] == nil {
				return false
			}
		}
	}
	for _, b := range s.bridges {
		for _, pu := range b.Ports {
			if s.ports[pu] == nil {
				return false
			}
			refPorts[pu] = true
		}
		for _, cu := range b.Controller {
			if s.controllers[cu] == nil {
				return false
			}
			refCtls[cu] = true
		}
	}
	for pu, p := range s.ports {
		if !refPorts[pu] {
			return false
		}
		for _, iu := range p.Interfaces {
			if s.ifaces[iu] == nil {
				return false
			}
			refIfaces[iu] = true
		}
	}
	return len(refIfaces) == len(s.ifaces) && len(refCtls) == len(s.controllers)
}

func owned(ext map[string]string) bool { return ext[OwnedKey] == "true" }

// txn accumulates the operations of one transaction.
type txn struct {
	ops []wire.Operation
	n   int
}

func (t *txn) empty() bool { return len(t.ops) == 0 }

// insert adds an insert operation and returns the row's named UUID, usable as
// a reference elsewhere in the same transaction.
func (t *txn) insert(table string, row wire.Row) string {
	t.n++
	name := fmt.Sprintf("nva_row%d", t.n)
	t.ops = append(t.ops, wire.Operation{Op: wire.OperationInsert, Table: table, Row: row, UUIDName: name})
	return name
}

func whereUUID(uuid string) []wire.Condition {
	return []wire.Condition{wire.NewCondition("_uuid", wire.ConditionEqual, wire.UUID{GoUUID: uuid})}
}

func (t *txn) update(table, uuid string, row wire.Row) {
	if len(row) == 0 {
		return
	}
	t.ops = append(t.ops, wire.Operation{Op: wire.OperationUpdate, Table: table, Row: row, Where: whereUUID(uuid)})
}

// guard adds a wait operation asserting that the row still has the given
// column values, so a transaction computed from a stale cache fails (and is
// recomputed) instead of acting on a state that is gone.
func (t *txn) guard(table, uuid string, row wire.Row) {
	cols := make([]string, 0, len(row))
	for c := range row {
		cols = append(cols, c)
	}
	sort.Strings(cols)
	zero := 0
	t.ops = append(t.ops, wire.Operation{Op: wire.OperationWait, Table: table, Where: whereUUID(uuid),
		Columns: cols, Until: string(wire.WaitConditionEqual), Rows: []wire.Row{row}, Timeout: &zero})
}

func (t *txn) mutate(table, uuid string, muts ...wire.Mutation) {
	if len(muts) == 0 {
		return
	}
	t.ops = append(t.ops, wire.Operation{Op: wire.OperationMutate, Table: table, Mutations: muts, Where: whereUUID(uuid)})
}

// OVSDB value encodings.

func strSet(v ...string) wire.OvsSet {
	s := make([]any, 0, len(v))
	for _, x := range v {
		s = append(s, x)
	}
	return wire.OvsSet{GoSet: s}
}

func uuidSet(v ...string) wire.OvsSet {
	s := make([]any, 0, len(v))
	for _, x := range v {
		s = append(s, wire.UUID{GoUUID: x})
	}
	return wire.OvsSet{GoSet: s}
}

func strMap(m map[string]string) wire.OvsMap {
	g := make(map[any]any, len(m))
	for k, v := range m {
		g[k] = v
	}
	return wire.OvsMap{GoMap: g}
}

func ownedIDs() wire.OvsMap { return strMap(map[string]string{OwnedKey: "true"}) }

// setRefs adds a mutation deleting del and inserting add to a set-of-UUID
// column.
func setRefs(column string, del, add []string) []wire.Mutation {
	var m []wire.Mutation
	if len(del) > 0 {
		sort.Strings(del)
		m = append(m, *wire.NewMutation(column, wire.MutateOperationDelete, uuidSet(del...)))
	}
	if len(add) > 0 {
		m = append(m, *wire.NewMutation(column, wire.MutateOperationInsert, uuidSet(add...)))
	}
	return m
}

// plan is the result of comparing a snapshot with a Desired value.
type plan struct {
	txn
	problems []string // conflicts nva will not resolve by itself (reported in status)
	blocking bool     // a problem keeps the bridge itself (not just a VAP) from being ready
	bridge   *bridgeRow
}

// planEnsure computes the minimal operations that make snapshot s match d.
// It returns an empty plan when they already agree.
func planEnsure(s *snapshot, d Desired) *plan {
	p := &plan{bridge: s.bridgeByName(d.Bridge)}
	if p.bridge == nil {
		p.createBridge(s, d)
		return p
	}
	p.ensureBridge(s, d)
	return p
}

func controllerRow(target string) wire.Row {
	return wire.Row{
		"target":           target,
		"connection_mode":  strSet("out-of-band"),
		"inactivity_probe": wire.OvsSet{GoSet: []any{ControllerInactivityProbeMS}},
		"max_backoff":      wire.OvsSet{GoSet: []any{ControllerMaxBackoffMS}},
		"external_ids":     ownedIDs(),
	}
}

// addPort inserts an nva-owned interface and its port and returns the port's
// named UUID.
func (p *plan) addPort(name, ifType string, options map[string]string) string {
	row := wire.Row{"name": name, "external_ids": ownedIDs()}
	if ifType != "" {
		row["type"] = ifType
	}
	if len(options) > 0 {
		row["options"] = strMap(options)
	}
	iu := p.insert(vswitch.InterfaceTable, row)
	return p.insert(vswitch.PortTable, wire.Row{"name": name, "interfaces": uuidSet(iu), "external_ids": ownedIDs()})
}

// addTunnel inserts a tunnel port with its options and BFD settings.
func (p *plan) addTunnel(t Tunnel) string {
	row := wire.Row{"name": t.Name, "type": t.Type, "options": strMap(t.tunnelOptions()), "external_ids": ownedIDs()}
	if len(t.BFD) > 0 {
		row["bfd"] = strMap(t.BFD)
	}
	iu := p.insert(vswitch.InterfaceTable, row)
	return p.insert(vswitch.PortTable, wire.Row{"name": t.Name, "interfaces": uuidSet(iu), "external_ids": ownedIDs()})
}

// placeable reports whether an interface named name may be added to bridge
// brName, recording a problem if it lives on another bridge.
func (p *plan) placeable(idx map[string]ifaceHome, name, brName string, blocking bool) (onBridge bool, ok bool) {
	h, exists := idx[name]
	if !exists || h.port == nil {
		return false, true
	}
	if h.bridge != nil && h.bridge.Name == brName {
		return true, true
	}
	if h.bridge != nil {
		p.problems = append(p.problems, fmt.Sprintf("interface %q is a port of bridge %q, not %q", name, h.bridge.Name, brName))
		p.blocking = p.blocking || blocking
		return false, false
	}
	return false, true
}

func (p *plan) createBridge(s *snapshot, d Desired) {
	idx := s.ifaceIndex()
	if h, ok := idx[d.Bridge]; ok && h.bridge != nil {
		p.problems = append(p.problems, fmt.Sprintf("cannot create bridge %q: an interface of that name is a port of bridge %q", d.Bridge, h.bridge.Name))
		p.blocking = true
		return
	}
	ports := []string{p.addPort(d.Bridge, "internal", nil)}
	for _, t := range d.Tunnels {
		if _, ok := p.placeable(idx, t.Name, d.Bridge, true); ok {
			ports = append(ports, p.addTunnel(t))
		}
	}
	for _, n := range d.Interfaces {
		if _, ok := p.placeable(idx, n, d.Bridge, false); ok {
			ports = append(ports, p.addPort(n, "", nil))
		}
	}
	var ctls []string
	for _, c := range d.Controllers {
		ctls = append(ctls, p.insert(vswitch.ControllerTable, controllerRow(c)))
	}
	row := wire.Row{
		"name":         d.Bridge,
		"fail_mode":    strSet(vswitch.BridgeFailModeSecure),
		"protocols":    strSet(vswitch.BridgeProtocolsOpenflow13),
		"ports":        uuidSet(ports...),
		"controller":   uuidSet(ctls...),
		"external_ids": ownedIDs(),
	}
	if d.DatapathType != "" {
		row["datapath_type"] = d.DatapathType
	}
	if d.DatapathID != "" {
		row["other_config"] = strMap(map[string]string{datapathIDConfigKey: strings.ToLower(d.DatapathID)})
	}
	bu := p.insert(vswitch.BridgeTable, row)
	if s.root == nil {
		p.insert(vswitch.OpenvSwitchTable, wire.Row{"bridges": uuidSet(bu)})
		return
	}
	p.guard(vswitch.OpenvSwitchTable, s.root.UUID, wire.Row{"bridges": uuidSet(s.root.Bridges...)})
	p.mutate(vswitch.OpenvSwitchTable, s.root.UUID, setRefs("bridges", nil, []string{bu})...)
}

func effectiveDatapathType(t string) string {
	if t == "" {
		return DatapathSystem
	}
	return t
}

// ensureBridge plans the changes that make the existing bridge p.bridge
// match d: its settings, its controllers and its ports, in one guarded
// update of the bridge row; a foreign bridge's original settings are
// recorded in its external_ids before nva first changes them.
func (p *plan) ensureBridge(s *snapshot, d Desired) {
	b := p.bridge
	orig := map[string]string{} // settings of a foreign bridge before nva's first change
	upd, muts := bridgeSettings(b, d, orig)
	delCtl, addCtl := p.ensureControllers(s, d, orig)
	muts = append(muts, setRefs("controller", delCtl, addCtl)...)
	delPorts, addPorts := p.ensurePorts(s, d)
	muts = append(muts, setRefs("ports", delPorts, addPorts)...)
	if len(delCtl)+len(addCtl)+len(delPorts)+len(addPorts) > 0 {
		p.guard(vswitch.BridgeTable, b.UUID, wire.Row{"ports": uuidSet(b.Ports...), "controller": uuidSet(b.Controller...)})
	}
	if !owned(b.ExternalIDs) && len(orig) > 0 {
		// Map "insert" never overwrites a key, so only the first change of
		// each setting is recorded.
		muts = append(muts, *wire.NewMutation("external_ids", wire.MutateOperationInsert, strMap(orig)))
	}
	p.update(vswitch.BridgeTable, b.UUID, upd)
	p.mutate(vswitch.BridgeTable, b.UUID, muts...)
}

// bridgeSettings returns the bridge row's update (datapath type, fail
// mode, protocols) and mutations (datapath ID) that make b match d, and
// records in orig the value each one changes.
func bridgeSettings(b *bridgeRow, d Desired, orig map[string]string) (wire.Row, []wire.Mutation) {
	upd := wire.Row{}
	var muts []wire.Mutation
	if d.DatapathType != "" && effectiveDatapathType(b.DatapathType) != d.DatapathType {
		upd["datapath_type"] = d.DatapathType
		orig[origDatapathType] = b.DatapathType
	}
	if b.FailMode == nil || *b.FailMode != vswitch.BridgeFailModeSecure {
		upd["fail_mode"] = strSet(vswitch.BridgeFailModeSecure)
		cur := ""
		if b.FailMode != nil {
			cur = *b.FailMode
		}
		orig[origFailMode] = cur
	}
	if len(b.Protocols) != 1 || b.Protocols[0] != vswitch.BridgeProtocolsOpenflow13 {
		upd["protocols"] = strSet(vswitch.BridgeProtocolsOpenflow13)
		cur := slices.Clone(b.Protocols)
		sort.Strings(cur)
		orig[origProtocols] = strings.Join(cur, ",")
	}
	if want := strings.ToLower(d.DatapathID); want != "" && b.OtherConfig[datapathIDConfigKey] != want {
		muts = append(muts,
			*wire.NewMutation("other_config", wire.MutateOperationDelete, strSet(datapathIDConfigKey)),
			*wire.NewMutation("other_config", wire.MutateOperationInsert, strMap(map[string]string{datapathIDConfigKey: want})))
		orig[origDatapathID] = b.OtherConfig[datapathIDConfigKey]
	}
	return upd, muts
}

// ensureControllers makes the bridge's controllers exactly the desired
// targets, each with nva's settings: it updates the rows it keeps, inserts
// the missing ones and returns the references to drop and add. The
// targets of foreign controllers it drops are recorded in orig.
func (p *plan) ensureControllers(s *snapshot, d Desired, orig map[string]string) (del, add []string) {
	want := map[string]bool{}
	for _, c := range d.Controllers {
		want[c] = true
	}
	kept := map[string]bool{}
	var foreignTargets []string
	cus := slices.Clone(p.bridge.Controller)
	sort.Strings(cus)
	for _, cu := range cus {
		c := s.controllers[cu]
		if c == nil {
			continue
		}
		if !want[c.Target] || kept[c.Target] {
			del = append(del, cu)
			if !owned(c.ExternalIDs) {
				foreignTargets = append(foreignTargets, c.Target)
			}
			continue
		}
		kept[c.Target] = true
		p.update(vswitch.ControllerTable, cu, controllerSettings(c))
	}
	for _, c := range d.Controllers {
		if !kept[c] {
			add = append(add, p.insert(vswitch.ControllerTable, controllerRow(c)))
		}
	}
	if len(foreignTargets) > 0 {
		sort.Strings(foreignTargets)
		orig[origControllers] = strings.Join(foreignTargets, ",")
	}
	return del, add
}

// controllerSettings is the update that gives a kept controller row nva's
// connection mode, inactivity probe and backoff.
func controllerSettings(c *ctlRow) wire.Row {
	cupd := wire.Row{}
	if c.ConnectionMode == nil || *c.ConnectionMode != vswitch.ControllerConnectionModeOutOfBand {
		cupd["connection_mode"] = strSet(vswitch.ControllerConnectionModeOutOfBand)
	}
	if c.InactivityProbe == nil || *c.InactivityProbe != ControllerInactivityProbeMS {
		cupd["inactivity_probe"] = wire.OvsSet{GoSet: []any{ControllerInactivityProbeMS}}
	}
	if c.MaxBackoff == nil || *c.MaxBackoff != ControllerMaxBackoffMS {
		cupd["max_backoff"] = wire.OvsSet{GoSet: []any{ControllerMaxBackoffMS}}
	}
	return cupd
}

// ensurePorts puts the tunnel ports (with their type and options) and the
// VAP interfaces on the bridge, and returns the references to drop (the
// nva-owned ports no longer wanted) and add.
func (p *plan) ensurePorts(s *snapshot, d Desired) (del, add []string) {
	b := p.bridge
	idx := s.ifaceIndex()
	wantPorts := make(map[string]bool, 1+len(d.Tunnels)+len(d.Interfaces))
	wantPorts[b.Name] = true
	for _, t := range d.Tunnels {
		wantPorts[t.Name] = true
		onBridge, ok := p.placeable(idx, t.Name, b.Name, true)
		switch {
		case !ok:
		case !onBridge:
			add = append(add, p.addTunnel(t))
		default:
			i := idx[t.Name].iface
			iupd := wire.Row{}
			if i.Type != t.Type {
				iupd["type"] = t.Type
			}
			if opts := t.tunnelOptions(); !maps.Equal(i.Options, opts) {
				iupd["options"] = strMap(opts)
			}
			if len(i.BFD) != len(t.BFD) || (len(t.BFD) > 0 && !maps.Equal(i.BFD, t.BFD)) {
				iupd["bfd"] = strMap(t.BFD)
			}
			p.update(vswitch.InterfaceTable, i.UUID, iupd)
		}
	}
	for _, n := range d.Interfaces {
		wantPorts[n] = true
		if onBridge, ok := p.placeable(idx, n, b.Name, false); ok && !onBridge {
			add = append(add, p.addPort(n, "", nil))
		}
	}
	for _, pu := range b.Ports {
		port := s.ports[pu]
		if port == nil || !owned(port.ExternalIDs) || wantPorts[port.Name] {
			continue
		}
		del = append(del, pu)
	}
	return del, add
}

func planRemove(s *snapshot, brName string) *plan {
	p := &plan{bridge: s.bridgeByName(brName)}
	b := p.bridge
	if b == nil {
		return p
	}
	if owned(b.ExternalIDs) {
		if s.root != nil {
			p.mutate(vswitch.OpenvSwitchTable, s.root.UUID, setRefs("bridges", []string{b.UUID}, nil)...)
		}
		return p
	}
	var delPorts, delCtl, addCtl []string
	for _, pu := range b.Ports {
		if port := s.ports[pu]; port != nil && owned(port.ExternalIDs) {
			delPorts = append(delPorts, pu)
		}
	}
	for _, cu := range b.Controller {
		if c := s.controllers[cu]; c != nil && owned(c.ExternalIDs) {
			delCtl = append(delCtl, cu)
		}
	}
	upd := wire.Row{}
	var muts []wire.Mutation
	var origKeys []string
	for k, v := range b.ExternalIDs {
		if !strings.HasPrefix(k, origPrefix) {
			continue
		}
		origKeys = append(origKeys, k)
		switch k {
		case origFailMode:
			if v == "" {
				upd["fail_mode"] = strSet()
			} else {
				upd["fail_mode"] = strSet(v)
			}
		case origProtocols:
			if v == "" {
				upd["protocols"] = strSet()
			} else {
				upd["protocols"] = strSet(strings.Split(v, ",")...)
			}
		case origDatapathType:
			upd["datapath_type"] = v
		case origDatapathID:
			muts = append(muts, *wire.NewMutation("other_config", wire.MutateOperationDelete, strSet(datapathIDConfigKey)))
			if v != "" {
				muts = append(muts, *wire.NewMutation("other_config", wire.MutateOperationInsert, strMap(map[string]string{datapathIDConfigKey: v})))
			}
		case origControllers:
			for _, t := range strings.Split(v, ",") {
				if t != "" {
					addCtl = append(addCtl, p.insert(vswitch.ControllerTable, wire.Row{"target": t}))
				}
			}
		}
	}
	muts = append(muts, setRefs("ports", delPorts, nil)...)
	muts = append(muts, setRefs("controller", delCtl, addCtl)...)
	if len(delPorts)+len(delCtl)+len(addCtl) > 0 {
		p.guard(vswitch.BridgeTable, b.UUID, wire.Row{"ports": uuidSet(b.Ports...), "controller": uuidSet(b.Controller...)})
	}
	if len(origKeys) > 0 {
		sort.Strings(origKeys)
		muts = append(muts, *wire.NewMutation("external_ids", wire.MutateOperationDelete, strSet(origKeys...)))
	}
	p.update(vswitch.BridgeTable, b.UUID, upd)
	p.mutate(vswitch.BridgeTable, b.UUID, muts...)
	return p
}

// ifaceStates reads the bridge's interfaces' ofports, link states and
// errors (as a worker keeps them), sorted by name.
func ifaceStates(s *snapshot, brName string) (out []ifaceState, found bool) {
	b := s.bridgeByName(brName)
	if b == nil {
		return nil, false
	}
	out = make([]ifaceState, 0, len(b.Ports))
	for _, pu := range b.Ports {
		port := s.ports[pu]
		if port == nil {
			continue
		}
		for _, iu := range port.Interfaces {
			i := s.ifaces[iu]
			if i == nil {
				continue
			}
			st := ifaceState{name: i.Name, up: i.LinkState != nil && *i.LinkState == vswitch.InterfaceLinkStateUp}
			if i.Ofport != nil && *i.Ofport > 0 {
				st.ofport = uint32(*i.Ofport)
			}
			if i.Error != nil {
				st.err = *i.Error
			}
			out = append(out, st)
		}
	}
	// (Interface names are unique in the database; were one listed twice,
	// the later wins, as it would in a map by name.)
	slices.SortStableFunc(out, func(a, b ifaceState) int { return strings.Compare(a.name, b.name) })
	k := 0
	for j := range out {
		if j+1 < len(out) && out[j+1].name == out[j].name {
			continue
		}
		out[k] = out[j]
		k++
	}
	return out[:k], true
}

// bfdStatusOf returns the bfd_status of every interface of bridge brName
// that has one, by interface name (nil when none has).
func bfdStatusOf(s *snapshot, brName string) map[string]map[string]string {
	b := s.bridgeByName(brName)
	if b == nil {
		return nil
	}
	var out map[string]map[string]string
	for _, pu := range b.Ports {
		port := s.ports[pu]
		if port == nil {
			continue
		}
		for _, iu := range port.Interfaces {
			if i := s.ifaces[iu]; i != nil && len(i.BFDStatus) > 0 {
				if out == nil {
					out = map[string]map[string]string{}
				}
				out[i.Name] = maps.Clone(i.BFDStatus)
			}
		}
	}
	return out
}
