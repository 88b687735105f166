package model

import "net/netip"

// TunnelPeer is a remote NVE, with one encapsulation, that an NVE whose
// profile has no flow-based tunnels reaches through a tunnel port of its
// own (one per remote and encapsulation: the strict OpenFlow 1.3 profile
// cannot set a tunnel destination per flow). Both the OpenFlow southbound
// (which finds the port on the switch) and the OVSDB side (which creates
// it on an Open vSwitch) derive it here, so they agree on every port.
type TunnelPeer struct {
	Remote *NVE
	// Encap is the port's encapsulation; VNs are the VNs of that
	// encapsulation the two NVEs share, sorted.
	Encap Encap
	VNs   []string
	// RemoteIP is the address the port tunnels to: the key of the NVE's
	// tunnel_ports entry for the remote, else the remote's first underlay
	// address (invalid when it has none).
	RemoteIP netip.Addr
	// Port is the port name tunnel_ports gives (for every encapsulation
	// to that remote); "" means the naming convention
	// (compiler.RemoteTunnelPortName(Encap, RemoteIP)) applies.
	Port string
	// Since is the oldest store revision among the remote, the shared VNs
	// and their ports: from it on, the NVE's state needs the port.
	Since uint64
}

// TunnelPeers returns the tunnel peers of NVE nve: for every NVE of the
// snapshot that shares a VN with it (by name) and every encapsulation of
// the VNs they share (in Encaps order), one peer.
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
		var ip netip.Addr
		port, ipText, explicit := self.TunnelPortFor(remote)
		if explicit {
			ip, _ = netip.ParseAddr(ipText)
		} else if addrs := remote.UnderlayAddrs(); len(addrs) > 0 {
			ip = addrs[0]
		}
		byEncap := map[Encap]*TunnelPeer{}
		for _, name := range peer.VNs {
			vn, ok := s.VNs[name]
			if !ok {
				continue
			}
			tp := byEncap[vn.Encap]
			if tp == nil {
				tp = &TunnelPeer{Remote: remote, Encap: vn.Encap, RemoteIP: ip, Port: port, Since: remote.Revision}
				byEncap[vn.Encap] = tp
			}
			tp.VNs = append(tp.VNs, name)
			tp.Since = min(tp.Since, vn.Revision)
			for _, p := range s.PortsIn(name) {
				tp.Since = min(tp.Since, p.Revision)
			}
		}
		for _, e := range Encaps {
			if tp := byEncap[e]; tp != nil {
				out = append(out, *tp)
			}
		}
	}
	return out
}
