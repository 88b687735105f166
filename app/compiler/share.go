package compiler

import (
	"runtime"
	"sync"
	"weak"

	"github.com/nva-project/nva/app/flow"
)

// PartPool lets the Caches of many NVEs share the port parts they compile
// alike. A port of a VN that is not attached to the NVE compiles to the
// same flows (its answers and its forwarding entry toward the NVE hosting
// it) on every NVE of the VN that reaches that NVE the same way (the same
// tunnel port and address): a part is a function of the profile, the
// generation and what the part's fingerprint covers, never of the NVE
// compiling it (see feature.Port). Caches sharing a pool compile such a
// part once and reference it (its flows' matches and actions, its key
// hashes), so a VN spanning k NVEs holds one copy of each remote port's
// flows instead of k-1.
//
// Entries are held weakly: a part lives as long as a Cache (or a Result)
// uses it. A PartPool is safe for concurrent use by many Caches (each
// Cache itself is not).
type PartPool struct {
	mu sync.Mutex
	m  map[uint64]weak.Pointer[sharedPart]
}

// NewPartPool returns an empty pool.
func NewPartPool() *PartPool { return &PartPool{m: map[uint64]weak.Pointer[sharedPart]{}} }

// sharedPart is one compiled port part as the pool shares it: read only.
type sharedPart struct {
	vn, port string // the part's VN and port (checked on every hit)
	flows    []flow.Flow
	hashes   []uint64
	groups   []flow.GroupEntry
	warnings []string
}

// Len is the number of parts the pool holds (live or not yet cleaned up).
func (p *PartPool) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.m)
}

// get returns the live part under key, if it is the part of port in vn.
func (p *PartPool) get(key uint64, vn, port string) *sharedPart {
	p.mu.Lock()
	defer p.mu.Unlock()
	wp, ok := p.m[key]
	if !ok {
		return nil
	}
	e := wp.Value()
	if e == nil || e.vn != vn || e.port != port {
		return nil
	}
	return e
}

// put stores e under key unless a live part is there already; it returns
// the part the pool holds.
func (p *PartPool) put(key uint64, e *sharedPart) *sharedPart {
	p.mu.Lock()
	defer p.mu.Unlock()
	if wp, ok := p.m[key]; ok {
		if old := wp.Value(); old != nil {
			return old
		}
	}
	p.m[key] = weak.Make(e)
	runtime.AddCleanup(e, p.drop, key)
	return e
}

// drop forgets key once its part is gone (and not replaced since).
func (p *PartPool) drop(key uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if wp, ok := p.m[key]; ok && wp.Value() == nil {
		delete(p.m, key)
	}
}

// shareable reports whether port part p of v may come from the pool: a
// port not attached to this NVE (a local VAP's part names this NVE's
// OpenFlow ports: no other NVE compiles it alike).
func shareable(v *vnView, p *portPart) bool {
	return p != nil && p.vap == nil && v.gwSlice == nil
}

// compilePart compiles port part p of v, or takes it from the pool.
func (c *Cache) compilePart(nc *nveCtx, v *vnView, p *portPart) (*sliceState, error) {
	if c.pool == nil || !shareable(v, p) {
		return c.compileSlice(nc, v, p)
	}
	h := newFNV()
	h.u64(c.shareHash)
	h.u64(p.share)
	key := uint64(h)
	e := c.pool.get(key, v.name, p.port.Name)
	if e == nil {
		s, err := c.compileSlice(nc, v, p)
		if err != nil {
			return nil, err
		}
		e = c.pool.put(key, &sharedPart{vn: v.name, port: p.port.Name, flows: s.Flows, hashes: s.hashes, groups: s.Groups, warnings: s.Warnings})
	}
	s := &sliceState{hashes: e.hashes, shared: e}
	s.Key, s.VN, s.Fingerprint = v.name+"/"+p.port.Name, v.name, p.fp
	s.Flows, s.Groups, s.Warnings = e.flows, e.groups, e.warnings
	return s, nil
}
