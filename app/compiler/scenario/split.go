package scenario

import (
	"maps"

	"github.com/nva-project/nva/app/model"
)

// Split makes NVE tnve a tNVE whose interface uplink is cabled to port
// nnvePort of NVE nnve (both get OpenFlow ports now), with the access-link
// VLANs given per VN (the store's allocation, fixed here so tests can name
// them).
func (d *Domain) Split(tnve, nnve, uplink, nnvePort string, vlans map[string]int) *Domain {
	n, ok := d.NVEs[tnve]
	if !ok || d.NVEs[nnve] == nil {
		panic("scenario: unknown NVE " + tnve + " or " + nnve)
	}
	c := *n
	c.AccessLink = &model.AccessLink{NNVE: nnve, Uplink: uplink, NNVEPort: nnvePort, VLANs: maps.Clone(vlans)}
	must(c.Validate())
	c.Revision = d.bump()
	d.NVEs[tnve] = &c
	d.iface(tnve, uplink)
	d.iface(nnve, nnvePort)
	return d
}

// LinkVLAN sets (vlan 0: frees) the access-link VLAN of a VN on tNVE
// tnve, as the store's allocation would.
func (d *Domain) LinkVLAN(tnve, vn string, vlan int) *Domain {
	n := d.NVEs[tnve]
	c := *n
	l := *n.AccessLink
	l.VLANs = maps.Clone(l.VLANs)
	if l.VLANs == nil {
		l.VLANs = map[string]int{}
	}
	if vlan == 0 {
		delete(l.VLANs, vn)
	} else {
		l.VLANs[vn] = vlan
	}
	c.AccessLink = &l
	c.Revision = d.bump()
	d.NVEs[tnve] = &c
	return d
}

// PassPort adds a passthrough port: tenant VLANs allowed (and untagged
// frames if untagged).
func (d *Domain) PassPort(name, vn, nve, iface, mac string, allowed []int, untagged bool, ips ...string) *Domain {
	d.Port(name, vn, nve, iface, mac, 0, ips...)
	p := d.Ports[name]
	p.VLANMode, p.AllowedVLANs, p.Untagged = model.VLANPassthrough, allowed, untagged
	p.Defaults()
	must(p.Validate())
	return d
}

func (d *Domain) iface(nve, iface string) {
	ofp := d.ofports[nve]
	if _, ok := ofp[iface]; !ok {
		ofp[iface] = uint32(len(ofp) + 1)
	}
}

// SplitNVEs: VNs blue (100) and red (200) with overlapping addresses.
// hv1 and hv2 are tNVEs behind nNVE tor1 (hv1's uplink eth1 on tor1's
// p1, hv2's on p2); hv3 is an ordinary hypervisor. hv1 has blue (link
// VLAN 2) and red (VLAN 3), hv2 blue (VLAN 7), hv3 blue and red.
func SplitNVEs() *Domain {
	d := New().VN("blue", 100).VN("red", 200).
		NVE("tor1", "198.18.0.10").NVE("hv1", "198.18.0.1").NVE("hv2", "198.18.0.2").NVE("hv3", "198.18.0.3")
	d.Split("hv1", "tor1", "eth1", "p1", map[string]int{"blue": 2, "red": 3})
	d.Split("hv2", "tor1", "eth1", "p2", map[string]int{"blue": 7})
	return d.
		Port("b1", "blue", "hv1", "tap-b1", "02:00:00:00:01:01", 0, "10.0.0.1").
		Port("r1", "red", "hv1", "tap-r1", "02:00:00:00:02:01", 0, "10.0.0.1").
		Port("b2", "blue", "hv2", "tap-b2", "02:00:00:00:01:02", 0, "10.0.0.2").
		Port("b3", "blue", "hv3", "tap-b3", "02:00:00:00:01:03", 0, "10.0.0.3").
		Port("r3", "red", "hv3", "tap-r3", "02:00:00:00:02:03", 0, "10.0.0.3")
}

// SplitQinQ: VN green (300) with passthrough ports (tenant VLANs 10 and
// 20) on tNVE hv1 (behind tor1, link VLAN 5) and on hv3, and an access
// port on tor1 itself.
func SplitQinQ() *Domain {
	d := New().VN("green", 300).NVE("tor1", "198.18.0.10").NVE("hv1", "198.18.0.1").NVE("hv3", "198.18.0.3")
	d.Split("hv1", "tor1", "eth1", "p1", map[string]int{"green": 5})
	return d.
		PassPort("g1", "green", "hv1", "tap-g1", "02:00:00:00:03:01", []int{10, 20}, false, "10.3.0.1").
		PassPort("g3", "green", "hv3", "tap-g3", "02:00:00:00:03:03", []int{10, 20}, true, "10.3.0.3").
		Port("g0", "green", "tor1", "e0", "02:00:00:00:03:0a", 0, "10.3.0.10")
}
