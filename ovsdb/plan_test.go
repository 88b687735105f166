package ovsdb

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	wire "github.com/ovn-kubernetes/libovsdb/ovsdb"

	"github.com/nva-project/nva/ovsdb/vswitch"
)

// Unit tests of validation and planning; they need no Open vSwitch.

func goodDesired() Desired {
	return Desired{
		NVE:          "hv1",
		Endpoint:     "unix:/run/ovs/db.sock",
		Bridge:       "br-int",
		DatapathType: DatapathNetdev,
		DatapathID:   "00000000000000a1",
		Controllers:  []string{"tcp:198.18.255.1:6653"},
		Tunnels:      []Tunnel{{Name: "nva-vxlan", Type: TunnelVXLAN}},
		Interfaces:   []string{"vap0"},
	}
}

func TestValidate(t *testing.T) {
	if err := goodDesired().Validate(); err != nil {
		t.Fatalf("valid desired rejected: %v", err)
	}
	perRemote := goodDesired()
	perRemote.Tunnels = []Tunnel{{Name: "nvxc6120002", Type: TunnelVXLAN, RemoteIP: "198.18.0.2"}, {Name: "nvxc6120003", Type: TunnelVXLAN, RemoteIP: "198.18.0.3"},
		{Name: "ngnc6120002", Type: TunnelGENEVE, RemoteIP: "198.18.0.2"}}
	if err := perRemote.Validate(); err != nil {
		t.Fatalf("per-remote tunnels rejected: %v", err)
	}
	for _, c := range []struct {
		name  string
		edit  func(*Desired)
		field string
	}{
		{"no nve", func(d *Desired) { d.NVE = "" }, "nve:"},
		{"bad scheme", func(d *Desired) { d.Endpoint = "http://x" }, "endpoint:"},
		{"tcp without port", func(d *Desired) { d.Endpoint = "tcp:192.0.2.1" }, "endpoint:"},
		{"ssl without tls", func(d *Desired) { d.Endpoint = "ssl:192.0.2.1:6640" }, "tls:"},
		{"long bridge", func(d *Desired) { d.Bridge = "br-0123456789abcdef" }, "bridge:"},
		{"datapath type", func(d *Desired) { d.DatapathType = "dpdk" }, "datapath_type:"},
		{"short dpid", func(d *Desired) { d.DatapathID = "a1" }, "datapath_id:"},
		{"controller", func(d *Desired) { d.Controllers = []string{"198.18.255.1:6653"} }, "controllers[0]:"},
		{"dup controller", func(d *Desired) { d.Controllers = append(d.Controllers, d.Controllers[0]) }, "controllers[1]:"},
		{"tunnel type", func(d *Desired) { d.Tunnels[0].Type = "stt" }, "tunnels[0].type:"},
		{"two vxlan", func(d *Desired) { d.Tunnels = append(d.Tunnels, Tunnel{Name: "t2", Type: TunnelVXLAN}) }, "tunnels[1].type:"},
		{"local ip", func(d *Desired) { d.Tunnels[0].LocalIP = "198.18.0" }, "tunnels[0].local_ip:"},
		{"remote ip", func(d *Desired) { d.Tunnels[0].RemoteIP = "224.0.0.1" }, "tunnels[0].remote_ip:"},
		{"two ports to one remote", func(d *Desired) {
			d.Tunnels = []Tunnel{{Name: "t1", Type: TunnelVXLAN, RemoteIP: "198.18.0.2"}, {Name: "t2", Type: TunnelVXLAN, RemoteIP: "198.18.0.2"}}
		}, "tunnels[1].remote_ip:"},
		{"reserved option", func(d *Desired) { d.Tunnels[0].Options = map[string]string{"key": "5"} }, "tunnels[0].options:"},
		{"iface is tunnel", func(d *Desired) { d.Interfaces = []string{"nva-vxlan"} }, "interfaces[0]:"},
		{"iface is bridge", func(d *Desired) { d.Interfaces = []string{"br-int"} }, "interfaces[0]:"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := goodDesired()
			d.Tunnels = append([]Tunnel(nil), d.Tunnels...)
			c.edit(&d)
			err := d.Validate()
			if err == nil || !strings.Contains(err.Error(), c.field) {
				t.Fatalf("Validate() = %v, want an error naming %q", err, c.field)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// converged builds the snapshot of a bridge exactly as d wants it.
func converged(d Desired) *snapshot {
	s := newSnapshot()
	s.root = &rootRow{UUID: "root"}
	b := &bridgeRow{
		UUID: "br", Name: d.Bridge, DatapathType: d.DatapathType,
		FailMode: ptr(vswitch.BridgeFailModeSecure), Protocols: []string{vswitch.BridgeProtocolsOpenflow13},
		OtherConfig: map[string]string{datapathIDConfigKey: d.DatapathID},
		ExternalIDs: map[string]string{OwnedKey: "true"},
	}
	s.bridges[b.UUID] = b
	s.root.Bridges = []string{b.UUID}
	addPort := func(name, typ string, opts map[string]string) {
		iu, pu := "if-"+name, "port-"+name
		s.ifaces[iu] = &ifaceRow{UUID: iu, Name: name, Type: typ, Options: opts, Ofport: ptr(len(s.ifaces) + 1),
			ExternalIDs: map[string]string{OwnedKey: "true"}}
		s.ports[pu] = &portRow{UUID: pu, Name: name, Interfaces: []string{iu}, ExternalIDs: map[string]string{OwnedKey: "true"}}
		b.Ports = append(b.Ports, pu)
	}
	addPort(d.Bridge, "internal", nil)
	for _, t := range d.Tunnels {
		addPort(t.Name, t.Type, t.tunnelOptions())
	}
	for _, n := range d.Interfaces {
		addPort(n, "", nil)
	}
	for i, c := range d.Controllers {
		cu := fmt.Sprintf("ctl%d", i)
		s.controllers[cu] = &ctlRow{UUID: cu, Target: c, ConnectionMode: ptr(vswitch.ControllerConnectionModeOutOfBand),
			InactivityProbe: ptr(ControllerInactivityProbeMS), MaxBackoff: ptr(ControllerMaxBackoffMS),
			ExternalIDs: map[string]string{OwnedKey: "true"}}
		b.Controller = append(b.Controller, cu)
	}
	return s
}

// opSummary renders operations compactly: "op table [columns]".
func opSummary(ops []wire.Operation) []string {
	var out []string
	for _, o := range ops {
		var cols []string
		for c := range o.Row {
			cols = append(cols, c)
		}
		for _, m := range o.Mutations {
			cols = append(cols, string(m.Mutator)+m.Column)
		}
		out = append(out, fmt.Sprintf("%s %s %d", o.Op, o.Table, len(cols)))
	}
	return out
}

func TestPlanCreatesEverythingOnEmptyDatabase(t *testing.T) {
	d := goodDesired()
	s := newSnapshot()
	s.root = &rootRow{UUID: "root"}
	p := planEnsure(s, d)
	counts := map[string]int{}
	var bridge wire.Row
	for _, o := range p.ops {
		counts[o.Op+" "+o.Table]++
		if o.Op == wire.OperationInsert && o.Table == vswitch.BridgeTable {
			bridge = o.Row
		}
	}
	want := map[string]int{"insert Interface": 3, "insert Port": 3, "insert Controller": 1, "insert Bridge": 1, "mutate Open_vSwitch": 1, "wait Open_vSwitch": 1}
	for k, v := range want {
		if counts[k] != v {
			t.Errorf("%s: %d operations, want %d (all: %v)", k, counts[k], v, counts)
		}
	}
	js, err := json.Marshal(bridge)
	if err != nil {
		t.Fatal(err)
	}
	for _, frag := range []string{`"fail_mode":"secure"`, `"protocols":"OpenFlow13"`, `"datapath_type":"netdev"`,
		`["datapath-id","00000000000000a1"]`, `["nva-owned","true"]`} {
		if !strings.Contains(string(js), frag) {
			t.Errorf("bridge row %s lacks %s", js, frag)
		}
	}
	if !p.empty() && len(p.problems) != 0 {
		t.Errorf("problems: %v", p.problems)
	}
}

func TestPlanIsEmptyWhenConverged(t *testing.T) {
	d := goodDesired()
	d.Tunnels = append(d.Tunnels, Tunnel{Name: "nva-gnv", Type: TunnelGENEVE, LocalIP: "198.18.0.1", Options: map[string]string{"csum": "true"}})
	s := converged(d)
	if !s.consistent() {
		t.Fatal("hand-built snapshot is inconsistent")
	}
	if p := planEnsure(s, d); !p.empty() || len(p.problems) > 0 {
		t.Fatalf("converged state planned %v, problems %v", opSummary(p.ops), p.problems)
	}
	ofports, links, _, found := statusOf(s, d.Bridge)
	if !found || len(ofports) != 4 || ofports["nva-gnv"] == 0 || links["vap0"] {
		t.Errorf("statusOf = %v %v %v", ofports, links, found)
	}
}

// TestIfaceStatesAreStatusOf: the status a worker keeps (one slice)
// shows the same ofports, links and errors as the maps of statusOf.
func TestIfaceStatesAreStatusOf(t *testing.T) {
	d := goodDesired()
	s := converged(d)
	for _, i := range s.ifaces {
		switch i.Name {
		case "vap0":
			i.LinkState, i.Error = ptr("up"), ptr("could not open network device vap0")
		case d.Bridge:
			i.Ofport, i.Error = nil, ptr("")
		}
	}
	ifaces, found := ifaceStates(s, d.Bridge)
	got := workerStatus{ifaces: ifaces}.view()
	ofports, links, errs, found2 := statusOf(s, d.Bridge)
	if found != found2 || !maps.Equal(got.OFPorts, ofports) || !maps.Equal(got.Links, links) || !maps.Equal(got.Errors, errs) {
		t.Fatalf("view %v %v %v %v, statusOf %v %v %v %v", got.OFPorts, got.Links, got.Errors, found, ofports, links, errs, found2)
	}
	if len(errs) != 1 || !links["vap0"] || len(ofports) != len(links)-1 {
		t.Fatalf("statusOf %v %v %v", ofports, links, errs)
	}
	if _, found := ifaceStates(s, "nope"); found {
		t.Fatal("found a bridge that is not there")
	}
}

func TestPlanRepairsEachDrift(t *testing.T) {
	d := goodDesired()
	for _, c := range []struct {
		name  string
		drift func(s *snapshot)
		want  []string // operation summaries, in order
	}{
		{"fail mode", func(s *snapshot) { s.bridges["br"].FailMode = nil }, []string{"update Bridge 1"}},
		{"protocols", func(s *snapshot) { s.bridges["br"].Protocols = append(s.bridges["br"].Protocols, "OpenFlow10") }, []string{"update Bridge 1"}},
		{"datapath id", func(s *snapshot) { s.bridges["br"].OtherConfig["datapath-id"] = "0000000000000001" }, []string{"mutate Bridge 2"}},
		{"tunnel options", func(s *snapshot) { s.ifaces["if-nva-vxlan"].Options["remote_ip"] = "192.0.2.1" }, []string{"update Interface 1"}},
		{"controller mode", func(s *snapshot) { s.controllers["ctl0"].ConnectionMode = nil }, []string{"update Controller 1"}},
		{"tunnel port deleted", func(s *snapshot) {
			b := s.bridges["br"]
			b.Ports = slices.DeleteFunc(b.Ports, func(u string) bool { return u == "port-nva-vxlan" })
			delete(s.ports, "port-nva-vxlan")
			delete(s.ifaces, "if-nva-vxlan")
		}, []string{"insert Interface 4", "insert Port 3", "wait Bridge 0", "mutate Bridge 1"}},
		{"foreign controller added", func(s *snapshot) {
			s.controllers["x"] = &ctlRow{UUID: "x", Target: "tcp:192.0.2.50:6653"}
			s.bridges["br"].Controller = append(s.bridges["br"].Controller, "x")
		}, []string{"wait Bridge 0", "mutate Bridge 1"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := converged(d)
			c.drift(s)
			p := planEnsure(s, d)
			if got := opSummary(p.ops); strings.Join(got, "|") != strings.Join(c.want, "|") {
				t.Errorf("plan = %q, want %q", got, c.want)
			}
		})
	}
}

func TestPlanForeignBridgeRecordsAndRestores(t *testing.T) {
	d := goodDesired()
	s := converged(d)
	b := s.bridges["br"]
	delete(b.ExternalIDs, OwnedKey)
	b.FailMode = ptr(vswitch.BridgeFailModeStandalone)
	b.Protocols = nil
	// The operator's own controller and port.
	s.controllers["op"] = &ctlRow{UUID: "op", Target: "tcp:192.0.2.7:6653"}
	b.Controller = append(b.Controller, "op")
	s.ifaces["if-user"] = &ifaceRow{UUID: "if-user", Name: "userport", Type: "internal"}
	s.ports["port-user"] = &portRow{UUID: "port-user", Name: "userport", Interfaces: []string{"if-user"}}
	b.Ports = append(b.Ports, "port-user")

	p := planEnsure(s, d)
	var recorded map[any]any
	for _, o := range p.ops {
		for _, m := range o.Mutations {
			if m.Column == "external_ids" && m.Mutator == wire.MutateOperationInsert {
				recorded = m.Value.(wire.OvsMap).GoMap
			}
		}
	}
	want := map[string]string{origFailMode: "standalone", origProtocols: "", origControllers: "tcp:192.0.2.7:6653"}
	if len(recorded) != len(want) {
		t.Fatalf("recorded originals %v, want %v", recorded, want)
	}
	for k, v := range want {
		if recorded[k] != v {
			t.Errorf("recorded %s = %v, want %q", k, recorded[k], v)
		}
	}

	// Remove after nva's state was applied: only nva-owned rows go and the
	// originals come back. The local port br-int here is nva-owned only
	// because converged() marks every row; drop that so it behaves like the
	// operator's.
	delete(s.ports["port-br-int"].ExternalIDs, OwnedKey)
	b.ExternalIDs = map[string]string{origFailMode: "standalone", origProtocols: "", origControllers: "tcp:192.0.2.7:6653"}
	b.Controller = []string{"ctl0"}
	r := planRemove(s, d.Bridge)
	deleted := map[string][]string{} // column -> deleted refs or keys
	var restored wire.Row
	var insertedCtl []string
	for _, o := range r.ops {
		switch {
		case o.Op == wire.OperationUpdate && o.Table == vswitch.BridgeTable:
			restored = o.Row
		case o.Op == wire.OperationInsert && o.Table == vswitch.ControllerTable:
			insertedCtl = append(insertedCtl, o.Row["target"].(string))
		case o.Op == wire.OperationMutate:
			for _, m := range o.Mutations {
				if m.Mutator != wire.MutateOperationDelete {
					continue
				}
				for _, v := range m.Value.(wire.OvsSet).GoSet {
					switch v := v.(type) {
					case wire.UUID:
						deleted[m.Column] = append(deleted[m.Column], v.GoUUID)
					case string:
						deleted[m.Column] = append(deleted[m.Column], v)
					}
				}
			}
		}
	}
	check := func(what string, got, want []string) {
		t.Helper()
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s = %q, want %q", what, got, want)
		}
	}
	check("deleted ports", deleted["ports"], []string{"port-nva-vxlan", "port-vap0"})
	check("deleted controllers", deleted["controller"], []string{"ctl0"})
	check("deleted external_ids keys", deleted["external_ids"], []string{origControllers, origFailMode, origProtocols})
	check("restored controllers", insertedCtl, []string{"tcp:192.0.2.7:6653"})
	js, _ := json.Marshal(restored)
	if string(js) != `{"fail_mode":"standalone","protocols":["set",[]]}` {
		t.Errorf("restored bridge columns = %s", js)
	}
}

func TestPlanRefusesToStealInterface(t *testing.T) {
	d := goodDesired()
	// vap0 (and with tunnel, nva-vxlan too) is a port of another bridge.
	// (A snapshot is not modified once planned from: each case has its own.)
	conflict := func(tunnel bool) *snapshot {
		s := converged(d)
		other := &bridgeRow{UUID: "br2", Name: "br-other", Ports: []string{"port-vap0"}}
		s.bridges["br2"] = other
		s.root.Bridges = append(s.root.Bridges, "br2")
		b := s.bridges["br"]
		b.Ports = b.Ports[:len(b.Ports)-1]
		if tunnel {
			s.ifaces["if-nva-vxlan"].Name = "nva-vxlan"
			other.Ports = append(other.Ports, "port-nva-vxlan")
			b.Ports = slices.DeleteFunc(b.Ports, func(u string) bool { return u == "port-nva-vxlan" })
		}
		return s
	}
	p := planEnsure(conflict(false), d)
	if !p.empty() {
		t.Errorf("plan moves the interface: %v", opSummary(p.ops))
	}
	if len(p.problems) != 1 || !strings.Contains(p.problems[0], `"br-other"`) || p.blocking {
		t.Errorf("problems = %q (blocking %v), want one non-blocking problem naming br-other", p.problems, p.blocking)
	}
	// The same conflict for a tunnel port blocks the bridge.
	if p := planEnsure(conflict(true), d); !p.blocking || len(p.problems) != 2 {
		t.Errorf("tunnel conflict: problems = %q, blocking %v", p.problems, p.blocking)
	}
}

func TestSnapshotConsistency(t *testing.T) {
	s := converged(goodDesired())
	if !s.consistent() {
		t.Fatal("converged snapshot inconsistent")
	}
	s.bridges["br"].Ports = append(s.bridges["br"].Ports, "missing")
	if s.consistent() {
		t.Error("dangling port reference not detected")
	}
	s = converged(goodDesired())
	s.controllers["orphan"] = &ctlRow{UUID: "orphan"}
	if s.consistent() {
		t.Error("unreferenced controller not detected")
	}
}

// An unreachable endpoint is reported in the status and retried; an invalid
// desired state is reported and not applied. No OVS needed.
func TestStatusReportsConnectFailureAndInvalidInput(t *testing.T) {
	var got []Status
	statusCh := make(chan Status, 100)
	m := NewManager(nil, func(s Status) { statusCh <- s }, WithBackoff(10*time.Millisecond, 50*time.Millisecond))
	defer m.Close()
	d := goodDesired()
	d.Endpoint = "unix:" + t.TempDir() + "/nothing.sock"
	m.Sync(context.Background(), d)
	deadline := time.After(10 * time.Second)
	for {
		select {
		case s := <-statusCh:
			got = append(got, s)
		case <-deadline:
			t.Fatalf("no connect error reported: %+v", got)
		}
		if s := got[len(got)-1]; strings.Contains(s.LastError, "nothing.sock") && !s.Connected {
			break
		}
	}
	waitFor(t, 10*time.Second, "connect retries", func() (bool, string) {
		st, _ := m.Stats("hv1")
		// Retried with backoff; without a connection no ensure runs.
		return st.ConnectFails >= 3 && st.Connects == 0 && st.Ensures == 0, fmt.Sprintf("%+v", st)
	})

	bad := d
	bad.Bridge = ""
	m.Sync(context.Background(), bad)
	waitFor(t, 10*time.Second, "invalid input reported", func() (bool, string) {
		st, _ := m.Status("hv1")
		return strings.Contains(st.LastError, "invalid desired state: bridge:"), st.LastError
	})
	// The rejected Sync did not replace the valid one, which is still
	// retried, and the rejection stays visible across those retries.
	before, _ := m.Stats("hv1")
	waitFor(t, 10*time.Second, "retries continue", func() (bool, string) {
		st, _ := m.Stats("hv1")
		return st.ConnectFails > before.ConnectFails+1, fmt.Sprintf("%+v", st)
	})
	if st, _ := m.Status("hv1"); !strings.Contains(st.LastError, "invalid desired state") || !strings.Contains(st.LastError, "nothing.sock") {
		t.Errorf("LastError = %q, want both the rejection and the connect error", st.LastError)
	}
}

// BenchmarkPlanConverged measures the cost of one ensure pass that finds
// nothing to do (every monitor event runs one) on a bridge with 200 VAPs.
func BenchmarkPlanConverged(b *testing.B) {
	d := goodDesired()
	d.Interfaces = nil
	for i := 0; i < 200; i++ {
		d.Interfaces = append(d.Interfaces, fmt.Sprintf("vap%d", i))
	}
	s := converged(d)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if p := planEnsure(s, d); !p.empty() {
			b.Fatal("not converged")
		}
	}
}

// TestValidateBFD: BFD only on a per-remote port; two path ports to one
// remote from different local addresses are fine.
func TestValidateBFD(t *testing.T) {
	d := goodDesired()
	d.Tunnels = []Tunnel{{Name: "nva-vxlan", Type: TunnelVXLAN, BFD: map[string]string{"enable": "true"}}}
	if err := d.Validate(); err == nil || !strings.Contains(err.Error(), "tunnels[0].bfd") {
		t.Fatalf("BFD on a flow-based port: %v", err)
	}
	d.Tunnels = []Tunnel{
		{Name: "nmxc61200030", Type: TunnelVXLAN, LocalIP: "198.18.0.1", RemoteIP: "198.18.0.3", BFD: map[string]string{"enable": "true"}},
		{Name: "nmxc61200031", Type: TunnelVXLAN, LocalIP: "198.18.1.1", RemoteIP: "198.18.0.3", BFD: map[string]string{"enable": "true"}},
	}
	if err := d.Validate(); err != nil {
		t.Fatalf("two paths to one remote: %v", err)
	}
	p := planEnsure(newSnapshot(), d)
	b, _ := json.Marshal(p.ops)
	if !strings.Contains(string(b), `"bfd"`) || !strings.Contains(string(b), `"enable","true"`) {
		t.Fatalf("plan does not set the bfd column: %s", b)
	}
}

// TestNameRulesAreThePatterns: the hand-written checks of Validate accept
// exactly what the patterns they replaced accept.
func TestNameRulesAreThePatterns(t *testing.T) {
	rules := []struct {
		name  string
		check func(string) bool
		re    *regexp.Regexp
	}{
		{"interface", validIfName, regexp.MustCompile(`^[A-Za-z0-9_.:@-]{1,15}$`)},
		{"bridge", validBridgeName, regexp.MustCompile(`^[A-Za-z0-9_.-]{1,15}$`)},
		{"datapath ID", validDatapathID, regexp.MustCompile(`^[0-9a-fA-F]{16}$`)},
	}
	inputs := []string{"", "a", "br-int", "vap0.10", "a:b@c", "A_b-Z.9", "123456789012345", "1234567890123456",
		"12345678901234567", "00004e56000000AF", "00004e56000000AG", "br int", "br\n", "\nbr", "bré", "é",
		"0123456789abcdef", "g123456789abcdef", "br/int", "br+int", "x\x00"}
	for c := byte(0); c < 0x80; c++ {
		inputs = append(inputs, "a"+string(c), string(c))
	}
	for _, r := range rules {
		for _, in := range inputs {
			if got, want := r.check(in), r.re.MatchString(in); got != want {
				t.Errorf("%s %q: %v, the pattern says %v", r.name, in, got, want)
			}
		}
	}
}

// statusOf reads the bridge's interfaces' ofports, link states and errors
// as maps: the tests' oracle for ifaceStates and workerStatus.view.
func statusOf(s *snapshot, brName string) (ofports map[string]uint32, links map[string]bool, errs map[string]string, found bool) {
	b := s.bridgeByName(brName)
	if b == nil {
		return map[string]uint32{}, map[string]bool{}, map[string]string{}, false
	}
	ofports, links, errs = make(map[string]uint32, len(b.Ports)), make(map[string]bool, len(b.Ports)), map[string]string{}
	for _, pu := range b.Ports {
		port := s.ports[pu]
		if port == nil {
			continue
		}
		for _, iu := range port.Interfaces {
			i := s.ifaces[iu]
			if i == nil {
				continue
			}
			if i.Ofport != nil && *i.Ofport > 0 {
				ofports[i.Name] = uint32(*i.Ofport)
			}
			links[i.Name] = i.LinkState != nil && *i.LinkState == vswitch.InterfaceLinkStateUp
			if i.Error != nil && *i.Error != "" {
				errs[i.Name] = *i.Error
			}
		}
	}
	return ofports, links, errs, true
}
