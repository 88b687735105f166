package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/nva-project/nva/app/flow"
)

// Validate checks the profile itself: unique table names and numbers,
// every goto pointing at a later table of the profile, contract fields in
// the flow registry, and no extension fields in a strict profile.
func (p Profile) Validate() error {
	var errs []error
	names := map[string]bool{}
	numbers := map[uint8]string{}
	for _, t := range p.Tables {
		if names[t.Name] {
			errs = append(errs, fmt.Errorf("profile %s: duplicate table %q", p.Name, t.Name))
		}
		names[t.Name] = true
		if o, ok := numbers[t.Number]; ok {
			errs = append(errs, fmt.Errorf("profile %s: tables %q and %q share number %d", p.Name, o, t.Name, t.Number))
		}
		numbers[t.Number] = t.Name
		for _, list := range [][]string{t.Match, t.Set, t.Read} {
			for _, f := range list {
				spec, ok := flow.Spec(f)
				if !ok {
					errs = append(errs, fmt.Errorf("profile %s: table %s: unknown field %q", p.Name, t.Name, f))
				} else if spec.Nicira && !p.Extensions {
					errs = append(errs, fmt.Errorf("profile %s: table %s: extension field %q in a strict profile", p.Name, t.Name, f))
				}
			}
		}
		if len(t.Read) > 0 && !p.Extensions {
			errs = append(errs, fmt.Errorf("profile %s: table %s: move needs extensions", p.Name, t.Name))
		}
	}
	for _, t := range p.Tables {
		for _, g := range t.Goto {
			n, ok := p.Number(g)
			if !ok {
				errs = append(errs, fmt.Errorf("profile %s: table %s: goto unknown table %q", p.Name, t.Name, g))
			} else if n <= t.Number {
				errs = append(errs, fmt.Errorf("profile %s: table %s (%d): goto %s (%d) is not forward", p.Name, t.Name, t.Number, g, n))
			}
		}
	}
	return errors.Join(errs...)
}

// Check verifies flows and groups against the profile: every flow's table
// exists; it matches and sets only fields its table's contract allows,
// with valid widths and OpenFlow prerequisites; it outputs, uses groups,
// pushes/pops VLANs and writes metadata only where allowed; it goes only
// to tables its contract lists, and only forward; no flow repeats another's
// (table, priority, match); groups it uses exist; group buckets obey the
// profile's group contract; and nothing uses an extension (Nicira fields,
// move, experimenter fields) in a profile without extensions. It returns
// every violation found, each naming the flow or group at fault.
func Check(p Profile, flows []flow.Flow, groups []flow.GroupEntry) error {
	var errs []error
	if err := p.Validate(); err != nil {
		errs = append(errs, err)
	}
	groupIDs := map[uint32]bool{}
	for _, g := range groups {
		if groupIDs[g.ID] {
			errs = append(errs, fmt.Errorf("group %d: duplicate group ID", g.ID))
		}
		groupIDs[g.ID] = true
		for _, e := range checkGroup(p, g) {
			errs = append(errs, fmt.Errorf("group %d: %w", g.ID, e))
		}
	}
	seen := map[string]bool{}
	for _, f := range flows {
		key := fmt.Sprintf("%s/%d/%s", f.Table, f.Priority, flow.FormatMatch(f.Match))
		if seen[key] {
			errs = append(errs, fmt.Errorf("flow %s: duplicate (table, priority, match)", f))
		}
		seen[key] = true
		for _, e := range checkFlow(p, f, groupIDs) {
			errs = append(errs, fmt.Errorf("flow %s: %w", f, e))
		}
	}
	return errors.Join(errs...)
}

func checkFlow(p Profile, f flow.Flow, groupIDs map[uint32]bool) []error {
	var errs []error
	t, ok := p.Table(f.Table)
	if !ok {
		return []error{fmt.Errorf("table %q is not in profile %s", f.Table, p.Name)}
	}
	// Fields known to have one exact value, for prerequisite checks; set
	// actions update it as OVS does when it validates actions.
	known := map[string][]byte{}
	fieldSeen := map[string]bool{}
	for _, m := range f.Match {
		if fieldSeen[m.Field] {
			errs = append(errs, fmt.Errorf("field %s matched twice", m.Field))
		}
		fieldSeen[m.Field] = true
		spec, ok := flow.Spec(m.Field)
		if !ok {
			errs = append(errs, fmt.Errorf("unknown match field %q", m.Field))
			continue
		}
		if !slices.Contains(t.Match, m.Field) {
			errs = append(errs, fmt.Errorf("table %s may not match %s", t.Name, m.Field))
		}
		if spec.Nicira && !p.Extensions {
			errs = append(errs, fmt.Errorf("match on extension field %s in strict profile %s", m.Field, p.Name))
		}
		if len(m.Value) != spec.Bytes || (m.Mask != nil && len(m.Mask) != spec.Bytes) {
			errs = append(errs, fmt.Errorf("match %s: value/mask must be %d bytes", m.Field, spec.Bytes))
			continue
		}
		if m.Mask != nil {
			for i := range m.Value {
				if m.Value[i]&^m.Mask[i] != 0 {
					errs = append(errs, fmt.Errorf("match %s: value has bits outside its mask", m.Field))
					break
				}
			}
		} else {
			known[m.Field] = m.Value
		}
	}
	for _, m := range f.Match {
		if err := prereq(m.Field, known); err != nil {
			errs = append(errs, fmt.Errorf("match %s: %w", m.Field, err))
		}
	}
	for _, e := range checkActions(p, f.Actions, t.Set, t.Read, t.Output, t.Group, t.VLAN, known) {
		errs = append(errs, e)
	}
	for _, a := range f.Actions {
		if g, ok := a.(flow.Group); ok && !groupIDs[g.ID] {
			errs = append(errs, fmt.Errorf("group %d does not exist", g.ID))
		}
	}
	if f.MetadataMask != 0 {
		if !t.WriteMetadata {
			errs = append(errs, fmt.Errorf("table %s may not write metadata", t.Name))
		}
		if f.WriteMetadata&^f.MetadataMask != 0 {
			errs = append(errs, fmt.Errorf("write_metadata value %#x has bits outside mask %#x", f.WriteMetadata, f.MetadataMask))
		}
	}
	if f.Goto != "" {
		n, ok := p.Number(f.Goto)
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("goto table %q is not in profile %s", f.Goto, p.Name))
		case n <= t.Number:
			errs = append(errs, fmt.Errorf("goto %s (%d) from %s (%d) is not forward", f.Goto, n, t.Name, t.Number))
		case !slices.Contains(t.Goto, f.Goto):
			errs = append(errs, fmt.Errorf("table %s may not go to %s", t.Name, f.Goto))
		}
	}
	return errs
}

func checkGroup(p Profile, g flow.GroupEntry) []error {
	var errs []error
	if !slices.Contains(p.Groups.Types, g.Type) {
		errs = append(errs, fmt.Errorf("group type %d not allowed in profile %s", g.Type, p.Name))
	}
	if g.ID > 0xffffff00 {
		errs = append(errs, fmt.Errorf("group ID %#x is reserved", g.ID))
	}
	for i, b := range g.Buckets {
		for _, e := range checkActions(p, b.Actions, p.Groups.Set, nil, true, false, p.Groups.VLAN, map[string][]byte{}) {
			errs = append(errs, fmt.Errorf("bucket %d: %w", i, e))
		}
	}
	return errs
}

func checkActions(p Profile, acts []flow.Action, set, read []string, output, group, vlan bool, known map[string][]byte) []error {
	var errs []error
	for _, a := range acts {
		switch a := a.(type) {
		case flow.Output:
			if !output {
				errs = append(errs, fmt.Errorf("output not allowed here"))
			}
		case flow.Group:
			if !group {
				errs = append(errs, fmt.Errorf("group action not allowed here"))
			}
		case flow.PushVLAN:
			if !vlan {
				errs = append(errs, fmt.Errorf("push_vlan not allowed here"))
			}
			if a.EtherType != flow.EthTypeVLAN && a.EtherType != 0x88a8 {
				errs = append(errs, fmt.Errorf("push_vlan ethertype %#x is not 0x8100 or 0x88a8", a.EtherType))
			}
			known[flow.VlanVID] = flow.U16(flow.VIDPresent)
		case flow.PopVLAN:
			if !vlan {
				errs = append(errs, fmt.Errorf("pop_vlan not allowed here"))
			}
		case flow.SetField:
			spec, ok := flow.Spec(a.Field)
			if !ok {
				errs = append(errs, fmt.Errorf("set_field of unknown field %q", a.Field))
				continue
			}
			if !slices.Contains(set, a.Field) {
				errs = append(errs, fmt.Errorf("may not set %s here", a.Field))
			}
			if spec.Nicira && !p.Extensions {
				errs = append(errs, fmt.Errorf("set_field of extension field %s in strict profile %s", a.Field, p.Name))
			}
			if len(a.Value) != spec.Bytes {
				errs = append(errs, fmt.Errorf("set_field %s: value must be %d bytes", a.Field, spec.Bytes))
			}
			if err := prereq(a.Field, known); err != nil {
				errs = append(errs, fmt.Errorf("set_field %s: %w", a.Field, err))
			}
			known[a.Field] = a.Value
		case flow.Move:
			if !p.Extensions {
				errs = append(errs, fmt.Errorf("move is a Nicira extension, not allowed in strict profile %s", p.Name))
			}
			src, ok1 := flow.Spec(a.Src)
			dst, ok2 := flow.Spec(a.Dst)
			if !ok1 || !ok2 {
				errs = append(errs, fmt.Errorf("move between unknown fields %q -> %q", a.Src, a.Dst))
				continue
			}
			if !slices.Contains(read, a.Src) {
				errs = append(errs, fmt.Errorf("may not move from %s here", a.Src))
			}
			if !slices.Contains(set, a.Dst) {
				errs = append(errs, fmt.Errorf("may not move into %s here", a.Dst))
			}
			if (src.Nicira || dst.Nicira) && !p.Extensions {
				errs = append(errs, fmt.Errorf("move uses an extension field in strict profile %s", p.Name))
			}
			if a.Bits <= 0 || a.SrcOfs < 0 || a.DstOfs < 0 || a.SrcOfs+a.Bits > src.Bits || a.DstOfs+a.Bits > dst.Bits {
				errs = append(errs, fmt.Errorf("move %s[%d+%d] -> %s[%d+%d] out of range", a.Src, a.SrcOfs, a.Bits, a.Dst, a.DstOfs, a.Bits))
			}
			for _, fld := range []string{a.Src, a.Dst} {
				if err := prereq(fld, known); err != nil {
					errs = append(errs, fmt.Errorf("move %s: %w", fld, err))
				}
			}
			delete(known, a.Dst)
		default:
			errs = append(errs, fmt.Errorf("unknown action %T", a))
		}
	}
	return errs
}

// prereq checks OpenFlow's prerequisites of a field against the fields
// known to hold one exact value.
func prereq(field string, known map[string][]byte) error {
	is := func(f string, v []byte) bool { k, ok := known[f]; return ok && bytes.Equal(k, v) }
	ethIs := func(t uint16) bool { return is(flow.EthType, flow.U16(t)) }
	need := func(ok bool, what string) error {
		if !ok {
			return fmt.Errorf("needs %s", what)
		}
		return nil
	}
	icmp6 := func() bool { return ethIs(flow.EthTypeIPv6) && is(flow.IPProto, flow.U8(flow.ProtoICMPv6)) }
	switch field {
	case flow.ARPOp, flow.ARPSPA, flow.ARPTPA, flow.ARPSHA, flow.ARPTHA:
		return need(ethIs(flow.EthTypeARP), "eth_type=0x0806")
	case flow.IPv4Src, flow.IPv4Dst:
		return need(ethIs(flow.EthTypeIPv4), "eth_type=0x0800")
	case flow.IPv6Src, flow.IPv6Dst:
		return need(ethIs(flow.EthTypeIPv6), "eth_type=0x86dd")
	case flow.IPProto:
		return need(ethIs(flow.EthTypeIPv4) || ethIs(flow.EthTypeIPv6), "eth_type=0x0800 or 0x86dd")
	case flow.UDPSrc, flow.UDPDst:
		return need((ethIs(flow.EthTypeIPv4) || ethIs(flow.EthTypeIPv6)) && is(flow.IPProto, flow.U8(17)), "ip_proto=17")
	case flow.ICMPv6Type, flow.ICMPv6Code:
		return need(icmp6(), "eth_type=0x86dd,ip_proto=58")
	case flow.NDTarget, flow.NDReserved, flow.NDOptionsType:
		return need(icmp6() && (is(flow.ICMPv6Type, flow.U8(135)) || is(flow.ICMPv6Type, flow.U8(136))), "icmpv6_type=135 or 136")
	case flow.NDSLL:
		return need(icmp6() && is(flow.ICMPv6Type, flow.U8(135)), "icmpv6_type=135")
	case flow.NDTLL:
		return need(icmp6() && is(flow.ICMPv6Type, flow.U8(136)), "icmpv6_type=136")
	}
	return nil
}
