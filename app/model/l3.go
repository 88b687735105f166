package model

import (
	"fmt"
	"net/netip"
)

// L3 VN service (RFC 8014 §3.1, §5.4): a VN may have subnets, each with a
// gateway address that every NVE hosting the VN answers for with
// GatewayMAC (the distributed anycast gateway), and may belong to an L3
// domain: a routing context (VRF-like) of its tenant. VNs of one domain
// (same tenant and same l3_domain) are routed between on the ingress NVE;
// VNs of different domains, or without one, never are. Overlapping
// subnets are valid across domains and a conflict within one (the store
// checks that: it sees every VN).

// Subnet is one IP subnet of a VN with its gateway address.
type Subnet struct {
	CIDR    string `json:"cidr"`
	Gateway string `json:"gateway"`
}

// GatewayMAC is the MAC of the distributed anycast gateway: the same on
// every NVE and in every VN, so a VM that moves keeps a valid neighbor
// entry for its gateway. It is locally administered ("NVA" in bytes 2-4)
// and no port may use it.
var GatewayMAC = [6]byte{0x02, 0x4e, 0x56, 0x41, 0x00, 0x01}

// GatewayMACText is GatewayMAC in canonical text.
const GatewayMACText = "02:4e:56:41:00:01"

// Routed reports whether the VN's service includes L3 (l3 or l2l3).
func (v *VN) Routed() bool { return v.Service == ServiceL3 || v.Service == ServiceL2L3 }

// Bridged reports whether the VN floods and forwards L2 frames between its
// ports (l2 and l2l3; an l3 VN forwards only IP and ARP/ND is answered).
func (v *VN) Bridged() bool { return v.Service != ServiceL3 }

// DomainKey identifies the VN's L3 domain across tenants ("" when the VN
// is in no domain or is not routed): tenant and domain name.
func (v *VN) DomainKey() string {
	if v.L3Domain == "" || !v.Routed() {
		return ""
	}
	return v.Tenant + "/" + v.L3Domain
}

// Prefixes returns the VN's subnets parsed (invalid ones skipped).
func (v *VN) Prefixes() []netip.Prefix {
	out := make([]netip.Prefix, 0, len(v.Subnets))
	for _, s := range v.Subnets {
		if p, err := netip.ParsePrefix(s.CIDR); err == nil {
			out = append(out, p.Masked())
		}
	}
	return out
}

// Gateways returns the VN's gateway addresses (invalid ones skipped).
func (v *VN) Gateways() []netip.Addr {
	out := make([]netip.Addr, 0, len(v.Subnets))
	for _, s := range v.Subnets {
		if a, err := netip.ParseAddr(s.Gateway); err == nil {
			out = append(out, a.Unmap())
		}
	}
	return out
}

// IsGateway reports whether a is one of the VN's gateway addresses.
func (v *VN) IsGateway(a netip.Addr) bool {
	for _, g := range v.Gateways() {
		if g == a.Unmap() {
			return true
		}
	}
	return false
}

// InSubnets reports whether a falls in one of the VN's subnets (true when
// the VN has none: then any address is accepted).
func (v *VN) InSubnets(a netip.Addr) bool {
	if len(v.Subnets) == 0 {
		return true
	}
	for _, p := range v.Prefixes() {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

// defaultsL3 canonicalizes subnets (masked prefix, canonical gateway).
func (v *VN) defaultsL3() {
	for i, s := range v.Subnets {
		if p, err := netip.ParsePrefix(s.CIDR); err == nil {
			v.Subnets[i].CIDR = p.Masked().String()
		}
		if a, err := netip.ParseAddr(s.Gateway); err == nil {
			v.Subnets[i].Gateway = a.Unmap().String()
		}
	}
	if v.Subnets != nil && len(v.Subnets) == 0 {
		v.Subnets = nil
	}
}

// validateL3 checks subnets and the L3 domain.
func (v *VN) validateL3(fe *FieldErrors) {
	var prefixes []netip.Prefix
	gws := map[netip.Addr]int{}
	for i, s := range v.Subnets {
		f := fmt.Sprintf("subnets[%d]", i)
		p, err := netip.ParsePrefix(s.CIDR)
		if err != nil {
			fe.Add(f+".cidr", "%q is not an IPv4 or IPv6 CIDR (like 10.0.1.0/24 or 2001:db8:1::/64)", s.CIDR)
			continue
		}
		p = p.Masked()
		switch {
		case p.Addr().Is4() && p.Bits() > 30:
			fe.Add(f+".cidr", "an IPv4 subnet must be /30 or larger (room for a gateway and a host)")
			continue
		case p.Addr().Is6() && p.Bits() > 126:
			fe.Add(f+".cidr", "an IPv6 subnet must be /126 or larger")
			continue
		case p.Addr().IsMulticast() || p.Addr().IsLoopback() || p.Addr().IsLinkLocalUnicast():
			fe.Add(f+".cidr", "%s is not a unicast subnet", p)
			continue
		}
		overlap := false
		for j, q := range prefixes {
			if q.IsValid() && q.Overlaps(p) {
				fe.Add(f+".cidr", "%s overlaps subnets[%d] %s", p, j, q)
				overlap = true
				break
			}
		}
		if overlap {
			prefixes = append(prefixes, netip.Prefix{})
		} else {
			prefixes = append(prefixes, p)
		}
		g, err := netip.ParseAddr(s.Gateway)
		switch {
		case s.Gateway == "":
			fe.Add(f+".gateway", "is required (the distributed gateway's address in %s)", p)
		case err != nil || g.Zone() != "":
			fe.Add(f+".gateway", "%q is not an IP address", s.Gateway)
		case !p.Contains(g.Unmap()):
			fe.Add(f+".gateway", "%s is not inside its subnet %s", g, p)
		case g.Unmap() == p.Addr():
			fe.Add(f+".gateway", "%s is the subnet's network address", g)
		case g.Is4() && g == lastAddr(p):
			fe.Add(f+".gateway", "%s is the subnet's broadcast address", g)
		default:
			if j, dup := gws[g.Unmap()]; dup {
				fe.Add(f+".gateway", "duplicate gateway address %s (also subnets[%d])", g, j)
			}
			gws[g.Unmap()] = i
		}
	}
	if v.L3Domain != "" {
		switch {
		case !ValidName(v.L3Domain):
			fe.Add("l3_domain", "must be 1-63 characters of letters, digits, '_', '.', '-', starting with a letter or digit")
		case !v.Routed():
			fe.Add("l3_domain", "needs service l3 or l2l3 (an l2 VN is not routed)")
		case len(v.Subnets) == 0:
			fe.Add("l3_domain", "needs at least one subnet with a gateway (routed traffic enters through the gateway)")
		}
	}
}

// lastAddr is the highest address of an IPv4 prefix (its broadcast).
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	n := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | host
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}

// CheckPortInVN checks a port against its VN's L3 service: when the VN has
// subnets every IP of the port must fall in one, and no port IP may be a
// gateway address; no port may use GatewayMAC. The error names the field.
func CheckPortInVN(p *Port, v *VN) *Error {
	if m, ok := p.MACAddr(); ok && m == GatewayMAC {
		return Errorf(KindInvalid, "mac", "mac %s is reserved for nva's distributed gateway", GatewayMACText)
	}
	for i, ip := range p.IPs {
		a, err := netip.ParseAddr(ip)
		if err != nil {
			continue // Validate reports it
		}
		f := fmt.Sprintf("ips[%d]", i)
		if v.IsGateway(a) {
			return Errorf(KindConflict, f, "ip %s is the gateway address of vn %q", a, v.Name)
		}
		if a.Unmap().Is6() && a.IsLinkLocalUnicast() {
			continue
		}
		if !v.InSubnets(a) {
			return Errorf(KindInvalid, f, "ip %s is not in a subnet of vn %q (%s)", a, v.Name, subnetList(v))
		}
	}
	return nil
}

func subnetList(v *VN) string {
	s := ""
	for i, sn := range v.Subnets {
		if i > 0 {
			s += ", "
		}
		s += sn.CIDR
	}
	return s
}

// SubnetOverlap returns the first pair of overlapping subnets between two
// VNs (index into a's and b's Subnets), if any.
func SubnetOverlap(a, b *VN) (int, int, bool) {
	pb := b.Prefixes()
	for i, s := range a.Subnets {
		p, err := netip.ParsePrefix(s.CIDR)
		if err != nil {
			continue
		}
		for j, q := range pb {
			if p.Overlaps(q) {
				return i, j, true
			}
		}
	}
	return 0, 0, false
}

// L3Domains returns the snapshot's routed VNs with subnets by DomainKey,
// each list in name order (computed on each call: O(VNs)).
func (s *Snapshot) L3Domains() map[string][]string {
	out := map[string][]string{}
	for _, v := range s.SortedVNs() {
		if k := v.DomainKey(); k != "" && len(v.Subnets) > 0 {
			out[k] = append(out[k], v.Name)
		}
	}
	return out
}
