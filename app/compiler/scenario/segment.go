package scenario

import (
	"time"

	"github.com/nva-project/nva/app/model"
)

// SegmentPort adds a port of kind segment (an L2 gateway attachment) on
// interface iface, VLAN vlan.
func (d *Domain) SegmentPort(name, vn, nve, iface string, vlan int) *Domain {
	p := &model.Port{Name: name, VN: vn, NVE: nve, Interface: iface, VLAN: vlan, Kind: model.PortKindSegment}
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

// learnedAt is the time scenarios' learned endpoints are seen at.
var learnedAt = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

// Learn records MAC mac as learned in VN vn behind via (a segment port
// or model.ViaVTEP) on NVE nve, as the store does on a report.
func (d *Domain) Learn(vn, mac, nve, via string) *Domain {
	if d.Learned == nil {
		d.Learned = map[string]*model.LearnedEndpoint{}
	}
	e := &model.LearnedEndpoint{VN: vn, MAC: mac, NVE: nve, Via: via, FirstSeen: learnedAt, LastSeen: learnedAt, Revision: d.bump()}
	d.Learned[e.Key()] = e
	return d
}

// Forget drops a learned MAC, as expiry does.
func (d *Domain) Forget(vn, mac string) *Domain {
	delete(d.Learned, model.LearnedKey(vn, mac))
	d.bump()
	return d
}

func (d *Domain) learnedCopy() map[string]*model.LearnedEndpoint {
	if len(d.Learned) == 0 {
		return nil
	}
	out := make(map[string]*model.LearnedEndpoint, len(d.Learned))
	for k, e := range d.Learned {
		c := *e
		out[k] = &c
	}
	return out
}

// Segment: VN blue (VNI 100) with a VM on hv1 and hv2 each; hv1 is an L2
// gateway to a physical segment on eth1 VLAN 100 (port seg1), behind
// which 02:00:00:00:0a:01 was learned; 02:00:00:00:01:02 (vm2's MAC) was
// also reported there, and must not override vm2.
func Segment() *Domain {
	return New().VN("blue", 100).NVE("hv1", "198.18.0.1").NVE("hv2", "198.18.0.2").
		Port("vm1", "blue", "hv1", "tap-vm1", "02:00:00:00:01:01", 0, "10.0.0.1").
		Port("vm2", "blue", "hv2", "tap-vm2", "02:00:00:00:01:02", 0, "10.0.0.2").
		SegmentPort("seg1", "blue", "hv1", "eth1", 100).
		Learn("blue", "02:00:00:00:0a:01", "hv1", "seg1").
		Learn("blue", "02:00:00:00:01:02", "hv1", "seg1")
}
