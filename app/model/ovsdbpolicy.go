package model

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path"
	"strconv"
	"strings"
)

// DefaultOVSDBAllow is the OVSDB endpoint policy when none is configured:
// unix sockets (they reach this machine only) and the standard OVSDB port
// on loopback. An NVE on another host needs the operator to allow its
// address (tcp:10.0.0.0/8:6640, ssl:*:6640, ...).
const DefaultOVSDBAllow = "unix:*,tcp:127.0.0.1:6640,tcp:[::1]:6640"

// OVSDBPolicyForms is the syntax of an OVSDB endpoint policy, for
// messages and flag usage.
const OVSDBPolicyForms = `comma-separated rules, each "*" (any endpoint), "none", ` +
	`unix:* | unix:/PATH (that socket) | unix:/DIR/* (any socket below DIR), or ` +
	`tcp:HOST[:PORTS] | ssl:HOST[:PORTS] with HOST "*", an IP address, an IP/len prefix ` +
	`(IPv6 in brackets: [fd00::/8]) or a DNS name (matched exactly, never resolved), ` +
	`and PORTS "*", N or N-M (omitted: any port)`

// OVSDBPolicy is an allow-list of the OVSDB endpoints (an NVE's "ovsdb"
// field) nva may be told to dial, so that the API cannot make it connect
// anywhere: a request forgery and port-probing tool. It is checked where
// requests enter (the REST API), never by the store's state machine, whose
// result may not depend on a node's configuration.
type OVSDBPolicy struct {
	text  string
	rules []ovsdbRule
}

type ovsdbRule struct {
	scheme string // unix, tcp, ssl; "" matches any endpoint
	// unix
	path   string // exact socket path
	dir    string // any socket below it ("" and path "": any socket)
	anyAll bool   // unix:* or "*"
	// tcp, ssl
	anyHost bool
	prefix  netip.Prefix // valid: an address or prefix
	name    string       // a DNS name, lower case, no trailing dot
	portLo  int
	portHi  int
}

// ParseOVSDBPolicy parses a policy (OVSDBPolicyForms). "none" allows no
// endpoint; an empty policy is an error (say "none").
func ParseOVSDBPolicy(s string) (*OVSDBPolicy, error) {
	p := &OVSDBPolicy{text: s}
	var errs []error
	var none bool
	n := 0
	for _, raw := range strings.Split(s, ",") {
		r := strings.TrimSpace(raw)
		if r == "" {
			continue
		}
		n++
		if r == "none" {
			none = true
			continue
		}
		rule, err := parseOVSDBRule(r)
		if err != nil {
			errs = append(errs, fmt.Errorf("%q: %w", r, err))
			continue
		}
		p.rules = append(p.rules, rule)
	}
	if n == 0 {
		return nil, errors.New(`no rule (say "none" to allow no OVSDB endpoint)`)
	}
	if none && n > 1 {
		errs = append(errs, errors.New(`"none" cannot be combined with other rules`))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

// MustOVSDBPolicy parses a policy known to be valid (a constant); it
// panics otherwise.
func MustOVSDBPolicy(s string) *OVSDBPolicy {
	p, err := ParseOVSDBPolicy(s)
	if err != nil {
		panic(fmt.Sprintf("OVSDB policy %q: %v", s, err))
	}
	return p
}

// String is the policy as it was given.
func (p *OVSDBPolicy) String() string { return p.text }

func parseOVSDBRule(r string) (ovsdbRule, error) {
	if r == "*" {
		return ovsdbRule{anyAll: true}, nil
	}
	scheme, rest, ok := strings.Cut(r, ":")
	if !ok || rest == "" {
		return ovsdbRule{}, errors.New("want unix:…, tcp:… or ssl:…")
	}
	switch scheme {
	case "unix":
		return parseUnixRule(rest)
	case "tcp", "ssl":
		rule, err := parseNetRule(rest)
		rule.scheme = scheme
		return rule, err
	}
	return ovsdbRule{}, fmt.Errorf("unknown scheme %q (want unix, tcp or ssl)", scheme)
}

func parseUnixRule(p string) (ovsdbRule, error) {
	rule := ovsdbRule{scheme: "unix"}
	switch {
	case p == "*":
		rule.anyAll = true
	case !strings.HasPrefix(p, "/"):
		return rule, errors.New("a unix socket path must be absolute (or *)")
	case strings.HasSuffix(p, "/*"):
		d := path.Clean(strings.TrimSuffix(p, "*"))
		if strings.Contains(d, "*") {
			return rule, errors.New(`only a final "/*" is a wildcard`)
		}
		rule.dir = d
	case strings.Contains(p, "*"):
		return rule, errors.New(`only a final "/*" is a wildcard`)
	default:
		rule.path = path.Clean(p)
	}
	return rule, nil
}

func parseNetRule(s string) (ovsdbRule, error) {
	var rule ovsdbRule
	host, ports := s, ""
	if strings.HasPrefix(s, "[") {
		end := strings.Index(s, "]")
		if end < 0 {
			return rule, errors.New(`missing "]" after an IPv6 address`)
		}
		host = s[1:end]
		switch after := s[end+1:]; {
		case after == "":
		case strings.HasPrefix(after, ":"):
			ports = after[1:]
			if ports == "" {
				return rule, errors.New("empty port")
			}
		default:
			return rule, fmt.Errorf("unexpected %q after the IPv6 address", after)
		}
		if !strings.Contains(host, ":") {
			return rule, errors.New("brackets are for IPv6 addresses only")
		}
	} else {
		if strings.Count(s, ":") > 1 {
			return rule, errors.New("an IPv6 address must be in brackets: [::1], [fd00::/8]")
		}
		if h, p, ok := strings.Cut(s, ":"); ok {
			host, ports = h, p
			if ports == "" {
				return rule, errors.New("empty port")
			}
		}
	}
	switch {
	case host == "":
		return rule, errors.New("no host")
	case host == "*":
		rule.anyHost = true
	case strings.Contains(host, "/"):
		pfx, err := netip.ParsePrefix(host)
		if err != nil {
			return rule, fmt.Errorf("%q is not an IP prefix", host)
		}
		if a := pfx.Addr(); a.Is4In6() && pfx.Bits() >= 96 {
			pfx = netip.PrefixFrom(a.Unmap(), pfx.Bits()-96)
		}
		rule.prefix = pfx.Masked()
	default:
		if a, err := netip.ParseAddr(host); err == nil {
			if a.Zone() != "" {
				return rule, errors.New("an address with a zone is not supported")
			}
			a = a.Unmap()
			rule.prefix = netip.PrefixFrom(a, a.BitLen())
		} else if validDNSName(host) {
			rule.name = normalizeName(host)
		} else {
			return rule, fmt.Errorf("%q is neither *, an IP address, an IP prefix nor a DNS name", host)
		}
	}
	rule.portLo, rule.portHi = 1, 65535
	if ports != "" && ports != "*" {
		lo, hi, isRange := strings.Cut(ports, "-")
		if !isRange {
			hi = lo
		}
		a, errA := strconv.Atoi(lo)
		b, errB := strconv.Atoi(hi)
		if errA != nil || errB != nil || a < 1 || b > 65535 || a > b {
			return rule, fmt.Errorf("port %q must be *, N or N-M with 1 <= N <= M <= 65535", ports)
		}
		rule.portLo, rule.portHi = a, b
	}
	return rule, nil
}

func validDNSName(h string) bool {
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

func normalizeName(h string) string { return strings.ToLower(strings.TrimSuffix(h, ".")) }

// Allows reports whether the policy allows a well-formed OVSDB endpoint
// (ValidateOVSDBEndpoint); a malformed one is never allowed.
func (p *OVSDBPolicy) Allows(endpoint string) bool {
	if ValidateOVSDBEndpoint(endpoint) != nil {
		return false
	}
	scheme, rest, _ := strings.Cut(endpoint, ":")
	var addr netip.Addr
	var name string
	var port int
	if scheme != "unix" {
		h, ps, _ := net.SplitHostPort(rest)
		port, _ = strconv.Atoi(ps)
		if a, err := netip.ParseAddr(h); err == nil {
			addr = a.WithZone("").Unmap()
		} else {
			name = normalizeName(h)
		}
	}
	for _, r := range p.rules {
		if r.scheme == "" && r.anyAll {
			return true
		}
		if r.scheme != scheme {
			continue
		}
		if scheme == "unix" {
			sock := path.Clean(rest)
			if r.anyAll || (r.path != "" && sock == r.path) ||
				(r.dir != "" && strings.HasPrefix(sock, strings.TrimSuffix(r.dir, "/")+"/")) {
				return true
			}
			continue
		}
		if port < r.portLo || port > r.portHi {
			continue
		}
		switch {
		case r.anyHost:
			return true
		case r.name != "":
			if name == r.name {
				return true
			}
		case addr.IsValid() && r.prefix.IsValid():
			if r.prefix.Contains(addr) {
				return true
			}
		}
	}
	return false
}

// CheckNVE answers whether an NVE's OVSDB endpoint is allowed: nil, or a
// KindInvalid *Error on field "ovsdb". A malformed endpoint passes (the
// NVE's validation names what is wrong with it).
func (p *OVSDBPolicy) CheckNVE(n *NVE) error {
	if n.OVSDB == "" || ValidateOVSDBEndpoint(n.OVSDB) != nil || p.Allows(n.OVSDB) {
		return nil
	}
	return Errorf(KindInvalid, "ovsdb",
		"ovsdb endpoint %q is not allowed by this cluster's OVSDB endpoint policy (%s); an operator allows it with nva --ovsdb-allow",
		n.OVSDB, p.text)
}
