package flow

import (
	"net/netip"
	"strconv"
	"strings"
)

// NATKind says what a CT action's nat clause does.
type NATKind uint8

// NAT kinds.
const (
	// NATNone: the ct action has no nat clause.
	NATNone NATKind = iota
	// NATReverse is a bare "nat": apply the NAT of the packet's committed
	// connection (un-SNAT a reply, re-DNAT the next packet of a DNAT'd
	// connection); nothing happens to a packet of no NAT'd connection.
	NATReverse
	// NATSrc translates the source address to CT.NATAddr (SNAT).
	NATSrc
	// NATDst translates the destination address to CT.NATAddr (DNAT).
	NATDst
)

// CT sends the packet through the connection tracker (Nicira NXAST_CT with
// a nested NXAST_NAT; Open vSwitch only, "ct(...)" in ovs-ofctl). Zone is
// the conntrack zone (connections of different zones never meet: nva gives
// each L3 domain's NAT a zone of its own). Commit commits the connection.
// Table, when set, names the table (or stage, resolved by the profile) the
// tracked packet resumes in: OVS forks the packet, the original goes on
// with the rest of the action list untracked. Without Table the packet
// goes on with the rest of the action list, translated.
type CT struct {
	Commit  bool
	Zone    uint16
	Table   string
	NAT     NATKind
	NATAddr netip.Addr // for NATSrc and NATDst
}

func (CT) isAction() {}

// FormatCT renders a CT action in ovs-ofctl syntax, table names resolved
// by tableNumber when it is not nil.
func FormatCT(a CT, tableNumber func(string) (uint8, bool)) string {
	var parts []string
	if a.Commit {
		parts = append(parts, "commit")
	}
	parts = append(parts, "zone="+strconv.Itoa(int(a.Zone)))
	if a.Table != "" {
		t := a.Table
		if tableNumber != nil {
			if n, ok := tableNumber(a.Table); ok {
				t = strconv.Itoa(int(n))
			}
		}
		parts = append(parts, "table="+t)
	}
	switch a.NAT {
	case NATReverse:
		parts = append(parts, "nat")
	case NATSrc:
		parts = append(parts, "nat(src="+a.NATAddr.String()+")")
	case NATDst:
		parts = append(parts, "nat(dst="+a.NATAddr.String()+")")
	}
	return "ct(" + strings.Join(parts, ",") + ")"
}
