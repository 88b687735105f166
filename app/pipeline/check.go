package pipeline

import (
	"errors"
	"fmt"
	"slices"

	"github.com/nva-project/nva/app/flow"
)

// Validate checks the profile itself: unique table names and numbers;
// known stages, each realized at most once; stages sharing a table only if
// none reaches another (the merge rule) and at most as many as MetaStage
// can select; every goto pointing at a higher-numbered table of the
// profile; classify realized in the lowest-numbered table; contract fields
// in the flow registry; no extension fields or moves without extensions;
// and capabilities the tables can carry out (in-switch answers need
// extensions and the stages that build replies, flow-based tunnels need
// extensions).
func (p Profile) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("profile %s: "+format, append([]any{p.Name}, args...)...))
	}
	names := map[string]bool{}
	numbers := map[uint8]string{}
	stageTable := map[string]string{}
	for _, t := range p.Tables {
		if names[t.Name] {
			bad("duplicate table %q", t.Name)
		}
		names[t.Name] = true
		if o, ok := numbers[t.Number]; ok {
			bad("tables %q and %q share number %d", o, t.Name, t.Number)
		}
		numbers[t.Number] = t.Name
		if t.Number > MaxTableID {
			bad("table %s: number %d above %d", t.Name, t.Number, MaxTableID)
		}
		if len(t.Stages) > 1<<MetaStage.Bits {
			bad("table %s realizes %d stages; metadata selects at most %d", t.Name, len(t.Stages), 1<<MetaStage.Bits)
		}
		for _, s := range t.Stages {
			if _, ok := StageByName(s); !ok {
				bad("table %s: unknown stage %q", t.Name, s)
			}
			if o, ok := stageTable[s]; ok {
				bad("stage %s realized twice (tables %s and %s)", s, o, t.Name)
			}
			stageTable[s] = t.Name
		}
		for _, list := range [][]string{t.Match, t.Set, t.Read} {
			for _, f := range list {
				spec, ok := flow.Spec(f)
				if !ok {
					bad("table %s: unknown field %q", t.Name, f)
				} else if spec.Nicira && !p.Extensions {
					bad("table %s: extension field %q in a profile without extensions", t.Name, f)
				}
			}
		}
		if len(t.Read) > 0 && !p.Extensions {
			bad("table %s: move needs extensions", t.Name)
		}
		if t.Shared() && !slices.Contains(t.Match, flow.Metadata) {
			bad("table %s realizes several stages but may not match metadata (their selector)", t.Name)
		}
	}
	realized := map[string]bool{}
	for s := range stageTable {
		realized[s] = true
	}
	// The merge rule: stages of one table never reach each other.
	for _, t := range p.Tables {
		for _, s := range t.Stages {
			st, ok := StageByName(s)
			if !ok {
				continue
			}
			for _, g := range targets(st, realized) {
				if stageTable[g] == t.Name {
					bad("table %s: stage %s goes to stage %s in the same table (only parallel stages may share a table)", t.Name, s, g)
				}
			}
		}
	}
	for _, t := range p.Tables {
		for _, g := range t.Goto {
			n, ok := p.Number(g)
			if !ok {
				bad("table %s: goto unknown table %q", t.Name, g)
			} else if n <= t.Number {
				bad("table %s (%d): goto %s (%d) is not forward", t.Name, t.Number, g, n)
			}
		}
	}
	if len(p.Tables) > 0 {
		if ct, ok := stageTable[Classify]; !ok {
			bad("stage classify is not realized: packets have no way in")
		} else {
			for _, t := range p.Tables {
				if n, _ := p.Number(ct); t.Number < n {
					bad("table %s (%d) is before classify's table %s (%d), where packets enter", t.Name, t.Number, ct, n)
				}
			}
		}
	}
	if p.ARPInSwitch && (!p.Extensions || !realized[Reply]) {
		bad("ARP answers in the switch need extensions (move) and the reply stage")
	}
	if p.NDInSwitch && (!p.Extensions || !realized[NDAdvert] || !realized[Reply]) {
		bad("ND answers in the switch need extensions and the nd_advert and reply stages")
	}
	if p.FlowTunnels && !p.Extensions {
		bad("flow-based tunnels need extensions (tun_dst, tun_src)")
	}
	for _, f := range p.Groups.Set {
		if spec, ok := flow.Spec(f); !ok {
			bad("groups: unknown field %q", f)
		} else if spec.Nicira && !p.Extensions {
			bad("groups: extension field %q in a profile without extensions", f)
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
	c, err := NewChecker(p)
	if err != nil {
		errs = append(errs, err)
	}
	groupIDs := map[uint32]bool{}
	for _, g := range groups {
		if groupIDs[g.ID] {
			errs = append(errs, fmt.Errorf("group %d: duplicate group ID", g.ID))
		}
		groupIDs[g.ID] = true
		errs = append(errs, c.Group(g)...)
	}
	seen := make(map[flow.Key]bool, len(flows))
	exists := func(id uint32) bool { return groupIDs[id] }
	for _, f := range flows {
		key := flow.KeyOf(f)
		if seen[key] {
			errs = append(errs, fmt.Errorf("flow %s: duplicate (table, priority, match)", f))
		}
		seen[key] = true
		errs = append(errs, c.Flow(f, exists)...)
	}
	return errors.Join(errs...)
}

// Checker checks flows and groups against one profile's contracts (Check
// without the duplicate detection, for callers that check flows in parts
// and know their keys). Build it once per profile.
type Checker struct {
	p      Profile
	tables map[string]*tableRules
}

type tableRules struct {
	t                Table
	match, set, read fieldSet
}

// fieldSet is a set of registry fields by position (flow.FieldOrder).
type fieldSet uint64

func fieldsOf(names []string) fieldSet {
	var s fieldSet
	for _, n := range names {
		if o := flow.FieldOrder(n); o < 64 {
			s |= 1 << o
		}
	}
	return s
}

func (s fieldSet) has(name string) bool { return s.hasOrder(flow.FieldOrder(name)) }

// hasOrder is has for the field at position o (flow.FieldOrder).
func (s fieldSet) hasOrder(o int) bool { return o < 64 && s&(1<<o) != 0 }

// NewChecker validates p and returns its checker; with an invalid profile
// it returns the validation error and a checker that still checks what it
// can.
func NewChecker(p Profile) (*Checker, error) {
	c := &Checker{p: p, tables: make(map[string]*tableRules, len(p.Tables))}
	for _, t := range p.Tables {
		c.tables[t.Name] = &tableRules{t: t, match: fieldsOf(t.Match), set: fieldsOf(t.Set), read: fieldsOf(t.Read)}
	}
	return c, p.Validate()
}

// Flow checks one flow (see Check); groupExists says which group IDs exist.
// Each error names the flow.
func (c *Checker) Flow(f flow.Flow, groupExists func(uint32) bool) []error {
	errs := checkFlow(c, f, groupExists)
	for i, e := range errs {
		errs[i] = fmt.Errorf("flow %s: %w", f, e)
	}
	return errs
}

// Group checks one group's type and buckets (see Check); each error names
// the group.
func (c *Checker) Group(g flow.GroupEntry) []error {
	errs := checkGroup(c.p, g)
	for i, e := range errs {
		errs[i] = fmt.Errorf("group %d: %w", g.ID, e)
	}
	return errs
}

func checkFlow(c *Checker, f flow.Flow, groupExists func(uint32) bool) []error {
	var errs []error
	p := c.p
	tr, ok := c.tables[f.Table]
	if !ok {
		return []error{fmt.Errorf("table %q is not in profile %s", f.Table, p.Name)}
	}
	t := tr.t
	// Fields known to have one exact value, for prerequisite checks; set
	// actions update it as OVS does when it validates actions.
	var known knownFields
	var fieldSeen fieldSet
	// The fields with a prerequisite (checked once all exact matches are
	// known), in match order; more than pre holds: all fields again.
	var pre [8]string
	np, overflow := 0, false
	for m := range f.Match.Raw() {
		if m.Order >= 64 || prereqFields.hasOrder(m.Order) {
			if np < len(pre) {
				pre[np] = m.Name
				np++
			} else {
				overflow = true
			}
		}
		spec := m.Spec
		if spec == nil {
			errs = append(errs, fmt.Errorf("unknown match field %q", m.Name))
			continue
		}
		if fieldSeen.hasOrder(m.Order) {
			errs = append(errs, fmt.Errorf("field %s matched twice", m.Name))
		}
		if o := m.Order; o < 64 {
			fieldSeen |= 1 << o
		}
		if !tr.match.hasOrder(m.Order) {
			errs = append(errs, fmt.Errorf("table %s may not match %s", t.Name, m.Name))
		}
		if spec.Nicira && !p.Extensions {
			errs = append(errs, fmt.Errorf("match on extension field %s in strict profile %s", m.Name, p.Name))
		}
		if len(m.Value) != spec.Bytes || (m.Mask != "" && len(m.Mask) != spec.Bytes) {
			errs = append(errs, fmt.Errorf("match %s: value/mask must be %d bytes", m.Name, spec.Bytes))
			continue
		}
		if m.Mask != "" {
			for i := range m.Value {
				if m.Value[i]&^m.Mask[i] != 0 {
					errs = append(errs, fmt.Errorf("match %s: value has bits outside its mask", m.Name))
					break
				}
			}
		} else {
			known.set(m.Name, m.Value)
		}
	}
	if overflow {
		np = 0
		for m := range f.Match.Raw() {
			if err := prereq(m.Name, &known); err != nil {
				errs = append(errs, fmt.Errorf("match %s: %w", m.Name, err))
			}
		}
	}
	for _, name := range pre[:np] {
		if err := prereq(name, &known); err != nil {
			errs = append(errs, fmt.Errorf("match %s: %w", name, err))
		}
	}
	errs = append(errs, checkActions(p, f.Actions, tr.set, tr.read, t.Output, t.Group, t.VLAN, &known)...)
	if !t.DecTTL && slices.ContainsFunc(f.Actions, func(a flow.Action) bool { _, ok := a.(flow.DecTTL); return ok }) {
		errs = append(errs, fmt.Errorf("dec_ttl not allowed in table %s", t.Name))
	}
	for _, a := range f.Actions {
		if ct, ok := a.(flow.CT); ok {
			switch {
			case !t.CT:
				errs = append(errs, fmt.Errorf("ct not allowed in table %s", t.Name))
			case ct.Table != "" && !slices.Contains(t.Goto, ct.Table):
				errs = append(errs, fmt.Errorf("ct table=%s: table %s may not go there", ct.Table, t.Name))
			}
		}
	}
	for _, a := range f.Actions {
		if g, ok := a.(flow.Group); ok && (groupExists == nil || !groupExists(g.ID)) {
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
		g, ok := c.tables[f.Goto]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("goto table %q is not in profile %s", f.Goto, p.Name))
		case g.t.Number <= t.Number:
			errs = append(errs, fmt.Errorf("goto %s (%d) from %s (%d) is not forward", f.Goto, g.t.Number, t.Name, t.Number))
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
		for _, e := range checkActions(p, b.Actions, fieldsOf(p.Groups.Set), 0, true, p.Groups.Chain, p.Groups.VLAN, &knownFields{}) {
			errs = append(errs, fmt.Errorf("bucket %d: %w", i, e))
		}
	}
	return errs
}

func checkActions(p Profile, acts []flow.Action, set, read fieldSet, output, group, vlan bool, known *knownFields) []error {
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
			known.set(flow.VlanVID, vidPresent)
		case flow.DecTTL:
			if !known.isIP() {
				errs = append(errs, fmt.Errorf("dec_ttl on a flow that does not match eth_type ipv4 or ipv6"))
			}
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
			if !set.has(a.Field) {
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
			known.setBytes(a.Field, a.Value)
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
			if !read.has(a.Src) {
				errs = append(errs, fmt.Errorf("may not move from %s here", a.Src))
			}
			if !set.has(a.Dst) {
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
			known.del(a.Dst)
		case flow.CT:
			if !p.Extensions {
				errs = append(errs, fmt.Errorf("ct is a Nicira extension, not allowed in strict profile %s", p.Name))
			}
			if !known.isIP() {
				errs = append(errs, fmt.Errorf("ct on a flow that does not match eth_type ipv4 or ipv6"))
			}
			if (a.NAT == flow.NATSrc || a.NAT == flow.NATDst) && !a.NATAddr.IsValid() {
				errs = append(errs, fmt.Errorf("ct nat(src/dst) without an address"))
			}
		default:
			errs = append(errs, fmt.Errorf("unknown action %T", a))
		}
	}
	return errs
}

// vidPresent is vlan_vid's value after a push_vlan: flow.VIDPresent,
// big-endian (TestVIDPresent).
const vidPresent = "\x10\x00"

// knownFields are the fields known to hold one exact value (a flow's exact
// matches, updated by its set actions), for prerequisite checks. It lives
// on the caller's stack: a flow has a handful of such fields.
type knownFields struct {
	n     int
	names [24]string
	vals  [24]knownValue
}

// knownValue is a field's big-endian value: a match's (s) or a set
// action's (b, not copied: the flow is not changed while it is checked).
type knownValue struct {
	s string
	b []byte
}

func (v knownValue) is(x []byte) bool {
	if v.b != nil {
		return string(v.b) == string(x)
	}
	return v.s == string(x)
}

// is reports whether field name is known to hold value v.
func (k *knownFields) is(name string, v []byte) bool {
	for i := 0; i < k.n; i++ {
		if k.names[i] == name {
			return k.vals[i].is(v)
		}
	}
	return false
}

// isIP reports whether the flow matches eth_type IPv4 or IPv6.
func (k *knownFields) isIP() bool {
	return k.is(flow.EthType, flow.U16(flow.EthTypeIPv4)) || k.is(flow.EthType, flow.U16(flow.EthTypeIPv6))
}

func (k *knownFields) set(name string, v string) { k.setValue(name, knownValue{s: v}) }

// setBytes is set for a set action's value (kept, not copied).
func (k *knownFields) setBytes(name string, v []byte) { k.setValue(name, knownValue{b: v}) }

func (k *knownFields) setValue(name string, v knownValue) {
	for i := 0; i < k.n; i++ {
		if k.names[i] == name {
			k.vals[i] = v
			return
		}
	}
	if k.n < len(k.names) { // more fields than any valid flow has: not tracked
		k.names[k.n], k.vals[k.n] = name, v
		k.n++
	}
}

func (k *knownFields) del(name string) {
	for i := 0; i < k.n; i++ {
		if k.names[i] == name {
			k.n--
			k.names[i], k.vals[i] = k.names[k.n], k.vals[k.n]
			return
		}
	}
}

// prereqFields are the registry fields prereq checks (the others have no
// prerequisite): matches skip it for the others by position.
var prereqFields = fieldsOf([]string{flow.ARPOp, flow.ARPSPA, flow.ARPTPA, flow.ARPSHA, flow.ARPTHA, flow.IPv4Src, flow.IPv4Dst,
	flow.IPv6Src, flow.IPv6Dst, flow.IPProto, flow.UDPSrc, flow.UDPDst, flow.ICMPv6Type, flow.ICMPv6Code, flow.NDTarget,
	flow.NDReserved, flow.NDOptionsType, flow.NDSLL, flow.NDTLL, flow.IPTTL})

// prereq checks OpenFlow's prerequisites of a field against the fields
// known to hold one exact value.
func prereq(field string, known *knownFields) error {
	switch field {
	case flow.ARPOp, flow.ARPSPA, flow.ARPTPA, flow.ARPSHA, flow.ARPTHA, flow.IPv4Src, flow.IPv4Dst, flow.IPv6Src, flow.IPv6Dst,
		flow.IPProto, flow.UDPSrc, flow.UDPDst, flow.ICMPv6Type, flow.ICMPv6Code, flow.NDTarget, flow.NDReserved, flow.NDOptionsType,
		flow.NDSLL, flow.NDTLL, flow.IPTTL:
	default:
		return nil // no prerequisite
	}
	is := func(f string, v []byte) bool { return known.is(f, v) }
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
	case flow.IPProto, flow.IPTTL:
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
