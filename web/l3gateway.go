package web

import (
	"context"
	"net/http"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/store"
)

// L3 gateways (/api/v1/l3gateways): the generic resource handlers over
// model.L3Gateway. Every role reads; a tenant reads only its tenant's
// gateways. Writes are for admins and operators: a gateway claims an
// NVE's uplink and external addresses, which are the provider's, so a
// tenant's write is 403 (field tenant).

func (s *Server) l3GatewayResource() *resource[model.L3Gateway] {
	return &resource[model.L3Gateway]{
		kind: "l3gateway", plural: "l3gateways",
		all: func(sn *model.Snapshot) []*model.L3Gateway { return sn.SortedL3Gateways() },
		lookup: func(sn *model.Snapshot, n string) (*model.L3Gateway, bool) {
			g, ok := sn.L3Gateways[n]
			return g, ok
		},
		nameOf:   func(g *model.L3Gateway) string { return g.Name },
		revision: func(g *model.L3Gateway) uint64 { return g.Revision },
		clear:    func(g *model.L3Gateway) { g.Revision, g.CTZone = 0, 0 },
		create:   s.be.CreateL3Gateway,
		update:   s.be.UpdateL3GatewayIf,
		remove:   s.be.DeleteL3Gateway,
		recorded: func(r store.Recorded) *model.L3Gateway { return r.L3Gateway },
		filter: func(r *http.Request) func(*model.L3Gateway) bool {
			q := r.URL.Query()
			hasT, hasD := q.Has("tenant"), q.Has("l3_domain")
			if !hasT && !hasD {
				return nil
			}
			t, d := q.Get("tenant"), q.Get("l3_domain")
			return func(g *model.L3Gateway) bool { return (!hasT || g.Tenant == t) && (!hasD || g.L3Domain == d) }
		},
	}
}

// tenantL3Gateways is the part of the gateways a tenant sees (nil: none).
func tenantL3Gateways(all map[string]*model.L3Gateway, tenant string) map[string]*model.L3Gateway {
	var out map[string]*model.L3Gateway
	for name, g := range all {
		if g.Tenant == tenant {
			if out == nil {
				out = map[string]*model.L3Gateway{}
			}
			out[name] = g
		}
	}
	return out
}

// gatewayWriter returns why the request's principal may not write L3
// gateways (nil: it may).
func (b scopedBackend) gatewayWriter(ctx context.Context) error {
	p, err := b.writer(ctx)
	if err != nil {
		return err
	}
	if p.scoped() {
		return forbidden("tenant", "a token of tenant %q may not write L3 gateways (an operator assigns uplinks and external addresses)", p.tenant)
	}
	return nil
}

func (b scopedBackend) CreateL3Gateway(ctx context.Context, reqID string, g model.L3Gateway) (*model.L3Gateway, error) {
	if err := b.gatewayWriter(ctx); err != nil {
		return nil, err
	}
	return b.Backend.CreateL3Gateway(ctx, reqID, g)
}

func (b scopedBackend) UpdateL3GatewayIf(ctx context.Context, reqID string, g model.L3Gateway, expectRev uint64) (*model.L3Gateway, error) {
	if err := b.gatewayWriter(ctx); err != nil {
		return nil, err
	}
	return b.Backend.UpdateL3GatewayIf(ctx, reqID, g, expectRev)
}

func (b scopedBackend) DeleteL3Gateway(ctx context.Context, reqID, name string) (uint64, error) {
	if err := b.gatewayWriter(ctx); err != nil {
		return 0, err
	}
	return b.Backend.DeleteL3Gateway(ctx, reqID, name)
}
