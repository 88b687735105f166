package model

import (
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
)

// Snapshot is an immutable, self-consistent view of the whole domain at one
// store revision. It is the input of the flow compiler, the southbound, the
// OVSDB sync and the topology view; callers must not modify what it holds,
// nor the maps after the first query.
//
// Its queries (SortedPorts, PortsIn, PortsOn, PortsAt, VNsOn, NVEsHosting,
// Peers, PortByMAC, PortByIP, NVEByDPID, ...) are answered from one index,
// built the first time any of them is asked (at most once per Snapshot,
// safely from several goroutines; NewSnapshot builds it at once, Derive
// derives it from a previous snapshot's for the objects that changed). The
// index is the domain's one answer to "which NVEs share a VN": every layer
// asks it instead of scanning the ports. Slices it returns are shared by
// every caller (and by snapshots derived from this one) and must not be
// modified. Snapshots may share maps with each other (the store shares a
// kind's map between revisions that did not change it, and every
// snapshot's Ports table shares all but the changed ports' shards with
// the one it was derived from).
type Snapshot struct {
	Revision uint64
	VNs      map[string]*VN
	NVEs     map[string]*NVE
	Ports    Table[*Port]
	// Policies are the inter-VN policy rules by name (policy.go). They
	// are not indexed; the store sets the map after building the
	// snapshot and shares it between revisions that did not change it.
	Policies map[string]*PolicyRule
	// Learned are the learned endpoints (learned.go) by LearnedKey; nil:
	// none. The store sets it before the snapshot is shared.
	Learned map[string]*LearnedEndpoint
	// L3Gateways are the L3 gateways by name (l3gateway.go); the store
	// sets it on every snapshot it makes.
	L3Gateways map[string]*L3Gateway

	indexOnce sync.Once
	learned   snapshotLearned
	ix        *index
	// sortedOnce and sorted: the ports in name order (SortedPorts), made
	// on first use: few read them all, and a write would otherwise pay
	// for a list of every port.
	sortedOnce sync.Once
	sorted     []*Port
	splitOnce  sync.Once   // split.go
	split      *splitIndex // split.go
}

// NewSnapshot returns the snapshot of these objects at revision rev, its
// index already built. The VN and NVE maps become the snapshot's: the
// caller must not change them afterwards; the ports are copied into the
// snapshot's table.
func NewSnapshot(rev uint64, vns map[string]*VN, nves map[string]*NVE, ports map[string]*Port) *Snapshot {
	s := &Snapshot{Revision: rev, VNs: vns, NVEs: nves, Ports: TableOf(ports)}
	s.index()
	return s
}

// index is what a Snapshot's queries read: the VNs and NVEs in name
// order, and the ports grouped by VN, by NVE and by (NVE, VN), keyed by
// name. Every slice a query returns is sorted by name and clipped (an
// append by a caller copies rather than writes into it).
//
// Its parts are never modified once built, so a snapshot derived from
// another (Derive) shares every part a change does not touch: a port
// change rebuilds only the entries of the port's VN and NVE (before and
// after), and its tables copy only the shards holding those entries.
type index struct {
	vns  []*VN
	nves []*NVE

	portsIn   Table[[]*Port]              // by VN name
	portsOn   Table[[]*Port]              // by NVE name
	at        Table[[]vnPorts]            // by NVE name: its ports by VN, VN names ascending
	vnsOn     Table[[]string]             // by NVE name: the VNs it has ports of
	nvesOf    Table[[]string]             // by VN name: the NVEs with ports of it
	byMAC     Table[map[[6]byte]*Port]    // by VN name: first port by name with that MAC
	byIP      Table[map[netip.Addr]*Port] // by VN name: first port by name with that IP
	dups      Table[*addrDups]            // by VN name, VNs with any: MACs and IPs of more than one port
	nveByDPID map[uint64]*NVE             // first NVE by name with that datapath ID
	vnByVNI   map[uint32]*VN              // first VN by name with that VNI
}

// indexEdit edits an index's port tables (index.edit).
type indexEdit struct {
	portsIn, portsOn *TableEdit[[]*Port]
	at               *TableEdit[[]vnPorts]
	vnsOn, nvesOf    *TableEdit[[]string]
	byMAC            *TableEdit[map[[6]byte]*Port]
	byIP             *TableEdit[map[netip.Addr]*Port]
	dups             *TableEdit[*addrDups]
}

// addrDups are the MACs and IPs that more than one port of a VN has.
type addrDups struct {
	macs map[[6]byte]bool
	ips  map[netip.Addr]bool
}

func (ix *index) edit() *indexEdit {
	return &indexEdit{
		portsIn: ix.portsIn.Edit(), portsOn: ix.portsOn.Edit(), at: ix.at.Edit(),
		vnsOn: ix.vnsOn.Edit(), nvesOf: ix.nvesOf.Edit(), byMAC: ix.byMAC.Edit(), byIP: ix.byIP.Edit(),
		dups: ix.dups.Edit(),
	}
}

// done stores the edited tables in ix.
func (e *indexEdit) done(ix *index) {
	ix.portsIn, ix.portsOn, ix.at = e.portsIn.Done(), e.portsOn.Done(), e.at.Done()
	ix.vnsOn, ix.nvesOf, ix.byMAC, ix.byIP = e.vnsOn.Done(), e.nvesOf.Done(), e.byMAC.Done(), e.byIP.Done()
	ix.dups = e.dups.Done()
}

// vnPorts is the ports of one VN on one NVE.
type vnPorts struct {
	vn    string
	ports []*Port
}

func (s *Snapshot) index() *index {
	s.indexOnce.Do(func() { s.ix = buildIndex(s) })
	return s.ix
}

// sortedValues returns the values of a map's entries ordered by name.
func sortedValues[T any](all func(func(string, T) bool), n int, name func(T) string) []T {
	out := make([]T, 0, n)
	for _, v := range all {
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b T) int { return strings.Compare(name(a), name(b)) })
	return out
}

func portName(p *Port) string { return p.Name }

// groupPorts groups ports (in name order) by key, each group in name order
// and clipped, all in one array.
func groupPorts(ports []*Port, key func(*Port) string) map[string][]*Port {
	count := map[string]int{}
	for _, p := range ports {
		count[key(p)]++
	}
	all := make([]*Port, len(ports))
	start, next := make(map[string]int, len(count)), 0
	for _, p := range ports { // group starts in order of first appearance
		k := key(p)
		if _, ok := start[k]; !ok {
			start[k] = next
			next += count[k]
		}
	}
	fill := make(map[string]int, len(count))
	for _, p := range ports {
		k := key(p)
		all[start[k]+fill[k]] = p
		fill[k]++
	}
	out := make(map[string][]*Port, len(count))
	for k, st := range start {
		out[k] = all[st : st+count[k] : st+count[k]]
	}
	return out
}

// runsByVN splits one NVE's ports (in name order) by VN: the runs, VN
// names ascending, and those VN names.
func runsByVN(ports []*Port) ([]vnPorts, []string) {
	byVN := slices.Clone(ports)
	slices.SortStableFunc(byVN, func(a, b *Port) int { return strings.Compare(a.VN, b.VN) })
	var runs []vnPorts
	var vns []string
	for i, p := range byVN {
		if i == 0 || byVN[i-1].VN != p.VN {
			runs = append(runs, vnPorts{vn: p.VN})
			vns = append(vns, p.VN)
		}
		r := &runs[len(runs)-1]
		r.ports = byVN[i-len(r.ports) : i+1 : i+1]
	}
	return slices.Clip(runs), slices.Clip(vns)
}

// nvesOfPorts is the sorted, distinct NVE names of ports.
func nvesOfPorts(ports []*Port) []string {
	out := make([]string, len(ports))
	for i, p := range ports {
		out[i] = p.NVE
	}
	slices.Sort(out)
	return slices.Clip(slices.Compact(out))
}

// addrIndex indexes one VN's ports (in name order) by MAC and by IP, the
// first by name winning (nil maps when none has one), and notes the MACs
// and IPs of more than one port (nil when none).
func addrIndex(ports []*Port) (map[[6]byte]*Port, map[netip.Addr]*Port, *addrDups) {
	var macs map[[6]byte]*Port
	var ips map[netip.Addr]*Port
	var dups *addrDups
	for i := len(ports) - 1; i >= 0; i-- {
		p := ports[i]
		a := p.addrs()
		if a.macOK {
			if macs == nil {
				macs = make(map[[6]byte]*Port, len(ports))
			}
			if o, ok := macs[a.mac]; ok && o != p {
				if dups == nil {
					dups = &addrDups{}
				}
				if dups.macs == nil {
					dups.macs = map[[6]byte]bool{}
				}
				dups.macs[a.mac] = true
			}
			macs[a.mac] = p
		}
		for _, ip := range a.addrs {
			if ips == nil {
				ips = make(map[netip.Addr]*Port, len(ports))
			}
			if o, ok := ips[ip]; ok && o != p {
				if dups == nil {
					dups = &addrDups{}
				}
				if dups.ips == nil {
					dups.ips = map[netip.Addr]bool{}
				}
				dups.ips[ip] = true
			}
			ips[ip] = p
		}
	}
	return macs, ips, dups
}

func dpidIndex(nves []*NVE) map[uint64]*NVE {
	out := make(map[uint64]*NVE, len(nves))
	for i := len(nves) - 1; i >= 0; i-- {
		if d := nves[i].DPID(); d != 0 {
			out[d] = nves[i]
		}
	}
	return out
}

func vniIndex(vns []*VN) map[uint32]*VN {
	out := make(map[uint32]*VN, len(vns))
	for i := len(vns) - 1; i >= 0; i-- {
		if v := vns[i].VNI; v != 0 {
			out[v] = vns[i]
		}
	}
	return out
}

// setVN (setNVE) rebuilds the entries of VN vn (NVE nve) from its ports,
// in name order (none: the entries go).
func (e *indexEdit) setVN(vn string, ports []*Port) {
	if len(ports) == 0 {
		e.portsIn.Delete(vn)
		e.nvesOf.Delete(vn)
		e.byMAC.Delete(vn)
		e.byIP.Delete(vn)
		e.dups.Delete(vn)
		return
	}
	e.portsIn.Set(vn, ports)
	e.nvesOf.Set(vn, nvesOfPorts(ports))
	macs, ips, dups := addrIndex(ports)
	if dups != nil {
		e.dups.Set(vn, dups)
	} else {
		e.dups.Delete(vn)
	}
	if macs != nil {
		e.byMAC.Set(vn, macs)
	} else {
		e.byMAC.Delete(vn)
	}
	if ips != nil {
		e.byIP.Set(vn, ips)
	} else {
		e.byIP.Delete(vn)
	}
}

func (e *indexEdit) setNVE(nve string, ports []*Port) {
	if len(ports) == 0 {
		e.portsOn.Delete(nve)
		e.at.Delete(nve)
		e.vnsOn.Delete(nve)
		return
	}
	e.portsOn.Set(nve, ports)
	at, vns := runsByVN(ports)
	e.at.Set(nve, at)
	e.vnsOn.Set(nve, vns)
}

func buildIndex(s *Snapshot) *index {
	ix := &index{
		vns:  sortedValues(maps.All(s.VNs), len(s.VNs), func(v *VN) string { return v.Name }),
		nves: sortedValues(maps.All(s.NVEs), len(s.NVEs), func(n *NVE) string { return n.Name }),
	}
	ports := s.SortedPorts()
	e := ix.edit()
	for vn, ports := range groupPorts(ports, func(p *Port) string { return p.VN }) {
		e.setVN(vn, ports)
	}
	for nve, ports := range groupPorts(ports, func(p *Port) string { return p.NVE }) {
		e.setNVE(nve, ports)
	}
	e.done(ix)
	ix.nveByDPID = dpidIndex(ix.nves)
	ix.vnByVNI = vniIndex(ix.vns)
	return ix
}

// Changed names the objects that differ between two snapshots: created,
// replaced or deleted. A name listed whose object did not change is
// harmless.
type Changed struct {
	VNs, NVEs, Ports []string
}

// Derive returns the snapshot of these objects at revision rev, given that
// they differ from s's only in the objects ch names (s nil: none to derive
// from). Its ports table is s's edited for the changed ports (ports is the
// current ports by name: only the changed names are read, and it is not
// kept), and its index is derived from s's, sharing every part the change
// does not touch (see index), in time proportional to the changed
// objects' VNs and NVEs plus a copy of the sorted VN or NVE list when
// those changed, instead of a full build; a change of more than a quarter
// of the ports is built afresh. The VN and NVE maps become the
// snapshot's, as with NewSnapshot.
func (s *Snapshot) Derive(rev uint64, vns map[string]*VN, nves map[string]*NVE, ports map[string]*Port, ch Changed) *Snapshot {
	if s == nil || len(ch.Ports) > len(ports)/4+16 {
		return NewSnapshot(rev, vns, nves, ports)
	}
	names := slices.Compact(slices.Sorted(slices.Values(ch.Ports)))
	pe := s.Ports.Edit()
	for _, n := range names {
		if p := ports[n]; p != nil {
			pe.Set(n, p)
		} else {
			pe.Delete(n)
		}
	}
	out := &Snapshot{Revision: rev, VNs: vns, NVEs: nves, Ports: pe.Done()}
	prev := s.index()
	ix := *prev
	if len(ch.VNs) > 0 {
		ix.vns = patchSorted(prev.vns, ch.VNs, vns, func(v *VN) string { return v.Name })
		ix.vnByVNI = vniIndex(ix.vns)
	}
	if len(ch.NVEs) > 0 {
		ix.nves = patchSorted(prev.nves, ch.NVEs, nves, func(n *NVE) string { return n.Name })
		ix.nveByDPID = dpidIndex(ix.nves)
	}
	if len(names) > 0 {
		touchedVN, touchedNVE := map[string]bool{}, map[string]bool{}
		for _, name := range names {
			for _, p := range []*Port{s.Ports.Get(name), ports[name]} {
				if p != nil {
					touchedVN[p.VN], touchedNVE[p.NVE] = true, true
				}
			}
		}
		e := prev.edit()
		for vn := range touchedVN {
			inVN := func(p *Port) bool { return p.VN == vn }
			group := patchGroup(prev.portsIn.Get(vn), names, ports, inVN)
			var gone, added []*Port
			for _, name := range names {
				if o := s.Ports.Get(name); o != nil && inVN(o) {
					gone = append(gone, o)
				}
				if p := ports[name]; p != nil && inVN(p) {
					added = append(added, p)
				}
			}
			if !e.patchVN(prev, vn, group, gone, added) {
				e.setVN(vn, group)
			}
		}
		for nve := range touchedNVE {
			e.setNVE(nve, patchGroup(prev.portsOn.Get(nve), names, ports, func(p *Port) bool { return p.NVE == nve }))
		}
		e.done(&ix)
	}
	out.indexOnce.Do(func() { out.ix = &ix })
	return out
}

// patchSorted returns old (sorted by name) with the objects named in
// names replaced by their current version in cur (dropped when cur has
// none), in name order: one pass, finding each name by binary search.
func patchSorted[T any](old []*T, names []string, cur map[string]*T, name func(*T) string) []*T {
	names = slices.Compact(slices.Sorted(slices.Values(names)))
	return patchKept(old, names, cur, name, nil)
}

// patchKept is patchSorted for names already sorted and distinct, keeping
// only the current versions keep accepts (nil: all).
func patchKept[T any](old []*T, names []string, cur map[string]*T, name func(*T) string, keep func(*T) bool) []*T {
	out := make([]*T, 0, len(old)+len(names))
	i := 0
	for _, n := range names {
		j, found := slices.BinarySearchFunc(old[i:], n, func(v *T, n string) int { return strings.Compare(name(v), n) })
		out = append(out, old[i:i+j]...)
		i += j
		if found {
			i++ // replaced or deleted
		}
		if v := cur[n]; v != nil && (keep == nil || keep(v)) {
			out = append(out, v)
		}
	}
	return append(out, old[i:]...)
}

// patchGroup returns one group's ports (old, in name order) with the
// changed ports (names, sorted and distinct) taken out and those of them
// that now belong to it (keep) put in, in name order and clipped (nil
// when none). It copies old once and searches it for each name, so a
// change of one port costs a copy of the group, not a sort of it.
func patchGroup(old []*Port, names []string, cur map[string]*Port, keep func(*Port) bool) []*Port {
	out := patchKept(old, names, cur, func(p *Port) string { return p.Name }, keep)
	if len(out) == 0 {
		return nil
	}
	return slices.Clip(out)
}

// patchVN edits VN vn's entries for a change of a few of its ports, from
// the previous index's: gone are the previous versions of the changed
// ports that were in vn, added the current ones that are. It reports
// false, having changed nothing, when the change needs the full rebuild
// (setVN): the VN has no ports left, it had ports sharing a MAC or an
// address, or an added port's MAC or address is another port's. Otherwise
// the NVE list is the previous one unless the change adds or removes an
// NVE, and the address maps are the previous ones edited.
func (e *indexEdit) patchVN(prev *index, vn string, ports, gone, added []*Port) bool {
	if len(ports) == 0 || prev.dups.Get(vn) != nil {
		return false
	}
	macs, ips := maps.Clone(prev.byMAC.Get(vn)), maps.Clone(prev.byIP.Get(vn))
	for _, o := range gone {
		a := o.addrs()
		if a.macOK {
			if macs[a.mac] != o {
				return false
			}
			delete(macs, a.mac)
		}
		for _, ip := range a.addrs {
			if q, ok := ips[ip]; ok && q != o {
				return false
			}
			delete(ips, ip)
		}
	}
	for _, p := range added {
		a := p.addrs()
		if a.macOK {
			if _, ok := macs[a.mac]; ok {
				return false
			}
			if macs == nil {
				macs = map[[6]byte]*Port{}
			}
			macs[a.mac] = p
		}
		for _, ip := range a.addrs {
			if q, ok := ips[ip]; ok && q != p {
				return false
			}
			if ips == nil {
				ips = map[netip.Addr]*Port{}
			}
			ips[ip] = p
		}
	}
	nvesOf := prev.nvesOf.Get(vn)
	for _, p := range added {
		if _, found := slices.BinarySearch(nvesOf, p.NVE); !found {
			nvesOf = nil
			break
		}
	}
	for _, o := range gone {
		if nvesOf != nil && !slices.ContainsFunc(ports, func(p *Port) bool { return p.NVE == o.NVE }) {
			nvesOf = nil
		}
	}
	if nvesOf == nil {
		nvesOf = nvesOfPorts(ports)
	}
	e.portsIn.Set(vn, ports)
	e.nvesOf.Set(vn, nvesOf)
	setOrDelete(e.byMAC, vn, macs)
	setOrDelete(e.byIP, vn, ips)
	return true
}

// setOrDelete sets t's entry k to m, or deletes it when m is empty.
func setOrDelete[K comparable, V any](t *TableEdit[map[K]V], k string, m map[K]V) {
	if len(m) == 0 {
		t.Delete(k)
	} else {
		t.Set(k, m)
	}
}

// SortedVNs returns the VNs ordered by name.
func (s *Snapshot) SortedVNs() []*VN { return s.index().vns }

// SortedNVEs returns the NVEs ordered by name.
func (s *Snapshot) SortedNVEs() []*NVE { return s.index().nves }

// SortedPorts returns the ports ordered by name. The list is made on the
// snapshot's first call (in O(P log P)), not kept up to date by writes.
func (s *Snapshot) SortedPorts() []*Port {
	s.sortedOnce.Do(func() {
		s.sorted = slices.Clip(sortedValues(s.Ports.All(), s.Ports.Len(), portName))
	})
	return s.sorted
}

// PortsOn returns the ports attached on NVE nve, ordered by name.
func (s *Snapshot) PortsOn(nve string) []*Port { return s.index().portsOn.Get(nve) }

// PortsIn returns the ports of VN vn, ordered by name.
func (s *Snapshot) PortsIn(vn string) []*Port { return s.index().portsIn.Get(vn) }

// PortsAt returns the ports of VN vn attached on NVE nve, ordered by name.
func (s *Snapshot) PortsAt(nve, vn string) []*Port {
	runs := s.index().at.Get(nve)
	if i, ok := slices.BinarySearchFunc(runs, vn, func(r vnPorts, vn string) int { return strings.Compare(r.vn, vn) }); ok {
		return runs[i].ports
	}
	return nil
}

// VNsOn returns the names of the VNs NVE nve hosts (has a port of), sorted.
// A port's VN is named even if the snapshot has no such VN.
// An nNVE hosts the VNs of its tNVEs too (split.go).
func (s *Snapshot) VNsOn(nve string) []string {
	if s.hasSplit() {
		return s.splitVNsOn(nve, s.index().vnsOn.Get(nve))
	}
	return s.index().vnsOn.Get(nve)
}

// NVEsHosting returns the names of the NVEs that have a port in VN vn,
// sorted. A port's NVE is named even if the snapshot has no such NVE.
// The nNVE of a tNVE with a port of vn is named too (split.go).
func (s *Snapshot) NVEsHosting(vn string) []string {
	if s.hasSplit() {
		return s.splitNVEsHosting(s.index().nvesOf.Get(vn))
	}
	return s.index().nvesOf.Get(vn)
}

// Peer is another NVE that shares VNs with an NVE: the other end of the
// tunnels those VNs need.
type Peer struct {
	NVE string
	VNs []string // the VNs both host, sorted
}

// Peers returns the other NVEs that host a VN NVE nve hosts, ordered by
// name, each with the VNs they share. It is computed from the index on
// each call, in time proportional to the answer; the slices are the
// caller's own.
//
// A tNVE has no peers and is nobody's: its nNVE tunnels for it (split.go).
func (s *Snapshot) Peers(nve string) []Peer {
	ix := s.index()
	split := s.hasSplit()
	vnsOn, hosting := ix.vnsOn.Get, ix.nvesOf.Get
	if split {
		if s.NVEs[nve].IsTNVE() {
			return []Peer{}
		}
		vnsOn, hosting = s.VNsOn, s.NVEsHosting
	}
	// Every (peer, shared VN) pair, by peer and VN.
	var pairs []vnOnNVE
	for _, vn := range vnsOn(nve) {
		for _, n := range hosting(vn) {
			if n != nve && !(split && s.NVEs[n].IsTNVE()) {
				pairs = append(pairs, vnOnNVE{n, vn})
			}
		}
	}
	// The VNs are visited in name order: a stable sort by peer leaves
	// each peer's VNs in order.
	slices.SortStableFunc(pairs, func(a, b vnOnNVE) int { return strings.Compare(a.nve, b.nve) })
	out := []Peer{}
	vns := make([]string, len(pairs)) // one array for every peer's VNs
	for i, p := range pairs {
		vns[i] = p.vn
		if i == 0 || pairs[i-1].nve != p.nve {
			out = append(out, Peer{NVE: p.nve})
		}
		last := &out[len(out)-1]
		last.VNs = vns[i-len(last.VNs) : i+1 : i+1]
	}
	return out
}

type vnOnNVE struct{ nve, vn string }

// PortByMAC returns the port of VN vn with MAC mac (nil if none). The
// store allows one per VN; should a snapshot hold several, the first by
// name answers.
func (s *Snapshot) PortByMAC(vn string, mac [6]byte) *Port {
	return s.index().byMAC.Get(vn)[mac]
}

// SharedMAC reports whether more than one port of VN vn has MAC mac.
func (s *Snapshot) SharedMAC(vn string, mac [6]byte) bool {
	d := s.index().dups.Get(vn)
	return d != nil && d.macs[mac]
}

// SharedIP reports whether more than one port of VN vn binds address ip
// (IPv4-mapped IPv6 as IPv4).
func (s *Snapshot) SharedIP(vn string, ip netip.Addr) bool {
	d := s.index().dups.Get(vn)
	return d != nil && d.ips[ip.Unmap()]
}

// PortByIP returns the port of VN vn bound to address ip (IPv4-mapped
// IPv6 is looked up as IPv4; nil if none). The store allows one per VN;
// should a snapshot hold several, the first by name answers.
func (s *Snapshot) PortByIP(vn string, ip netip.Addr) *Port {
	return s.index().byIP.Get(vn)[ip.Unmap()]
}

// NVEByDPID returns the NVE whose datapath ID is dpid (nil if none or if
// dpid is 0; the first by name if several claim it).
func (s *Snapshot) NVEByDPID(dpid uint64) *NVE {
	if dpid == 0 {
		return nil
	}
	return s.index().nveByDPID[dpid]
}

// VNByVNI returns the VN whose virtual network context ID is vni (nil if
// none or if vni is 0; the first by name if several claim it).
func (s *Snapshot) VNByVNI(vni uint32) *VN {
	if vni == 0 {
		return nil
	}
	return s.index().vnByVNI[vni]
}
