package model

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Inter-VN policy (RFC 8014 §5.4, §14): the VNs of one L3 domain do not
// reach each other until a rule allows it. A PolicyRule belongs to an L3
// domain of its tenant (the same tenant + l3_domain pair that groups the
// VNs, see VN.DomainKey); it selects routed packets by source and
// destination (each a VN of the domain or a CIDR), protocol and
// destination ports, and allows or denies them. Rules are evaluated by
// priority, highest first; the first that matches decides, and a packet
// no rule matches is dropped (default deny). Priorities are unique within
// a domain (the store answers 409 on a duplicate), so the order is total.
// Traffic within one VN, routed or bridged, is never subject to policy.
//
// Stateful: on Open vSwitch an allowed connection is committed to
// connection tracking (a zone per domain), so its replies pass without a
// reverse rule. The strict OpenFlow 1.3 profile has no connection
// tracking: its rules are stateless, and replies of an allowed connection
// need a rule of their own (for TCP/UDP, one whose destination is the
// source and whose ports are the client's).

// PolicyAction is what a rule does with the packets it selects.
type PolicyAction string

const (
	PolicyAllow PolicyAction = "allow"
	PolicyDeny  PolicyAction = "deny"
)

// PolicyProtocol is the IP protocol a rule selects.
type PolicyProtocol string

const (
	ProtoAny    PolicyProtocol = "any"
	ProtoTCP    PolicyProtocol = "tcp"
	ProtoUDP    PolicyProtocol = "udp"
	ProtoICMP   PolicyProtocol = "icmp"
	ProtoICMPv6 PolicyProtocol = "icmpv6"
)

// MaxPolicyPriority is the highest rule priority; MaxPolicyRules the most
// rules one L3 domain may have (every rule is a handful of flows on every
// NVE hosting a VN of the domain).
const (
	MaxPolicyPriority = 65535
	MaxPolicyRules    = 100
)

// PolicyEndpoint is a rule's source or destination: exactly one of a VN
// of the rule's L3 domain or an IPv4/IPv6 CIDR. Both empty: any.
type PolicyEndpoint struct {
	VN   string `json:"vn,omitempty"`
	CIDR string `json:"cidr,omitempty"`
}

// Any reports whether the endpoint selects every address.
func (e PolicyEndpoint) Any() bool { return e.VN == "" && e.CIDR == "" }

// Prefix returns the endpoint's CIDR parsed (false when it has none).
func (e PolicyEndpoint) Prefix() (netip.Prefix, bool) {
	p, err := netip.ParsePrefix(e.CIDR)
	if err != nil {
		return netip.Prefix{}, false
	}
	return p.Masked(), true
}

// PortRange is an inclusive range of TCP/UDP destination ports.
type PortRange struct {
	From uint16 `json:"from"`
	To   uint16 `json:"to"`
}

// PolicyRule is one rule of an L3 domain's inter-VN policy.
type PolicyRule struct {
	Name     string         `json:"name"`
	Tenant   string         `json:"tenant,omitempty"`
	L3Domain string         `json:"l3_domain"`
	Priority int            `json:"priority"`
	Action   PolicyAction   `json:"action"`
	Source   PolicyEndpoint `json:"source"`
	Dest     PolicyEndpoint `json:"destination"`
	Protocol PolicyProtocol `json:"protocol"`
	// Ports are the destination ports (tcp and udp only; empty: all).
	Ports []PortRange `json:"ports,omitempty"`
	// Revision is the store (Raft) index of the last change.
	Revision uint64 `json:"revision,omitempty"`
}

// DomainKey is the rule's L3 domain across tenants, as VN.DomainKey.
func (r *PolicyRule) DomainKey() string { return r.Tenant + "/" + r.L3Domain }

// Defaults fills omitted fields and canonicalizes CIDRs.
func (r *PolicyRule) Defaults() {
	if r.Action == "" {
		r.Action = PolicyAllow
	}
	if r.Protocol == "" {
		r.Protocol = ProtoAny
	}
	for _, e := range []*PolicyEndpoint{&r.Source, &r.Dest} {
		if p, err := netip.ParsePrefix(e.CIDR); err == nil {
			e.CIDR = p.Masked().String()
		}
	}
	if r.Ports != nil && len(r.Ports) == 0 {
		r.Ports = nil
	}
}

// Validate checks a defaulted rule: every field alone. That its VNs exist
// in the same tenant and domain, and that its priority is free in the
// domain, the store checks (it sees every VN and rule).
func (r *PolicyRule) Validate() error {
	var fe FieldErrors
	checkName(&fe, r.Name)
	if r.Tenant != "" && !ValidName(r.Tenant) {
		fe.Add("tenant", "must be 1-63 characters of letters, digits, '_', '.', '-'")
	}
	switch {
	case r.L3Domain == "":
		fe.Add("l3_domain", "is required (the L3 domain whose VNs the rule is about)")
	case !ValidName(r.L3Domain):
		fe.Add("l3_domain", "must be 1-63 characters of letters, digits, '_', '.', '-', starting with a letter or digit")
	}
	if r.Priority < 1 || r.Priority > MaxPolicyPriority {
		fe.Add("priority", "must be between 1 and %d (higher is evaluated first)", MaxPolicyPriority)
	}
	switch r.Action {
	case PolicyAllow, PolicyDeny:
	default:
		fe.Add("action", "must be one of allow, deny")
	}
	fam := map[string]bool{}
	for _, ep := range []struct {
		field string
		e     PolicyEndpoint
	}{{"source", r.Source}, {"destination", r.Dest}} {
		switch {
		case ep.e.VN != "" && ep.e.CIDR != "":
			fe.Add(ep.field, "give a vn or a cidr, not both")
		case ep.e.VN != "" && !ValidName(ep.e.VN):
			fe.Add(ep.field+".vn", "%q is not a valid VN name", ep.e.VN)
		case ep.e.CIDR != "":
			p, err := netip.ParsePrefix(ep.e.CIDR)
			if err != nil || p.Addr().Zone() != "" {
				fe.Add(ep.field+".cidr", "%q is not an IPv4 or IPv6 CIDR (like 10.0.2.0/24 or 2001:db8:2::/64)", ep.e.CIDR)
			} else if p.Addr().Is4() {
				fam["4"] = true
			} else {
				fam["6"] = true
			}
		}
	}
	if fam["4"] && fam["6"] {
		fe.Add("destination.cidr", "source and destination CIDRs must be of one address family")
	}
	switch r.Protocol {
	case ProtoAny, ProtoTCP, ProtoUDP:
	case ProtoICMP:
		if fam["6"] {
			fe.Add("protocol", "icmp is IPv4: use icmpv6 with IPv6 CIDRs")
		}
	case ProtoICMPv6:
		if fam["4"] {
			fe.Add("protocol", "icmpv6 is IPv6: use icmp with IPv4 CIDRs")
		}
	default:
		fe.Add("protocol", "must be one of any, tcp, udp, icmp, icmpv6")
	}
	if len(r.Ports) > 0 && r.Protocol != ProtoTCP && r.Protocol != ProtoUDP {
		fe.Add("ports", "destination ports need protocol tcp or udp")
	}
	if len(r.Ports) > 16 {
		fe.Add("ports", "at most 16 port ranges")
	}
	for i, pr := range r.Ports {
		f := fmt.Sprintf("ports[%d]", i)
		switch {
		case pr.From < 1:
			fe.Add(f+".from", "must be between 1 and 65535")
		case pr.To < 1:
			fe.Add(f+".to", "must be between 1 and 65535")
		case pr.From > pr.To:
			fe.Add(f, "from %d is above to %d", pr.From, pr.To)
		}
	}
	return fe.Err()
}

// CheckPolicyRule checks a rule against the domain's VNs and other rules
// (vns: every VN; rules: every rule, the rule's old version included):
// its VNs exist in its tenant and L3 domain, its priority is free in the
// domain, and the domain has room. The error names the field.
func CheckPolicyRule(r *PolicyRule, vns map[string]*VN, rules map[string]*PolicyRule) *Error {
	for _, ep := range []struct {
		field string
		e     PolicyEndpoint
	}{{"source.vn", r.Source}, {"destination.vn", r.Dest}} {
		if ep.e.VN == "" {
			continue
		}
		v := vns[ep.e.VN]
		if v == nil || v.Tenant != r.Tenant {
			return Errorf(KindReference, ep.field, "vn %q does not exist", ep.e.VN)
		}
		if v.DomainKey() != r.DomainKey() {
			return Errorf(KindConflict, ep.field, "vn %q is not in l3_domain %q", ep.e.VN, r.L3Domain)
		}
	}
	n := 0
	for _, o := range SortedRules(rules) {
		if o.Name == r.Name || o.DomainKey() != r.DomainKey() {
			continue
		}
		n++
		if o.Priority == r.Priority {
			return Errorf(KindConflict, "priority", "priority %d is already used by rule %q in l3_domain %q", r.Priority, o.Name, r.L3Domain)
		}
	}
	if n >= MaxPolicyRules {
		return Errorf(KindConflict, "l3_domain", "l3_domain %q already has %d rules (the most one domain may have)", r.L3Domain, MaxPolicyRules)
	}
	return nil
}

// SortedRules returns the rules by name.
func SortedRules(rules map[string]*PolicyRule) []*PolicyRule {
	out := make([]*PolicyRule, 0, len(rules))
	for _, r := range rules {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *PolicyRule) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// DomainRules returns the rules of the L3 domain domainKey in evaluation
// order: priority descending, then name (priorities are unique in a
// domain; the name only orders rules a snapshot got otherwise).
func (s *Snapshot) DomainRules(domainKey string) []*PolicyRule {
	var out []*PolicyRule
	for _, r := range s.Policies {
		if r.DomainKey() == domainKey {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b *PolicyRule) int {
		if c := cmp.Compare(b.Priority, a.Priority); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

// ChangedPolicyDomains returns the L3 domain keys of the rules that differ
// between two snapshots (created, replaced or deleted; compared by
// identity, as the store replaces a rule when it changes), sorted.
func ChangedPolicyDomains(old, cur *Snapshot) []string {
	set := map[string]bool{}
	for name, r := range cur.Policies {
		if o := old.Policies[name]; o != r {
			set[r.DomainKey()] = true
			if o != nil {
				set[o.DomainKey()] = true
			}
		}
	}
	for name, o := range old.Policies {
		if _, ok := cur.Policies[name]; !ok {
			set[o.DomainKey()] = true
		}
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
