// Package pipeline owns nva's OpenFlow pipeline declared as data.
//
// Stages (stage.go) are declared once: each has a name, a contract (which
// fields its flows may match, set or move, where they may jump, whether
// they may output, use groups, push/pop VLANs or write metadata), a miss
// policy and a default next stage. A Profile is a kind of switch: its
// capabilities (extensions, flow-based tunnels, in-switch ARP/ND answers,
// bundles) and its realization of the stages onto tables, which is data
// too (a list of TableSpec: a table name, its number and the stages it
// realizes). The realization rules, checked by Validate:
//
//   - every stage is realized at most once; a stage a profile cannot do is
//     left out, and "go to the next stage" skips it;
//   - several stages may share a table only if none of them can reach
//     another of them (Next or Goto): a table cannot go to itself, so
//     only parallel stages merge. Their flows are told apart by the
//     MetaStage metadata field: each stage of a shared table has a
//     selector (its position in the table's stage list), its flows match
//     it, and every flow going to it writes it;
//   - every goto goes to a higher table number (OpenFlow's rule), and
//     classify, where packets enter, is in the lowest-numbered table;
//   - a profile without extensions realizes each stage's contract without
//     extension fields and moves; ARP/ND answers in the switch need
//     extensions and the stages that build replies; flow-based tunnels
//     need extensions (tun_dst).
//
// Profiles map table names (and stage names) to numbers: this package is
// the only place in nva where table numbers exist. OVS is the hypervisor
// profile, Strict the standard OpenFlow 1.3 profile of hardware switches;
// WithTableIDs renumbers a profile's tables for a switch that pins them.
// Realizer maps the compiler's stage-level flows onto a profile's tables,
// and Check verifies compiled flows and groups against a profile.
package pipeline

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/nva-project/nva/app/flow"
)

// Table is one table of a profile: the stages it realizes and its
// contract, the union of theirs as the profile can realize them (Goto
// names tables).
type Table struct {
	Name   string
	Number uint8
	Doc    string
	// Stages lists the stages realized in this table; a stage's position
	// is its MetaStage selector when there are several.
	Stages []string
	Contract
}

// Shared reports whether the table realizes several stages.
func (t Table) Shared() bool { return len(t.Stages) > 1 }

// TableSpec is one table of a realization: the data a profile is defined
// by.
type TableSpec struct {
	Name   string
	Number uint8
	Stages []string
}

// GroupContract says what group buckets may do in a profile.
type GroupContract struct {
	Types []flow.GroupType
	Set   []string // fields buckets may set
	VLAN  bool     // buckets may push/pop VLANs
	Chain bool     // buckets may go to another group (multipath path groups from flood buckets)
}

// Profile is a kind of switch: its capabilities and its tables.
type Profile struct {
	Name string
	// Extensions allows Open vSwitch extensions: Nicira NXM fields
	// (registers, tun_src/tun_dst), experimenter fields (nd_reserved,
	// nd_options_type) and the Nicira move action. The strict OpenFlow
	// 1.3 profile sets it false; the southbound's codec encodes NXM only
	// when it is true.
	Extensions bool
	// FlowTunnels says the switch has flow-based tunnel ports (one port
	// per encapsulation, tun_dst set per flow, tun_src matched). Without
	// it, the switch has one tunnel port per remote NVE and encapsulation
	// and the tunnel ID is the standard tunnel_id field.
	FlowTunnels bool
	// ARPInSwitch says the switch can build an ARP reply itself (needs
	// move); otherwise known ARP requests go to the controller.
	ARPInSwitch bool
	// NDInSwitch says the switch can build an IPv6 neighbor advertisement
	// from a solicitation itself (needs nd_reserved and nd_options_type);
	// otherwise known solicitations go to the controller.
	NDInSwitch bool
	// Bundles says the switch accepts ONF bundles (atomic flow-mod
	// batches).
	Bundles bool
	// Tables are the realized tables, in packet order (by number).
	Tables []Table
	Groups GroupContract
}

// Table returns the profile's table with that name.
func (p Profile) Table(name string) (Table, bool) {
	for _, t := range p.Tables {
		if t.Name == name {
			return t, true
		}
	}
	return Table{}, false
}

// TableOf returns the table that realizes stage.
func (p Profile) TableOf(stage string) (Table, bool) {
	for _, t := range p.Tables {
		if slices.Contains(t.Stages, stage) {
			return t, true
		}
	}
	return Table{}, false
}

// Realizes reports whether the profile realizes stage.
func (p Profile) Realizes(stage string) bool {
	_, ok := p.TableOf(stage)
	return ok
}

// lookup finds a table by table name, else by a stage it realizes.
func (p Profile) lookup(name string) (int, bool) {
	for i, t := range p.Tables {
		if t.Name == name {
			return i, true
		}
	}
	for i, t := range p.Tables {
		if slices.Contains(t.Stages, name) {
			return i, true
		}
	}
	return 0, false
}

// Number returns the number of the named table, or of the table that
// realizes the named stage (the flow.TextOptions TableNumber resolver).
func (p Profile) Number(stageOrTable string) (uint8, bool) {
	i, ok := p.lookup(stageOrTable)
	if !ok {
		return 0, false
	}
	return p.Tables[i].Number, true
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

// Order returns the position in packet order of the named table, or of the
// table realizing the named stage (unknown names sort last); use it with
// flow.SortFlows.
func (p Profile) Order(name string) int {
	if i, ok := p.lookup(name); ok {
		return i
	}
	return len(p.Tables)
}

// Text renders flows in ovs-ofctl syntax with this profile's table
// numbers, as `ovs-ofctl -O OpenFlow13 add-flows` accepts them.
func (p Profile) Text(flows []flow.Flow, cookies bool) (string, error) {
	return flow.FormatFlows(flows, flow.TextOptions{TableNumber: p.Number, Cookie: cookies})
}

// realizeContract is a stage's contract as a profile can realize it:
// without extension fields and moves unless the profile has extensions.
func realizeContract(c Contract, extensions bool) Contract {
	keep := func(fields []string) []string {
		var out []string
		for _, f := range fields {
			if s, ok := flow.Spec(f); ok && s.Nicira && !extensions {
				continue
			}
			out = append(out, f)
		}
		return out
	}
	out := c
	out.Match, out.Set, out.Read, out.Goto = keep(c.Match), keep(c.Set), keep(c.Read), nil
	if !extensions {
		out.Read = nil
	}
	return out
}

func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, f := range b {
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// nextRealized follows stage's Next chain to the first stage in realized
// ("" if the chain ends first).
func nextRealized(stage string, realized map[string]bool) string {
	for s, ok := StageByName(stage); ok && s.Next != ""; s, ok = StageByName(s.Next) {
		if realized[s.Next] {
			return s.Next
		}
	}
	return ""
}

// targets lists the stages a stage's flows may go to in a profile that
// realizes the given stages: its realized next stage and its realized
// jumps.
func targets(st Stage, realized map[string]bool) []string {
	var out []string
	if n := nextRealized(st.Name, realized); n != "" {
		out = append(out, n)
	}
	for _, g := range st.Goto {
		if realized[g] && !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	return out
}

// Realize builds a profile from base's name, capabilities and group
// contract and a realization of the stages onto tables, and validates it.
// Table contracts are the union of their stages' contracts as the profile
// can realize them, plus what stage sharing needs (shared tables match
// metadata; tables going to a shared table write it).
func Realize(base Profile, specs []TableSpec) (Profile, error) {
	p := base
	p.Tables = nil
	realized := map[string]bool{}
	for _, sp := range specs {
		for _, s := range sp.Stages {
			realized[s] = true
		}
	}
	tableOf := map[string]string{} // stage -> table name
	for _, sp := range specs {
		for _, s := range sp.Stages {
			tableOf[s] = sp.Name
		}
	}
	for _, sp := range specs {
		t := Table{Name: sp.Name, Number: sp.Number, Stages: slices.Clone(sp.Stages)}
		var docs []string
		for _, name := range sp.Stages {
			st, ok := StageByName(name)
			if !ok {
				return Profile{}, fmt.Errorf("profile %s: table %s: unknown stage %q", p.Name, sp.Name, name)
			}
			c := realizeContract(st.Contract, p.Extensions)
			t.Match, t.Set, t.Read = union(t.Match, c.Match), union(t.Set, c.Set), union(t.Read, c.Read)
			t.Output, t.Group, t.VLAN, t.WriteMetadata = t.Output || c.Output, t.Group || c.Group, t.VLAN || c.VLAN, t.WriteMetadata || c.WriteMetadata
			t.DecTTL = t.DecTTL || c.DecTTL
			t.CT = t.CT || (c.CT && p.Extensions)
			if st.Miss == MissController {
				t.Output = true
			}
			for _, g := range targets(st, realized) {
				if tn := tableOf[g]; !slices.Contains(t.Goto, tn) {
					t.Goto = append(t.Goto, tn)
				}
			}
			docs = append(docs, st.Doc)
		}
		if len(sp.Stages) > 1 {
			t.Match = union(t.Match, []string{flow.Metadata})
			for i, name := range sp.Stages {
				docs[i] = name + ": " + docs[i]
			}
		}
		t.Doc = strings.Join(docs, "; ")
		p.Tables = append(p.Tables, t)
	}
	// Tables going to a shared table write its stage selector.
	shared := map[string]bool{}
	for _, t := range p.Tables {
		shared[t.Name] = t.Shared()
	}
	for i := range p.Tables {
		for _, g := range p.Tables[i].Goto {
			if shared[g] {
				p.Tables[i].WriteMetadata = true
			}
		}
	}
	p.Groups = GroupContract{Types: slices.Clone(base.Groups.Types), VLAN: base.Groups.VLAN, Chain: base.Groups.Chain,
		Set: realizeContract(Contract{Set: base.Groups.Set}, p.Extensions).Set}
	p.sortTables()
	if err := p.Validate(); err != nil {
		return Profile{}, err
	}
	return p, nil
}

// sortTables puts the tables in number order and each table's gotos in
// table order.
func (p *Profile) sortTables() {
	sort.SliceStable(p.Tables, func(i, j int) bool { return p.Tables[i].Number < p.Tables[j].Number })
	for i := range p.Tables {
		g := slices.Clone(p.Tables[i].Goto)
		sort.SliceStable(g, func(a, b int) bool { return p.Order(g[a]) < p.Order(g[b]) })
		p.Tables[i].Goto = g
	}
}

func mustRealize(base Profile, specs []TableSpec) Profile {
	p, err := Realize(base, specs)
	if err != nil {
		panic(err)
	}
	return p
}

// OVSTables is the OVS profile's realization: one table per stage,
// numbers spaced by 10 so later stages (L3, policy) fit between them.
var OVSTables = []TableSpec{
	{Name: Classify, Number: 0, Stages: []string{Classify}},
	{Name: PortSecurity, Number: 10, Stages: []string{PortSecurity}},
	{Name: Neighbor, Number: 20, Stages: []string{Neighbor}},
	{Name: NDAdvert, Number: 25, Stages: []string{NDAdvert}},
	// Inter-VN policy (27-28); l3_route moved from 26 to 29 to follow it.
	{Name: L3Conntrack, Number: 27, Stages: []string{L3Conntrack}},
	{Name: L3Policy, Number: 28, Stages: []string{L3Policy}},
	{Name: L3Route, Number: 29, Stages: []string{L3Route}},
	{Name: L2Forward, Number: 30, Stages: []string{L2Forward}},
	{Name: Reply, Number: 40, Stages: []string{Reply}},
	// L3 gateway (50-59).
	{Name: L3GatewayIn, Number: 50, Stages: []string{L3GatewayIn}},
	{Name: L3GatewayOut, Number: 51, Stages: []string{L3GatewayOut}},
	{Name: L3GatewayRoute, Number: 52, Stages: []string{L3GatewayRoute}},
	{Name: L3GatewayEgress, Number: 53, Stages: []string{L3GatewayEgress}},
}

// StrictTables is the strict profile's realization: the five stages a
// standard OpenFlow 1.3 switch can do, in tables 0-3. nd_advert and reply
// are left out: without move and the ND experimenter fields the switch
// cannot build answers, so the neighbor stage sends known requests to the
// controller. l3_route and l2_forward are parallel (both end the
// pipeline; neighbor goes to one or the other), so they share table 3,
// told apart by the MetaStage selector, and the profile keeps four tables.
var StrictTables = []TableSpec{
	{Name: Classify, Number: 0, Stages: []string{Classify}},
	{Name: PortSecurity, Number: 1, Stages: []string{PortSecurity}},
	{Name: Neighbor, Number: 2, Stages: []string{Neighbor}},
	{Name: L2Forward, Number: 3, Stages: []string{L2Forward, L3Route}},
}

// OVS is the profile of an Open vSwitch NVE (hypervisor br-int): every
// stage in its own table, Nicira extensions, flow-based tunnel ports, ARP
// and ND answered in the switch, bundles.
func OVS() Profile {
	return mustRealize(Profile{
		Name:        "ovs",
		Extensions:  true,
		FlowTunnels: true,
		ARPInSwitch: true,
		NDInSwitch:  true,
		Bundles:     true,
		Groups: GroupContract{
			Types: []flow.GroupType{flow.GroupAll, flow.GroupSelect, flow.GroupFastFailover},
			Set:   []string{flow.VlanVID, flow.TunID, flow.TunIPv4Dst},
			VLAN:  true,
			Chain: true,
		},
	}, OVSTables)
}

// StrictName is the name of the strict OpenFlow 1.3 profile.
const StrictName = "openflow13"

// Strict is the profile of a hardware switch that speaks standard
// OpenFlow 1.3 only: OXM fields and actions of the specification, no
// experimenter (Nicira/ONF) matches, actions or bundles; at most four
// tables, numbered 0..3 by default (WithTableIDs pins others); one tunnel
// port per remote NVE and encapsulation with the standard tunnel_id; ARP
// and ND answered by the controller (packet-in, packet-out).
func Strict() Profile {
	return mustRealize(Profile{
		Name: StrictName,
		Groups: GroupContract{
			Types: []flow.GroupType{flow.GroupAll, flow.GroupFastFailover},
			Set:   []string{flow.VlanVID, flow.TunID},
			VLAN:  true,
		},
	}, StrictTables)
}

// Profiles returns every profile nva knows, by name. They are realized
// once (Realize is a pure function of OVS's and Strict's fixed specs) and
// shared by every caller: read only (WithTableIDs returns a renumbered
// copy).
func Profiles() map[string]Profile {
	return maps.Clone(realizedProfiles())
}

// realizedProfiles is every profile nva knows, realized on first use.
var realizedProfiles = sync.OnceValue(func() map[string]Profile {
	o, s := OVS(), Strict()
	return map[string]Profile{o.Name: o, s.Name: s}
})

// ForName returns the named profile ("ovs" or "openflow13"): realized
// once and shared, read only (see Profiles).
func ForName(name string) (Profile, error) {
	p, ok := realizedProfiles()[name]
	if !ok {
		return Profile{}, fmt.Errorf("pipeline: unknown switch profile %q (known: ovs, %s)", name, StrictName)
	}
	return p, nil
}

// ForNVE returns the profile of an NVE: by its kind ("ovs" -> OVS,
// "openflow" -> Strict) unless override names a profile ("ovs" or
// "openflow13"), then renumbered by tableIDs (see WithTableIDs; nil or
// empty keeps the profile's numbers).
func ForNVE(kind, override string, tableIDs map[string]uint8) (Profile, error) {
	name := override
	if name == "" {
		switch kind {
		case "ovs":
			name = "ovs"
		case "openflow":
			name = StrictName
		default:
			return Profile{}, fmt.Errorf("pipeline: NVE kind %q has no switch profile (kinds: ovs, openflow)", kind)
		}
	}
	p, err := ForName(name)
	if err != nil {
		return Profile{}, err
	}
	if len(tableIDs) == 0 {
		return p, nil
	}
	return p.WithTableIDs(tableIDs)
}

// MaxTableID is the highest table number a flow table may have (0xff is
// OFPTT_ALL).
const MaxTableID = 0xfe

// WithTableIDs returns the profile with tables renumbered by table name
// (tables not named keep their numbers), for a switch that pins table
// numbers. It fails, naming the key or ID, on an unknown table name, an ID
// above MaxTableID, two tables with one ID, or an order that breaks the
// goto-forward rule or puts classify after another table.
func (p Profile) WithTableIDs(ids map[string]uint8) (Profile, error) {
	out := p
	out.Tables = slices.Clone(p.Tables)
	names := make([]string, 0, len(ids))
	for n := range ids {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		id := ids[n]
		i := slices.IndexFunc(out.Tables, func(t Table) bool { return t.Name == n })
		if i < 0 {
			known := make([]string, len(p.Tables))
			for j, t := range p.Tables {
				known[j] = t.Name
			}
			return Profile{}, fmt.Errorf("profile %s: table IDs: unknown table %q (tables: %s)", p.Name, n, strings.Join(known, ", "))
		}
		if id > MaxTableID {
			return Profile{}, fmt.Errorf("profile %s: table IDs: %s=%d: table IDs go up to %d", p.Name, n, id, MaxTableID)
		}
		out.Tables[i].Number = id
	}
	byID := map[uint8]string{}
	for _, t := range out.Tables {
		if o, dup := byID[t.Number]; dup {
			return Profile{}, fmt.Errorf("profile %s: table IDs: tables %s and %s both have ID %d", p.Name, o, t.Name, t.Number)
		}
		byID[t.Number] = t.Name
	}
	for _, t := range out.Tables {
		for _, g := range t.Goto {
			n, _ := out.Number(g)
			if n <= t.Number {
				return Profile{}, fmt.Errorf("profile %s: table IDs: %s=%d goes to %s=%d: OpenFlow only goes to higher table IDs", p.Name, t.Name, t.Number, g, n)
			}
		}
	}
	out.sortTables()
	if err := out.Validate(); err != nil {
		return Profile{}, fmt.Errorf("table IDs: %w", err)
	}
	return out, nil
}
