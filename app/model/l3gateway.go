package model

import (
	"fmt"
	"net"
	"net/netip"
	"sort"
)

// L3 gateway to a non-virtualized IP network (RFC 8014 §5.3): one NVE of
// kind ovs (Open vSwitch profile: the gateway needs connection tracking
// and NAT) has an uplink interface on its bridge toward an external IPv4
// network. Tenant systems of the gateway's L3 domain reach external
// addresses through it with their source translated to the gateway's
// external address (SNAT, so overlapping tenant subnets of different
// domains can share one external network); replies are translated back.
// A floating IP maps an external address 1:1 to a tenant address (DNAT
// inbound, SNAT outbound), so the tenant system is reachable from outside.
// The external network is reachable only through the gateway. One gateway
// per L3 domain (several gateways for one domain, for redundancy or
// scale, are a later issue).
//
// The next hop's MAC is configured (next_hop_mac): nva does not resolve it
// with ARP (a later issue); the gateway itself answers ARP on the uplink
// for its external address and its floating IPs.

// ChangeL3Gateway is the Change kind of L3 gateways.
const ChangeL3Gateway = "l3gateway"

// L3Gateway is the gateway of one tenant's L3 domain.
type L3Gateway struct {
	Name string `json:"name"`
	// Tenant and L3Domain name the L3 domain (VNs with that tenant and
	// l3_domain); at most one gateway per domain.
	Tenant   string `json:"tenant,omitempty"`
	L3Domain string `json:"l3_domain"`
	// NVE is the gateway NVE (kind ovs, OVS profile); Uplink the
	// interface on its bridge toward the external network.
	NVE    string `json:"nve"`
	Uplink string `json:"uplink"`
	// ExternalIP is the gateway's address and prefix on the external
	// network (like 203.0.113.10/24); IPv4.
	ExternalIP string `json:"external_ip"`
	// NextHop is the external router every external destination is sent
	// to, inside ExternalIP's prefix; NextHopMAC its MAC (required: nva
	// does not ARP for it).
	NextHop    string `json:"next_hop"`
	NextHopMAC string `json:"next_hop_mac"`
	// FloatingIPs map external addresses 1:1 to tenant addresses.
	FloatingIPs []FloatingIP `json:"floating_ips,omitempty"`
	// CTZone is the conntrack zone of the gateway's NAT, allocated by nva
	// from GatewayZoneFirst..GatewayZoneLast (read-only).
	CTZone   uint16 `json:"ct_zone,omitempty"`
	Revision uint64 `json:"revision,omitempty"`
}

// FloatingIP maps an external address to a tenant address of the
// gateway's L3 domain.
type FloatingIP struct {
	ExternalIP string `json:"external_ip"`
	InternalIP string `json:"internal_ip"`
}

// Conntrack zones of L3 gateways' NAT: one per gateway, in a range of
// their own (inter-VN policy uses others), allocated lowest-free by the
// store.
const (
	GatewayZoneFirst uint16 = 0xf000
	GatewayZoneLast  uint16 = 0xfffe
)

// ExternalMAC is the gateway's MAC on its uplink (its ARP answers and
// the packets it routes to the next hop): locally administered,
// 02:4e:56:47 ("NVG") then its conntrack zone, so two gateways on one
// external segment never share a MAC.
func (g *L3Gateway) ExternalMAC() [6]byte {
	return [6]byte{0x02, 0x4e, 0x56, 0x47, byte(g.CTZone >> 8), byte(g.CTZone)}
}

// DomainKey is the gateway's L3 domain as model.VN.DomainKey spells it.
func (g *L3Gateway) DomainKey() string { return g.Tenant + "/" + g.L3Domain }

// External returns the external address and prefix (invalid if unset or
// bad).
func (g *L3Gateway) External() (netip.Addr, netip.Prefix) {
	p, err := netip.ParsePrefix(g.ExternalIP)
	if err != nil {
		return netip.Addr{}, netip.Prefix{}
	}
	return p.Addr(), p.Masked()
}

// NextHopAddr returns the next hop's address and MAC.
func (g *L3Gateway) NextHopAddr() (netip.Addr, [6]byte, bool) {
	a, err := netip.ParseAddr(g.NextHop)
	m, merr := net.ParseMAC(g.NextHopMAC)
	if err != nil || merr != nil || len(m) != 6 {
		return netip.Addr{}, [6]byte{}, false
	}
	return a, [6]byte(m), true
}

// Defaults canonicalizes the gateway's addresses.
func (g *L3Gateway) Defaults() {
	if p, err := netip.ParsePrefix(g.ExternalIP); err == nil {
		g.ExternalIP = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()).String()
	}
	if a, err := netip.ParseAddr(g.NextHop); err == nil {
		g.NextHop = a.Unmap().String()
	}
	if m, err := net.ParseMAC(g.NextHopMAC); err == nil && len(m) == 6 {
		g.NextHopMAC = m.String()
	}
	for i, f := range g.FloatingIPs {
		if a, err := netip.ParseAddr(f.ExternalIP); err == nil {
			g.FloatingIPs[i].ExternalIP = a.Unmap().String()
		}
		if a, err := netip.ParseAddr(f.InternalIP); err == nil {
			g.FloatingIPs[i].InternalIP = a.Unmap().String()
		}
	}
	if g.FloatingIPs != nil && len(g.FloatingIPs) == 0 {
		g.FloatingIPs = nil
	}
}

// Validate checks a defaulted gateway (the stateless rules; the store
// checks the NVE's kind and profile, one gateway per domain and unique
// external addresses).
func (g *L3Gateway) Validate() error {
	var fe FieldErrors
	checkName(&fe, g.Name)
	if g.Tenant != "" && !ValidName(g.Tenant) {
		fe.Add("tenant", "must be 1-63 characters of letters, digits, '_', '.', '-', starting with a letter or digit")
	}
	switch {
	case g.L3Domain == "":
		fe.Add("l3_domain", "is required (the L3 domain whose tenants reach the external network)")
	case !ValidName(g.L3Domain):
		fe.Add("l3_domain", "must be 1-63 characters of letters, digits, '_', '.', '-', starting with a letter or digit")
	}
	if g.NVE == "" {
		fe.Add("nve", "is required (the ovs NVE with the uplink)")
	} else if !ValidName(g.NVE) {
		fe.Add("nve", "is not a valid NVE name")
	}
	if !ifaceRE.MatchString(g.Uplink) {
		fe.Add("uplink", "must be the interface name (1-15 characters) of the uplink on the NVE's bridge")
	}
	ext, err := netip.ParsePrefix(g.ExternalIP)
	extOK := false
	switch {
	case g.ExternalIP == "":
		fe.Add("external_ip", "is required (address/prefix on the external network, like 203.0.113.10/24)")
	case err != nil:
		fe.Add("external_ip", "%q is not an address/prefix (like 203.0.113.10/24)", g.ExternalIP)
	case !ext.Addr().Is4():
		fe.Add("external_ip", "must be IPv4 (the gateway's NAT is IPv4)")
	case ext.Bits() > 30 || ext.Bits() < 8:
		fe.Add("external_ip", "prefix length must be 8-30 (room for the gateway and its next hop)")
	case !unicastHost(ext.Addr(), ext):
		fe.Add("external_ip", "%s is not a unicast host address of %s", ext.Addr(), ext.Masked())
	default:
		extOK = true
	}
	nh, err := netip.ParseAddr(g.NextHop)
	switch {
	case g.NextHop == "":
		fe.Add("next_hop", "is required (the external router's address)")
	case err != nil || !nh.Unmap().Is4():
		fe.Add("next_hop", "%q is not an IPv4 address", g.NextHop)
	case extOK && !ext.Masked().Contains(nh.Unmap()):
		fe.Add("next_hop", "%s is not inside external_ip's prefix %s", nh, ext.Masked())
	case extOK && nh.Unmap() == ext.Addr():
		fe.Add("next_hop", "%s is the gateway's own external address", nh)
	}
	if m, err := net.ParseMAC(g.NextHopMAC); err != nil || len(m) != 6 {
		fe.Add("next_hop_mac", "%q is not a MAC address (nva does not resolve the next hop: give its MAC)", g.NextHopMAC)
	} else if m[0]&1 != 0 || [6]byte(m) == [6]byte{} {
		fe.Add("next_hop_mac", "%s is not a unicast MAC", m)
	}
	seenExt := map[netip.Addr]int{}
	seenInt := map[netip.Addr]int{}
	for i, f := range g.FloatingIPs {
		fx := fmt.Sprintf("floating_ips[%d]", i)
		e, err := netip.ParseAddr(f.ExternalIP)
		switch {
		case err != nil || !e.Unmap().Is4():
			fe.Add(fx+".external_ip", "%q is not an IPv4 address", f.ExternalIP)
		case extOK && !unicastHost(e.Unmap(), ext.Masked()):
			fe.Add(fx+".external_ip", "%s is not a unicast host address of external_ip's prefix %s (the gateway answers ARP for it on the uplink)", e, ext.Masked())
		case extOK && e.Unmap() == ext.Addr():
			fe.Add(fx+".external_ip", "%s is the gateway's own external address", e)
		case nh.IsValid() && e.Unmap() == nh.Unmap():
			fe.Add(fx+".external_ip", "%s is the next hop's address", e)
		default:
			if j, dup := seenExt[e.Unmap()]; dup {
				fe.Add(fx+".external_ip", "duplicate floating IP %s (also floating_ips[%d])", e, j)
			}
			seenExt[e.Unmap()] = i
		}
		in, err := netip.ParseAddr(f.InternalIP)
		switch {
		case err != nil || !in.Unmap().Is4():
			fe.Add(fx+".internal_ip", "%q is not an IPv4 address (a tenant address of the L3 domain)", f.InternalIP)
		default:
			if j, dup := seenInt[in.Unmap()]; dup {
				fe.Add(fx+".internal_ip", "tenant address %s already has a floating IP (floating_ips[%d])", in, j)
			}
			seenInt[in.Unmap()] = i
		}
	}
	if g.CTZone != 0 && (g.CTZone < GatewayZoneFirst || g.CTZone > GatewayZoneLast) {
		fe.Add("ct_zone", "is allocated by nva in %d-%d (leave it out)", GatewayZoneFirst, GatewayZoneLast)
	}
	return fe.Err()
}

// unicastHost reports whether a is a host address of IPv4 prefix p (not
// its network or broadcast address, not multicast or loopback).
func unicastHost(a netip.Addr, p netip.Prefix) bool {
	p = p.Masked()
	return p.Contains(a) && a != p.Addr() && a != lastAddr(p) && !a.IsMulticast() && !a.IsLoopback() && !a.IsUnspecified()
}

// Floating returns the gateway's floating IPs parsed (invalid ones
// skipped), in the order given.
func (g *L3Gateway) Floating() [][2]netip.Addr {
	var out [][2]netip.Addr
	for _, f := range g.FloatingIPs {
		e, err1 := netip.ParseAddr(f.ExternalIP)
		in, err2 := netip.ParseAddr(f.InternalIP)
		if err1 == nil && err2 == nil {
			out = append(out, [2]netip.Addr{e.Unmap(), in.Unmap()})
		}
	}
	return out
}

// CheckGatewayNVE checks the gateway's NVE: it must be an ovs NVE on the
// OVS profile (connection tracking and NAT are Open vSwitch extensions).
func CheckGatewayNVE(g *L3Gateway, n *NVE) *Error {
	if n == nil {
		return Errorf(KindReference, "nve", "nve %q does not exist", g.NVE)
	}
	if n.Kind != NVEOVS || (n.Profile != "" && n.Profile != ProfileOVS) {
		return Errorf(KindInvalid, "nve", "nve %q is kind %s profile %q: an L3 gateway needs an ovs NVE on profile %s (conntrack and NAT)", n.Name, n.Kind, n.Profile, ProfileOVS)
	}
	return nil
}

// GatewayFor returns the gateway of an L3 domain (DomainKey) in the
// snapshot, if any (the first by name: the store allows one).
func (s *Snapshot) GatewayFor(domainKey string) *L3Gateway {
	if domainKey == "" {
		return nil
	}
	var best *L3Gateway
	for _, g := range s.L3Gateways {
		if g.DomainKey() == domainKey && (best == nil || g.Name < best.Name) {
			best = g
		}
	}
	return best
}

// SortedL3Gateways returns the snapshot's gateways by name.
func (s *Snapshot) SortedL3Gateways() []*L3Gateway {
	out := make([]*L3Gateway, 0, len(s.L3Gateways))
	for _, g := range s.L3Gateways {
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// GatewayNVEsOf returns the names of the NVEs whose compiled state a
// change of gateway g affects: the gateway NVE and every NVE hosting a
// VN of its domain.
func (s *Snapshot) GatewayNVEsOf(g *L3Gateway) []string {
	out := []string{g.NVE}
	for _, v := range s.L3Domains()[g.DomainKey()] {
		out = append(out, s.NVEsHosting(v)...)
	}
	return out
}

// GatewayPeers returns the NVEs that exchange gateway traffic with NVE
// nve without sharing a VN with it: for an NVE hosting a VN of a domain
// with a gateway, the gateway NVE (with the VNs it tunnels into it); for
// a gateway NVE, every NVE hosting a VN of its domains. VNs sorted.
func (s *Snapshot) GatewayPeers(nve string) []Peer {
	vnsOf := map[string]map[string]bool{}
	add := func(n, vn string) {
		if n == nve {
			return
		}
		if vnsOf[n] == nil {
			vnsOf[n] = map[string]bool{}
		}
		vnsOf[n][vn] = true
	}
	domains := s.L3Domains()
	for _, g := range s.SortedL3Gateways() {
		for _, v := range domains[g.DomainKey()] {
			hosts := s.NVEsHosting(v)
			if g.NVE == nve {
				for _, n := range hosts {
					add(n, v)
				}
				continue
			}
			for _, n := range hosts {
				if n == nve {
					add(g.NVE, v)
				}
			}
		}
	}
	names := make([]string, 0, len(vnsOf))
	for n := range vnsOf {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]Peer, 0, len(names))
	for _, n := range names {
		var vns []string
		for v := range vnsOf[n] {
			vns = append(vns, v)
		}
		sort.Strings(vns)
		out = append(out, Peer{NVE: n, VNs: vns})
	}
	return out
}
