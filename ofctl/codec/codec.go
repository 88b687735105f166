package codec

import (
	"fmt"
	"strconv"
	"strings"

	"antrea.io/libOpenflow/openflow13"

	"github.com/nva-project/nva/app/flow"
)

// Options selects what the codec may emit.
type Options struct {
	// AllowNicira permits Nicira extension fields (NXM class) and actions
	// (reg_move). Open vSwitch profiles set it; strict OF1.3 profiles don't.
	AllowNicira bool
}

// Codec encodes IR to OpenFlow 1.3 messages under a set of Options.
// Decoding accepts everything the IR can represent, whatever the options.
type Codec struct{ opts Options }

// New returns a codec with the given options.
func New(opts Options) *Codec { return &Codec{opts: opts} }

// Options returns the codec's options.
func (c *Codec) Options() Options { return c.opts }

// Flow-mod commands (OFPFC_*).
const (
	FlowAdd          = openflow13.FC_ADD
	FlowModify       = openflow13.FC_MODIFY
	FlowModifyStrict = openflow13.FC_MODIFY_STRICT
	FlowDelete       = openflow13.FC_DELETE
	FlowDeleteStrict = openflow13.FC_DELETE_STRICT
)

// Group-mod commands (OFPGC_*).
const (
	GroupAdd    = openflow13.OFPGC_ADD
	GroupModify = openflow13.OFPGC_MODIFY
	GroupDelete = openflow13.OFPGC_DELETE
)

// AnyGroup is OFPG_ANY, the "unused" value of a bucket's watch group.
const AnyGroup uint32 = openflow13.OFPG_ANY

// UnnamedTable is the IR table name of a table number the pipeline does
// not name (e.g. a flow found on the switch in a table nva doesn't use). It
// encodes back to the same number.
func UnnamedTable(n uint8) string { return "#" + strconv.Itoa(int(n)) }

func tableNumber(name string, tables func(string) (uint8, bool)) (uint8, error) {
	if tables != nil {
		if n, ok := tables(name); ok {
			return n, nil
		}
	}
	if rest, ok := strings.CutPrefix(name, "#"); ok {
		if n, err := strconv.ParseUint(rest, 10, 8); err == nil {
			return uint8(n), nil
		}
	}
	return 0, fmt.Errorf("table %q is not in the pipeline", name)
}

func tableName(n uint8, names func(uint8) string) string {
	if names != nil {
		if s := names(n); s != "" {
			return s
		}
	}
	return UnnamedTable(n)
}

// EncodeFlowMod builds a FLOW_MOD for f in the given command.
//
// FlowAdd and the modify commands carry f's instructions; FlowAdd sets the
// cookie (OpenFlow 1.3 modify commands cannot change it, so a cookie change
// is an add that replaces the entry). FlowDeleteStrict carries no
// instructions and matches the cookie exactly (cookie mask all ones), so it
// can only remove the very entry nva read, never a foreign one that
// happens to share table, priority and match.
func (c *Codec) EncodeFlowMod(f flow.Flow, tables func(string) (uint8, bool), cmd uint8) (*openflow13.FlowMod, error) {
	fm := openflow13.NewFlowMod()
	fm.Command = cmd
	fm.Priority = f.Priority
	t, err := tableNumber(f.Table, tables)
	if err != nil {
		return nil, fmt.Errorf("flow %s: %w", describe(f), err)
	}
	fm.TableId = t
	m, err := c.encodeMatch(canonicalMatch(f.Match))
	if err != nil {
		return nil, fmt.Errorf("flow %s: %w", describe(f), err)
	}
	fm.Match = m
	switch cmd {
	case FlowAdd:
		fm.Cookie = f.Cookie
	case FlowModify, FlowModifyStrict:
		// Cookie mask 0: modify regardless of the installed cookie.
	case FlowDelete, FlowDeleteStrict:
		fm.Cookie = f.Cookie
		fm.CookieMask = ^uint64(0)
		return fm, nil
	default:
		return nil, fmt.Errorf("flow %s: unknown flow-mod command %d", describe(f), cmd)
	}
	if len(f.Actions) > 0 {
		acts, err := c.encodeActionsTables(f.Actions, tables) // ct.go: ct's table
		if err != nil {
			return nil, fmt.Errorf("flow %s: %w", describe(f), err)
		}
		ins := openflow13.NewInstrApplyActions()
		for _, a := range acts {
			if err := ins.AddAction(a, false); err != nil {
				return nil, err
			}
		}
		fm.AddInstruction(ins)
	}
	if f.MetadataMask != 0 {
		fm.AddInstruction(openflow13.NewInstrWriteMetadata(f.WriteMetadata&f.MetadataMask, f.MetadataMask))
	}
	if f.Goto != "" {
		g, err := tableNumber(f.Goto, tables)
		if err != nil {
			return nil, fmt.Errorf("flow %s: goto: %w", describe(f), err)
		}
		if g <= t {
			return nil, fmt.Errorf("flow %s: goto table %d is not after table %d", describe(f), g, t)
		}
		fm.AddInstruction(openflow13.NewInstrGotoTable(g))
	}
	return fm, nil
}

// EncodeGroupMod builds a GROUP_MOD for g in the given command. GroupDelete
// carries no buckets.
func (c *Codec) EncodeGroupMod(g flow.GroupEntry, cmd uint16) (*openflow13.GroupMod, error) {
	gm := openflow13.NewGroupMod()
	gm.Command = cmd
	gm.GroupId = g.ID
	gm.Type = uint8(g.Type)
	if g.ID > openflow13.OFPG_MAX {
		return nil, fmt.Errorf("group %d: ID above OFPG_MAX", g.ID)
	}
	switch cmd {
	case GroupDelete:
		return gm, nil
	case GroupAdd, GroupModify:
	default:
		return nil, fmt.Errorf("group %d: unknown group-mod command %d", g.ID, cmd)
	}
	if g.Type > flow.GroupFastFailover {
		return nil, fmt.Errorf("group %d: unknown group type %d", g.ID, g.Type)
	}
	cg := CanonicalGroup(g)
	for i, b := range cg.Buckets {
		ob := openflow13.NewBucket()
		ob.Weight = b.Weight
		ob.WatchPort = b.WatchPort
		ob.WatchGroup = b.WatchGroup
		acts, err := c.encodeActions(b.Actions)
		if err != nil {
			return nil, fmt.Errorf("group %d bucket %d: %w", g.ID, i, err)
		}
		for _, a := range acts {
			ob.AddAction(a)
		}
		gm.AddBucket(*ob)
	}
	return gm, nil
}

// PartialError reports an installed entry whose match decoded but whose
// instructions or actions nva's IR cannot represent. The entry differs from
// anything nva would install.
type PartialError struct {
	Flow string
	Err  error
}

func (e *PartialError) Error() string { return e.Flow + ": " + e.Err.Error() }

func (e *PartialError) Unwrap() error { return e.Err }

// Canonical returns the canonical form of f (see the package doc).
//
// A match or action list that is canonical already is returned as is (not
// copied: neither is ever modified), so canonicalizing the compiler's flows
// or decoded ones, which are, allocates nothing.
func Canonical(f flow.Flow) flow.Flow {
	if !isCanonicalMatch(f.Match) {
		f.Match = canonicalMatch(f.Match)
	}
	if !isCanonicalActions(f.Actions) {
		f.Actions = canonicalActions(f.Actions)
	}
	if f.MetadataMask == 0 {
		f.WriteMetadata = 0
	} else {
		f.WriteMetadata &= f.MetadataMask
	}
	return f
}

// CanonicalGroup returns the canonical form of g: watch port and group
// only on fast-failover and select buckets (OFPP_ANY / OFPG_ANY
// elsewhere; Open vSwitch skips a select bucket whose watched port is not
// live), weight only on select buckets, canonical actions.
func CanonicalGroup(g flow.GroupEntry) flow.GroupEntry {
	out := flow.GroupEntry{ID: g.ID, Type: g.Type}
	for _, b := range g.Buckets {
		nb := flow.Bucket{Weight: b.Weight, WatchPort: b.WatchPort, WatchGroup: b.WatchGroup, Actions: b.Actions}
		if !isCanonicalActions(nb.Actions) {
			nb.Actions = canonicalActions(nb.Actions)
		}
		if g.Type != flow.GroupSelect {
			nb.Weight = 0
		}
		if g.Type != flow.GroupFastFailover && g.Type != flow.GroupSelect {
			nb.WatchPort = flow.PortAny
			nb.WatchGroup = AnyGroup
		}
		if g.Type == flow.GroupSelect { // no watch: 0 means none
			if nb.WatchPort == 0 {
				nb.WatchPort = flow.PortAny
			}
			if nb.WatchGroup == 0 {
				nb.WatchGroup = AnyGroup
			}
		}
		out.Buckets = append(out.Buckets, nb)
	}
	return out
}

func describe(f flow.Flow) string {
	return fmt.Sprintf("table=%s,priority=%d,%d match fields", f.Table, f.Priority, f.Match.Len())
}
