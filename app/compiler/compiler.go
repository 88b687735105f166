// Package compiler owns nva's pure VN-to-flow compiler: from a store
// snapshot, one NVE, that NVE's OpenFlow port numbers and a switch profile
// it computes the NVE's desired flows and groups (sorted, with cookies).
// It does no I/O and is deterministic: the same input always gives the
// same result. The southbound keeps one Cache per NVE (all sharing one
// PartPool) and calls Cache.Compile on every change; Compile is the
// from-scratch reference.
//
// # Structure
//
// The compiler is a set of features (feature.go), each in its own file
// behind one small interface: classification (classify.go), port security
// (portsec.go), the neighbor responder (neighbor.go), L2 forwarding
// (forward.go), BUM (bum.go) and L3 routing (l3route.go). A feature says
// which pipeline stages it contributes to, and emits its flows for the NVE
// and for one VN on it,
// given the profile's capabilities; capabilities change what a feature
// emits (a responder in the switch or a punt to the controller), never
// the compiler's control flow. Features write stage names and
// pipeline.Next; the profile's Realizer maps them onto tables.
//
// An NVE's desired state is a set of slices: the NVE-wide slice (Key
// "": the stages' miss flows and the features' NVE-wide flows) and, per VN
// it hosts, a shared part (Key: the VN's name: flood groups and their
// flows, what the VN does on this NVE alone), one part per port of the VN
// (Key: VN + "/" + port: its VAP's classification, port security,
// own-address and reply flows if it is attached here, its answers, its L2
// forwarding entry, local or toward its remote NVE), one remote part per
// remote NVE of the VN (Key: VN + "/@" + the NVE's name: the
// classification of the VN's tunnel traffic from that NVE,
// remoteFeature) and a common part (Key: VN + "/*": what the VN needs
// alike on every NVE, its neighbor defaults and unknown-target policy,
// commonFeature). Each has a fingerprint of exactly what it
// reads, computed without building a flow: a port's part hashes the port
// (name and revision), its VAP as attached (OpenFlow port, VLAN, bound
// addresses), its remote NVE's tunnel port and first underlay address,
// the addresses it answers for (it is the first port of the VN to bind
// them) and the VN's VNI; the shared part hashes the VN, its local VAPs'
// OpenFlow ports and VLANs and its remote NVEs as resolved (underlay
// addresses, tunnel ports); a remote part hashes the VN's VNI, whether it
// is tagged, and the remote NVE as resolved; a common part the VN.
// Revisions stand for objects (their content is hashed when the revision
// is 0), and every fingerprint includes the profile and generation, and
// the NVE except a port part without a VAP here, a remote part, a common
// part and the NVE-wide slice (these are compiled alike on every NVE:
// Caches sharing a PartPool hold each once, share.go). Cache recompiles a slice only when its
// fingerprint changes: a one-port change recompiles that port's part on
// the NVEs hosting its VN, and the VN's shared part only where the VN's
// local VAPs or remote NVEs changed. A VN whose ports (names and
// revisions), local VAPs and remote NVEs are all unchanged reuses its
// slices without resolving its ports. What stays proportional to a
// changed VN's ports per compile is cheap and builds no flow: one pass
// over them (a few index lookups and a hash each), one map lookup per
// slice, and the list of the slices (no copy of their flows: a Result is
// its slices, each flow held once by the Cache or, for a part shared by
// the NVEs of a VN, once by the PartPool for all of them). Flow identity is flow.Key, computed once per flow from
// the match's bytes (the Cache keeps only its 64-bit hash); text is
// rendered only for reports and golden files.
//
// # What is compiled
//
//   - classify: a local VAP is in_port plus its VLAN (popped on ingress);
//     an untagged VAP matches vlan_vid=none so tagged frames cannot sneak
//     in. With flow-based tunnels (OVS), the tunnel port of the VN's
//     encapsulation matches tun_id=VNI and tun_src = one of the underlay
//     IPs of an NVE that hosts the VN; without them (strict OpenFlow 1.3),
//     each remote NVE has its own tunnel port per encapsulation
//     (RemoteTunnelPortName) and its flow matches that in_port and
//     tunnel_id=VNI. Either way only NVEs nva knows to host the VN can
//     inject into it. The VN's VNI goes to metadata (pipeline.MetaVN) with
//     pipeline.MetaFromTunnel set for tunnel arrivals. The ingress port is
//     not copied to a register: in_port stays matchable in every table.
//     Tunnel arrivals skip port security and the ARP/ND responder (the
//     sending NVE did both) and go straight to forwarding.
//   - port_security: only ARP, IPv4 and IPv6 frames from the port's MAC
//     pass. The MAC is checked once, in classify: a VAP's frames with its
//     own source MAC are classified with pipeline.MetaOwnSrc set (priority
//     PrioOwnSrc), its other frames without it (so they still count as the
//     port's and are dropped here, counted as spoofed). What any port may
//     send whatever its addresses is NVE-wide (flows matching only that
//     bit); a port's own flows match in_port and the VN with the bit.
//     ARP needs arp_sha = the MAC and arp_spa = a bound IPv4; IPv4 and
//     IPv6 need a bound source address. Always allowed besides (what an
//     operator expects from a host booting): DHCPv4 from 0.0.0.0:68 to
//     255.255.255.255:67, ARP probes (arp_spa 0.0.0.0, RFC 5227), IPv6
//     link-local sources (fe80::/10, any interface ID since hosts use
//     stable-privacy addresses, but only from the port's MAC), and DAD
//     neighbor solicitations and MLD reports from ::. Neighbor
//     advertisements must speak for the port itself (source and target
//     among its IPv6 addresses or link-local, target link-layer address its
//     MAC or absent), so a port cannot poison others' neighbor caches. A
//     port with no IPv4 (IPv6) bound therefore gets no IPv4 (global IPv6)
//     traffic through: nva is the authority on addresses, so bind them on
//     the port. Other ethertypes are dropped. The same flows on both
//     profiles (all standard OXM fields).
//   - neighbor: see "ARP and neighbor discovery" below.
//   - l2_forward: known MAC -> local VAP (re-tagged if the VAP has a VLAN)
//     or into the tunnel to the NVE that hosts it (OVS: tun_id=VNI,
//     tun_dst=first IPv4 underlay address of the remote NVE, output to the
//     flow-based tunnel port; strict: tunnel_id=VNI, output to the
//     per-remote tunnel port). Broadcast/multicast from a local VAP ->
//     group FloodGroupID(vni, false), type all (every local VAP, OpenFlow
//     never echoes to the ingress port, plus one bucket per remote NVE
//     hosting the VN: head-end replication); from a tunnel -> group
//     FloodGroupID(vni, true) (local VAPs only: split horizon). Unknown
//     unicast is dropped: nva knows every MAC in the VN.
//   - every stage ends with an explicit priority-0 flow carrying out its
//     miss policy (drop, for every stage today).
//
// # ARP and neighbor discovery
//
// The neighbor stage sees ARP and ICMPv6 from local VAPs that passed port
// security (tunnel arrivals never reach it). In priority order, highest
// first, per VN:
//
//   - 310, forwarded unanswered: a port's ARP request for one of its own
//     IPv4 addresses (gratuitous ARP: in_port and arp_tpa of that port) and
//     its NS for one of its own IPv6 addresses;
//   - 300, forwarded unanswered: ARP probes (arp_spa 0.0.0.0, RFC 5227) and
//     DAD solicitations (ipv6_src ::, RFC 4862);
//   - 290, forwarded unanswered: NS without a source link-layer address
//     option (matched as nd_sll=00:00:00:00:00:00, which is how Open
//     vSwitch reports an absent option; a strict switch that reports it
//     otherwise sends such an NS to the controller by the 200 flow, and
//     nva's responder leaves it unanswered: it is dropped, not forwarded);
//   - 200, answered: an ARP request (arp_op 1) whose arp_tpa, or an NS
//     whose nd_target, is an address bound to a port of the VN (the first
//     port by name binds it). With ARPInSwitch (NDInSwitch) the switch
//     builds the reply itself and sends it back out of the ingress VAP
//     (tables nd_advert and reply: an NVE-wide reply flow sends answers
//     back out of IN_PORT, a tagged VAP has its own that re-tags them);
//     without it (the strict profile) the
//     request leaves the pipeline as output:CONTROLLER with max_len 0xffff
//     (the whole packet): the packet-in's match carries in_port (the VAP's
//     port) and metadata (pipeline.VNIFromMetadata gives the VN's VNI),
//     and the frame has had the VAP's VLAN tag popped. The controller
//     answers with a packet-out to in_port, re-tagged with the VAP's VLAN
//     (Cache.VAP and VAPOf name the VAP's port). Known targets are never
//     flooded, whoever answers;
//   - 100, VNs with unknown_arp=drop: every other ARP request and NS is
//     dropped;
//   - 1: everything else of the VN goes on to l2_forward, which floods
//     unknown targets' requests in the VN (unknown_arp=flood).
//
// So on both profiles gratuitous ARP, probes, DAD and NS without a source
// link-layer option are forwarded normally and never answered, and ARP
// replies, NAs and other ICMPv6 are forwarded normally.
//
// An NVE gets state only for the VNs it hosts (has at least one port with
// an OpenFlow port number): its flows grow with its local ports and the
// ports of its VNs, never with the whole domain.
//
// # L3 VNs: the distributed anycast gateway
//
// l3 and l2l3 VNs with subnets are routed by every NVE that hosts them
// (RFC 8014 §5.4; l3route.go, l3view.go). The design, and why:
//
//   - One gateway MAC, model.GatewayMAC (02:4e:56:41:00:01), for every
//     subnet of every VN on every NVE. MACs are scoped by VN, so nothing is
//     gained by deriving one per domain, and a constant means a VM that
//     moves keeps a valid neighbor entry for its gateway. The neighbor
//     stage answers ARP and ND for each subnet's gateway address with it
//     (in the switch, or on the strict profile by the controller, whose
//     responder knows gateways too), at the answers' priority 200.
//   - neighbor (priority 50, below the answers and the unknown-target
//     drops) sends frames from local VAPs to the gateway MAC to the
//     l3_route stage. There, per destination address: dec_ttl, eth_src :=
//     the gateway MAC, eth_dst := the destination port's MAC (nva knows
//     every port's MAC and addresses: no ARP on the data path, no packet
//     ever waits for resolution), then delivery straight from the stage:
//     output to the destination's VAP here (with its VLAN) or into the
//     tunnel to the NVE hosting it with the destination VN's VNI. The
//     stage ends the pipeline and its miss drops (unknown destinations).
//   - Asymmetric routing: the ingress NVE routes, the egress NVE only
//     bridges in the destination VN (its classify accepts the destination
//     VN's VNI from the routing NVE, even one that hosts no port of that
//     VN, and l2_forward delivers by MAC). Symmetric routing (IRB with a
//     per-domain transit VNI, as EVPN does) exists to avoid needing every
//     destination MAC on every ingress; nva knows every MAC anyway, so
//     asymmetric needs no transit VNI, no second lookup on the egress and
//     no per-domain state beyond the routes, and a routed packet crosses
//     one routing hop (TTL-1) wherever its ends are.
//   - Destinations are the ports of every VN of the source VN's L3 domain
//     (model.VN.DomainKey: tenant + l3_domain), the source VN included (a
//     VN with several subnets routes between them); their addresses inside
//     their VN's subnets. A VN without a domain routes only within itself;
//     VNs of different domains never reach each other (overlapping subnets
//     across domains are therefore fine). Between the VNs of a domain,
//     routing is subject to the domain's inter-VN policy, default deny
//     (policy.go: conntrack tables l3_conntrack and l3_policy before
//     l3_route on OVS, stateless rules in neighbor on the strict profile).
//   - TTL: on OVS, flows matching nw_ttl 0 and 1 (priority 200) send
//     expired packets (TTLPuntMaxLen bytes) to the controller only, which
//     answers with an ICMP time-exceeded from the source subnet's gateway
//     (ofctl/ttlexceeded.go, rate-limited); their counters count them as
//     ttl_expired drops. The strict profile has no nw_ttl match: there
//     the route flow's dec_nw_ttl meets the expired packet, and the
//     southbound has asked the switch (OFPT_SET_ASYNC, OFPR_INVALID_TTL)
//     to send it to the controller as an invalid-TTL packet-in, which the
//     controller counts as a ttl_expired drop of the NVE and answers the
//     same way; nothing in the compiled flows differs.
//   - Slices: the routes of a VN and the tunnels accepted from routing
//     NVEs live in the VN's shared part; its fingerprint covers every
//     destination port (name, revision, addresses, VNI, VAP or tunnel), so
//     a port added to VN B recompiles VN A's shared part on an NVE hosting
//     only A, and nothing of A on NVEs where A routes to nothing new.
//   - Profiles: OVS realizes l3_route in table 29 (after the policy's 27
//     and 28); the strict profile
//     keeps four tables by realizing l3_route with l2_forward in table 3
//     (both end the pipeline, so the merge rule allows it; the MetaStage
//     selector tells their flows apart), with standard actions only
//     (dec_nw_ttl, set_field eth_src/eth_dst/tunnel_id, output to the
//     per-remote tunnel port). Per-remote tunnel ports exist between NVEs
//     that share a VN or route to each other (model.Snapshot.TunnelPeers
//     and RoutePeers), so the OVSDB side creates them for routing too; a
//     route whose tunnel port is missing is left out with a warning naming
//     the port.
//   - l3 VNs flood nothing (no BUM group; ARP/ND for unknown targets
//     dropped): their ports' and gateways' addresses are answered and
//     their IP unicast is bridged by MAC or routed; l2l3 VNs do both.
//
// # L3 gateway: SNAT and floating IPs to a non-virtualized network
//
// An L3 domain may have one gateway (model.L3Gateway; l3gateway.go,
// l3gwview.go): an NVE of the OVS profile with an uplink to an external
// IPv4 network. Every NVE hosting a VN of the domain sends the IPv4 its
// local VAPs address to the gateway MAC for a destination outside the
// domain's subnets (l3_route, priority 10; the domain's own subnets drop
// at 20 when no port has the address) to the gateway NVE: tunnelled
// unchanged with the source VN's VNI (the context: the gateway NVE maps
// each VNI to its domain), or straight to l3gw_out on the gateway NVE
// itself. The gateway NVE classifies tunnels to the gateway MAC with a
// VNI of the domain to l3gw_out (above the VN's own tunnel
// classification). There the packet is routed once (dec_ttl, the
// gateway's external MAC -> the configured next hop's MAC), reg0 gets the
// gateway's conntrack zone and ct(commit, zone, nat(src=external address
// or the tenant's floating IP)) resumes it in l3gw_egress, which outputs
// to the uplink. From the uplink (classify -> l3gw_in): ARP for the
// external and floating addresses is answered in the switch; IPv4 to the
// external address goes through ct(zone, nat) (replies are un-SNATed; a
// packet of no connection keeps its destination and matches no route) and
// to a floating IP through ct(commit, zone, nat(dst=tenant address));
// l3gw_route then routes the translated packet to the tenant port (dec_ttl,
// gateway MAC -> the port's MAC, to its VAP or tunnelled with its VN's
// VNI, which the port's NVE accepts from the gateway NVE). TTL: IPv4
// from the uplink to the gateway's addresses with TTL 0 or 1 goes to the
// controller only, from l3gw_in (priority 200, before conntrack, so the
// ICMP time-exceeded that ofctl/ttlexceeded.go sends from the gateway's
// external address and MAC out of the uplink quotes the packet as its
// sender sent it, not as translated); tenant packets with TTL 0 or 1 are
// dropped in l3gw_out (priority 200) unanswered: the gateway NVE's own
// VAPs' packets expire earlier, in its l3_route (answered there), so
// only tunnelled ones get here, and the answer would have to go back into
// the tunnel toward the ingress NVE (a packet-out setting tun_dst, a
// Nicira field nva's packet-outs do not use). Both kinds of flow count as
// ttl_expired drops (l3gw_in, l3gw_out). Zones: one per
// gateway from model.GatewayZoneFirst (0xf000) up, so identical tenant
// addresses of two domains never meet in conntrack. Strict-profile NVEs
// of the domain tunnel to the gateway NVE through a per-remote tunnel
// port (model.Snapshot.GatewayPeers); only the gateway NVE needs the OVS
// profile. IPv6 to the outside is not routed (dropped at l3_route's
// miss); the next hop's MAC is configured, not resolved.
//
// Not yet compiled (Result.Warnings says so when an input asks for it):
// underlay-multicast BUM (replication is used instead); routed VNs without
// subnets get no gateway.
package compiler

import (
	"fmt"
	"iter"
	"net/netip"

	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/pipeline"
)

// Input is everything Compile needs for one NVE.
type Input struct {
	Snapshot *model.Snapshot
	// NVE is the name of the NVE being compiled for.
	NVE string
	// OFPorts is the OpenFlow port number by OVS interface name on that
	// NVE (from OVSDB or port-desc); ports whose interface has no number
	// are skipped.
	OFPorts map[string]uint32
	// Tunnels is the OpenFlow port of the flow-based tunnel port
	// (remote_ip=flow, key=flow) per encapsulation, named
	// TunnelPortName(encap); used by profiles with FlowTunnels.
	Tunnels map[model.Encap]uint32
	// RemoteTunnels is the OpenFlow port, on this NVE, of the per-remote
	// tunnel port that reaches a remote NVE with an encapsulation, named
	// RemoteTunnelPortName(encap, remote's first IPv4 underlay address);
	// used by profiles without FlowTunnels. A remote without an entry for
	// the VN's encapsulation is skipped with a warning. RemoteTunnelPorts
	// builds it from port numbers by name.
	RemoteTunnels map[RemoteTunnel]uint32
	// Generation goes into every cookie (see flow.MakeCookie).
	Generation uint16
	// Down names the NVEs whose switches are not connected (the
	// southbound's view): not elected designated forwarder of a
	// dual-homed system, not sent its unicast while its twin is up, not
	// used as a replicator (bum.go). nil: every NVE counts as up.
	Down map[string]bool
}

// RemoteTunnel names a per-remote tunnel port: the remote NVE it reaches
// and its encapsulation (a remote reached by VNs of two encapsulations has
// two ports).
type RemoteTunnel struct {
	NVE   string
	Encap model.Encap
}

// Result is the desired state of one NVE.
type Result struct {
	Groups []flow.GroupEntry // sorted by ID
	// Warnings lists inputs that were skipped or only partly compiled, in
	// a deterministic order (for logs and the API).
	Warnings []string
	// Slices partition the flows and Groups: the NVE-wide slice (Key "")
	// first, then per compiled VN by name its shared part (Key: the VN's
	// name) followed by its ports' parts (Key: VN + "/" + port, by port
	// name), its remote parts (Key: VN + "/@" + remote NVE, by NVE name)
	// and its common part (Key: VN + "/*"). The NVE's flows are the slices' flows in slice order (Flows,
	// FlowList): there is no concatenated copy, so a part shared through a
	// PartPool is held once for all the NVEs using it. They are the
	// Cache's (and its PartPool's) own, shared with every Result that
	// uses them: read only.
	Slices []*Slice
	// recompiled has bit i set when this call compiled Slices[i] (or took
	// it from the Cache's PartPool) rather than reusing the Cache's.
	recompiled []uint64
}

// Recompiled is true when the call that returned r compiled Slices[i] (or
// took it from the Cache's PartPool), false when it came from the Cache.
func (r Result) Recompiled(i int) bool {
	return i >= 0 && i/64 < len(r.recompiled) && r.recompiled[i/64]&(1<<(i%64)) != 0
}

// NumFlows is the number of the NVE's flows (of all its slices).
func (r Result) NumFlows() int {
	n := 0
	for _, sl := range r.Slices {
		n += len(sl.Flows)
	}
	return n
}

// Flows iterates over the NVE's flows in order: the slices' flows in slice
// order (each slice sorted by table in packet order, priority highest
// first, then binary match flow.Key.Match); cookies set. (Reports and
// golden files sort by match text with flow.SortFlows.) The flows are the
// Cache's: read only.
func (r Result) Flows() iter.Seq[*flow.Flow] {
	return func(yield func(*flow.Flow) bool) {
		for _, sl := range r.Slices {
			fs := sl.Flows
			for j := range fs {
				if !yield(&fs[j]) {
					return
				}
			}
		}
	}
}

// FlowList returns the NVE's flows in the order of Flows as a new list
// (shallow copies: matches and actions are shared, read only), for code
// that needs one []flow.Flow (a simulated switch, a one-off diff). It
// costs a copy of every flow's header: do not keep it per NVE.
func (r Result) FlowList() []flow.Flow {
	out := make([]flow.Flow, 0, r.NumFlows())
	for _, sl := range r.Slices {
		out = append(out, sl.Flows...)
	}
	return out
}

// Slice is the part of an NVE's desired state that the NVE itself (Key
// and VN ""), a VN's shared part (Key = VN: its flood groups and what
// else the VN does on this NVE alone), one port of a VN (Key = VN + "/" +
// port name: its VAP's flows if local, its answers, its forwarding
// entry), one remote NVE of a VN (Key = VN + "/@" + NVE name: the
// classification of the VN's tunnel traffic from it) or a VN's common
// part (Key = VN + "/*": its neighbor defaults, alike on every NVE)
// contributes. Keys are unique within a Result.
type Slice struct {
	Key    string
	VN     string
	Flows  []flow.Flow       // sorted as in Result.Flows
	Groups []flow.GroupEntry // sorted by ID
	// Warnings are the ones the slice's features raised (also in
	// Result.Warnings).
	Warnings []string
	// Fingerprint hashes everything the slice was compiled from, with the
	// NVE, profile and generation: equal fingerprints, equal slices
	// (deterministic across processes). A reconciler diffs only slices
	// whose fingerprint changed. The part of a port not attached to the
	// NVE, and the NVE-wide slice, are compiled alike on every NVE (see
	// PartPool): their fingerprints do not cover the NVE.
	Fingerprint uint64
	// hashes are the flows' key hashes (keyHash), parallel to Flows: the
	// keys themselves are not kept (they would cost a copy of every
	// match); the rare hash collision recomputes the two keys
	// (flow.KeyOf). A compiled Slice is never written: Results, the
	// Cache, and the Caches sharing a PartPool refer to it.
	hashes []uint32
}

// Port is the port whose part the slice is: "" for the NVE-wide slice, a
// VN's shared, remote or common part and an L3 gateway's slice.
func (s *Slice) Port() string {
	if len(s.Key) <= len(s.VN)+1 || s.Key[len(s.VN)] != '/' {
		return ""
	}
	if p := s.Key[len(s.VN)+1:]; p[0] != '@' && p[0] != '*' {
		return p
	}
	return ""
}

// TunnelPortName is the OVS interface name of the flow-based tunnel port
// for an encapsulation: "nva-vxlan", "nva-geneve", "nva-gre".
func TunnelPortName(e model.Encap) string { return "nva-" + string(e) }

// RemoteTunnelPortName is the interface name of the per-remote tunnel port
// that reaches the NVE whose first IPv4 underlay address is remote, with
// encapsulation e: "nvx" (VXLAN), "nvg" (GENEVE) or "nvr" (GRE) and the
// address in 8 hex digits ("nvxc6120002" for VXLAN to 198.18.0.2), at
// most 15 characters as interface names must be. It is "" for an address
// that is not IPv4.
func RemoteTunnelPortName(e model.Encap, remote netip.Addr) string {
	remote = remote.Unmap()
	if !remote.Is4() {
		return ""
	}
	prefix := "nvx"
	switch e {
	case model.EncapGENEVE:
		prefix = "nvg"
	case model.EncapGRE:
		prefix = "nvr"
	}
	a := remote.As4()
	return fmt.Sprintf("%s%02x%02x%02x%02x", prefix, a[0], a[1], a[2], a[3])
}

// FirstIPv4 returns an NVE's first IPv4 underlay address: the address the
// tunnels to it use.
func FirstIPv4(n *model.NVE) (netip.Addr, bool) {
	for _, a := range n.UnderlayAddrs() {
		if a.Is4() {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// RemoteTunnelPorts returns Input.RemoteTunnels for NVE nve from its
// OpenFlow port numbers by interface name (port descriptions): for every
// NVE sharing a VN with it or routing to it (model.Snapshot.RoutePeers)
// and every encapsulation, the port named RemoteTunnelPortName, if
// present.
func RemoteTunnelPorts(snap *model.Snapshot, nve string, ports map[string]uint32) map[RemoteTunnel]uint32 {
	out := map[RemoteTunnel]uint32{}
	for _, peer := range append(snap.Peers(nve), snap.RoutePeers(nve)...) {
		n, ok := snap.NVEs[peer.NVE]
		if !ok {
			continue
		}
		ip, ok := FirstIPv4(n)
		if !ok {
			continue
		}
		for _, e := range model.Encaps {
			if no, ok := ports[RemoteTunnelPortName(e, ip)]; ok && no != 0 {
				out[RemoteTunnel{NVE: peer.NVE, Encap: e}] = no
			}
		}
	}
	return out
}

// FloodGroupID is the ID of VN vni's BUM group: for traffic from local
// VAPs (fromTunnel false: local ports + remote NVEs) or from a tunnel
// (fromTunnel true: local ports only). The same on every NVE.
func FloodGroupID(vni uint32, fromTunnel bool) uint32 {
	id := vni << 1
	if fromTunnel {
		id |= 1
	}
	return id
}

// Priorities, per stage. Higher wins.
const (
	PrioDrop      = 0
	PrioVNDefault = 1   // neighbor: per-VN pass to forwarding
	PrioBUM       = 50  // l2_forward: multicast/broadcast
	PrioNormal    = 100 // the ordinary flows of a stage
	PrioNAAllow   = 110 // port_security: NAs a port may send
	PrioNADrop    = 105 // port_security: every other NA from the port
	PrioNeighDrop = 100 // neighbor: unknown-target drop
	PrioAnswer    = 200 // neighbor: responders (in the switch or punt)
	PrioNoAnswer  = 300 // neighbor: probes and DAD, never answered
	PrioOwnAddr   = 310 // neighbor: a port asking for its own address
	PrioNoSLL     = 290 // neighbor: NS without a source link-layer option
	PrioToRoute   = 50  // neighbor: frames to the gateway MAC -> l3_route
	PrioTTLDrop   = 200 // l3_route: TTL 0 or 1 (profiles that match nw_ttl)
)

// NDReservedSO is the NA flags word nva's responder sets: Solicited and
// Override (R=0: tenant ports are hosts as far as nva knows).
const NDReservedSO uint32 = 0x60000000

// Compile computes the desired flows and groups of in.NVE for profile prof
// from scratch (a fresh Cache's answer).
func Compile(in Input, prof pipeline.Profile) (Result, error) {
	return NewCache().Compile(in, prof)
}
