package model

import (
	"maps"
	"net/netip"
	"slices"
)

// TunnelPeer is a remote NVE, with one encapsulation, that an NVE whose
// profile has no flow-based tunnels reaches through a tunnel port of its
// own (one per remote and encapsulation: the strict OpenFlow 1.3 profile
// cannot set a tunnel destination per flow). Both the OpenFlow southbound
// (which finds the port on the switch) and the OVSDB side (which creates
// it on an Open vSwitch) derive it here, so they agree on every port.
type TunnelPeer struct {
	Remote *NVE
	// Encap is the port's encapsulation; VNs are the VNs of that
	// encapsulation the two NVEs share, or that one routes into for the
	// other (routed VNs of one L3 domain: the routing NVE tunnels in the
	// destination VN, see RoutePeers), sorted.
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
// snapshot that shares a VN with it or routes to it (RoutePeers), by name,
// and every encapsulation of the VNs between them (in Encaps order), one
// peer.
func (s *Snapshot) TunnelPeers(nve string) []TunnelPeer {
	self, ok := s.NVEs[nve]
	if !ok {
		return nil
	}
	var out []TunnelPeer
	for _, peer := range mergePeers(mergePeers(s.Peers(nve), s.RoutePeers(nve)), s.GatewayPeers(nve)) { // GatewayPeers: l3gateway.go
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

// RoutePeers returns the NVEs that exchange routed traffic with NVE nve
// without necessarily sharing a VN with it: for each routed VN x (with
// subnets, in an L3 domain) nve hosts and each VN y of x's domain, every
// other NVE hosting y, with both x and y (the routing NVE tunnels in the
// destination VN: y toward the peer, x from it). By NVE name, VNs sorted
// and unique; empty when nve hosts no VN of an L3 domain.
func (s *Snapshot) RoutePeers(nve string) []Peer {
	var domains map[string][]*VN
	vnsOf := map[string]map[string]bool{}
	for _, xn := range s.VNsOn(nve) {
		x := s.VNs[xn]
		if x == nil || x.DomainKey() == "" || len(x.Subnets) == 0 {
			continue
		}
		if domains == nil {
			domains = map[string][]*VN{}
			for _, v := range s.SortedVNs() {
				if k := v.DomainKey(); k != "" && len(v.Subnets) > 0 {
					domains[k] = append(domains[k], v)
				}
			}
		}
		for _, y := range domains[x.DomainKey()] {
			for _, n := range s.NVEsHosting(y.Name) {
				if n == nve {
					continue
				}
				if vnsOf[n] == nil {
					vnsOf[n] = map[string]bool{}
				}
				vnsOf[n][x.Name], vnsOf[n][y.Name] = true, true
			}
		}
	}
	out := make([]Peer, 0, len(vnsOf))
	for _, n := range slices.Sorted(maps.Keys(vnsOf)) {
		out = append(out, Peer{NVE: n, VNs: slices.Sorted(maps.Keys(vnsOf[n]))})
	}
	return out
}

// mergePeers merges two peer lists sorted by NVE name, with the union of
// their VNs (sorted).
func mergePeers(a, b []Peer) []Peer {
	if len(b) == 0 {
		return a
	}
	byNVE := map[string]map[string]bool{}
	for _, l := range [][]Peer{a, b} {
		for _, p := range l {
			if byNVE[p.NVE] == nil {
				byNVE[p.NVE] = map[string]bool{}
			}
			for _, v := range p.VNs {
				byNVE[p.NVE][v] = true
			}
		}
	}
	out := make([]Peer, 0, len(byNVE))
	for _, n := range slices.Sorted(maps.Keys(byNVE)) {
		out = append(out, Peer{NVE: n, VNs: slices.Sorted(maps.Keys(byNVE[n]))})
	}
	return out
}
