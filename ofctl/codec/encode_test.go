package codec

import (
	"bytes"
	"fmt"
	"math/rand"
	"net/netip"
	"testing"

	"antrea.io/libOpenflow/openflow13"

	"github.com/nva-project/nva/app/compiler"
	"github.com/nva-project/nva/app/compiler/scenario"
	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/pipeline"
)

// flowCommands and groupCommands are every command nva sends.
var (
	flowCommands  = []uint8{FlowAdd, FlowModify, FlowModifyStrict, FlowDelete, FlowDeleteStrict}
	groupCommands = []uint16{GroupAdd, GroupModify, GroupDelete}
)

// prefix is what the direct encoder appends after: a caller's buffer
// already holding other messages, which must stay as it was.
var prefix = []byte("earlier messages")

// oracleFlowMod is the reference encoding: EncodeFlowMod marshalled by
// libOpenflow, xid cleared.
func oracleFlowMod(c *Codec, f flow.Flow, tables func(string) (uint8, bool), cmd uint8) ([]byte, error) {
	fm, err := c.EncodeFlowMod(f, tables, cmd)
	if err != nil {
		return nil, err
	}
	b, err := fm.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("marshal: %w", err)
	}
	clear(b[4:8])
	return b, nil
}

func oracleGroupMod(c *Codec, g flow.GroupEntry, cmd uint16) ([]byte, error) {
	gm, err := c.EncodeGroupMod(g, cmd)
	if err != nil {
		return nil, err
	}
	b, err := gm.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("marshal: %w", err)
	}
	clear(b[4:8])
	return b, nil
}

// sameFlowMod fails t unless both encoders give the same bytes, or the
// same error (and the direct one leaves the buffer's length alone).
func sameFlowMod(t *testing.T, what string, c *Codec, f flow.Flow, tables func(string) (uint8, bool), cmd uint8) (ok bool) {
	t.Helper()
	want, werr := oracleFlowMod(c, f, tables, cmd)
	got, gerr := c.AppendFlowMod(append([]byte(nil), prefix...), f, tables, cmd)
	return same(t, what, want, werr, got, gerr)
}

func sameGroupMod(t *testing.T, what string, c *Codec, g flow.GroupEntry, cmd uint16) bool {
	t.Helper()
	want, werr := oracleGroupMod(c, g, cmd)
	got, gerr := c.AppendGroupMod(append([]byte(nil), prefix...), g, cmd)
	return same(t, what, want, werr, got, gerr)
}

func same(t *testing.T, what string, want []byte, werr error, got []byte, gerr error) bool {
	t.Helper()
	if !bytes.HasPrefix(got, prefix) {
		t.Errorf("%s: the caller's bytes were changed: %q", what, got)
		return false
	}
	got = got[len(prefix):]
	switch {
	case werr != nil || gerr != nil:
		if werr == nil || gerr == nil || werr.Error() != gerr.Error() {
			t.Errorf("%s: errors differ\n libOpenflow: %v\n direct:      %v", what, werr, gerr)
			return false
		}
		if len(got) != 0 {
			t.Errorf("%s: failed but appended %d bytes", what, len(got))
			return false
		}
	case !bytes.Equal(got, want):
		t.Errorf("%s: bytes differ\n libOpenflow: %x\n direct:      %x", what, want, got)
		return false
	}
	return true
}

// goldenScenarios are the compiler's golden scenarios (app/compiler's
// golden_test.go, bum_test.go, l3gateway_test.go, segment_test.go), with
// the down sets the BUM goldens use.
func goldenScenarios() map[string]struct {
	d    func() *scenario.Domain
	down map[string]bool
} {
	type sc = struct {
		d    func() *scenario.Domain
		down map[string]bool
	}
	return map[string]sc{
		"one_vn_one_nve":                      {scenario.OneVNOneNVE, nil},
		"two_vns_three_nves":                  {scenario.TwoVNsThreeNVEs, nil},
		"partial_vn":                          {scenario.PartialVN, nil},
		"ipv6_ports":                          {scenario.IPv6Ports, nil},
		"l3_routed_domain":                    {scenario.RoutedDomain, nil},
		"l3_two_tenants":                      {scenario.TwoTenants, nil},
		"l3_only_vn":                          {scenario.L3OnlyVN, nil},
		"split_nve":                           {scenario.SplitNVEs, nil},
		"split_qinq":                          {scenario.SplitQinQ, nil},
		"l3_policy":                           {scenario.PolicyDomain, nil},
		"multihome_failover":                  {scenario.MultihomeFailover, nil},
		"multihome_active_active":             {scenario.MultihomeActiveActive, nil},
		"bum_dual_homed":                      {scenario.DualHomed, nil},
		"bum_dual_homed_hv1_down":             {scenario.DualHomed, map[string]bool{"hv1": true}},
		"bum_replicators":                     {scenario.Replicators, nil},
		"bum_replicators_hv5_down":            {scenario.Replicators, map[string]bool{"hv5": true}},
		"bum_replicators_dual_homed_hv1_down": {scenario.ReplicatorsDualHomed, map[string]bool{"hv1": true}},
		"l3_gateway_snat":                     {scenario.GatewaySNAT, nil},
		"segment":                             {scenario.Segment, nil},
	}
}

// eachGoldenResult compiles every NVE of every golden scenario under prof
// and calls f with each result.
func eachGoldenResult(tb testing.TB, prof pipeline.Profile, f func(scenario, nve string, res compiler.Result)) {
	tb.Helper()
	for name, sc := range goldenScenarios() {
		d := sc.d()
		for _, nve := range d.NVENames() {
			in := d.Input(nve)
			in.Down = sc.down
			res, err := compiler.Compile(in, prof)
			if err != nil {
				tb.Fatalf("%s/%s/%s: %v", prof.Name, name, nve, err)
			}
			f(name, nve, res)
		}
	}
}

// TestAppendMatchesLibOpenflowOnGoldens: every flow and group the
// compiler emits for every golden scenario, under both profiles and in
// every command, encodes to the same bytes directly as through
// libOpenflow.
func TestAppendMatchesLibOpenflowOnGoldens(t *testing.T) {
	var flows, groups int
	ct := false
	for _, prof := range []pipeline.Profile{pipeline.OVS(), pipeline.Strict()} {
		c := New(Options{AllowNicira: prof.Extensions})
		eachGoldenResult(t, prof, func(name, nve string, res compiler.Result) {
			for i, f := range res.FlowList() {
				for _, a := range f.Actions {
					_, isCT := a.(flow.CT)
					ct = ct || isCT
				}
				for _, cmd := range flowCommands {
					if !sameFlowMod(t, fmt.Sprintf("%s/%s/%s flow %d cmd %d", prof.Name, name, nve, i, cmd), c, f, prof.Number, cmd) {
						t.FailNow()
					}
				}
				flows++
			}
			for _, g := range res.Groups {
				for _, cmd := range groupCommands {
					if !sameGroupMod(t, fmt.Sprintf("%s/%s/%s group %d cmd %d", prof.Name, name, nve, g.ID, cmd), c, g, cmd) {
						t.FailNow()
					}
				}
				groups++
			}
		})
	}
	if flows == 0 || groups == 0 || !ct {
		t.Fatalf("the scenarios compiled to %d flows, %d groups, ct actions %v", flows, groups, ct)
	}
	t.Logf("%d flows and %d groups encode identically", flows, groups)
}

// TestAppendMatchesLibOpenflowOnShapes: the codec's own shapes (every
// registry field, every action) and groups, both profiles.
func TestAppendMatchesLibOpenflowOnShapes(t *testing.T) {
	ctFlows := []flow.Flow{
		{Actions: []flow.Action{flow.CT{Zone: 7, Table: "l2"}}},
		{Actions: []flow.Action{flow.CT{Commit: true, Zone: 7, NAT: flow.NATSrc, NATAddr: netip.MustParseAddr("198.18.0.1")}}},
		{Actions: []flow.Action{flow.CT{Zone: 1, NAT: flow.NATDst, NATAddr: netip.MustParseAddr("2001:db8::1")}}},
		{Actions: []flow.Action{flow.CT{Zone: 1, NAT: flow.NATDst, NATAddr: netip.MustParseAddr("::ffff:198.18.0.9")}}},
		{Actions: []flow.Action{flow.CT{Zone: 2, Table: "#200", NAT: flow.NATReverse}}},
		{Actions: []flow.Action{flow.CT{Zone: 2, NAT: flow.NATKind(9)}}},
	}
	for _, c := range []*Codec{ovsCodec, New(Options{})} {
		for i, fc := range allFlowCases() {
			for _, cmd := range flowCommands {
				sameFlowMod(t, fmt.Sprintf("nicira=%v %s cmd %d", c.opts.AllowNicira, fc.name, cmd), c, withKey(fc.f, i), tables, cmd)
			}
		}
		for i, f := range ctFlows {
			sameFlowMod(t, fmt.Sprintf("nicira=%v ct %d", c.opts.AllowNicira, i), c, withKey(f, i), tables, FlowAdd)
		}
		for _, gc := range groupCases() {
			for _, cmd := range groupCommands {
				sameGroupMod(t, fmt.Sprintf("nicira=%v %s cmd %d", c.opts.AllowNicira, gc.name, cmd), c, gc.g, cmd)
			}
		}
	}
}

// TestAppendErrorsMatch: the encoding errors (unknown table, Nicira on the
// strict profile, goto not after the table, bad values, unknown commands
// ...) are the same, message for message.
func TestAppendErrorsMatch(t *testing.T) {
	strict := New(Options{})
	flows := map[string]flow.Flow{
		"unknown table":     {Table: "nope"},
		"unknown goto":      {Table: "classify", Goto: "nope"},
		"backwards goto":    {Table: "l2", Goto: "classify"},
		"goto same table":   {Table: "l2", Goto: "l2"},
		"unknown field":     {Table: "classify", Match: flow.M(flow.MatchField{Field: "sctp_dst", Value: flow.U16(1)})},
		"wildcarded field":  {Table: "classify", Match: flow.M(flow.MatchField{Field: "sctp_dst", Value: flow.U16(1), Mask: flow.U16(0)})},
		"short value":       {Table: "classify", Match: flow.M(flow.Exact(flow.InPort, flow.U32(1)[:2]))},
		"nil value":         {Table: "classify", Match: flow.M(flow.MatchField{Field: flow.InPort})},
		"short mask":        {Table: "classify", Match: flow.M(flow.Masked(flow.Reg0, flow.U32(1), flow.U16(1)))},
		"duplicate field":   {Table: "classify", Match: flow.M(flow.Exact(flow.InPort, flow.U32(1)), flow.Exact(flow.InPort, flow.U32(2)))},
		"move out of range": {Table: "classify", Actions: []flow.Action{flow.Move{Src: flow.Reg0, Dst: flow.Reg1, SrcOfs: 20, Bits: 16}}},
		"move zero bits":    {Table: "classify", Actions: []flow.Action{flow.Move{Src: flow.Reg0, Dst: flow.Reg1}}},
		"move unknown":      {Table: "classify", Actions: []flow.Action{&flow.Move{Src: "nope", Dst: flow.Reg1, Bits: 1}}},
		"move experimenter": {Table: "classify", Actions: []flow.Action{flow.Move{Src: flow.Reg0, Dst: flow.NDReserved, Bits: 1}}},
		"set short value":   {Table: "classify", Actions: []flow.Action{flow.SetField{Field: flow.EthDst, Value: []byte{1}}}},
		"set unknown":       {Table: "classify", Actions: []flow.Action{flow.Output{Port: 1}, flow.SetField{Field: "nope", Value: []byte{1}}}},
		"nil action":        {Table: "classify", Actions: []flow.Action{nil}},
		"ct pointer":        {Table: "classify", Actions: []flow.Action{&flow.CT{Zone: 1}}},
		"ct unknown table":  {Table: "classify", Actions: []flow.Action{flow.CT{Zone: 1, Table: "nope"}}},
		"ct nat no address": {Table: "classify", Actions: []flow.Action{flow.CT{Zone: 1, NAT: flow.NATSrc}}},
		"nicira match":      {Table: "classify", Match: flow.M(flow.Exact(flow.Reg0, flow.U32(1)))},
		"nicira set_field":  {Table: "classify", Actions: []flow.Action{flow.SetField{Field: flow.TunIPv4Dst, Value: ip("198.18.0.1")}}},
		"nicira move":       {Table: "classify", Actions: []flow.Action{flow.Move{Src: flow.EthSrc, Dst: flow.EthDst, Bits: 48}}},
		"nicira ct":         {Table: "classify", Actions: []flow.Action{flow.CT{Zone: 1}}},
	}
	for _, c := range []*Codec{ovsCodec, strict} {
		for name, f := range flows {
			for _, cmd := range append(flowCommands, 99) {
				sameFlowMod(t, fmt.Sprintf("nicira=%v %s cmd %d", c.opts.AllowNicira, name, cmd), c, f, tables, cmd)
			}
		}
		groups := map[string]flow.GroupEntry{
			"reserved ID":  {ID: 0xfffffffc},
			"unknown type": {ID: 1, Type: 9},
			"bad action":   {ID: 1, Buckets: []flow.Bucket{{Actions: []flow.Action{flow.Output{Port: 1}}}, {Actions: []flow.Action{flow.Output{Port: 1}, nil}}}},
			"ct in bucket": {ID: 1, Buckets: []flow.Bucket{{Actions: []flow.Action{flow.CT{Zone: 1}}}}},
			"nicira":       {ID: 1, Buckets: []flow.Bucket{{Actions: []flow.Action{flow.SetField{Field: flow.TunIPv4Dst, Value: ip("198.18.0.1")}}}}},
		}
		for name, g := range groups {
			for _, cmd := range append(groupCommands, 7) {
				sameGroupMod(t, fmt.Sprintf("nicira=%v %s cmd %d", c.opts.AllowNicira, name, cmd), c, g, cmd)
			}
		}
	}
	// A message longer than OpenFlow allows fails to encode (libOpenflow
	// marshals a wrapped length that the connection refuses to send).
	long := flow.Flow{Table: "classify"}
	for range 5000 {
		long.Actions = append(long.Actions, flow.Output{Port: 1})
	}
	if _, err := ovsCodec.AppendFlowMod(nil, long, tables, FlowAdd); err == nil {
		t.Error("a flow-mod of 80,000 bytes encoded")
	}
}

// TestAppendMatchesLibOpenflowRandom: random flows and groups — any
// registry field, valid or not, masked or not, in any order; any action,
// by value or by pointer; any table, command and profile — encode the
// same way or fail the same way. Deterministic (fixed seeds).
func TestAppendMatchesLibOpenflowRandom(t *testing.T) {
	n := 5000
	if testing.Short() {
		n = 500
	}
	var encoded, total int
	for seed := range int64(n) {
		ok, e, all := randomCase(t, seed)
		if !ok {
			t.Fatalf("seed %d", seed)
		}
		encoded, total = encoded+e, total+all
	}
	// Not only errors: a good share of the cases are valid messages.
	if encoded < total/5 {
		t.Fatalf("only %d of %d random messages encoded", encoded, total)
	}
	t.Logf("%d of %d random messages encoded, the rest failed alike", encoded, total)
}

// FuzzAppendFlowMod is the random test driven by the fuzzer's seeds.
func FuzzAppendFlowMod(f *testing.F) {
	for seed := range int64(16) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, seed int64) { randomCase(t, seed) })
}

// randomCase checks one random flow (every command) and group (every
// command) with both codecs: ok is false when they differ; encoded of all
// messages encoded without error.
func randomCase(t *testing.T, seed int64) (ok bool, encoded, all int) {
	t.Helper()
	r := rand.New(rand.NewSource(seed))
	fl, g := randomFlow(r), randomGroup(r)
	ok = true
	for _, c := range []*Codec{ovsCodec, New(Options{})} {
		for _, cmd := range append(flowCommands, 42) {
			ok = sameFlowMod(t, fmt.Sprintf("seed %d flow %+v cmd %d", seed, fl, cmd), c, fl, tables, cmd) && ok
			if _, err := c.AppendFlowMod(nil, fl, tables, cmd); err == nil {
				encoded++
			}
			all++
		}
		for _, cmd := range append(groupCommands, 5) {
			ok = sameGroupMod(t, fmt.Sprintf("seed %d group %+v cmd %d", seed, g, cmd), c, g, cmd) && ok
			if _, err := c.AppendGroupMod(nil, g, cmd); err == nil {
				encoded++
			}
			all++
		}
	}
	return ok, encoded, all
}

var randomTables = []string{"classify", "portsec", "arp", "l2", "out", "#7", "#255", "nope", "", "#300"}

func randomBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	r.Read(b)
	return b
}

// randomValue is usually a value of the field's width, sometimes not.
func randomValue(r *rand.Rand, width int) []byte {
	switch r.Intn(20) {
	case 0:
		return nil
	case 1:
		return []byte{}
	case 2:
		return randomBytes(r, r.Intn(20))
	}
	return randomBytes(r, width)
}

func randomField(r *rand.Rand, specs []flow.FieldSpec) (string, int) {
	if r.Intn(30) == 0 {
		return "no_such_field", 2
	}
	s := specs[r.Intn(len(specs))]
	return s.Name, s.Bytes
}

func randomFlow(r *rand.Rand) flow.Flow {
	specs := flow.Specs()
	f := flow.Flow{
		Table:    randomTables[r.Intn(len(randomTables))],
		Priority: uint16(r.Intn(0x10000)),
		Cookie:   r.Uint64(),
	}
	var fields []flow.MatchField
	for range r.Intn(8) {
		name, width := randomField(r, specs)
		mf := flow.MatchField{Field: name, Value: randomValue(r, width)}
		switch r.Intn(4) {
		case 0:
			mf.Mask = randomValue(r, width)
		case 1: // all zeros or all ones
			mf.Mask = bytes.Repeat([]byte{byte(0xff * r.Intn(2))}, width)
		}
		fields = append(fields, mf)
	}
	// (flow.M orders the fields; values outside masks, wildcards and
	// repeated fields stay for the encoders to canonicalize or refuse.)
	f.Match = flow.M(fields...)
	for range r.Intn(6) {
		f.Actions = append(f.Actions, randomAction(r, specs, true))
	}
	if r.Intn(3) == 0 {
		f.MetadataMask = r.Uint64()
		f.WriteMetadata = r.Uint64()
	}
	if r.Intn(2) == 0 {
		f.Goto = randomTables[r.Intn(len(randomTables))]
	}
	return f
}

func randomAction(r *rand.Rand, specs []flow.FieldSpec, ct bool) flow.Action {
	ports := []uint32{1, 7, flow.PortController, flow.PortInPort, flow.PortLocal, r.Uint32()}
	var a flow.Action
	switch r.Intn(9) {
	case 0:
		a = flow.Output{Port: ports[r.Intn(len(ports))], MaxLen: uint16(r.Intn(0x10000))}
	case 1:
		name, width := randomField(r, specs)
		a = flow.SetField{Field: name, Value: randomValue(r, width)}
	case 2:
		src, _ := randomField(r, specs)
		dst, _ := randomField(r, specs)
		a = flow.Move{Src: src, Dst: dst, SrcOfs: r.Intn(40) - 2, DstOfs: r.Intn(40) - 2, Bits: r.Intn(70) - 2}
	case 3:
		a = flow.PushVLAN{EtherType: []uint16{0, flow.EthTypeVLAN, 0x88a8}[r.Intn(3)]}
	case 4:
		a = flow.PopVLAN{}
	case 5:
		a = flow.DecTTL{}
	case 6:
		a = flow.Group{ID: r.Uint32()}
	case 7:
		if !ct || r.Intn(10) == 0 {
			return nil
		}
		addrs := []netip.Addr{{}, netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("2001:db8::7"), netip.MustParseAddr("::ffff:1.2.3.4")}
		return flow.CT{
			Commit: r.Intn(2) == 0, Zone: uint16(r.Intn(0x10000)),
			Table: []string{"", "l2", "#250", "nope"}[r.Intn(4)],
			NAT:   flow.NATKind(r.Intn(5)), NATAddr: addrs[r.Intn(len(addrs))],
		}
	case 8:
		return flow.Output{Port: 1}
	}
	if r.Intn(4) == 0 { // the same action by pointer
		switch x := a.(type) {
		case flow.Output:
			return &x
		case flow.SetField:
			return &x
		case flow.Move:
			return &x
		case flow.PushVLAN:
			return &x
		case flow.PopVLAN:
			return &x
		case flow.DecTTL:
			return &x
		case flow.Group:
			return &x
		}
	}
	return a
}

func randomGroup(r *rand.Rand) flow.GroupEntry {
	specs := flow.Specs()
	ids := []uint32{1, 0x1234, openflow13.OFPG_MAX, openflow13.OFPG_MAX + 1, r.Uint32()}
	g := flow.GroupEntry{ID: ids[r.Intn(len(ids))], Type: flow.GroupType(r.Intn(5))}
	for range r.Intn(5) {
		b := flow.Bucket{Weight: uint16(r.Intn(3)), WatchPort: []uint32{0, 3, flow.PortAny}[r.Intn(3)], WatchGroup: []uint32{0, 9, AnyGroup}[r.Intn(3)]}
		for range r.Intn(5) {
			b.Actions = append(b.Actions, randomAction(r, specs, r.Intn(20) == 0))
		}
		g.Buckets = append(g.Buckets, b)
	}
	return g
}
