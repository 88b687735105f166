package flow

import (
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
)

// Text rendering in ovs-ofctl syntax: the input form of
// `ovs-ofctl -O OpenFlow13 add-flow` / `add-group`. With table names the
// text is for people (golden files, the API's flow view); with table
// numbers (TextOptions.TableNumber set) real ovs-ofctl accepts it.

// TextOptions controls FormatFlow.
type TextOptions struct {
	// TableNumber maps a table name to its number for one switch profile.
	// When nil, tables are written by name ("table=classify").
	TableNumber func(name string) (uint8, bool)
	// Cookie writes "cookie=0x..." after the priority.
	Cookie bool
}

// FormatValue renders a field value in the field's text format.
func FormatValue(field string, v []byte) string {
	spec, ok := Spec(field)
	if !ok {
		return "0x" + hexBytes(v)
	}
	switch spec.Format {
	case FormatMAC:
		if len(v) == 6 {
			return net.HardwareAddr(v).String()
		}
	case FormatIPv4:
		if len(v) == 4 {
			return netip.AddrFrom4([4]byte(v)).String()
		}
	case FormatIPv6:
		if len(v) == 16 {
			return netip.AddrFrom16([16]byte(v)).String()
		}
	case FormatDec:
		return new(big.Int).SetBytes(v).String()
	}
	return "0x" + new(big.Int).SetBytes(v).Text(16)
}

func hexBytes(v []byte) string {
	var b strings.Builder
	for _, x := range v {
		fmt.Fprintf(&b, "%02x", x)
	}
	if b.Len() == 0 {
		return "0"
	}
	return b.String()
}

// FormatMatch renders a match as comma-separated field=value[/mask] in
// canonical field order ("" for match-all).
func FormatMatch(m Match) string {
	if m.IsEmpty() {
		return ""
	}
	var b strings.Builder
	for f := range m.Raw() {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		v := []byte(f.Value)
		if f.Mask == "" {
			b.WriteString(f.Name + "=" + FormatValue(f.Name, v))
			continue
		}
		mask := []byte(f.Mask)
		if f.Spec != nil && f.Spec.Format == FormatDec {
			// ovs-ofctl wants masks of decimal fields in hex too.
			b.WriteString(f.Name + "=0x" + new(big.Int).SetBytes(v).Text(16) + "/0x" + new(big.Int).SetBytes(mask).Text(16))
			continue
		}
		b.WriteString(f.Name + "=" + FormatValue(f.Name, v) + "/" + FormatValue(f.Name, mask))
	}
	return b.String()
}

func formatPort(p uint32) string {
	switch p {
	case PortInPort:
		return "IN_PORT"
	case PortLocal:
		return "LOCAL"
	case PortAny:
		return "ANY"
	}
	return "output:" + strconv.FormatUint(uint64(p), 10)
}

func formatSubfield(field string, ofs, bits int) string {
	if spec, ok := Spec(field); ok && ofs == 0 && (bits == 0 || bits == spec.Bits) {
		return field + "[]"
	}
	return fmt.Sprintf("%s[%d..%d]", field, ofs, ofs+bits-1)
}

// FormatAction renders one action in ovs-ofctl syntax.
func FormatAction(a Action) string {
	switch a := a.(type) {
	case Output:
		if a.Port == PortController {
			ml := a.MaxLen
			if ml == 0 {
				ml = 0xffff
			}
			return "CONTROLLER:" + strconv.Itoa(int(ml))
		}
		return formatPort(a.Port)
	case SetField:
		return "set_field:" + FormatValue(a.Field, a.Value) + "->" + a.Field
	case Move:
		return "move:" + formatSubfield(a.Src, a.SrcOfs, a.Bits) + "->" + formatSubfield(a.Dst, a.DstOfs, a.Bits)
	case PushVLAN:
		return fmt.Sprintf("push_vlan:0x%04x", a.EtherType)
	case PopVLAN:
		return "pop_vlan"
	case Group:
		return "group:" + strconv.FormatUint(uint64(a.ID), 10)
	case DecTTL:
		return "dec_ttl"
	case CT:
		return FormatCT(a, nil)
	}
	return fmt.Sprintf("unknown_action(%T)", a)
}

// FormatActions renders an action list ("drop" when empty).
func FormatActions(as []Action) string {
	if len(as) == 0 {
		return "drop"
	}
	parts := make([]string, len(as))
	for i, a := range as {
		parts[i] = FormatAction(a)
	}
	return strings.Join(parts, ",")
}

func tableText(name string, o TextOptions) (string, error) {
	if o.TableNumber == nil {
		return name, nil
	}
	n, ok := o.TableNumber(name)
	if !ok {
		return "", fmt.Errorf("flow text: unknown table %q", name)
	}
	return strconv.Itoa(int(n)), nil
}

// FormatFlow renders a flow in ovs-ofctl add-flow syntax:
// table=T,priority=P[,cookie=C][,match],actions=A[,write_metadata:V/M][,goto_table:T].
func FormatFlow(f Flow, o TextOptions) (string, error) {
	t, err := tableText(f.Table, o)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "table=%s,priority=%d", t, f.Priority)
	if o.Cookie {
		fmt.Fprintf(&b, ",cookie=%#x", f.Cookie)
	}
	if m := FormatMatch(f.Match); m != "" {
		b.WriteString("," + m)
	}
	var acts []string
	if len(f.Actions) > 0 {
		for _, a := range f.Actions {
			if ct, ok := a.(CT); ok && o.TableNumber != nil {
				acts = append(acts, FormatCT(ct, o.TableNumber))
				continue
			}
			acts = append(acts, FormatAction(a))
		}
	}
	if f.MetadataMask != 0 {
		acts = append(acts, fmt.Sprintf("write_metadata:%#x/%#x", f.WriteMetadata, f.MetadataMask))
	}
	if f.Goto != "" {
		g, err := tableText(f.Goto, o)
		if err != nil {
			return "", err
		}
		acts = append(acts, "goto_table:"+g)
	}
	if len(acts) == 0 {
		acts = []string{"drop"}
	}
	b.WriteString(",actions=" + strings.Join(acts, ","))
	return b.String(), nil
}

// String renders the flow with table names and without its cookie.
func (f Flow) String() string {
	s, _ := FormatFlow(f, TextOptions{})
	return s
}

// FormatFlows renders flows one per line, in the order given (see
// SortFlows), each line ending in a newline.
func FormatFlows(flows []Flow, o TextOptions) (string, error) {
	var b strings.Builder
	for _, f := range flows {
		s, err := FormatFlow(f, o)
		if err != nil {
			return "", err
		}
		b.WriteString(s + "\n")
	}
	return b.String(), nil
}

var groupTypeNames = map[GroupType]string{GroupAll: "all", GroupSelect: "select", GroupIndirect: "indirect", GroupFastFailover: "ff"}

// FormatGroup renders a group in ovs-ofctl add-group syntax:
// group_id=N,type=all,bucket=actions=...,bucket=actions=...
func FormatGroup(g GroupEntry) string {
	var b strings.Builder
	t, ok := groupTypeNames[g.Type]
	if !ok {
		t = strconv.Itoa(int(g.Type))
	}
	fmt.Fprintf(&b, "group_id=%d,type=%s", g.ID, t)
	for _, bk := range g.Buckets {
		b.WriteString(",bucket=")
		if g.Type == GroupSelect {
			fmt.Fprintf(&b, "weight:%d,", bk.Weight)
		}
		if g.Type == GroupFastFailover || g.Type == GroupSelect {
			if bk.WatchPort != PortAny && bk.WatchPort != 0 {
				fmt.Fprintf(&b, "watch_port:%d,", bk.WatchPort)
			}
			if bk.WatchGroup != PortAny && bk.WatchGroup != 0 {
				fmt.Fprintf(&b, "watch_group:%d,", bk.WatchGroup)
			}
		}
		b.WriteString("actions=" + FormatActions(bk.Actions))
	}
	return b.String()
}

// String renders the group in ovs-ofctl add-group syntax.
func (g GroupEntry) String() string { return FormatGroup(g) }

// FormatGroups renders groups one per line, sorted by ID.
func FormatGroups(groups []GroupEntry) string {
	gs := append([]GroupEntry(nil), groups...)
	SortGroups(gs)
	var b strings.Builder
	for _, g := range gs {
		b.WriteString(FormatGroup(g) + "\n")
	}
	return b.String()
}

// SortFlows orders flows deterministically: by table (tableOrder gives a
// table's position; nil orders tables by name), then by priority, highest
// first, then by match text.
func SortFlows(flows []Flow, tableOrder func(name string) int) {
	type k struct {
		t    int
		name string
		prio uint16
		m    string
	}
	keys := make([]k, len(flows))
	for i := range flows {
		o := 0
		if tableOrder != nil {
			o = tableOrder(flows[i].Table)
		}
		keys[i] = k{o, flows[i].Table, flows[i].Priority, FormatMatch(flows[i].Match)}
	}
	idx := make([]int, len(flows))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		x, y := keys[idx[a]], keys[idx[b]]
		if x.t != y.t {
			return x.t < y.t
		}
		if x.name != y.name {
			return x.name < y.name
		}
		if x.prio != y.prio {
			return x.prio > y.prio
		}
		return x.m < y.m
	})
	out := make([]Flow, len(flows))
	for i, j := range idx {
		out[i] = flows[j]
	}
	copy(flows, out)
}

// SortGroups orders groups by ID.
func SortGroups(groups []GroupEntry) {
	sort.SliceStable(groups, func(i, j int) bool { return groups[i].ID < groups[j].ID })
}
