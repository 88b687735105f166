package vtep

import (
	"crypto/tls"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/nva-project/nva/app/model"
)

// Desired is what nva wants in one VTEP's hardware_vtep database.
type Desired struct {
	NVE      string
	Endpoint string      // unix:, tcp: or ssl: address of the database
	TLS      *tls.Config // for ssl: endpoints (nil otherwise; set by the Syncer)
	// Pin is the NVE's switch identity as text: a changed pin is a
	// changed desired state (TLS is made from it).
	Pin string
	// TunnelIP selects the Physical_Switch whose tunnel_ips has it (the
	// only one when the database has one switch).
	TunnelIP string
	VNs      []VN // by name
	// Warnings are what of the domain could not be put on the VTEP.
	Warnings []string
}

// VN is one VN on the VTEP: its Logical_Switch and what it holds.
type VN struct {
	Name     string // the Logical_Switch's name
	VNI      int    // its tunnel_key
	Bindings []Binding
	Remote   []RemoteMAC // by MAC
	// Flood is the VN's other NVEs' tunnel IPs, sorted: the unknown-dst
	// replication list (empty: no Mcast_Macs_Remote row).
	Flood []string
}

// Binding is a VAP: a physical port's VLAN (0: untagged) bound to the VN.
type Binding struct {
	Port string
	VLAN int
}

// RemoteMAC is a MAC of the VN behind another NVE.
type RemoteMAC struct {
	MAC     string // lowercase, colon-separated
	IP      string // the host's IPv4 address when nva knows one ("" otherwise)
	Locator string // the other NVE's tunnel IP
}

// Equal reports whether two desired states ask for the same database
// (TLS is not compared: Pin stands for it).
func (d Desired) Equal(o Desired) bool {
	return d.NVE == o.NVE && d.Endpoint == o.Endpoint && d.Pin == o.Pin && d.TunnelIP == o.TunnelIP &&
		slices.EqualFunc(d.VNs, o.VNs, func(a, b VN) bool {
			return a.Name == b.Name && a.VNI == b.VNI && slices.Equal(a.Bindings, b.Bindings) &&
				slices.Equal(a.Remote, b.Remote) && slices.Equal(a.Flood, b.Flood)
		}) && slices.Equal(d.Warnings, o.Warnings)
}

// FromSnapshot derives the desired state of vtep NVE name from snap: its
// VNs' ports on other NVEs and the MACs learned at other NVEs (behind L2
// gateway segments or other VTEPs) are its remote MACs. ok is false when
// snap has no such vtep NVE.
func FromSnapshot(snap *model.Snapshot, name string) (Desired, bool) {
	nve := snap.NVEs[name]
	if nve == nil || nve.Kind != model.NVEVTEP {
		return Desired{}, false
	}
	d := Desired{NVE: name, Endpoint: nve.OVSDB}
	if id := nve.SwitchIdentity; id != nil {
		d.Pin = id.Fingerprint + "|" + id.Subject
	}
	if len(nve.UnderlayIPs) > 0 {
		d.TunnelIP = nve.UnderlayIPs[0]
	}
	for _, vnName := range snap.VNsOn(name) {
		vn := snap.VNs[vnName]
		switch {
		case vn == nil:
			continue
		case vn.Encap != model.EncapVXLAN:
			d.Warnings = append(d.Warnings, fmt.Sprintf("VN %s: encap %s is not vxlan; not put on the VTEP", vnName, vn.Encap))
			continue
		case vn.VNI == 0:
			continue
		}
		v := VN{Name: vnName, VNI: int(vn.VNI)}
		for _, p := range snap.PortsAt(name, vnName) {
			b := Binding{Port: p.Interface, VLAN: p.VLAN}
			if !slices.Contains(v.Bindings, b) {
				v.Bindings = append(v.Bindings, b)
			}
		}
		slices.SortFunc(v.Bindings, func(a, b Binding) int {
			if c := strings.Compare(a.Port, b.Port); c != 0 {
				return c
			}
			return a.VLAN - b.VLAN
		})
		macs := map[string]bool{}
		for _, p := range snap.PortsIn(vnName) {
			if p.NVE == name || p.MAC == "" {
				continue
			}
			mac, ok := p.MACAddr()
			if !ok || snap.PortByMAC(vnName, mac) != p {
				continue
			}
			loc := endpointIP(snap, p.NVE)
			if loc == "" {
				continue
			}
			r := RemoteMAC{MAC: p.HardwareAddr().String(), Locator: loc}
			for _, a := range p.Addrs() {
				if a.Is4() {
					r.IP = a.String()
					break
				}
			}
			macs[r.MAC] = true
			v.Remote = append(v.Remote, r)
		}
		for _, e := range snap.LearnedIn(vnName) {
			if e.NVE == name || macs[e.MAC] {
				continue // learned here (the VTEP knows it), or a port's MAC
			}
			if loc := endpointIP(snap, e.NVE); loc != "" {
				r := RemoteMAC{MAC: e.MAC, Locator: loc}
				for _, ip := range e.IPs {
					if a, err := netip.ParseAddr(ip); err == nil && a.Is4() {
						r.IP = a.String()
						break
					}
				}
				macs[e.MAC] = true
				v.Remote = append(v.Remote, r)
			}
		}
		slices.SortFunc(v.Remote, func(a, b RemoteMAC) int { return strings.Compare(a.MAC, b.MAC) })
		for _, other := range snap.NVEsHosting(vnName) {
			if other == name {
				continue
			}
			if ip := endpointIP(snap, other); ip != "" && !slices.Contains(v.Flood, ip) {
				v.Flood = append(v.Flood, ip)
			}
		}
		slices.Sort(v.Flood)
		d.VNs = append(d.VNs, v)
	}
	return d, true
}

// endpointIP is where the VTEP tunnels to reach what NVE nve hosts: the
// tunnel IP of nve, or, for a tNVE of a split NVE (no tunnels of its
// own), that of its nNVE, which maps its access link's VLANs to VNs and
// encapsulates for it.
func endpointIP(snap *model.Snapshot, nve string) string {
	if nn := snap.NNVEOf(nve); nn != "" {
		nve = nn
	}
	return tunnelIP(snap.NVEs[nve])
}

// tunnelIP is where an NVE's VXLAN tunnels end: its first IPv4 underlay
// address ("" for none), as the compiler tunnels to it.
func tunnelIP(n *model.NVE) string {
	if n == nil {
		return ""
	}
	for _, s := range n.UnderlayIPs {
		if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
			return a.String()
		}
	}
	return ""
}
