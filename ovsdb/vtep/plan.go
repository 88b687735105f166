package vtep

import (
	"context"
	"fmt"
	hw "github.com/nva-project/nva/ovsdb/hwvtep"
	"maps"
	"slices"
	"strings"

	"github.com/ovn-kubernetes/libovsdb/client"
	"github.com/ovn-kubernetes/libovsdb/model"
	"github.com/ovn-kubernetes/libovsdb/ovsdb"
)

// owner marks the Logical_Switch rows nva created (their description).
const owner = "nva"

// unknownDst is the Mcast_Macs_Remote MAC of a logical switch's BUM
// replication list.
const unknownDst = "unknown-dst"

const vxlan = "vxlan_over_ipv4"

// view is one read of a VTEP's database (the monitor cache).
type view struct {
	ps       *hw.PhysicalSwitch
	ports    []hw.PhysicalPort // the switch's, by name
	lsByName map[string]*hw.LogicalSwitch
	owned    map[string]*hw.LogicalSwitch // nva's logical switches by UUID
	locByIP  map[string]string            // vxlan locator dst_ip -> UUID
	locIP    map[string]string            // locator UUID -> dst_ip
	sets     map[string][]string          // locator set UUID -> locator UUIDs
	ucast    []hw.UcastMacsRemote
	mcast    []hw.McastMacsRemote
	local    []hw.UcastMacsLocal
	mlocal   []hw.McastMacsLocal
}

// read loads the view from the cache. tunnelIP picks the Physical_Switch.
func read(ctx context.Context, cl client.Client, tunnelIP string) (*view, error) {
	var (
		switches []hw.PhysicalSwitch
		ports    []hw.PhysicalPort
		lss      []hw.LogicalSwitch
		locs     []hw.PhysicalLocator
		sets     []hw.PhysicalLocatorSet
	)
	v := &view{lsByName: map[string]*hw.LogicalSwitch{}, owned: map[string]*hw.LogicalSwitch{},
		locByIP: map[string]string{}, locIP: map[string]string{}, sets: map[string][]string{}}
	for _, l := range []any{&switches, &ports, &lss, &locs, &sets, &v.ucast, &v.mcast, &v.local, &v.mlocal} {
		if err := cl.List(ctx, l); err != nil {
			return nil, fmt.Errorf("read the VTEP's database: %w", err)
		}
	}
	for i := range switches {
		if slices.Contains(switches[i].TunnelIPs, tunnelIP) {
			v.ps = &switches[i]
		}
	}
	if v.ps == nil && len(switches) == 1 {
		v.ps = &switches[0]
	}
	if v.ps == nil {
		return nil, fmt.Errorf("no Physical_Switch with tunnel_ips %s (the database has %d switches)", tunnelIP, len(switches))
	}
	for _, p := range ports {
		if slices.Contains(v.ps.Ports, p.UUID) {
			v.ports = append(v.ports, p)
		}
	}
	slices.SortFunc(v.ports, func(a, b hw.PhysicalPort) int { return strings.Compare(a.Name, b.Name) })
	for i := range lss {
		ls := &lss[i]
		v.lsByName[ls.Name] = ls
		if ls.Description == owner {
			v.owned[ls.UUID] = ls
		}
	}
	for _, l := range locs {
		if l.EncapsulationType == vxlan && l.TunnelKey == nil {
			if _, dup := v.locByIP[l.DstIP]; !dup {
				v.locByIP[l.DstIP] = l.UUID
			}
		}
		v.locIP[l.UUID] = l.DstIP
	}
	for _, s := range sets {
		v.sets[s.UUID] = s.Locators
	}
	return v, nil
}

// plan builds the operations that bring the VTEP's database from v to d,
// changing only what differs (none when they agree), and warns about what
// it cannot do.
type plan struct {
	cl       client.Client
	v        *view
	ops      []ovsdb.Operation
	warnings []string
	named    int
	newLocs  map[string]string // dst_ip -> named UUID inserted by this plan
}

func (p *plan) warn(format string, args ...any) {
	p.warnings = append(p.warnings, fmt.Sprintf(format, args...))
}

func (p *plan) add(ops []ovsdb.Operation, err error) error {
	if err != nil {
		return err
	}
	p.ops = append(p.ops, ops...)
	return nil
}

func (p *plan) name(prefix string) string {
	p.named++
	return fmt.Sprintf("nva%s%d", prefix, p.named)
}

// locator returns the Physical_Locator UUID for ip, inserting one (once)
// when the database has none.
func (p *plan) locator(ip string) (string, error) {
	if u, ok := p.v.locByIP[ip]; ok {
		return u, nil
	}
	if u, ok := p.newLocs[ip]; ok {
		return u, nil
	}
	u := p.name("loc")
	if err := p.add(p.cl.Create(&hw.PhysicalLocator{UUID: u, DstIP: ip, EncapsulationType: vxlan})); err != nil {
		return "", err
	}
	p.newLocs[ip] = u
	return u, nil
}

func makePlan(cl client.Client, v *view, d Desired) (*plan, error) {
	p := &plan{cl: cl, v: v, newLocs: map[string]string{}}
	mode := hw.LogicalSwitchReplicationModeSourceNode
	lsRef := map[string]string{} // VN -> logical switch UUID (or named UUID)
	keep := map[string]bool{}    // owned logical switches still desired
	for _, vn := range d.VNs {
		ls := v.lsByName[vn.Name]
		switch {
		case ls == nil:
			u := p.name("ls")
			key := vn.VNI
			if err := p.add(cl.Create(&hw.LogicalSwitch{UUID: u, Name: vn.Name, Description: owner, TunnelKey: &key, ReplicationMode: &mode})); err != nil {
				return nil, err
			}
			lsRef[vn.Name] = u
		case ls.Description != owner:
			p.warn("VN %s: the VTEP has a Logical_Switch %s that nva did not create; VN not bound", vn.Name, vn.Name)
			continue
		default:
			lsRef[vn.Name], keep[ls.UUID] = ls.UUID, true
			if ls.TunnelKey == nil || *ls.TunnelKey != vn.VNI || ls.ReplicationMode == nil || *ls.ReplicationMode != mode {
				key := vn.VNI
				m := &hw.LogicalSwitch{UUID: ls.UUID, TunnelKey: &key, ReplicationMode: &mode}
				if err := p.add(cl.Where(m).Update(m, &m.TunnelKey, &m.ReplicationMode)); err != nil {
					return nil, err
				}
			}
		}
	}
	if err := p.bindings(d, lsRef); err != nil {
		return nil, err
	}
	if err := p.macs(d, lsRef); err != nil {
		return nil, err
	}
	// nva's logical switches no longer desired go once the VTEP has let
	// go of them (its Ucast/Mcast_Macs_Local rows refer to them until it
	// sees the bindings gone).
	for _, u := range slices.Sorted(maps.Keys(v.owned)) {
		if keep[u] {
			continue
		}
		busy := slices.ContainsFunc(v.local, func(r hw.UcastMacsLocal) bool { return r.LogicalSwitch == u }) ||
			slices.ContainsFunc(v.mlocal, func(r hw.McastMacsLocal) bool { return r.LogicalSwitch == u })
		if busy {
			p.warn("Logical_Switch %s: waiting for the VTEP to release it", v.owned[u].Name)
			continue
		}
		if err := p.add(cl.Where(&hw.LogicalSwitch{UUID: u}).Delete()); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// bindings sets each physical port's vlan_bindings: the bindings to other
// controllers' logical switches stay, nva's are exactly the desired ones.
func (p *plan) bindings(d Desired, lsRef map[string]string) error {
	want := map[string]map[int]string{} // port -> vlan -> LS
	for _, vn := range d.VNs {
		ls, ok := lsRef[vn.Name]
		if !ok {
			continue
		}
		for _, b := range vn.Bindings {
			if want[b.Port] == nil {
				want[b.Port] = map[int]string{}
			}
			if o, dup := want[b.Port][b.VLAN]; dup && o != ls {
				p.warn("port %s vlan %d: bound to two VNs; kept the first", b.Port, b.VLAN)
				continue
			}
			want[b.Port][b.VLAN] = ls
		}
	}
	seen := map[string]bool{}
	for _, pp := range p.v.ports {
		seen[pp.Name] = true
		next := map[int]string{}
		for vlan, ls := range pp.VLANBindings {
			if p.v.owned[ls] == nil {
				next[vlan] = ls // another controller's
			}
		}
		for vlan, ls := range want[pp.Name] {
			if o, taken := next[vlan]; taken {
				p.warn("port %s vlan %d: bound to Logical_Switch %s by another controller; not bound", pp.Name, vlan, o)
				continue
			}
			next[vlan] = ls
		}
		if maps.Equal(next, pp.VLANBindings) || (len(next) == 0 && len(pp.VLANBindings) == 0) {
			continue
		}
		m := &hw.PhysicalPort{UUID: pp.UUID, VLANBindings: next}
		if err := p.add(p.cl.Where(m).Update(m, &m.VLANBindings)); err != nil {
			return err
		}
	}
	for _, port := range slices.Sorted(maps.Keys(want)) {
		if !seen[port] {
			p.warn("physical port %s: not a port of Physical_Switch %s; not bound", port, p.v.ps.Name)
		}
	}
	return nil
}

// macs sets the Ucast_Macs_Remote and the unknown-dst Mcast_Macs_Remote
// rows of nva's logical switches.
func (p *plan) macs(d Desired, lsRef map[string]string) error {
	type key struct{ ls, mac string }
	want := map[key]RemoteMAC{}
	flood := map[string][]string{} // LS -> tunnel IPs
	for _, vn := range d.VNs {
		ls, ok := lsRef[vn.Name]
		if !ok {
			continue
		}
		for _, r := range vn.Remote {
			want[key{ls, r.MAC}] = r
		}
		if len(vn.Flood) > 0 {
			flood[ls] = vn.Flood
		}
	}
	have := map[key]bool{}
	for _, r := range p.v.ucast {
		if p.v.owned[r.LogicalSwitch] == nil {
			continue
		}
		k := key{r.LogicalSwitch, strings.ToLower(r.MAC)}
		w, ok := want[k]
		if !ok || have[k] {
			if err := p.add(p.cl.Where(&hw.UcastMacsRemote{UUID: r.UUID}).Delete()); err != nil {
				return err
			}
			continue
		}
		have[k] = true
		if p.v.locIP[r.Locator] == w.Locator && r.Ipaddr == w.IP {
			continue
		}
		loc, err := p.locator(w.Locator)
		if err != nil {
			return err
		}
		m := &hw.UcastMacsRemote{UUID: r.UUID, Locator: loc, Ipaddr: w.IP}
		if err := p.add(p.cl.Where(m).Update(m, &m.Locator, &m.Ipaddr)); err != nil {
			return err
		}
	}
	for _, k := range slices.SortedFunc(maps.Keys(want), func(a, b key) int {
		if c := strings.Compare(a.ls, b.ls); c != 0 {
			return c
		}
		return strings.Compare(a.mac, b.mac)
	}) {
		if have[k] {
			continue
		}
		w := want[k]
		loc, err := p.locator(w.Locator)
		if err != nil {
			return err
		}
		if err := p.add(p.cl.Create(&hw.UcastMacsRemote{UUID: p.name("uc"), MAC: w.MAC, Ipaddr: w.IP, Locator: loc, LogicalSwitch: k.ls})); err != nil {
			return err
		}
	}
	done := map[string]bool{}
	for _, r := range p.v.mcast {
		if p.v.owned[r.LogicalSwitch] == nil {
			continue
		}
		ips, ok := flood[r.LogicalSwitch]
		if !ok || r.MAC != unknownDst || done[r.LogicalSwitch] {
			if err := p.add(p.cl.Where(&hw.McastMacsRemote{UUID: r.UUID}).Delete()); err != nil {
				return err
			}
			continue
		}
		done[r.LogicalSwitch] = true
		var cur []string
		for _, u := range p.v.sets[r.LocatorSet] {
			cur = append(cur, p.v.locIP[u])
		}
		slices.Sort(cur)
		if slices.Equal(cur, ips) {
			continue
		}
		set, err := p.locatorSet(ips)
		if err != nil {
			return err
		}
		m := &hw.McastMacsRemote{UUID: r.UUID, LocatorSet: set}
		if err := p.add(p.cl.Where(m).Update(m, &m.LocatorSet)); err != nil {
			return err
		}
	}
	for _, ls := range slices.Sorted(maps.Keys(flood)) {
		if done[ls] {
			continue
		}
		set, err := p.locatorSet(flood[ls])
		if err != nil {
			return err
		}
		if err := p.add(p.cl.Create(&hw.McastMacsRemote{UUID: p.name("mc"), MAC: unknownDst, LocatorSet: set, LogicalSwitch: ls})); err != nil {
			return err
		}
	}
	return nil
}

// locatorSet inserts a Physical_Locator_Set of the tunnel IPs (sets are
// immutable: a changed list is a new set; the old one is collected once
// unreferenced).
func (p *plan) locatorSet(ips []string) (string, error) {
	var locs []string
	for _, ip := range ips {
		u, err := p.locator(ip)
		if err != nil {
			return "", err
		}
		locs = append(locs, u)
	}
	u := p.name("set")
	return u, p.add(p.cl.Create(&hw.PhysicalLocatorSet{UUID: u, Locators: locs}))
}

// Learned is a MAC the VTEP learned on a physical port in a VN
// (Ucast_Macs_Local of one of nva's logical switches).
type Learned struct {
	VN, MAC, IP string
}

// learned lists the view's learned MACs, by VN then MAC.
func (v *view) learned() []Learned {
	var out []Learned
	for _, r := range v.local {
		if ls := v.owned[r.LogicalSwitch]; ls != nil {
			out = append(out, Learned{VN: ls.Name, MAC: strings.ToLower(r.MAC), IP: r.Ipaddr})
		}
	}
	slices.SortFunc(out, func(a, b Learned) int {
		if c := strings.Compare(a.VN, b.VN); c != 0 {
			return c
		}
		return strings.Compare(a.MAC, b.MAC)
	})
	return slices.CompactFunc(out, func(a, b Learned) bool { return a.VN == b.VN && a.MAC == b.MAC })
}

// models is the part of the hardware_vtep database nva reads and writes.
func models() (model.ClientDBModel, error) {
	return model.NewClientDBModel("hardware_vtep", map[string]model.Model{
		hw.GlobalTable:             &hw.Global{},
		hw.PhysicalSwitchTable:     &hw.PhysicalSwitch{},
		hw.PhysicalPortTable:       &hw.PhysicalPort{},
		hw.LogicalSwitchTable:      &hw.LogicalSwitch{},
		hw.UcastMacsLocalTable:     &hw.UcastMacsLocal{},
		hw.UcastMacsRemoteTable:    &hw.UcastMacsRemote{},
		hw.McastMacsLocalTable:     &hw.McastMacsLocal{},
		hw.McastMacsRemoteTable:    &hw.McastMacsRemote{},
		hw.PhysicalLocatorTable:    &hw.PhysicalLocator{},
		hw.PhysicalLocatorSetTable: &hw.PhysicalLocatorSet{},
	})
}
