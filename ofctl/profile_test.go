package ofctl

import (
	"context"
	"encoding/binary"
	"github.com/nva-project/nva/app/compiler"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/app/pipeline"
	"github.com/nva-project/nva/ofctl/reconcile"
)

// strictSnap: VN blue (VXLAN) on tor1 (kind openflow, DPID 1: port p1 on
// Ethernet1), hv2 (p3) and hv3 (p4); VN green (GENEVE) on tor1 and hv2.
func strictSnap(rev uint64) *model.Snapshot {
	vn := func(name string, vni uint32, e model.Encap, r uint64) *model.VN {
		return &model.VN{Name: name, VNI: vni, Encap: e, Service: model.ServiceL2, BUM: model.BUM{Mode: model.BUMReplicate}, Unknown: model.UnknownFlood, Revision: r}
	}
	return &model.Snapshot{Revision: rev,
		VNs: map[string]*model.VN{"blue": vn("blue", 5001, model.EncapVXLAN, 2), "green": vn("green", 5002, model.EncapGENEVE, 3)},
		NVEs: map[string]*model.NVE{
			"tor1": {Name: "tor1", Kind: model.NVEOpenFlow, UnderlayIPs: []string{"198.18.0.1"}, DatapathID: model.FormatDatapathID(1), Revision: 4,
				TunnelPorts: map[string]string{"198.18.0.3": "Tunnel3"}},
			"hv2": {Name: "hv2", Kind: model.NVEOVS, UnderlayIPs: []string{"198.18.0.2"}, DatapathID: model.FormatDatapathID(2), Revision: 5},
			"hv3": {Name: "hv3", Kind: model.NVEOVS, UnderlayIPs: []string{"198.18.0.3"}, DatapathID: model.FormatDatapathID(3), Revision: 6},
		},
		Ports: model.TableOf(map[string]*model.Port{
			"p1": {Name: "p1", VN: "blue", NVE: "tor1", Interface: "Ethernet1", MAC: "02:00:00:00:01:01", IPs: []string{"198.51.100.11"}, Revision: 7},
			"p3": {Name: "p3", VN: "blue", NVE: "hv2", Interface: "eth0", MAC: "02:00:00:00:02:01", IPs: []string{"198.51.100.21"}, Revision: 8},
			"p4": {Name: "p4", VN: "blue", NVE: "hv3", Interface: "eth0", MAC: "02:00:00:00:03:01", IPs: []string{"198.51.100.31"}, Revision: 9},
			"g1": {Name: "g1", VN: "green", NVE: "tor1", Interface: "Ethernet2", MAC: "02:00:00:00:01:02", Revision: 10},
			"g2": {Name: "g2", VN: "green", NVE: "hv2", Interface: "eth1", MAC: "02:00:00:00:02:02", Revision: 11},
		}),
	}
}

// TestProfileSelection: kind selects the profile, the profile field
// forces one, table_ids pin numbers, and the profile decides the codec's
// extensions.
func TestProfileSelection(t *testing.T) {
	for _, tc := range []struct {
		nve        model.NVE
		want       string
		extensions bool
	}{
		{model.NVE{Kind: model.NVEOVS}, model.ProfileOVS, true},
		{model.NVE{Kind: model.NVEOpenFlow}, model.ProfileStrict, false},
		{model.NVE{Kind: model.NVEOVS, Profile: model.ProfileStrict}, model.ProfileStrict, false},
		{model.NVE{Kind: model.NVEOpenFlow, Profile: model.ProfileOVS}, model.ProfileOVS, true},
	} {
		p, err := profileFor(&tc.nve)
		if err != nil || p.Name != tc.want || p.Extensions != tc.extensions {
			t.Errorf("%+v: profile %s (extensions %v), %v; want %s (%v)", tc.nve, p.Name, p.Extensions, err, tc.want, tc.extensions)
		}
	}
	strict, _ := profileFor(&model.NVE{Kind: model.NVEOpenFlow})
	last := strict.Tables[len(strict.Tables)-1].Name
	pinned, err := profileFor(&model.NVE{Kind: model.NVEOpenFlow, TableIDs: map[string]uint8{last: 200}})
	if no, _ := pinned.Number(last); err != nil || no != 200 {
		t.Fatalf("pinned %s: table %d, %v", last, no, err)
	}
	if _, err := profileFor(&model.NVE{Kind: model.NVEOpenFlow, TableIDs: map[string]uint8{"no_such_table": 1}}); err == nil {
		t.Fatal("an unknown table in table_ids realized")
	}

	// A Nicira set-field encodes for the OVS profile only.
	ovs, _ := profileFor(&model.NVE{Kind: model.NVEOVS})
	s := New(Config{})
	f := flow.Flow{Table: pipeline.L2Forward, Priority: 1, Actions: []flow.Action{flow.SetField{Field: flow.TunIPv4Dst, Value: []byte{198, 18, 0, 1}}}}
	plan := reconcile.Diff([]flow.Flow{f}, nil, nil, nil)
	if _, err := s.encodePlan(plan, ovs); err != nil {
		t.Fatalf("ovs profile: %v", err)
	}
	if _, err := s.encodePlan(plan, strict); err == nil {
		t.Fatal("strict profile encoded a Nicira set-field")
	}
}

// TestProfileStatus: the status names the profile, whether the NVE forced
// it, its capabilities and its realized tables; a profile that cannot be
// realized is an error in the status.
func TestProfileStatus(t *testing.T) {
	ps := profileStatus(&model.NVE{Kind: model.NVEOVS, Profile: model.ProfileStrict})
	if ps.Name != model.ProfileStrict || !ps.Forced || ps.Extensions || ps.FlowTunnels || ps.Bundles || ps.Error != "" || len(ps.Tables) == 0 {
		t.Fatalf("strict status %+v", ps)
	}
	prof, _ := profileFor(&model.NVE{Kind: model.NVEOpenFlow})
	for i, tb := range ps.Tables {
		if tb.Name != prof.Tables[i].Name || tb.Number != prof.Tables[i].Number || len(tb.Stages) == 0 {
			t.Fatalf("table %d: %+v, profile has %+v", i, tb, prof.Tables[i])
		}
	}
	ps = profileStatus(&model.NVE{Kind: model.NVEOVS})
	if ps.Name != model.ProfileOVS || ps.Forced || !ps.Extensions || !ps.FlowTunnels || !ps.Bundles {
		t.Fatalf("ovs status %+v", ps)
	}
	ps = profileStatus(&model.NVE{Kind: model.NVEOpenFlow, TableIDs: map[string]uint8{"no_such_table": 1}})
	if !strings.Contains(ps.Error, "no_such_table") {
		t.Fatalf("bad table_ids: %+v", ps)
	}
}

// TestRemoteTunnelPorts: a strict NVE finds the tunnel port to each remote
// it shares a VN with by the naming convention or its tunnel_ports; a
// missing one is a warning and keeps the NVE waiting, from the oldest
// revision that needs it.
func TestRemoteTunnelPorts(t *testing.T) {
	snap := strictSnap(20)
	toHV2 := compiler.RemoteTunnelPortName(model.EncapVXLAN, netip.MustParseAddr("198.18.0.2"))
	ports := map[string]uint32{"Ethernet1": 1, "Ethernet2": 2, toHV2: 50}
	tps, warnings, since := remoteTunnels(snap, "tor1", ports)
	toHV2g := compiler.RemoteTunnelPortName(model.EncapGENEVE, netip.MustParseAddr("198.18.0.2"))
	want := []model.TunnelPortStatus{
		{Remote: "hv2", RemoteIP: "198.18.0.2", Encap: model.EncapVXLAN, Port: toHV2, Source: model.TunnelPortConvention, OFPort: 50},
		{Remote: "hv2", RemoteIP: "198.18.0.2", Encap: model.EncapGENEVE, Port: toHV2g, Source: model.TunnelPortConvention},
		{Remote: "hv3", RemoteIP: "198.18.0.3", Encap: model.EncapVXLAN, Port: "Tunnel3", Source: model.TunnelPortExplicit},
	}
	if !reflect.DeepEqual(tps, want) {
		t.Fatalf("tunnel ports\n got %+v\nwant %+v", tps, want)
	}
	// The compiler warns about ports by the convention (hv2's GENEVE
	// port); the explicit one it does not know is warned about here.
	if len(warnings) != 1 || !strings.Contains(warnings[0], "no tunnel port to NVE hv3: the switch has no port Tunnel3, which tunnel_ports names for 198.18.0.3 (vxlan, VN blue)") {
		t.Fatalf("warnings %q", warnings)
	}
	// blue (rev 2) is the oldest object needing the VXLAN ports; green
	// (rev 3) the GENEVE one.
	if want := map[string]uint64{"hv2/vxlan": 2, "hv2/geneve": 3, "hv3/vxlan": 2}; !reflect.DeepEqual(since, want) {
		t.Fatalf("since %v, want %v", since, want)
	}
	u := unready(snap, "tor1", portView{ports: ports, tunnels: tps, tunnelSince: since})
	if !reflect.DeepEqual(u.names, []string{"tunnel port " + toHV2g + " (geneve to NVE hv2)", "tunnel port Tunnel3 (vxlan to NVE hv3)"}) || u.since != 2 || len(u.tunnels) != 3 {
		t.Fatalf("unready %+v", u)
	}

	// One explicit port for a remote reached with two encapsulations: used
	// for both, with a warning.
	tor1 := *snap.NVEs["tor1"]
	tor1.TunnelPorts = map[string]string{"198.18.0.2": "Tunnel2"}
	snap2 := model.NewSnapshot(21, snap.VNs, map[string]*model.NVE{"tor1": &tor1, "hv2": snap.NVEs["hv2"], "hv3": snap.NVEs["hv3"]}, snap.Ports.Map())
	tps, warnings, _ = remoteTunnels(snap2, "tor1", map[string]uint32{"Tunnel2": 7})
	if len(tps) != 3 || tps[0].OFPort != 7 || tps[1].OFPort != 7 || tps[1].Port != "Tunnel2" || len(warnings) != 1 ||
		!strings.Contains(warnings[0], "tunnel_ports names one port (Tunnel2) for NVE hv2, but VNs shared with it use vxlan and geneve") {
		t.Fatalf("one explicit port for two encapsulations: %+v, %q", tps, warnings)
	}

	// The southbound's compile resolves them from the switch's port table
	// and the outside source.
	s := New(Config{PortNumbers: func(string) map[string]uint32 { return map[string]uint32{"Ethernet1": 1, "Tunnel3": 60} }})
	strict, _ := profileFor(snap.NVEs["tor1"])
	res, pv, err := s.compile(snap, "tor1", nil, strict, compiler.NewCache(), nil)
	if err != nil {
		t.Fatal(err)
	}
	// hv3's explicit port is there; hv2's (by the convention) is not, and
	// the compiler says so.
	if w := strings.Join(res.Warnings, "\n"); !strings.Contains(w, "no vxlan tunnel port ("+toHV2+") to NVE hv2") || strings.Contains(w, "hv3") {
		t.Fatalf("compile warnings %q", res.Warnings)
	}
	if pv.flowTunnels || len(pv.tunnels) != 3 || pv.tunnels[2].OFPort != 60 || pv.tunnels[0].OFPort != 0 {
		t.Fatalf("compile's port view %+v", pv)
	}
}

// TestSendFenced: without bundles a plan goes out in make-before-break
// phases, each acknowledged by a barrier before the next.
func TestSendFenced(t *testing.T) {
	br := newFakeBridge(t, 1, map[uint32]string{1: "v1", 2: "v2", 100: "nva-vxlan"})
	st := newFakeStore(overlaySnap(10, true), true)
	sb := startFake(t, st, Config{})
	br.connect(sb.cfg.ListenAddr)
	if _, err := waitRealized(t, sb, 10, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	sb.mu.Lock()
	w := sb.switches[1]
	sb.mu.Unlock()
	br.sequence()
	before := br.modCount()["group add"]

	strict, _ := profileFor(&model.NVE{Kind: model.NVEOpenFlow})
	// Standard-only flows and groups: the same plan under the strict profile.
	table := strict.Tables[0].Name
	mk := func(prio uint16, port uint32) flow.Flow {
		return flow.Flow{Table: table, Priority: prio, Match: flow.M(flow.Exact(flow.InPort, flow.U32(port))), Actions: []flow.Action{flow.Output{Port: port}}}
	}
	grp := func(id uint32) flow.GroupEntry {
		return flow.GroupEntry{ID: id, Type: flow.GroupAll, Buckets: []flow.Bucket{{Actions: []flow.Action{flow.Output{Port: 1}}}}}
	}
	plan := reconcile.Plan{
		GroupAdds: []flow.GroupEntry{grp(7)}, FlowAdds: []flow.Flow{mk(10, 1)},
		FlowDeletes: []flow.Flow{mk(11, 2)}, GroupDeletes: []flow.GroupEntry{grp(8)},
	}
	msgs, err := sb.encodePlan(plan, strict)
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.send(context.Background(), w, plan, msgs, strict); err != nil {
		t.Fatal(err)
	}
	want := []string{"group add", "barrier", "flow add", "barrier", "flow delete", "barrier", "group delete", "barrier"}
	if got := br.sequence(); !reflect.DeepEqual(got, want) {
		t.Fatalf("sent %v, want %v", got, want)
	}
	// Empty phases send no barrier.
	plan = reconcile.Plan{FlowAdds: []flow.Flow{mk(12, 1)}, FlowDeletes: []flow.Flow{mk(10, 1)}}
	msgs, _ = sb.encodePlan(plan, strict)
	if err := sb.send(context.Background(), w, plan, msgs, strict); err != nil {
		t.Fatal(err)
	}
	if got, want := br.sequence(), []string{"flow add", "barrier", "flow delete", "barrier"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("sent %v, want %v", got, want)
	}
	if got := br.modCount()["group add"] - before; got != 1 {
		t.Fatalf("%d group adds", got)
	}
}

// tableFeatureEntry encodes one ofp_table_features entry with a match
// property (OXM IDs, experimenter ones with their experimenter ID) and a
// next-tables property.
func tableFeatureEntry(id uint8, metaMatch, metaWrite uint64, match []flow.FieldSpec, next []uint8) []byte {
	e := make([]byte, 64)
	e[2] = id
	copy(e[8:40], "t")
	binary.BigEndian.PutUint64(e[40:48], metaMatch)
	binary.BigEndian.PutUint64(e[48:56], metaWrite)
	binary.BigEndian.PutUint32(e[60:64], 1000)
	prop := func(typ uint16, val []byte) {
		p := make([]byte, 4, 4+len(val)+8)
		binary.BigEndian.PutUint16(p[0:2], typ)
		binary.BigEndian.PutUint16(p[2:4], uint16(4+len(val)))
		p = append(p, val...)
		for len(p)%8 != 0 {
			p = append(p, 0)
		}
		e = append(e, p...)
	}
	var ids []byte
	for _, s := range match {
		ids = binary.BigEndian.AppendUint32(ids, uint32(s.Class)<<16|uint32(s.Field)<<9|uint32(s.Bytes))
		if s.Class == flow.ClassExperimenter {
			ids = binary.BigEndian.AppendUint32(ids, s.Experimenter)
		}
	}
	prop(8, ids)  // OFPTFPT_MATCH
	prop(2, next) // OFPTFPT_NEXT_TABLES
	binary.BigEndian.PutUint16(e[0:2], uint16(len(e)))
	return e
}

// fittingFeatures describes tables that fit prof exactly (every match
// field, the metadata bits, every next table), minus what drop removes:
// "table:<name>" leaves the table out, "<table>:<field>" a field of its
// match, "<table>:goto" its next tables, "<table>:metadata" its metadata
// bits.
func fittingFeatures(prof pipeline.Profile, drop ...string) [][]byte {
	dropped := map[string]bool{}
	for _, d := range drop {
		dropped[d] = true
	}
	var out [][]byte
	for _, tb := range prof.Tables {
		if dropped["table:"+tb.Name] {
			continue
		}
		var specs []flow.FieldSpec
		for _, f := range tb.Match {
			if s, ok := flow.Spec(f); ok && !dropped[tb.Name+":"+f] {
				specs = append(specs, *s)
			}
		}
		// A field from another class that the check must skip over.
		specs = append(specs, flow.FieldSpec{Class: flow.ClassExperimenter, Field: 3, Bytes: 4, Experimenter: 0x4f4e4600})
		var next []uint8
		if !dropped[tb.Name+":goto"] {
			for _, t2 := range prof.Tables {
				if t2.Number > tb.Number {
					next = append(next, t2.Number)
				}
			}
		}
		meta := ^uint64(0)
		if dropped[tb.Name+":metadata"] {
			meta = 0
		}
		out = append(out, tableFeatureEntry(tb.Number, meta, meta, specs, next))
	}
	return out
}

func features(t *testing.T, entries [][]byte) *tableFeatures {
	t.Helper()
	var body []byte
	for _, e := range entries {
		body = append(body, e...)
	}
	list, err := parseTableFeatures(body)
	if err != nil {
		t.Fatal(err)
	}
	return &tableFeatures{tables: list}
}

// TestCheckTables compares profiles with synthetic table features.
func TestCheckTables(t *testing.T) {
	prof := pipeline.OVS()
	if p := checkTables(prof, 254, features(t, fittingFeatures(prof))); p != nil {
		t.Fatalf("fitting tables: %v", p)
	}
	if p := checkTables(prof, 254, nil); p != nil {
		t.Fatalf("no features: %v", p)
	}
	first, second := prof.Tables[0], prof.Tables[1]
	var firstMatch string
	for _, f := range first.Match {
		if s, ok := flow.Spec(f); ok && !s.Nicira && f != flow.Metadata {
			firstMatch = f
			break
		}
	}
	var metaTable pipeline.Table
	for _, tb := range prof.Tables {
		if tb.WriteMetadata {
			metaTable = tb
		}
	}
	for _, tc := range []struct {
		name    string
		nTables uint8
		drop    []string
		want    []string // substrings, one problem each
	}{
		{"too few tables", uint8(len(prof.Tables) - 1), nil, []string{"needs"}},
		{"missing table", 254, []string{"table:" + second.Name}, []string{"table " + itoa(second.Number) + " (" + second.Name + "): the switch has no table"}},
		{"missing match field", 254, []string{first.Name + ":" + firstMatch}, []string{"(" + first.Name + "): the switch's table " + itoa(first.Number) + " cannot match " + firstMatch}},
		{"missing goto", 254, []string{first.Name + ":goto"}, []string{"(" + first.Name + ")", "goto table"}},
		{"no metadata", 254, []string{metaTable.Name + ":metadata"}, []string{"write metadata bits"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := checkTables(prof, tc.nTables, features(t, fittingFeatures(prof, tc.drop...)))
			if len(p) != 1 {
				t.Fatalf("problems %q, want one", p)
			}
			for _, w := range tc.want {
				if !strings.Contains(p[0], w) {
					t.Fatalf("problem %q lacks %q", p[0], w)
				}
			}
		})
	}
	if got := idRanges([]uint8{0, 1, 2, 3, 10, 20, 21}); got != "0-3, 10, 20-21" {
		t.Fatalf("idRanges %q", got)
	}
	if _, err := parseTableFeatures([]byte{0, 70, 0}); err == nil {
		t.Fatal("truncated features parsed")
	}
}

func itoa(n uint8) string { return strconv.Itoa(int(n)) }

// TestTableFeaturesOnConnect: a strict NVE whose switch lacks one of the
// profile's tables gets sync state error naming the table, and nothing is
// written; a switch that answers with no tables is not checked.
func TestTableFeaturesOnConnect(t *testing.T) {
	snap := strictSnap(20)
	strict, _ := profileFor(snap.NVEs["tor1"])
	last := strict.Tables[len(strict.Tables)-1]
	br := newFakeBridge(t, 1, map[uint32]string{1: "Ethernet1", 2: "Ethernet2"})
	br.tableFeatures = fittingFeatures(strict, "table:"+last.Name)
	sb := startFake(t, newFakeStore(snap, true), Config{})
	br.connect(sb.cfg.ListenAddr)
	waitCond(t, 5*time.Second, "tor1 in error", func() bool { return sb.status("tor1").Sync == SyncError })
	st := sb.status("tor1")
	wantErr := "table " + itoa(last.Number) + " (" + last.Name + "): the switch has no table"
	if !strings.Contains(st.LastError, wantErr) || !strings.HasPrefix(st.Profile.TableCheck, "mismatch: ") {
		t.Fatalf("status error %q, table check %q; want %q", st.LastError, st.Profile.TableCheck, wantErr)
	}
	time.Sleep(200 * time.Millisecond) // retries
	if seq := br.sequence(); len(seq) != 0 || br.flowCount() != 0 {
		t.Fatalf("written to a switch whose tables do not fit: %v", seq)
	}
	if st.Profile.Name != model.ProfileStrict || len(st.TunnelPorts) != 0 {
		t.Fatalf("profile %+v, tunnel ports %+v (not compiled: none yet)", st.Profile, st.TunnelPorts)
	}

	// An OVS-profile NVE on a switch that answers with no tables: skipped.
	br2 := newFakeBridge(t, 1, map[uint32]string{1: "v1", 2: "v2", 100: "nva-vxlan"})
	sb2 := startFake(t, newFakeStore(overlaySnap(10, true), true), Config{})
	br2.connect(sb2.cfg.ListenAddr)
	if _, err := waitRealized(t, sb2, 10, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if tc := sb2.status("hv1").Profile.TableCheck; !strings.HasPrefix(tc, "skipped: ") {
		t.Fatalf("table check %q", tc)
	}
}

// TestTableCheckMemo: a worker's check answers again without checking
// while the profile, table count and features are the ones it checked,
// and checks again when any of them changes.
func TestTableCheckMemo(t *testing.T) {
	prof := pipeline.OVS()
	fits := features(t, fittingFeatures(prof))
	var c tableCheck
	few := c.problems(prof, 2, fits)
	if len(few) == 0 {
		t.Fatal("2 tables: no problem")
	}
	if again := c.problems(prof, 2, fits); &again[0] != &few[0] {
		t.Error("the same inputs were checked again")
	}
	if p := c.problems(prof, 254, fits); p != nil {
		t.Errorf("254 tables after 2: %q", p)
	}
	if p := c.problems(prof, 254, features(t, fittingFeatures(prof, "table:"+prof.Tables[1].Name))); len(p) == 0 {
		t.Error("new features lacking a table: not checked again")
	}
	strict := pipeline.Strict()
	c.problems(strict, 254, fits)
	if c.profile != strict.Name || c.tables != &strict.Tables[0] {
		t.Errorf("another profile: the memo is still for %s", c.profile)
	}
}
