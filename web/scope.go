package web

import (
	"context"
	"fmt"
	"net/http"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/store"
	"github.com/nva-project/nva/web/wire"
)

// A tenant's scope: the VNs whose tenant is its tenant and the ports in
// them. Reads give it a snapshot of its scope alone (tenantSnapshot),
// with the NVEs its ports are on reduced to their name and kind; writes
// are checked against the current state (scopedBackend). An object
// outside the scope answers exactly as a missing one does: 404 with the
// store's message, or the store's reference error for a port naming
// another tenant's VN. Names are cluster-wide, so creating an object
// whose name another tenant uses still answers 409.

// tenantSnapshot is the part of snap a tenant sees.
func tenantSnapshot(snap *model.Snapshot, tenant string) *model.Snapshot {
	vns := map[string]*model.VN{}
	for name, v := range snap.VNs {
		if v.Tenant == tenant {
			vns[name] = v
		}
	}
	ports := map[string]*model.Port{}
	nves := map[string]*model.NVE{}
	for name, p := range snap.Ports.All() {
		if _, ok := vns[p.VN]; !ok {
			continue
		}
		ports[name] = p
		if n := snap.NVEs[p.NVE]; n != nil && nves[p.NVE] == nil {
			nves[p.NVE] = reducedNVE(n)
		}
	}
	out := model.NewSnapshot(snap.Revision, vns, nves, ports)
	out.Policies = tenantPolicies(snap, tenant)                // policy.go
	out.Learned = tenantLearned(snap, vns)                     // learned.go
	out.L3Gateways = tenantL3Gateways(snap.L3Gateways, tenant) // l3gateway.go
	return out
}

// reducedNVE is what a tenant sees of an NVE its ports are on.
func reducedNVE(n *model.NVE) *model.NVE {
	if n == nil {
		return nil
	}
	return &model.NVE{Name: n.Name, Kind: n.Kind, UnderlayIPs: []string{}, Revision: n.Revision}
}

// scopeSnapshot is the part of snap p may read.
func scopeSnapshot(p principal, snap *model.Snapshot) *model.Snapshot {
	if !p.scoped() {
		return snap
	}
	return tenantSnapshot(snap, p.tenant)
}

// snapshot reads the store (linearizably with ?consistent=true), as the
// request's principal may see it.
func (s *Server) snapshot(r *http.Request) (*model.Snapshot, error) {
	snap, err := s.unscopedSnapshot(r)
	if err != nil {
		return nil, err
	}
	return scopeSnapshot(s.auth.principalFrom(r.Context()), snap), nil
}

// statusFor is the status reporter of a request's principal: a tenant
// sees an NVE's one-line summary only.
func (s *Server) statusFor(ctx context.Context) StatusReporter {
	if s.status == nil || !s.auth.principalFrom(ctx).scoped() {
		return s.status
	}
	return summaryStatus{s.status}
}

type summaryStatus struct{ StatusReporter }

func (r summaryStatus) NVEStatus(nve string) *model.NVEStatus {
	st := r.StatusReporter.NVEStatus(nve)
	if st == nil {
		return nil
	}
	return &model.NVEStatus{Summary: st.Summary}
}

// switchesFor is the unclaimed-switch reporter of a request's principal:
// none for a tenant.
func (s *Server) switchesFor(ctx context.Context) SwitchReporter {
	if s.auth.principalFrom(ctx).scoped() {
		return nil
	}
	return s.switches
}

// scopedBackend is the Backend as the request's principal (from ctx) may
// use it: reads of a tenant are its scope, and writes are checked
// against the principal's role and scope before they reach the store.
type scopedBackend struct {
	Backend
	auth *authConfig
}

func notFound(kind, name string) error {
	return model.Errorf(model.KindNotFound, "", "%s %q not found", kind, name)
}

// writer returns the principal of a write, or why it may not write.
func (b scopedBackend) writer(ctx context.Context) (principal, error) {
	p := b.auth.principalFrom(ctx)
	if !p.mayWrite() {
		return p, forbidden("", "role %s may not write", roleName(p))
	}
	return p, nil
}

// current is the unscoped state a tenant's write is judged against.
func (b scopedBackend) current(ctx context.Context) (*model.Snapshot, error) {
	return b.Backend.ConsistentSnapshot(ctx)
}

func (b scopedBackend) ConsistentSnapshot(ctx context.Context) (*model.Snapshot, error) {
	snap, err := b.Backend.ConsistentSnapshot(ctx)
	if err != nil {
		return nil, err
	}
	return scopeSnapshot(b.auth.principalFrom(ctx), snap), nil
}

func (b scopedBackend) SnapshotAndWatch(ctx context.Context) (*model.Snapshot, <-chan model.Change) {
	p := b.auth.principalFrom(ctx)
	snap, ch := b.Backend.SnapshotAndWatch(ctx)
	if !p.scoped() {
		return snap, ch
	}
	f := newTenantFilter(p.tenant, snap)
	out := make(chan model.Change, 256)
	go func() {
		defer close(out)
		for ev := range ch {
			for _, e := range f.pass(ev) {
				select {
				case out <- e:
				case <-ctx.Done():
					return
				}
				if e.Kind == model.ChangeReset {
					return
				}
			}
		}
	}()
	return tenantSnapshot(snap, p.tenant), out
}

// claimTenant checks the tenant an object of a tenant-owned kind (VNs,
// policy rules) names when a tenant writes it: it is the tenant's own (an
// empty one on create becomes it).
func claimTenant(p principal, tenant *string, plural string, create bool) error {
	if *tenant == "" && create {
		*tenant = p.tenant
	}
	if *tenant != p.tenant {
		return forbidden("tenant", "a token of tenant %q may only write %s of tenant %q", p.tenant, plural, p.tenant)
	}
	return nil
}

// existing admits a write to an existing object: the principal may write,
// and a tenant's object kind/name must be in its scope (in), else it does
// not exist for it (404). snap is the unscoped state the write was judged
// against (nil for an unscoped principal).
func (b scopedBackend) existing(ctx context.Context, kind, name string, in func(*model.Snapshot, principal, string) bool) (principal, *model.Snapshot, error) {
	p, err := b.writer(ctx)
	if err != nil || !p.scoped() {
		return p, nil, err
	}
	snap, err := b.current(ctx)
	if err != nil {
		return p, nil, err
	}
	if !in(snap, p, name) {
		return p, nil, notFound(kind, name)
	}
	return p, snap, nil
}

func tenantVN(p principal, vn *model.VN, create bool) error {
	return claimTenant(p, &vn.Tenant, "VNs", create)
}

func inScopeVN(snap *model.Snapshot, p principal, name string) bool {
	v := snap.VNs[name]
	return v != nil && v.Tenant == p.tenant
}

func (b scopedBackend) CreateVN(ctx context.Context, reqID string, vn model.VN) (*model.VN, error) {
	p, err := b.writer(ctx)
	if err != nil {
		return nil, err
	}
	if p.scoped() {
		if err := tenantVN(p, &vn, true); err != nil {
			return nil, err
		}
	}
	return b.Backend.CreateVN(ctx, reqID, vn)
}

func (b scopedBackend) UpdateVNIf(ctx context.Context, reqID string, vn model.VN, expectRev uint64) (*model.VN, error) {
	p, _, err := b.existing(ctx, "vn", vn.Name, inScopeVN)
	if err != nil {
		return nil, err
	}
	if p.scoped() {
		if err := tenantVN(p, &vn, false); err != nil {
			return nil, err
		}
	}
	return b.Backend.UpdateVNIf(ctx, reqID, vn, expectRev)
}

func (b scopedBackend) DeleteVN(ctx context.Context, reqID, name string) (uint64, error) {
	if _, _, err := b.existing(ctx, "vn", name, inScopeVN); err != nil {
		return 0, err
	}
	return b.Backend.DeleteVN(ctx, reqID, name)
}

// portInScope: the port exists and is in a VN of the tenant.
func portInScope(snap *model.Snapshot, p principal, name string) bool {
	pt := snap.Ports.Get(name)
	return pt != nil && inScopeVN(snap, p, pt.VN)
}

func vnReference(name string) error {
	return model.Errorf(model.KindReference, "vn", "vn %q does not exist", name)
}

func (b scopedBackend) CreatePort(ctx context.Context, reqID string, pt model.Port) (*model.Port, error) {
	p, err := b.writer(ctx)
	if err != nil {
		return nil, err
	}
	if p.scoped() {
		snap, err := b.current(ctx)
		if err != nil {
			return nil, err
		}
		if !inScopeVN(snap, p, pt.VN) {
			return nil, vnReference(pt.VN)
		}
	}
	return b.Backend.CreatePort(ctx, reqID, pt)
}

func (b scopedBackend) UpdatePortIf(ctx context.Context, reqID string, pt model.Port, expectRev uint64) (*model.Port, error) {
	p, snap, err := b.existing(ctx, "port", pt.Name, portInScope)
	if err != nil {
		return nil, err
	}
	if p.scoped() && !inScopeVN(snap, p, pt.VN) {
		return nil, vnReference(pt.VN)
	}
	return b.Backend.UpdatePortIf(ctx, reqID, pt, expectRev)
}

func (b scopedBackend) DeletePort(ctx context.Context, reqID, name string) (uint64, error) {
	if _, _, err := b.existing(ctx, "port", name, portInScope); err != nil {
		return 0, err
	}
	return b.Backend.DeletePort(ctx, reqID, name)
}

// admin returns why a principal that is not an admin may not do what.
func (b scopedBackend) admin(ctx context.Context, what string) error {
	if p := b.auth.principalFrom(ctx); !p.isAdmin() {
		return forbidden("", "role %s may not %s: admin only", roleName(p), what)
	}
	return nil
}

func (b scopedBackend) CreateNVE(ctx context.Context, reqID string, nve model.NVE) (*model.NVE, error) {
	if err := b.admin(ctx, "create NVEs"); err != nil {
		return nil, err
	}
	return b.Backend.CreateNVE(ctx, reqID, nve)
}

func (b scopedBackend) UpdateNVEIf(ctx context.Context, reqID string, nve model.NVE, expectRev uint64) (*model.NVE, error) {
	if err := b.admin(ctx, "change NVEs"); err != nil {
		return nil, err
	}
	return b.Backend.UpdateNVEIf(ctx, reqID, nve, expectRev)
}

func (b scopedBackend) DeleteNVE(ctx context.Context, reqID, name string) (uint64, error) {
	if err := b.admin(ctx, "delete NVEs"); err != nil {
		return 0, err
	}
	return b.Backend.DeleteNVE(ctx, reqID, name)
}

func (b scopedBackend) Join(ctx context.Context, node store.NodeInfo) error {
	if err := b.admin(ctx, "add members"); err != nil {
		return err
	}
	return b.Backend.Join(ctx, node)
}

func (b scopedBackend) RemoveNode(ctx context.Context, id string) error {
	if err := b.admin(ctx, "remove members"); err != nil {
		return err
	}
	return b.Backend.RemoveNode(ctx, id)
}

// Batch checks every operation as the single write would be checked, in
// order, against the state the operations before it leave (a tenant may
// create a VN and its ports in one batch). A failure names the item.
func (b scopedBackend) Batch(ctx context.Context, reqID string, ops []store.BatchOp) (*store.BatchResult, error) {
	p, err := b.writer(ctx)
	if err != nil {
		return nil, err
	}
	if !p.isAdmin() {
		for i, op := range ops {
			if op.Kind == wire.KindNVE {
				return nil, forbidden(fmt.Sprintf("items[%d].kind", i), "items[%d]: role %s may not write NVEs: admin only", i, roleName(p))
			}
		}
	}
	if !p.scoped() {
		return b.Backend.Batch(ctx, reqID, ops)
	}
	snap, err := b.current(ctx)
	if err != nil {
		return nil, err
	}
	vns := map[string]bool{}     // VN name -> in scope, as the items leave it
	ports := map[string]string{} // port name -> VN, as the items leave it
	vnIn := func(name string) bool {
		if in, ok := vns[name]; ok {
			return in
		}
		return inScopeVN(snap, p, name)
	}
	portIn := func(name string) bool {
		if vn, ok := ports[name]; ok {
			return vn != "" && vnIn(vn)
		}
		return portInScope(snap, p, name)
	}
	out := make([]store.BatchOp, len(ops))
	for i, op := range ops {
		item := fmt.Sprintf("items[%d]", i)
		switch op.Kind {
		case wire.KindVN:
			name := op.Name
			if op.VN != nil {
				v := *op.VN
				op.VN, name = &v, v.Name
				if op.Op != store.BatchCreate && !vnIn(name) {
					return nil, model.Errorf(model.KindNotFound, item, "%s: vn %q not found", item, name)
				}
				if err := tenantVN(p, op.VN, op.Op == store.BatchCreate); err != nil {
					ae := toAPIError(err)
					ae.Field, ae.Message = item+".object.tenant", item+": "+ae.Message
					return nil, ae
				}
			} else if !vnIn(name) {
				return nil, model.Errorf(model.KindNotFound, item, "%s: vn %q not found", item, name)
			}
			vns[name] = op.Op != store.BatchDelete
		case wire.KindPort:
			name := op.Name
			if op.Port != nil {
				name = op.Port.Name
				if op.Op != store.BatchCreate && !portIn(name) {
					return nil, model.Errorf(model.KindNotFound, item, "%s: port %q not found", item, name)
				}
				if !vnIn(op.Port.VN) {
					return nil, model.Errorf(model.KindReference, item+".object.vn", "%s: vn %q does not exist", item, op.Port.VN)
				}
				ports[name] = op.Port.VN
			} else {
				if !portIn(name) {
					return nil, model.Errorf(model.KindNotFound, item, "%s: port %q not found", item, name)
				}
				ports[name] = ""
			}
		}
		out[i] = op
	}
	return b.Backend.Batch(ctx, reqID, out)
}

// tenantFilter turns the store's changes into a tenant's: the changes of
// its VNs and their ports, and of the NVEs its ports are on (reduced),
// with an NVE appearing (put) before the first of its ports and leaving
// (delete) after the last. A VN or port that moves into or out of the
// scope resets the stream: the client takes a new snapshot.
type tenantFilter struct {
	tenant  string
	vns     map[string]bool
	portNVE map[string]string // the tenant's ports -> their NVE
	refs    map[string]int    // NVE -> the tenant's ports on it
	nves    map[string]*model.NVE
}

func newTenantFilter(tenant string, snap *model.Snapshot) *tenantFilter {
	f := &tenantFilter{tenant: tenant, vns: map[string]bool{}, portNVE: map[string]string{},
		refs: map[string]int{}, nves: map[string]*model.NVE{}}
	for name, v := range snap.VNs {
		if v.Tenant == tenant {
			f.vns[name] = true
		}
	}
	for name, n := range snap.NVEs {
		f.nves[name] = n
	}
	for name, p := range snap.Ports.All() {
		if f.vns[p.VN] {
			f.portNVE[name] = p.NVE
			f.refs[p.NVE]++
		}
	}
	return f
}

func (f *tenantFilter) pass(ev model.Change) []model.Change {
	reset := []model.Change{{Index: ev.Index, Kind: model.ChangeReset}}
	switch ev.Kind {
	case model.ChangeReset:
		return []model.Change{ev}
	case model.ChangeLearned: // learned.go: the tenant's VNs' endpoints
		if learnedInVNs(ev, f.vns) {
			return []model.Change{ev}
		}
		return nil
	case model.ChangeVN:
		old, _ := ev.Old.(*model.VN)
		nw, _ := ev.New.(*model.VN)
		inOld, inNew := old != nil && old.Tenant == f.tenant, nw != nil && nw.Tenant == f.tenant
		switch {
		case !inOld && !inNew:
			return nil
		case old != nil && nw != nil && inOld != inNew:
			return reset
		}
		if ev.Op == model.OpDelete {
			delete(f.vns, ev.Name)
		} else {
			f.vns[ev.Name] = true
		}
		return []model.Change{ev}
	case model.ChangePort:
		old, _ := ev.Old.(*model.Port)
		nw, _ := ev.New.(*model.Port)
		inOld, inNew := old != nil && f.vns[old.VN], nw != nil && f.vns[nw.VN]
		switch {
		case !inOld && !inNew:
			return nil
		case old != nil && nw != nil && inOld != inNew:
			return reset
		}
		var out []model.Change
		if inNew && (old == nil || old.NVE != nw.NVE) {
			if f.refs[nw.NVE]++; f.refs[nw.NVE] == 1 {
				out = append(out, model.Change{Index: ev.Index, Kind: model.ChangeNVE, Op: model.OpPut, Name: nw.NVE, New: reducedNVE(f.nves[nw.NVE])})
			}
			f.portNVE[nw.Name] = nw.NVE
		}
		out = append(out, ev)
		if inOld && (nw == nil || old.NVE != nw.NVE) {
			if f.refs[old.NVE]--; f.refs[old.NVE] <= 0 {
				delete(f.refs, old.NVE)
				out = append(out, model.Change{Index: ev.Index, Kind: model.ChangeNVE, Op: model.OpDelete, Name: old.NVE, Old: reducedNVE(f.nves[old.NVE])})
			}
			if nw == nil {
				delete(f.portNVE, old.Name)
			}
		}
		return out
	case model.ChangeNVE:
		nw, _ := ev.New.(*model.NVE)
		old, _ := ev.Old.(*model.NVE)
		if ev.Op == model.OpDelete {
			delete(f.nves, ev.Name)
		} else {
			f.nves[ev.Name] = nw
		}
		if f.refs[ev.Name] == 0 {
			return nil
		}
		e := ev
		e.Old, e.New = nil, nil
		if old != nil {
			e.Old = reducedNVE(old)
		}
		if nw != nil {
			e.New = reducedNVE(nw)
		}
		return []model.Change{e}
	}
	return nil
}
