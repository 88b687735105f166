// Package pipeline owns nva's OpenFlow pipeline declared as data: the named
// tables, each with a contract (which fields it may match, which fields it
// may set or move, which tables it may go to, whether it may output, use
// groups, push/pop VLANs or write metadata), and the switch profiles that
// map table names to numbers and say whether Open vSwitch (Nicira and
// other vendor) extensions may be used. It is the only place in nva where
// table numbers exist. Check verifies compiled flows and groups against a
// profile.
package pipeline

import (
	"fmt"

	"github.com/nva-project/nva/app/flow"
)

// Table names of the L2 overlay pipeline, in packet order. Flows name their
// table with these; numbers come from a Profile.
const (
	// Classify maps a packet's ingress (a VAP: port [+VLAN], or the tunnel
	// port + tun_id) to its VN, written to metadata; anything else drops.
	Classify = "classify"
	// PortSecurity checks the source MAC/ARP/IPv4/IPv6 of frames from
	// local VAPs against the port's bindings.
	PortSecurity = "port_security"
	// Neighbor answers ARP requests and IPv6 neighbor solicitations for
	// addresses known in the VN, and applies the VN's unknown-target policy.
	Neighbor = "neighbor"
	// NDAdvert completes a neighbor advertisement Neighbor turned a
	// solicitation into: it sets the target link-layer address, which OVS
	// only allows in a flow that matches icmpv6_type=136.
	NDAdvert = "nd_advert"
	// L2Forward forwards by destination MAC within the VN: local VAP,
	// tunnel to the remote NVE, or the VN's BUM group.
	L2Forward = "l2_forward"
	// Reply sends a packet built by Neighbor back out of its ingress VAP,
	// re-tagging it with the VAP's VLAN.
	Reply = "reply"
)

// Metadata layout, shared by every table and profile (metadata is
// standard OpenFlow 1.3, so hardware profiles can use the same layout).
const (
	// MetaVNIMask selects the VN's 24-bit context ID (the VNI).
	MetaVNIMask uint64 = 0x00ffffff
	// MetaFromTunnel is set when the packet arrived from an overlay tunnel
	// (split horizon: such packets never go back into a tunnel).
	MetaFromTunnel uint64 = 1 << 24
	// MetaMask covers every metadata bit the pipeline uses.
	MetaMask = MetaVNIMask | MetaFromTunnel
)

// Table is one table of a profile with its contract.
type Table struct {
	Name   string
	Number uint8
	Doc    string
	// Match lists the fields flows in this table may match.
	Match []string
	// Set lists the fields flows may set (set_field) or move into.
	Set []string
	// Read lists the fields flows may move from.
	Read []string
	// Goto lists the tables flows may continue to (always later tables).
	Goto []string
	// Output allows output actions (to ports, IN_PORT, CONTROLLER).
	Output bool
	// Group allows group actions.
	Group bool
	// VLAN allows push_vlan/pop_vlan.
	VLAN bool
	// WriteMetadata allows the write-metadata instruction.
	WriteMetadata bool
}

// GroupContract says what group buckets may do in a profile.
type GroupContract struct {
	Types []flow.GroupType
	Set   []string // fields buckets may set
	VLAN  bool     // buckets may push/pop VLANs
}

// Profile is a kind of switch: its tables with their numbers and
// contracts, and which extensions it accepts.
type Profile struct {
	Name string
	// Extensions allows Open vSwitch extensions: Nicira NXM fields
	// (registers, tun_src/tun_dst), experimenter fields (nd_reserved,
	// nd_options_type) and the Nicira move action. A strict OpenFlow 1.3
	// profile sets it false.
	Extensions bool
	// NDInSwitch says the switch can build an IPv6 neighbor advertisement
	// from a solicitation itself (needs nd_reserved and nd_options_type);
	// otherwise known solicitations go to the controller.
	NDInSwitch bool
	// ARPInSwitch says the switch can build an ARP reply itself (needs
	// move); otherwise known ARP requests go to the controller.
	ARPInSwitch bool
	// Tunnels says the switch has flow-based tunnel ports (tun_id/tun_dst
	// set per flow).
	Tunnels bool
	Tables  []Table
	Groups  GroupContract
}

// Table returns the named table of the profile.
func (p Profile) Table(name string) (Table, bool) {
	for _, t := range p.Tables {
		if t.Name == name {
			return t, true
		}
	}
	return Table{}, false
}

// Number returns the number of the named table (the flow.TextOptions
// TableNumber resolver).
func (p Profile) Number(name string) (uint8, bool) {
	t, ok := p.Table(name)
	return t.Number, ok
}

// NameOf returns the name of the table with the given number.
func (p Profile) NameOf(number uint8) (string, bool) {
	for _, t := range p.Tables {
		if t.Number == number {
			return t.Name, true
		}
	}
	return "", false
}

// Order returns the position of a table in packet order (unknown tables
// sort last); use it with flow.SortFlows.
func (p Profile) Order(name string) int {
	for i, t := range p.Tables {
		if t.Name == name {
			return i
		}
	}
	return len(p.Tables)
}

// Text renders flows in ovs-ofctl syntax with this profile's table
// numbers, as `ovs-ofctl -O OpenFlow13 add-flows` accepts them.
func (p Profile) Text(flows []flow.Flow, cookies bool) (string, error) {
	return flow.FormatFlows(flows, flow.TextOptions{TableNumber: p.Number, Cookie: cookies})
}

// OVS is the profile of an Open vSwitch NVE (hypervisor br-int): all
// tables, Nicira extensions, flow-based tunnel ports, ARP and ND answered
// in the switch. Table numbers are spaced by 10 so later stages (L3,
// policy) fit between them.
func OVS() Profile {
	return Profile{
		Name:        "ovs",
		Extensions:  true,
		NDInSwitch:  true,
		ARPInSwitch: true,
		Tunnels:     true,
		Tables: []Table{
			{
				Name: Classify, Number: 0,
				Doc:           "ingress VAP (in_port[, vlan]) or tunnel (in_port, tun_id, tun_src) -> VN in metadata; else drop",
				Match:         []string{flow.InPort, flow.VlanVID, flow.TunID, flow.TunIPv4Src},
				Goto:          []string{PortSecurity, L2Forward},
				VLAN:          true,
				WriteMetadata: true,
			},
			{
				Name: PortSecurity, Number: 10,
				Doc: "source MAC, ARP sha/spa, IPv4/IPv6 source, NA target/tll must match the VAP's bindings; else drop",
				Match: []string{flow.InPort, flow.Metadata, flow.EthSrc, flow.EthDst, flow.EthType,
					flow.ARPSHA, flow.ARPSPA, flow.IPv4Src, flow.IPv4Dst, flow.IPProto, flow.UDPSrc, flow.UDPDst,
					flow.IPv6Src, flow.ICMPv6Type, flow.NDTarget, flow.NDTLL},
				Goto: []string{Neighbor},
			},
			{
				Name: Neighbor, Number: 20,
				Doc: "ARP/ND for targets known in the VN answered in the switch; unknown targets per VN policy",
				Match: []string{flow.InPort, flow.Metadata, flow.EthType, flow.ARPOp, flow.ARPSPA, flow.ARPTPA,
					flow.IPProto, flow.IPv6Src, flow.ICMPv6Type, flow.ICMPv6Code, flow.NDTarget, flow.NDSLL},
				Set: []string{flow.EthSrc, flow.EthDst, flow.ARPOp, flow.ARPSHA, flow.ARPTHA, flow.ARPSPA, flow.ARPTPA,
					flow.ICMPv6Type, flow.NDOptionsType, flow.NDReserved, flow.IPv6Src, flow.IPv6Dst},
				Read:   []string{flow.EthSrc, flow.ARPSHA, flow.ARPSPA, flow.IPv6Src},
				Goto:   []string{NDAdvert, L2Forward, Reply},
				Output: true, // CONTROLLER, for profiles/fallbacks that punt
			},
			{
				Name: NDAdvert, Number: 25,
				Doc:   "neighbor advertisement built by neighbor -> target link-layer address of the known target",
				Match: []string{flow.Metadata, flow.EthType, flow.IPProto, flow.ICMPv6Type, flow.NDTarget},
				Set:   []string{flow.NDTLL},
				Goto:  []string{Reply},
			},
			{
				Name: L2Forward, Number: 30,
				Doc:    "destination MAC in the VN -> local VAP, tunnel to the remote NVE, or the VN's BUM group; unknown unicast drops",
				Match:  []string{flow.Metadata, flow.EthDst},
				Set:    []string{flow.VlanVID, flow.TunID, flow.TunIPv4Dst},
				Output: true,
				Group:  true,
				VLAN:   true,
			},
			{
				Name: Reply, Number: 40,
				Doc:    "packet built by neighbor -> back out of its ingress VAP (with the VAP's VLAN)",
				Match:  []string{flow.InPort, flow.Metadata},
				Set:    []string{flow.VlanVID},
				Output: true,
				VLAN:   true,
			},
		},
		Groups: GroupContract{
			Types: []flow.GroupType{flow.GroupAll, flow.GroupSelect, flow.GroupFastFailover},
			Set:   []string{flow.VlanVID, flow.TunID, flow.TunIPv4Dst},
			VLAN:  true,
		},
	}
}

// Profiles returns every profile nva knows, by name.
func Profiles() map[string]Profile {
	o := OVS()
	return map[string]Profile{o.Name: o}
}

// ForName returns the named profile.
func ForName(name string) (Profile, error) {
	p, ok := Profiles()[name]
	if !ok {
		return Profile{}, fmt.Errorf("pipeline: unknown switch profile %q", name)
	}
	return p, nil
}
