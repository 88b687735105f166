// Package scenario builds small, valid model snapshots and compiler inputs
// for the compiler's golden tests, the packet simulator's tests and the
// southbound's tests. It is test support: nothing in the daemon uses it.
package scenario

import (
	"fmt"
	"sort"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/model"
)

// Domain is a mutable description of a domain that yields snapshots and
// per-NVE compiler inputs. OpenFlow port numbers are assigned per NVE in
// the order interfaces are added, starting at 1; flow-based tunnel ports
// get 100 (vxlan), 101 (geneve), 102 (gre); the per-remote tunnel port
// to the i-th NVE added (from 0) gets 1000 + 3i + 0 (vxlan), 1 (geneve)
// or 2 (gre), on every NVE (see RemoteTunnelOFPort).
type Domain struct {
	VNs     map[string]*model.VN
	NVEs    map[string]*model.NVE
	Ports   map[string]*model.Port
	Learned map[string]*model.LearnedEndpoint // segment.go
	ofports map[string]map[string]uint32
	nveIdx  map[string]int
	rev     uint64
	// Policies are the inter-VN policy rules (Rule).
	Policies map[string]*model.PolicyRule
	// Gateways are the L3 gateways (l3gateway.go).
	Gateways map[string]*model.L3Gateway
}

// New returns an empty domain.
func New() *Domain {
	return &Domain{VNs: map[string]*model.VN{}, NVEs: map[string]*model.NVE{}, Ports: map[string]*model.Port{},
		ofports: map[string]map[string]uint32{}, nveIdx: map[string]int{}}
}

// TunnelOFPort is the OpenFlow port number the scenarios give the tunnel
// port of an encapsulation.
func TunnelOFPort(e model.Encap) uint32 {
	switch e {
	case model.EncapGENEVE:
		return 101
	case model.EncapGRE:
		return 102
	}
	return 100
}

func encapIndex(e model.Encap) uint32 {
	switch e {
	case model.EncapGENEVE:
		return 1
	case model.EncapGRE:
		return 2
	}
	return 0
}

// RemoteTunnelOFPort is the OpenFlow port number, on every NVE, of the
// per-remote tunnel port (strict profile) to NVE remote with
// encapsulation e.
func (d *Domain) RemoteTunnelOFPort(remote string, e model.Encap) uint32 {
	i, ok := d.nveIdx[remote]
	if !ok {
		panic("scenario: unknown NVE " + remote)
	}
	return 1000 + 3*uint32(i) + encapIndex(e)
}

// TunnelPeer returns the remote NVE and encapsulation of a per-remote
// tunnel port number.
func (d *Domain) TunnelPeer(port uint32) (string, model.Encap, bool) {
	for n := range d.nveIdx {
		for _, e := range model.Encaps {
			if d.RemoteTunnelOFPort(n, e) == port {
				return n, e, true
			}
		}
	}
	return "", "", false
}

func (d *Domain) bump() uint64 { d.rev++; return d.rev }

// VN adds a VN (defaulted and validated; panics on invalid input, since
// scenarios are fixed test data).
func (d *Domain) VN(name string, vni uint32, opts ...func(*model.VN)) *Domain {
	v := &model.VN{Name: name, VNI: vni}
	for _, o := range opts {
		o(v)
	}
	v.Defaults()
	must(v.Validate())
	v.Revision = d.bump()
	d.VNs[name] = v
	return d
}

// NVE adds an OVS NVE with one underlay IP.
func (d *Domain) NVE(name, underlay string) *Domain {
	n := &model.NVE{Name: name, UnderlayIPs: []string{underlay}, OVSDB: "unix:/run/" + name + "/db.sock", DatapathID: fmt.Sprintf("%016x", len(d.NVEs)+1)}
	n.Defaults()
	must(n.Validate())
	n.Revision = d.bump()
	if _, ok := d.nveIdx[name]; !ok {
		d.nveIdx[name] = len(d.nveIdx)
	}
	d.NVEs[name] = n
	if d.ofports[name] == nil {
		d.ofports[name] = map[string]uint32{}
	}
	return d
}

// Port adds a port on interface iface (its OpenFlow port is assigned now).
func (d *Domain) Port(name, vn, nve, iface, mac string, vlan int, ips ...string) *Domain {
	p := &model.Port{Name: name, VN: vn, NVE: nve, Interface: iface, MAC: mac, VLAN: vlan, IPs: ips}
	p.Defaults()
	must(p.Validate())
	if _, ok := d.VNs[vn]; !ok {
		panic("scenario: unknown VN " + vn)
	}
	ofp, ok := d.ofports[nve]
	if !ok {
		panic("scenario: unknown NVE " + nve)
	}
	if _, ok := ofp[iface]; !ok {
		ofp[iface] = uint32(len(ofp) + 1)
	}
	p.Revision = d.bump()
	d.Ports[name] = p
	return d
}

// Update changes a port (its interface's OpenFlow port is assigned if
// new) and gives it a new revision, as the store does.
func (d *Domain) Update(name string, change func(*model.Port)) *Domain {
	p, ok := d.Ports[name]
	if !ok {
		panic("scenario: unknown port " + name)
	}
	c := *p
	c.IPs = append([]string(nil), p.IPs...)
	change(&c)
	d.Port(c.Name, c.VN, c.NVE, c.Interface, c.MAC, c.VLAN, c.IPs...)
	q := d.Ports[c.Name] // the VLAN mode too (split.go)
	q.VLANMode, q.AllowedVLANs, q.Untagged = c.VLANMode, c.AllowedVLANs, c.Untagged
	must(q.Validate())
	return d
}

// SetOFPort gives interface iface on NVE nve another OpenFlow port number
// (as when OVS recreates an interface); no object of the store changes.
func (d *Domain) SetOFPort(nve, iface string, port uint32) *Domain {
	d.ofports[nve][iface] = port
	return d
}

// Remove deletes a port (its interface keeps its OpenFlow port number, as
// OVS does until the interface is deleted).
func (d *Domain) Remove(port string) *Domain {
	delete(d.Ports, port)
	d.bump()
	return d
}

// Snapshot returns a snapshot of the domain (deep enough that later changes
// to d do not show in it).
func (d *Domain) Snapshot() *model.Snapshot {
	vns, nves, ports := map[string]*model.VN{}, map[string]*model.NVE{}, map[string]*model.Port{}
	for k, v := range d.VNs {
		c := *v
		vns[k] = &c
	}
	for k, v := range d.NVEs {
		c := *v
		c.UnderlayIPs = append([]string(nil), v.UnderlayIPs...)
		nves[k] = &c
	}
	for k, v := range d.Ports {
		c := *v
		c.IPs = append([]string(nil), v.IPs...)
		c.Parse() // as the store does when it stores a port
		ports[k] = &c
	}
	s := model.NewSnapshot(d.rev, vns, nves, ports)
	if len(d.Policies) > 0 {
		s.Policies = map[string]*model.PolicyRule{}
		for k, r := range d.Policies {
			c := *r
			s.Policies[k] = &c
		}
	}
	s.Learned = d.learnedCopy()
	s.L3Gateways = d.gatewaysCopy() // l3gateway.go
	return s
}

// Rule adds (or replaces) an inter-VN policy rule, defaulted and
// validated.
func (d *Domain) Rule(r model.PolicyRule) *Domain {
	r.Defaults()
	must(r.Validate())
	if d.Policies == nil {
		d.Policies = map[string]*model.PolicyRule{}
	}
	r.Revision = d.bump()
	d.Policies[r.Name] = &r
	return d
}

// Allow is a rule allowing everything from VN src to VN dst.
func Allow(tenant, domain, name string, prio int, src, dst string) model.PolicyRule {
	return model.PolicyRule{Name: name, Tenant: tenant, L3Domain: domain, Priority: prio, Action: model.PolicyAllow,
		Source: model.PolicyEndpoint{VN: src}, Dest: model.PolicyEndpoint{VN: dst}}
}

// Input returns the compiler input for one NVE, with every encapsulation's
// flow-based tunnel port and, for every NVE it shares a VN with, every
// encapsulation's per-remote tunnel port present.
func (d *Domain) Input(nve string) compiler.Input { return d.InputAt(d.Snapshot(), nve) }

// InputAt is Input over an already built snapshot (a large domain's
// snapshot is built once and shared by every NVE's input).
func (d *Domain) InputAt(snap *model.Snapshot, nve string) compiler.Input {
	ofp := map[string]uint32{}
	for k, v := range d.ofports[nve] {
		ofp[k] = v
	}
	tun := map[model.Encap]uint32{}
	for _, e := range model.Encaps {
		tun[e] = TunnelOFPort(e)
	}
	remote := map[compiler.RemoteTunnel]uint32{}
	for _, p := range snap.TunnelPeers(nve) { // (sharing a VN, or routing to each other)
		remote[compiler.RemoteTunnel{NVE: p.Remote.Name, Encap: p.Encap}] = d.RemoteTunnelOFPort(p.Remote.Name, p.Encap)
	}
	return compiler.Input{Snapshot: snap, NVE: nve, OFPorts: ofp, Tunnels: tun, RemoteTunnels: remote}
}

// OFPort returns the OpenFlow port of an interface on an NVE.
func (d *Domain) OFPort(nve, iface string) uint32 {
	p, ok := d.ofports[nve][iface]
	if !ok {
		panic("scenario: no interface " + iface + " on " + nve)
	}
	return p
}

// NVENames returns the NVE names, sorted.
func (d *Domain) NVENames() []string {
	var out []string
	for n := range d.NVEs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Encap sets a VN's encapsulation.
func Encap(e model.Encap) func(*model.VN) { return func(v *model.VN) { v.Encap = e } }

// UnknownDrop makes a VN drop ARP/ND for unknown targets.
func UnknownDrop(v *model.VN) { v.Unknown = model.UnknownDrop }

func must(err error) {
	if err != nil {
		panic("scenario: " + err.Error())
	}
}

// Standard scenarios, shared by the golden and simulator tests.

// OneVNOneNVE: VN blue (VNI 100) with two ports on hv1, one untagged and
// one on VLAN 10.
func OneVNOneNVE() *Domain {
	return New().VN("blue", 100).NVE("hv1", "198.18.0.1").
		Port("a", "blue", "hv1", "tap-a", "02:00:00:00:01:01", 0, "10.0.0.1").
		Port("b", "blue", "hv1", "tap-b", "02:00:00:00:01:02", 10, "10.0.0.2")
}

// TwoVNsThreeNVEs: VN blue (vxlan, VNI 100) on hv1, hv2, hv3; VN red
// (geneve, VNI 200, unknown ARP dropped) on hv1 and hv2, reusing blue's
// IP addresses (VNs are separate address spaces).
func TwoVNsThreeNVEs() *Domain {
	return New().VN("blue", 100).VN("red", 200, Encap(model.EncapGENEVE), UnknownDrop).
		NVE("hv1", "198.18.0.1").NVE("hv2", "198.18.0.2").NVE("hv3", "198.18.0.3").
		Port("b1", "blue", "hv1", "tap-b1", "02:00:00:00:01:01", 0, "10.0.0.1").
		Port("b2", "blue", "hv2", "tap-b2", "02:00:00:00:01:02", 0, "10.0.0.2").
		Port("b3", "blue", "hv3", "tap-b3", "02:00:00:00:01:03", 0, "10.0.0.3").
		Port("r1", "red", "hv1", "tap-r1", "02:00:00:00:02:01", 0, "10.0.0.1").
		Port("r2", "red", "hv2", "tap-r2", "02:00:00:00:02:02", 0, "10.0.0.2")
}

// PartialVN: VN blue on hv1 and hv2 only, VN green only on hv3; hv3 must
// get nothing of blue, and blue's flood groups must not reach hv3.
func PartialVN() *Domain {
	return New().VN("blue", 100).VN("green", 300).
		NVE("hv1", "198.18.0.1").NVE("hv2", "198.18.0.2").NVE("hv3", "198.18.0.3").
		Port("b1", "blue", "hv1", "tap-b1", "02:00:00:00:01:01", 0, "10.0.0.1").
		Port("b1b", "blue", "hv1", "tap-b1b", "02:00:00:00:01:11", 0, "10.0.0.11").
		Port("b2", "blue", "hv2", "tap-b2", "02:00:00:00:01:02", 0, "10.0.0.2").
		Port("g3", "green", "hv3", "tap-g3", "02:00:00:00:03:03", 0, "10.3.0.3")
}

// IPv6Ports: VN six (gre, VNI 600) on hv1 and hv2 with dual-stack and
// IPv6-only ports.
func IPv6Ports() *Domain {
	return New().VN("six", 600, Encap(model.EncapGRE)).
		NVE("hv1", "198.18.0.1").NVE("hv2", "198.18.0.2").
		Port("s1", "six", "hv1", "tap-s1", "02:00:00:00:06:01", 0, "2001:db8:6::1", "10.6.0.1").
		Port("s2", "six", "hv2", "tap-s2", "02:00:00:00:06:02", 0, "2001:db8:6::2", "fe80::2").
		Port("s3", "six", "hv1", "tap-s3", "02:00:00:00:06:03", 20, "2001:db8:6::3")
}

// Routed makes a VN an l2l3 VN of tenant's L3 domain with subnets given as
// CIDR, gateway pairs.
func Routed(tenant, domain string, cidrGW ...string) func(*model.VN) {
	return func(v *model.VN) {
		v.Service, v.Tenant, v.L3Domain = model.ServiceL2L3, tenant, domain
		for i := 0; i+1 < len(cidrGW); i += 2 {
			v.Subnets = append(v.Subnets, model.Subnet{CIDR: cidrGW[i], Gateway: cidrGW[i+1]})
		}
	}
}

// L3Only makes a VN an l3 VN (no L2 flooding).
func L3Only(v *model.VN) { v.Service = model.ServiceL3 }

// RoutedDomain: tenant acme's L3 domain prod with VN web (VNI 400,
// 10.1.0.0/24 and 2001:db8:1::/64) and VN db (VNI 401, 10.2.0.0/24 and
// 2001:db8:2::/64). hv1 hosts both (w1, and d2 on VLAN 30: routed
// locally), hv2 only db (d1), hv3 only web (w3): hv2 accepts web's routed
// traffic from hv3 without hosting web. One policy rule allows web to
// db (any protocol): db reaches web only by replies (OVS) or not at all
// (strict).
func RoutedDomain() *Domain {
	return New().
		VN("web", 400, Routed("acme", "prod", "10.1.0.0/24", "10.1.0.1", "2001:db8:1::/64", "2001:db8:1::1")).
		VN("db", 401, Routed("acme", "prod", "10.2.0.0/24", "10.2.0.1", "2001:db8:2::/64", "2001:db8:2::1")).
		NVE("hv1", "198.18.0.1").NVE("hv2", "198.18.0.2").NVE("hv3", "198.18.0.3").
		Port("w1", "web", "hv1", "tap-w1", "02:00:00:00:04:01", 0, "10.1.0.11", "2001:db8:1::11").
		Port("d2", "db", "hv1", "tap-d2", "02:00:00:00:04:12", 30, "10.2.0.12").
		Port("d1", "db", "hv2", "tap-d1", "02:00:00:00:04:11", 0, "10.2.0.11", "2001:db8:2::11").
		Port("w3", "web", "hv3", "tap-w3", "02:00:00:00:04:03", 0, "10.1.0.13").
		Rule(Allow("acme", "prod", "web-to-db", 100, "web", "db"))
}

// TwoTenants: tenants acme and beta, each with an L3 domain prod of two
// VNs with identical subnets and addresses (10.1.0.0/24, 10.2.0.0/24),
// on hv1 and hv2 (each web VN on both, so the NVEs are tunnel peers on
// the strict profile too); nothing is routed between the tenants.
func TwoTenants() *Domain {
	return New().
		VN("a-web", 500, Routed("acme", "prod", "10.1.0.0/24", "10.1.0.1")).
		VN("a-db", 501, Routed("acme", "prod", "10.2.0.0/24", "10.2.0.1")).
		VN("b-web", 600, Routed("beta", "prod", "10.1.0.0/24", "10.1.0.1")).
		VN("b-db", 601, Routed("beta", "prod", "10.2.0.0/24", "10.2.0.1")).
		NVE("hv1", "198.18.0.1").NVE("hv2", "198.18.0.2").
		Port("aw", "a-web", "hv1", "tap-aw", "02:00:00:00:05:01", 0, "10.1.0.10").
		Port("ad", "a-db", "hv2", "tap-ad", "02:00:00:00:05:02", 0, "10.2.0.10").
		Port("bw", "b-web", "hv1", "tap-bw", "02:00:00:00:06:01", 0, "10.1.0.10").
		Port("bd", "b-db", "hv2", "tap-bd", "02:00:00:00:06:02", 0, "10.2.0.10").
		Port("aw2", "a-web", "hv2", "tap-aw2", "02:00:00:00:05:03", 0, "10.1.0.20").
		Port("bw2", "b-web", "hv2", "tap-bw2", "02:00:00:00:06:03", 0, "10.1.0.20").
		Rule(Allow("acme", "prod", "a-web-to-db", 100, "a-web", "a-db")).
		Rule(Allow("beta", "prod", "b-web-to-db", 100, "b-web", "b-db"))
}

// PolicyDomain: RoutedDomain's VNs and ports with a policy of allow and
// deny rules instead of its one rule: web may reach db by TCP 80 and
// 8000-8080 from 10.1.0.0/24 (but never port 22, denied above), by ICMP,
// and UDP 53 to 2001:db8:2::/64 from anywhere; db reaches web by replies
// only (OVS) or not at all (strict).
func PolicyDomain() *Domain {
	d := RoutedDomain()
	delete(d.Policies, "web-to-db")
	return d.
		Rule(model.PolicyRule{Name: "no-ssh", Tenant: "acme", L3Domain: "prod", Priority: 300, Action: model.PolicyDeny,
			Source: model.PolicyEndpoint{VN: "web"}, Dest: model.PolicyEndpoint{VN: "db"}, Protocol: model.ProtoTCP,
			Ports: []model.PortRange{{From: 22, To: 22}}}).
		Rule(model.PolicyRule{Name: "http", Tenant: "acme", L3Domain: "prod", Priority: 200, Action: model.PolicyAllow,
			Source: model.PolicyEndpoint{CIDR: "10.1.0.0/24"}, Dest: model.PolicyEndpoint{VN: "db"}, Protocol: model.ProtoTCP,
			Ports: []model.PortRange{{From: 80, To: 80}, {From: 8000, To: 8003}}}).
		Rule(model.PolicyRule{Name: "ping", Tenant: "acme", L3Domain: "prod", Priority: 100, Action: model.PolicyAllow,
			Source: model.PolicyEndpoint{VN: "web"}, Dest: model.PolicyEndpoint{VN: "db"}, Protocol: model.ProtoICMP}).
		Rule(model.PolicyRule{Name: "dns6", Tenant: "acme", L3Domain: "prod", Priority: 50, Action: model.PolicyAllow,
			Dest: model.PolicyEndpoint{CIDR: "2001:db8:2::/64"}, Protocol: model.ProtoUDP,
			Ports: []model.PortRange{{From: 53, To: 53}}})
}

// L3OnlyVN: VN flat (l3, VNI 700, 10.7.0.0/24, no domain) on hv1 and hv2:
// no flood groups, ARP/ND answered for its ports and its gateway.
func L3OnlyVN() *Domain {
	return New().VN("flat", 700, L3Only, Routed("acme", "", "10.7.0.0/24", "10.7.0.1"), L3Only).
		NVE("hv1", "198.18.0.1").NVE("hv2", "198.18.0.2").
		Port("f1", "flat", "hv1", "tap-f1", "02:00:00:00:07:01", 0, "10.7.0.11").
		Port("f2", "flat", "hv2", "tap-f2", "02:00:00:00:07:02", 0, "10.7.0.12").
		Port("f3", "flat", "hv1", "tap-f3", "02:00:00:00:07:03", 0, "10.7.0.13")
}
