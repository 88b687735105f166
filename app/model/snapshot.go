package model

import (
	"cmp"
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
// safely from several goroutines; NewSnapshot builds it at once). The
// index is the domain's one answer to "which NVEs share a VN": every layer
// asks it instead of scanning the ports. Slices it returns are shared by
// every caller and must not be modified.
type Snapshot struct {
	Revision uint64
	VNs      map[string]*VN
	NVEs     map[string]*NVE
	Ports    map[string]*Port

	indexOnce sync.Once
	ix        *index
}

// NewSnapshot returns the snapshot of these objects at revision rev, its
// index already built. The maps become the snapshot's: the caller must not
// change them afterwards.
func NewSnapshot(rev uint64, vns map[string]*VN, nves map[string]*NVE, ports map[string]*Port) *Snapshot {
	s := &Snapshot{Revision: rev, VNs: vns, NVEs: nves, Ports: ports}
	s.index()
	return s
}

// index is what a Snapshot's queries read. The VN and NVE names the ports
// use are numbered in name order (ids), so the per-VN and per-NVE lists
// are slices by id and ascending ids are names in order. Every slice a
// query returns is sorted by name and clipped (an append by a caller
// copies rather than writes into it).
type index struct {
	vns   []*VN
	nves  []*NVE
	ports []*Port

	vnID, nveID      map[string]int32 // names ports use -> id
	vnName, nveName  []string         // id -> name
	portsIn, portsOn [][]*Port        // by VN id, by NVE id
	nvesOf, vnsOn    [][]int32        // by VN id: NVE ids; by NVE id: VN ids
	nvesOfN, vnsOnN  [][]string       // the same, as names
	at               [][]vnPorts      // by NVE id: its ports by VN, VN ids ascending
	byMAC            map[macKey]*Port // first port by name with that MAC in the VN
	byIP             map[ipKey]*Port  // first port by name with that IP in the VN
	nveByDPID        map[uint64]*NVE  // first NVE by name with that datapath ID
	vnByVNI          map[uint32]*VN   // first VN by name with that VNI
}

// vnPorts is the ports of one VN on one NVE.
type vnPorts struct {
	vn    int32
	ports []*Port
}

type macKey struct {
	vn  int32
	mac [6]byte
}

type ipKey struct {
	vn int32
	ip netip.Addr
}

func (s *Snapshot) index() *index {
	s.indexOnce.Do(func() { s.ix = buildIndex(s) })
	return s.ix
}

// sortedValues returns the map's values ordered by name.
func sortedValues[T any](m map[string]T, name func(T) string) []T {
	out := make([]T, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b T) int { return strings.Compare(name(a), name(b)) })
	return out
}

// numberNames gives each distinct name in names an id, in name order;
// ids[i] is the id of names[i].
func numberNames(names []string) (ids []int32, byName map[string]int32, sorted []string) {
	byName = map[string]int32{}
	for _, n := range names {
		if _, ok := byName[n]; !ok {
			byName[n] = 0
			sorted = append(sorted, n)
		}
	}
	slices.Sort(sorted)
	for i, n := range sorted {
		byName[n] = int32(i)
	}
	ids = make([]int32, len(names))
	for i, n := range names {
		ids[i] = byName[n]
	}
	return ids, byName, slices.Clip(sorted)
}

// groupBy returns, for each key 0..n-1, the indexes i (ascending) with
// keys[i] == key, all in one array.
func groupBy(keys []int32, n int) [][]int32 {
	start := make([]int, n+1)
	for _, k := range keys {
		start[k+1]++
	}
	for k := 0; k < n; k++ {
		start[k+1] += start[k]
	}
	all, next := make([]int32, len(keys)), slices.Clone(start[:n])
	for i, k := range keys {
		all[next[k]] = int32(i)
		next[k]++
	}
	out := make([][]int32, n)
	for k := range out {
		out[k] = all[start[k]:start[k+1]:start[k+1]]
	}
	return out
}

// portsOf maps groups of port indexes to groups of ports, all in one
// array.
func portsOf(ports []*Port, groups [][]int32) [][]*Port {
	all := make([]*Port, 0, len(ports))
	out := make([][]*Port, len(groups))
	for k, g := range groups {
		start := len(all)
		for _, i := range g {
			all = append(all, ports[i])
		}
		out[k] = all[start:len(all):len(all)]
	}
	return out
}

// namesOf maps lists of ids to lists of names, all in one array.
func namesOf(lists [][]int32, names []string) [][]string {
	total := 0
	for _, l := range lists {
		total += len(l)
	}
	all := make([]string, 0, total)
	out := make([][]string, len(lists))
	for k, l := range lists {
		start := len(all)
		for _, id := range l {
			all = append(all, names[id])
		}
		out[k] = all[start:len(all):len(all)]
	}
	return out
}

func buildIndex(s *Snapshot) *index {
	ix := &index{
		vns:       sortedValues(s.VNs, func(v *VN) string { return v.Name }),
		nves:      sortedValues(s.NVEs, func(n *NVE) string { return n.Name }),
		ports:     sortedValues(s.Ports, func(p *Port) string { return p.Name }),
		byMAC:     make(map[macKey]*Port, len(s.Ports)),
		byIP:      make(map[ipKey]*Port, len(s.Ports)),
		nveByDPID: make(map[uint64]*NVE, len(s.NVEs)),
		vnByVNI:   make(map[uint32]*VN, len(s.VNs)),
	}
	ports := ix.ports
	vnOf, nveOf := make([]string, len(ports)), make([]string, len(ports))
	for i, p := range ports {
		vnOf[i], nveOf[i] = p.VN, p.NVE
	}
	vnIDs, vnID, vnName := numberNames(vnOf)
	nveIDs, nveID, nveName := numberNames(nveOf)
	ix.vnID, ix.vnName, ix.nveID, ix.nveName = vnID, vnName, nveID, nveName
	// Ports are in name order, so every group of them is too.
	inVN, onNVE := groupBy(vnIDs, len(vnName)), groupBy(nveIDs, len(nveName))
	ix.portsIn, ix.portsOn = portsOf(ports, inVN), portsOf(ports, onNVE)

	// Each NVE's ports by VN: its VNs, the VNs' NVEs (NVE ids ascend in
	// this loop, so each VN's list comes out sorted), and the runs that
	// answer PortsAt.
	ix.vnsOn, ix.nvesOf, ix.at = make([][]int32, len(nveName)), make([][]int32, len(vnName)), make([][]vnPorts, len(nveName))
	atAll := make([]*Port, 0, len(ports))
	for nve, g := range onNVE {
		byVN := slices.Clone(g)
		slices.SortFunc(byVN, func(a, b int32) int { return cmp.Or(cmp.Compare(vnIDs[a], vnIDs[b]), cmp.Compare(a, b)) })
		for i, pi := range byVN {
			vn := vnIDs[pi]
			if i == 0 || vnIDs[byVN[i-1]] != vn {
				ix.vnsOn[nve] = append(ix.vnsOn[nve], vn)
				ix.nvesOf[vn] = append(ix.nvesOf[vn], int32(nve))
				ix.at[nve] = append(ix.at[nve], vnPorts{vn: vn})
			}
			atAll = append(atAll, ports[pi])
			run := &ix.at[nve][len(ix.at[nve])-1]
			run.ports = atAll[len(atAll)-len(run.ports)-1 : len(atAll) : len(atAll)]
		}
	}
	ix.vnsOnN, ix.nvesOfN = namesOf(ix.vnsOn, vnName), namesOf(ix.nvesOf, nveName)

	// Addresses: ports in reverse name order, so the first by name is the
	// last to write its keys.
	for i := len(ports) - 1; i >= 0; i-- {
		p, vn := ports[i], vnIDs[i]
		a := p.addrs()
		if a.macOK {
			ix.byMAC[macKey{vn, a.mac}] = p
		}
		for _, ip := range a.addrs {
			ix.byIP[ipKey{vn, ip}] = p
		}
	}
	for i := len(ix.nves) - 1; i >= 0; i-- {
		if d := ix.nves[i].DPID(); d != 0 {
			ix.nveByDPID[d] = ix.nves[i]
		}
	}
	for i := len(ix.vns) - 1; i >= 0; i-- {
		if v := ix.vns[i].VNI; v != 0 {
			ix.vnByVNI[v] = ix.vns[i]
		}
	}
	return ix
}

// SortedVNs returns the VNs ordered by name.
func (s *Snapshot) SortedVNs() []*VN { return s.index().vns }

// SortedNVEs returns the NVEs ordered by name.
func (s *Snapshot) SortedNVEs() []*NVE { return s.index().nves }

// SortedPorts returns the ports ordered by name.
func (s *Snapshot) SortedPorts() []*Port { return s.index().ports }

// PortsOn returns the ports attached on NVE nve, ordered by name.
func (s *Snapshot) PortsOn(nve string) []*Port {
	ix := s.index()
	if id, ok := ix.nveID[nve]; ok {
		return ix.portsOn[id]
	}
	return nil
}

// PortsIn returns the ports of VN vn, ordered by name.
func (s *Snapshot) PortsIn(vn string) []*Port {
	ix := s.index()
	if id, ok := ix.vnID[vn]; ok {
		return ix.portsIn[id]
	}
	return nil
}

// PortsAt returns the ports of VN vn attached on NVE nve, ordered by name.
func (s *Snapshot) PortsAt(nve, vn string) []*Port {
	ix := s.index()
	n, ok1 := ix.nveID[nve]
	v, ok2 := ix.vnID[vn]
	if !ok1 || !ok2 {
		return nil
	}
	runs := ix.at[n]
	if i, ok := slices.BinarySearchFunc(runs, v, func(r vnPorts, v int32) int { return cmp.Compare(r.vn, v) }); ok {
		return runs[i].ports
	}
	return nil
}

// VNsOn returns the names of the VNs NVE nve hosts (has a port of), sorted.
// A port's VN is named even if the snapshot has no such VN.
func (s *Snapshot) VNsOn(nve string) []string {
	ix := s.index()
	if id, ok := ix.nveID[nve]; ok {
		return ix.vnsOnN[id]
	}
	return nil
}

// NVEsHosting returns the names of the NVEs that have a port in VN vn,
// sorted. A port's NVE is named even if the snapshot has no such NVE.
func (s *Snapshot) NVEsHosting(vn string) []string {
	ix := s.index()
	if id, ok := ix.vnID[vn]; ok {
		return ix.nvesOfN[id]
	}
	return nil
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
func (s *Snapshot) Peers(nve string) []Peer {
	ix := s.index()
	id, ok := ix.nveID[nve]
	if !ok {
		return []Peer{}
	}
	// Every (peer, shared VN) pair, by peer and VN (ids: names in order).
	var pairs []vnOnNVE
	for _, vn := range ix.vnsOn[id] {
		for _, n := range ix.nvesOf[vn] {
			if n != id {
				pairs = append(pairs, vnOnNVE{n, vn})
			}
		}
	}
	slices.SortFunc(pairs, func(a, b vnOnNVE) int { return cmp.Or(cmp.Compare(a.nve, b.nve), cmp.Compare(a.vn, b.vn)) })
	out := []Peer{}
	vns := make([]string, len(pairs)) // one array for every peer's VNs
	for i, p := range pairs {
		vns[i] = ix.vnName[p.vn]
		if i == 0 || pairs[i-1].nve != p.nve {
			out = append(out, Peer{NVE: ix.nveName[p.nve]})
		}
		last := &out[len(out)-1]
		last.VNs = vns[i-len(last.VNs) : i+1 : i+1]
	}
	return out
}

type vnOnNVE struct{ nve, vn int32 }

// PortByMAC returns the port of VN vn with MAC mac (nil if none). The
// store allows one per VN; should a snapshot hold several, the first by
// name answers.
func (s *Snapshot) PortByMAC(vn string, mac [6]byte) *Port {
	ix := s.index()
	if id, ok := ix.vnID[vn]; ok {
		return ix.byMAC[macKey{id, mac}]
	}
	return nil
}

// PortByIP returns the port of VN vn bound to address ip (IPv4-mapped
// IPv6 is looked up as IPv4; nil if none). The store allows one per VN;
// should a snapshot hold several, the first by name answers.
func (s *Snapshot) PortByIP(vn string, ip netip.Addr) *Port {
	ix := s.index()
	if id, ok := ix.vnID[vn]; ok {
		return ix.byIP[ipKey{id, ip.Unmap()}]
	}
	return nil
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
