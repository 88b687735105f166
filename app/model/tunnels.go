package model

import (
	"fmt"
	"net/netip"
)

// TunnelPeer is a remote NVE that an NVE whose profile has no flow-based
// tunnels reaches through a tunnel port of its own (one per remote: the
// strict OpenFlow 1.3 profile cannot set a tunnel destination per flow).
// Both the OpenFlow southbound (which finds the port on the switch) and
// the OVSDB side (which creates it on an Open vSwitch) derive it here, so
// they agree on every port.
type TunnelPeer struct {
	Remote *NVE
	// Encap is the encapsulation of the first VN (by name) the two
	// share: the port's type. Shared VNs with another encapsulation are
	// listed in OtherEncaps ("vn (encap)"); they cannot use the port.
	Encap       Encap
	OtherEncaps []string
	// RemoteIP is the address the port tunnels to: the key of the NVE's
	// tunnel_ports entry for the remote, else the remote's first underlay
	// address (invalid when it has none).
	RemoteIP netip.Addr
	// Port is the port name tunnel_ports gives; "" means the naming
	// convention (compiler.RemoteTunnelPortName(Encap, RemoteIP)) applies.
	Port string
	// Since is the oldest store revision among the remote, the shared VNs
	// and their ports: from it on, the NVE's state needs the port.
	Since uint64
}

// TunnelPeers returns the tunnel peers of NVE nve, ordered by name: every
// NVE of the snapshot that shares a VN with it.
func (s *Snapshot) TunnelPeers(nve string) []TunnelPeer {
	self, ok := s.NVEs[nve]
	if !ok {
		return nil
	}
	var out []TunnelPeer
	for _, peer := range s.Peers(nve) {
		remote, ok := s.NVEs[peer.NVE]
		if !ok {
			continue // a port names an NVE the snapshot does not have
		}
		tp := TunnelPeer{Remote: remote, Since: remote.Revision}
		for _, name := range peer.VNs {
			vn, ok := s.VNs[name]
			if !ok {
				continue
			}
			tp.Since = min(tp.Since, vn.Revision)
			for _, p := range s.PortsIn(name) {
				tp.Since = min(tp.Since, p.Revision)
			}
			switch {
			case tp.Encap == "":
				tp.Encap = vn.Encap
			case vn.Encap != tp.Encap:
				tp.OtherEncaps = append(tp.OtherEncaps, fmt.Sprintf("%s (%s)", vn.Name, vn.Encap))
			}
		}
		if tp.Encap == "" {
			continue // only VNs the snapshot does not have
		}
		if port, ip, ok := self.TunnelPortFor(remote); ok {
			tp.Port = port
			tp.RemoteIP, _ = netip.ParseAddr(ip)
		} else if addrs := remote.UnderlayAddrs(); len(addrs) > 0 {
			tp.RemoteIP = addrs[0]
		}
		out = append(out, tp)
	}
	return out
}
