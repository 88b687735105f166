package compiler

import (
	"net"
	"net/netip"
	"reflect"
	"sync"
	"weak"

	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/pipeline"
)

// PartPool lets the Caches of many NVEs share the port parts they compile
// alike. A port of a VN that is not attached to the NVE compiles to the
// same flows (its answers and its forwarding entry toward the NVE hosting
// it) on every NVE of the VN that reaches that NVE the same way (the same
// tunnel port and address): such a part is a function of the profile,
// the generation and what the part reads, never of the NVE compiling it
// (see feature.Port), and its fingerprint says so (it does not cover the
// NVE). Caches sharing a pool compile such a part once and all use it (its
// flows, matches and actions, key hashes), so a VN spanning k NVEs holds
// one copy of each remote port's flows instead of k-1.
//
// Parts are held weakly: a part lives as long as a Cache (or a Result)
// uses it; the pool forgets the dead ones when it sweeps (weakMap). A
// PartPool is safe for concurrent use by many Caches (each Cache itself
// is not).
//
// It shares the actions that send a VN's packets into the tunnel to a
// remote NVE (toRemote) the same way: the NVEs of a VN each have a flood
// group bucket (and flows) toward every other NVE of the VN, with the same
// actions wherever the tunnel port is the same, so a VN spanning k NVEs
// holds one list per remote NVE instead of k-1.
//
// It shares a VN's remote parts (the classification of the VN's tunnel
// traffic from one remote NVE, remoteFeature) the same way: the NVEs of a
// VN spanning k NVEs reach each other alike (the same tunnel port), so
// they hold one part per NVE of the VN instead of k-1 each.
//
// And a VN's common part (its neighbor defaults, commonFeature): one for
// all the NVEs of the VN.
//
// It shares the NVE-wide slice (the stages' miss flows and the features'
// NVE-wide flows) the same way: it is a function of the profile and
// generation only, so the Caches of a pool hold one.
//
// And it shares what the Caches derive from a profile and generation (its
// checker, realizer and table order), which is the same for every NVE.
type PartPool struct {
	mu    sync.Mutex
	m     weakMap[uint64, Slice] // by Slice.Fingerprint
	acts  weakMap[remoteKey, actionList]
	profs weakMap[string, profState] // by profState.key
	arps  weakMap[arpKey, arpList]
	// underlay is the NVEs' parsed IPv4 underlays, by name (each Cache's
	// view reads the underlays of its VNs' remote NVEs): one memo for all.
	// Entries not used since the memo last doubled are dropped (NVEs
	// gone): ugen counts the sweeps, usweepAt is the size that triggers
	// the next.
	umu      sync.Mutex
	underlay map[string]pooledUnderlay
	ugen     uint32
	usweepAt int
	// scratch is the views' buffers (*viewScratch) between compiles: a
	// compile needs them only while it runs, so the Caches of the pool
	// share them.
	scratch sync.Pool
}

// pooledUnderlay is an NVE's parsed underlay and the sweep it was last
// used in.
type pooledUnderlay struct {
	underlayMemo
	gen uint32
}

// ipv4Underlay returns NVE n's IPv4 underlay addresses, parsed once per
// revision for all the Caches of the pool (read only: shared).
func (p *PartPool) ipv4Underlay(n *model.NVE) []netip.Addr {
	p.umu.Lock()
	defer p.umu.Unlock()
	if m, ok := p.underlay[n.Name]; ok && m.rev == n.Revision {
		if m.gen != p.ugen {
			m.gen = p.ugen
			p.underlay[n.Name] = m
		}
		return m.ips
	}
	if p.underlay == nil {
		p.underlay = map[string]pooledUnderlay{}
	}
	if len(p.underlay) >= p.usweepAt {
		for name, m := range p.underlay {
			if m.gen != p.ugen {
				delete(p.underlay, name)
			}
		}
		p.ugen++
		p.usweepAt = max(2*len(p.underlay), 1024)
	}
	ips := ipv4Underlay(n)
	p.underlay[n.Name] = pooledUnderlay{underlayMemo{rev: n.Revision, ips: ips}, p.ugen}
	return ips
}

// remoteKey is everything tunnelActions reads.
type remoteKey struct {
	flowTunnels bool
	vni, port   uint32
	dst         netip.Addr // with flow-based tunnels only
}

// actionList holds the actions toward one remote: the flows and buckets
// using them refer into a, which keeps it alive.
type actionList struct {
	a [3]flow.Action
	n int
}

// arpKey is what arpReply reads: an Ethernet and an IPv4 address.
type arpKey struct {
	mac [6]byte
	ip  [4]byte
}

// arpList holds the actions of one ARP answer (arpReply) and the
// addresses they write: the flows using them refer into it, which keeps
// it alive.
type arpList struct {
	a [7]flow.Action
	k arpKey
}

// NewPartPool returns an empty pool.
func NewPartPool() *PartPool { return &PartPool{} }

// weakMap holds values weakly by key. A dead entry (its value collected)
// stays until the map sweeps, which it does when it has doubled since the
// last sweep: at most about twice the live entries, and no cleanup to
// register per value (a weak pointer is all a value costs it).
type weakMap[K comparable, V any] struct {
	m       map[K]weak.Pointer[V]
	sweepAt int
}

// get returns the live value of k (nil: none).
func (w *weakMap[K, V]) get(k K) *V {
	if wp, ok := w.m[k]; ok {
		return wp.Value()
	}
	return nil
}

// put holds v as k's value.
func (w *weakMap[K, V]) put(k K, v *V) {
	if w.m == nil {
		w.m = map[K]weak.Pointer[V]{}
	}
	if len(w.m) >= w.sweepAt {
		for k, wp := range w.m {
			if wp.Value() == nil {
				delete(w.m, k)
			}
		}
		w.sweepAt = max(2*len(w.m), 1024)
	}
	w.m[k] = weak.Make(v)
}

// arpReply returns arpReply(mac, ip), one list for all the Caches of the
// pool that ask for the same one (read only: its capacity is its length,
// so an append copies it).
func (p *PartPool) arpReply(mac net.HardwareAddr, ip []byte) []flow.Action {
	var k arpKey
	if len(mac) != len(k.mac) || len(ip) != len(k.ip) {
		return arpReply(mac, ip)
	}
	copy(k.mac[:], mac)
	copy(k.ip[:], ip)
	p.mu.Lock()
	defer p.mu.Unlock()
	if l := p.arps.get(k); l != nil {
		return l.a[:]
	}
	l := &arpList{k: k}
	acts := arpReply(l.k.mac[:], l.k.ip[:]) // nothing of the caller's kept
	if len(acts) != len(l.a) {
		return acts
	}
	copy(l.a[:], acts)
	p.arps.put(k, l)
	return l.a[:]
}

// profile returns the profState of key (cacheKey(prof, "", gen)) and prof,
// one for all the Caches of the pool that ask for the same one. A profile
// that differs from the pooled one of its key in something the key does
// not cover gets one of its own.
func (p *PartPool) profile(key string, prof pipeline.Profile) (*profState, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ps := p.profs.get(key); ps != nil {
		if reflect.DeepEqual(ps.prof, prof) {
			return ps, nil
		}
		return newProfState(key, prof)
	}
	ps, err := newProfState(key, prof)
	if err != nil {
		return nil, err
	}
	p.profs.put(key, ps)
	return ps, nil
}

// remoteActions returns tunnelActions(flowTunnels, vni, r), one list
// for all the Caches of the pool that ask for the same one (read only: its
// capacity is its length, so an append copies it).
func (p *PartPool) remoteActions(flowTunnels bool, vni uint32, r remoteNVE) []flow.Action {
	k := remoteKey{flowTunnels: flowTunnels, vni: vni, port: r.port}
	if flowTunnels {
		k.dst = r.ips[0]
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if l := p.acts.get(k); l != nil {
		return l.a[:l.n:l.n]
	}
	acts := tunnelActions(flowTunnels, vni, r)
	if len(acts) > len(actionList{}.a) {
		return acts
	}
	l := &actionList{n: len(acts)}
	copy(l.a[:], acts)
	p.acts.put(k, l)
	return l.a[:l.n:l.n]
}

// Len is the number of parts the pool holds (live, or dead and not swept
// yet).
func (p *PartPool) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.m.m)
}

// get returns the live part with fingerprint fp, if it is port's part of
// VN vn (vn and port "": the NVE-wide slice).
func (p *PartPool) get(fp uint64, vn, port string) *Slice {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.m.get(fp)
	switch {
	case s == nil || s.VN != vn:
		return nil
	case vn == "" && port == "":
		if s.Key != "" {
			return nil
		}
	case len(s.Key) != len(vn)+1+len(port) || s.Key[len(vn)+1:] != port:
		return nil
	}
	return s
}

// put stores s unless a live part with its fingerprint is there already;
// it returns the part the pool holds.
func (p *PartPool) put(s *Slice) *Slice {
	p.mu.Lock()
	defer p.mu.Unlock()
	if old := p.m.get(s.Fingerprint); old != nil {
		return old
	}
	p.m.put(s.Fingerprint, s)
	return s
}

// baseFingerprint is the fingerprint of the NVE-wide slice: it depends
// only on the profile and generation (shareHash), never on the NVE, so
// the Caches of a PartPool share one (compileBase).
func baseFingerprint(shareHash uint64) uint64 {
	h := newFNV()
	h.str("nve-wide")
	h.u64(shareHash)
	return uint64(h)
}

// compileBase compiles the NVE-wide slice, or takes it from the pool:
// its features' flows (feature.NVE) and the profile's miss flows are the
// same on every NVE of a profile and generation.
func (c *Cache) compileBase(nc *nveCtx) (*Slice, error) {
	if c.pool == nil {
		return c.compileSlice(nc, nil, nil, nil)
	}
	fp := baseFingerprint(c.ps.shareHash)
	if s := c.pool.get(fp, "", ""); s != nil {
		return s, nil
	}
	s, err := c.compileSlice(nc, nil, nil, nil)
	if err != nil {
		return nil, err
	}
	return c.pool.put(s), nil
}

// shareable reports whether port part p of v is compiled alike on every
// NVE (its fingerprint does not cover the NVE): a port not attached to
// this NVE (a local VAP's part names this NVE's OpenFlow ports).
func shareable(v *vnView, p *portPart) bool {
	return p != nil && p.vap == nil && v.gwSlice == nil
}

// compilePart compiles port part p of v (v's remote or common part rp if not nil,
// else v's shared part if p is nil), or takes it from the pool.
func (c *Cache) compilePart(nc *nveCtx, v *vnView, p *portPart, rp *remotePart) (*Slice, error) {
	if rp != nil && c.pool != nil && v.gwSlice == nil { // remote and common parts are alike on every NVE
		port := "*"
		if rp.r != nil {
			port = "@" + rp.r.nve.Name
		}
		if s := c.pool.get(rp.fp, v.name, port); s != nil {
			return s, nil
		}
		s, err := c.compileSlice(nc, v, nil, rp)
		if err != nil {
			return nil, err
		}
		return c.pool.put(s), nil
	}
	if c.pool == nil || rp != nil || !shareable(v, p) {
		return c.compileSlice(nc, v, p, rp)
	}
	if s := c.pool.get(p.fp, v.name, p.port.Name); s != nil {
		return s, nil
	}
	s, err := c.compileSlice(nc, v, p, nil)
	if err != nil {
		return nil, err
	}
	return c.pool.put(s), nil
}
