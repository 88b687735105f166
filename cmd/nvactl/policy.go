package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/nva-project/nva/web/wire"
)

// policyKind is `nvactl policy ...`: the inter-VN policy rules of L3
// domains (/api/v1/policies).
var policyKind = kindSpec{
	name: "policy", plural: "policies",
	long: "inter-VN policy rules of L3 domains (VNs of a domain reach each other only where a rule allows it; higher priority first)",
	fields: []field{
		{"tenant", "tenant", "string", "tenant (a tenant token's own by default)"},
		{"l3-domain", "l3_domain", "string", "the L3 domain the rule belongs to"},
		{"priority", "priority", "int", "1-65535, unique in the domain; higher is evaluated first"},
		{"action", "action", "string", "allow (default) or deny"},
		{"src-vn", "source.vn", "string", "source: a VN of the domain"},
		{"src-cidr", "source.cidr", "string", "source: an IPv4/IPv6 CIDR"},
		{"dst-vn", "destination.vn", "string", "destination: a VN of the domain"},
		{"dst-cidr", "destination.cidr", "string", "destination: an IPv4/IPv6 CIDR"},
		{"protocol", "protocol", "string", "any (default), tcp, udp, icmp or icmpv6"},
		{"port", "ports", "ports", "destination port or range LO-HI (tcp/udp; repeat or comma-separate; replaces the list on update)"},
	},
	filters: []string{"tenant", "l3_domain"},
	header:  []string{"NAME", "TENANT", "L3-DOMAIN", "PRIORITY", "ACTION", "SOURCE", "DESTINATION", "PROTOCOL", "PORTS", "REVISION"},
	row: func(raw json.RawMessage) ([]string, error) {
		var r wire.PolicyRule
		if err := json.Unmarshal(raw, &r); err != nil {
			return nil, err
		}
		var ports []string
		for _, p := range r.Ports {
			if p.From == p.To {
				ports = append(ports, strconv.Itoa(int(p.From)))
			} else {
				ports = append(ports, fmt.Sprintf("%d-%d", p.From, p.To))
			}
		}
		ep := func(vn, cidr string) string {
			switch {
			case vn != "":
				return "vn:" + vn
			case cidr != "":
				return cidr
			}
			return "any"
		}
		return []string{r.Name, r.Tenant, r.L3Domain, strconv.Itoa(r.Priority), string(r.Action),
			ep(r.Source.VN, r.Source.CIDR), ep(r.Dest.VN, r.Dest.CIDR), string(r.Protocol), strings.Join(ports, ","),
			strconv.FormatUint(r.Revision, 10)}, nil
	},
}

// portsFlag parses --port values: PORT or LO-HI.
func portsFlag(fs *pflag.FlagSet, f field) (any, error) {
	vals, err := fs.GetStringSlice(f.flag)
	if err != nil {
		return nil, err
	}
	type portRange struct {
		From int `json:"from"`
		To   int `json:"to"`
	}
	out := []portRange{}
	for _, v := range vals {
		if v == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(v, "-")
		a, err1 := strconv.Atoi(lo)
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("--%s %q: want PORT or LO-HI (like 443 or 8000-8080)", f.flag, v)
		}
		out = append(out, portRange{a, b})
	}
	return out, nil
}
