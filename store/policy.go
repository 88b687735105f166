package store

import (
	"context"
	"maps"
	"slices"

	"github.com/nva-project/nva/app/model"
)

// Inter-VN policy rules (model.PolicyRule) are objects like VNs: created,
// updated and deleted by typed commands of their own (0x20-0x22), kept in
// every model.Snapshot (Snapshot.Policies) and published as events of
// kind "policy". The state keeps them in a map replaced on every change
// (copy on write: rules are few), so a snapshot shares it as is.

// Command types of the policy rules (never renumber or reuse).
const (
	cmdCreatePolicy cmdType = 0x20
	cmdUpdatePolicy cmdType = 0x21
	cmdDeletePolicy cmdType = 0x22
)

// KindPolicy is the Event.Kind of a policy rule change.
const KindPolicy = "policy"

// policySpecs registers the policy commands (registry.go).
var policySpecs = []cmdSpec{
	{cmdCreatePolicy, 1, "create-policy", decodeV1(decodeCreate[model.PolicyRule, policyKind])},
	{cmdUpdatePolicy, 1, "update-policy", decodeV1(decodeUpdate[model.PolicyRule, policyKind])},
	{cmdDeletePolicy, 1, "delete-policy", decodeV1(decodeDelete[model.PolicyRule, policyKind])},
}

// policyState is the rules by name; the map is never changed once built
// (put and del replace it).
type policyState struct {
	byName map[string]*model.PolicyRule
}

func (ps *policyState) put(r *model.PolicyRule) {
	m := maps.Clone(ps.byName)
	if m == nil {
		m = map[string]*model.PolicyRule{}
	}
	m[r.Name] = r
	ps.byName = m
}

func (ps *policyState) del(name string) {
	if _, ok := ps.byName[name]; !ok {
		return
	}
	m := maps.Clone(ps.byName)
	delete(m, name)
	ps.byName = m
}

// --- the kind ---

type policyKind struct{}

func (policyKind) name() string { return KindPolicy }
func (policyKind) commands() kindCommands {
	return kindCommands{cmdCreatePolicy, cmdUpdatePolicy, cmdDeletePolicy}
}
func (policyKind) key(r *model.PolicyRule) string       { return r.Name }
func (policyKind) revision(r *model.PolicyRule) *uint64 { return &r.Revision }
func (policyKind) prepare(r model.PolicyRule) (model.PolicyRule, error) {
	r.Ports = slices.Clone(r.Ports)
	return prepared(r, (*model.PolicyRule).Defaults, (*model.PolicyRule).Validate)
}
func (policyKind) get(st *state, name string) *model.PolicyRule { return st.policies.byName[name] }
func (policyKind) put(st *state, r *model.PolicyRule)           { st.policies.put(r) }
func (policyKind) del(st *state, name string)                   { st.policies.del(name) }
func (policyKind) dependents(*state, string) map[string]struct{} {
	return nil
}
func (policyKind) setResult(r *result, p *model.PolicyRule) { r.Policy = p }
func (policyKind) fromResult(r *result) *model.PolicyRule   { return r.Policy }

// admit: the rule's VNs exist in its tenant and L3 domain, its priority is
// free in the domain, and the domain has room for it.
func (policyKind) admit(st *state, r, _ *model.PolicyRule) *model.Error {
	return model.CheckPolicyRule(r, st.vns, st.policies.byName)
}

func (policyKind) toV1(b *bodyV1, r *model.PolicyRule) { b.Policy = toLogPolicy(r) }
func (policyKind) fromV1(b *bodyV1) (model.PolicyRule, bool) {
	if b.Policy == nil {
		return model.PolicyRule{}, false
	}
	return *b.Policy.model(), true
}

// --- the log's types ---

type logPolicy struct {
	Name     string         `json:"name"`
	Tenant   string         `json:"tenant,omitempty"`
	L3Domain string         `json:"l3_domain"`
	Priority int            `json:"priority"`
	Action   string         `json:"action"`
	Source   logEndpoint    `json:"source"`
	Dest     logEndpoint    `json:"destination"`
	Protocol string         `json:"protocol"`
	Ports    []logPortRange `json:"ports,omitempty"`
	Revision uint64         `json:"revision,omitempty"`
}

type logEndpoint struct {
	VN   string `json:"vn,omitempty"`
	CIDR string `json:"cidr,omitempty"`
}

type logPortRange struct {
	From uint16 `json:"from"`
	To   uint16 `json:"to"`
}

func toLogPolicy(r *model.PolicyRule) *logPolicy {
	if r == nil {
		return nil
	}
	out := &logPolicy{Name: r.Name, Tenant: r.Tenant, L3Domain: r.L3Domain, Priority: r.Priority,
		Action: string(r.Action), Source: logEndpoint(r.Source), Dest: logEndpoint(r.Dest),
		Protocol: string(r.Protocol), Revision: r.Revision}
	for _, p := range r.Ports {
		out.Ports = append(out.Ports, logPortRange(p))
	}
	return out
}

func (l *logPolicy) model() *model.PolicyRule {
	if l == nil {
		return nil
	}
	out := &model.PolicyRule{Name: l.Name, Tenant: l.Tenant, L3Domain: l.L3Domain, Priority: l.Priority,
		Action: model.PolicyAction(l.Action), Source: model.PolicyEndpoint(l.Source), Dest: model.PolicyEndpoint(l.Dest),
		Protocol: model.PolicyProtocol(l.Protocol), Revision: l.Revision}
	for _, p := range l.Ports {
		out.Ports = append(out.Ports, model.PortRange(p))
	}
	return out
}

// --- snapshots ---

// policyRecords are the snapshot records of the rules, in name order.
func policyRecords(ps *policyState) []snapRecord {
	var out []snapRecord
	for _, r := range model.SortedRules(ps.byName) {
		out = append(out, snapRecord{Policy: toLogPolicy(r)})
	}
	return out
}

// --- the Store's methods ---

// CreatePolicy creates an inter-VN policy rule.
func (s *Store) CreatePolicy(ctx context.Context, reqID string, r model.PolicyRule) (*model.PolicyRule, error) {
	return createObject[model.PolicyRule, policyKind](ctx, s, reqID, r)
}

// UpdatePolicyIf replaces a rule (by name), conditionally on its revision
// when expectRev is not 0 (see UpdateVNIf).
func (s *Store) UpdatePolicyIf(ctx context.Context, reqID string, r model.PolicyRule, expectRev uint64) (*model.PolicyRule, error) {
	return updateObject[model.PolicyRule, policyKind](ctx, s, reqID, r, expectRev)
}

// DeletePolicy deletes a rule; it returns the raft index.
func (s *Store) DeletePolicy(ctx context.Context, reqID, name string) (uint64, error) {
	return deleteObject[model.PolicyRule, policyKind](ctx, s, reqID, name)
}
