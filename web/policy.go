package web

import (
	"context"
	"net/http"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/store"
)

// The inter-VN policy rules of L3 domains: /api/v1/policies, the generic
// resource (list, create, get, PATCH, delete). A tenant token sees and
// writes only its tenant's rules (a rule's tenant defaults to the
// token's on create); the store checks that a rule's VNs are of its
// tenant and L3 domain. A list may be filtered by ?tenant= and
// ?l3_domain=.

func (s *Server) policyResource() *resource[model.PolicyRule] {
	return &resource[model.PolicyRule]{
		kind: "policy", plural: "policies",
		all: func(sn *model.Snapshot) []*model.PolicyRule { return model.SortedRules(sn.Policies) },
		lookup: func(sn *model.Snapshot, n string) (*model.PolicyRule, bool) {
			r, ok := sn.Policies[n]
			return r, ok
		},
		nameOf:   func(r *model.PolicyRule) string { return r.Name },
		revision: func(r *model.PolicyRule) uint64 { return r.Revision },
		clear:    func(r *model.PolicyRule) { r.Revision = 0 },
		create:   s.be.CreatePolicy,
		update:   s.be.UpdatePolicyIf,
		remove:   s.be.DeletePolicy,
		recorded: func(r store.Recorded) *model.PolicyRule { return r.Policy },
		filter: func(r *http.Request) func(*model.PolicyRule) bool {
			q := r.URL.Query()
			hasT, hasD := q.Has("tenant"), q.Has("l3_domain")
			if !hasT && !hasD {
				return nil
			}
			t, d := q.Get("tenant"), q.Get("l3_domain")
			return func(p *model.PolicyRule) bool {
				return (!hasT || p.Tenant == t) && (!hasD || p.L3Domain == d)
			}
		},
	}
}

// tenantPolicies is the part of snap's rules a tenant sees.
func tenantPolicies(snap *model.Snapshot, tenant string) map[string]*model.PolicyRule {
	out := map[string]*model.PolicyRule{}
	for name, r := range snap.Policies {
		if r.Tenant == tenant {
			out[name] = r
		}
	}
	return out
}

// policy records a rule's write: every NVE hosting a VN of its L3 domain,
// before and after.
func (a *affected) policy(r *model.PolicyRule) {
	for _, snap := range []*model.Snapshot{a.before, a.after} {
		if snap == nil {
			continue
		}
		for _, vn := range snap.L3Domains()[r.DomainKey()] {
			a.hosts(snap, vn)
		}
	}
}

func inScopeRule(snap *model.Snapshot, p principal, name string) bool {
	r := snap.Policies[name]
	return r != nil && r.Tenant == p.tenant
}

func (b scopedBackend) CreatePolicy(ctx context.Context, reqID string, r model.PolicyRule) (*model.PolicyRule, error) {
	p, err := b.writer(ctx)
	if err != nil {
		return nil, err
	}
	if p.scoped() {
		if err := claimTenant(p, &r.Tenant, "policy rules", true); err != nil {
			return nil, err
		}
	}
	return b.Backend.CreatePolicy(ctx, reqID, r)
}

func (b scopedBackend) UpdatePolicyIf(ctx context.Context, reqID string, r model.PolicyRule, expectRev uint64) (*model.PolicyRule, error) {
	p, _, err := b.existing(ctx, "policy", r.Name, inScopeRule)
	if err != nil {
		return nil, err
	}
	if p.scoped() {
		if err := claimTenant(p, &r.Tenant, "policy rules", false); err != nil {
			return nil, err
		}
	}
	return b.Backend.UpdatePolicyIf(ctx, reqID, r, expectRev)
}

func (b scopedBackend) DeletePolicy(ctx context.Context, reqID, name string) (uint64, error) {
	if _, _, err := b.existing(ctx, "policy", name, inScopeRule); err != nil {
		return 0, err
	}
	return b.Backend.DeletePolicy(ctx, reqID, name)
}
