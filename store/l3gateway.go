package store

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/nva-project/nva/app/model"
)

// L3 gateways (model.L3Gateway): a kind of object like VNs, NVEs and
// ports, with commands of their own (0x28-0x2a), a state map, snapshot
// records and events of kind KindL3Gateway. Its log type (logL3Gateway)
// is frozen like the others.

// KindL3Gateway is the event kind of L3 gateway changes.
const KindL3Gateway = model.ChangeL3Gateway

// Command types of L3 gateways (0x28-0x2f are theirs).
const (
	cmdCreateL3Gateway cmdType = 0x28
	cmdUpdateL3Gateway cmdType = 0x29
	cmdDeleteL3Gateway cmdType = 0x2a
)

// l3GatewayCommands are the registry entries of the gateway commands.
var l3GatewayCommands = []cmdSpec{
	{cmdCreateL3Gateway, 1, "create-l3gateway", decodeV1(decodeCreate[model.L3Gateway, l3GatewayKind])},
	{cmdUpdateL3Gateway, 1, "update-l3gateway", decodeV1(decodeUpdate[model.L3Gateway, l3GatewayKind])},
	{cmdDeleteL3Gateway, 1, "delete-l3gateway", decodeV1(decodeDelete[model.L3Gateway, l3GatewayKind])},
}

type l3GatewayKind struct{}

func (l3GatewayKind) name() string { return KindL3Gateway }
func (l3GatewayKind) commands() kindCommands {
	return kindCommands{cmdCreateL3Gateway, cmdUpdateL3Gateway, cmdDeleteL3Gateway}
}
func (l3GatewayKind) key(g *model.L3Gateway) string       { return g.Name }
func (l3GatewayKind) revision(g *model.L3Gateway) *uint64 { return &g.Revision }
func (l3GatewayKind) prepare(g model.L3Gateway) (model.L3Gateway, error) {
	g.FloatingIPs = slices.Clone(g.FloatingIPs) // Defaults rewrites them in place
	return prepared(g, (*model.L3Gateway).Defaults, (*model.L3Gateway).Validate)
}
func (l3GatewayKind) get(st *state, name string) *model.L3Gateway { return st.gateways[name] }
func (l3GatewayKind) put(st *state, g *model.L3Gateway) {
	if st.gateways == nil {
		st.gateways = map[string]*model.L3Gateway{}
	}
	st.gateways[g.Name] = g
}
func (l3GatewayKind) del(st *state, name string) { delete(st.gateways, name) }
func (l3GatewayKind) dependents(*state, string) map[string]struct{} {
	return nil
}
func (l3GatewayKind) setResult(r *result, g *model.L3Gateway) { r.L3Gateway = g }
func (l3GatewayKind) fromResult(r *result) *model.L3Gateway   { return r.L3Gateway }

// admit: the NVE exists and is an ovs NVE on the OVS profile; one gateway
// per L3 domain; external and floating addresses are used by no other
// gateway; the conntrack zone is kept on update and allocated lowest-free
// on create.
func (l3GatewayKind) admit(st *state, g, old *model.L3Gateway) *model.Error {
	if e := model.CheckGatewayNVE(g, st.nves[g.NVE]); e != nil {
		return e
	}
	for _, pn := range slices.Sorted(maps.Keys(st.portsOfNVE[g.NVE])) {
		if p := st.ports[pn]; p != nil && p.Interface == g.Uplink {
			return model.Errorf(model.KindConflict, "uplink", "interface %s on nve %q is port %q's", g.Uplink, g.NVE, pn)
		}
	}
	ext, _ := g.External()
	mine := map[string]string{ext.String(): "external_ip"}
	for i, f := range g.Floating() {
		mine[f[0].String()] = fmt.Sprintf("floating_ips[%d].external_ip", i)
	}
	used := map[uint16]bool{}
	for _, name := range slices.Sorted(maps.Keys(st.gateways)) {
		o := st.gateways[name]
		if name == g.Name {
			continue
		}
		used[o.CTZone] = true
		if o.DomainKey() == g.DomainKey() {
			return model.Errorf(model.KindConflict, "l3_domain", "l3_domain %q of tenant %q already has gateway %q (one gateway per L3 domain)", g.L3Domain, g.Tenant, name)
		}
		if o.NVE == g.NVE && o.Uplink == g.Uplink {
			return model.Errorf(model.KindConflict, "uplink", "uplink %s on nve %q is already gateway %q's", g.Uplink, g.NVE, name)
		}
		oext, _ := o.External()
		theirs := []string{oext.String()}
		for _, f := range o.Floating() {
			theirs = append(theirs, f[0].String())
		}
		for _, a := range theirs {
			if field, ok := mine[a]; ok {
				return model.Errorf(model.KindConflict, field, "external address %s is already used by gateway %q", a, name)
			}
		}
	}
	switch {
	case old != nil && old.CTZone != 0:
		g.CTZone = old.CTZone
	default:
		g.CTZone = 0
		for z := model.GatewayZoneFirst; z <= model.GatewayZoneLast; z++ {
			if !used[z] {
				g.CTZone = z
				break
			}
		}
		if g.CTZone == 0 {
			return model.Errorf(model.KindConflict, "ct_zone", "no free conntrack zone left for a gateway")
		}
	}
	return nil
}

// logL3Gateway is a gateway in the log (frozen keys).
type logL3Gateway struct {
	Name        string          `json:"name"`
	Tenant      string          `json:"tenant,omitempty"`
	L3Domain    string          `json:"l3_domain"`
	NVE         string          `json:"nve"`
	Uplink      string          `json:"uplink"`
	ExternalIP  string          `json:"external_ip"`
	NextHop     string          `json:"next_hop"`
	NextHopMAC  string          `json:"next_hop_mac"`
	FloatingIPs []logFloatingIP `json:"floating_ips,omitempty"`
	CTZone      uint16          `json:"ct_zone,omitempty"`
	Revision    uint64          `json:"revision,omitempty"`
}

type logFloatingIP struct {
	ExternalIP string `json:"external_ip"`
	InternalIP string `json:"internal_ip"`
}

func toLogL3Gateway(g *model.L3Gateway) *logL3Gateway {
	if g == nil {
		return nil
	}
	out := &logL3Gateway{Name: g.Name, Tenant: g.Tenant, L3Domain: g.L3Domain, NVE: g.NVE, Uplink: g.Uplink,
		ExternalIP: g.ExternalIP, NextHop: g.NextHop, NextHopMAC: g.NextHopMAC, CTZone: g.CTZone, Revision: g.Revision}
	for _, f := range g.FloatingIPs {
		out.FloatingIPs = append(out.FloatingIPs, logFloatingIP{ExternalIP: f.ExternalIP, InternalIP: f.InternalIP})
	}
	return out
}

func (l *logL3Gateway) model() *model.L3Gateway {
	if l == nil {
		return nil
	}
	out := &model.L3Gateway{Name: l.Name, Tenant: l.Tenant, L3Domain: l.L3Domain, NVE: l.NVE, Uplink: l.Uplink,
		ExternalIP: l.ExternalIP, NextHop: l.NextHop, NextHopMAC: l.NextHopMAC, CTZone: l.CTZone, Revision: l.Revision}
	for _, f := range l.FloatingIPs {
		out.FloatingIPs = append(out.FloatingIPs, model.FloatingIP{ExternalIP: f.ExternalIP, InternalIP: f.InternalIP})
	}
	return out
}

func (l3GatewayKind) toV1(b *bodyV1, g *model.L3Gateway) { b.L3Gateway = toLogL3Gateway(g) }
func (l3GatewayKind) fromV1(b *bodyV1) (model.L3Gateway, bool) {
	if b.L3Gateway == nil {
		return model.L3Gateway{}, false
	}
	return *b.L3Gateway.model(), true
}

// checkUplinkFree refuses a port on an interface that is an L3 gateway's
// uplink on the same NVE (portKind.admit).
func checkUplinkFree(st *state, p *model.Port) *model.Error {
	for _, name := range slices.Sorted(maps.Keys(st.gateways)) {
		if g := st.gateways[name]; g.NVE == p.NVE && g.Uplink == p.Interface {
			return model.Errorf(model.KindConflict, "interface", "interface %s on nve %q is the uplink of L3 gateway %q", p.Interface, p.NVE, name)
		}
	}
	return nil
}

// l3GatewayRecords are the snapshot records of the gateways, by name.
func l3GatewayRecords(st *state) []snapRecord {
	var out []snapRecord
	for _, name := range slices.Sorted(maps.Keys(st.gateways)) {
		out = append(out, snapRecord{L3Gateway: toLogL3Gateway(st.gateways[name])})
	}
	return out
}

// l3GatewaysView is the gateways map a snapshot shares (nil when none).
func l3GatewaysView(st *state) map[string]*model.L3Gateway {
	if len(st.gateways) == 0 {
		return nil
	}
	return maps.Clone(st.gateways)
}

// CreateL3Gateway creates an L3 gateway.
func (s *Store) CreateL3Gateway(ctx context.Context, reqID string, g model.L3Gateway) (*model.L3Gateway, error) {
	return createObject[model.L3Gateway, l3GatewayKind](ctx, s, reqID, g)
}

// UpdateL3GatewayIf replaces an L3 gateway (by name); expectRev as
// UpdateVNIf (0: unconditional).
func (s *Store) UpdateL3GatewayIf(ctx context.Context, reqID string, g model.L3Gateway, expectRev uint64) (*model.L3Gateway, error) {
	return updateObject[model.L3Gateway, l3GatewayKind](ctx, s, reqID, g, expectRev)
}

// DeleteL3Gateway deletes an L3 gateway; it returns the raft index.
func (s *Store) DeleteL3Gateway(ctx context.Context, reqID, name string) (uint64, error) {
	return deleteObject[model.L3Gateway, l3GatewayKind](ctx, s, reqID, name)
}
