package scenario

import (
	"slices"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/model"
)

// Multihome gives NVE nve the underlay addresses ips and multipath mode
// mode (its first address stays first), with a new revision.
func (d *Domain) Multihome(nve string, mode model.Multipath, ips ...string) *Domain {
	n, ok := d.NVEs[nve]
	if !ok {
		panic("scenario: unknown NVE " + nve)
	}
	c := *n
	c.UnderlayIPs = slices.Clone(ips)
	c.Multipath = mode
	c.Defaults()
	must(c.Validate())
	c.Revision = d.bump()
	d.NVEs[nve] = &c
	return d
}

// PathPorts gives every tunnel path port of every NVE (compiler.TunnelPaths)
// an OpenFlow port: 2000 and up per NVE, in path order, as OVS would once
// nvesync created them. Call it after the domain's NVEs and ports are in.
func (d *Domain) PathPorts() *Domain {
	snap := d.Snapshot()
	for _, nve := range d.NVENames() {
		for i, p := range compiler.TunnelPaths(snap, nve) {
			d.ofports[nve][p.Port] = 2000 + uint32(i)
		}
	}
	return d
}

// MultihomedPair: VN blue (VNI 100) on hv1, hv2 and hv3; hv1 and hv2
// have two underlay addresses (198.18.0.x on one fabric plane, 198.18.1.x
// on the other) and multipath mode mode, hv3 one address and none (its
// pairs with hv1 and hv2 are multipath all the same, in their mode). The
// path ports have OpenFlow ports (PathPorts).
func MultihomedPair(mode model.Multipath) *Domain {
	return New().VN("blue", 100).
		NVE("hv1", "198.18.0.1").NVE("hv2", "198.18.0.2").NVE("hv3", "198.18.0.3").
		Multihome("hv1", mode, "198.18.0.1", "198.18.1.1").
		Multihome("hv2", mode, "198.18.0.2", "198.18.1.2").
		Port("b1", "blue", "hv1", "tap-b1", "02:00:00:00:01:01", 0, "10.0.0.1").
		Port("b2", "blue", "hv2", "tap-b2", "02:00:00:00:01:02", 0, "10.0.0.2").
		Port("b3", "blue", "hv3", "tap-b3", "02:00:00:00:01:03", 0, "10.0.0.3").
		PathPorts()
}

// MultihomeFailover is MultihomedPair in failover mode.
func MultihomeFailover() *Domain { return MultihomedPair(model.MultipathFailover) }

// MultihomeActiveActive is MultihomedPair in active-active mode.
func MultihomeActiveActive() *Domain { return MultihomedPair(model.MultipathActiveActive) }
